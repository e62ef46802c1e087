//! The open file limit a probe per real server needs.
//!
//! Every probe in flight holds a socket, and a config of 20,000 real servers
//! can have thousands in flight at once (a slow backend keeps its socket for
//! the whole `connect_timeout`). The usual soft limit is 1,024 open files:
//! past it, probes fail with "Too many open files" and healthy real servers
//! are removed. So at start lvsd raises its soft limit to the hard limit, as
//! keepalived does, and warns when even the hard limit is below one file per
//! probe.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Files lvsd needs besides its probes: the netlink socket, the log, the
/// pid file, scripts' pipes, the runtime's own descriptors.
const SPARE: u64 = 64;

/// Raise the soft `RLIMIT_NOFILE` to the hard one, and warn if that is less
/// than `probes` plus a few spare. Failures are logged: lvsd still runs,
/// with fewer probes in flight at once.
pub fn raise_for(probes: usize) {
    let wanted = probes as u64 + SPARE;
    let limit = getrlimit(Resource::Nofile);
    // None is "unlimited".
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let mut soft = limit.current.unwrap_or(u64::MAX);
    if soft < hard {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Err(e) => {
                tracing::warn!(error = %std::io::Error::from(e), soft, "cannot raise the open file limit")
            }
            Ok(()) => {
                tracing::debug!(from = soft, to = hard, "raised the open file limit");
                soft = hard;
            }
        }
    }
    if soft < wanted {
        tracing::warn!(
            limit = soft,
            probes,
            "the open file limit is below one file per probe; probes beyond it fail \
             while that many are in flight (raise LimitNOFILE / ulimit -Hn)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soft_and_hard() -> (Option<u64>, Option<u64>) {
        let limit = getrlimit(Resource::Nofile);
        (limit.current, limit.maximum)
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let (_, hard) = soft_and_hard();
        let lowered = Rlimit {
            current: Some(hard.map_or(256, |h| h.min(256))),
            maximum: hard,
        };
        setrlimit(Resource::Nofile, lowered).expect("lowering the soft limit");
        raise_for(20_000);
        assert_eq!(soft_and_hard(), (hard, hard));
    }
}
