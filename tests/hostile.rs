//! Hostile and careless clients against the real server (issue #9): input
//! that used to be accepted and then ignored, numbers that overflowed,
//! framing tricks. Each case is bounded in time and on loopback only.

mod common;

use std::time::Duration;

use common::{series, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONFIG: &str = r#"
[[check]]
name = "orders"
owner = "ops"
every = "1h"
[check.volume]
min_records = 10
window = "1h"

[[check]]
name = "payroll"
owner = "finance"
every = "1d"
token = "payroll-token-0123456789"
"#;

const JSON: (&str, &str) = ("content-type", "application/json");

async fn records_total(server: &TestServer, check: &str) -> f64 {
    server
        .scrape()
        .await
        .of("deadman_check_records_total", check)
}

#[tokio::test]
async fn json_typos_nulls_and_repeats_are_refused_not_dropped() {
    let server = TestServer::start(CONFIG).await;
    for body in [
        r#"{"record": 200}"#,
        r#"{"Records": 200}"#,
        r#"{"rids": "a"}"#,
    ] {
        let r = server
            .send("POST", "/ping/orders", &[JSON], body.as_bytes())
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.text().contains("looks like a misspelt parameter; accepted parameters are records, rid, reason, message, token, expires.<name>"), "{}", r.text());
    }
    let r = server
        .send("POST", "/ping/orders", &[JSON], br#"{"records": null}"#)
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "records is null; send a value, or leave the key out\n")
    );
    let r = server
        .send(
            "POST",
            "/ping/orders",
            &[JSON],
            br#"{"records": 1, "records": 2}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "records is given more than once; send it once\n")
    );
    assert_eq!(records_total(&server, "orders").await, 0.0);

    // The tool's own keys still pass, and the 200 says what was recorded.
    let r = server
        .send(
            "POST",
            "/ping/orders",
            &[JSON],
            br#"{"id": 7, "zap": {"x": 1}, "records": 200, "rid": "run-42"}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "OK: success recorded (records=200, rid=run-42).\n")
    );
    assert_eq!(records_total(&server, "orders").await, 200.0);
}

#[tokio::test]
async fn multipart_fields_are_parameters_and_other_bodies_say_nothing_was_read() {
    let server = TestServer::start(CONFIG).await;
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"records\"\r\n\r\n12\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nsynced\r\n--XyZ--\r\n";
    let multipart = ("content-type", "multipart/form-data; boundary=XyZ");
    let r = server
        .send("POST", "/ping/orders", &[multipart], body.as_bytes())
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            200,
            "OK: success recorded (records=12, message of 6 bytes).\n"
        )
    );
    assert_eq!(records_total(&server, "orders").await, 12.0);

    let typo = "--XyZ\r\nContent-Disposition: form-data; name=\"record\"\r\n\r\n12\r\n--XyZ--\r\n";
    let r = server
        .send("POST", "/ping/orders", &[multipart], typo.as_bytes())
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().starts_with("unknown parameter \"record\""));

    let file = "--XyZ\r\nContent-Disposition: form-data; name=\"records\"; filename=\"n.txt\"\r\n\r\n12\r\n--XyZ--\r\n";
    let r = server
        .send("POST", "/ping/orders", &[multipart], file.as_bytes())
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("is a file"), "{}", r.text());

    let r = server
        .send(
            "POST",
            "/ping/orders",
            &[("content-type", "application/xml")],
            b"<records>5</records>",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "OK: success recorded (message of 20 bytes). The application/xml body was kept as \
         the message; no parameters were read from it (send them in the query string, or as \
         JSON or a form).\n"
    );
    assert_eq!(records_total(&server, "orders").await, 12.0);
}

#[tokio::test]
async fn a_body_token_counts_and_a_wrong_one_is_never_ignored() {
    let server = TestServer::start(CONFIG).await;
    let form = ("content-type", "application/x-www-form-urlencoded");
    let r = server
        .send(
            "POST",
            "/ping/payroll",
            &[form],
            b"token=payroll-token-0123456789&records=3",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = server
        .send(
            "POST",
            "/ping/payroll",
            &[JSON],
            br#"{"token": "payroll-token-0123456789"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let bearer = ("authorization", "Bearer payroll-token-0123456789");
    let r = server
        .send(
            "POST",
            "/ping/payroll",
            &[bearer, form],
            b"token=wrong&records=3",
        )
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (401, "wrong token for this check\n")
    );
    let r = server
        .send("POST", "/ping/payroll", &[form], b"records=x")
        .await;
    assert_eq!(
        r.status, 401,
        "parse errors are only shown to authorized clients"
    );
    assert_eq!(records_total(&server, "payroll").await, 3.0);
}

#[tokio::test]
async fn records_are_bounded_and_counters_never_go_backwards() {
    let server = TestServer::start(CONFIG).await;
    let r = server
        .post("/ping/orders?records=18446744073709551615")
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "records \"18446744073709551615\" is too large; the most one ping may report is \
         9007199254740992 (2^53)\n"
    );
    let r = server.post("/ping/orders?records=9007199254740993").await;
    assert_eq!(r.status, 400);

    let max = "/ping/orders?records=9007199254740992";
    assert_eq!(server.post(max).await.status, 200);
    let first = records_total(&server, "orders").await;
    assert_eq!(server.post(max).await.status, 200);
    assert_eq!(server.post("/ping/orders?records=14").await.status, 200);
    let m = server.scrape().await;
    let total = m.of("deadman_check_records_total", "orders");
    assert!(
        total >= first,
        "{total} < {first}: a counter went backwards"
    );
    let window = m.of("deadman_check_window_records", "orders");
    assert!(window >= first, "the window sum wrapped: {window}");
}

#[tokio::test]
async fn trailing_slash_is_an_unknown_action() {
    let server = TestServer::start(CONFIG).await;
    let r = server.post("/ping/orders/").await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text().starts_with("unknown ping action \"\""),
        "{}",
        r.text()
    );
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_check_pings_total{check=\"orders\",kind=\"success\"}"),
        0.0
    );
}

/// Sends raw bytes; returns everything the server sent until it closed the
/// connection (bounded to 5 s).
async fn raw(server: &TestServer, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .expect("the server closes the connection within 5 s")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

/// Both framings at once: refused with 400 (nothing recorded), and the
/// connection closes after the answer, so nothing hidden behind the first
/// request (as a proxy that trusted Content-Length would forward it) is
/// ever read as a second request.
#[tokio::test]
async fn content_length_with_transfer_encoding_cannot_smuggle_a_request() {
    let server = TestServer::start(CONFIG).await;
    let smuggled = "POST /ping/orders?records=7 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    let request = format!(
        "POST /ping/orders?records=5 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\
         Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
        5 + smuggled.len()
    );
    let answer = raw(&server, &request).await;
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("both Content-Length and Transfer-Encoding"),
        "{answer}"
    );
    // Neither the request nor the one hidden in its body was recorded.
    assert_eq!(records_total(&server, "orders").await, 0.0);
}

#[tokio::test]
async fn an_ambiguous_request_after_a_clean_one_on_the_same_connection_is_refused() {
    let server = TestServer::start(CONFIG).await;
    let request = "POST /ping/orders?records=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
                   POST /ping/orders?records=3 HTTP/1.1\r\nHost: x\r\n\
                   Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n";
    let answer = raw(&server, request).await;
    let statuses: Vec<&str> = answer
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &answer[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "400"], "{answer}");
    assert_eq!(records_total(&server, "orders").await, 2.0);
}

#[tokio::test]
async fn rejections_are_counted_per_configured_check_and_unknown_names_create_no_series() {
    let server = TestServer::start(CONFIG).await;
    assert_eq!(server.post("/ping/payroll").await.status, 401);
    assert_eq!(server.post("/ping/payroll?token=nope").await.status, 401);
    assert_eq!(server.post("/ping/orders?records=-1").await.status, 400);
    assert_eq!(server.post("/ping/no-such-check").await.status, 404);
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_check_pings_rejected_total{check=\"payroll\",reason=\"unauthorized\"}"),
        2.0
    );
    assert_eq!(
        m.value("deadman_check_pings_rejected_total{check=\"orders\",reason=\"bad_request\"}"),
        1.0
    );
    assert_eq!(
        m.value("deadman_pings_rejected_total{reason=\"not_found\"}"),
        1.0
    );
    assert!(!m.text.contains("no-such-check"));
    assert!(m
        .get(&series("deadman_check_pings_rejected_total", "orders"))
        .is_none());
}

/// Raises this process's soft limit on open files towards `wanted` (as far
/// as the hard limit allows) and returns the limit now in force. Both ends
/// of every test connection are in this process, and a shell's default soft
/// limit (1,024) would otherwise shrink the test to a few hundred.
fn raise_open_files_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write the struct given,
    // which lives across both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < wanted {
            let raised = libc::rlimit {
                rlim_cur: wanted.min(limit.rlim_max),
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// A request from a chosen loopback source address.
async fn request_from(source: &str, server: &TestServer, method: &str, path: &str) -> u16 {
    use http_body_util::Empty;
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("source"))
        .expect("bind the source address");
    let stream = socket.connect(server.addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "x")
        .body(Empty::<bytes::Bytes>::new())
        .expect("request");
    sender
        .send_request(req)
        .await
        .expect("response")
        .status()
        .as_u16()
}

/// 4,500 slow and idle connections from 127.0.0.1 (more than the whole
/// connection cap) must not lock out a ping and a scrape from 127.0.0.2.
#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let server = TestServer::start(CONFIG).await;
    let limit = raise_open_files_limit(2 * 4500 + 1000);
    let wanted = 4500.min(limit.saturating_sub(1000) as usize / 2);
    if wanted < 4500 {
        eprintln!("the open-files limit ({limit}) allows only {wanted} held connections");
    }
    let mut held = Vec::with_capacity(wanted);
    for i in 0..wanted {
        let Ok(mut stream) = tokio::net::TcpStream::connect(server.addr).await else {
            break;
        };
        // Half of them slowloris (a head that never ends), half idle.
        if i % 2 == 0 {
            let _ = stream
                .write_all(b"POST /ping/orders HTTP/1.1\r\nHost: x\r\n")
                .await;
        }
        held.push(stream);
    }
    assert!(
        held.len() >= 4000.min(wanted),
        "only {} connections",
        held.len()
    );
    let started = std::time::Instant::now();
    let ping = tokio::time::timeout(
        Duration::from_secs(1),
        request_from("127.0.0.2", &server, "POST", "/ping/orders?records=1"),
    )
    .await
    .expect("a ping from another address within 1 s");
    assert_eq!(ping, 200);
    let scrape = tokio::time::timeout(
        Duration::from_secs(1),
        request_from("127.0.0.3", &server, "GET", "/metrics"),
    )
    .await
    .expect("a scrape from another address within 1 s");
    assert_eq!(scrape, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(held);
}

/// Idle keep-alive connections that fill the cap are asked to close, so a
/// new client is served at once rather than after the header-read timeout.
#[tokio::test]
async fn idle_keep_alive_connections_are_shed_near_the_cap() {
    let server = TestServer::start_with_options(CONFIG, |options| {
        options.limits = deadman::ConnectionLimits {
            max_connections: 32,
            max_per_address: 0,
            header_read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
        };
    })
    .await;
    // 32 keep-alive connections, each answered once and then idle.
    let mut idle = Vec::new();
    for _ in 0..32 {
        let mut stream = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        stream
            .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("answered")
            .expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        idle.push(stream);
    }
    // The cap is full of idle connections; a new client is still served
    // within a second (the header-read timeout is a minute).
    let reply = tokio::time::timeout(
        Duration::from_secs(2),
        server.post("/ping/orders?records=1"),
    )
    .await
    .expect("a new client is served within 2 s");
    assert_eq!(reply.status, 200);
    // Some of the idle ones were closed to make room.
    let mut closed = 0;
    for stream in &mut idle {
        let mut buf = [0u8; 16];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    assert!(closed > 0, "no idle connection was closed");
}

/// Reads until the server closes the connection (or resets it); `false`
/// if it is still open after `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a 408 before the close is fine
        }
    }
}

/// A head that never ends and a connection that never sends anything are
/// closed after the header-read timeout, so neither holds a connection
/// slot for long; a client that sends its head in time is served.
#[tokio::test]
async fn slow_and_silent_connections_are_closed_after_the_header_read_timeout() {
    let server = TestServer::start_with_options(CONFIG, |options| {
        options.limits.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    slow.write_all(b"POST /ping/orders HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut silent = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    assert!(
        closed_within(&mut slow, Duration::from_secs(5)).await,
        "a head that never ends is still open after 5 s"
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(5)).await,
        "a silent connection is still open after 5 s"
    );
    assert_eq!(server.post("/ping/orders?records=1").await.status, 200);
    assert_eq!(
        records_total(&server, "orders").await,
        1.0,
        "the slow head never counted"
    );
}

/// A client that asks for `/metrics` and stops reading loses its
/// connection after the write timeout, and the body it held is freed: the
/// scrape slot comes back without the client going away.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_after_the_write_timeout() {
    let server = TestServer::start_with_options(&many_checks(12_000), |options| {
        options.max_scrape_bodies = 1;
        options.limits.write_timeout = Duration::from_secs(1);
    })
    .await;
    let stalled = scrape_without_reading(&server).await;
    // The stalled client holds the only body: others are refused...
    scrape_until(&server, 503, 200, "never refused").await;
    // ...until the write timeout cuts it off, though it never leaves.
    scrape_until(&server, 200, 503, "the stalled client still holds its body").await;
    let m = server.scrape().await;
    assert!(m.value("deadman_scrapes_refused_total") >= 1.0);
    drop(stalled);
}

/// An `Authorization` header that holds no token (a bad scheme, bad
/// base64, an empty bearer) does not hide a correct `?token=`; a wrong
/// token in it is refused even beside a correct one.
#[tokio::test]
async fn a_broken_authorization_header_does_not_hide_a_correct_query_token() {
    let server = TestServer::start(CONFIG).await;
    let right = "/ping/payroll?token=payroll-token-0123456789";
    for broken in [
        "Basic !!!not-base64",
        "Bearer",
        "Negotiate abc",
        "Basic bm9jb2xvbg==",
    ] {
        let r = server
            .send("POST", right, &[("authorization", broken)], b"")
            .await;
        assert_eq!(r.status, 200, "{broken}: {}", r.text());
    }
    let r = server
        .send(
            "POST",
            right,
            &[("authorization", "Bearer wrong-token")],
            b"",
        )
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (401, "wrong token for this check\n")
    );
}

/// A config of `n` checks with long names: at 12,000, about 10 MB of
/// metrics, slow enough to render that concurrent scrapes overlap.
fn many_checks(n: usize) -> String {
    let mut config = String::new();
    for i in 0..n {
        config.push_str(&format!(
            "[[check]]\nname = \"integration-with-a-long-name-{i:05}\"\nowner = \"finance-operations\"\nevery = \"1h\"\n"
        ));
    }
    config
}

/// 32 parallel scrapes share a few renders instead of each rendering (and
/// holding) its own copy: memory is a few bodies, not 32.
#[tokio::test]
async fn parallel_scrapes_all_answer_from_shared_renders() {
    let server = TestServer::start(&many_checks(12_000)).await;
    let addr = server.addr;
    let scrapes: Vec<_> = (0..32)
        .map(|_| {
            tokio::spawn(async move { common::request(addr, "GET", "/metrics", &[], b"").await })
        })
        .collect();
    let mut renders = 0.0f64;
    for scrape in scrapes {
        let reply = scrape.await.expect("scrape task");
        assert_eq!(reply.status, 200);
        let text = reply.text();
        assert!(text.contains("\ndeadman_checks 12000\n"));
        // Each body counts the renders up to and including its own.
        let counted = text
            .lines()
            .find_map(|l| l.strip_prefix("deadman_scrape_renders_total{encoding=\"identity\"} "))
            .and_then(|v| v.parse::<f64>().ok())
            .expect("the render counter");
        renders = renders.max(counted);
    }
    eprintln!("32 concurrent scrapes took {renders} renders");
    assert!(
        (1.0..=8.0).contains(&renders),
        "32 concurrent scrapes took {renders} renders"
    );
}

/// A client that asks for `/metrics` and reads nothing of the answer.
async fn scrape_without_reading(server: &TestServer) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    // Fixed small, so the kernel does not grow it: the client's side takes
    // in 4 KiB and no more, and the server holds the rest of the body.
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket.connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("send");
    stream
}

/// Scrapes every 50 ms until a scrape answers `wanted`; every other answer
/// must be `meanwhile`, and `what` is the failure if none has after 15 s.
async fn scrape_until(
    server: &TestServer,
    wanted: u16,
    meanwhile: u16,
    what: &str,
) -> common::Reply {
    let started = std::time::Instant::now();
    loop {
        let reply = common::request(server.addr, "GET", "/metrics", &[], b"").await;
        if reply.status == wanted {
            return reply;
        }
        assert_eq!(reply.status, meanwhile, "{}", reply.text());
        assert!(started.elapsed() < Duration::from_secs(15), "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clients that ask for `/metrics` and never read each hold their body
/// until the write timeout. A new one arriving every moment used to hold a
/// new copy each (5 GB at 50,000 checks); now once `--web.max-scrape-bodies`
/// bodies are held, a scrape gets 503 instead of another copy, and a body's
/// slot comes back as soon as its client goes.
#[tokio::test]
async fn clients_that_never_read_hold_at_most_the_scrape_body_limit() {
    // About 10 MB of body: more than loopback's socket buffers take in for
    // a client that reads nothing, so the server holds the rest.
    let server = TestServer::start_with_options(&many_checks(12_000), |options| {
        options.max_scrape_bodies = 2
    })
    .await;
    let mut stalled = Vec::new();
    for _ in 0..2 {
        stalled.push(scrape_without_reading(&server).await);
    }
    // Scrapes that read answer until both stalled clients hold a body.
    let refused = scrape_until(&server, 503, 200, "never refused").await;
    assert_eq!(
        refused.text(),
        "2 earlier scrape bodies are still being sent to clients that have not read them \
         (--web.max-scrape-bodies); retry in a few seconds\n"
    );
    assert_eq!(refused.header("retry-after"), Some("5"));
    // One stalled client goes: its body is freed and scrapes answer again.
    drop(stalled.remove(0));
    let reply = scrape_until(&server, 200, 503, "the slot never came back").await;
    assert!(reply.text().contains("deadman_checks 12000\n"));
}

/// A flood on one check is answered 429 once past its rate limit, with
/// `Retry-After` and after a short delay; other checks are not affected,
/// and time refills it.
#[tokio::test]
async fn a_flood_on_one_check_is_rate_limited() {
    let config = format!("{CONFIG}\n[[check]]\nname = \"flooded\"\nowner = \"ops\"\nevery = \"1h\"\nrate_limit = \"5/s\"\n");
    let server = TestServer::start(&config).await;
    for i in 0..5 {
        let r = server.post(&format!("/ping/flooded?rid=f{i}")).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let sent = std::time::Instant::now();
    let r = server.post("/ping/flooded?rid=f5").await;
    assert_eq!(r.status, 429);
    // Held before it is sent, so a flood cannot spin at full speed on its
    // 429s (a lower bound; nothing here depends on how fast the machine is).
    assert!(sent.elapsed() >= Duration::from_millis(250));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(
        r.text(),
        "check \"flooded\" accepts at most 5 pings per second (its rate_limit); slow down\n"
    );
    assert_eq!(
        server.post("/ping/orders").await.status,
        200,
        "other checks pass"
    );
    server.advance(1.0);
    assert_eq!(server.post("/ping/flooded?rid=f5").await.status, 200);
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_check_pings_rejected_total{check=\"flooded\",reason=\"rate_limited\"}"),
        1.0
    );
}

/// Ten wrong tokens from one address, then that address gets 429 for a
/// while, even with the right token; other addresses are unaffected.
#[tokio::test]
async fn repeated_wrong_tokens_from_one_address_are_slowed_down() {
    let server = TestServer::start(CONFIG).await;
    for _ in 0..10 {
        assert_eq!(server.post("/ping/payroll?token=guess").await.status, 401);
    }
    let r = server
        .post("/ping/payroll?token=payroll-token-0123456789")
        .await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    assert_eq!(
        request_from(
            "127.0.0.2",
            &server,
            "POST",
            "/ping/payroll?token=payroll-token-0123456789"
        )
        .await,
        200
    );
    server.advance(2.0);
    assert_eq!(
        server
            .post("/ping/payroll?token=payroll-token-0123456789")
            .await
            .status,
        200
    );
}

/// A burst of reloads is coalesced: all are answered, quickly, and pings
/// keep flowing meanwhile.
#[tokio::test]
async fn a_burst_of_reloads_is_coalesced() {
    let server = TestServer::start(CONFIG).await;
    let addr = server.addr;
    let started = std::time::Instant::now();
    let reloads: Vec<_> = (0..200)
        .map(|_| {
            tokio::spawn(async move { common::request(addr, "POST", "/-/reload", &[], b"").await })
        })
        .collect();
    assert_eq!(server.post("/ping/orders?records=1").await.status, 200);
    for reload in reloads {
        let reply = reload.await.expect("reload task");
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(
            reply.text(),
            "Reloaded: 2 checks (the file and its token files are unchanged).\n"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(records_total(&server, "orders").await, 1.0);
    // Reloads are paced: of two in a row, the second starts a quarter of
    // a second after the first at the earliest (a lower bound: nothing
    // here depends on how fast the machine is).
    let started = std::time::Instant::now();
    assert_eq!(server.post("/-/reload").await.status, 200);
    assert_eq!(server.post("/-/reload").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(250));
}

/// An unchanged file is not parsed again, but a changed token file is
/// noticed even when the config text is the same (issue #9 §2).
#[tokio::test]
async fn a_reload_of_unchanged_files_is_skipped_but_a_new_token_file_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("payroll.token"), "first-token-0123456789\n").expect("write");
    let config = "[[check]]\nname = \"payroll\"\nowner = \"finance\"\nevery = \"1d\"\n\
                  token_file = \"payroll.token\"\n";
    let clock = std::sync::Arc::new(deadman::clock::ManualClock::new(common::T0));
    let server = TestServer::start_in(dir, config, clock, common::sqlite).await;
    let r = server.post("/-/reload").await;
    assert_eq!(
        r.text(),
        "Reloaded: 1 check (the file and its token files are unchanged).\n"
    );
    std::fs::write(
        server.dir.path().join("payroll.token"),
        "second-token-0123456789\n",
    )
    .expect("write");
    assert_eq!(
        server.post("/-/reload").await.text(),
        "Reloaded: 1 check.\n"
    );
    assert_eq!(
        server
            .post("/ping/payroll?token=first-token-0123456789")
            .await
            .status,
        401
    );
    assert_eq!(
        server
            .post("/ping/payroll?token=second-token-0123456789")
            .await
            .status,
        200
    );
}

const SECRET_LINE: &str = "[[check]]\nname = \"orders\"\nowner = \"ops\"\nevery = \"1h\"\ntoken = \"INLINE-TOKEN-abc123\n";

/// A syntax error on a token line does not echo the token, in the reload
/// answer or from check-config.
#[tokio::test]
async fn config_errors_never_echo_a_token() {
    let server = TestServer::start(CONFIG).await;
    let r = server.reload_with(SECRET_LINE).await;
    assert_eq!(r.status, 500);
    assert!(!r.text().contains("INLINE-TOKEN"), "{}", r.text());
    assert!(r.text().contains("token = <redacted>"), "{}", r.text());

    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::write_config(dir.path(), SECRET_LINE);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_deadman"))
        .args(["check-config", "--config.file"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("INLINE-TOKEN"), "{stderr}");
}

/// Short tokens are a warning, and a failure with --strict.
#[test]
fn short_tokens_are_warned_about_and_fail_strict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::write_config(
        dir.path(),
        "[[check]]\nname = \"orders\"\nowner = \"ops\"\nevery = \"1h\"\ndescription = \"d\"\n\
         runbook = \"https://wiki.example/r\"\nrecovery = \"r\"\ntoken = \"hunter2\"\n",
    );
    let run = |strict: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_deadman"));
        command.arg("check-config");
        if strict {
            command.arg("--strict");
        }
        command
            .arg("--config.file")
            .arg(&path)
            .output()
            .expect("runs")
    };
    let warned = run(false);
    assert_eq!(warned.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&warned.stderr);
    assert!(
        stderr.contains("check \"orders\": its token is shorter than 16 characters and can be guessed; generate one with `openssl rand -hex 32`"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"));
    let strict = run(true);
    assert_eq!(strict.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("(--strict)"));
}

/// A config path to an endless file is refused, not read into memory.
#[test]
fn an_endless_config_file_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_deadman"))
        .args(["check-config", "--config.file", "/dev/zero"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is larger than 64 MiB"));
}

/// A rejected ping leaves a log line naming the check, the reason and the
/// client, and never the token it presented.
#[test]
fn rejected_pings_are_logged_without_the_token() {
    use common::binary::{dir_with_config, send, start, stop_cleanly};
    let dir = dir_with_config(CONFIG);
    let (mut child, address, log) = start(dir.path(), &[]);
    common::binary::wait_ready(&address);
    let guess = "guessed-token-9876543210";
    assert!(send(&address, "POST", &format!("/ping/payroll?token={guess}")).contains(" 401 "));
    assert!(send(&address, "POST", "/ping/orders?records=-1").contains(" 400 "));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut rejected = Vec::new();
    while rejected.len() < 2 && std::time::Instant::now() < deadline {
        if let Ok(line) = log.recv_timeout(Duration::from_millis(100)) {
            if line.contains("ping rejected") {
                rejected.push(line);
            }
        }
    }
    stop_cleanly(&mut child, "TERM");
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    for (line, check, reason) in [
        (&rejected[0], "payroll", "unauthorized"),
        (&rejected[1], "orders", "bad_request"),
    ] {
        assert!(line.contains("level=info"), "{line}");
        assert!(line.contains(&format!("check={check}")), "{line}");
        assert!(line.contains(&format!("reason={reason}")), "{line}");
        assert!(line.contains("remote=127.0.0.1 "), "{line}");
        assert!(line.contains("detail="), "{line}");
        assert!(!line.contains(guess), "{line}");
    }
}

/// Clients spamming `/-/reload` get every answer, but the log gets at
/// most one "config reloaded" line a second (the rest go to debug).
#[test]
fn reload_spam_does_not_flood_the_log() {
    use common::binary::{dir_with_config, send, start, stop_cleanly};
    let dir = dir_with_config(CONFIG);
    let (mut child, address, log) = start(dir.path(), &["--web.enable-lifecycle"]);
    common::binary::wait_ready(&address);
    // Eight clients looping on it for two seconds.
    let started = std::time::Instant::now();
    let spammers: Vec<_> = (0..8)
        .map(|_| {
            let address = address.clone();
            std::thread::spawn(move || {
                let mut answered = 0;
                while started.elapsed() < Duration::from_secs(2) {
                    assert!(send(&address, "POST", "/-/reload").contains(" 200 "));
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    let answered: usize = spammers
        .into_iter()
        .map(|t| t.join().expect("spammer"))
        .sum();
    let elapsed = started.elapsed().as_secs_f64();
    // A last reload after a pause is logged again: the limit is a rate.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(send(&address, "POST", "/-/reload").contains(" 200 "));
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut logged = 0;
    while std::time::Instant::now() < deadline {
        if let Ok(line) = log.recv_timeout(Duration::from_millis(100)) {
            if line.contains("config reloaded") {
                assert!(line.contains("level=info"), "{line}");
                logged += 1;
            }
        }
    }
    stop_cleanly(&mut child, "TERM");
    let allowed = elapsed.ceil() as usize + 2;
    assert!(
        (2..=allowed).contains(&logged),
        "{logged} lines for {answered} reloads in {elapsed:.1} s (at most {allowed})"
    );
}

/// Sends `POST /ping/<check>?rid=<prefix><i>` for every `i` in `range`,
/// over eight keep-alive connections at once; panics on any answer but 200.
async fn ping_unique_rids(
    server: &TestServer,
    check: &str,
    prefix: &str,
    range: std::ops::Range<usize>,
) {
    use http_body_util::Empty;
    let ids: Vec<usize> = range.collect();
    let chunks: Vec<Vec<usize>> = ids
        .chunks(ids.len().div_ceil(8).max(1))
        .map(<[usize]>::to_vec)
        .collect();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let (addr, check, prefix) = (server.addr, check.to_string(), prefix.to_string());
            tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                        .await
                        .expect("handshake");
                tokio::spawn(conn);
                for i in chunk {
                    let req = hyper::Request::builder()
                        .method("POST")
                        .uri(format!("/ping/{check}?rid={prefix}{i}"))
                        .header("host", "x")
                        .body(Empty::<bytes::Bytes>::new())
                        .expect("request");
                    let status = sender.send_request(req).await.expect("response").status();
                    assert_eq!(status, 200, "rid {prefix}{i}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("ping task");
    }
}

/// The rid guarantee (README, "What is stored"): a check's rids are
/// remembered for a day, and beyond a day its newest 10,000 still are, so a
/// retry is recorded once; only then is the oldest block of 1,024
/// forgotten. Memory is bounded by that rule, whatever a client sends.
#[tokio::test]
async fn rids_are_remembered_for_a_day_and_then_while_among_the_newest_ten_thousand() {
    let config =
        "[[check]]\nname = \"retried\"\nowner = \"ops\"\nevery = \"1h\"\nrate_limit = \"none\"\n";
    let server = TestServer::start(config).await;
    let duplicate = "OK: duplicate rid, already recorded; nothing changed.\n";
    // The first block: "first" and 1,023 more.
    assert_eq!(server.post("/ping/retried?rid=first").await.status, 200);
    ping_unique_rids(&server, "retried", "old-", 0..1023).await;
    // A day and an hour later, and across a restart, a retry is still one.
    server.advance(25.0 * 3600.0);
    let server = server.restart(config).await;
    assert_eq!(
        server.post("/ping/retried?rid=first").await.text(),
        duplicate
    );
    // 10,000 newer rids: now the first block may go, and does.
    ping_unique_rids(&server, "retried", "new-", 0..10_000).await;
    assert_eq!(
        server.post("/ping/retried?rid=first").await.text(),
        "OK: success recorded (rid=first).\n",
        "forgotten once a day old and 10,000 newer ones exist"
    );
    assert_eq!(
        server.post("/ping/retried?rid=new-0").await.text(),
        duplicate
    );
    assert_eq!(
        server.post("/ping/retried?rid=new-9999").await.text(),
        duplicate
    );
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_rids_forgotten_total"),
        0.0,
        "none was forgotten before it was a day old"
    );
    assert_eq!(
        m.value("deadman_check_pings_total{check=\"retried\",kind=\"success\"}"),
        1.0 + 1023.0 + 10_000.0 + 1.0
    );
}

/// The failed reload's log line redacts the token line too, not only the
/// answer to `/-/reload`.
#[test]
fn a_failed_reload_logs_no_token() {
    use common::binary::{dir_with_config, send, start, stop_cleanly};
    let dir = dir_with_config(CONFIG);
    let (mut child, address, log) = start(dir.path(), &["--web.enable-lifecycle"]);
    common::binary::wait_ready(&address);
    std::fs::write(dir.path().join("deadman.toml"), SECRET_LINE).expect("write config");
    assert!(send(&address, "POST", "/-/reload").contains(" 500 "));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut failed = None;
    while failed.is_none() && std::time::Instant::now() < deadline {
        if let Ok(line) = log.recv_timeout(Duration::from_millis(100)) {
            if line.contains("config reload failed") {
                failed = Some(line);
            }
        }
    }
    stop_cleanly(&mut child, "TERM");
    let line = failed.expect("a log line for the failed reload");
    assert!(line.contains("level=error"), "{line}");
    assert!(line.contains("<redacted>"), "{line}");
    assert!(!line.contains("INLINE-TOKEN"), "{line}");
}
