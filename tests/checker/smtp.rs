//! SMTP_CHECK: against OpenSMTPD (Debian's opensmtpd, run in the
//! foreground with a config of its own) for the dialog a real MTA holds, a
//! scripted responder for the failures a real MTA never shows (a multi-line
//! banner, a refused HELO, silence, a close mid-dialog), and the close
//! seen from the backend: zero resets over 1,000 probes of an SMTP backend
//! in a network namespace.
//!
//! OpenSMTPD needs root (it drops privileges to its own users) and
//! `/usr/sbin/smtpd`; the reset count needs `ip netns`. Without them those
//! tests print `skipped: …` (fail under `CI=true`).

use crate::checker_support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use checker_support::*;
use lvsd::checker::{probe, ProbeSpec};
use lvsd::config::{Check, CheckCommon, SmtpCheck, DEFAULT_HELO_NAME};

fn smtp(common: CheckCommon, helo: &str) -> Check {
    Check::Smtp(Box::new(SmtpCheck {
        common,
        helo_name: helo.into(),
    }))
}

fn smtp_at(port: u16, timeout_ms: u64) -> Check {
    let mut common = tcp_check("127.0.0.1", port);
    common.connect_timeout = Duration::from_millis(timeout_ms).into();
    smtp(common, DEFAULT_HELO_NAME)
}

/// One step of a scripted SMTP server.
#[derive(Clone, Copy)]
enum Step {
    /// Write these bytes.
    Say(&'static str),
    /// Read one line (kept, for the test to look at).
    Hear,
    /// Wait.
    Pause(u64),
}

/// A loopback server playing `script` to one connection, then reading to
/// end of file; hands back the lines it heard and how the connection ended
/// (true: our FIN, false: an error such as a reset).
fn scripted(script: &'static [Step]) -> (u16, mpsc::Receiver<(Vec<String>, bool)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((conn, _)) = listener.accept() else {
            return;
        };
        let mut writer = conn.try_clone().unwrap();
        let mut reader = BufReader::new(conn);
        let mut heard = Vec::new();
        for step in script {
            match step {
                Step::Say(text) => {
                    let _ = writer.write_all(text.as_bytes());
                }
                Step::Hear => {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    heard.push(line);
                }
                Step::Pause(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            }
        }
        let mut rest = String::new();
        let clean = reader.read_line(&mut rest).is_ok();
        let _ = tx.send((heard, clean));
    });
    (port, rx)
}

use Step::{Hear, Pause, Say};

const GOOD: &[Step] = &[
    Say("220 mx.example.test ESMTP\r\n"),
    Hear,
    Say("250 mx.example.test\r\n"),
    Hear,
    Say("221 bye\r\n"),
];

// Multi-threaded: the probe's close runs on its own task while the
// test thread waits for the server's report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dialog_is_keepalived_s() {
    let (port, heard) = scripted(GOOD);
    let up = probe::attempt(&smtp_at(port, 1000)).await;
    assert!(up.ok, "{up:?}");
    let (lines, clean) = heard.recv().unwrap();
    assert_eq!(
        lines,
        ["HELO smtpchecker.keepalived.org\r\n", "QUIT\r\n"],
        "what lvsd sends"
    );
    assert!(clean, "the server saw a reset");
    // A bare `220` ending in `\n` passes; any line answers QUIT.
    const BARE: &[Step] = &[Say("220\n"), Hear, Say("250 ok\n"), Hear, Say("?\n")];
    let (port, _) = scripted(BARE);
    assert!(probe::attempt(&smtp_at(port, 1000)).await.ok);
}

// Multi-threaded: the probe's close runs on its own task while the
// test thread waits for the server's report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_keepalived_refuses_lvsd_refuses() {
    const MULTILINE: &[Step] = &[Say("220-mx.example.test\r\n220 ESMTP\r\n"), Hear];
    const CR_AFTER_CODE: &[Step] = &[Say("220\r\n"), Hear];
    const BUSY: &[Step] = &[Say("554 no service\r\n"), Hear];
    const BAD_HELO: &[Step] = &[
        Say("220 mx ESMTP\r\n"),
        Hear,
        Say("501 who are you\r\n"),
        Hear,
    ];
    const CLOSE_AFTER_QUIT: &[Step] = &[Say("220 mx\r\n"), Hear, Say("250 mx\r\n"), Hear];
    for (what, script, reason) in [
        (
            "multi-line banner",
            MULTILINE,
            "bad greeting banner: expected 220, got \"220-mx",
        ),
        ("CR after the code", CR_AFTER_CODE, "bad greeting banner"),
        (
            "554 banner",
            BUSY,
            "bad greeting banner: expected 220, got \"554",
        ),
        (
            "HELO refused",
            BAD_HELO,
            "bad HELO response: expected 250, got \"501",
        ),
        (
            "no answer to QUIT",
            CLOSE_AFTER_QUIT,
            "after QUIT: no reply line within 1 s",
        ),
    ] {
        let (port, heard) = scripted(script);
        let down = probe::attempt(&smtp_at(port, 1000)).await;
        assert!(!down.ok, "{what}: {down:?}");
        assert!(down.reason.starts_with(reason), "{what}: {down:?}");
        let (_, clean) = heard.recv().unwrap();
        assert!(clean, "{what}: the server saw a reset");
    }
}

#[tokio::test]
async fn silence_and_slowness_are_bounded_by_connect_timeout() {
    const SILENT: &[Step] = &[Hear];
    const SLOW_BANNER: &[Step] = &[Pause(700), Say("220 mx\r\n"), Hear];
    const SLOW_HELO: &[Step] = &[Say("220 mx\r\n"), Hear, Pause(700), Say("250 mx\r\n"), Hear];
    for (what, script) in [
        ("silent", SILENT),
        ("slow banner", SLOW_BANNER),
        ("slow HELO answer", SLOW_HELO),
    ] {
        let (port, _) = scripted(script);
        let started = Instant::now();
        let down = probe::attempt(&smtp_at(port, 300)).await;
        assert!(!down.ok, "{what}: {down:?}");
        assert!(down.reason.contains("within 300 ms"), "{what}: {down:?}");
        assert!(started.elapsed() < Duration::from_millis(700), "{what}");
    }
    // Each step has its own connect_timeout: three answers 200 ms late
    // each pass with connect_timeout 300 ms.
    const EACH_LATE: &[Step] = &[
        Pause(200),
        Say("220 mx\r\n"),
        Hear,
        Pause(200),
        Say("250 mx\r\n"),
        Hear,
        Pause(200),
        Say("221 bye\r\n"),
    ];
    let (port, _) = scripted(EACH_LATE);
    let up = probe::attempt(&smtp_at(port, 300)).await;
    assert!(up.ok, "{up:?}");
}

#[tokio::test]
async fn a_closed_port_fails() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = probe::attempt(&smtp_at(port, 1000)).await;
    assert!(!down.ok && down.reason.contains("refused"), "{down:?}");
}

/// OpenSMTPD in the foreground on 127.0.0.1:`port`; stopped on drop.
struct Opensmtpd {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Opensmtpd {
    fn available() -> bool {
        // SAFETY: geteuid(2) has no arguments and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let present = Path::new("/usr/sbin/smtpd").exists();
        can_run(
            root && present,
            "needs root and OpenSMTPD (package opensmtpd)",
        )
    }

    fn start(port: u16) -> Opensmtpd {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("smtpd.conf");
        std::fs::write(
            &conf,
            format!(
                "listen on 127.0.0.1 port {port}\naction \"drop\" mbox\nmatch from any for any action \"drop\"\n"
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/smtpd")
            .arg("-d")
            .arg("-f")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start smtpd");
        Opensmtpd { child, _dir: dir }
    }
}

impl Drop for Opensmtpd {
    fn drop(&mut self) {
        // SIGTERM: smtpd stops its privilege-separated children too.
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Waits until `addr` accepts a connection and sends its banner.
fn wait_banner(addr: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(conn) = TcpStream::connect((addr, port)) {
            let mut line = String::new();
            let _ = BufReader::new(&conn).read_line(&mut line);
            if line.starts_with("220 ") {
                let _ = (&conn).write_all(b"QUIT\r\n");
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no SMTP banner from {addr}:{port}");
}

#[tokio::test]
async fn opensmtpd_passes() {
    if !Opensmtpd::available() {
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _mta = Opensmtpd::start(port);
    wait_banner("127.0.0.1", port);
    // OpenSMTPD may take seconds over its banner (it looks the client up).
    let up = probe::attempt(&smtp_at(port, 10_000)).await;
    assert!(up.ok, "{up:?}");
    let mut common = tcp_check("127.0.0.1", port);
    common.connect_timeout = Duration::from_secs(10).into();
    let named = probe::attempt(&smtp(common, "probe.example.test")).await;
    assert!(named.ok, "{named:?}");
}

/// A scripted SMTP server in namespace `ns` on `BACKEND:25` for every
/// connection: banner, 250 to the HELO, 221 to the QUIT, then it reads to
/// end of file. Counts (clean ends, resets).
fn scripted_mta(ns: &str) -> std::sync::Arc<(AtomicU64, AtomicU64)> {
    let counts = std::sync::Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let theirs = std::sync::Arc::clone(&counts);
    let (ready_tx, ready_rx) = mpsc::channel();
    NetPair::spawn_in(ns, move || {
        let listener = TcpListener::bind((BACKEND, 25)).unwrap();
        ready_tx.send(()).unwrap();
        for conn in listener.incoming().flatten() {
            let counts = std::sync::Arc::clone(&theirs);
            std::thread::spawn(move || {
                let mut writer = conn.try_clone().unwrap();
                let mut reader = BufReader::new(conn);
                let mut line = String::new();
                let _ = writer.write_all(b"220 scripted ESMTP\r\n");
                for answer in [&b"250 scripted\r\n"[..], b"221 bye\r\n"] {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let _ = writer.write_all(answer);
                }
                let end = loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) => break &counts.0,
                        Ok(_) => continue,
                        Err(_) => break &counts.1,
                    }
                };
                end.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    ready_rx.recv().unwrap();
    counts
}

/// 1,000 dialogs through the engine with a backend in a namespace: every
/// connection ends with our FIN read to its end of file, the backend
/// namespace never counts a reset, the client namespace never sends one.
/// (OpenSMTPD itself stalls its banner for seconds under such a load: it is
/// the healthy row above, not this one.)
#[test]
fn zero_resets_at_an_smtp_backend_over_1000_probes() {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new("smtp");
    let counts = scripted_mta(&pair.backend);
    let resets_before = NetPair::tcp_counter(&pair.backend, "EstabResets");
    let sent_before = NetPair::tcp_counter(&pair.client, "OutRsts");
    pair.client_run(|| async {
        // 50 probes (their specs differ in delay_before_retry only) every
        // 100 ms: 500 dialogs a second.
        let specs = (0..50)
            .map(|k| {
                let mut common = tcp_check(BACKEND, 25);
                common.delay_loop = Duration::from_millis(100).into();
                common.delay_before_retry = Duration::from_millis(200 + k).into();
                ProbeSpec::new(&smtp(common, DEFAULT_HELO_NAME))
            })
            .collect();
        engine_probe_n(specs, 1000).await;
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while counts.0.load(Ordering::Relaxed) + counts.1.load(Ordering::Relaxed) < 1000
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (clean, reset) = (
        counts.0.load(Ordering::Relaxed),
        counts.1.load(Ordering::Relaxed),
    );
    assert!(clean >= 1000 && reset == 0, "clean {clean}, reset {reset}");
    let resets = NetPair::tcp_counter(&pair.backend, "EstabResets") - resets_before;
    let sent = NetPair::tcp_counter(&pair.client, "OutRsts") - sent_before;
    assert_eq!((resets, sent), (0, 0), "resets at the backend, RSTs sent");
}
