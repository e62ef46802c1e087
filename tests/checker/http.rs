//! HTTP_GET against real servers: busybox httpd (a server nobody here wrote)
//! on loopback, and a scripted responder only for the answers busybox cannot
//! give (keep-alive, bare LF, a slow body, chunked, huge headers). Then the
//! close, seen from the backend: zero RSTs over passing and failing probes
//! (that part needs root and `ip netns`).

use crate::checker_support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use checker_support::{can_run, can_use_netns, tcp_check, NetPair, BACKEND};
use lvsd::checker::{probe, ProbeResult};
use lvsd::config::{Check, HttpCheck, HttpProtocol, HttpRegex, Url, UrlRegex};
use lvsd::script_policy::ScriptPolicy;

/// md5("hello\n"), the index page's body.
const HELLO_MD5: &str = "b1946ac92492d2347c6235b4d2611184";

/// A busybox httpd serving a temporary directory, killed on drop.
struct Busybox {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Busybox {
    /// Starts one on `ip` (in namespace `ns`, if given), or None (after
    /// saying why) when busybox is missing outside CI.
    fn start(ns: Option<&str>, ip: &str, port: u16) -> Option<Busybox> {
        let has = Command::new("busybox")
            .arg("httpd")
            .arg("--help")
            .output()
            .is_ok();
        if !can_run(has, "needs busybox (busybox-static) for its httpd") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "hello\n").unwrap();
        std::fs::write(dir.path().join("status.txt"), "state: ready 42\n").unwrap();
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "busybox"]);
                c
            }
            None => Command::new("busybox"),
        };
        let child = cmd
            .args(["httpd", "-f", "-p", &format!("{ip}:{port}"), "-h"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Busybox {
            child,
            port,
            _dir: dir,
        };
        // Up when it answers (through the namespace when there is one).
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let addr = format!("{ip}:{port}");
            let probe = match ns {
                Some(ns) => NetPair::spawn_in(ns, move || TcpStream::connect(addr).is_ok())
                    .join()
                    .unwrap_or(false),
                None => TcpStream::connect(addr).is_ok(),
            };
            if probe {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("busybox httpd did not come up on {ip}:{port}");
    }
}

impl Drop for Busybox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn url(path: &str) -> Url {
    Url::new(path)
}

fn http_check(ip: &str, port: u16, urls: Vec<Url>) -> HttpCheck {
    HttpCheck {
        common: tcp_check(ip, port),
        tls: false,
        urls,
        virtualhost: None,
        protocol: HttpProtocol::Http10,
        fast_recovery: false,
        tls_options: Default::default(),
    }
}

fn regex(pattern: &str, no_match: bool, min: usize, max: Option<usize>) -> Option<UrlRegex> {
    Some(UrlRegex {
        regex: HttpRegex::compile(pattern, &[], None).unwrap(),
        no_match,
        min_offset: min,
        max_offset: max,
    })
}

async fn probe_url(check: &HttpCheck, url: usize) -> ProbeResult {
    let check = Check::Http(Box::new(check.clone()));
    probe::attempt_url(&check, url, &ScriptPolicy::default()).await
}

/// Every url of `check`, one attempt each: their (ok, reason).
async fn each_url(check: &HttpCheck) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    for i in 0..check.urls.len() {
        let r = probe_url(check, i).await;
        out.push((r.ok, r.reason.into_owned()));
    }
    out
}

#[tokio::test]
async fn busybox_status_digest_and_regex_as_keepalived_judges_them() {
    let port = free_port();
    let Some(_server) = Busybox::start(None, "127.0.0.1", port) else {
        return;
    };
    let urls = vec![
        url("/index.html"),   // 0: 200
        url("/missing.html"), // 1: 404 fails the default
        Url {
            status_codes: vec![(404, 404)],
            ..url("/missing.html")
        }, // 2: 404 listed
        Url {
            digest: Some(HELLO_MD5.into()),
            ..url("/index.html")
        }, // 3: digest matches
        Url {
            digest: Some("0".repeat(32)),
            ..url("/index.html")
        }, // 4: digest differs
        Url {
            regex: regex(r"ready \d+", false, 0, None),
            ..url("/status.txt")
        }, // 5
        Url {
            regex: regex("broken", false, 0, None),
            ..url("/status.txt")
        }, // 6
        Url {
            regex: regex("broken", true, 0, None),
            ..url("/status.txt")
        }, // 7
        // "HTTP/1.1 200 OK": "OK" starts at 13; a max of 12 excludes it and
        // the body's "ready" is further on.
        Url {
            regex: regex("OK|ready", false, 0, Some(12)),
            ..url("/status.txt")
        }, // 8
        Url {
            regex: regex("OK|ready", false, 14, None),
            ..url("/status.txt")
        }, // 9
    ];
    let mut check = http_check("127.0.0.1", port, urls);
    let expected = [
        true, false, true, true, false, true, false, true, false, true,
    ];
    for protocol in [
        HttpProtocol::Http10,
        HttpProtocol::Http10Close,
        HttpProtocol::Http11,
    ] {
        check.protocol = protocol;
        let got = each_url(&check).await;
        for (i, ((ok, reason), want)) in got.iter().zip(expected).enumerate() {
            assert_eq!(*ok, want, "{protocol:?} url {i}: {reason}");
        }
        assert!(got[1].1.contains("status code error: 404"), "{}", got[1].1);
        assert!(
            got[4].1.contains("MD5 digest error: b1946ac9"),
            "{}",
            got[4].1
        );
        assert!(got[6].1.contains("Regex match failed"), "{}", got[6].1);
    }
}

/// What the scripted responder does after reading a request's head.
#[derive(Clone)]
enum Script {
    /// Send this, then close (our FIN first), then read to the client's FIN.
    Answer(&'static [u8]),
    /// Send this and keep the connection open until the client's FIN.
    KeepOpen(&'static [u8]),
    /// Send the head, then the body one byte every `gap`, then close.
    Trickle(&'static [u8], &'static [u8], Duration),
    /// Send a header of `n` bytes, then close.
    HugeHeader(usize),
}

/// A loopback (or namespace) server that plays a script and records the
/// requests and how each connection ended.
struct Responder {
    port: u16,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    clean: Arc<AtomicU64>,
    reset: Arc<AtomicU64>,
}

impl Responder {
    fn start(ns: Option<&str>, ip: &'static str, script: Script) -> Responder {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (clean, reset) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (tx, rx) = std::sync::mpsc::channel();
        let (r, c, x) = (
            Arc::clone(&requests),
            Arc::clone(&clean),
            Arc::clone(&reset),
        );
        let serve = move || {
            let listener = TcpListener::bind((ip, 0)).unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            for conn in listener.incoming().flatten() {
                let (r, c, x, script) = (
                    Arc::clone(&r),
                    Arc::clone(&c),
                    Arc::clone(&x),
                    script.clone(),
                );
                std::thread::spawn(move || play(conn, &script, &r, &c, &x));
            }
        };
        match ns {
            Some(ns) => drop(NetPair::spawn_in(ns, serve)),
            None => drop(std::thread::spawn(serve)),
        }
        let port = rx.recv().unwrap();
        Responder {
            port,
            requests,
            clean,
            reset,
        }
    }

    fn ended(&self) -> (u64, u64) {
        (
            self.clean.load(Ordering::Relaxed),
            self.reset.load(Ordering::Relaxed),
        )
    }
}

fn play(
    mut conn: TcpStream,
    script: &Script,
    requests: &Mutex<Vec<Vec<u8>>>,
    clean: &AtomicU64,
    reset: &AtomicU64,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    requests.lock().unwrap().push(head);
    let close_first = match script {
        Script::Answer(a) => {
            let _ = conn.write_all(a);
            true
        }
        Script::KeepOpen(a) => {
            let _ = conn.write_all(a);
            false
        }
        Script::Trickle(head, body, gap) => {
            let _ = conn.write_all(head);
            for b in body.iter() {
                std::thread::sleep(*gap);
                if conn.write_all(&[*b]).is_err() {
                    break;
                }
            }
            true
        }
        Script::HugeHeader(n) => {
            let mut a = b"HTTP/1.0 200 OK\r\nX-Pad: ".to_vec();
            a.resize(*n, b'p');
            a.extend_from_slice(b"\r\n\r\nhello");
            let _ = conn.write_all(&a);
            true
        }
    };
    if close_first {
        let _ = conn.shutdown(Shutdown::Write);
    }
    let mut sink = [0u8; 512];
    loop {
        match conn.read(&mut sink) {
            Ok(0) => {
                clean.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(_) => continue,
            Err(_) => {
                reset.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// Waits until `n` connections of `r` have ended.
fn wait_ended(r: &Responder, n: u64) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (clean, reset) = r.ended();
        if clean + reset >= n || Instant::now() > deadline {
            return (clean, reset);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

const OK_ANSWER: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n";

#[tokio::test]
async fn the_request_is_keepalived_s_byte_for_byte() {
    let r = Responder::start(None, "127.0.0.1", Script::Answer(OK_ANSWER));
    let mut check = http_check("127.0.0.1", r.port, vec![url("/a?b=c")]);
    for protocol in [
        HttpProtocol::Http10,
        HttpProtocol::Http10Close,
        HttpProtocol::Http11,
    ] {
        check.protocol = protocol;
        assert!(probe_url(&check, 0).await.ok);
    }
    check.virtualhost = Some("rs.example".into());
    assert!(probe_url(&check, 0).await.ok);
    check.urls[0].virtualhost = Some("url.example".into());
    assert!(probe_url(&check, 0).await.ok);
    let host = format!("127.0.0.1:{}", r.port);
    let got: Vec<String> = r
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(
        got,
        [
            format!("GET /a?b=c HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: {host}\r\n\r\n"),
            format!("GET /a?b=c HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: {host}\r\n\r\n"),
            format!("GET /a?b=c HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: {host}\r\n\r\n"),
            "GET /a?b=c HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: rs.example\r\n\r\n".into(),
            "GET /a?b=c HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: url.example\r\n\r\n".into(),
        ]
    );
}

// Multi-threaded: the probes' background closes run while the test waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_busybox_cannot_give() {
    let connect_timeout = Duration::from_millis(600);
    let case = |script: Script, digest: Option<&str>| {
        let r = Responder::start(None, "127.0.0.1", script);
        let mut check = http_check(
            "127.0.0.1",
            r.port,
            vec![Url {
                digest: digest.map(String::from),
                ..url("/")
            }],
        );
        check.common.connect_timeout = connect_timeout.into();
        (r, check)
    };
    // A server that keeps the connection open fails (keepalived: "Timeout
    // HTTP read"), within connect_timeout; our FIN then ends it cleanly.
    let (r, check) = case(Script::KeepOpen(OK_ANSWER), None);
    let started = Instant::now();
    let res = probe_url(&check, 0).await;
    assert!(
        !res.ok && res.reason.contains("no complete answer within 600 ms"),
        "{res:?}"
    );
    assert!(started.elapsed() < connect_timeout + Duration::from_millis(300));
    assert_eq!(
        wait_ended(&r, 1),
        (1, 0),
        "the server saw our FIN, not an RST"
    );

    // Bare-LF headers: never recognised.
    let (_r, check) = case(
        Script::Answer(b"HTTP/1.0 200 OK\nContent-Length: 6\n\nhello\n"),
        None,
    );
    let res = probe_url(&check, 0).await;
    assert!(
        !res.ok && res.reason.contains("no data received"),
        "{res:?}"
    );

    // A status line without a reason phrase.
    let (_r, check) = case(Script::Answer(b"HTTP/1.1 200\r\n\r\nhello\n"), None);
    assert!(!probe_url(&check, 0).await.ok);

    // Headers past 4095 bytes fail; just under passes.
    let (_r, check) = case(Script::HugeHeader(5000), None);
    let res = probe_url(&check, 0).await;
    assert!(!res.ok && res.reason.contains("4095"), "{res:?}");
    let (_r, check) = case(Script::HugeHeader(4000), None);
    assert!(probe_url(&check, 0).await.ok);

    // Chunked: hashed raw, chunk sizes included, as keepalived does.
    let chunked: &[u8] =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello\n\r\n0\r\n\r\n";
    let raw = format!("{:x}", md5::compute(b"6\r\nhello\n\r\n0\r\n\r\n"));
    let (_r, check) = case(Script::Answer(chunked), Some(&raw));
    assert!(probe_url(&check, 0).await.ok);
    let (_r, check) = case(Script::Answer(chunked), Some(HELLO_MD5));
    assert!(!probe_url(&check, 0).await.ok);

    // A body slower than connect_timeout in all, though each byte comes
    // well within it: lvsd fails it (keepalived re-arms per read, #1822).
    let slow = Script::Trickle(
        b"HTTP/1.0 200 OK\r\n\r\n",
        b"hello, slowly\n",
        Duration::from_millis(100),
    );
    let (r, check) = case(slow, None);
    let started = Instant::now();
    let res = probe_url(&check, 0).await;
    assert!(
        !res.ok && res.reason.contains("no complete answer"),
        "{res:?}"
    );
    assert!(started.elapsed() < connect_timeout + Duration::from_millis(300));
    assert_eq!(wait_ended(&r, 1), (1, 0), "drained to the server's FIN");
}

/// Probes `check`'s url 0 `n` times; returns how many passed.
async fn probe_times(check: &HttpCheck, n: usize) -> usize {
    let mut passed = 0;
    for _ in 0..n {
        passed += usize::from(probe_url(check, 0).await.ok);
    }
    passed
}

#[test]
fn no_resets_at_the_backend_passing_or_failing() {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new("http");
    let Some(busybox) = Busybox::start(Some(&pair.backend), BACKEND, 8080) else {
        return;
    };
    let scripts = [
        Script::Answer(OK_ANSWER),
        Script::Answer(b"HTTP/1.0 500 Oops\r\n\r\nfailing"),
        Script::KeepOpen(OK_ANSWER),
        Script::Answer(b"HTTP/1.0 200 OK\n\nbare"),
        Script::HugeHeader(6000),
        Script::Trickle(
            b"HTTP/1.0 200 OK\r\n\r\n",
            b"slow",
            Duration::from_millis(150),
        ),
    ];
    let responders: Vec<Responder> = scripts
        .into_iter()
        .map(|s| Responder::start(Some(&pair.backend), BACKEND, s))
        .collect();
    let resets_before = NetPair::tcp_counter(&pair.backend, "EstabResets");
    let sent_before = NetPair::tcp_counter(&pair.client, "OutRsts");
    let ports: Vec<u16> = responders.iter().map(|r| r.port).collect();
    let bb = busybox.port;
    let (passed, total) = pair.client_run(move || async move {
        let mut cases = vec![
            // busybox: pass, status, digest and regex failures.
            (http_check(BACKEND, bb, vec![url("/index.html")]), 200, 200),
            (http_check(BACKEND, bb, vec![url("/missing")]), 200, 0),
            (
                http_check(
                    BACKEND,
                    bb,
                    vec![Url {
                        digest: Some("0".repeat(32)),
                        ..url("/index.html")
                    }],
                ),
                200,
                0,
            ),
            (
                http_check(
                    BACKEND,
                    bb,
                    vec![Url {
                        regex: regex("nope", false, 0, None),
                        ..url("/status.txt")
                    }],
                ),
                200,
                0,
            ),
        ];
        let n = [100, 100, 20, 100, 100, 10];
        let ok = [100, 0, 0, 0, 0, 0];
        for ((port, n), ok) in ports.iter().zip(n).zip(ok) {
            let mut c = http_check(BACKEND, *port, vec![url("/")]);
            c.common.connect_timeout = Duration::from_millis(300).into();
            cases.push((c, n, ok));
        }
        let (mut passed, mut total) = (0, 0);
        for (check, n, want) in &cases {
            let got = probe_times(check, *n).await;
            assert_eq!(got, *want, "{:?}", check.urls[0]);
            passed += got;
            total += n;
        }
        // Let the background closes finish.
        tokio::time::sleep(Duration::from_secs(2)).await;
        (passed, total)
    });
    assert_eq!((passed, total), (300, 1230));
    for (i, r) in responders.iter().enumerate() {
        let want = [100, 100, 20, 100, 100, 10][i];
        assert_eq!(wait_ended(r, want), (want, 0), "responder {i}");
    }
    let resets = NetPair::tcp_counter(&pair.backend, "EstabResets") - resets_before;
    assert_eq!(resets, 0, "the backend namespace's EstabResets rose");
    let sent = NetPair::tcp_counter(&pair.client, "OutRsts") - sent_before;
    assert_eq!(sent, 0, "the client namespace sent RSTs");
    drop(busybox);
}

/// Through the engine, as lvsd runs it: one url a probe, in order; the
/// second url failing takes the server down (its first sweep is not
/// complete, so at once), then only that url is probed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_probes_one_url_at_a_time_then_only_the_failed_one() {
    let port = free_port();
    let Some(_server) = Busybox::start(None, "127.0.0.1", port) else {
        return;
    };
    let mut check = http_check("127.0.0.1", port, vec![url("/index.html"), url("/missing")]);
    check.common.delay_loop = Duration::from_millis(200).into();
    check.common.delay_before_retry = Duration::from_millis(100).into();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut engine = lvsd::checker::Engine::new(tx).expect("engine");
    let spec = lvsd::checker::ProbeSpec::new(&Check::Http(Box::new(check)));
    engine.set_probes(vec![(spec, true)]);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a verdict")
            .expect("the engine runs");
        seen.push((e.result.ok, e.up, e.changed, e.result.reason.into_owned()));
    }
    engine.set_probes(Vec::new());
    let brief: Vec<(bool, bool, bool)> = seen.iter().map(|s| (s.0, s.1, s.2)).collect();
    assert_eq!(
        brief,
        [
            (true, true, false),
            (false, false, true),
            (false, false, false),
            (false, false, false)
        ],
        "{seen:#?}"
    );
    assert!(
        seen[1..].iter().all(|s| s.3.starts_with("/missing:")),
        "{seen:#?}"
    );
}

/// Through the engine, as lvsd runs it (on its prober thread): passing and
/// failing answers, a server that keeps the connection open and one that
/// trickles past connect_timeout; every verdict is the expected one, and
/// no connection ends with an RST on either side.
#[test]
fn engine_closes_without_resets_passing_or_failing() {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new("httpeng");
    let scripts = [
        (Script::Answer(OK_ANSWER), true),
        (Script::Answer(b"HTTP/1.0 500 Oops\r\n\r\nfailing"), false),
        (Script::Answer(b"HTTP/1.0 200 OK\n\nbare"), false),
        (Script::KeepOpen(OK_ANSWER), false),
        (
            Script::Trickle(
                b"HTTP/1.0 200 OK\r\n\r\n",
                b"slow",
                Duration::from_millis(150),
            ),
            false,
        ),
    ];
    let responders: Vec<(Responder, bool)> = scripts
        .into_iter()
        .map(|(s, ok)| (Responder::start(Some(&pair.backend), BACKEND, s), ok))
        .collect();
    let resets_before = NetPair::tcp_counter(&pair.backend, "EstabResets");
    let sent_before = NetPair::tcp_counter(&pair.client, "OutRsts");
    let cases: Vec<(u16, bool)> = responders.iter().map(|(r, ok)| (r.port, *ok)).collect();
    let verdicts = pair.client_run(move || async move {
        let specs: Vec<_> = cases
            .iter()
            .map(|&(port, _)| {
                let mut check = http_check(BACKEND, port, vec![url("/")]);
                check.common.connect_timeout = Duration::from_millis(300).into();
                check.common.delay_loop = Duration::from_millis(100).into();
                check.common.delay_before_retry = Duration::from_millis(100).into();
                let spec = lvsd::checker::ProbeSpec::new(&Check::Http(Box::new(check)));
                (spec, true)
            })
            .collect();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut engine = lvsd::checker::Engine::new(tx).expect("engine");
        engine.set_probes(specs);
        // Per case: (passed, failed, a failure's reason).
        let mut seen = vec![(0u32, 0u32, String::new()); cases.len()];
        while seen.iter().any(|(p, f, _)| p + f < 8) {
            let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("a verdict")
                .expect("the engine runs");
            let Check::Http(h) = &*e.probe.check else {
                panic!("not an HTTP_GET")
            };
            let i = cases
                .iter()
                .position(|&(port, _)| port == h.common.connect_port)
                .expect("a case's port");
            if e.result.ok {
                seen[i].0 += 1;
            } else {
                seen[i].1 += 1;
                seen[i].2 = e.result.reason.into_owned();
            }
        }
        engine.set_probes(Vec::new());
        // The closes under way (a trickle's drain) end before the engine.
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(engine);
        seen
    });
    for ((port, ok), (passed, failed, why)) in responders
        .iter()
        .map(|(r, ok)| (r.port, *ok))
        .zip(&verdicts)
    {
        if ok {
            assert_eq!(*failed, 0, "port {port}: {why}");
        } else {
            assert_eq!(*passed, 0, "port {port}");
        }
    }
    assert!(
        verdicts[1].2.contains("status code error: 500"),
        "{verdicts:?}"
    );
    assert!(verdicts[2].2.contains("no data received"), "{verdicts:?}");
    assert!(
        verdicts[3].2.contains("no complete answer within 300 ms"),
        "{verdicts:?}"
    );
    assert!(
        verdicts[4].2.contains("no complete answer within 300 ms"),
        "{verdicts:?}"
    );
    for (i, (r, _)) in responders.iter().enumerate() {
        let accepted = r.requests.lock().unwrap().len() as u64;
        assert_eq!(wait_ended(r, accepted), (accepted, 0), "responder {i}");
    }
    let resets = NetPair::tcp_counter(&pair.backend, "EstabResets") - resets_before;
    assert_eq!(resets, 0, "the backend namespace's EstabResets rose");
    let sent = NetPair::tcp_counter(&pair.client, "OutRsts") - sent_before;
    assert_eq!(sent, 0, "the client namespace sent RSTs");
}

/// An answer far longer than one read (and than the socket's receive
/// buffer) is read as it comes, each event to the last byte there, to the
/// server's end, and judged whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_answer_is_read_to_its_end() {
    let mut answer = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
    let body: Vec<u8> = (0..1_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    answer.extend_from_slice(&body);
    let digest = format!("{:x}", md5::compute(&body));
    let r = Responder::start(None, "127.0.0.1", Script::Answer(answer.leak()));
    let mut check = http_check(
        "127.0.0.1",
        r.port,
        vec![Url {
            digest: Some(digest),
            ..url("/")
        }],
    );
    check.common.connect_timeout = Duration::from_secs(5).into();
    let res = probe_url(&check, 0).await;
    assert!(res.ok, "{res:?}");
    assert_eq!(wait_ended(&r, 1), (1, 0), "closed with a FIN");
}
