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

use crate::dry_run_support;

use dry_run_support::dry_run;
use std::path::Path;
use std::time::{Duration, Instant};

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
    let lvsd = dry_run(&conf).start();
    // At start: `bin` is missing (0): .2 up, .3 (reverse) down; `w` is
    // created by init_file with 2: .4 at 10 + 2 × 5.
    lvsd.out
        .exactly(&format!("-a {VS} -r 127.0.0.2:80 -m -w 10"));
    lvsd.out
        .exactly(&format!("-a {VS} -r 127.0.0.4:80 -m -w 20"));
    assert_eq!(std::fs::read_to_string(&w).unwrap(), "2\n");
    let mut worst = Duration::ZERO;
    let mut step = |name: &str, wrote: Instant, want: &[String]| {
        let took = lvsd.out.all_of(want).saturating_duration_since(wrote);
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
    let quiet = lvsd.out.within(Duration::from_millis(300));
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
    let lvsd = dry_run(&conf).start();
    lvsd.out
        .exactly(&format!("-a {VS} -r 127.0.0.4:80 -m -w 20"));
    write(&w, "3");
    lvsd.out
        .exactly(&format!("-e {VS} -r 127.0.0.4:80 -m -w 25"));
    // A changed config: one more real server. The file keeps 3, the real
    // server its 25.
    let extra = "    real_server 127.0.0.5 80 {\n        weight 1\n    }\n";
    std::fs::write(&conf, config(dir.path(), extra)).unwrap();
    lvsd.signal(libc::SIGHUP);
    lvsd.out
        .exactly(&format!("-a {VS} -r 127.0.0.5:80 -m -w 1"));
    let after = lvsd.out.within(Duration::from_millis(300));
    assert!(after.is_empty(), "the reload changed more: {after:?}");
    assert_eq!(std::fs::read_to_string(&w).unwrap(), "3");
    // The file is still watched after the reload.
    write(&w, "1");
    lvsd.out
        .exactly(&format!("-e {VS} -r 127.0.0.4:80 -m -w 15"));
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
    let lvsd = dry_run(&conf).start();
    lvsd.out
        .exactly(&format!("-a {VS} -r 127.0.0.4:80 -m -w 20"));
    // One change, so the watcher has run, then let the start settle.
    write(&dir.path().join("w"), "1");
    lvsd.out
        .exactly(&format!("-e {VS} -r 127.0.0.4:80 -m -w 15"));
    std::thread::sleep(Duration::from_millis(300));
    let pid = lvsd.pid();
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
    lvsd.out
        .exactly(&format!("-e {VS} -r 127.0.0.4:80 -m -w 20"));
}
