//! `lvsd-backend` on the host's loopback: it tells a clean close (FIN) from a
//! reset (RST, SO_LINGER 0), prints its counts on SIGUSR1, and exits when
//! its stdin pipe closes.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn counts_clean_closes_and_resets() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd-backend"))
        .args(["--stats", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = lines.next().unwrap().unwrap();
    let addr = listening
        .strip_prefix("listening ")
        .expect(&listening)
        .to_string();

    // Two clean closes, one reset.
    for _ in 0..2 {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"hello").unwrap();
    }
    let s = TcpStream::connect(&addr).unwrap();
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);

    let want = format!("stats {addr} conns=3 eof=2 reset=1 error=0");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while last != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        // SAFETY: a plain kill(2) on our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGUSR1) };
        last = lines.next().unwrap().unwrap();
    }
    assert_eq!(last, want);

    drop(child.stdin.take()); // closing stdin ends it, with a final report
    assert_eq!(lines.next().unwrap().unwrap(), want);
    assert!(child.wait().unwrap().success());
}

#[test]
fn rejects_a_bad_address() {
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd-backend"))
        .arg("localhost:80")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad address \"localhost:80\""));
}
