//! A process's or a thread's CPU and wake-ups, from `/proc`, and the
//! median of a few windows of them (the machine's cores are shared: one
//! window can be disturbed by another job).

use std::time::{Duration, Instant};

/// CPU seconds (user + system) of a process, or of one of its threads,
/// from its `stat` file.
pub fn cpu(stat: &str) -> f64 {
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
pub fn ran(pid: u32) -> f64 {
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
pub fn wakeups(status: &str) -> u64 {
    let text = std::fs::read_to_string(status).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The `/proc` stat file of `pid`'s thread named `name`.
pub fn thread_stat(pid: u32, name: &str) -> Option<String> {
    let dir = format!("/proc/{pid}/task");
    std::fs::read_dir(&dir).ok()?.flatten().find_map(|t| {
        let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
        (comm.trim() == name).then(|| t.path().join("stat").display().to_string())
    })
}

/// The median of each of `N` rates over `rounds` windows of `window`:
/// `read` gives the counters (CPU seconds...), `during` runs while a
/// window lasts (it must return when the window's end comes). The rates
/// are counter units a second (× 100 for a % of a core).
pub fn medians<const N: usize>(
    rounds: u64,
    window: Duration,
    mut read: impl FnMut() -> [f64; N],
    mut during: impl FnMut(Instant),
) -> [f64; N] {
    let mut samples: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..rounds.max(1) {
        let before = read();
        let t0 = Instant::now();
        during(t0 + window);
        let wall = t0.elapsed().as_secs_f64();
        let after = read();
        for k in 0..N {
            samples[k].push((after[k] - before[k]) / wall);
        }
    }
    samples.map(|mut v| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    })
}

/// The `p` quantile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}
