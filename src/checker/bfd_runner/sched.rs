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

use std::io;

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

#[cfg(test)]
mod tests {
    use super::*;

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
