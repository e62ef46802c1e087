//! `lvs_sync_daemon`: the kernel's connection sync daemon, which copies the
//! connection table from the active director to the standby so established
//! connections survive a failover. lvsd **watches** it; it never starts or
//! stops it.
//!
//! In keepalived the sync daemon belongs to the VRRP side: `lvs_sync_daemon
//! IFACE INSTANCE` names a `vrrp_instance`, and keepalived's VRRP process
//! (`keepalived -P`, the part an lvsd operator keeps) runs the daemon as
//! master while that instance is MASTER and as backup otherwise. A second
//! program starting or stopping the same kernel object only makes the two
//! fight (keepalived then logs `Daemon has already run(17)` at every
//! transition), so lvsd leaves it to VRRP, as `keepalived -C` does, and:
//!
//! - reads the daemons back from the kernel (`IPVS_CMD_GET_DAEMON`) every
//!   [`POLL`] while the config names one (the kernel announces no change),
//!   logs each one that appears, goes or changes role, and shows them in
//!   the state dump and `lvsd ctl status`;
//! - once, a grace time after a start or a reload that brings or changes
//!   `lvs_sync_daemon`, warns when no daemon runs (nothing runs keepalived's
//!   VRRP: connections will not survive a failover) or when none uses the
//!   interface the config names.
//!
//! [`SyncWatch`] is the pure part (what was seen, what to say); the event
//! loop feeds it what the table reports.

use std::time::{Duration, Instant};

use crate::config;
use crate::ipvs::settings::{SyncDaemon, SyncState};

/// How often the kernel's sync daemons are read while the config names one:
/// one netlink request, a few microseconds.
pub const POLL: Duration = Duration::from_secs(2);

/// What [`SyncWatch::observe`] has to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A daemon runs that did not before (or at the first read).
    Running(SyncDaemon),
    /// A daemon that ran is gone.
    Stopped(SyncDaemon),
    /// The grace time passed and no daemon runs, though the config asks
    /// for one.
    Missing {
        /// The config's `lvs_sync_daemon`.
        wanted: config::SyncDaemon,
        /// How long lvsd waited.
        grace: Duration,
    },
    /// The grace time passed and daemons run, but none on the config's
    /// interface.
    OtherInterface {
        /// The config's `lvs_sync_daemon`.
        wanted: config::SyncDaemon,
        /// What runs.
        running: Vec<SyncDaemon>,
    },
}

/// The sync daemons as last read, and whether the config's ask was judged.
#[derive(Debug)]
pub struct SyncWatch {
    wanted: Option<config::SyncDaemon>,
    grace: Duration,
    /// `None` until the first read.
    seen: Option<Vec<SyncDaemon>>,
    /// When the running daemons are compared with the config (once).
    judge_at: Option<Instant>,
}

impl SyncWatch {
    /// A watch for the config's `lvs_sync_daemon` (`wanted`), judged
    /// `grace` after `now`.
    pub fn new(wanted: Option<&config::SyncDaemon>, grace: Duration, now: Instant) -> SyncWatch {
        SyncWatch {
            wanted: wanted.cloned(),
            grace,
            seen: None,
            judge_at: wanted.map(|_| now + grace),
        }
    }

    /// A reload: a new or changed `lvs_sync_daemon` is judged again a grace
    /// time from `now`; an unchanged one is not judged twice.
    pub fn reload(&mut self, wanted: Option<&config::SyncDaemon>, now: Instant) {
        if self.wanted.as_ref() != wanted {
            self.wanted = wanted.cloned();
            self.judge_at = wanted.map(|_| now + self.grace);
        }
    }

    /// Whether the config names a sync daemon (then it is read every [`POLL`]).
    pub fn wanted(&self) -> bool {
        self.wanted.is_some()
    }

    /// The daemons as last read (none before the first read).
    pub fn running(&self) -> &[SyncDaemon] {
        self.seen.as_deref().unwrap_or_default()
    }

    /// Take the daemons the kernel runs `now`; what changed since the last
    /// read, and the judgement once the grace time is over.
    pub fn observe(&mut self, now_running: Vec<SyncDaemon>, now: Instant) -> Vec<Notice> {
        let before = self.seen.take().unwrap_or_default();
        let mut notices = Vec::new();
        for state in [SyncState::Master, SyncState::Backup] {
            let was = before.iter().find(|d| d.state == state);
            let is = now_running.iter().find(|d| d.state == state);
            if was != is {
                notices.extend(was.cloned().map(Notice::Stopped));
                notices.extend(is.cloned().map(Notice::Running));
            }
        }
        if let (Some(at), Some(wanted)) = (self.judge_at, &self.wanted) {
            if now >= at {
                self.judge_at = None;
                if now_running.is_empty() {
                    notices.push(Notice::Missing {
                        wanted: wanted.clone(),
                        grace: self.grace,
                    });
                } else if !now_running.iter().any(|d| d.mcast_ifn == wanted.interface) {
                    notices.push(Notice::OtherInterface {
                        wanted: wanted.clone(),
                        running: now_running.clone(),
                    });
                }
            }
        }
        self.seen = Some(now_running);
        notices
    }
}

/// `master` or `backup`, as `ipvsadm -L --daemon` says it.
fn role(state: SyncState) -> &'static str {
    match state {
        SyncState::Master => "master",
        SyncState::Backup => "backup",
    }
}

/// One daemon as `ctl status` shows it: `master mcast=eth1 syncid=1`.
pub fn describe(d: &SyncDaemon) -> String {
    format!(
        "{} mcast={} syncid={}",
        role(d.state),
        d.mcast_ifn,
        d.syncid
    )
}

/// Log what [`SyncWatch::observe`] said.
pub fn log(notices: &[Notice]) {
    for notice in notices {
        match notice {
            Notice::Running(d) => tracing::info!(
                role = %role(d.state),
                interface = %d.mcast_ifn,
                sync_id = d.syncid,
                "sync daemon running (started by the VRRP side)"
            ),
            Notice::Stopped(d) => tracing::info!(
                role = %role(d.state),
                interface = %d.mcast_ifn,
                sync_id = d.syncid,
                "sync daemon stopped (by the VRRP side)"
            ),
            Notice::Missing { wanted, grace } => tracing::warn!(
                interface = %wanted.interface,
                instance = %wanted.instance,
                waited_s = grace.as_secs(),
                "lvs_sync_daemon: no sync daemon runs; lvsd leaves it to the VRRP side \
                 (`keepalived -P` runs it for vrrp_instance {}), so without it established \
                 connections will not survive a failover",
                wanted.instance
            ),
            Notice::OtherInterface { wanted, running } => tracing::warn!(
                interface = %wanted.interface,
                running = %running.iter().map(|d| format!("{} on {}", role(d.state), d.mcast_ifn)).collect::<Vec<_>>().join(", "),
                "lvs_sync_daemon: the sync daemons running use another interface than the config names"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{IpvsTable, MemoryTable};

    fn wanted() -> config::SyncDaemon {
        config::SyncDaemon {
            interface: "eth1".into(),
            instance: "VI_1".into(),
            sync_id: 0,
            maxlen: None,
            port: None,
            ttl: None,
            group: None,
        }
    }

    /// What keepalived's VRRP process starts for `state`.
    fn daemon(state: SyncState, ifn: &str) -> SyncDaemon {
        SyncDaemon {
            state,
            mcast_ifn: ifn.into(),
            syncid: 1,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        }
    }

    const GRACE: Duration = Duration::from_secs(30);

    #[test]
    fn follows_what_the_vrrp_side_does_with_the_kernels_daemons() {
        let t0 = Instant::now();
        let mut table = MemoryTable::new();
        let mut watch = SyncWatch::new(Some(&wanted()), GRACE, t0);
        let read = |table: &mut MemoryTable, watch: &mut SyncWatch, at: Duration| {
            watch.observe(table.sync_daemons().unwrap(), t0 + at)
        };
        // Nothing yet, within the grace time: nothing to say.
        assert_eq!(read(&mut table, &mut watch, Duration::ZERO), vec![]);
        // keepalived -P starts: backup.
        let backup = daemon(SyncState::Backup, "eth1");
        table.start_sync_daemon(&backup).unwrap();
        let said = read(&mut table, &mut watch, Duration::from_secs(2));
        assert_eq!(said, vec![Notice::Running(backup.clone())]);
        assert_eq!(watch.running(), std::slice::from_ref(&backup));
        // Its instance becomes MASTER: backup stopped, master started.
        let master = daemon(SyncState::Master, "eth1");
        table.stop_sync_daemon(SyncState::Backup).unwrap();
        table.start_sync_daemon(&master).unwrap();
        let said = read(&mut table, &mut watch, Duration::from_secs(4));
        assert_eq!(
            said,
            vec![
                Notice::Running(master.clone()),
                Notice::Stopped(backup.clone())
            ]
        );
        // Past the grace time a daemon runs on the right interface: no
        // warning, and nothing said while nothing changes.
        assert_eq!(read(&mut table, &mut watch, GRACE), vec![]);
        assert_eq!(read(&mut table, &mut watch, GRACE * 2), vec![]);
        assert_eq!(watch.running(), [master]);
    }

    #[test]
    fn warns_once_when_nothing_runs_the_daemon_after_the_grace_time() {
        let t0 = Instant::now();
        let mut table = MemoryTable::new();
        let mut watch = SyncWatch::new(Some(&wanted()), GRACE, t0);
        let none = table.sync_daemons().unwrap();
        assert_eq!(watch.observe(none.clone(), t0 + GRACE / 2), vec![]);
        let said = watch.observe(none.clone(), t0 + GRACE);
        assert_eq!(
            said,
            vec![Notice::Missing {
                wanted: wanted(),
                grace: GRACE
            }]
        );
        // Once: later reads say nothing more.
        assert_eq!(watch.observe(none.clone(), t0 + GRACE * 3), vec![]);
        // An unchanged reload is not judged again; a changed one is.
        let later = t0 + GRACE * 4;
        watch.reload(Some(&wanted()), later);
        assert_eq!(watch.observe(none.clone(), later + GRACE), vec![]);
        let mut other = wanted();
        other.instance = "VI_2".into();
        watch.reload(Some(&other), later);
        assert_eq!(
            watch.observe(none.clone(), later + GRACE),
            vec![Notice::Missing {
                wanted: other,
                grace: GRACE
            }]
        );
        // A config without lvs_sync_daemon is never judged.
        let mut quiet = SyncWatch::new(None, GRACE, t0);
        assert!(!quiet.wanted());
        assert_eq!(quiet.observe(none, t0 + GRACE * 2), vec![]);
    }

    #[test]
    fn warns_when_the_daemons_use_another_interface() {
        let t0 = Instant::now();
        let mut watch = SyncWatch::new(Some(&wanted()), GRACE, t0);
        let elsewhere = vec![daemon(SyncState::Backup, "eth0")];
        let said = watch.observe(elsewhere.clone(), t0 + GRACE);
        assert_eq!(
            said,
            vec![
                Notice::Running(elsewhere[0].clone()),
                Notice::OtherInterface {
                    wanted: wanted(),
                    running: elsewhere
                }
            ]
        );
    }

    #[test]
    fn the_memory_table_keeps_one_daemon_per_role_as_the_kernel_does() {
        let mut table = MemoryTable::new();
        let backup = daemon(SyncState::Backup, "eth1");
        table.start_sync_daemon(&backup).unwrap();
        assert_eq!(
            table.start_sync_daemon(&backup),
            Err(crate::ipvs::IpvsError::Exists)
        );
        let master = daemon(SyncState::Master, "eth1");
        table.start_sync_daemon(&master).unwrap();
        assert_eq!(table.sync_daemons().unwrap(), vec![master, backup]);
        table.stop_sync_daemon(SyncState::Master).unwrap();
        assert!(table.stop_sync_daemon(SyncState::Master).is_err());
    }
}
