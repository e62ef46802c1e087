//! The checker engine against 10,000 loopback targets, side by side with a
//! minimal epoll prober (`reference.rs`) measured in the same run.
//!
//! Run as root: `cargo bench --bench checker`. It runs in a network
//! namespace of its own (only `lo`), so its 10,000 targets and their
//! TIME_WAIT sockets never touch the host's.
//! Prints `figure: lvsd X | reference Y | ratio Z` lines:
//! - CPU per 1,000 probes (the engine's prober thread plus the tokio thread
//!   that receives its verdicts: user + system, which on loopback includes
//!   the kernel's handshake work), goal ratio ≤ 1.3;
//! - probes per second on one core (the engine's prober thread; its tokio
//!   thread only receives the verdicts), goal ≥ 20,000;
//! - schedule lag p99 (how late probes start), goal ≤ 10 ms.
//!
//! The prober (the engine's prober thread, or the reference loop) is pinned
//! to one core and everything else of the bench to the other, so "on one
//! core" is literal; the kernel's loopback work for the prober's own packets
//! is done on the prober's core and counted in its CPU.

mod reference;
mod targets;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lvsd::checker::{Engine, ProbeSpec};
use lvsd::config::{Check, CheckCommon, CloseMode, Location, TcpCheck};

const TARGETS: usize = 10_000;
/// The throughput round's delay_loop: 10.into(),000 / 0.49 s ≈ 20,400 probes/s.
const GOAL_PERIOD: Duration = Duration::from_millis(490);
/// delay_loop of the cost rounds: ≈5,000 probes/s.
const COST_PERIOD: Duration = Duration::from_millis(2000);

/// `default`, or `CHECKER_BENCH_PERIOD_MS` to explore other rates.
fn period(default: Duration) -> Duration {
    std::env::var("CHECKER_BENCH_PERIOD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(default)
}
const WARM: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(4);

/// What one prober did while measured.
#[derive(Debug, Default, Clone, Copy)]
pub struct Run {
    pub ok: u64,
    pub failed: u64,
    pub cpu: Duration,
    /// Of `cpu`, the engine's tokio thread (receiving verdicts); zero for
    /// the reference.
    pub receiver_cpu: Duration,
    pub elapsed: Duration,
    pub lag_p99: Duration,
    /// Context switches of the prober's thread while measured: voluntary
    /// (it waited: nothing due, or blocked) and involuntary (it was
    /// runnable but another thread or process had the core).
    pub switches: Switches,
}

/// Context switches of one thread (getrusage counts).
#[derive(Debug, Default, Clone, Copy)]
pub struct Switches {
    pub voluntary: u64,
    pub involuntary: u64,
}

impl std::ops::Sub for Switches {
    type Output = Switches;
    fn sub(self, earlier: Switches) -> Switches {
        Switches {
            voluntary: self.voluntary.saturating_sub(earlier.voluntary),
            involuntary: self.involuntary.saturating_sub(earlier.involuntary),
        }
    }
}

/// The engine's lag histogram stops at 100 ms; `Duration::MAX` means beyond.
fn lag_text(lag: Duration) -> String {
    if lag == Duration::MAX {
        "> 100 ms".to_string()
    } else {
        format!("{:.2} ms", lag.as_secs_f64() * 1e3)
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok {}, failed {}, cpu {:.1} ms (receiver {:.1} ms), elapsed {:.3} s, lag p99 {}, \
             switches: {} waited, {} preempted",
            self.ok,
            self.failed,
            self.cpu.as_secs_f64() * 1e3,
            self.receiver_cpu.as_secs_f64() * 1e3,
            self.elapsed.as_secs_f64(),
            lag_text(self.lag_p99),
            self.switches.voluntary,
            self.switches.involuntary,
        )
    }
}

impl Run {
    fn probes(&self) -> u64 {
        self.ok + self.failed
    }
    fn cpu_ms_per_1000(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.probes().max(1) as f64
    }
    fn rate(&self) -> f64 {
        self.probes() as f64 / self.elapsed.as_secs_f64()
    }
}

/// The core the prober (the engine's prober thread, or the reference loop)
/// runs on; everything else of the bench (the targets' accept loop, the
/// thread receiving the engine's verdicts) runs on [`OTHER_CPU`]. Pinned,
/// "probes per second on one core" means exactly that.
pub const PROBER_CPU: usize = 0;
/// See [`PROBER_CPU`].
pub const OTHER_CPU: usize = 1;

/// Pins the calling thread to `cpu` (best effort: a machine with one core
/// keeps every thread on it).
pub fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET stays within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn thread_usage() -> libc::rusage {
    // SAFETY: rusage is plain integers, for which all zeroes is a value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out pointer.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    usage
}

/// CPU time of the calling thread (user + system).
pub fn thread_cpu() -> Duration {
    let usage = thread_usage();
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time of another thread of this process (user + system).
pub fn pthread_cpu(thread: libc::pthread_t) -> Duration {
    let mut clock: libc::clockid_t = 0;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a live thread of this process and valid out pointers.
    unsafe {
        libc::pthread_getcpuclockid(thread, &mut clock);
        libc::clock_gettime(clock, &mut ts);
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Context switches of the engine's prober thread (named `lvsd-prober`),
/// from `/proc/self/task/*/status`.
pub fn prober_switches() -> Switches {
    let mut switches = Switches::default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return switches;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "lvsd-prober" {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            let value = |l: &str| l.split_whitespace().nth(1).and_then(|v| v.parse().ok());
            if line.starts_with("voluntary_ctxt_switches") {
                switches.voluntary += value(line).unwrap_or(0);
            } else if line.starts_with("nonvoluntary_ctxt_switches") {
                switches.involuntary += value(line).unwrap_or(0);
            }
        }
    }
    switches
}

/// Context switches of the calling thread so far.
pub fn thread_switches() -> Switches {
    let usage = thread_usage();
    Switches {
        voluntary: usage.ru_nvcsw as u64,
        involuntary: usage.ru_nivcsw as u64,
    }
}

pub fn p99(samples: &mut [Duration]) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

fn spec(target: std::net::SocketAddr, period: Duration) -> ProbeSpec {
    ProbeSpec::new(&Check::Tcp(TcpCheck {
        common: CheckCommon {
            location: Location::default(),
            connect_ip: target.ip(),
            connect_port: target.port(),
            binding: None,
            connect_timeout: Duration::from_secs(5).into(),
            delay_loop: period.into(),
            retry: 1,
            delay_before_retry: Duration::from_secs(1).into(),
            warmup: period.into(),
            alpha: false,
            // CHECKER_BENCH_CLOSE=reset measures the engine with RST closes.
            close: if std::env::var("CHECKER_BENCH_CLOSE").as_deref() == Ok("reset") {
                CloseMode::Reset
            } else {
                CloseMode::Graceful
            },
        },
    }))
}

fn run_engine(targets: &[std::net::SocketAddr], period: Duration) -> Run {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<lvsd::checker::HealthEvent>();
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (ok2, failed2) = (Arc::clone(&ok), Arc::clone(&failed));
        tokio::spawn(async move {
            // In batches, as a reconciler would read them.
            let mut batch = Vec::with_capacity(256);
            while rx.recv_many(&mut batch, 256).await > 0 {
                for event in batch.drain(..) {
                    if event.result.ok {
                        ok2.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed2.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        // The prober thread inherits this thread's core; then this thread
        // (tokio, receiving verdicts) moves to the other one.
        pin_to(PROBER_CPU);
        let mut engine = Engine::new(tx).expect("engine");
        pin_to(OTHER_CPU);
        engine.set_probes(targets.iter().map(|t| (spec(*t, period), true)));
        let prober = engine.prober_pthread().expect("the prober thread");
        tokio::time::sleep(WARM).await;
        engine.lag().reset();
        let (ok0, failed0) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
        let sent = |e: &Engine| e.probes_sent();
        let sent0 = sent(&engine);
        // The engine's CPU: its prober thread (timers, sockets, verdicts)
        // plus this thread (tokio, where the verdicts are received).
        let engine_cpu = || pthread_cpu(prober) + thread_cpu();
        let cpu0 = engine_cpu();
        let receiver0 = thread_cpu();
        let switches0 = prober_switches();
        let t0 = Instant::now();
        tokio::time::sleep(MEASURE).await;
        let probes = sent(&engine) - sent0;
        let failed_now = failed.load(Ordering::Relaxed) - failed0;
        let _ = ok0;
        let run = Run {
            ok: probes.saturating_sub(failed_now),
            failed: failed_now,
            cpu: engine_cpu() - cpu0,
            receiver_cpu: thread_cpu() - receiver0,
            elapsed: t0.elapsed(),
            lag_p99: engine.lag().quantile(0.99).unwrap_or_default(),
            switches: prober_switches() - switches0,
        };
        drop(engine);
        run
    })
}

fn figure(what: &str, lvsd: f64, reference: f64, unit: &str) {
    println!(
        "figure: {what}: lvsd {lvsd:.2}{unit} | reference {reference:.2}{unit} | ratio {:.2}",
        lvsd / reference
    );
}

/// The schedule lag p99 line. The engine's histogram stops at 100 ms: a
/// p99 beyond it (`Duration::MAX`) is printed as `> 100 ms`, and its ratio
/// as `> X` with X the ratio at exactly 100 ms.
fn lag_figure(lvsd: &Run, reference: &Run) {
    const HISTOGRAM_MAX_MS: f64 = 100.0;
    let ms = |r: &Run| r.lag_p99.as_secs_f64() * 1e3;
    let reference_ms = ms(reference);
    let (lvsd_text, ratio_text) = if lvsd.lag_p99 == Duration::MAX {
        (
            format!("> {HISTOGRAM_MAX_MS:.0} ms"),
            format!("> {:.2}", HISTOGRAM_MAX_MS / reference_ms),
        )
    } else {
        let lvsd_ms = ms(lvsd);
        (
            format!("{lvsd_ms:.2} ms"),
            format!("{:.2}", lvsd_ms / reference_ms),
        )
    };
    println!(
        "figure: schedule lag p99 (median of 3 rounds, goal ≤ 10 ms): lvsd {lvsd_text} | reference {reference_ms:.2} ms | ratio {ratio_text}"
    );
}

/// Runs the reference and the engine, each on a thread of its own, one
/// after the other: the reference first in even rounds, the engine first in
/// odd ones. (Each leaves ~80,000 TIME_WAIT sockets that make the next
/// one's connects a little dearer for a minute; alternating shares that.)
fn round(targets: &[std::net::SocketAddr], period: Duration, index: usize) -> (Run, Run) {
    let only = std::env::var("CHECKER_BENCH_ONLY").unwrap_or_default();
    let run_reference = || {
        if only == "lvsd" {
            return Run::default();
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                pin_to(PROBER_CPU);
                reference::run(targets, period, WARM, MEASURE)
            })
            .join()
            .expect("reference thread")
        })
    };
    let run_lvsd = || {
        if only == "reference" {
            return Run::default();
        }
        std::thread::scope(|s| {
            s.spawn(|| run_engine(targets, period))
                .join()
                .expect("engine thread")
        })
    };
    let (reference, lvsd) = if index % 2 == 0 {
        let reference = run_reference();
        (reference, run_lvsd())
    } else {
        let lvsd = run_lvsd();
        (run_reference(), lvsd)
    };
    println!("  reference {reference}");
    println!("  lvsd      {lvsd}");
    (lvsd, reference)
}

/// The median of `values` (by `key`), for a figure over several rounds.
fn median_by(mut values: Vec<Run>, key: impl Fn(&Run) -> f64) -> Run {
    values.sort_by(|a, b| key(a).total_cmp(&key(b)));
    values[values.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Err(e) = targets::own_network_namespace() {
        eprintln!("cannot make a network namespace (run as root): {e}");
        std::process::exit(1);
    }
    targets::raise_nofile(200_000);
    let targets = targets::Targets::start(100, (TARGETS / 100) as u8);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{TARGETS} loopback targets; {MEASURE:?} measured per run; load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    // Cost: a rate both sustain easily, so CPU per probe is not inflated by
    // a backlog. Three alternating rounds; the median ratio is the figure.
    let cost_period = period(COST_PERIOD);
    println!(
        "cost rounds: delay_loop {cost_period:?} (≈{:.0} probes/s)",
        TARGETS as f64 / cost_period.as_secs_f64()
    );
    let cost: Vec<(Run, Run)> = (0..3)
        .map(|i| round(&targets.addrs, cost_period, i))
        .collect();
    // Rounds are paired (same minute, same machine load): the figure is the
    // round with the median ratio.
    let per_1000 = |r: &Run| r.cpu_ms_per_1000();
    let mut by_ratio: Vec<(f64, &(Run, Run))> = cost
        .iter()
        .map(|p| (per_1000(&p.0) / per_1000(&p.1), p))
        .collect();
    by_ratio.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (_, (lvsd, reference)) = by_ratio[by_ratio.len() / 2];
    figure(
        "CPU ms per 1,000 probes (median round of 3, goal ratio ≤ 1.3)",
        per_1000(lvsd),
        per_1000(reference),
        " ms",
    );
    let ratios: Vec<String> = cost
        .iter()
        .map(|p| format!("{:.2}", per_1000(&p.0) / per_1000(&p.1)))
        .collect();
    println!("  per-round ratios: {}", ratios.join(", "));
    println!(
        "  one core at this cost would do: lvsd {:.0} probes/s | reference {:.0} probes/s",
        1e6 / per_1000(lvsd),
        1e6 / per_1000(reference)
    );

    // Throughput: the goal rate on one core.
    let goal_period = period(GOAL_PERIOD);
    println!(
        "throughput round: delay_loop {goal_period:?} (≈{:.0} probes/s asked)",
        TARGETS as f64 / goal_period.as_secs_f64()
    );
    // Three rounds, alternating who goes first; each figure is the median
    // round of each prober (the machine's other load comes and goes).
    let throughput: Vec<(Run, Run)> = (0..3)
        .map(|i| round(&targets.addrs, goal_period, i))
        .collect();
    let lvsd_runs: Vec<Run> = throughput.iter().map(|p| p.0).collect();
    let reference_runs: Vec<Run> = throughput.iter().map(|p| p.1).collect();
    let lag_key = |r: &Run| r.lag_p99.as_secs_f64();
    let share = |r: &Run| r.cpu.as_secs_f64() / r.elapsed.as_secs_f64();
    figure(
        "probes/s on one core (median of 3 rounds, goal ≥ 20,000)",
        median_by(lvsd_runs.clone(), Run::rate).rate(),
        median_by(reference_runs.clone(), Run::rate).rate(),
        "",
    );
    lag_figure(
        &median_by(lvsd_runs.clone(), lag_key),
        &median_by(reference_runs.clone(), lag_key),
    );
    figure(
        "CPU share of one core used (median of 3 rounds)",
        share(&median_by(lvsd_runs, share)),
        share(&median_by(reference_runs, share)),
        "",
    );
    let failed: u64 = cost
        .iter()
        .chain(throughput.iter())
        .map(|p| p.0.failed + p.1.failed)
        .sum();
    println!(
        "failed probes (should be 0): {failed}; accepted by targets: {}",
        targets.accepted.load(Ordering::Relaxed)
    );
}
