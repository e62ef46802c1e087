//! The BFD benchmark (ignored; `bench/bfd.sh` runs it with a release
//! build), on the host, in two network namespaces the test makes:
//! `SESSIONS` sessions (default 1,000) at 50 ms (3 × 50 ms detection)
//! between lvsd (`--dry-run`, one real server a session, each with a
//! `BFD_CHECK`) and FRR's bfdd (one peer a session, one address a peer).
//!
//! Once every real server is in lvsd's table, for `LVSD_BENCH_SECONDS`
//! (default 30, in `LVSD_BENCH_ROUNDS` windows, default 5, each figure
//! the median of the windows): the CPU of lvsd's BFD thread and of the
//! whole lvsd process, and of bfdd for the same sessions, from `/proc`,
//! and the BFD thread's wake-ups; any real server removed in that window
//! is a false Down. Then bfdd is stopped (SIGSTOP): every session must go
//! down within the detection time plus one receive interval (200 ms) of
//! it; the spread of those times is printed (p50, p99, max), and the
//! detection error: each removal less (the last packet of its peer, as
//! captured in lvsd's namespace, + 150 ms). `LVSD_BENCH_BIN` measures
//! another lvsd build (before/after on the same machine and load).
//!
//! FRR's bfdd cannot keep 1,000 sessions at 50 ms here (it spends most of a
//! core on 300), so the CPU comparison with it runs at
//! `LVSD_BENCH_BFDD_SESSIONS` (default 200), and the 1,000 sessions run
//! against a second lvsd, mirrored.
//!
//! `tcp_probe_lag_beside_bfd`: `LVSD_BENCH_TCP` TCP_CHECKs (default
//! 10,000, every 5 s) beside the sessions, then alone: their schedule lag
//! p50/p99 from lvsd's metrics, side by side.
//!
//! Figures: `figure: WHAT (UNIT): lvsd X | reference Y | ratio Z`.

#[path = "bfd_support/capture.rs"]
mod capture;
mod checker_support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use checker_support::{can_run, can_use_netns};

const BFDD: &str = "/usr/lib/frr/bfdd";

/// The lvsd measured (and its lvsd peer): this build, or `LVSD_BENCH_BIN`
/// (another build, to compare two versions on the same machine and load).
fn lvsd_bin() -> String {
    std::env::var("LVSD_BENCH_BIN").unwrap_or(env!("CARGO_BIN_EXE_lvsd").into())
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `i`th session's address on bfdd's side: 10.200.1.1 onwards.
fn peer(i: usize) -> String {
    format!("10.200.{}.{}", 1 + i / 250, 1 + i % 250)
}

/// The `i`th session's address on lvsd's side: 10.201.1.1 onwards (bfdd
/// keeps one single-hop session per peer address, so each session has its
/// own pair).
fn ours(i: usize) -> String {
    format!("10.201.{}.{}", 1 + i / 250, 1 + i % 250)
}

/// Runs `ip -n ns -batch -` on `commands`.
fn ip_batch(ns: &str, commands: &str) {
    let mut child = Command::new("ip")
        .args(["-n", ns, "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "ip -batch");
}

/// CPU seconds (user + system) of a process, or of one of its threads.
fn cpu(stat: &str) -> f64 {
    let text = std::fs::read_to_string(stat).unwrap_or_default();
    // Fields after the command (which may hold spaces) end with ')'.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    // SAFETY: sysconf(3) with a valid name.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Seconds a process has run, from the scheduler's own clock (the first
/// field of each thread's `schedstat`, in ns) rather than from the ticks
/// of `stat`, which sample who is on the CPU 100 times a second and can
/// be fooled by a thread that wakes in step with them.
fn ran(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}

/// A thread's voluntary context switches (its sleeps), from its
/// `/proc/…/status`.
fn wakeups(status: &str) -> u64 {
    let text = std::fs::read_to_string(status).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The `/proc` stat file of `pid`'s thread named `name`.
fn thread_stat(pid: u32, name: &str) -> Option<String> {
    let dir = format!("/proc/{pid}/task");
    std::fs::read_dir(&dir).ok()?.flatten().find_map(|t| {
        let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
        (comm.trim() == name).then(|| t.path().join("stat").display().to_string())
    })
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // SAFETY: our own child; SIGCONT first in case it is stopped.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGCONT) };
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
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
    /// The TCP checks' schedule lag over the window, p50 and p99 (ms, the
    /// upper edge of the metrics bucket they fall in).
    lag: Option<(f64, f64, u64)>,
}

/// One run at a time (the tests of this file run in parallel threads).
static RUNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Where the TCP checks' targets listen, in lvsd's namespace.
const TCP_PORT: u16 = 8080;

/// Where lvsd serves its metrics, in its namespace.
const METRICS: &str = "127.0.0.1:9650";

/// Moves the calling thread into network namespace `ns`.
fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("the namespace");
    use std::os::fd::AsRawFd;
    // SAFETY: setns(2) on this thread only, with a namespace fd we hold.
    let entered = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(entered, 0, "setns {ns}");
}

/// The schedule lag histogram of lvsd's metrics: (upper edge in s,
/// cumulative count), `+Inf` last.
fn lag_buckets(ns: &str) -> Vec<(f64, u64)> {
    let ns = ns.to_string();
    let text = std::thread::spawn(move || {
        use std::io::Read;
        enter(&ns);
        let mut s = std::net::TcpStream::connect(METRICS).expect("lvsd's metrics");
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    })
    .join()
    .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("lvsd_check_schedule_lag_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (edge, count) = l.split_once("\"} ")?;
            let edge = if edge == "+Inf" {
                f64::INFINITY
            } else {
                edge.parse().ok()?
            };
            Some((edge, count.trim().parse().ok()?))
        })
        .collect()
}

/// p50 and p99 (ms) of the lags counted between two readings, and how
/// many probes they are.
fn lag_percentiles(before: &[(f64, u64)], after: &[(f64, u64)]) -> (f64, f64, u64) {
    let diff: Vec<(f64, u64)> = after
        .iter()
        .map(|&(edge, n)| {
            let was = before.iter().find(|b| b.0 == edge).map_or(0, |b| b.1);
            (edge, n.saturating_sub(was))
        })
        .collect();
    let total = diff.last().map_or(0, |d| d.1).max(1);
    let at = |p: f64| {
        diff.iter()
            .find(|d| d.1 as f64 >= p * total as f64)
            .map_or(f64::INFINITY, |d| d.0 * 1000.0)
    };
    (at(0.5), at(0.99), total)
}

/// `n` sessions against `peer` for `seconds`, then the peer stopped.
/// `tcp` TCP_CHECKs (every 5 s, against a listener in lvsd's namespace)
/// run beside the sessions when it is not 0; with `n` 0, they run alone
/// (no peer is stopped then).
fn run(n: usize, seconds: u64, peer_kind: Peer, tcp: usize) -> Run {
    // Unique within the process too (the runs share port 3784 and the
    // metrics port, so they also run one at a time: RUNS).
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let _one = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let tag = format!(
        "{}-{}",
        std::process::id(),
        RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let (c, b) = (
        Netns(format!("lvsdbfd-c-{tag}")),
        Netns(format!("lvsdbfd-b-{tag}")),
    );
    for ns in [&c.0, &b.0] {
        let ok = Command::new("ip")
            .args(["netns", "add", ns])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {ns}");
    }
    ip_batch(
        &c.0,
        &format!(
            "link add eth0 type veth peer name eth0 netns {}\nlink set eth0 up\nlink set lo up\n",
            b.0
        ),
    );
    let (mut ours_batch, mut peers_batch) = (String::new(), String::new());
    for i in 0..n {
        ours_batch += &format!("addr add {}/15 dev eth0\n", ours(i));
        peers_batch += &format!("addr add {}/15 dev eth0\n", peer(i));
    }
    ip_batch(&c.0, &ours_batch);
    peers_batch += "link set eth0 up\nlink set lo up\n";
    ip_batch(&b.0, &peers_batch);
    // A thousand neighbours a side: more than the kernel's ARP table keeps
    // at ease (gc_thresh2 512, gc_thresh3 1,024, global), so the entries
    // are made permanent, which the garbage collector does not count.
    let mac = |ns: &str| {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "cat", "/sys/class/net/eth0/address"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let (c_mac, b_mac) = (mac(&c.0), mac(&b.0));
    let (mut c_neigh, mut b_neigh) = (String::new(), String::new());
    for i in 0..n {
        c_neigh += &format!(
            "neigh replace {} lladdr {b_mac} dev eth0 nud permanent\n",
            peer(i)
        );
        b_neigh += &format!(
            "neigh replace {} lladdr {c_mac} dev eth0 nud permanent\n",
            ours(i)
        );
    }
    ip_batch(&c.0, &c_neigh);
    ip_batch(&b.0, &b_neigh);

    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut bfdd_conf = String::from("bfd\n");
    for i in 0..n {
        bfdd_conf += &format!(
            " peer {} local-address {}\n  receive-interval 50\n  transmit-interval 50\n  detect-multiplier 3\n !\n",
            ours(i),
            peer(i)
        );
    }
    std::fs::write(dir.path().join("bfdd.conf"), bfdd_conf).unwrap();
    let d = dir.path().display();
    let peer_conf = |i0: &dyn Fn(usize) -> String, i1: &dyn Fn(usize) -> String, vip: &str| {
        let mut conf = String::new();
        for i in 0..n {
            conf += &format!(
                "bfd_instance s{i} {{\n neighbor_ip {}\n source_ip {}\n min_rx 50\n min_tx 50\n multiplier 3\n}}\n",
                i0(i),
                i1(i)
            );
        }
        conf += &format!("virtual_server {vip} 80 {{\n lb_algo rr\n lb_kind NAT\n protocol TCP\n");
        for i in 0..n {
            conf += &format!(
                " real_server {} 80 {{\n  BFD_CHECK {{\n   name s{i}\n   alpha\n  }}\n }}\n",
                i0(i)
            );
        }
        conf + "}\n"
    };
    let peer_proc = match peer_kind {
        Peer::Bfdd => Killed(
            Command::new("ip")
                .args([
                    "netns", "exec", &b.0, BFDD, "-u", "frr", "-g", "frr", "-P", "0",
                ])
                .arg("-f")
                .arg(format!("{d}/bfdd.conf"))
                .arg("-i")
                .arg(format!("{d}/bfdd.pid"))
                .arg("--vty_socket")
                .arg(dir.path())
                .arg("--bfdctl")
                .arg(format!("{d}/bfdd.sock"))
                .arg("-z")
                .arg(format!("{d}/zserv.api"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ),
        Peer::Lvsd => {
            let path = dir.path().join("peer.conf");
            std::fs::write(&path, peer_conf(&ours, &peer, "10.0.0.2")).unwrap();
            Killed(
                Command::new("ip")
                    .args(["netns", "exec", &b.0, &lvsd_bin()])
                    .args([
                        "--dry-run",
                        "--drift-interval",
                        "0",
                        "--state-file",
                        "/dev/null",
                        "-f",
                    ])
                    .arg(&path)
                    .env("LVSD_LOG", "error")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        }
    };
    let mut conf = peer_conf(&peer, &ours, "10.0.0.1");
    if tcp > 0 {
        conf += "virtual_server 10.0.0.3 80 {\n delay_loop 5\n lb_algo rr\n lb_kind NAT\n protocol TCP\n";
        for i in 0..tcp {
            conf += &format!(
                " real_server 127.1.{}.{} {TCP_PORT} {{\n  TCP_CHECK {{\n   connect_timeout 3\n  }}\n }}\n",
                i / 250,
                1 + i % 250
            );
        }
        conf += "}\n";
        let ns = c.0.clone();
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
    }
    let path = dir.path().join("keepalived.conf");
    std::fs::write(&path, conf).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &c.0, &lvsd_bin()])
        .args([
            "--dry-run",
            "-l",
            "--drift-interval",
            "0",
            "--state-file",
            "/dev/null",
        ])
        .args(if tcp > 0 {
            vec!["--metrics-listen", METRICS]
        } else {
            vec![]
        })
        .arg("-f")
        .arg(&path)
        .env(
            "LVSD_LOG",
            std::env::var("LVSD_BENCH_LOG").unwrap_or("warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(match std::env::var("LVSD_BENCH_LOG") {
            Ok(_) => Stdio::inherit(),
            Err(_) => Stdio::null(),
        })
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lvsd = Killed(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });

    // Every real server in the table.
    let started = Instant::now();
    let mut up = 0;
    while up < n {
        let (_, line) = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("only {up} of {n} sessions up after 30 s"));
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
    eprintln!("{n} sessions up in {:?}", started.elapsed());
    std::thread::sleep(Duration::from_secs(3));
    while lines.try_recv().is_ok() {}

    let pid = lvsd.0.id();
    let bfd_thread = thread_stat(pid, "lvsd-bfd").unwrap_or_default();
    let bfdd_pid: u32 = match peer_kind {
        Peer::Bfdd => std::fs::read_to_string(dir.path().join("bfdd.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
        Peer::Lvsd => peer_proc.0.id(),
    };
    let lvsd_stat = format!("/proc/{pid}/stat");
    let bfdd_stat = format!("/proc/{bfdd_pid}/stat");
    let bfd_status = bfd_thread.replace("/stat", "/status");
    // `rounds` windows of `seconds / rounds`; each figure is the median of
    // the rounds (the machine's cores are shared: one window can be
    // disturbed by another job). The PMU is not reachable here (no
    // instruction counts), so the BFD thread's wake-ups are counted too:
    // its voluntary context switches, one a sleep in epoll_wait.
    let rounds = env_or("LVSD_BENCH_ROUNDS", 5).max(1);
    let window = Duration::from_secs_f64(seconds as f64 / rounds as f64);
    let mut false_downs = Vec::new();
    let lag_before = (tcp > 0).then(|| lag_buckets(&c.0));
    let mut samples: [Vec<f64>; 5] = Default::default();
    for _ in 0..rounds {
        let before = (
            cpu(&bfd_thread),
            cpu(&lvsd_stat),
            cpu(&bfdd_stat),
            wakeups(&bfd_status),
            ran(pid),
        );
        let t0 = Instant::now();
        while t0.elapsed() < window {
            if let Ok((_, line)) = lines.recv_timeout(Duration::from_millis(200)) {
                if line.starts_with("-d ") && line.contains(" -t 10.0.0.1:80 ") {
                    false_downs.push(line);
                }
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        let after = (
            cpu(&bfd_thread),
            cpu(&lvsd_stat),
            cpu(&bfdd_stat),
            wakeups(&bfd_status),
            ran(pid),
        );
        samples[0].push(100.0 * (after.0 - before.0) / wall);
        samples[1].push(100.0 * (after.1 - before.1) / wall);
        samples[2].push(100.0 * (after.2 - before.2) / wall);
        samples[3].push((after.3 - before.3) as f64 / wall);
        samples[4].push(100.0 * (after.4 - before.4) / wall);
    }
    let lag = lag_before.map(|before| lag_percentiles(&before, &lag_buckets(&c.0)));
    if let Some((p50, p99, probes)) = lag {
        println!(
            "{tcp} TCP checks beside {n} BFD sessions: schedule lag p50 ≤ {p50} ms, p99 ≤ {p99} ms over {probes} probes"
        );
    }
    let [thread, whole, frr, wake, run_time] = samples.map(|mut v| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    });
    println!(
        "{n} sessions vs {peer_kind:?}: CPU % of one core, median of {rounds} × {window:?}: lvsd's BFD thread {thread:.2}, lvsd {whole:.2} (its run time by schedstat {run_time:.2}), the peer {frr:.2}; BFD thread wake-ups/s {wake:.0}; false downs {}",
        false_downs.len()
    );
    if n == 0 {
        return Run {
            thread,
            whole,
            peer: frr,
            lag,
        };
    }

    // The peer stops: every session down within 200 ms. The packets that
    // reach lvsd's namespace are captured meanwhile: a session's detection
    // error is its removal less (its peer's last packet + 150 ms).
    let capture = capture::start(&c.0);
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Instant::now();
    // SAFETY: kill(2) on bfdd, which this test started.
    unsafe { libc::kill(bfdd_pid as libc::pid_t, libc::SIGSTOP) };
    let mut downs = Vec::with_capacity(n);
    let mut removed = Vec::with_capacity(n);
    while downs.len() < n {
        let Ok((at, line)) = lines.recv_timeout(Duration::from_secs(5)) else {
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
    drop(peer_proc);
    assert!(false_downs.is_empty(), "false downs: {false_downs:?}");
    assert!(max <= Duration::from_millis(200), "max {max:?}");
    Run {
        thread,
        whole,
        peer: frr,
        lag,
    }
}

#[test]
#[ignore = "a benchmark: bench/bfd.sh"]
fn bfd_sessions_cost_and_detection() {
    if !can_use_netns() || !can_run(Path::new(BFDD).exists(), "needs FRR's bfdd") {
        return;
    }
    let seconds = env_or("LVSD_BENCH_SECONDS", 30);
    // FRR's bfdd spends most of a core on 300 sessions at 50 ms here and
    // cannot bring 1,000 up: it is compared at LVSD_BENCH_BFDD_SESSIONS
    // (0: not at all).
    let m = env_or("LVSD_BENCH_BFDD_SESSIONS", 200) as usize;
    if m > 0 {
        let frr = run(m, seconds, Peer::Bfdd, 0);
        println!(
            "figure: {m} BFD sessions at 50 ms, CPU % of one core (lvsd's BFD thread vs FRR bfdd): lvsd {:.2} | reference {:.2} | ratio {:.2}",
            frr.thread,
            frr.peer,
            frr.thread / frr.peer.max(0.001)
        );
    }
    let n = env_or("LVSD_BENCH_SESSIONS", 1000) as usize;
    let big = run(n, seconds, Peer::Lvsd, 0);
    println!(
        "figure: {n} BFD sessions at 50 ms, CPU % of one core (the whole lvsd vs the 5 % goal; its peer, another lvsd, {:.2}): lvsd {:.2} | reference 5.00 | ratio {:.2}",
        big.peer,
        big.whole,
        big.whole / 5.0
    );
    // The 5 % goal is not met yet (11–13 % on a loaded machine): sends
    // are batched and wake-ups few (~500 a second), what is left is the
    // kernel's work a packet, the peer's receive path included on a veth
    // (docs/bfd.md).
    // The figure says it; the behaviour (no false down, detection in
    // time) is what this asserts.
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
    let seconds = env_or("LVSD_BENCH_SECONDS", 30);
    let n = env_or("LVSD_BENCH_SESSIONS", 1000) as usize;
    let tcp = env_or("LVSD_BENCH_TCP", 10_000) as usize;
    let beside = run(n, seconds, Peer::Lvsd, tcp).lag.expect("a lag reading");
    let alone = run(0, seconds, Peer::Lvsd, tcp).lag.expect("a lag reading");
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
