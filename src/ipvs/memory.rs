//! An in-memory IPVS table with the kernel's identity rules and errors, for
//! unit tests and `--dry-run`. It keeps connection sync daemons too, as
//! the kernel does (one master and one backup at most), so what another
//! program (keepalived's VRRP) starts there can be read back.

use std::collections::BTreeMap;

use super::settings::{SyncDaemon, SyncState};
use super::{
    DestCounts, DestEntry, DestKey, Destination, Family, ForwardMethod, IpvsError, IpvsTable,
    Service, ServiceEntry, ServiceFlags, ServiceKey, Stats, TableOp, TunnelType,
};

/// Schedulers a stock kernel offers (`twos` since Linux 6.2); any other
/// name fails as the kernel's `ENOENT` does when no `ip_vs_NAME` module exists.
pub const KNOWN_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// Persistence engines a stock kernel offers (`ip_vs_pe_sip`).
pub const KNOWN_PERSISTENCE_ENGINES: &[&str] = &["sip"];

/// A table kept in memory, sorted by identity.
#[derive(Debug, Default, Clone)]
pub struct MemoryTable {
    services: BTreeMap<ServiceKey, (Service, BTreeMap<DestKey, Destination>)>,
    writes: u64,
    /// The running sync daemons, master first.
    daemons: Vec<SyncDaemon>,
}

impl MemoryTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many successful changes were applied since creation.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// What the kernel refuses in a service's settings: an unknown
    /// scheduler or persistence engine (`ENOENT`), an IPv6 persistence
    /// prefix outside 1..=128 (`EINVAL`).
    fn check_service(s: &Service) -> Result<(), IpvsError> {
        if !KNOWN_SCHEDULERS.contains(&s.scheduler.as_str()) {
            return Err(IpvsError::no_scheduler(s));
        }
        if let Some(pe) = &s.pe_name {
            if !KNOWN_PERSISTENCE_ENGINES.contains(&pe.as_str()) {
                return Err(IpvsError::no_scheduler(s));
            }
        }
        if s.key.family() == Family::Inet6 && !(1..=128).contains(&s.netmask) {
            return Err(IpvsError::Errno(libc::EINVAL));
        }
        Ok(())
    }

    /// What the kernel refuses in a destination: another address family
    /// unless tunnelling (`EINVAL`), a negative weight or a lower threshold
    /// above the upper one (`ERANGE`), GUE without a port (`EINVAL`).
    fn check_dest(key: &ServiceKey, d: &Destination) -> Result<(), IpvsError> {
        if Family::of(&d.key.addr) != key.family() && d.fwd != ForwardMethod::Tunnel {
            return Err(IpvsError::Errno(libc::EINVAL));
        }
        if d.weight < 0 || d.l_threshold > d.u_threshold {
            return Err(IpvsError::Errno(libc::ERANGE));
        }
        if d.tunnel.kind == TunnelType::Gue && d.tunnel.port == 0 {
            return Err(IpvsError::Errno(libc::EINVAL));
        }
        Ok(())
    }

    /// The service as the kernel keeps what lvsd sends (see
    /// `netlink::attrs::wire_flags`): never `HASHED` in the model, and
    /// `PERSISTENT` exactly when a timeout is set.
    fn normalise(service: &Service) -> Service {
        let mut s = service.clone();
        s.flags.0 &= !ServiceFlags::HASHED;
        if s.timeout > 0 {
            s.flags.0 |= ServiceFlags::PERSISTENT;
        } else {
            s.flags.0 &= !ServiceFlags::PERSISTENT;
        }
        s
    }
}

impl IpvsTable for MemoryTable {
    fn dump(&mut self) -> Result<Vec<ServiceEntry>, IpvsError> {
        Ok(self
            .services
            .values()
            .map(|(service, dests)| ServiceEntry {
                service: service.clone(),
                stats: Stats::default(),
                dests: dests
                    .values()
                    .map(|d| DestEntry {
                        dest: *d,
                        counts: DestCounts::default(),
                        stats: Stats::default(),
                    })
                    .collect(),
            })
            .collect())
    }

    fn apply_one(&mut self, op: &TableOp) -> Result<(), IpvsError> {
        // The checks run in the kernel's order (ip_vs_genl_set_cmd, then
        // ip_vs_add_service / ip_vs_add_dest / ...), so the same error wins.
        match op {
            TableOp::AddService(s) => {
                if self.services.contains_key(&s.key) {
                    return Err(IpvsError::Exists);
                }
                Self::check_service(s)?;
                self.services
                    .insert(s.key, (Self::normalise(s), BTreeMap::new()));
            }
            TableOp::UpdateService(s) => {
                let entry = self.services.get_mut(&s.key).ok_or(IpvsError::NoService)?;
                Self::check_service(s)?;
                entry.0 = Self::normalise(s);
            }
            TableOp::RemoveService(key) => {
                self.services.remove(key).ok_or(IpvsError::NoService)?;
            }
            TableOp::AddDest(key, d) => {
                let (_, dests) = self.services.get_mut(key).ok_or(IpvsError::NoService)?;
                Self::check_dest(key, d)?;
                if dests.contains_key(&d.key) {
                    return Err(IpvsError::Exists);
                }
                dests.insert(d.key, *d);
            }
            TableOp::UpdateDest(key, d) => {
                let (_, dests) = self.services.get_mut(key).ok_or(IpvsError::NoService)?;
                Self::check_dest(key, d)?;
                let slot = dests.get_mut(&d.key).ok_or(IpvsError::NoDestination)?;
                *slot = *d;
            }
            TableOp::RemoveDest(key, d) => {
                let (_, dests) = self.services.get_mut(key).ok_or(IpvsError::NoService)?;
                dests.remove(d).ok_or(IpvsError::NoDestination)?;
            }
        }
        self.writes += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IpvsError> {
        self.services.clear();
        self.writes += 1;
        Ok(())
    }

    /// As the kernel: `EEXIST` when a daemon in that role already runs.
    fn start_sync_daemon(&mut self, daemon: &SyncDaemon) -> Result<(), IpvsError> {
        if self.daemons.iter().any(|d| d.state == daemon.state) {
            return Err(IpvsError::Exists);
        }
        self.daemons.push(daemon.clone());
        self.daemons.sort_by_key(|d| d.state.number());
        Ok(())
    }

    /// As the kernel: `ESRCH` when no daemon runs in that role.
    fn stop_sync_daemon(&mut self, state: SyncState) -> Result<(), IpvsError> {
        let before = self.daemons.len();
        self.daemons.retain(|d| d.state != state);
        match self.daemons.len() < before {
            true => Ok(()),
            false => Err(IpvsError::NoService),
        }
    }

    fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        Ok(self.daemons.clone())
    }
}
