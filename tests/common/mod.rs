//! Test harness: the real server on 127.0.0.1:0 with a temp storage path,
//! an injected clock, and a tiny HTTP/1.1 client.
#![allow(dead_code)] // each test binary uses a different part of this

pub mod binary;
pub mod pki;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use deadman::clock::ManualClock;
use deadman::config::Config;
use deadman::store::Store;
use deadman::{Control, Options, Server};

/// 2026-03-02T09:00:00Z, a Monday.
pub const T0: f64 = 1_772_442_000.0;

pub struct TestServer {
    pub addr: SocketAddr,
    pub control: Control,
    pub clock: Arc<ManualClock>,
    pub config_path: PathBuf,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), deadman::RunError>>>,
}

/// The durable store under `dir`.
pub fn sqlite(dir: &Path) -> Box<dyn Store> {
    Box::new(deadman::store::SqliteStore::open(&dir.join("data")).expect("open store"))
}

pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("deadman.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

impl TestServer {
    /// Starts on the durable store in a temp dir.
    pub async fn start(config: &str) -> TestServer {
        Self::start_with(config, sqlite).await
    }

    /// Restarts on the same storage path and clock (after a clean stop).
    pub async fn restart(self, config: &str) -> TestServer {
        let (dir, clock) = self.stop().await;
        Self::start_in(dir, config, clock, sqlite).await
    }

    /// Starts with a store made from the temp dir.
    pub async fn start_with(
        config: &str,
        store: impl FnOnce(&Path) -> Box<dyn Store>,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(T0));
        Self::start_in(dir, config, clock, store).await
    }

    pub async fn start_in(
        dir: tempfile::TempDir,
        config: &str,
        clock: Arc<ManualClock>,
        store: impl FnOnce(&Path) -> Box<dyn Store>,
    ) -> TestServer {
        Self::start_customized(dir, config, clock, store, |_| {}).await
    }

    /// Starts in a new temp dir, at [`T0`], with options changed by
    /// `customize`.
    pub async fn start_with_options(
        config: &str,
        customize: impl FnOnce(&mut Options),
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(T0));
        Self::start_customized(dir, config, clock, sqlite, customize).await
    }

    /// Starts in `dir` (which may hold a web config and certificates) with
    /// options changed by `customize` (the lifecycle API is on by default).
    pub async fn start_customized(
        dir: tempfile::TempDir,
        config: &str,
        clock: Arc<ManualClock>,
        store: impl FnOnce(&Path) -> Box<dyn Store>,
        customize: impl FnOnce(&mut Options),
    ) -> TestServer {
        let mut ts = Self::spawn(dir, config, clock, store, customize).await;
        ts.wait_ready().await;
        ts
    }

    /// Starts on a store whose load waits until the returned sender sends
    /// (or is dropped): the server is not ready until then.
    pub async fn start_loading(config: &str) -> (TestServer, std::sync::mpsc::Sender<()>) {
        let (release, gate) = std::sync::mpsc::channel();
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(T0));
        let store = move |dir: &Path| FaultStore::open(dir).held_by(gate);
        let server = Self::spawn(dir, config, clock, store, |_| {}).await;
        (server, release)
    }

    /// Starts the server without waiting for it to be ready.
    async fn spawn(
        dir: tempfile::TempDir,
        config: &str,
        clock: Arc<ManualClock>,
        store: impl FnOnce(&Path) -> Box<dyn Store>,
        customize: impl FnOnce(&mut Options),
    ) -> TestServer {
        let config_path = write_config(dir.path(), config);
        let parsed = Config::load(&config_path).expect("test config is valid");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut options = Options {
            enable_lifecycle: true,
            ..Options::new(config_path.clone(), clock.clone())
        };
        customize(&mut options);
        let server = Server::new(parsed, options, store(dir.path())).expect("server");
        let control = server.control();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(deadman::run(listener, server, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            control,
            clock,
            config_path,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn wait_ready(&mut self) {
        for _ in 0..500 {
            if self.control.is_ready() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("server did not become ready");
    }

    /// Stops gracefully; returns the temp dir so a restart can reuse it.
    pub async fn stop(mut self) -> (tempfile::TempDir, Arc<ManualClock>) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("clean shutdown");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        (std::mem::replace(&mut self.dir, dir), self.clock.clone())
    }

    pub fn advance(&self, seconds: f64) {
        self.clock.advance(Duration::from_secs_f64(seconds));
    }

    pub async fn get(&self, path: &str) -> Reply {
        request(self.addr, "GET", path, &[], b"").await
    }

    pub async fn post(&self, path: &str) -> Reply {
        request(self.addr, "POST", path, &[], b"").await
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        request(self.addr, method, path, headers, body).await
    }

    /// Scrapes and parses the exposition into `series → value`.
    pub async fn scrape(&self) -> Metrics {
        let reply = self.get("/metrics").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        Metrics::parse(&reply.text())
    }

    /// Rewrites the config file and reloads through the API.
    pub async fn reload_with(&self, config: &str) -> Reply {
        std::fs::write(&self.config_path, config).expect("write config");
        self.post("/-/reload").await
    }
}

/// The durable store with the faults a test asks for.
pub struct FaultStore {
    inner: deadman::store::SqliteStore,
    /// When set, load waits for a message (or for the sender to go), to
    /// observe the server before it is ready.
    gate: Option<std::sync::mpsc::Receiver<()>>,
    /// When set, history reads fail with this error.
    history_error: Option<String>,
}

impl FaultStore {
    pub fn open(dir: &Path) -> FaultStore {
        FaultStore {
            inner: deadman::store::SqliteStore::open(&dir.join("data")).expect("open store"),
            gate: None,
            history_error: None,
        }
    }

    pub fn held_by(self, gate: std::sync::mpsc::Receiver<()>) -> Box<dyn Store> {
        Box::new(FaultStore {
            gate: Some(gate),
            ..self
        })
    }

    pub fn failing_history(self, error: &str) -> Box<dyn Store> {
        Box::new(FaultStore {
            history_error: Some(error.to_string()),
            ..self
        })
    }
}

impl Store for FaultStore {
    fn load(&mut self) -> Result<deadman::store::Snapshot, deadman::store::StoreError> {
        if let Some(gate) = &self.gate {
            let _ = gate.recv();
        }
        self.inner.load()
    }

    fn commit(&mut self, batch: &deadman::store::Batch) -> Result<(), deadman::store::StoreError> {
        self.inner.commit(batch)
    }

    fn history(
        &mut self,
        check: &str,
        limit: usize,
    ) -> Result<Vec<deadman::store::HistoryRow>, deadman::store::StoreError> {
        match &self.history_error {
            Some(error) => Err(deadman::store::StoreError::Backend(error.clone())),
            None => self.inner.history(check, limit),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let req = builder
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("request");
    let response = sender.send_request(req).await.expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// `name{check="<check>"}`, the way the exposition writes it.
pub fn series(name: &str, check: &str) -> String {
    format!("{name}{{check=\"{check}\"}}")
}

/// A parsed scrape: series text (`name{labels}`) → value.
pub struct Metrics {
    pub series: HashMap<String, f64>,
    pub text: String,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let value = match value {
                    "+Inf" => f64::INFINITY,
                    v => v.parse().ok()?,
                };
                Some((series.to_string(), value))
            })
            .collect();
        Metrics {
            series,
            text: text.to_string(),
        }
    }

    /// The value of one series, e.g. `get("deadman_check_records_total{check=\"a\"}")`.
    pub fn get(&self, series: &str) -> Option<f64> {
        self.series.get(series).copied()
    }

    pub fn value(&self, series: &str) -> f64 {
        self.get(series)
            .unwrap_or_else(|| panic!("no series {series} in scrape:\n{}", self.text))
    }

    /// The value of `name{check="<check>"}`.
    pub fn of(&self, name: &str, check: &str) -> f64 {
        self.value(&series(name, check))
    }

    /// Every series line mentioning this check.
    pub fn for_check(&self, check: &str) -> Vec<String> {
        let needle = format!("check=\"{check}\"");
        let mut lines: Vec<String> = self
            .series
            .keys()
            .filter(|k| k.contains(&needle))
            .cloned()
            .collect();
        lines.sort();
        lines
    }
}
