//! `--web.config.file` against the real server (issue #10): TLS with a CA,
//! client certificates, basic auth, headers, certificate rotation without a
//! restart, and the lifecycle flag. Certificates are made here at run time
//! (rcgen); everything is on loopback and bounded in time.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::pki::{write_atomically, Pki};
use common::{TestServer, T0};
use deadman::clock::ManualClock;
use deadman::web_config::watch::WebConfigWatch;
use deadman::web_config::WebConfig;

const CONFIG: &str = r#"
[[check]]
name = "orders"
owner = "ops"
every = "1h"
token = "orders-token-0123456789"
"#;

/// bcrypt (cost 4) of "secret".
const HASH: &str = "$2b$04$9v57qvoxmauBiva4O/je/e2XkEvvQDuUf/Wrn4L03Ol6IbaEsnPau";

/// Starts deadman with `web_config` (written beside the config).
async fn start(dir: tempfile::TempDir, web_config: &str, lifecycle: bool) -> TestServer {
    start_with(dir, web_config, |options| {
        options.enable_lifecycle = lifecycle
    })
    .await
}

/// [`start`], with any other options set by `customize`.
async fn start_with(
    dir: tempfile::TempDir,
    web_config: &str,
    customize: impl FnOnce(&mut deadman::Options),
) -> TestServer {
    let path = dir.path().join("web.yml");
    std::fs::write(&path, web_config).expect("write web config");
    let loaded = WebConfig::load(&path).expect("valid web config");
    let watch = Arc::new(WebConfigWatch::new(path, loaded).expect("web settings"));
    let clock = Arc::new(ManualClock::new(T0));
    TestServer::start_customized(dir, CONFIG, clock, common::sqlite, |options| {
        options.web = watch;
        customize(options);
    })
    .await
}

/// A TLS client trusting `ca`, with a client certificate if given.
fn connector(ca: &str, client: Option<(String, String)>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.expect("CA pem")).expect("add CA");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("client cert");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// One HTTPS request; the raw response, or the error that stopped it.
async fn https(
    server: &TestServer,
    connector: &tokio_rustls::TlsConnector,
    request: &str,
) -> Result<String, String> {
    let work = async {
        let tcp = TcpStream::connect(server.addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from("127.0.0.1").expect("name");
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        tls.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out).into_owned();
        if text.is_empty() {
            return Err("closed without an answer".to_string());
        }
        Ok(text)
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
}

fn get(path: &str, credentials: Option<(&str, &str)>) -> String {
    let auth = credentials
        .map(|(user, password)| {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Authorization: Basic {encoded}\r\n")
        })
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n")
}

fn post(path: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

fn status(response: &str) -> &str {
    response.get(9..12).unwrap_or("")
}

const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

#[tokio::test]
async fn a_scrape_over_https_is_verified_against_the_ca_and_plain_http_is_refused() {
    let pki = Pki::new("deadman test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    pki.write_server(dir.path(), "deadman");
    let server = start(dir, TLS, true).await;
    let client = connector(&pki.ca_pem(), None);
    let scrape = https(&server, &client, &get("/metrics", None))
        .await
        .expect("https");
    assert_eq!(status(&scrape), "200", "{scrape}");
    assert!(
        scrape.contains("deadman_check_info{check=\"orders\""),
        "{scrape}"
    );

    // A client that does not trust this CA cannot talk to it.
    let stranger = connector(&Pki::new("another CA").ca_pem(), None);
    let refused = https(&server, &stranger, &get("/metrics", None)).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.starts_with("handshake")),
        "{refused:?}"
    );

    // Plain HTTP to the TLS port gets a sentence, as from Go exporters.
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(get("/metrics", None).as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut out)).await;
    assert!(out.starts_with("HTTP/1.0 400 Bad Request"), "{out}");
    assert!(
        out.contains("Client sent an HTTP request to an HTTPS server."),
        "{out}"
    );
}

#[tokio::test]
async fn client_certificates_are_required_and_checked_against_allowed_sans() {
    let pki = Pki::new("deadman test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    pki.write_server(dir.path(), "deadman");
    std::fs::write(dir.path().join("clients.crt"), pki.ca_pem()).expect("write CA");
    let web = format!(
        "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.crt\n  \
         client_allowed_sans: [prometheus.example]\n"
    );
    let server = start(dir, &web, true).await;
    let ca = pki.ca_pem();

    let prometheus = connector(&ca, Some(pki.leaf(&["prometheus.example"], "prometheus")));
    let ok = https(&server, &prometheus, &get("/metrics", None))
        .await
        .expect("allowed");
    assert_eq!(status(&ok), "200", "{ok}");

    let anonymous = https(&server, &connector(&ca, None), &get("/metrics", None)).await;
    assert!(anonymous.is_err(), "no client certificate: {anonymous:?}");

    let other_san = connector(&ca, Some(pki.leaf(&["laptop.example"], "laptop")));
    let refused = https(&server, &other_san, &get("/metrics", None)).await;
    assert!(
        refused.is_err(),
        "a SAN not in client_allowed_sans: {refused:?}"
    );

    let foreign = Pki::new("another CA");
    let untrusted = connector(
        &ca,
        Some(foreign.leaf(&["prometheus.example"], "prometheus")),
    );
    let refused = https(&server, &untrusted, &get("/metrics", None)).await;
    assert!(
        refused.is_err(),
        "a client certificate from another CA: {refused:?}"
    );
}

/// `--web.health-without-auth`: probes reach `/-/healthy` and `/-/ready`
/// without the password; everything else still needs it.
#[tokio::test]
async fn health_without_auth_opens_the_probes_and_nothing_else() {
    let pki = Pki::new("deadman test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    pki.write_server(dir.path(), "deadman");
    let web = format!("{TLS}basic_auth_users:\n  prometheus: '{HASH}'\n");
    let server = start_with(dir, &web, |options| options.health_without_auth = true).await;
    let client = connector(&pki.ca_pem(), None);
    for (path, want) in [
        ("/-/healthy", "200"),
        ("/-/ready", "200"),
        ("/metrics", "401"),
        ("/", "401"),
        ("/api/v1/checks", "401"),
    ] {
        let answer = https(&server, &client, &get(path, None))
            .await
            .expect("answer");
        assert_eq!(status(&answer), want, "{path}: {answer}");
    }
}

#[tokio::test]
async fn basic_auth_guards_everything_but_pings_and_sets_the_headers() {
    let pki = Pki::new("deadman test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    pki.write_server(dir.path(), "deadman");
    let web = format!(
        "{TLS}http_server_config:\n  headers:\n    X-Frame-Options: deny\n    \
         X-Content-Type-Options: nosniff\nbasic_auth_users:\n  prometheus: '{HASH}'\n"
    );
    let server = start(dir, &web, true).await;
    let client = connector(&pki.ca_pem(), None);
    for path in [
        "/metrics",
        "/",
        "/-/healthy",
        "/-/ready",
        "/api/v1/checks",
        "/api/v1/checks/orders",
        "/api/v1/checks/orders/history",
    ] {
        let denied = https(&server, &client, &get(path, None))
            .await
            .expect("answer");
        assert_eq!(status(&denied), "401", "{path}: {denied}");
        assert!(
            denied.contains("www-authenticate: Basic realm=\"deadman\""),
            "{path}: {denied}"
        );
        let wrong = https(&server, &client, &get(path, Some(("prometheus", "guess"))))
            .await
            .expect("answer");
        assert_eq!(status(&wrong), "401", "{path}: {wrong}");
        let allowed = https(&server, &client, &get(path, Some(("prometheus", "secret"))))
            .await
            .expect("answer");
        assert_eq!(status(&allowed), "200", "{path}: {allowed}");
        assert!(allowed.contains("x-frame-options: deny"), "{allowed}");
        assert!(
            allowed.contains("x-content-type-options: nosniff"),
            "{allowed}"
        );
    }
    // The pages and their assets too (without wrong passwords here: the
    // address's failure budget is spent above).
    for path in ["/checks/orders", "/inventory", "/static/deadman.css"] {
        let denied = https(&server, &client, &get(path, None))
            .await
            .expect("answer");
        assert_eq!(status(&denied), "401", "{path}: {denied}");
        let allowed = https(&server, &client, &get(path, Some(("prometheus", "secret"))))
            .await
            .expect("answer");
        assert_eq!(status(&allowed), "200", "{path}: {allowed}");
    }
    let reload = https(&server, &client, &post("/-/reload"))
        .await
        .expect("answer");
    assert_eq!(status(&reload), "401", "{reload}");

    // Pings keep their per-check token and need no password.
    let ping = https(
        &server,
        &client,
        &post("/ping/orders?token=orders-token-0123456789"),
    )
    .await
    .expect("answer");
    assert_eq!(status(&ping), "200", "{ping}");
    let no_token = https(&server, &client, &post("/ping/orders"))
        .await
        .expect("answer");
    assert_eq!(status(&no_token), "401", "{no_token}");
    assert!(!no_token.contains("Basic realm"), "{no_token}");
}

#[tokio::test]
async fn repeated_wrong_passwords_are_slowed_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(
        dir,
        &format!("basic_auth_users:\n  prometheus: '{HASH}'\n"),
        true,
    )
    .await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = server
            .send(
                "GET",
                "/metrics",
                &[(
                    "authorization",
                    &format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("prometheus:guess{i}"))
                    ),
                )],
                b"",
            )
            .await;
        statuses.push(r.status);
    }
    assert_eq!(&statuses[..10], [401; 10]);
    assert_eq!(&statuses[10..], [429, 429]);
}

#[tokio::test]
async fn a_rotated_certificate_is_served_without_a_restart() {
    let pki = Pki::new("deadman test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    pki.write_server(&path, "first");
    let server = start(dir, TLS, true).await;
    let ca = pki.ca_pem();
    assert_eq!(served_name(&server, &ca).await, "first");

    pki.write_server(&path, "second");
    // Files are looked at most once a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while served_name(&server, &ca).await != "second" {
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A broken rotation (a key that does not fit) keeps the last good one.
    let (_, unrelated_key) = pki.leaf(&["127.0.0.1"], "unrelated");
    write_atomically(&path.join("server.key"), &unrelated_key);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(served_name(&server, &ca).await, "second");
}

/// The common name of the certificate the server presents.
async fn served_name(server: &TestServer, ca: &str) -> String {
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let tls = connector(ca, None)
        .connect(name, tcp)
        .await
        .expect("handshake");
    let leaf = tls.get_ref().1.peer_certificates().expect("certs")[0].clone();
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).expect("x509");
    let name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string();
    name
}

#[tokio::test]
async fn reload_over_http_needs_the_lifecycle_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir, "", false).await;
    let r = server.post("/-/reload").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        "Lifecycle API is not enabled: start deadman with --web.enable-lifecycle to allow \
         POST /-/reload (SIGHUP always reloads).\n"
    );
    // SIGHUP's path (the control handle) still reloads.
    assert!(server.control.reload().await.is_ok());
}

/// `--web.external-url`: the landing page's links start with it, so they
/// work behind a proxy that serves deadman under a path.
#[tokio::test]
async fn landing_page_links_use_the_external_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::start_customized(dir, CONFIG, clock, common::sqlite, |options| {
        options.external_url = Some("https://ops.example.com/deadman/".into());
    })
    .await;
    let html = server.get("/").await.text();
    for link in [
        "href=\"https://ops.example.com/deadman/metrics\"",
        "href=\"https://ops.example.com/deadman/-/healthy\"",
        "href=\"https://ops.example.com/deadman/checks/orders\"",
        "href=\"https://ops.example.com/deadman/static/deadman.css?v=",
    ] {
        assert!(html.contains(link), "{link} in {html}");
    }
}
