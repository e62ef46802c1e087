//! What the metrics tests and the metrics bench share: lvsd `--dry-run`
//! (started by `tests/dry_run_support`, which every crate that uses this
//! module declares too) with `--metrics-listen` on loopback, and a minimal
//! HTTP client.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

pub use crate::dry_run_support::Killed;

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// lvsd `--dry-run` on `conf`, serving metrics on `port`.
pub fn lvsd(conf: &std::path::Path, port: u16) -> Killed {
    lvsd_with(conf, Some(port), &[])
}

/// lvsd `--dry-run` on `conf` with `extra` arguments, serving metrics on
/// `port` if given (returns once `/healthz` answers 200).
pub fn lvsd_with(conf: &std::path::Path, port: Option<u16>, extra: &[&str]) -> Killed {
    let metrics = port.map(|port| format!("--metrics-listen=127.0.0.1:{port}"));
    let lvsd = crate::dry_run_support::dry_run(conf)
        .args(extra)
        .args(metrics)
        .quiet()
        .start()
        .process;
    if let Some(port) = port {
        wait_for(
            || get(port, "/healthz", None).is_some_and(|(code, _)| code == 200),
            "/healthz 200",
        );
    }
    lvsd
}

/// `GET path` over HTTP/1.0: (status, body), or `None` if nothing answers.
pub fn get(port: u16, path: &str, accept: Option<&str>) -> Option<(u16, String)> {
    request(port, "GET", path, accept)
}

/// `method path` over HTTP/1.0, as [`get`].
pub fn request(port: u16, method: &str, path: &str, accept: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(s, "{method} {path} HTTP/1.0\r\n{accept}\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let code = answer.get(9..12)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_owned();
    Some((code, body))
}

/// Polls `ok` every 100 ms for 15 s.
pub fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("not within 15 s: {what}");
}

/// The value of the sample `series` (name and labels as written) in `text`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}
