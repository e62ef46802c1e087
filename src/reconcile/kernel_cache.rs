//! What the reconciler knows of the kernel's table: the cache every plan is
//! diffed against, and the ways it follows the kernel.
//!
//! The cache (`Reconciler::actual`) holds the last table read from or
//! written to the kernel, for the services lvsd owns. It changes only here:
//!
//! - at start, from a dump ([`Reconciler::adopt`]), which also takes real
//!   servers already in the kernel as up;
//! - after each batch of changes, by the ones the kernel accepted
//!   ([`Reconciler::record_outcome`]);
//! - after a change the kernel refused, from a fresh dump
//!   ([`Reconciler::refresh`]);
//! - after a drift check, by the services found changed
//!   ([`Reconciler::absorb_drift`]; the check itself is [`super::drift`]).
//!
//! Each of them marks what the next plan must look at again
//! ([`super::dirty`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::desired::{self, Table};
use super::{diff, drift, Changes, Reconciler};
use crate::config::FlushOnStop;
use crate::ipvs::{IpvsError, ServiceEntry, ServiceKey, TableOp};

/// Batches of at least this many changes (a start, a big reload) repack the
/// cached table (see [`desired::repacked`]).
const REPACK_AFTER: usize = 1000;

/// A dump as a [`Table`], keeping only `scope` and dropping kernel-internal flags.
pub fn table_from_dump(dump: &[ServiceEntry], scope: &BTreeSet<ServiceKey>) -> Table {
    dump.iter()
        .filter(|e| scope.contains(&e.service.key))
        .map(|e| (e.service.key, drift::cached_form(e)))
        .collect()
}

impl Reconciler {
    /// Adopt what the kernel has at start: a real server already present in
    /// one of our services starts up (whatever `alpha` says), so a restart
    /// removes and re-adds nothing while the first probes run. A real server
    /// present at weight 0 under `inhibit_on_failure` was down and starts down.
    pub fn adopt(&mut self, dump: &[ServiceEntry]) {
        self.actual = Arc::new(table_from_dump(dump, &self.owned));
        // Nothing of ours in the kernel (a first start): nothing to adopt.
        let adoptable = if self.actual.is_empty() {
            &[][..]
        } else {
            &self.config.virtual_servers[..]
        };
        for (v, vs) in adoptable.iter().enumerate() {
            // The kernel's destinations of this virtual server's services,
            // looked up once for all its real servers.
            let present_in: Vec<_> = self.vs_keys[v]
                .iter()
                .filter_map(|key| self.actual.get(key).map(|(_, dests)| dests))
                .collect();
            for (r, rs) in vs.real_servers.iter().enumerate() {
                let target = desired::dest_key(rs);
                let present = present_in.iter().find_map(|dests| dests.get(&target));
                if let Some(dest) = present {
                    let up = !(rs.inhibit_on_failure && dest.weight == 0 && rs.weight != 0);
                    for id in self.rs_probes.of(v, r) {
                        self.health[id] = up;
                    }
                }
            }
        }
        self.dirty.all();
    }

    /// Replace the cached kernel table with a fresh dump (after a change
    /// the kernel refused).
    pub fn refresh(&mut self, dump: &[ServiceEntry]) {
        self.actual = Arc::new(table_from_dump(dump, &self.owned));
        self.dirty.all();
    }

    /// What a drift check compares the kernel's table with (see
    /// [`drift::find`]): the cache, shared rather than copied.
    pub fn drift_basis(&self) -> drift::Expected {
        drift::Expected {
            table: Arc::clone(&self.actual),
            owned: self.owned.clone(),
        }
    }

    /// Take in what a drift check found: the cache follows the kernel for
    /// each service that differs, and the next plan looks at the virtual
    /// servers that ask for it (at everything, for a service no virtual
    /// server asks for any more). Nothing found, nothing to plan.
    pub fn absorb_drift(&mut self, drift: drift::Drift) {
        if drift.is_empty() {
            return;
        }
        let actual = Arc::make_mut(&mut self.actual);
        for (key, now) in drift.changed {
            match now {
                Some(service) => actual.insert(key, service),
                None => actual.remove(&key),
            };
            let mut asked = false;
            for (v, keys) in self.vs_keys.iter().enumerate() {
                if keys.contains(&key) {
                    self.dirty.vs(v);
                    asked = true;
                }
            }
            if !asked {
                self.dirty.all();
            }
        }
    }

    /// Record the outcome of sending `changes` (`results`, one a change);
    /// the cached table follows every success. Returns the failures (the
    /// caller should refresh from a dump).
    pub fn record_outcome(
        &mut self,
        changes: Changes,
        results: &[Result<(), IpvsError>],
    ) -> Vec<(TableOp, IpvsError)> {
        let Changes {
            ops,
            new_services: mut planned,
        } = changes;
        // Refusals are rare: the failures are gathered only when there are.
        let failures: Vec<_> = if results.iter().all(Result::is_ok) {
            Vec::new()
        } else {
            ops.iter()
                .zip(results)
                .filter_map(|(op, result)| result.as_ref().err().map(|e| (op.clone(), e.clone())))
                .collect()
        };
        // Changes applied one by one (a map grown insert by insert).
        let mut singly = 0;
        // The cache is written (and copied first, if a drift check still
        // shares it) only when something was accepted.
        if failures.len() < ops.len() {
            let table = Arc::make_mut(&mut self.actual);
            let mut i = 0;
            while i < ops.len() {
                if let Some(end) = new_service_run(table, &ops, results, i) {
                    diff::insert_new_service(table, &ops[i..end], &mut planned);
                    i = end;
                    continue;
                }
                if results[i].is_ok() {
                    diff::apply_to(table, &ops[i]);
                    singly += 1;
                }
                i += 1;
            }
        }
        if !failures.is_empty() {
            // The cache and the kernel disagree somewhere: the next plan
            // looks at everything, so a refused change is tried again.
            self.dirty.all();
        }
        if singly >= REPACK_AFTER {
            let table = std::mem::take(Arc::make_mut(&mut self.actual));
            self.actual = Arc::new(desired::repacked(table));
        }
        let wanted: BTreeSet<ServiceKey> = self.vs_keys.iter().flatten().copied().collect();
        self.owned
            .retain(|k| wanted.contains(k) || self.actual.contains_key(k));
        failures
    }

    /// The changes a stop makes under `mode` (see `lvs_flush_onstop`).
    pub fn stop_changes(&self, mode: FlushOnStop) -> Changes {
        let ops = match mode {
            FlushOnStop::Own | FlushOnStop::All | FlushOnStop::VirtualServers => self
                .actual
                .keys()
                .map(|k| TableOp::RemoveService(*k))
                .collect(),
            FlushOnStop::RealServers => self
                .actual
                .iter()
                .flat_map(|(k, (_, dests))| dests.keys().map(|d| TableOp::RemoveDest(*k, *d)))
                .collect(),
        };
        Changes {
            ops,
            new_services: Table::new(),
        }
    }
}

/// Where the run of accepted changes that adds a service the cache lacks,
/// with its real servers, ends (exclusive), if `ops[start]` begins one:
/// `AddService` then the `AddDest`s of that service. A start or a new
/// virtual server is such runs, and [`diff::insert_new_service`] builds
/// each service's map at once instead of insert by insert.
fn new_service_run(
    table: &Table,
    ops: &[TableOp],
    results: &[Result<(), IpvsError>],
    start: usize,
) -> Option<usize> {
    let TableOp::AddService(service) = &ops[start] else {
        return None;
    };
    if results[start].is_err() || table.contains_key(&service.key) {
        return None;
    }
    let run = ops[start + 1..]
        .iter()
        .zip(&results[start + 1..])
        .take_while(|(op, result)| {
            result.is_ok() && matches!(op, TableOp::AddDest(key, _) if *key == service.key)
        })
        .count();
    Some(start + 1 + run)
}
