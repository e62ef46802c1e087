//! Planning: the table the config and the health ask for now, and the
//! changes that take the kernel there.
//!
//! [`Reconciler::plan`] builds the desired services of the virtual servers
//! that may have changed (see [`super::dirty`]), one virtual server at a
//! time: which real servers are up (with their configured weight, or what
//! their checks ask: see [`super::dynamic_weight`]), whether the virtual
//! server has quorum, and the sorry server, noting each transition
//! ([`super::Transition`]) and the `notify_*` and `quorum_*` scripts it calls
//! for. What an operator asked (see [`super::admin`]) is applied to each
//! real server on the way: drained ones at weight 0, disabled ones as if
//! their checks failed, weight overrides.
//! The changes are the [`diff`] of that against the last known kernel table.

use std::collections::{BTreeMap, BTreeSet};

use super::admin::{self, Effect, RsAdmin};
use super::dirty::Scope;
use super::quorum::{self, QuorumChange};
use super::{
    describe_vs, desired, diff, rs_name, vs_ident, Changes, Plan, Reconciler, ScriptRun, Table,
    Transition,
};
use crate::config::{Script, VirtualServer};
use crate::ipvs::{DestKey, Destination};

impl Reconciler {
    /// The services virtual server `v` asks for now, into `table`; records
    /// its real server and quorum transitions and the scripts they call for.
    fn desired_vs(
        &mut self,
        v: usize,
        scripts: &mut Vec<ScriptRun>,
        transitions: &mut Vec<Transition>,
        table: &mut Table,
    ) {
        let Some(vs) = self.config.virtual_servers.get(v) else {
            return;
        };
        let ident = vs_ident(vs);
        // The destinations in the order a map built insert by insert would
        // take them (a later one replaces an earlier one with the same
        // key), gathered first and then made a map at once (see
        // `desired::dest_map`).
        let mut dests = Vec::with_capacity(vs.real_servers.len() + 1);
        let mut live_weight: i64 = 0;
        let mut live = Vec::with_capacity(vs.real_servers.len());
        // What an operator asked of this virtual server's real servers (no
        // lookup at all in the usual case: nothing asked of anyone).
        let admin = if self.admin.is_empty() {
            None
        } else {
            self.admin.of_vs(&ident)
        };
        drained_removed(admin, &mut dests);
        for (r, rs) in vs.real_servers.iter().enumerate() {
            let up = self.rs_probes.of(v, r).all(|id| self.health[id]);
            let before = self.rs_up[v][r].replace(up);
            if before.is_some_and(|b| b != up) {
                rs_changed(vs, v, r, up, scripts, transitions);
            }
            let effect =
                admin::effect(admin.and_then(|entries| entries.get(&desired::dest_key(rs))));
            let up = up && effect != Effect::Out;
            if up && effect == Effect::Quiesced {
                dests.push(desired::dest_entry(desired::destination(rs, 0)));
            } else if up {
                let weight = if let Effect::AsChecked(Some(weight)) = effect {
                    weight
                } else {
                    self.weights.of(|| self.rs_probes.of(v, r), rs.weight)
                };
                live_weight += i64::from(weight);
                live.push(desired::dest_entry(desired::destination(rs, weight)));
            } else if rs.inhibit_on_failure {
                dests.push(desired::dest_entry(desired::destination(rs, 0)));
            }
        }
        // A virtual server starts without quorum, as in keepalived: its
        // first evaluation with enough live weight is a gain, and runs
        // `quorum_up` (observed with keepalived 2.2.7 in the guest).
        let first = !self.quorum.contains_key(&ident);
        let quorum_up = self.quorum.entry(ident).or_insert(false);
        let change = quorum::evaluate(quorum_up, live_weight, vs.quorum, vs.hysteresis);
        if change != QuorumChange::Same {
            quorum_changed(vs, v, change, live_weight, first, scripts, transitions);
        }
        let dests = with_sorry_server(vs, *quorum_up, dests, live);
        self.insert_services(v, vs, dests, table);
    }

    /// Virtual server `v`'s services, with destinations `dests`, into
    /// `table`: one service unless it is a group, where the last key takes
    /// the destinations and the others get copies.
    fn insert_services(
        &self,
        v: usize,
        vs: &VirtualServer,
        dests: BTreeMap<DestKey, Destination>,
        table: &mut Table,
    ) {
        if let Some((last, others)) = self.vs_keys[v].split_last() {
            for key in others {
                table.insert(*key, (desired::service(vs, *key), dests.clone()));
            }
            table.insert(*last, (desired::service(vs, *last), dests));
        }
    }

    /// What to change now: the diff between the desired table and the last
    /// known kernel table, and the scripts due. Only the virtual servers
    /// whose health or config moved since the last plan are looked at (see
    /// `dirty`); the others cannot have changed.
    pub fn plan(&mut self) -> Plan {
        let mut scripts = Vec::new();
        let mut transitions = Vec::new();
        let mut desired = Table::new();
        let ops = match self.dirty.take() {
            Scope::All => {
                for v in 0..self.config.virtual_servers.len() {
                    self.desired_vs(v, &mut scripts, &mut transitions, &mut desired);
                }
                self.desired_orphans(&mut desired);
                diff::diff(&desired, &self.actual, &self.owned)
            }
            Scope::Some(list) => {
                let mut scope = BTreeSet::new();
                for v in list {
                    self.desired_vs(v, &mut scripts, &mut transitions, &mut desired);
                    scope.extend(self.vs_keys[v].iter().copied());
                }
                diff::diff(&desired, &self.actual, &scope)
            }
        };
        // Only services the cache lacks can be taken whole by `record_outcome`.
        desired.retain(|key, _| !self.actual.contains_key(key));
        Plan {
            changes: Changes {
                ops,
                new_services: desired,
            },
            scripts,
            transitions,
        }
    }
}

/// Real server `r` of virtual server `v` went `up` (or down): the
/// transition, and the `notify_up`/`notify_down` script it calls for.
fn rs_changed(
    vs: &VirtualServer,
    v: usize,
    r: usize,
    up: bool,
    scripts: &mut Vec<ScriptRun>,
    transitions: &mut Vec<Transition>,
) {
    let rs = &vs.real_servers[r];
    transitions.push(Transition::RealServer { vs: v, rs: r, up });
    let (script, event) = if up {
        (&rs.notify_up, "notify_up")
    } else {
        (&rs.notify_down, "notify_down")
    };
    if let Some(script) = script {
        scripts.push(ScriptRun {
            script: Script::clone(script),
            event,
            subject: format!("{} rs={}", describe_vs(vs), rs_name(rs.addr, rs.port)),
        });
    }
}

/// Virtual server `v` gained or lost its quorum (`change` is not `Same`)
/// at `live_weight`: the transition, a log line, and the `quorum_up`/
/// `quorum_down` script it calls for.
fn quorum_changed(
    vs: &VirtualServer,
    v: usize,
    change: QuorumChange,
    live_weight: i64,
    first: bool,
    scripts: &mut Vec<ScriptRun>,
    transitions: &mut Vec<Transition>,
) {
    let lost = change == QuorumChange::Lost;
    transitions.push(Transition::VirtualServer {
        vs: v,
        up: !lost,
        live_weight,
        first,
    });
    let (script, event) = if lost {
        tracing::warn!(vs = %describe_vs(vs), live_weight, quorum = vs.quorum, "lost quorum");
        (&vs.quorum_down, "quorum_down")
    } else {
        tracing::info!(vs = %describe_vs(vs), live_weight, quorum = vs.quorum, "gained quorum");
        (&vs.quorum_up, "quorum_up")
    };
    if let Some(script) = script {
        scripts.push(ScriptRun {
            script: Script::clone(script),
            event,
            subject: describe_vs(vs),
        });
    }
}

/// Real servers a reload removed, kept at weight 0 while they drain (from
/// what an operator asked of the virtual server's real servers), onto `dests`.
fn drained_removed(
    admin: Option<&BTreeMap<DestKey, RsAdmin>>,
    dests: &mut Vec<(DestKey, Destination)>,
) {
    for a in admin.into_iter().flat_map(BTreeMap::values) {
        if let Some(dest) = a.drain.filter(|d| !d.done).and_then(|d| d.removed) {
            dests.push(desired::dest_entry(dest));
        }
    }
}

/// A virtual server's destinations: without quorum the sorry server alone
/// (after `dests`, the ones kept at weight 0); with quorum the `live` ones,
/// after an inhibited sorry server at weight 0.
fn with_sorry_server(
    vs: &VirtualServer,
    quorum_up: bool,
    mut dests: Vec<(DestKey, Destination)>,
    mut live: Vec<(DestKey, Destination)>,
) -> BTreeMap<DestKey, Destination> {
    match (&vs.sorry_server, quorum_up) {
        (Some(sorry), false) => {
            dests.push(desired::dest_entry(desired::sorry_destination(sorry, 1)))
        }
        (sorry, _) => {
            if let Some(sorry) = sorry.as_ref().filter(|s| s.inhibit) {
                dests.push(desired::dest_entry(desired::sorry_destination(sorry, 0)));
            }
            dests.append(&mut live);
        }
    }
    desired::dest_map(dests)
}
