//! `lvsd ctl` end to end against `lvsd --dry-run` on the host: every
//! command, the table changes they make (the dry run prints each as an
//! `ipvsadm` line), admin state across a restart, a reload refused with its
//! diagnostics, requests that are not requests, and a change refused to a
//! user outside the admin group. No IPVS, no network: the checks are
//! `MISC_CHECK /bin/true` and the real servers loopback addresses.

use crate::checker_support;
use crate::dry_run_support;

use dry_run_support::{dry_run, Lvsd};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

/// lvsd with its control socket.
struct Daemon {
    lvsd: Lvsd,
    socket: PathBuf,
}

fn config(two: bool) -> String {
    let rs = |addr: &str, weight: u32| {
        format!(
            "    real_server {addr} 8080 {{\n        weight {weight}\n        MISC_CHECK {{\n            misc_path /bin/true\n        }}\n    }}\n"
        )
    };
    format!(
        "global_defs {{\n    enable_script_security\n}}\nvirtual_server 10.0.0.1 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n{}{}}}\n",
        rs("127.0.0.1", 3),
        if two { rs("127.0.0.2", 2) } else { String::new() }
    )
}

/// `lvsd --dry-run` in `dir` (its run directory) with a control socket
/// there, once the socket answers.
fn start(dir: &Path, extra: &[&str]) -> Daemon {
    let socket = dir.join("lvsd.sock");
    let lvsd = dry_run(&dir.join("keepalived.conf"))
        .args(["--drain-poll", "0.2", "--ctl-socket"])
        .args([&socket])
        .args(extra)
        .env("RUNTIME_DIRECTORY", dir)
        .start();
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "no control socket within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    Daemon { lvsd, socket }
}

impl Daemon {
    /// `lvsd ctl --socket … ARGS`.
    fn ctl(&self, args: &[&str]) -> Output {
        ctl_as(&[], &self.socket, args)
    }

    /// The next table change that starts with `prefix` and contains `has`.
    fn change(&self, prefix: &str, has: &str) -> String {
        self.lvsd.out.next_starting(prefix, has)
    }

    /// Every change printed in the next `wait`.
    fn changes_for(&self, wait: Duration) -> Vec<String> {
        self.lvsd.out.within(wait)
    }
}

/// `lvsd ctl` run through `prefix` (`setpriv …`).
fn ctl_as(prefix: &[&str], socket: &Path, args: &[&str]) -> Output {
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(LVSD);
            c
        }
        None => Command::new(LVSD),
    };
    cmd.arg("ctl")
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("lvsd ctl runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "lvsd ctl failed ({:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).expect("ctl --json prints one JSON object")
}

fn dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keepalived.conf"), config(true)).unwrap();
    dir
}

#[test]
fn every_command_changes_the_table_as_it_says_and_admin_state_survives_a_restart() {
    let dir = dir();
    let lvsd = start(dir.path(), &[]);
    lvsd.change("-a ", "127.0.0.2:8080 -m -w 2");
    let status = json(&lvsd.ctl(&["--json", "status"]));
    assert_eq!(status["result"]["real_servers"], 2, "{status}");
    let table = ok(&lvsd.ctl(&["show", "rs"]));
    assert!(
        table.contains("127.0.0.2:8080") && table.contains("HEALTH"),
        "{table}"
    );
    assert!(ok(&lvsd.ctl(&["show", "vs"])).contains("10.0.0.1:tcp:80"));
    assert!(ok(&lvsd.ctl(&["show", "probes"])).contains("MISC_CHECK"));

    // drain: weight 0, then (no connection in a dry run) deleted at the next poll.
    let out = ok(&lvsd.ctl(&[
        "drain",
        "127.0.0.2",
        "--vs",
        "10.0.0.1:80/tcp",
        "--timeout",
        "60",
    ]));
    assert!(out.contains("draining"), "{out}");
    lvsd.change("-e ", "127.0.0.2:8080 -m -w 0");
    lvsd.change("-d ", "127.0.0.2:8080");
    let rs = json(&lvsd.ctl(&["--json", "show", "rs"]));
    let second = &rs["result"][1];
    assert_eq!(
        (second["rs"].as_str(), second["admin"].as_str()),
        (Some("127.0.0.2:8080"), Some("drained")),
        "{rs}"
    );
    // It stays out until enable.
    ok(&lvsd.ctl(&["enable", "127.0.0.2:8080"]));
    lvsd.change("-a ", "127.0.0.2:8080 -m -w 2");
    ok(&lvsd.ctl(&["weight", "127.0.0.1:8080", "7"]));
    lvsd.change("-e ", "127.0.0.1:8080 -m -w 7");
    ok(&lvsd.ctl(&["disable", "127.0.0.1"]));
    lvsd.change("-d ", "127.0.0.1:8080");
    let check = ok(&lvsd.ctl(&["check", "127.0.0.2"]));
    assert!(
        check.contains("MISC_CHECK") && check.contains(" ok "),
        "{check}"
    );

    // Nothing by that name: an error naming it, exit 1.
    let out = lvsd.ctl(&["drain", "10.9.9.9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no real server 10.9.9.9"));
    let out = lvsd.ctl(&["weight", "127.0.0.1", "70000"]);
    assert_eq!(out.status.code(), Some(1));

    // A broken config: refused with its diagnostic at file:line:col, exit 1.
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, config(true).replace("lb_algo rr", "lb_algo rr {")).unwrap();
    let out = lvsd.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("keepalived.conf:") && said.contains("REFUSED"),
        "{said}"
    );
    assert!(ok(&lvsd.ctl(&["status"])).contains("REFUSED"));
    // A reload that removes 127.0.0.2 drains it (here at once: no connections).
    std::fs::write(&conf, config(false)).unwrap();
    ok(&lvsd.ctl(&["reload"]));
    lvsd.change("-e ", "127.0.0.2:8080 -m -w 0");
    lvsd.change("-d ", "127.0.0.2:8080");

    // A restart: the disable and the override are read back.
    drop(lvsd);
    let saved = std::fs::read_to_string(dir.path().join("admin-state.json")).unwrap();
    assert!(saved.contains("\"disabled\": true"), "{saved}");
    let meta = std::fs::metadata(dir.path().join("admin-state.json")).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    let lvsd = start(dir.path(), &[]);
    let changes = lvsd.changes_for(Duration::from_millis(500));
    assert!(changes.iter().any(|l| l.starts_with("-A ")), "{changes:?}");
    assert!(
        !changes.iter().any(|l| l.contains("127.0.0.1:8080")),
        "still disabled: {changes:?}"
    );
    let rs = json(&lvsd.ctl(&["--json", "show", "rs"]));
    assert_eq!(rs["result"][0]["admin"], "disabled", "{rs}");
    assert_eq!(rs["result"][0]["weight_override"], 7, "{rs}");
}

/// One request line, raw; the answer line.
fn raw(stream: &mut UnixStream, line: &[u8]) -> serde_json::Value {
    stream.write_all(line).unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8];
    while stream.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        answer.push(byte[0]);
    }
    serde_json::from_slice(&answer)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&answer)))
}

#[test]
fn malformed_oversized_and_idle_requests_get_an_error_never_a_hang() {
    let dir = dir();
    let lvsd = start(dir.path(), &[]);
    let mut s = UnixStream::connect(&lvsd.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    for bad in [
        &b"hello\n"[..],
        b"{\"cmd\":\"explode\"}\n",
        b"[]\n",
        b"{\"v\":9,\"cmd\":\"status\"}\n",
        b"\xff\xfe\n",
    ] {
        let answer = raw(&mut s, bad);
        assert_eq!(answer["ok"], false, "{answer}");
        assert_eq!(answer["kind"], "bad_request", "{answer}");
    }
    // The same connection still answers; a timeout no clock can reach is
    // taken (and kept at the end of time), not an overflow.
    assert_eq!(raw(&mut s, b"{\"cmd\":\"status\"}\n")["ok"], true);
    let huge = raw(
        &mut s,
        b"{\"cmd\":\"drain\",\"rs\":\"127.0.0.2\",\"timeout\":18446744073709551615}\n",
    );
    assert_eq!(huge["ok"], true, "{huge}");
    let weight = raw(
        &mut s,
        b"{\"cmd\":\"weight\",\"rs\":\"127.0.0.1\",\"weight\":-1}\n",
    );
    assert_eq!(weight["kind"], "bad_request", "{weight}");
    // 100 KB without a newline: an error, then the connection is closed.
    let answer = raw(&mut s, &vec![b'x'; 100_000]);
    assert_eq!(answer["kind"], "too_long", "{answer}");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // Connections beyond the cap are told so at once.
    let idle: Vec<UnixStream> = (0..16)
        .map(|_| UnixStream::connect(&lvsd.socket).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut over = UnixStream::connect(&lvsd.socket).unwrap();
    over.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = String::new();
    BufReader::new(&mut over).read_line(&mut line).unwrap();
    assert!(line.contains("\"busy\""), "{line}");
    // An idle connection is closed after its timeout with an answer.
    let mut first = idle.into_iter().next().unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let mut line = String::new();
    BufReader::new(&mut first).read_line(&mut line).unwrap();
    assert!(line.contains("no request within"), "{line}");
    assert!(started.elapsed() < Duration::from_secs(12));
    // And lvsd still answers.
    assert!(ok(&lvsd.ctl(&["status"])).contains("real servers: 2"));
}

#[test]
fn a_change_from_outside_the_admin_group_is_refused_saying_why() {
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !checker_support::can_run(
        root,
        "needs root (runs lvsd ctl as another user with setpriv)",
    ) {
        return;
    }
    // Groups every Debian system has: `adm` reads, `staff` changes.
    let dir = dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let lvsd = start(
        dir.path(),
        &["--ctl-group", "adm", "--ctl-admin-group", "staff"],
    );
    lvsd.change("-a ", "127.0.0.2:8080");
    let meta = std::fs::symlink_metadata(&lvsd.socket).unwrap();
    assert_eq!(
        (meta.mode() & 0o777, meta.uid(), meta.gid()),
        (0o660, 0, 4),
        "mode 0660 root:adm"
    );
    let reader = [
        "setpriv", "--reuid", "65534", "--regid", "65534", "--groups", "4", "--",
    ];
    assert!(ok(&ctl_as(&reader, &lvsd.socket, &["status"])).contains("real servers"));
    let out = ctl_as(&reader, &lvsd.socket, &["drain", "127.0.0.2"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("refused") && said.contains("group `staff`") && said.contains("uid 65534"),
        "{said}"
    );
    assert!(
        lvsd.changes_for(Duration::from_millis(600)).is_empty(),
        "nothing changed"
    );
    // Not in the socket's group: the socket's mode keeps it out.
    let stranger = [
        "setpriv",
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        "--",
    ];
    let out = ctl_as(&stranger, &lvsd.socket, &["status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ermission denied"));
    // The admin group may (its members reach the socket through its group too).
    let admin = [
        "setpriv", "--reuid", "65534", "--regid", "65534", "--groups", "4,50", "--",
    ];
    ok(&ctl_as(&admin, &lvsd.socket, &["drain", "127.0.0.2"]));
    lvsd.change("-e ", "127.0.0.2:8080 -m -w 0");
}
