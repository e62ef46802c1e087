//! Operators' mistakes, one test each: what the operator sees (exit code,
//! a message naming the cause, systemd's `STATUS=`) and that the table is
//! unchanged where it must be.
//!
//! The daemon runs on the host with `--dry-run` (an in-memory table whose
//! changes are printed as `ipvsadm` lines); every address is on loopback
//! and no real server has a check, so nothing is probed.
//!
//! | mistake | what the operator sees | test |
//! |---|---|---|
//! | an included file moved away, then SIGHUP | reload refused, naming the include (log, `STATUS=`); table unchanged | `a_reload_whose_include_file_went_missing_is_refused` |
//! | `conf.d/` emptied, then SIGHUP | the same, for the glob | `a_reload_whose_include_glob_matches_nothing_is_refused` |
//! | the config emptied, then SIGHUP | refused: it would remove every service | `a_reload_into_an_empty_file_is_refused` |
//! | ... with `--allow-empty-config` | the table empties, as asked | `a_reload_into_an_empty_file_empties_the_table_when_allowed` |
//! | an empty file at start | exit 1, "... is empty" | `an_empty_file_at_start_is_refused` |
//! | a missing include at start | a warning, as keepalived | `a_missing_include_at_start_is_a_warning_as_in_keepalived` |
//! | a symlink planted at the state file | written around, never through; 0600 | `a_symlink_planted_at_the_state_file_is_never_written_through` |
//! | `-s` naming a network namespace that does not exist, or a config file that does not exist | exit 1, one line: what failed, the name and its path, and why, once | `a_missing_namespace_or_config_says_what_failed_where_and_why_once` |
//! | a second lvsd on the same table | exit 1, one line naming the first's pid (guest: `tests/kernel_daemon.rs`) | `a_second_lvsd_on_the_same_table_refuses_naming_the_first` |
//! | 2,000,000 stray `}` | 1,000 diagnostics and a count, < 2 s CPU, < 200 MB | `two_million_stray_braces_cost_little_and_say_so_briefly` |
//! | a 3 MB line of nested braces | the same bounds | `a_three_megabyte_line_of_nested_braces_costs_little` |
//! | a 10 MB config on one line | the same bounds | `a_ten_megabyte_config_on_one_line_costs_little` |
//! | a binary file as the config | one line: "looks like a binary file" | `binary_input_is_called_binary_in_one_line` |
//! | control bytes in the config | shown escaped, never sent raw | `control_bytes_in_a_config_are_shown_escaped` |
//! | reading `--dump-config` or the state dump | keepalived's words: `DR`, `TCP`, `TCP_CHECK`, seconds, netmasks as addresses, flags by name | `the_dumps_speak_the_operators_words` |
//!
//! keepalived's command line (`-C`, Debian's unit line, `-s`,
//! `net_namespace`) is in `tests/host/keepalived_cli.rs`.

use crate::dry_run_support;

use dry_run_support::{dry_run, PATIENCE};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A `virtual_server` on loopback with one real server and no check.
fn virtual_server(port: u16) -> String {
    format!(
        "virtual_server 127.0.0.1 {port} {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.2 {port} {{
        weight 1
    }}
}}
"
    )
}

/// `lvsd --dry-run` under test (its table changes on `lvsd.out`, its log
/// on `lvsd.log`), and what it told systemd.
struct Lvsd {
    lvsd: dry_run_support::Lvsd,
    /// What it sent to `NOTIFY_SOCKET`.
    notify: UnixDatagram,
    state_file: PathBuf,
    /// Every log line read so far.
    seen: Vec<String>,
}

impl Lvsd {
    /// Start lvsd on `config` with `args` besides, its files in `dir`.
    fn start(dir: &Path, config: &Path, args: &[&str]) -> Lvsd {
        let notify_path = dir.join("notify");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify.set_read_timeout(Some(PATIENCE)).unwrap();
        let state_file = dir.join("state.json");
        let lvsd = dry_run(config)
            .state_file(&state_file)
            .args(args)
            .log("info")
            .env("NOTIFY_SOCKET", &notify_path)
            .start();
        Lvsd {
            lvsd,
            notify,
            state_file,
            seen: Vec::new(),
        }
    }

    /// The next notification that contains `wanted`.
    fn notified(&self, wanted: &str) -> String {
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            let n = self.notify.recv(&mut buf).expect("a notification");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.contains(wanted) {
                return text;
            }
        }
        panic!("no notification with `{wanted}`");
    }

    /// The first log line containing `wanted` (seen before or arriving now).
    fn logged(&mut self, wanted: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(wanted)) {
            return line.clone();
        }
        let seen = &mut self.seen;
        let what = format!("log line with `{wanted}`");
        let (_, line) = self.lvsd.log.next_where(&what, PATIENCE, |line| {
            seen.push(line.to_owned());
            line.contains(wanted)
        });
        line
    }

    /// The table as the SIGUSR1 state dump shows it.
    fn table(&mut self) -> serde_json::Value {
        let before = std::fs::metadata(&self.state_file)
            .and_then(|m| m.modified())
            .ok();
        self.seen.retain(|l| !l.contains("state written"));
        self.lvsd.signal(libc::SIGUSR1);
        self.logged("state written");
        let after = std::fs::metadata(&self.state_file)
            .and_then(|m| m.modified())
            .ok();
        assert!(after.is_some() && (before.is_none() || after >= before));
        let text = std::fs::read(&self.state_file).unwrap();
        let state: serde_json::Value = serde_json::from_slice(&text).unwrap();
        state["table"].clone()
    }

    /// Table changes printed so far: every line until none came for 300 ms
    /// (lvsd writes them before what a test waits for, but they come on a
    /// pipe of their own).
    fn changes_so_far(&self) -> Vec<String> {
        self.lvsd.out.until_quiet(Duration::from_millis(300))
    }
}

/// SIGHUP after `mistake`: the reload is refused for `cause`, which the
/// log and systemd's `STATUS=` name, and the table stays as it was.
fn reload_is_refused(lvsd: &mut Lvsd, mistake: impl FnOnce(), cause: &str) {
    lvsd.notified("READY=1");
    let table = lvsd.table();
    assert_eq!(table.as_array().map(Vec::len), Some(2), "{table}");
    assert_eq!(
        lvsd.changes_so_far().len(),
        4,
        "two services, a real server each"
    );
    mistake();
    lvsd.lvsd.signal(libc::SIGHUP);
    let status = lvsd.notified("STATUS=reload refused");
    assert!(status.contains(cause), "STATUS names `{cause}`: {status}");
    let line = lvsd.logged("reload refused");
    assert!(line.contains(cause), "the log names `{cause}`: {line}");
    assert_eq!(lvsd.table(), table, "the table is unchanged");
    assert_eq!(lvsd.changes_so_far(), Vec::<String>::new());
}

#[test]
fn a_reload_whose_include_file_went_missing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    let extra = dir.path().join("extra.conf");
    std::fs::write(&extra, virtual_server(81)).unwrap();
    std::fs::write(
        &config,
        format!("include extra.conf\n{}", virtual_server(80)),
    )
    .unwrap();
    let mut lvsd = Lvsd::start(dir.path(), &config, &[]);
    let moved = dir.path().join("extra.conf.moved");
    reload_is_refused(
        &mut lvsd,
        || std::fs::rename(&extra, &moved).unwrap(),
        "keepalived.conf:1:1: `include extra.conf` reads no file",
    );
}

#[test]
fn a_reload_whose_include_glob_matches_nothing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    let conf_d = dir.path().join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    std::fs::write(conf_d.join("a.conf"), virtual_server(81)).unwrap();
    std::fs::write(
        &config,
        format!("{}include conf.d/*.conf\n", virtual_server(80)),
    )
    .unwrap();
    let mut lvsd = Lvsd::start(dir.path(), &config, &[]);
    reload_is_refused(
        &mut lvsd,
        || std::fs::remove_file(conf_d.join("a.conf")).unwrap(),
        "keepalived.conf:9:1: `include conf.d/*.conf` reads no file",
    );
}

#[test]
fn a_reload_into_an_empty_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(
        &config,
        format!("{}{}", virtual_server(80), virtual_server(81)),
    )
    .unwrap();
    let mut lvsd = Lvsd::start(dir.path(), &config, &[]);
    reload_is_refused(
        &mut lvsd,
        || std::fs::write(&config, "").unwrap(),
        "the reload would remove all 2 services lvsd runs",
    );
}

#[test]
fn a_reload_into_an_empty_file_empties_the_table_when_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(&config, virtual_server(80)).unwrap();
    // --drain-timeout 0: the services go at once, as keepalived removes
    // them (a drain would keep them until their connections end).
    let args = ["--allow-empty-config", "--drain-timeout", "0"];
    let mut lvsd = Lvsd::start(dir.path(), &config, &args);
    lvsd.notified("READY=1");
    std::fs::write(&config, "").unwrap();
    lvsd.lvsd.signal(libc::SIGHUP);
    lvsd.notified("STATUS=reloaded: 0 services");
    assert_eq!(lvsd.table(), serde_json::json!([]));
}

#[test]
fn an_empty_file_at_start_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(&config, "# nothing yet\n").unwrap();
    let mut lvsd = Lvsd::start(dir.path(), &config, &[]);
    let status = lvsd.lvsd.process.0.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let said = lvsd.logged("is empty");
    assert!(
        said.contains("keepalived.conf is empty") && said.contains("--allow-empty-config"),
        "{said}"
    );
    assert!(lvsd.notified("STATUS=config refused").contains("is empty"));
    assert_eq!(lvsd.changes_so_far(), Vec::<String>::new());
}

#[test]
fn a_missing_include_at_start_is_a_warning_as_in_keepalived() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(
        &config,
        format!(
            "include extra.conf\ninclude conf.d/*.conf\n{}",
            virtual_server(80)
        ),
    )
    .unwrap();
    let mut lvsd = Lvsd::start(dir.path(), &config, &[]);
    lvsd.notified("READY=1");
    let warned = lvsd.logged("extra.conf");
    assert!(
        warned.contains("WARN") && warned.contains("does not exist"),
        "{warned}"
    );
    let noted = lvsd.logged("conf.d/*.conf");
    assert!(noted.contains("matches no file"), "{noted}");
    assert_eq!(lvsd.table().as_array().map(Vec::len), Some(1));
}

#[test]
fn a_symlink_planted_at_the_state_file_is_never_written_through() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(&config, virtual_server(80)).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let mut lvsd = Lvsd::start(dir.path(), &config, &[]);
    lvsd.notified("READY=1");
    // At the state file, and at every temporary name lvsd ever used.
    let state = lvsd.state_file.clone();
    let planted = [
        state.clone(),
        state.with_extension("tmp"),
        dir.path().join(".state.json.tmp"),
    ];
    for link in &planted {
        std::os::unix::fs::symlink(&victim, link).unwrap();
    }
    assert_eq!(lvsd.table().as_array().map(Vec::len), Some(1));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(&state).unwrap();
    assert!(meta.file_type().is_file(), "the link was replaced");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    for link in &planted[1..] {
        let meta = std::fs::symlink_metadata(link).unwrap();
        assert!(
            meta.file_type().is_symlink(),
            "{} left alone",
            link.display()
        );
    }
}

/// `lvsd` (not `--dry-run`) on `config` with `run_dir` as its runtime
/// directory, run to its end: exit code and what it printed.
fn lvsd_on_the_kernel(run_dir: &Path, config: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-l", "-f"])
        .arg(config)
        .env("RUNTIME_DIRECTORY", run_dir)
        .env("LVSD_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `lvsd --dry-run` with `args`, its runtime directory `dir`, run to its
/// end: its exit code and what it printed.
fn dry_run_to_the_end(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-l", "--dry-run"])
        .args(args)
        .env("RUNTIME_DIRECTORY", dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), said)
}

#[test]
fn a_missing_namespace_or_config_says_what_failed_where_and_why_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(&config, virtual_server(80)).unwrap();
    let config = config.to_str().unwrap();
    let missing = dir.path().join("missing.conf");
    let missing = missing.to_str().unwrap();
    let cases = [
        (
            vec!["-s", "lvsd-test-no-such-netns", "-f", config],
            "lvsd: cannot enter the network namespace: lvsd-test-no-such-netns \
             (/run/netns/lvsd-test-no-such-netns): No such file or directory (os error 2)"
                .to_owned(),
        ),
        (
            vec!["-f", missing],
            format!("lvsd: cannot read {missing}: No such file or directory (os error 2)"),
        ),
    ];
    for (args, want) in cases {
        let (code, said) = dry_run_to_the_end(dir.path(), &args);
        assert_eq!(code, Some(1), "{said}");
        // The last line: what comes before are the config's warnings.
        assert_eq!(said.lines().last(), Some(want.as_str()), "{said}");
    }
}

#[test]
fn a_second_lvsd_on_the_same_table_refuses_naming_the_first() {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(&config, virtual_server(80)).unwrap();
    // The lock a running lvsd holds: its netns's file, locked, its pid in it.
    let netns = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    let lock_path = dir.path().join(format!("ipvs-{netns}.lock"));
    let mut lock = std::fs::File::create(&lock_path).unwrap();
    writeln!(lock, "{}", std::process::id()).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let (code, said) = lvsd_on_the_kernel(dir.path(), &config);
    assert_eq!(code, Some(1), "{said}");
    let first = format!("another lvsd (pid {}) already runs", std::process::id());
    assert!(said.contains(&first), "{said}");
    assert!(
        said.contains(&format!("network namespace {netns}")),
        "{said}"
    );
    assert_eq!(said.lines().count(), 1, "one line: {said}");

    // --dry-run has no kernel table, so no lock.
    let dry = Lvsd::start(dir.path(), &config, &[]);
    dry.notified("READY=1");
    drop(dry);

    // A lock file left by a process that is gone locks nothing: this lvsd
    // goes past the lock, and stops at the next step, before any table
    // (its script_user does not exist), whatever IPVS the host has.
    drop(lock);
    let stops_after_the_lock = format!(
        "global_defs {{\n    script_user lvsd-test-no-such-user\n}}\n{}",
        virtual_server(80)
    );
    std::fs::write(&config, stops_after_the_lock).unwrap();
    let (code, said) = lvsd_on_the_kernel(dir.path(), &config);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("lvsd-test-no-such-user"), "{said}");
    assert!(!said.contains("already runs"), "{said}");
}

/// What `lvsd -t` did with one input: exit code, what it printed, how
/// long it took and its peak memory.
struct Cost {
    code: Option<i32>,
    said: Vec<u8>,
    /// Wall time, which other tests running at once stretch.
    wall: Duration,
    /// CPU time (user and system), which they do not.
    cpu: Duration,
    peak_rss_mb: u64,
}

/// `lvsd -t` on `bytes`, timed, its CPU time and peak RSS read from
/// `wait4(2)`.
fn config_test_cost(bytes: &[u8]) -> Cost {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(&config, bytes).unwrap();
    let said_path = dir.path().join("said");
    let started = Instant::now();
    // Waited for by wait4 below, which also gives its peak memory.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .arg("-t")
        .arg("-f")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&said_path).unwrap())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: all-zero is a valid rusage, which wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own unwaited child; both pointers are to
    // locals that outlive the call.
    let waited = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(waited, child.id() as i32);
    let secs = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Cost {
        code: std::process::ExitStatus::from_raw(status).code(),
        said: std::fs::read(&said_path).unwrap(),
        wall,
        cpu: secs(usage.ru_utime) + secs(usage.ru_stime),
        peak_rss_mb: usage.ru_maxrss as u64 / 1024,
    }
}

/// Within 2 s and 200 MB, a bounded report that names the problem, with
/// no byte a terminal would act on.
fn cost_is_bounded(input: &[u8], expect: &str) -> Vec<String> {
    let cost = config_test_cost(input);
    let said = String::from_utf8_lossy(&cost.said);
    assert_eq!(cost.code, Some(5), "{said}");
    assert!(
        cost.cpu < Duration::from_secs(2),
        "took {:?} of CPU",
        cost.cpu
    );
    assert!(cost.wall < Duration::from_secs(20), "took {:?}", cost.wall);
    assert!(cost.peak_rss_mb < 200, "peak RSS {} MB", cost.peak_rss_mb);
    assert!(said.contains(expect), "names `{expect}`: {said:.2000}");
    let hidden = cost
        .said
        .iter()
        .find(|&&b| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f);
    assert_eq!(hidden, None, "a control byte reached the terminal");
    let lines: Vec<String> = said.lines().map(str::to_owned).collect();
    assert!(lines.len() <= 3 * 1001, "{} lines", lines.len());
    lines
}

#[test]
fn two_million_stray_braces_cost_little_and_say_so_briefly() {
    let lines = cost_is_bounded(
        "}\n".repeat(2_000_000).as_bytes(),
        "... and 1999000 more diagnostics, not shown",
    );
    assert!(lines[0].contains("`}` closes no block"), "{}", lines[0]);
}

#[test]
fn a_three_megabyte_line_of_nested_braces_costs_little() {
    let n = 1_500_000;
    let line = format!("{}{}\n", "{".repeat(n), "}".repeat(n));
    cost_is_bounded(line.as_bytes(), "more diagnostics, not shown");
}

#[test]
fn a_ten_megabyte_config_on_one_line_costs_little() {
    let mut line = String::new();
    let mut port = 0u32;
    while line.len() < 10_000_000 {
        port += 1;
        line.push_str(
            &virtual_server(port as u16)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        );
        line.push(' ');
    }
    line.push('\n');
    // keepalived reads one keyword a line: the rest is warned about.
    cost_is_bounded(line.as_bytes(), "more diagnostics, not shown");
}

#[test]
fn binary_input_is_called_binary_in_one_line() {
    let mut elf = b"\x7fELF\x02\x01\x01\x00\x1b[2J".to_vec();
    elf.extend((0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let lines = cost_is_bounded(&elf, "looks like a binary file");
    assert_eq!(lines.len(), 1, "{lines:?}");
}

#[test]
fn control_bytes_in_a_config_are_shown_escaped() {
    let text = format!(
        "{}\x1b[31mred\x1b[0m 1\n\u{202e}reversed 2\n",
        virtual_server(80)
    );
    let cost = config_test_cost(text.as_bytes());
    let said = String::from_utf8_lossy(&cost.said);
    assert_eq!(cost.code, Some(5));
    assert!(said.contains(r"\x1b[31mred\x1b[0m"), "{said}");
    assert!(said.contains(r"\u{202e}reversed"), "{said}");
    assert!(!cost.said.contains(&0x1b), "{said}");
}

#[test]
fn the_dumps_speak_the_operators_words() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(
        &config,
        "virtual_server 127.0.0.1 80 {
    lb_algo sh
    lb_kind DR
    sh-port
    persistence_timeout 50
    persistence_granularity 255.255.255.0
    protocol TCP
    real_server 127.0.0.2 80 {
        weight 1
    }
}
virtual_server 127.0.0.1 443 {
    lb_algo rr
    lb_kind TUN
    protocol TCP
    real_server 127.0.0.3 443 {
        TCP_CHECK {
            delay_loop 2.5
            connect_timeout 3
        }
        SSL_GET {
            url {
                path /
                status_code 200
            }
            http_protocol 1.1
        }
    }
}
",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .arg("--dump-config")
        .arg("-f")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let vs = &dump["virtual_servers"];
    assert_eq!(vs[0]["method"], "DR");
    assert_eq!(vs[0]["protocol"], "TCP");
    assert_eq!(vs[0]["persistence_granularity"], "255.255.255.0");
    assert_eq!(vs[0]["flags"], serde_json::json!(["flag-2"]));
    assert_eq!(vs[0]["address"]["addr"]["port"], 80);
    assert_eq!(vs[1]["method"], "TUN");
    let checks = &vs[1]["real_servers"][0]["checks"];
    assert_eq!(checks[0]["TCP_CHECK"]["common"]["delay_loop"], 2.5);
    assert_eq!(checks[0]["TCP_CHECK"]["common"]["connect_timeout"], 3);
    assert_eq!(checks[0]["TCP_CHECK"]["common"]["close"], "graceful");
    assert_eq!(checks[1]["SSL_GET"]["protocol"], "1.1", "{checks}");

    // The state dump's table: the kernel's words, as ipvsadm's.
    std::fs::write(
        &config,
        virtual_server(80).replace(
            "lb_kind NAT",
            "lb_kind DR\n    persistence_timeout 50\n    persistence_granularity 255.255.255.0",
        ),
    )
    .unwrap();
    let mut lvsd = Lvsd::start(dir.path(), &config, &[]);
    lvsd.notified("READY=1");
    let table = lvsd.table();
    let service = &table[0]["service"];
    assert_eq!(service["key"]["addr"]["protocol"], "TCP", "{table}");
    assert_eq!(service["netmask"], "255.255.255.0");
    assert_eq!(service["flags"], serde_json::json!(["persistent"]));
    assert_eq!(table[0]["dests"][0]["dest"]["fwd"], "DR");
}
