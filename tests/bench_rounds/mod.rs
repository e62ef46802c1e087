//! What the guest benches that set lvsd beside keepalived in one boot
//! share (`kernel_udp_ping_bench`, `kernel_dns_bench`, `kernel_http`'s
//! bench): their settings from the environment, rounds in alternating
//! order, and the figures as the medians of those rounds.
//!
//! The guest shares the host's two cores, and one run's CPU figure moves by
//! a third with the host's load. So each program runs once a round, the
//! order reversed every other round (what runs first in one round runs
//! last in the next), and the figure is the median of the rounds' ratios,
//! lvsd's figure over the reference's measured in the same round.
//!
//! ```ignore
//! let figures = bench_rounds::alternate(runs.len(), rounds(), |i| measure(i));
//! bench_rounds::print("UDP_CHECK", "s", &figures[0]);
//! ```
#![allow(dead_code)]

/// Shell for the guest: prints the CPU time, in nanoseconds, that every
/// thread of the processes `$PIDS` has run: the scheduler's own count
/// (`/proc/PID/task/TID/schedstat`, first field), exact to its clock. The
/// `stat` file's user and system times are samples: the test guest's kernel
/// (Debian's cloud kernel, 250 Hz; `nohz_full` is not on its command line,
/// so its `VIRT_CPU_ACCOUNTING_GEN` is not in force) charges each tick to
/// whoever runs at it. Over the HTTP bench's 20 s windows the two agreed
/// within 1 %.
pub const GUEST_RUN_NS: &str = r#"for p in $PIDS; do cat /proc/$p/task/*/schedstat; done 2>/dev/null | awk '{ t += $1 } END { printf "%.0f\n", t }'"#;

/// A number from the environment, else `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// `LVSD_BENCH_SECONDS`: how long each window of a run lasts (default 10).
pub fn seconds() -> u64 {
    env("LVSD_BENCH_SECONDS", 10)
}

/// `LVSD_BENCH_ROUNDS`: how many rounds (default 3, at least 1).
pub fn rounds() -> u64 {
    env("LVSD_BENCH_ROUNDS", 3).max(1)
}

/// `LVSD_BENCH_BASE`: another lvsd binary (a baseline build), measured in
/// the same rounds for before/after figures.
pub fn base() -> Option<String> {
    std::env::var("LVSD_BENCH_BASE")
        .ok()
        .filter(|b| !b.is_empty())
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One lvsd run's figures over the rounds.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    /// The median of lvsd's figures.
    pub lvsd: f64,
    /// The median of the reference's.
    pub reference: f64,
    /// The median of the rounds' ratios (lvsd / reference of one round).
    pub ratio: f64,
    /// How many rounds.
    pub rounds: usize,
}

/// Runs `rounds` rounds of `runs` runs, in order in even rounds and in
/// reverse order in odd ones; `measure(i)` runs run `i` and returns its
/// figure (lower is better: CPU per 1,000 probes). Returns the table, a row
/// a round, a column a run.
pub fn measure_rounds(
    runs: usize,
    rounds: u64,
    mut measure: impl FnMut(usize) -> f64,
) -> Vec<Vec<f64>> {
    let mut table: Vec<Vec<f64>> = Vec::new();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..runs).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        let mut row = vec![0.0; runs];
        for i in order {
            row[i] = measure(i);
        }
        table.push(row);
    }
    table
}

/// Run `i` of `table` against run `reference`: the medians of each, and of
/// the rounds' ratios.
pub fn figure(table: &[Vec<f64>], i: usize, reference: usize) -> Figure {
    let column =
        |f: &dyn Fn(&[f64]) -> f64| -> Vec<f64> { table.iter().map(|row| f(row)).collect() };
    Figure {
        lvsd: median(&mut column(&|row| row[i])),
        reference: median(&mut column(&|row| row[reference])),
        ratio: median(&mut column(&|row| row[i] / row[reference])),
        rounds: table.len(),
    }
}

/// [`measure_rounds`] where run 0 is the reference (keepalived): the
/// figures of runs 1.. against it.
pub fn alternate(runs: usize, rounds: u64, measure: impl FnMut(usize) -> f64) -> Vec<Figure> {
    let table = measure_rounds(runs, rounds, measure);
    (1..runs).map(|i| figure(&table, i, 0)).collect()
}

/// Prints the `figure:` line of `what` (the bench scripts keep those
/// lines), its values in `unit` per 1,000 probes.
pub fn print(what: &str, setting: &str, unit: &str, figure: &Figure) {
    print_named(what, setting, unit, figure, ["lvsd", "keepalived"]);
}

/// [`print`], with the two sides named `names` (measured, reference).
pub fn print_named(what: &str, setting: &str, unit: &str, figure: &Figure, names: [&str; 2]) {
    let [measured, reference] = names;
    println!(
        "figure: CPU per 1,000 {what} probes, {setting}, medians of {} rounds ({unit}): \
         {measured} {:.3} | {reference} {:.3} | ratio {:.2} (median of the rounds' ratios)",
        figure.rounds, figure.lvsd, figure.reference, figure.ratio
    );
}
