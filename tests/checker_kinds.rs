//! HTTP_GET and MISC_CHECK probes on loopback (no root needed).

mod checker_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use checker_support::tcp_check;
use lvsd::checker::probe;
use lvsd::config::{Check, HttpCheck, MiscCheck, Url};

/// A loopback HTTP server answering every request with `answer`, after
/// reading the request head; it closes first, like HTTP/1.0 servers do.
fn http_server(answer: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            assert!(head.starts_with(b"GET /health HTTP/1.0\r\n"));
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    port
}

fn http(port: u16, codes: Vec<(u16, u16)>, digest: Option<&str>) -> Check {
    Check::Http(Box::new(HttpCheck {
        common: tcp_check("127.0.0.1", port),
        tls: false,
        urls: vec![Url {
            path: "/health".into(),
            digest: digest.map(String::from),
            status_codes: codes,
            virtualhost: None,
            regex: None,
        }],
        virtualhost: Some("www.example.test".into()),
    }))
}

#[tokio::test]
async fn http_get_checks_status_and_digest() {
    let ok = http_server("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    let result = probe::attempt(&http(ok, vec![], None)).await;
    assert!(result.ok, "{result:?}");
    let digest = Some("5d41402abc4b2a76b9719d911017c592");
    assert!(probe::attempt(&http(ok, vec![], digest)).await.ok);
    let wrong = probe::attempt(&http(ok, vec![], Some("00"))).await;
    assert!(!wrong.ok && wrong.reason.contains("digest"), "{wrong:?}");

    let error = http_server("HTTP/1.0 500 Oops\r\n\r\n");
    let result = probe::attempt(&http(error, vec![], None)).await;
    assert!(
        !result.ok && result.reason.contains("status 500"),
        "{result:?}"
    );
    assert!(
        probe::attempt(&http(error, vec![(500, 599)], None))
            .await
            .ok
    );
}

#[tokio::test]
async fn http_get_to_a_closed_port_fails() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = probe::attempt(&http(port, vec![], None)).await;
    assert!(
        !result.ok && result.reason.contains("refused"),
        "{result:?}"
    );
}

fn misc(path: &str, timeout_ms: Option<u64>, dynamic: bool) -> Check {
    Check::Misc(Box::new(MiscCheck {
        common: tcp_check("127.0.0.1", 1),
        path: path.into(),
        timeout: timeout_ms.map(Duration::from_millis),
        dynamic,
        user: None,
    }))
}

#[tokio::test]
async fn misc_check_reads_the_exit_status() {
    assert!(probe::attempt(&misc("/bin/true", None, false)).await.ok);
    let down = probe::attempt(&misc("/bin/false", None, false)).await;
    assert!(!down.ok && down.reason == "exit status 1", "{down:?}");
    let missing = probe::attempt(&misc("/nonexistent/check", None, false)).await;
    assert!(
        !missing.ok && missing.reason.contains("cannot run"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn misc_check_times_out() {
    let result = probe::attempt(&misc("/bin/sleep 5", Some(200), false)).await;
    assert!(
        !result.ok && result.reason.contains("timed out"),
        "{result:?}"
    );
    assert!(result.latency < Duration::from_millis(400), "{result:?}");
}

#[tokio::test]
async fn misc_dynamic_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let script = |code: u8| {
        let path = dir.path().join(format!("exit{code}.sh"));
        std::fs::write(&path, format!("exit {code}\n")).unwrap();
        format!("/bin/sh {}", path.display())
    };
    let up = probe::attempt(&misc(&script(5), None, true)).await;
    assert!(up.ok && up.reason.contains("weight 3"), "{up:?}");
    assert!(!probe::attempt(&misc(&script(1), None, true)).await.ok);
    // Without misc_dynamic, any non-zero exit is down.
    assert!(!probe::attempt(&misc(&script(5), None, false)).await.ok);
}
