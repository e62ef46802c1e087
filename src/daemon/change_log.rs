//! How table changes are logged: one line per change for the few changes of
//! a health flip or a drift repair, a summary line for the thousands of a
//! start or a big reload (their lines are still there at debug level), and
//! every failure on its own line.

use crate::ipvs::{IpvsError, TableOp};
use crate::reconcile::{rs_name, service_name};

/// Batches up to this many changes log every change at info; a larger one
/// (a start, a big reload) logs a one-line summary at info and each change
/// at debug. Failures are always logged one by one.
pub const LOG_EACH_CHANGE_UP_TO: usize = 100;

/// How many changes of each kind a batch made, for its summary line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChangeCounts {
    services_added: usize,
    services_updated: usize,
    services_removed: usize,
    real_servers_added: usize,
    real_servers_updated: usize,
    real_servers_removed: usize,
}

impl ChangeCounts {
    /// The successful changes among `ops`.
    pub fn of(ops: &[TableOp], results: &[Result<(), IpvsError>]) -> Self {
        let mut n = ChangeCounts::default();
        for (op, _) in ops.iter().zip(results).filter(|(_, r)| r.is_ok()) {
            let count = match op {
                TableOp::AddService(_) => &mut n.services_added,
                TableOp::UpdateService(_) => &mut n.services_updated,
                TableOp::RemoveService(_) => &mut n.services_removed,
                TableOp::AddDest(..) => &mut n.real_servers_added,
                TableOp::UpdateDest(..) => &mut n.real_servers_updated,
                TableOp::RemoveDest(..) => &mut n.real_servers_removed,
            };
            *count += 1;
        }
        n
    }

    pub fn log(&self) {
        tracing::info!(
            services_added = self.services_added,
            services_updated = self.services_updated,
            services_removed = self.services_removed,
            real_servers_added = self.real_servers_added,
            real_servers_updated = self.real_servers_updated,
            real_servers_removed = self.real_servers_removed,
            "table changes (each at debug level)"
        );
    }
}

/// Log one change: successes at info (`detail`) or debug, failures as errors.
pub fn log_op(op: &TableOp, result: &Result<(), IpvsError>, detail: bool) {
    if result.is_ok() && !detail && !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let (action, vs, rs) = match op {
        TableOp::AddService(s) => ("adding service", service_name(&s.key), None),
        TableOp::UpdateService(s) => ("updating service", service_name(&s.key), None),
        TableOp::RemoveService(k) => ("removing service", service_name(k), None),
        TableOp::AddDest(k, d) => (
            "adding real server",
            service_name(k),
            Some(rs_name(d.key.addr, d.key.port)),
        ),
        TableOp::UpdateDest(k, d) => (
            if d.weight == 0 {
                "inhibiting real server"
            } else {
                "updating real server"
            },
            service_name(k),
            Some(rs_name(d.key.addr, d.key.port)),
        ),
        TableOp::RemoveDest(k, d) => (
            "removing real server",
            service_name(k),
            Some(rs_name(d.addr, d.port)),
        ),
    };
    // Service changes have no real server: no empty `rs=` field.
    match (result, rs) {
        (Ok(()), Some(rs)) if detail => tracing::info!(vs = %vs, rs = %rs, "{action}"),
        (Ok(()), None) if detail => tracing::info!(vs = %vs, "{action}"),
        (Ok(()), Some(rs)) => tracing::debug!(vs = %vs, rs = %rs, "{action}"),
        (Ok(()), None) => tracing::debug!(vs = %vs, "{action}"),
        (Err(e), Some(rs)) => tracing::error!(vs = %vs, rs = %rs, error = %e, "{action} failed"),
        (Err(e), None) => tracing::error!(vs = %vs, error = %e, "{action} failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{
        DestKey, Destination, ForwardMethod, Protocol, Service, ServiceFlags, ServiceKey, Tunnel,
    };

    fn key() -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        }
    }

    fn dest(last: u8) -> Destination {
        Destination {
            key: DestKey {
                addr: format!("192.0.2.{last}").parse().unwrap(),
                port: 80,
            },
            fwd: ForwardMethod::Masq,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: Tunnel::default(),
        }
    }

    #[test]
    fn counts_successes_by_kind_and_skips_failures() {
        let service = Service {
            key: key(),
            scheduler: "rr".into(),
            flags: ServiceFlags(0),
            timeout: 0,
            netmask: 0xffff_ffff,
            pe_name: None,
        };
        let ops = vec![
            TableOp::AddService(service),
            TableOp::AddDest(key(), dest(1)),
            TableOp::AddDest(key(), dest(2)),
            TableOp::AddDest(key(), dest(3)),
            TableOp::UpdateDest(key(), dest(4)),
            TableOp::RemoveDest(key(), dest(5).key),
            TableOp::RemoveService(key()),
        ];
        let mut results: Vec<Result<(), IpvsError>> = vec![Ok(()); ops.len()];
        results[3] = Err(IpvsError::Protocol("refused".into()));
        assert_eq!(
            ChangeCounts::of(&ops, &results),
            ChangeCounts {
                services_added: 1,
                services_updated: 0,
                services_removed: 1,
                real_servers_added: 2,
                real_servers_updated: 1,
                real_servers_removed: 1,
            }
        );
    }
}
