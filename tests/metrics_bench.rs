//! The metrics benchmark (ignored; `bench/metrics.sh` runs it with a
//! release build), on the host, loopback only, lvsd `--dry-run`:
//!
//! - **scrape at N real servers** (`LVSD_BENCH_SCRAPE`, default 20,000,
//!   100 per virtual server, each with a `TCP_CHECK` to a closed port of
//!   127.2.0.0/16 every hour, so nearly nothing is probed meanwhile): the
//!   wall time of a whole `GET /metrics` (median of 7, after one to warm
//!   up) against the 50 ms goal, lvsd's CPU per scrape (which other load
//!   on the machine does not inflate), and the transient memory of a scrape:
//!   lvsd's peak RSS during it minus its RSS before (the peak is reset
//!   through `/proc/PID/clear_refs` before each; the largest of the 8)
//!   against the 8 MB goal.
//! - **CPU per 1,000 probes, metrics on vs off**: `LVSD_BENCH_PROBES`
//!   (default 1,000) `TCP_CHECK`s with `delay_loop 1` to as many listeners
//!   on 127.0.0.1 (each accepts and closes); lvsd's CPU (user + system,
//!   `/proc/PID/stat`) over `LVSD_BENCH_SECONDS` (default 20) after 3 s, the
//!   probes counted by the listeners' accepts. With metrics on, `/metrics`
//!   is scraped every 5 s meanwhile (three times Prometheus' default rate).
//!   Both run at once, each on its own listeners, so that other load on
//!   the machine weighs on both alike; `LVSD_BENCH_ROUNDS` rounds (default
//!   5), the medians compared (goal: on ≤ 1.03 × off). Since two daemons
//!   on a shared machine vary by several percent, the cost of counting is
//!   also measured alone: 1,000,000 verdicts through the counters the
//!   event loop uses, added to the CPU of 1,000 probes without metrics.

mod dry_run_support;
mod metrics_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_support::{free_port, get, lvsd_with, Killed};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn figure(what: &str, lvsd: f64, reference_name: &str, reference: f64) {
    println!(
        "figure: {what}: lvsd {lvsd:.3} | {reference_name} {reference:.3} | ratio {:.3}",
        lvsd / reference
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A field of `/proc/PID/status`, in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap()
}

/// User + system CPU of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 after the name.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no side effects.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// A config of `n` real servers, 100 per virtual server, with `check`
/// (given the real server's index) as each one's checker.
fn config(n: usize, rs: impl Fn(usize) -> (String, String)) -> String {
    let mut text = String::new();
    for v in 0..n.div_ceil(100) {
        text.push_str(&format!(
            "virtual_server 10.{}.{}.1 80 {{\n lb_algo rr\n lb_kind NAT\n protocol TCP\n",
            v / 250,
            v % 250
        ));
        for i in v * 100..((v + 1) * 100).min(n) {
            let (addr, check) = rs(i);
            text.push_str(&format!(
                " real_server {addr} {{\n  weight 1\n  {check}\n }}\n"
            ));
        }
        text.push_str("}\n");
    }
    text
}

#[test]
#[ignore = "benchmark: run by bench/metrics.sh"]
fn bench_scrape_at_many_real_servers() {
    let n = env_or("LVSD_BENCH_SCRAPE", 20_000);
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(
        &conf,
        config(n, |i| {
            (
                format!("127.2.{}.{} 1", i / 250, i % 250 + 1),
                "TCP_CHECK {\n   connect_timeout 1\n   delay_loop 3600\n  }".to_owned(),
            )
        }),
    )
    .unwrap();
    let port = free_port();
    let lvsd = lvsd_with(&conf, Some(port), &[]);
    let pid = lvsd.0.id();
    let mut times = Vec::new();
    let mut transient = Vec::new();
    let mut bytes = 0;
    let mut cpu = 0.0;
    for round in 0..8 {
        let cpu_before = cpu_seconds(pid);
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
        let before = status_kb(pid, "VmRSS:");
        let started = Instant::now();
        let (code, body) = get(port, "/metrics", None).expect("a scrape");
        let took = started.elapsed();
        assert_eq!(code, 200);
        let peak = status_kb(pid, "VmHWM:");
        bytes = body.len();
        assert!(body.matches("\nlvsd_real_server_up{").count() == n);
        // The first scrape's memory counts too (the allocator has not seen
        // one yet); its time does not (a cold start).
        transient.push(peak.saturating_sub(before) as f64 / 1024.0);
        if round > 0 {
            cpu += cpu_seconds(pid) - cpu_before;
            times.push(took.as_secs_f64() * 1000.0);
        }
    }
    println!(
        "scrape: {n} real servers, {:.1} MB of text, times {times:.1?} ms, transient {transient:.1?} MB",
        bytes as f64 / 1e6
    );
    figure(
        &format!("scrape of /metrics at {n} real servers, median (ms)"),
        median(times),
        "goal",
        50.0,
    );
    // The wall time suffers when other work shares the CPUs; lvsd's own
    // CPU per scrape does not.
    figure(
        &format!("lvsd's CPU per scrape of /metrics at {n} real servers, mean of 7 (ms)"),
        cpu * 1000.0 / 7.0,
        "goal",
        50.0,
    );
    figure(
        &format!("transient memory of a scrape at {n} real servers, largest of 8 (MB)"),
        transient.iter().copied().fold(0.0, f64::max),
        "goal",
        8.0,
    );
    drop(lvsd);
}

/// `count` listeners on 127.0.0.1 that accept and close, counting accepts.
fn listeners(count: usize) -> (Vec<u16>, Arc<AtomicU64>, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let mut ports = Vec::new();
    for _ in 0..count {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        ports.push(listener.local_addr().unwrap().port());
        let accepted = Arc::clone(&accepted);
        runtime.spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::Relaxed);
                drop(conn);
            }
        });
    }
    (ports, accepted, runtime)
}

/// One lvsd probing its own backends, for the CPU comparison.
struct Prober {
    lvsd: Killed,
    metrics: Option<u16>,
    accepted: Arc<AtomicU64>,
    /// CPU and probes at the window's start.
    start: (f64, u64),
}

impl Prober {
    fn start(conf: &std::path::Path, metrics: Option<u16>, accepted: &Arc<AtomicU64>) -> Prober {
        Prober {
            lvsd: lvsd_with(conf, metrics, &[]),
            metrics,
            accepted: Arc::clone(accepted),
            start: (0.0, 0),
        }
    }

    fn reading(&self) -> (f64, u64) {
        (
            cpu_seconds(self.lvsd.0.id()),
            self.accepted.load(Ordering::Relaxed),
        )
    }

    /// CPU (ms) per 1,000 probes since the window's start.
    fn per_1000(&self) -> f64 {
        let (cpu, probes) = self.reading();
        (cpu - self.start.0) * 1e6 / (probes - self.start.1) as f64
    }
}

/// `n` TCP_CHECKs, delay_loop 1, to these backends.
fn probing_config(dir: &std::path::Path, name: &str, ports: &[u16]) -> std::path::PathBuf {
    let conf = dir.join(name);
    std::fs::write(
        &conf,
        config(ports.len(), |i| {
            (
                format!("127.0.0.1 {}", ports[i]),
                "TCP_CHECK {\n   connect_timeout 1\n   delay_loop 1\n  }".to_owned(),
            )
        }),
    )
    .unwrap();
    conf
}

#[test]
#[ignore = "benchmark: run by bench/metrics.sh"]
fn bench_cpu_per_probe_with_metrics_on_and_off() {
    let n = env_or("LVSD_BENCH_PROBES", 1000);
    let seconds = env_or("LVSD_BENCH_SECONDS", 20) as u64;
    let rounds = env_or("LVSD_BENCH_ROUNDS", 5);
    // Two lvsd at once, each with its own backends: whatever else loads the
    // machine loads both alike.
    let (ports_off, accepted_off, _rt_off) = listeners(n);
    let (ports_on, accepted_on, _rt_on) = listeners(n);
    let dir = tempfile::tempdir().unwrap();
    let conf_off = probing_config(dir.path(), "off.conf", &ports_off);
    let conf_on = probing_config(dir.path(), "on.conf", &ports_on);
    let (mut off, mut on, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut without = Prober::start(&conf_off, None, &accepted_off);
        let mut with = Prober::start(&conf_on, Some(free_port()), &accepted_on);
        std::thread::sleep(Duration::from_secs(3));
        without.start = without.reading();
        with.start = with.reading();
        let end = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < end {
            if let Some(port) = with.metrics {
                get(port, "/metrics", None).expect("a scrape");
            }
            std::thread::sleep(
                Duration::from_secs(5).min(end.saturating_duration_since(Instant::now())),
            );
        }
        let (a, b) = (without.per_1000(), with.per_1000());
        off.push(a);
        on.push(b);
        ratios.push(b / a);
    }
    println!(
        "cpu per 1,000 probes (ms), both running at once: metrics off {off:.1?}, on {on:.1?}, ratios {ratios:.3?}"
    );
    let per_probe_off = median(off.clone());
    figure(
        &format!("CPU per 1,000 TCP_CHECK probes, {n} real servers, delay_loop 1, metrics on vs off at once, median (ms)"),
        median(on),
        "metrics off",
        per_probe_off,
    );
    println!("median of the rounds' ratios: {:.3}", median(ratios));
    // What counting costs, without the noise of two whole daemons: the
    // event loop's work for 1,000 verdicts (a passing and a failing mix,
    // as the daemon counts them), against a probe's whole cost.
    let counters = lvsd::metrics::Counters::new();
    let verdicts = 1_000_000;
    let started = Instant::now();
    for i in 0..verdicts {
        let ok = i % 4 != 0;
        let reason = if ok {
            "connected"
        } else {
            "connection failed: Connection refused (os error 111)"
        };
        counters.verdict(
            lvsd::metrics::CheckKind::tcp,
            ok,
            reason,
            Duration::from_micros(300),
        );
    }
    let counting = started.elapsed().as_secs_f64() * 1000.0 / (verdicts / 1000) as f64;
    figure(
        "counting 1,000 verdicts (1 in 4 failed) vs the CPU of 1,000 probes with metrics off (ms)",
        per_probe_off + counting,
        "metrics off",
        per_probe_off,
    );
}
