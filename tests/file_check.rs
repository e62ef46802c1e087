//! FILE_CHECK end to end on the host: `lvsd --dry-run` (an in-memory table
//! that prints each change as an `ipvsadm` line) follows a tracked file the
//! test writes. No network at all: a FILE_CHECK probes nothing but a file,
//! and the addresses are loopback ones that nothing connects to.
//!
//! - the table follows each write within 50 ms (inotify, no polling):
//!   weight 0, weight 0 reverse, a weighted check, deletion, a move away
//!   and a move in;
//! - a reload keeps the weights the files gave, and does not rewrite an
//!   `init_file`;
//! - between changes lvsd does nothing: no CPU time, no thread woken.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// lvsd, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A line of lvsd's stdout and when it arrived.
type Line = (Instant, String);

/// Starts `lvsd --dry-run` on `config`, drift repair off.
fn dry_run(config: &Path) -> (Daemon, mpsc::Receiver<Line>) {
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
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    (Daemon(child), rx)
}

/// Waits for the line `want` (within 5 s), returning when it came; panics
/// with the lines seen if it does not come.
fn line(rx: &mpsc::Receiver<Line>, want: &str) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((at, l)) if l == want => return at,
            Ok((_, l)) => seen.push(l),
            Err(e) => panic!("no `{want}` within 5 s ({e}); seen: {seen:#?}"),
        }
    }
}

/// Waits for every line of `want`, in any order (within 5 s), returning
/// when the last came.
fn lines(rx: &mpsc::Receiver<Line>, want: &[String]) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut missing: Vec<&String> = want.iter().collect();
    let mut seen = Vec::new();
    let mut last = Instant::now();
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((at, l)) => {
                if let Some(i) = missing.iter().position(|m| **m == l) {
                    missing.swap_remove(i);
                    last = at;
                }
                seen.push(l);
            }
            Err(e) => panic!("no {missing:?} within 5 s ({e}); seen: {seen:#?}"),
        }
    }
    last
}

/// Every line that arrives within `wait`.
fn lines_within(rx: &mpsc::Receiver<Line>, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    while let Ok((_, l)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        out.push(l);
    }
    out
}

const VS: &str = "-t 127.0.0.1:80";

fn config(dir: &Path, extra_rs: &str) -> String {
    let d = dir.display();
    format!(
        "track_file bin {{
    file {d}/bin
    weight 0
}}
track_file w {{
    file {d}/w
    weight 5
    init_file 2 overwrite
}}
virtual_server 127.0.0.1 80 {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.2 80 {{
        weight 10
        FILE_CHECK {{
            track_file bin
        }}
    }}
    real_server 127.0.0.3 80 {{
        weight 10
        FILE_CHECK {{
            track_file bin
            weight 0 reverse
        }}
    }}
    real_server 127.0.0.4 80 {{
        weight 10
        FILE_CHECK {{
            track_file w
        }}
    }}
{extra_rs}}}
"
    )
}

/// Writes `text` to `path` (closing it: what inotify reports) and says when.
fn write(path: &Path, text: &str) -> Instant {
    std::fs::write(path, text).unwrap();
    Instant::now()
}

#[test]
fn the_table_follows_the_file_within_50_ms() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, config(dir.path(), "")).unwrap();
    let (bin, w) = (dir.path().join("bin"), dir.path().join("w"));
    let (_lvsd, rx) = dry_run(&conf);
    // At start: `bin` is missing (0): .2 up, .3 (reverse) down; `w` is
    // created by init_file with 2: .4 at 10 + 2 × 5.
    line(&rx, &format!("-a {VS} -r 127.0.0.2:80 -m -w 10"));
    line(&rx, &format!("-a {VS} -r 127.0.0.4:80 -m -w 20"));
    assert_eq!(std::fs::read_to_string(&w).unwrap(), "2\n");
    let mut worst = Duration::ZERO;
    let mut step = |name: &str, wrote: Instant, want: &[String]| {
        let took = lines(&rx, want).saturating_duration_since(wrote);
        eprintln!("{name}: {want:?} {took:?} after the write");
        assert!(took < Duration::from_millis(50), "{name}: {took:?}");
        worst = worst.max(took);
    };
    // Weight 0: any value but 0 is down; reverse: 0 is down.
    let at = write(&bin, "1\n");
    step(
        "binary 1",
        at,
        &[
            format!("-d {VS} -r 127.0.0.2:80"),
            format!("-a {VS} -r 127.0.0.3:80 -m -w 10"),
        ],
    );
    let at = write(&bin, "0");
    step(
        "binary 0",
        at,
        &[
            format!("-d {VS} -r 127.0.0.3:80"),
            format!("-a {VS} -r 127.0.0.2:80 -m -w 10"),
        ],
    );
    let at = write(&bin, "  0x10 with trailing words");
    step(
        "binary 0x10",
        at,
        &[
            format!("-d {VS} -r 127.0.0.2:80"),
            format!("-a {VS} -r 127.0.0.3:80 -m -w 10"),
        ],
    );
    // Deleted: the value is 0 again.
    let at = Instant::now();
    std::fs::remove_file(&bin).unwrap();
    step(
        "binary deleted",
        at,
        &[
            format!("-d {VS} -r 127.0.0.3:80"),
            format!("-a {VS} -r 127.0.0.2:80 -m -w 10"),
        ],
    );
    // Weighted: 10 + value × 5, never below 0, octal as strtol reads it.
    let at = write(&w, "3");
    step(
        "weighted 3",
        at,
        &[format!("-e {VS} -r 127.0.0.4:80 -m -w 25")],
    );
    let at = write(&w, "-3");
    step(
        "weighted -3",
        at,
        &[format!("-e {VS} -r 127.0.0.4:80 -m -w 0")],
    );
    let at = write(&w, "010");
    step(
        "weighted 010",
        at,
        &[format!("-e {VS} -r 127.0.0.4:80 -m -w 50")],
    );
    // Moved away: 0; moved in (written elsewhere, renamed): read.
    let away = dir.path().join("w.away");
    let at = Instant::now();
    std::fs::rename(&w, &away).unwrap();
    step(
        "weighted moved away",
        at,
        &[format!("-e {VS} -r 127.0.0.4:80 -m -w 10")],
    );
    std::fs::write(&away, "4").unwrap();
    let at = Instant::now();
    std::fs::rename(&away, &w).unwrap();
    step(
        "weighted moved in",
        at,
        &[format!("-e {VS} -r 127.0.0.4:80 -m -w 30")],
    );
    // Out of range: ignored, the weight stays.
    write(&w, "99999999999");
    let quiet = lines_within(&rx, Duration::from_millis(300));
    assert!(
        quiet.is_empty(),
        "an out-of-range value changed the table: {quiet:?}"
    );
    eprintln!("worst: {worst:?}");
}

#[test]
fn a_reload_keeps_the_weights_and_never_rewrites_init_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, config(dir.path(), "")).unwrap();
    let w = dir.path().join("w");
    let (lvsd, rx) = dry_run(&conf);
    line(&rx, &format!("-a {VS} -r 127.0.0.4:80 -m -w 20"));
    write(&w, "3");
    line(&rx, &format!("-e {VS} -r 127.0.0.4:80 -m -w 25"));
    // A changed config: one more real server. The file keeps 3, the real
    // server its 25.
    let extra = "    real_server 127.0.0.5 80 {\n        weight 1\n    }\n";
    std::fs::write(&conf, config(dir.path(), extra)).unwrap();
    // SAFETY: kill(2) on our own child, not reaped before `lvsd` is dropped.
    let sent = unsafe { libc::kill(lvsd.0.id() as libc::pid_t, libc::SIGHUP) };
    assert_eq!(sent, 0);
    line(&rx, &format!("-a {VS} -r 127.0.0.5:80 -m -w 1"));
    let after = lines_within(&rx, Duration::from_millis(300));
    assert!(after.is_empty(), "the reload changed more: {after:?}");
    assert_eq!(std::fs::read_to_string(&w).unwrap(), "3");
    // The file is still watched after the reload.
    write(&w, "1");
    line(&rx, &format!("-e {VS} -r 127.0.0.4:80 -m -w 15"));
}

/// (CPU ticks of the whole process, voluntary + involuntary context
/// switches of each of its threads).
fn activity(pid: u32) -> (u64, Vec<(String, u64)>) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command's closing parenthesis: utime is the 14th
    // field of the line, stime the 15th.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let mut switches = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
        let n: u64 = status
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        switches.push((task.display().to_string(), n));
    }
    switches.sort();
    (ticks, switches)
}

#[test]
fn between_changes_lvsd_spends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, config(dir.path(), "")).unwrap();
    let (lvsd, rx) = dry_run(&conf);
    line(&rx, &format!("-a {VS} -r 127.0.0.4:80 -m -w 20"));
    // One change, so the watcher has run, then let the start settle.
    write(&dir.path().join("w"), "1");
    line(&rx, &format!("-e {VS} -r 127.0.0.4:80 -m -w 15"));
    std::thread::sleep(Duration::from_millis(300));
    let pid = lvsd.0.id();
    let before = activity(pid);
    std::thread::sleep(Duration::from_secs(2));
    let after = activity(pid);
    eprintln!(
        "CPU ticks {} -> {}; threads {:?} -> {:?}",
        before.0, after.0, before.1, after.1
    );
    assert_eq!(after.0, before.0, "lvsd used CPU while no file changed");
    assert_eq!(
        after.1, before.1,
        "a thread of lvsd woke while no file changed"
    );
    // And it still answers.
    write(&dir.path().join("w"), "2");
    line(&rx, &format!("-e {VS} -r 127.0.0.4:80 -m -w 20"));
}
