//! The open file limit lvsd needs: files for its probes' sockets.
//!
//! Every probe in flight holds a socket, and a probe whose check passed may
//! hold a second one for a moment: its last attempt's socket waits for the
//! backend's FIN (up to `connect_timeout` or `delay_loop`) while the next
//! attempt starts. How many are in flight at once is what arrives per
//! second times how long each stays: on an idle machine a handful, but on
//! one that cannot keep up, SYNs wait in full backlogs and are sent again
//! (after 1 s, then 3 s), and each attempt keeps its socket up to
//! `connect_timeout`. 20,000 real servers at `delay_loop 1` in the guest of
//! `bench/daemon.sh` (overload) had the guest's limit of 4,096 files (the
//! kernel's hard limit for a process whose init never raised it) full
//! within seconds: thousands of probes a minute were put off (EMFILE).
//!
//! So lvsd sizes its limit to what its probes can hold at once,
//! [`FILES_PER_PROBE`] each and [`SPARE`] for the rest, at start and on a
//! reload: the soft limit goes to the hard one, as keepalived does, and a
//! hard limit below the need is raised to it when lvsd may
//! (`CAP_SYS_RESOURCE`, up to the kernel's `fs.nr_open`). When it may not,
//! the log says how many files lvsd needs and how many it has; probes past
//! the limit are then put off (no verdict), never failed (`driver.rs`).

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Files a probe may hold at once: its attempt's socket, and the socket of
/// its last attempt still waiting for the backend's FIN.
const FILES_PER_PROBE: u64 = 2;

/// Files lvsd needs besides its probes: the netlink socket, the log, the
/// pid file, scripts' pipes, the runtime's own descriptors.
const SPARE: u64 = 64;

/// The kernel's ceiling on any process's open files when
/// `/proc/sys/fs/nr_open` cannot be read (its default).
const NR_OPEN_DEFAULT: u64 = 1 << 20;

/// The open files `probes` probes need at most, with the spare.
pub fn needed(probes: usize) -> u64 {
    (probes as u64)
        .saturating_mul(FILES_PER_PROBE)
        .saturating_add(SPARE)
}

/// A soft and a hard limit (`u64::MAX`: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    soft: u64,
    hard: u64,
}

/// The limits to ask for, from the current ones: the hard limit at least
/// `needed` (never above `ceiling`, `fs.nr_open`; never lowered), and the
/// soft one at the hard one (never above `ceiling` either).
fn wanted(now: Limits, needed: u64, ceiling: u64) -> Limits {
    let hard = now.hard.max(needed.min(ceiling));
    Limits {
        soft: now.soft.max(hard.min(ceiling)),
        hard,
    }
}

fn read() -> Limits {
    let limit = getrlimit(Resource::Nofile);
    Limits {
        soft: limit.current.unwrap_or(u64::MAX),
        hard: limit.maximum.unwrap_or(u64::MAX),
    }
}

fn write(limits: Limits) -> rustix::io::Result<()> {
    let some = |n: u64| (n != u64::MAX).then_some(n);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: some(limits.soft),
            maximum: some(limits.hard),
        },
    )
}

fn nr_open() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(NR_OPEN_DEFAULT)
}

/// Sizes the open file limit for `probes` probes (see the module's text).
/// Failures are logged: lvsd still runs, with fewer probes in flight at
/// once. Returns the soft limit in force.
pub fn raise_for(probes: usize) -> u64 {
    let need = needed(probes);
    let before = read();
    let ceiling = nr_open();
    let mut target = wanted(before, need, ceiling);
    if target != before {
        if let Err(e) = write(target) {
            // No right to raise the hard limit: the soft one up to it.
            let within = wanted(before, 0, ceiling.min(before.hard));
            target = if within != before && write(within).is_ok() {
                within
            } else {
                before
            };
            tracing::debug!(error = %e, hard = before.hard, need, "cannot raise the open file limit to the need");
        }
        if target != before {
            tracing::debug!(
                soft = target.soft,
                hard = target.hard,
                from_soft = before.soft,
                from_hard = before.hard,
                "raised the open file limit"
            );
        }
    }
    if target.soft < need {
        tracing::warn!(
            limit = target.soft,
            need,
            probes,
            "lvsd needs {need} open files ({FILES_PER_PROBE} a probe and {SPARE}) but may \
             open {}: probes beyond that are put off while that many are in flight \
             (raise LimitNOFILE= / ulimit -Hn to {need}, or give lvsd CAP_SYS_RESOURCE)",
            target.soft
        );
    }
    target.soft
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(soft: u64, hard: u64) -> Limits {
        Limits { soft, hard }
    }

    #[test]
    fn a_hard_limit_below_the_need_is_raised_to_it() {
        // The guest's 1,024 / 4,096 at 20,000 probes.
        let need = needed(20_000);
        assert_eq!(need, 40_064);
        assert_eq!(
            wanted(limits(1024, 4096), need, 1 << 20),
            limits(need, need)
        );
    }

    #[test]
    fn a_hard_limit_above_the_need_stays_and_the_soft_one_goes_to_it() {
        assert_eq!(
            wanted(limits(1024, 524_288), needed(100), 1 << 20),
            limits(524_288, 524_288)
        );
    }

    #[test]
    fn nothing_goes_past_nr_open_nor_down() {
        assert_eq!(
            wanted(limits(1024, 4096), needed(1_000_000), 1 << 20),
            limits(1 << 20, 1 << 20)
        );
        // A hard limit of none keeps none; the soft one stops at nr_open.
        assert_eq!(
            wanted(limits(1024, u64::MAX), needed(10), 1 << 20),
            limits(1 << 20, u64::MAX)
        );
        // Limits already above the need are left alone.
        assert_eq!(
            wanted(limits(1 << 20, 1 << 20), needed(10), 1 << 20),
            limits(1 << 20, 1 << 20)
        );
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let hard = read().hard;
        let lowered = limits(256.min(hard), hard);
        write(lowered).expect("lowering the soft limit is always allowed");
        let soft = raise_for(10);
        assert_eq!(read(), limits(hard.min(nr_open()), hard));
        assert_eq!(soft, hard.min(nr_open()));
    }
}
