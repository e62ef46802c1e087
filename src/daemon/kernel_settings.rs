//! IPVS settings outside the table that `global_defs` asks for:
//! `lvs_timeouts` (protocol timeouts) and `lvs_sync_daemon` (connection
//! state sync). Both are applied at start and again on a reload that
//! changes them.
//!
//! keepalived's VRRP side decides whether the sync daemon runs as master or
//! backup from the state of the named VRRP instance. lvsd runs no VRRP, so
//! it starts the daemon as **backup** (receiving connection state): the
//! state keepalived also starts in before an instance becomes master. A
//! node that must send state runs `ipvsadm --start-daemon master` from its
//! VRRP notify script.

use crate::config::{GlobalDefs, LvsTimeouts, SyncDaemon};
use crate::ipvs::settings::{self, SyncState, Timeouts};
use crate::ipvs::{IpvsError, IpvsTable};

/// The kernel's form of `lvs_timeouts`.
pub fn timeouts(t: &LvsTimeouts) -> Timeouts {
    Timeouts {
        tcp: t.tcp,
        tcp_fin: t.tcpfin,
        udp: t.udp,
    }
}

/// The kernel's form of `lvs_sync_daemon`, as a backup daemon.
pub fn sync_daemon(d: &SyncDaemon) -> settings::SyncDaemon {
    settings::SyncDaemon {
        state: SyncState::Backup,
        mcast_ifn: d.interface.clone(),
        syncid: u32::from(d.sync_id),
        sync_maxlen: d.maxlen.unwrap_or(0),
        mcast_group: d.group,
        mcast_port: d.port.unwrap_or(0),
        mcast_ttl: d.ttl.unwrap_or(0),
    }
}

/// Apply what `new` asks for and `old` (the settings in force, `None` at
/// start) did not. Failures are logged: a missing interface must not stop
/// health checking.
pub fn apply(table: &mut dyn IpvsTable, old: Option<&GlobalDefs>, new: &GlobalDefs) {
    if let Some(t) = &new.lvs_timeouts {
        if old.and_then(|o| o.lvs_timeouts.as_ref()) != Some(t) {
            match table.set_timeouts(&timeouts(t)) {
                Ok(()) => {
                    tracing::info!(
                        tcp = t.tcp,
                        tcpfin = t.tcpfin,
                        udp = t.udp,
                        "lvs_timeouts set"
                    )
                }
                Err(e) => tracing::error!(error = %e, "lvs_timeouts: cannot set"),
            }
        }
    }
    let running = old.and_then(|o| o.lvs_sync_daemon.as_ref());
    if running.is_some() && running != new.lvs_sync_daemon.as_ref() {
        // Changed or gone: the kernel runs one backup daemon at a time, so
        // the old one stops before a new one can start.
        stop_sync_daemon(table);
    }
    if let Some(d) = &new.lvs_sync_daemon {
        if running != Some(d) {
            match table.start_sync_daemon(&sync_daemon(d)) {
                // Left running by an earlier lvsd (the kernel keeps it).
                Err(IpvsError::Exists) => tracing::info!(
                    interface = %d.interface,
                    "lvs_sync_daemon already running"
                ),
                Ok(()) => tracing::info!(
                    interface = %d.interface,
                    sync_id = d.sync_id,
                    "lvs_sync_daemon started as backup"
                ),
                Err(e) => {
                    tracing::error!(interface = %d.interface, error = %e, "lvs_sync_daemon: cannot start")
                }
            }
        }
    }
}

/// At stop (and when a reload drops or changes `lvs_sync_daemon`): stop
/// the backup sync daemon lvsd started. A daemon already gone is no error.
pub fn stop_sync_daemon(table: &mut dyn IpvsTable) {
    match table.stop_sync_daemon(settings::SyncState::Backup) {
        Ok(()) => tracing::info!("lvs_sync_daemon stopped"),
        Err(e) => tracing::warn!(error = %e, "lvs_sync_daemon: cannot stop"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_map_to_the_kernel_fields() {
        let t = timeouts(&LvsTimeouts {
            tcp: 900,
            tcpfin: 120,
            udp: 300,
        });
        assert_eq!((t.tcp, t.tcp_fin, t.udp), (900, 120, 300));
        let d = sync_daemon(&SyncDaemon {
            interface: "eth0".into(),
            instance: "VI_1".into(),
            sync_id: 7,
            maxlen: None,
            port: Some(9000),
            ttl: None,
            group: None,
        });
        assert_eq!(d.state, SyncState::Backup);
        assert_eq!(
            (d.mcast_ifn.as_str(), d.syncid, d.mcast_port),
            ("eth0", 7, 9000)
        );
        assert_eq!((d.sync_maxlen, d.mcast_ttl, d.mcast_group), (0, 0, None));
    }
}
