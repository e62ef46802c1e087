//! The whole daemon on the host, `--dry-run` (an in-memory table that
//! prints each change as an `ipvsadm` line): what a check's verdicts do to
//! the table, end to end. No IPVS, no root, no network: the checks here are
//! `MISC_CHECK` commands.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// lvsd, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `lvsd --dry-run` on `config`; its table changes arrive on the
/// receiver, one line each.
fn dry_run(config: &std::path::Path) -> (Daemon, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args([
            "--dry-run",
            "--drift-interval",
            "0",
            "--state-file",
            "/dev/null",
            "-f",
        ])
        .arg(config)
        .env("LVSD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lvsd starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Daemon(child), rx)
}

/// The next line that starts with `prefix`, within 10 s.
fn next_change(rx: &mpsc::Receiver<String>, prefix: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return line,
            Ok(_) => continue,
            Err(e) => panic!("no `{prefix}` line within 10 s: {e}"),
        }
    }
}

#[test]
fn misc_dynamic_exit_statuses_set_the_real_servers_weight() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::write(&code, "7").unwrap();
    let script = dir.path().join("load.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexit $(cat {})\n", code.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(
        &config,
        format!(
            "virtual_server 10.0.0.1 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 8080 {{
        weight 3
        MISC_CHECK {{
            misc_path {}
            misc_dynamic
        }}
    }}
}}
",
            script.display()
        ),
    )
    .unwrap();
    let (_lvsd, rx) = dry_run(&config);
    // At start the configured weight; after the first run, 7 - 2.
    let added = next_change(&rx, "-a ");
    assert!(added.ends_with("-w 3"), "{added}");
    let changed = next_change(&rx, "-e ");
    assert!(
        changed.contains("-r 127.0.0.1:8080") && changed.ends_with("-w 5"),
        "{changed}"
    );
    std::fs::write(&code, "12").unwrap();
    let changed = next_change(&rx, "-e ");
    assert!(changed.ends_with("-w 10"), "{changed}");
    // Exit 1: down, so out of the table.
    std::fs::write(&code, "1").unwrap();
    let removed = next_change(&rx, "-d ");
    assert!(removed.contains("-r 127.0.0.1:8080"), "{removed}");
}
