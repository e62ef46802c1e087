//! How the BFD thread is scheduled: `bfd_priority` (its nice value) and
//! `bfd_rt_priority` (`SCHED_RR` at that priority), which keepalived
//! applies to its BFD process and lvsd to its BFD thread alone (the
//! prober and the engine keep the daemon's own scheduling).
//!
//! Both act on the calling thread (Linux schedules threads, not
//! processes: a nice value or a policy set by thread id is that thread's).
//! Raising priority — a negative nice value below the current one, or any
//! real-time policy — needs `CAP_SYS_NICE` (and, under systemd,
//! `RestrictRealtime=no` for `SCHED_RR`); without it the thread runs on as
//! it was, with a warning saying which keyword was not applied and why.
//!
//! And what the scheduler says of the thread when it wakes late
//! ([`RunDelay`]): whether it was kept waiting for a CPU or was not
//! runnable at all.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use rustix::process::{getpriority_process, setpriority_process};
use rustix::thread::gettid;

use crate::config::BfdScheduling;

/// What the thread was started with and what it has been given since.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sched {
    /// The nice value the thread was started with (the daemon's): where
    /// a `bfd_priority` removed on reload goes back to.
    base_nice: i32,
    applied: BfdScheduling,
}

impl Sched {
    /// The calling thread's scheduling as it starts (nothing applied).
    pub(super) fn at_start() -> Sched {
        Sched {
            base_nice: getpriority_process(Some(gettid())).unwrap_or(0),
            applied: BfdScheduling::default(),
        }
    }

    /// Makes the calling thread's scheduling `wanted` (a no-op when it
    /// already is). A setting that cannot be applied is warned about and
    /// not kept, so the next reload tries again.
    pub(super) fn apply(&mut self, wanted: BfdScheduling) {
        if wanted == self.applied {
            return;
        }
        if wanted.nice != self.applied.nice {
            let nice = wanted.nice.map_or(self.base_nice, i32::from);
            match setpriority_process(Some(gettid()), nice) {
                Ok(()) => {
                    tracing::info!(nice, "BFD thread: bfd_priority applied");
                    self.applied.nice = wanted.nice;
                }
                Err(e) => warn_unapplied("bfd_priority", &io::Error::from(e)),
            }
        }
        if wanted.rt_priority != self.applied.rt_priority {
            match set_round_robin(wanted.rt_priority) {
                Ok(()) => {
                    tracing::info!(rt_priority = ?wanted.rt_priority, "BFD thread: bfd_rt_priority applied (SCHED_RR; none: SCHED_OTHER)");
                    self.applied.rt_priority = wanted.rt_priority;
                }
                Err(e) => warn_unapplied("bfd_rt_priority", &e),
            }
        }
    }
}

fn warn_unapplied(keyword: &str, e: &io::Error) {
    let why = match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => {
            "lvsd lacks CAP_SYS_NICE (its systemd unit does not grant it, and sets \
             RestrictRealtime=yes: docs/bfd.md has the drop-in that allows it)"
        }
        _ => "the kernel refused",
    };
    tracing::warn!(keyword, error = %e, "BFD thread: `{keyword}` not applied: {why}; the thread keeps the daemon's scheduling");
}

/// `SCHED_RR` at `priority` for the calling thread, or `SCHED_OTHER`
/// (`None`). Neither nix nor rustix wraps sched_setscheduler(2).
fn set_round_robin(priority: Option<u8>) -> io::Result<()> {
    let (policy, priority) = match priority {
        Some(p) => (libc::SCHED_RR, i32::from(p)),
        None => (libc::SCHED_OTHER, 0),
    };
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid, initialised
    // sched_param that the call only reads.
    let done = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// How old the thread's last `run_delay` reading may grow before a wake-up
/// on time reads it again (at most 100 reads a second, ~0.6 µs each).
const RUN_DELAY_EVERY: Duration = Duration::from_millis(10);

/// The thread's `run_delay` (the second field of
/// `/proc/thread-self/schedstat`: nanoseconds it spent runnable but not
/// running), read at every late wake-up and, to have something to compare
/// it with, at a wake-up on time once the last reading is
/// [`RUN_DELAY_EVERY`] old.
///
/// A wake-up late by as much as the `run_delay` grew was kept off a busy
/// CPU (load; `bfd_rt_priority` is the cure); one late while it hardly
/// grew was not runnable: stopped, blocked in the kernel, or the whole
/// machine paused (a hypervisor).
pub(super) struct RunDelay {
    /// `None`: the kernel keeps no schedstat (no `CONFIG_SCHED_INFO`).
    file: Option<File>,
    /// The last reading, and when it was taken.
    last: Option<(Instant, Duration)>,
}

/// How much the thread's `run_delay` grew, and over how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Queued {
    pub(super) run_delay: Duration,
    pub(super) over: Duration,
}

impl RunDelay {
    /// The calling thread's (`/proc/thread-self` is the opener's).
    pub(super) fn of_this_thread(now: Instant) -> RunDelay {
        let file = File::open("/proc/thread-self/schedstat")
            .inspect_err(|e| tracing::debug!(error = %e, "BFD thread: no schedstat"))
            .ok();
        let mut run_delay = RunDelay { file, last: None };
        run_delay.last = run_delay.read().map(|d| (now, d));
        run_delay
    }

    /// A wake-up on time: reads again when the last reading is
    /// [`RUN_DELAY_EVERY`] old.
    pub(super) fn on_time(&mut self, now: Instant) {
        if self
            .last
            .is_none_or(|(at, _)| now.saturating_duration_since(at) >= RUN_DELAY_EVERY)
        {
            self.last = self.read().map(|d| (now, d)).or(self.last);
        }
    }

    /// A late wake-up: how much `run_delay` grew since the last reading
    /// (`None` without schedstat).
    pub(super) fn late(&mut self, now: Instant) -> Option<Queued> {
        let (at, before) = self.last?;
        let d = self.read()?;
        self.last = Some((now, d));
        Some(Queued {
            run_delay: d.saturating_sub(before),
            over: now.saturating_duration_since(at),
        })
    }

    fn read(&self) -> Option<Duration> {
        let mut buf = [0u8; 96];
        let n = self.file.as_ref()?.read_at(&mut buf, 0).ok()?;
        run_delay(buf.get(..n)?)
    }
}

/// The second field of a schedstat line (`cpu_time run_delay timeslices`).
fn run_delay(schedstat: &[u8]) -> Option<Duration> {
    let field = schedstat.split(u8::is_ascii_whitespace).nth(1)?;
    let ns = std::str::from_utf8(field).ok()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_delay_is_the_second_field_of_schedstat() {
        assert_eq!(
            run_delay(b"112758306 2690647 48\n"),
            Some(Duration::from_nanos(2_690_647))
        );
        assert_eq!(run_delay(b"112758306\n"), None);
        assert_eq!(run_delay(b"1 x 2\n"), None);
        assert_eq!(run_delay(b""), None);
    }

    /// This thread's own schedstat is read, and a late wake-up measures
    /// from the last reading (that the run_delay grows while the thread
    /// waits for a CPU, and not while it is stopped: `tests/checker/bfd_peers.rs`).
    #[test]
    fn a_late_wake_up_reads_the_threads_run_delay() {
        let start = Instant::now();
        let mut r = RunDelay::of_this_thread(start);
        assert!(r.last.is_some(), "no /proc/thread-self/schedstat");
        let q = r.late(start + Duration::from_millis(5)).unwrap();
        assert_eq!(q.over, Duration::from_millis(5));
        assert!(q.run_delay < Duration::from_secs(1), "{q:?}");
    }

    /// In a thread of its own (the scheduling is the thread's): a nice
    /// value is applied and taken back, a priority above the daemon's or a
    /// real-time one only with CAP_SYS_NICE — and without, the thread is
    /// left as it was.
    #[test]
    fn bfd_priority_and_rt_priority_reach_the_thread() {
        std::thread::spawn(|| {
            let nice_now = || getpriority_process(Some(gettid())).unwrap();
            let policy_now = || {
                // SAFETY: sched_getscheduler(2) of the calling thread.
                unsafe { libc::sched_getscheduler(0) }
            };
            let mut s = Sched::at_start();
            let base = nice_now();
            let lower = (base + 5).min(19);
            s.apply(BfdScheduling {
                nice: Some(lower as i8),
                rt_priority: None,
            });
            assert_eq!(nice_now(), lower);
            s.apply(BfdScheduling::default());
            let may_raise = nice_now() == base;
            s.apply(BfdScheduling {
                nice: None,
                rt_priority: Some(10),
            });
            let rt = policy_now() == libc::SCHED_RR;
            let privileged = rustix::thread::capabilities(None)
                .map(|c| {
                    c.effective
                        .contains(rustix::thread::CapabilitySet::SYS_NICE)
                })
                .unwrap_or(false);
            assert_eq!(rt, privileged, "SCHED_RR applied exactly when lvsd may");
            assert!(may_raise || !privileged, "back to the daemon's nice value");
            s.apply(BfdScheduling::default());
            assert_eq!(policy_now(), libc::SCHED_OTHER);
        })
        .join()
        .unwrap();
    }
}
