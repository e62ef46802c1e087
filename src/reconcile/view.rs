//! The reconciler's state, per kernel destination and service, for the
//! metrics: one visit each, nothing copied but numbers.

use std::net::IpAddr;

use crate::ipvs::ServiceKey;

use super::{desired, vs_ident, Reconciler};

/// A real server under one of its virtual server's kernel services.
#[derive(Debug, Clone, Copy)]
pub struct DestView {
    /// The virtual server and real server (indices into the config).
    pub vs: usize,
    /// See `vs`.
    pub rs: usize,
    /// The kernel service.
    pub service: ServiceKey,
    /// The real server's address and port.
    pub addr: IpAddr,
    /// See `addr`.
    pub port: u16,
    /// Healthy: every check up.
    pub up: bool,
    /// The configured weight.
    pub configured_weight: i32,
    /// The weight in lvsd's view of the kernel table; `None` when absent.
    pub weight: Option<i32>,
}

/// A virtual server under one of its kernel services.
#[derive(Debug, Clone, Copy)]
pub struct ServiceView {
    /// The kernel service.
    pub service: ServiceKey,
    /// Real servers configured.
    pub real_servers: usize,
    /// Of which healthy.
    pub up: usize,
    /// Whether the virtual server has its quorum.
    pub quorum_up: bool,
}

impl Reconciler {
    /// Every owned destination of every virtual server, in config order.
    pub fn each_dest(&self, mut f: impl FnMut(DestView)) {
        for (v, vs) in self.config.virtual_servers.iter().enumerate() {
            let keys = self.vs_keys.get(v).map_or(&[][..], Vec::as_slice);
            for (r, rs) in vs.real_servers.iter().enumerate() {
                let up = self.rs_healthy(v, r);
                for service in keys {
                    let dest = desired::dest_key(rs);
                    let weight = self
                        .actual
                        .get(service)
                        .and_then(|(_, dests)| dests.get(&dest))
                        .map(|d| d.weight);
                    f(DestView {
                        vs: v,
                        rs: r,
                        service: *service,
                        addr: rs.addr,
                        port: rs.port,
                        up,
                        configured_weight: rs.weight,
                        weight,
                    });
                }
            }
        }
    }

    /// Every owned service of every virtual server, in config order.
    pub fn each_service(&self, mut f: impl FnMut(ServiceView)) {
        for (v, vs) in self.config.virtual_servers.iter().enumerate() {
            let up = (0..vs.real_servers.len())
                .filter(|&r| self.rs_healthy(v, r))
                .count();
            let quorum_up = self.quorum.get(&vs_ident(vs)).copied().unwrap_or(false);
            for service in self.vs_keys.get(v).map_or(&[][..], Vec::as_slice) {
                f(ServiceView {
                    service: *service,
                    real_servers: vs.real_servers.len(),
                    up,
                    quorum_up,
                });
            }
        }
    }
}
