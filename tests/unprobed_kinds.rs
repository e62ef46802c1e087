//! The rule: lvsd never reports a real server healthy for a check it does
//! not perform. Every checker kind lvsd does not probe yet is an error at
//! its block: `lvsd -t` names it at file:line:col, the daemon refuses to
//! start with it, and a reload that brings one in is refused while the old
//! config runs on.
//!
//! [`UNPROBED`] shrinks as kinds land: a kind that becomes probed is
//! removed here in the same change (the first test fails until it is).
//!
//! Host only, loopback only: the daemon runs `--dry-run` (an in-memory
//! table) and its one probed check is a TCP_CHECK of a listener the test
//! opens on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lvsd::config::keywords::{CheckKw, CHECK_KEYWORDS};

/// The kinds lvsd does not probe yet, each with the smallest block
/// keepalived accepts for it.
const UNPROBED: &[(&str, &str)] = &[("BFD_CHECK", "BFD_CHECK {\n name b\n }")];

/// A config with one virtual server whose real server 127.0.0.1:`port` is
/// checked by `check` (a block); the check starts on line 7, column 9.
fn config(port: u16, check: &str) -> String {
    format!(
        "virtual_server 10.0.0.1 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 {port} {{
        {check}
    }}
}}
"
    )
}

fn lvsd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lvsd"))
}

#[test]
fn the_list_is_exactly_the_kinds_lvsd_does_not_probe() {
    let mut unprobed: Vec<&str> = CHECK_KEYWORDS
        .iter()
        .copied()
        .filter(|name| !CheckKw::from_name(name).is_some_and(CheckKw::is_probed))
        .collect();
    unprobed.sort_unstable();
    let mut listed: Vec<&str> = UNPROBED.iter().map(|(kind, _)| *kind).collect();
    listed.sort_unstable();
    assert_eq!(
        listed, unprobed,
        "UNPROBED must list exactly the kinds CheckKw::is_probed refuses"
    );
}

#[test]
fn config_test_names_each_unprobed_kind_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, block) in UNPROBED {
        let path = dir.path().join(format!("{kind}.conf"));
        std::fs::write(&path, config(8080, block)).unwrap();
        let out = lvsd().arg("-t").arg("-f").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{kind}: lvsd -t passed:\n{stderr}");
        let at = format!("{}:7:9: error: lvsd does not probe {kind}", path.display());
        assert!(
            stderr.contains(&at),
            "{kind}: expected `{at}` in:\n{stderr}"
        );
    }
}

#[test]
fn the_daemon_refuses_to_start_with_an_unprobed_kind() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, block) in UNPROBED {
        let path = dir.path().join(format!("{kind}.conf"));
        std::fs::write(&path, config(8080, block)).unwrap();
        let child = lvsd()
            .args(["--dry-run", "--state-file", "/dev/null", "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = exits_within(child, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{kind}: lvsd started and ran on"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{kind}: lvsd started:\n{stderr}");
        assert!(
            stderr.contains(&format!("lvsd does not probe {kind}")),
            "{kind}: the refusal does not name the kind:\n{stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "{kind}: a refused start changed the table:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// The child's output once it exits, or `None` (after killing it) if it
/// is still running after `limit`.
fn exits_within(mut child: Child, limit: Duration) -> Option<std::process::Output> {
    let deadline = Instant::now() + limit;
    while child.try_wait().ok()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().ok()
}

/// lvsd, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines of the daemon's stdout (table changes) and stderr (log), merged.
fn start(path: &Path) -> (Daemon, mpsc::Receiver<String>) {
    let mut child = lvsd()
        .args([
            "--dry-run",
            "-l",
            "--drift-interval",
            "0",
            "--state-file",
            "/dev/null",
            "-f",
        ])
        .arg(path)
        .env("LVSD_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lvsd starts");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    for stream in [
        Box::new(stdout) as Box<dyn std::io::Read + Send>,
        Box::new(stderr),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    (Daemon(child), rx)
}

/// Every line until one contains `needle` (within 10 s); panics with them
/// if none does.
fn until(rx: &mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(e) => panic!("no line with `{needle}` within 10 s ({e}):\n{seen:#?}"),
        }
    }
}

#[test]
fn a_reload_that_brings_in_an_unprobed_kind_is_refused_and_the_old_config_runs_on() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepalived.conf");
    std::fs::write(&path, config(port, "TCP_CHECK {\n connect_timeout 1\n }")).unwrap();
    let (lvsd, rx) = start(&path);
    // Table changes (stdout) and the log (stderr) arrive in either order.
    let added = format!("-a -t 10.0.0.1:80 -r 127.0.0.1:{port}");
    if !until(&rx, "lvsd started")
        .iter()
        .any(|l| l.contains(&added))
    {
        until(&rx, &added);
    }
    for (kind, block) in UNPROBED {
        std::fs::write(&path, config(port, block)).unwrap();
        // SAFETY: kill(2) on our own child's pid, which it still is (the
        // child is reaped only when `lvsd` is dropped).
        let sent = unsafe { libc::kill(lvsd.0.id() as libc::pid_t, libc::SIGHUP) };
        assert_eq!(sent, 0, "SIGHUP to lvsd");
        // The refusal comes first, then the diagnostics that say why.
        let lines = until(&rx, &format!("lvsd does not probe {kind}"));
        assert!(
            lines.iter().any(|l| l.contains("reload refused")),
            "{kind}: no `reload refused` line: {lines:#?}"
        );
        let changed: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with("-a ") || l.starts_with("-d ") || l.starts_with("-e "))
            .collect();
        assert!(
            changed.is_empty(),
            "{kind}: a refused reload changed the table: {changed:?}"
        );
    }
    // The old config still runs: its probe keeps the real server up.
    assert!(lvsd_alive(&lvsd), "lvsd exited after a refused reload");
}

fn lvsd_alive(lvsd: &Daemon) -> bool {
    // SAFETY: signal 0 only checks that our child's pid exists.
    unsafe { libc::kill(lvsd.0.id() as libc::pid_t, 0) == 0 }
}
