//! The fewest operations that turn one table into another.

use std::collections::{BTreeMap, BTreeSet};

use super::desired::Table;
use crate::ipvs::{DestKey, Destination, Service, ServiceKey, TableOp};

/// The operations that make `actual` equal `desired` for the services in
/// `scope` (the services lvsd owns). Services outside `scope` are never
/// touched. Unchanged services and destinations cost nothing.
pub fn diff(desired: &Table, actual: &Table, scope: &BTreeSet<ServiceKey>) -> Vec<TableOp> {
    // Room for every new service's changes at once: a start adds 20,000
    // destinations, and a list grown by doubling copies them over and over.
    let added = scope
        .iter()
        .filter(|key| !actual.contains_key(key))
        .filter_map(|key| desired.get(key))
        .map(|(_, dests)| 1 + dests.len())
        .sum();
    let mut ops = Vec::with_capacity(added);
    for key in scope {
        match (desired.get(key), actual.get(key)) {
            (Some((service, dests)), None) => {
                ops.push(TableOp::AddService(service.clone()));
                ops.extend(dests.values().map(|d| TableOp::AddDest(*key, *d)));
            }
            (Some((want_svc, want_dests)), Some((have_svc, have_dests))) => {
                if want_svc != have_svc {
                    ops.push(TableOp::UpdateService(want_svc.clone()));
                }
                for (have, want) in paired(have_dests, want_dests) {
                    if want.is_none() {
                        ops.push(TableOp::RemoveDest(*key, have.key));
                    }
                }
                for (want, have) in paired(want_dests, have_dests) {
                    match have {
                        None => ops.push(TableOp::AddDest(*key, *want)),
                        Some(have) if have != want => ops.push(TableOp::UpdateDest(*key, *want)),
                        Some(_) => {}
                    }
                }
            }
            (None, Some(_)) => ops.push(TableOp::RemoveService(*key)),
            (None, None) => {}
        }
    }
    ops
}

/// Each destination of `a`, in key order, with the one of `b` that has its
/// key, if any. Both maps are sorted, so one walk along both finds every
/// pair: a few comparisons a destination where a lookup in `b` for each
/// would descend its tree every time.
fn paired<'a>(
    a: &'a BTreeMap<DestKey, Destination>,
    b: &'a BTreeMap<DestKey, Destination>,
) -> impl Iterator<Item = (&'a Destination, Option<&'a Destination>)> {
    let mut b = b.iter().peekable();
    a.iter().map(move |(key, d)| {
        while b.next_if(|(other, _)| *other < key).is_some() {}
        (d, b.next_if(|(other, _)| *other == key).map(|(_, d)| d))
    })
}

/// `table` after `op` was applied successfully.
pub fn apply_to(table: &mut Table, op: &TableOp) {
    match op {
        TableOp::AddService(s) | TableOp::UpdateService(s) => {
            table
                .entry(s.key)
                .or_insert_with(|| (s.clone(), Default::default()))
                .0 = s.clone();
        }
        TableOp::RemoveService(key) => {
            table.remove(key);
        }
        TableOp::AddDest(key, d) | TableOp::UpdateDest(key, d) => {
            if let Some((_, dests)) = table.get_mut(key) {
                dests.insert(d.key, *d);
            }
        }
        TableOp::RemoveDest(key, d) => {
            if let Some((_, dests)) = table.get_mut(key) {
                dests.remove(d);
            }
        }
    }
}

/// `table` after `run` was applied successfully: the `AddService` of a
/// service `table` lacks, then only `AddDest`s of that service.
///
/// Its map is usually in `planned` (the desired table the run came from,
/// see [`super::Reconciler::plan`]): when that entry is exactly the run
/// (same service, same destinations), it is moved over, which costs a
/// comparison a destination. Otherwise the map is built from the run at
/// once (sorted, then filled node by node), which costs a third of
/// inserting the destinations one by one and leaves the nodes full.
pub fn insert_new_service(table: &mut Table, run: &[TableOp], planned: &mut Table) {
    let Some((TableOp::AddService(service), adds)) = run.split_first() else {
        return;
    };
    let is_run = |(want, dests): &(Service, BTreeMap<DestKey, Destination>)| {
        want == service
            && dests.len() == adds.len()
            && dests
                .values()
                .zip(adds)
                .all(|(d, op)| matches!(op, TableOp::AddDest(_, a) if a == d))
    };
    if let Some(entry) = planned.remove(&service.key) {
        if is_run(&entry) {
            table.insert(service.key, entry);
            return;
        }
    }
    let dests = adds
        .iter()
        .filter_map(|op| match op {
            TableOp::AddDest(_, d) => Some((d.key, *d)),
            _ => None,
        })
        .collect();
    table.insert(service.key, (service.clone(), dests));
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::ipvs::{
        DestKey, Destination, ForwardMethod, Protocol, Service, ServiceFlags, Tunnel,
    };

    /// Service 10.0.0.1:`port`/tcp, scheduler `wlc`.
    pub(in crate::reconcile) fn svc(port: u16) -> Service {
        Service {
            key: ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.0.1".parse().unwrap(),
                port,
            },
            scheduler: "wlc".into(),
            flags: ServiceFlags(0),
            timeout: 0,
            netmask: 0xffff_ffff,
            pe_name: None,
        }
    }

    /// Destination 192.0.2.`last`:80, NAT.
    pub(in crate::reconcile) fn dest(last: u8, weight: i32) -> Destination {
        Destination {
            key: DestKey {
                addr: format!("192.0.2.{last}").parse().unwrap(),
                port: 80,
            },
            fwd: ForwardMethod::Masq,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: Tunnel::default(),
        }
    }

    fn table(entries: &[(Service, Vec<Destination>)]) -> Table {
        entries
            .iter()
            .map(|(s, ds)| (s.key, (s.clone(), ds.iter().map(|d| (d.key, *d)).collect())))
            .collect()
    }

    #[test]
    fn paired_finds_each_destination_its_namesake() {
        let map = |lasts: &[u8]| -> BTreeMap<DestKey, Destination> {
            lasts
                .iter()
                .map(|l| (dest(*l, 1).key, dest(*l, *l as i32)))
                .collect()
        };
        let (a, b) = (map(&[1, 3, 5, 7]), map(&[2, 3, 4, 7, 9]));
        let got: Vec<(u8, Option<i32>)> = paired(&a, &b)
            .map(|(d, other)| (d.weight as u8, other.map(|o| o.weight)))
            .collect();
        assert_eq!(got, [(1, None), (3, Some(3)), (5, None), (7, Some(7))]);
        assert_eq!(
            paired(&a, &map(&[])).filter(|(_, o)| o.is_some()).count(),
            0
        );
        assert_eq!(paired(&map(&[]), &b).count(), 0);
    }

    #[test]
    fn equal_tables_need_nothing() {
        let t = table(&[(svc(80), vec![dest(1, 1), dest(2, 1)])]);
        let scope = t.keys().copied().collect();
        assert!(diff(&t, &t, &scope).is_empty());
    }

    #[test]
    fn one_change_is_one_op() {
        let want = table(&[(svc(80), vec![dest(1, 1), dest(2, 5), dest(4, 1)])]);
        let have = table(&[(svc(80), vec![dest(1, 1), dest(2, 1), dest(3, 1)])]);
        let scope = want.keys().copied().collect();
        let key = svc(80).key;
        assert_eq!(
            diff(&want, &have, &scope),
            vec![
                TableOp::RemoveDest(key, dest(3, 1).key),
                TableOp::UpdateDest(key, dest(2, 5)),
                TableOp::AddDest(key, dest(4, 1)),
            ]
        );
    }

    #[test]
    fn services_outside_scope_are_left_alone() {
        let want = table(&[(svc(80), vec![dest(1, 1)])]);
        let have = table(&[(svc(80), vec![dest(1, 1)]), (svc(443), vec![dest(9, 1)])]);
        let scope = want.keys().copied().collect();
        assert!(diff(&want, &have, &scope).is_empty());
    }

    #[test]
    fn owned_service_no_longer_wanted_is_removed() {
        let want = Table::new();
        let have = table(&[(svc(80), vec![dest(1, 1)])]);
        let scope = have.keys().copied().collect();
        assert_eq!(
            diff(&want, &have, &scope),
            vec![TableOp::RemoveService(svc(80).key)]
        );
    }

    #[test]
    fn applying_the_diff_gives_the_desired_table() {
        let want = table(&[
            (svc(80), vec![dest(1, 1), dest(2, 5)]),
            (svc(81), vec![dest(7, 2)]),
        ]);
        let mut have = table(&[(svc(80), vec![dest(2, 1), dest(3, 1)]), (svc(82), vec![])]);
        let scope = want.keys().chain(have.keys()).copied().collect();
        for op in diff(&want, &have, &scope) {
            apply_to(&mut have, &op);
        }
        assert_eq!(have, want);
    }

    #[test]
    fn a_new_service_built_at_once_equals_one_built_change_by_change() {
        // Real servers in an order that is not the map's.
        let run = vec![
            TableOp::AddService(svc(80)),
            TableOp::AddDest(svc(80).key, dest(9, 1)),
            TableOp::AddDest(svc(80).key, dest(2, 3)),
            TableOp::AddDest(svc(80).key, dest(5, 0)),
        ];
        let mut one_by_one = table(&[(svc(81), vec![dest(1, 1)])]);
        let mut at_once = one_by_one.clone();
        for op in &run {
            apply_to(&mut one_by_one, op);
        }
        insert_new_service(&mut at_once, &run, &mut Table::new());
        assert_eq!(at_once, one_by_one);
        assert_eq!(at_once[&svc(80).key].1.len(), 3);
    }

    #[test]
    fn a_planned_service_is_taken_only_when_it_is_exactly_the_run() {
        let key = svc(80).key;
        let run = vec![
            TableOp::AddService(svc(80)),
            TableOp::AddDest(key, dest(1, 1)),
            TableOp::AddDest(key, dest(2, 3)),
        ];
        let mut want = Table::new();
        for op in &run {
            apply_to(&mut want, op);
        }
        let mut other_scheduler = svc(80);
        other_scheduler.scheduler = "rr".into();
        let plans = [
            // Exactly the run: taken.
            table(&[(svc(80), vec![dest(1, 1), dest(2, 3)])]),
            // Another weight, one more destination, one fewer (a run cut
            // short by a refusal), another service: built from the run.
            table(&[(svc(80), vec![dest(1, 1), dest(2, 4)])]),
            table(&[(svc(80), vec![dest(1, 1), dest(2, 3), dest(3, 1)])]),
            table(&[(svc(80), vec![dest(1, 1)])]),
            table(&[(other_scheduler, vec![dest(1, 1), dest(2, 3)])]),
        ];
        for mut planned in plans {
            let mut got = Table::new();
            insert_new_service(&mut got, &run, &mut planned);
            assert_eq!(got, want);
            assert!(planned.is_empty());
        }
    }
}
