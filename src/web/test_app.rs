//! Unit-test fixture: the handlers' handles over an in-memory store and a
//! manual clock, without a listener, so a handler is called directly.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;

use super::response::HttpResponse;
use super::router::App;
use crate::clock::ManualClock;
use crate::config::Config;
use crate::store::{MemoryStore, Store};

/// 2026-03-02T09:00:00Z.
pub const T0: f64 = 1_772_442_000.0;

pub const CONFIG: &str = r#"
[[check]]
name = "orders"
owner = "ops"
every = "1h"

[[check]]
name = "payroll"
owner = "finance"
every = "1d"
token = "s3cret"
methods = ["POST"]
"#;

/// An app whose writer has loaded `store` (or is still loading it, if the
/// store's load blocks).
pub struct TestApp {
    pub app: Arc<App>,
    pub clock: Arc<ManualClock>,
    /// Kept so the writer thread lives as long as the test.
    _server_parts: std::thread::JoinHandle<()>,
}

impl TestApp {
    /// Over [`MemoryStore`], ready.
    pub async fn ready() -> TestApp {
        let app = TestApp::with_store(Box::new(MemoryStore));
        for _ in 0..500 {
            if app.app.writer.is_ready() {
                return app;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the writer did not load an empty in-memory store");
    }

    pub fn with_store(store: Box<dyn Store>) -> TestApp {
        let config = Config::parse(CONFIG, std::path::Path::new(".")).expect("test config");
        let clock = Arc::new(ManualClock::new(T0));
        let server = crate::Server::new(
            config,
            crate::Options {
                enable_lifecycle: true,
                ..crate::Options::new("deadman.toml".into(), clock.clone())
            },
            store,
        )
        .expect("server");
        TestApp {
            app: Arc::clone(&server.app),
            clock,
            _server_parts: server.writer_thread,
        }
    }
}

/// A request with an in-memory body.
pub fn request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("test request")
}

/// Status and body text of a response.
pub async fn read(response: HttpResponse) -> (u16, String) {
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("in-memory body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}
