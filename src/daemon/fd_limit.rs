//! The open file limit a probe per real server needs.
//!
//! Every probe in flight holds a socket, and a config of 20,000 real servers
//! can have thousands in flight at once (a slow backend keeps its socket for
//! the whole `connect_timeout`). The usual soft limit is 1,024 open files:
//! past it, probes fail with "Too many open files" and healthy real servers
//! are removed. So at start lvsd raises its soft limit to the hard limit, as
//! keepalived does, and warns when even the hard limit is below one file per
//! probe.

/// Files lvsd needs besides its probes: the netlink socket, the log, the
/// pid file, scripts' pipes, the runtime's own descriptors.
const SPARE: u64 = 64;

/// Raise the soft `RLIMIT_NOFILE` to the hard one, and warn if that is less
/// than `probes` plus a few spare. Failures are logged: lvsd still runs,
/// with fewer probes in flight at once.
pub fn raise_for(probes: usize) {
    let wanted = probes as u64 + SPARE;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and pass by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!(error = %e, "cannot read the open file limit");
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        let before = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit only reads the struct we pass by pointer.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            let e = std::io::Error::last_os_error();
            tracing::warn!(error = %e, soft = before, "cannot raise the open file limit");
            limit.rlim_cur = before;
        } else {
            tracing::debug!(
                from = before,
                to = limit.rlim_cur,
                "raised the open file limit"
            );
        }
    }
    if limit.rlim_cur < wanted {
        tracing::warn!(
            limit = limit.rlim_cur,
            probes,
            "the open file limit is below one file per probe; probes beyond it fail \
             while that many are in flight (raise LimitNOFILE / ulimit -Hn)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soft_and_hard() -> (u64, u64) {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid out pointer to a local rlimit.
        let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        assert_eq!(status, 0);
        (limit.rlim_cur, limit.rlim_max)
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let (_, hard) = soft_and_hard();
        let lowered = libc::rlimit {
            rlim_cur: 256.min(hard),
            rlim_max: hard,
        };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
        raise_for(20_000);
        assert_eq!(soft_and_hard(), (hard, hard));
    }
}
