//! Drift: where the kernel's table has moved away from the cached one.
//!
//! Every drift interval lvsd reads its own services back from the kernel
//! and compares them with the table it last read or wrote (the
//! reconciler's cache). Anything else that changed them (`ipvsadm -d`, a
//! weight set by hand, `ipvsadm -C`) shows up as a difference, and the next
//! plan puts it back.
//!
//! Done naively (a dump of every service into one big list, a new cache
//! built from it, then a plan over the whole config) the check cost as much
//! as a start's planning, every 5 s: at 100,000 real servers, about 0.6 s of
//! CPU in the test guest on top of the kernel's own work. Here the kernel's
//! table is read one service at a time ([`IpvsTable::visit`], which does not
//! even read the destinations of services lvsd does not own) and compared
//! with the cache as it arrives; only the services that differ are kept,
//! and only the virtual servers that use them are planned again. A check
//! that finds nothing changes nothing and plans nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::desired::Table;
use crate::ipvs::{
    DestKey, Destination, IpvsError, IpvsTable, Service, ServiceEntry, ServiceFlags, ServiceKey,
};

/// A service as the cache holds it: its settings and destinations by key.
pub type CachedService = (Service, BTreeMap<DestKey, Destination>);

/// What a drift check compares the kernel with: the cached table (shared
/// with the reconciler, not copied) and the services lvsd owns.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The reconciler's cache of the kernel's table.
    pub table: Arc<Table>,
    /// The services lvsd owns: the only ones read and compared.
    pub owned: BTreeSet<ServiceKey>,
}

/// The owned services whose kernel state differs from the cache, each with
/// what the kernel has now (`None`: the service is gone).
#[derive(Debug, Default, PartialEq)]
pub struct Drift {
    /// The services that differ, in the order they were found.
    pub changed: Vec<(ServiceKey, Option<CachedService>)>,
}

impl Drift {
    /// Nothing differs.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty()
    }
}

/// A dumped service as the cache would hold it: the kernel-internal
/// `HASHED` flag dropped, destinations by key.
pub fn cached_form(entry: &ServiceEntry) -> CachedService {
    let mut service = entry.service.clone();
    service.flags.0 &= !ServiceFlags::HASHED;
    let dests = entry.dests.iter().map(|d| (d.dest.key, d.dest)).collect();
    (service, dests)
}

/// Whether the kernel's `entry` is what the cache holds.
fn same(cache: &CachedService, entry: &ServiceEntry) -> bool {
    let service = &entry.service;
    let settings_same = if service.flags.0 & ServiceFlags::HASHED == 0 {
        *service == cache.0
    } else {
        cached_form(entry).0 == cache.0
    };
    settings_same
        && entry.dests.len() == cache.1.len()
        && entry
            .dests
            .iter()
            .all(|d| cache.1.get(&d.dest.key) == Some(&d.dest))
}

/// Read the owned services of `table` and compare each with `expected`.
pub fn find(table: &mut dyn IpvsTable, expected: &Expected) -> Result<Drift, IpvsError> {
    let mut drift = Drift::default();
    let mut present = BTreeSet::new();
    table.visit(&|key| expected.owned.contains(key), &mut |entry| {
        let key = entry.service.key;
        present.insert(key);
        match expected.table.get(&key) {
            Some(cache) if same(cache, entry) => {}
            _ => drift.changed.push((key, Some(cached_form(entry)))),
        }
    })?;
    if present.len() < expected.table.len() {
        for key in expected.table.keys() {
            if !present.contains(key) {
                drift.changed.push((*key, None));
            }
        }
    }
    Ok(drift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{MemoryTable, TableOp};
    use crate::reconcile::diff::tests::{dest, svc};
    use crate::reconcile::table_from_dump;

    fn key(port: u16) -> ServiceKey {
        svc(port).key
    }

    /// Services 80 and 443 (owned, two destinations each) and 8080 (not).
    fn kernel() -> MemoryTable {
        let mut t = MemoryTable::default();
        for port in [80, 443, 8080] {
            t.apply_one(&TableOp::AddService(svc(port))).unwrap();
            for last in [1, 2] {
                t.apply_one(&TableOp::AddDest(key(port), dest(last, 1)))
                    .unwrap();
            }
        }
        t
    }

    fn expected(t: &mut MemoryTable) -> Expected {
        let owned: BTreeSet<_> = [key(80), key(443)].into();
        Expected {
            table: Arc::new(table_from_dump(&t.dump().unwrap(), &owned)),
            owned,
        }
    }

    #[test]
    fn an_unchanged_table_has_no_drift() {
        let mut t = kernel();
        let e = expected(&mut t);
        assert!(find(&mut t, &e).unwrap().is_empty());
    }

    #[test]
    fn each_kind_of_hand_edit_is_found_in_its_service_alone() {
        let mut t = kernel();
        let e = expected(&mut t);
        let edits = [
            TableOp::RemoveDest(key(80), dest(1, 1).key),
            TableOp::UpdateDest(key(80), dest(2, 7)),
            TableOp::AddDest(key(80), dest(3, 1)),
        ];
        for edit in edits {
            let mut t = kernel();
            t.apply_one(&edit).unwrap();
            let drift = find(&mut t, &e).unwrap();
            let now = table_from_dump(&t.dump().unwrap(), &e.owned);
            assert_eq!(
                drift.changed,
                vec![(key(80), now.get(&key(80)).cloned())],
                "{edit:?}"
            );
        }
        let mut t = kernel();
        let mut service = t.dump().unwrap()[1].service.clone();
        service.scheduler = "rr".into();
        t.apply_one(&TableOp::UpdateService(service)).unwrap();
        let drift = find(&mut t, &e).unwrap();
        assert_eq!(drift.changed.len(), 1);
        assert_eq!(drift.changed[0].0, key(443));
    }

    #[test]
    fn a_service_gone_or_reappearing_is_found_and_foreign_ones_are_not() {
        let mut t = kernel();
        let e = expected(&mut t);
        t.apply_one(&TableOp::RemoveService(key(443))).unwrap();
        t.apply_one(&TableOp::RemoveDest(key(8080), dest(1, 1).key))
            .unwrap();
        assert_eq!(find(&mut t, &e).unwrap().changed, vec![(key(443), None)]);
        // Owned but not in the cache (an earlier config's, re-added by hand).
        let mut t = kernel();
        let mut e = expected(&mut t);
        Arc::make_mut(&mut e.table).remove(&key(80));
        let drift = find(&mut t, &e).unwrap();
        assert_eq!(drift.changed.len(), 1);
        assert_eq!(drift.changed[0].0, key(80));
        assert_eq!(drift.changed[0].1.as_ref().unwrap().1.len(), 2);
    }
}
