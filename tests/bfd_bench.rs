//! The BFD benchmark (ignored; `bench/bfd.sh` runs it with a release
//! build), on the host, in two network namespaces the test makes
//! (`bfd_support::pair`): `SESSIONS` sessions (default 1,000) at 50 ms
//! (3 × 50 ms detection) between lvsd (`--dry-run`, one real server a
//! session, each with a `BFD_CHECK`) and its peer.
//!
//! Once every real server is in lvsd's table, for `LVSD_BENCH_SECONDS`
//! (default 30, in `LVSD_BENCH_ROUNDS` windows, default 5, each figure
//! the median of the windows): the CPU of lvsd's BFD thread and of the
//! whole lvsd process, and of the peer, from `/proc`, and the BFD
//! thread's wake-ups; any real server removed in that window is a false
//! Down. Then the peer is stopped (SIGSTOP): every session must go down
//! within the detection time plus one receive interval (200 ms) of it; the
//! spread of those times is printed (p50, p99, max), and the detection
//! error: each removal less (the last packet of its peer, as captured in
//! lvsd's namespace, + 150 ms). `LVSD_BENCH_BIN` measures another lvsd
//! build (before/after on the same machine and load).
//!
//! FRR's bfdd cannot keep 1,000 sessions at 50 ms here (it spends most of a
//! core on 300), so the CPU comparison with it runs at
//! `LVSD_BENCH_BFDD_SESSIONS` (default 200), and the 1,000 sessions run
//! against a second lvsd, mirrored; then, in the same namespaces, the
//! floor (`bfd_support::floor`, for `LVSD_BENCH_FLOOR_SECONDS`, default
//! `LVSD_BENCH_SECONDS`, 0: none): a C program sending and receiving the
//! same packets, the kernel's share of the cost.
//!
//! `tcp_probe_lag_beside_bfd`: `LVSD_BENCH_TCP` TCP_CHECKs (default
//! 10,000, every 5 s) beside the sessions, then alone (for
//! `LVSD_BENCH_ALONE_SECONDS`, default `LVSD_BENCH_SECONDS`): their
//! schedule lag p50/p99 from lvsd's metrics, side by side.
//!
//! `LVSD_BENCH_RT_PRIORITY=N` gives both lvsds `bfd_rt_priority N`
//! (their BFD threads in SCHED_RR). `LVSD_BENCH_LOG=LEVEL` shows both
//! lvsds' logs (the measured one's lines prefixed `lvsd: `) and counts the
//! measured BFD thread's late wake-ups over the windows, with how much of
//! their lateness was waiting for a CPU (`run_delay`).
//!
//! Figures: `figure: WHAT (UNIT): lvsd X | reference Y | ratio Z`.

mod bfd_support;
mod checker_support;
mod dry_run_support;

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bfd_support::floor::{self, Mode};
use bfd_support::late::LateWakes;
use bfd_support::pair::{enter, Pair};
use bfd_support::usage::{cpu, medians, percentile, ran, thread_stat, wakeups};
use bfd_support::{capture, lag};
use checker_support::{can_run, can_use_netns};
use dry_run_support::{dry_run_bin_in, Killed, Lvsd};

const BFDD: &str = "/usr/lib/frr/bfdd";

/// The lvsd measured (and its lvsd peer): this build, or `LVSD_BENCH_BIN`
/// (another build, to compare two versions on the same machine and load).
fn lvsd_bin() -> OsString {
    std::env::var_os("LVSD_BENCH_BIN").unwrap_or(env!("CARGO_BIN_EXE_lvsd").into())
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `global_defs` both lvsds get: `bfd_rt_priority` from
/// `LVSD_BENCH_RT_PRIORITY`, if set.
fn global_defs() -> String {
    match std::env::var("LVSD_BENCH_RT_PRIORITY") {
        Ok(p) => format!("global_defs {{\n bfd_rt_priority {p}\n}}\n"),
        Err(_) => String::new(),
    }
}

/// The BFD thread's scheduling, from its `stat`: (rt_priority, policy).
fn sched_of(stat: &str) -> String {
    let text = std::fs::read_to_string(stat).unwrap_or_default();
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 40 and 41 of stat(5); `rest` starts at field 3.
    let (prio, policy) = (f.get(37).copied(), f.get(38).copied());
    let policy = match policy {
        Some("0") => "SCHED_OTHER",
        Some("2") => "SCHED_RR",
        Some(p) => p,
        None => "?",
    };
    format!("{policy} (rt_priority {})", prio.unwrap_or("?"))
}

/// The peer of the measured lvsd.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    /// FRR's bfdd (its CPU is the reference).
    Bfdd,
    /// Another lvsd, mirrored (bfdd cannot keep 1,000 sessions at 50 ms).
    Lvsd,
}

/// What one run measured: (lvsd's BFD thread %, whole lvsd %, peer %).
struct Run {
    thread: f64,
    whole: f64,
    peer: f64,
    /// Datagrams lvsd sent a second (its namespace's UDP OutDatagrams):
    /// above sessions / 50 ms, as the RFC's jitter (75–100 %) and early
    /// batching shorten the gaps.
    sent_per_s: f64,
    /// The TCP checks' schedule lag over the window, p50 and p99 (ms, the
    /// upper edge of the metrics bucket they fall in), and how many probes.
    lag: Option<(f64, f64, u64)>,
}

/// One run at a time (the tests of this file run in parallel threads, and
/// every run takes port 3784 and the metrics port).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static RUNS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    RUNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Namespaces unique to this process and run.
fn new_pair(n: usize) -> Pair {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Pair::new(&format!("{}-{run}", std::process::id()), n)
}

/// Where the TCP checks' targets listen, in lvsd's namespace.
const TCP_PORT: u16 = 8080;

/// The peer, started in the `b` namespace (killed when dropped).
fn start_peer(pair: &Pair, kind: Peer, dir: &Path) -> Killed {
    let d = dir.display();
    match kind {
        Peer::Bfdd => {
            std::fs::write(dir.join("bfdd.conf"), pair.bfdd_conf()).unwrap();
            Killed(
                Command::new("ip")
                    .args(["netns", "exec", &pair.b.0, BFDD])
                    .args(["-u", "frr", "-g", "frr", "-P", "0"])
                    .arg("-f")
                    .arg(format!("{d}/bfdd.conf"))
                    .arg("-i")
                    .arg(format!("{d}/bfdd.pid"))
                    .arg("--vty_socket")
                    .arg(dir)
                    .arg("--bfdctl")
                    .arg(format!("{d}/bfdd.sock"))
                    .arg("-z")
                    .arg(format!("{d}/zserv.api"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        }
        Peer::Lvsd => {
            let path = dir.join("peer.conf");
            std::fs::write(&path, global_defs() + &pair.peer_lvsd_conf()).unwrap();
            let peer = dry_run_bin_in(&lvsd_bin(), &pair.b.0, &path).quiet();
            // LVSD_BENCH_LOG shows the peer's log too (its sessions'
            // neighbours are 10.201.x.x, lvsd's 10.200.x.x).
            match std::env::var("LVSD_BENCH_LOG") {
                Ok(level) => peer.log_shown(&level),
                Err(_) => peer.env("LVSD_LOG", "error"),
            }
            .start()
            .process
        }
    }
}

/// `tcp` TCP_CHECKs every 5 s (virtual server 10.0.0.3:80) against a
/// listener this starts in namespace `ns`.
fn tcp_checks(ns: &str, tcp: usize) -> String {
    let mut conf = String::from(
        "virtual_server 10.0.0.3 80 {\n delay_loop 5\n lb_algo rr\n lb_kind NAT\n protocol TCP\n",
    );
    for i in 0..tcp {
        conf += &format!(
            " real_server 127.1.{}.{} {TCP_PORT} {{\n  TCP_CHECK {{\n   connect_timeout 3\n  }}\n }}\n",
            i / 250,
            1 + i % 250
        );
    }
    let ns = ns.to_string();
    let (ready, listening) = mpsc::channel();
    std::thread::spawn(move || {
        enter(&ns);
        let l = std::net::TcpListener::bind(("0.0.0.0", TCP_PORT)).expect("the TCP targets");
        let _ = ready.send(());
        for stream in l.incoming() {
            drop(stream);
        }
    });
    listening.recv().unwrap();
    conf + "}\n"
}

/// Waits until every one of `n` real servers of 10.0.0.1:80 is in lvsd's
/// table.
fn all_up(lvsd: &Lvsd, n: usize) {
    let mut up = 0;
    while up < n {
        let (_, line) = lvsd
            .out
            .recv(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("only {up} of {n} sessions up after 30 s"));
        if !line.contains(" -t 10.0.0.1:80 ") {
            continue;
        }
        if line.starts_with("-a ") && line.contains(" -r ") {
            up += 1;
        }
        if line.starts_with("-d ") {
            up -= 1;
        }
    }
}

/// The sessions of `pair` against `peer_kind` for `seconds`, then the peer
/// stopped. `tcp` TCP_CHECKs (every 5 s, against a listener in lvsd's
/// namespace) run beside the sessions when it is not 0; with no session,
/// they run alone (no peer is stopped then).
fn run(pair: &Pair, seconds: u64, peer_kind: Peer, tcp: usize) -> Run {
    let n = pair.n;
    let dir = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let open = std::fs::Permissions::from_mode(0o777);
        std::fs::set_permissions(dir.path(), open).unwrap();
    }
    let peer_proc = start_peer(pair, peer_kind, dir.path());
    let mut conf = global_defs() + &pair.lvsd_conf();
    if tcp > 0 {
        conf += &tcp_checks(&pair.c.0, tcp);
    }
    let path = dir.path().join("keepalived.conf");
    std::fs::write(&path, conf).unwrap();
    let mut start = dry_run_bin_in(&lvsd_bin(), &pair.c.0, &path).args(["-l"]);
    if tcp > 0 {
        start = start.args(["--metrics-listen", lag::METRICS]);
    }
    if let Ok(level) = std::env::var("LVSD_BENCH_LOG") {
        // Apart from the table changes: 1,000 Down warnings in the same
        // pipe would delay the removals the detection error is taken from.
        start = start.log(&level);
    }
    let lvsd = start.start();

    let started = std::time::Instant::now();
    all_up(&lvsd, n);
    eprintln!("{n} sessions up in {:?}", started.elapsed());
    std::thread::sleep(Duration::from_secs(3));
    lvsd.out.skip_arrived();

    let pid = lvsd.pid();
    let bfd_thread = thread_stat(pid, "lvsd-bfd").unwrap_or_default();
    let peer_pid: u32 = match peer_kind {
        Peer::Bfdd => std::fs::read_to_string(dir.path().join("bfdd.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
        Peer::Lvsd => peer_proc.0.id(),
    };
    let lvsd_stat = format!("/proc/{pid}/stat");
    let peer_stat = format!("/proc/{peer_pid}/stat");
    let bfd_status = bfd_thread.replace("/stat", "/status");
    let bfd_schedstat = bfd_thread.replace("/stat", "/schedstat");
    let run_delay = || {
        std::fs::read_to_string(&bfd_schedstat)
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1e6
    };
    if n > 0 {
        println!("lvsd's BFD thread: {}", sched_of(&bfd_thread));
    }
    let mut late_wakes = LateWakes::default();
    let run_delay_before = run_delay();
    // The PMU is not reachable here (no instruction counts), so the BFD
    // thread's wake-ups are counted too: its voluntary context switches,
    // one a sleep in epoll_wait.
    let rounds = env_or("LVSD_BENCH_ROUNDS", 5).max(1);
    let window = Duration::from_secs_f64(seconds as f64 / rounds as f64);
    let mut false_downs = Vec::new();
    let lag_before = (tcp > 0).then(|| lag::buckets(&pair.c.0));
    let udp_before = [udp_counters(&pair.c.0), udp_counters(&pair.b.0)];
    let measuring = std::time::Instant::now();
    let [thread, whole, peer, wake, run_time] = medians(
        rounds,
        window,
        || {
            [
                100.0 * cpu(&bfd_thread),
                100.0 * cpu(&lvsd_stat),
                100.0 * cpu(&peer_stat),
                wakeups(&bfd_status) as f64,
                100.0 * ran(pid),
            ]
        },
        |end| {
            while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
                // lvsd's log (LVSD_BENCH_LOG), shown as it comes.
                while let Some((_, line)) = lvsd.log.recv(Duration::ZERO) {
                    late_wakes.note(&line);
                    eprintln!("lvsd: {line}");
                }
                if let Some((_, line)) = lvsd.out.recv(left.min(Duration::from_millis(200))) {
                    if line.starts_with("-d ") && line.contains(" -t 10.0.0.1:80 ") {
                        eprintln!(
                            "false down at {:.3} s: {line}",
                            measuring.elapsed().as_secs_f64()
                        );
                        false_downs.push(line);
                    }
                }
            }
        },
    );
    let elapsed = measuring.elapsed().as_secs_f64();
    if n > 0 {
        println!(
            "lvsd's BFD thread waited for a CPU (schedstat run_delay) {:.2} ms a second over the windows",
            (run_delay() - run_delay_before) / elapsed
        );
        if std::env::var("LVSD_BENCH_LOG").is_ok() {
            println!("{}", late_wakes.summary(elapsed));
        }
    }
    let mut sent_per_s = 0.0;
    for ((side, ns), before) in [("lvsd", &pair.c.0), ("peer", &pair.b.0)]
        .into_iter()
        .zip(udp_before)
    {
        let after = udp_counters(ns);
        if side == "lvsd" {
            let out = |c: &[(String, i64)]| {
                c.iter()
                    .find(|(name, _)| name == "OutDatagrams")
                    .map_or(0, |(_, v)| *v)
            };
            sent_per_s = (out(&after) - out(&before)) as f64 / elapsed;
        }
        let moved: Vec<String> = after
            .iter()
            .zip(&before)
            .filter(|((name, _), _)| name.contains("Err"))
            .map(|((name, a), (_, b))| format!("{name} {}", a - b))
            .collect();
        println!(
            "UDP errors in {side}'s namespace over the windows: {}",
            moved.join(", ")
        );
    }
    let lag = lag_before.map(|before| lag::percentiles(&before, &lag::buckets(&pair.c.0)));
    if let Some((p50, p99, probes)) = lag {
        println!(
            "{tcp} TCP checks beside {n} BFD sessions: schedule lag p50 ≤ {p50} ms, p99 ≤ {p99} ms over {probes} probes"
        );
    }
    println!(
        "{n} sessions vs {peer_kind:?}: CPU % of one core, median of {rounds} × {window:?}: lvsd's BFD thread {thread:.2}, lvsd {whole:.2} (its run time by schedstat {run_time:.2}), the peer {peer:.2}; BFD thread wake-ups/s {wake:.0}; false downs {}",
        false_downs.len()
    );
    let measured = Run {
        thread,
        whole,
        peer,
        sent_per_s,
        lag,
    };
    if n > 0 {
        detection(&lvsd, peer_pid, n, peer_kind, &pair.c.0);
    }
    drop(peer_proc);
    assert!(false_downs.is_empty(), "false downs: {false_downs:?}");
    measured
}

/// The `Udp:` counters of `/proc/net/snmp` in namespace `ns`, by name
/// (`InErrors`, `RcvbufErrors`...: datagrams the kernel dropped).
fn udp_counters(ns: &str) -> Vec<(String, i64)> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/snmp"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut udp = text.lines().filter(|l| l.starts_with("Udp: "));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return Vec::new();
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .skip(1)
        .map(|(n, v)| (n.to_string(), v.parse().unwrap_or(0)))
        .collect()
}

/// The peer stops: every session down within 200 ms. The packets that
/// reach lvsd's namespace (`ns`) are captured meanwhile: a session's
/// detection error is its removal less (its peer's last packet + 150 ms).
fn detection(lvsd: &Lvsd, peer_pid: u32, n: usize, peer_kind: Peer, ns: &str) {
    let capture = capture::start(ns);
    std::thread::sleep(Duration::from_millis(300));
    let stopped = std::time::Instant::now();
    // SAFETY: kill(2) on the peer, which this test started (SIGKILL ends
    // it when its handle is dropped, stopped or not).
    unsafe { libc::kill(peer_pid as libc::pid_t, libc::SIGSTOP) };
    let mut downs = Vec::with_capacity(n);
    let mut removed = Vec::with_capacity(n);
    while downs.len() < n {
        let Some((at, line)) = lvsd.out.recv(Duration::from_secs(5)) else {
            break;
        };
        if line.starts_with("-d ") && line.contains(" -r ") {
            downs.push(at - stopped);
            removed.push((at, line));
        }
    }
    let last = capture.finish();
    let mut errors: Vec<f64> = removed
        .iter()
        .filter_map(|(at, line)| {
            let rs = line.split(" -r ").nth(1)?.split(':').next()?;
            let heard = last.get(&rs.parse().ok()?)?;
            let due = *heard + Duration::from_millis(150);
            Some(match at.checked_duration_since(due) {
                Some(late) => late.as_secs_f64() * 1000.0,
                None => -(due - *at).as_secs_f64() * 1000.0,
            })
        })
        .collect();
    errors.sort_by(f64::total_cmp);
    if let (Some(first), Some(worst)) = (errors.first(), errors.last()) {
        let at = |p: f64| errors[((errors.len() - 1) as f64 * p).round() as usize];
        println!(
            "figure: {n} sessions vs {peer_kind:?}, detection error p99 (ms; real server removed − (peer's last packet + 3 × 50 ms), {} of {n} sessions; p50 {:.2}, min {first:.2}, max {worst:.2}): lvsd {:.2} | reference 5.00 | ratio {:.2}",
            errors.len(),
            at(0.5),
            at(0.99),
            at(0.99) / 5.0
        );
    }
    downs.sort();
    assert_eq!(downs.len(), n, "not every session went down");
    let (p50, p99, max) = (
        percentile(&downs, 0.5),
        percentile(&downs, 0.99),
        percentile(&downs, 1.0),
    );
    println!(
        "figure: {n} sessions vs {peer_kind:?}, peer stopped → real server removed, p99 (ms; vs detection 150 + one rx interval 50): lvsd {:.1} | reference 200.0 | ratio {:.2}",
        p99.as_secs_f64() * 1000.0,
        p99.as_secs_f64() / 0.2
    );
    println!("stop → removed: p50 {p50:?}, p99 {p99:?}, max {max:?}");
    assert!(max <= Duration::from_millis(200), "max {max:?}");
}

#[test]
#[ignore = "a benchmark: bench/bfd.sh"]
fn bfd_sessions_cost_and_detection() {
    if !can_use_netns()
        || !can_run(Path::new(BFDD).exists(), "needs FRR's bfdd")
        || !can_run(
            Command::new("cc").arg("--version").output().is_ok(),
            "needs cc",
        )
    {
        return;
    }
    let _one = one_at_a_time();
    let seconds = env_or("LVSD_BENCH_SECONDS", 30);
    let rounds = env_or("LVSD_BENCH_ROUNDS", 5).max(1);
    // FRR's bfdd spends most of a core on 300 sessions at 50 ms here and
    // cannot bring 1,000 up: it is compared at LVSD_BENCH_BFDD_SESSIONS
    // (0: not at all).
    let m = env_or("LVSD_BENCH_BFDD_SESSIONS", 200) as usize;
    if m > 0 {
        let frr = run(&new_pair(m), seconds, Peer::Bfdd, 0);
        println!(
            "figure: {m} BFD sessions at 50 ms, CPU % of one core (lvsd's BFD thread vs FRR bfdd): lvsd {:.2} | reference {:.2} | ratio {:.2}",
            frr.thread,
            frr.peer,
            frr.thread / frr.peer.max(0.001)
        );
    }
    let n = env_or("LVSD_BENCH_SESSIONS", 1000) as usize;
    let pair = new_pair(n);
    let big = run(&pair, seconds, Peer::Lvsd, 0);
    println!(
        "figure: {n} BFD sessions at 50 ms, CPU % of one core (the whole lvsd vs the 5 % goal; its peer, another lvsd, {:.2}): lvsd {:.2} | reference 5.00 | ratio {:.2}",
        big.peer,
        big.whole,
        big.whole / 5.0
    );
    // The floor, in the same namespaces, timed alike: the same packets
    // from a C program that does nothing else (for LVSD_BENCH_FLOOR_SECONDS,
    // default as long as lvsd; 0: not at all, as in a 10-minute run).
    let floor_seconds = env_or("LVSD_BENCH_FLOOR_SECONDS", seconds);
    if floor_seconds == 0 {
        return;
    }
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = floor::build(bin_dir.path());
    let window = Duration::from_secs_f64(floor_seconds as f64 / rounds as f64);
    // The floor sends as many packets a second as lvsd did (the RFC's
    // jitter makes the mean gap ~44 ms of 50, batching a little less).
    let interval_ms = 1000.0 * n as f64 / big.sent_per_s.max(1.0);
    let shared = floor::run(&bin, &pair, Mode::Shared, interval_ms, rounds, window);
    let connected = floor::run(&bin, &pair, Mode::Connected, interval_ms, rounds, window);
    println!(
        "floor, {n} sessions' packets every {interval_ms:.1} ms (lvsd sent {:.0} a second), CPU % of one core: sendmmsg on one socket {:.2} (schedstat {:.2}; its peer {:.2}), a connected socket a session {:.2} (schedstat {:.2}; its peer {:.2})",
        big.sent_per_s, shared.c, shared.c_ran, shared.b, connected.c, connected.c_ran, connected.b
    );
    println!(
        "figure: {n} BFD sessions at 50 ms, CPU % of one core (the whole lvsd vs the floor: a C program sending and receiving as many packets, bench/floor/bfd_floor.c, in the same namespaces): lvsd {:.2} | reference {:.2} | ratio {:.2}",
        big.whole,
        shared.c,
        big.whole / shared.c.max(0.001)
    );
    // The figures say how far from the goal and the floor; the behaviour
    // (no false down, detection in time) is what this asserts.
}

/// The TCP probe lag beside BFD: `LVSD_BENCH_TCP` TCP_CHECKs (default
/// 10,000, every 5 s) beside `LVSD_BENCH_SESSIONS` BFD sessions, then the
/// same checks alone; their schedule lag (lvsd's metrics) side by side.
#[test]
#[ignore = "a benchmark: bench/bfd.sh"]
fn tcp_probe_lag_beside_bfd() {
    if !can_use_netns() {
        return;
    }
    let _one = one_at_a_time();
    let seconds = env_or("LVSD_BENCH_SECONDS", 30);
    let n = env_or("LVSD_BENCH_SESSIONS", 1000) as usize;
    let tcp = env_or("LVSD_BENCH_TCP", 10_000) as usize;
    let beside = run(&new_pair(n), seconds, Peer::Lvsd, tcp);
    let beside = beside.lag.expect("a lag reading");
    let alone_seconds = env_or("LVSD_BENCH_ALONE_SECONDS", seconds);
    let alone = run(&new_pair(0), alone_seconds, Peer::Lvsd, tcp);
    let alone = alone.lag.expect("a lag reading");
    println!(
        "figure: {tcp} TCP checks' schedule lag p99 (ms, bucket edge; p50 {} beside, {} alone) beside {n} BFD sessions vs alone: lvsd {} | reference {} | ratio {:.2}",
        beside.0,
        alone.0,
        beside.1,
        alone.1,
        beside.1 / alone.1
    );
    // The bound: p99 within 10 ms beside BFD.
    assert!(
        beside.1 <= 10.0,
        "TCP probe lag p99 {} ms beside BFD",
        beside.1
    );
}
