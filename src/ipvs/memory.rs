//! An in-memory IPVS table with the kernel's identity rules and errors, for
//! unit tests and `--dry-run`.

use std::collections::BTreeMap;

use super::{
    DestCounts, DestEntry, DestKey, Destination, IpvsError, IpvsTable, Service, ServiceEntry,
    ServiceFlags, ServiceKey, Stats, TableOp,
};

/// Schedulers a stock kernel offers; any other name fails as the kernel's
/// `ENOENT` does when no `ip_vs_NAME` module exists.
pub const KNOWN_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// A table kept in memory, sorted by identity.
#[derive(Debug, Default, Clone)]
pub struct MemoryTable {
    services: BTreeMap<ServiceKey, (Service, BTreeMap<DestKey, Destination>)>,
    writes: u64,
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
        match op {
            TableOp::AddService(s) => {
                if !KNOWN_SCHEDULERS.contains(&s.scheduler.as_str()) {
                    return Err(IpvsError::NoDestination);
                }
                if self.services.contains_key(&s.key) {
                    return Err(IpvsError::Exists);
                }
                self.services
                    .insert(s.key, (Self::normalise(s), BTreeMap::new()));
            }
            TableOp::UpdateService(s) => {
                if !KNOWN_SCHEDULERS.contains(&s.scheduler.as_str()) {
                    return Err(IpvsError::NoDestination);
                }
                let entry = self.services.get_mut(&s.key).ok_or(IpvsError::NoService)?;
                entry.0 = Self::normalise(s);
            }
            TableOp::RemoveService(key) => {
                self.services.remove(key).ok_or(IpvsError::NoService)?;
            }
            TableOp::AddDest(key, d) => {
                let (_, dests) = self.services.get_mut(key).ok_or(IpvsError::NoService)?;
                if dests.contains_key(&d.key) {
                    return Err(IpvsError::Exists);
                }
                dests.insert(d.key, *d);
            }
            TableOp::UpdateDest(key, d) => {
                let (_, dests) = self.services.get_mut(key).ok_or(IpvsError::NoService)?;
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
}
