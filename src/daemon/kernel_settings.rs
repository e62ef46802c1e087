//! IPVS settings outside the table that `global_defs` asks for:
//! `lvs_timeouts` (protocol timeouts), applied at start and again on a
//! reload that changes them.
//!
//! `lvs_sync_daemon` is not applied here: the connection sync daemon
//! belongs to the VRRP side, which switches it between master and backup
//! as its instance changes state; lvsd only watches it (`sync_daemon.rs`).

use crate::config::{GlobalDefs, LvsTimeouts};
use crate::ipvs::settings::Timeouts;
use crate::ipvs::IpvsTable;

/// The kernel's form of `lvs_timeouts`.
pub fn timeouts(t: &LvsTimeouts) -> Timeouts {
    Timeouts {
        tcp: t.tcp,
        tcp_fin: t.tcpfin,
        udp: t.udp,
    }
}

/// Apply what `new` asks for and `old` (the settings in force, `None` at
/// start) did not. Failures are logged: they must not stop health checking.
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
    }
}
