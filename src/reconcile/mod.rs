//! The reconciler: the desired IPVS table as a function of the config and the
//! health states, diffed against the kernel's own table.
//!
//! The [`Reconciler`] holds no opinion of its own about the kernel: it keeps
//! the last table it read or wrote for the services it owns, and every plan
//! is the [`diff`](diff::diff) between that and the table the config asks for
//! given the current health. Drift repair compares the kernel's table with
//! that cache service by service ([`drift`]) and plans again only the
//! virtual servers whose services it found changed.
//!
//! Its files:
//!
//! - `plan`: the table the config and the health ask for now, and the
//!   changes that take the kernel there.
//! - [`desired`]: the pieces of the wanted table (service keys, services,
//!   destinations), pure functions of the config.
//! - [`diff`]: the fewest operations that turn one table into another.
//! - `dirty`: which virtual servers the next plan has to look at.
//! - [`admin`]: what an operator asked of real servers (drain, disable,
//!   weight), an input of the desired table.
//! - [`drain`]: when a draining real server may leave the table; drains a
//!   reload starts by removing a real server.
//! - `kernel_cache`: the cached kernel table every plan is diffed against,
//!   and how it follows the kernel (adopt, applied changes, refresh, drift).
//! - [`drift`]: where the kernel's table has moved away from the cached one.
//! - `verdicts`: the checker's side: the probes a config asks for, their
//!   verdicts and the weights they ask for.
//! - `quorum`: quorum with hysteresis, per virtual server.
//! - `dynamic_weight`: weights that checks ask for (`misc_dynamic`).
//! - `carried_up`: what a reload carries over of each real server's state.
//! - `first_round`: whether every probe has given its first verdict.
//! - `probe_index`: the distinct probes of a config, found by their spec.
//! - `rs_probes`: which probes decide each real server's health.
//! - [`view`]: the state per kernel destination and service, for the metrics.
//! - `names`: how the log names virtual and real servers.
//! - `tests`: the reconciler's behaviour against an in-memory table.
//! - `tests_admin`: the same with admin state (drains, disables, weight
//!   overrides).

pub mod admin;
mod carried_up;
pub mod desired;
pub mod diff;
mod dirty;
pub mod drain;
pub mod drift;
mod dynamic_weight;
mod first_round;
mod kernel_cache;
mod names;
mod plan;
mod probe_index;
mod quorum;
mod rs_probes;
mod verdicts;
pub mod view;

pub use kernel_cache::table_from_dump;
pub use names::{describe_vs, protocol_name, rs_name, service_name, vs_name};

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::config::{Config, Script, VirtualServer, VsAddress};
use crate::ipvs::{Protocol, ServiceKey, TableOp};
use carried_up::CarriedUp;
use desired::Table;
use dirty::Dirty;
use dynamic_weight::DynamicWeights;
use first_round::FirstRound;
use probe_index::ProbeIndex;
use rs_probes::RsProbes;

/// One real server's health as the state dump shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RealServerState {
    /// The virtual server, as the log names it.
    pub virtual_server: String,
    /// The real server.
    pub real_server: String,
    /// Healthy (every check up).
    pub up: bool,
}

/// A virtual server's identity across reloads: what the kernel keys its
/// service by, so two blocks with the same address and protocol are one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct VsIdent {
    /// Its address (or fwmark, or group).
    pub address: VsAddress,
    /// Its protocol.
    pub protocol: Protocol,
}

/// A real server's identity across reloads: its virtual server, address and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RsIdent {
    /// The virtual server.
    pub vs: VsIdent,
    /// Address.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
}

/// A script the plan asks to run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRun {
    /// What to run.
    pub script: Script,
    /// The event: `notify_up`, `notify_down`, `quorum_up`, `quorum_down`.
    pub event: &'static str,
    /// The virtual (and real) server it is about, for the log.
    pub subject: String,
}

/// A state change, as keepalived reports them on its notify FIFOs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Real server `rs` of virtual server `vs` (indices) went up or down.
    RealServer {
        /// The virtual server.
        vs: usize,
        /// The real server in it.
        rs: usize,
        /// Up now.
        up: bool,
    },
    /// Virtual server `vs` gained (up) or lost its quorum.
    VirtualServer {
        /// The virtual server.
        vs: usize,
        /// Up now.
        up: bool,
        /// The summed weight of its live real servers.
        live_weight: i64,
        /// Its first gain since lvsd started (or the virtual server came).
        first: bool,
    },
}

/// What to do to bring the kernel in line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Table changes, in order, for [`Reconciler::record_outcome`] once sent.
    pub changes: Changes,
    /// Scripts to run for the state changes this plan saw.
    pub scripts: Vec<ScriptRun>,
    /// The state changes themselves, in order.
    pub transitions: Vec<Transition>,
}

impl Plan {
    /// The table changes, in order.
    pub fn ops(&self) -> &[TableOp] {
        self.changes.ops()
    }
}

/// Table changes to send to the kernel, and what recording them needs: the
/// desired entries of the services they add (the cache lacks them), which
/// [`Reconciler::record_outcome`] moves into the cache instead of building them
/// again (see [`diff::insert_new_service`]).
///
/// Made by [`Reconciler::plan`] (or [`Reconciler::stop_changes`]) and
/// consumed by [`Reconciler::record_outcome`], so each recording uses the entries
/// of its own plan: nothing is handed over in a field between the two.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    ops: Vec<TableOp>,
    new_services: Table,
}

impl Changes {
    /// The changes, in order.
    pub fn ops(&self) -> &[TableOp] {
        &self.ops
    }

    /// How many changes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// What [`Reconciler::reload`] did.
#[derive(Debug)]
pub struct Reloaded {
    /// Whether the config changed (an identical one changes nothing).
    pub changed: bool,
    /// The config no longer needed, for the caller to free.
    pub spare: Config,
}

/// Keeps the desired table in step with health, and the kernel in step with it.
#[derive(Debug)]
pub struct Reconciler {
    config: Config,
    /// Distinct probes, by id: where their checks are in `config`.
    probes: ProbeIndex,
    /// Health of each probe, by id.
    health: Vec<bool>,
    /// What `misc_dynamic` and weighted `FILE_CHECK`s asked of weights, by probe id.
    weights: DynamicWeights,
    /// Probe ids of each real server: `[vs][rs]`.
    rs_probes: RsProbes,
    /// Service keys of each virtual server.
    vs_keys: Vec<Vec<ServiceKey>>,
    quorum: HashMap<VsIdent, bool>,
    /// Whether each real server was up at the last plan (`None` before its
    /// first): `[vs][rs]`, like `rs_probes`. Carried across a reload by
    /// identity ([`RsIdent`]).
    rs_up: Vec<Vec<Option<bool>>>,
    owned: BTreeSet<ServiceKey>,
    /// The last table read from or written to the kernel, for the owned
    /// services. Shared with a running drift check ([`drift::Expected`]),
    /// and copied on write only if one still holds it.
    actual: Arc<Table>,
    /// The virtual servers the next plan must look at.
    dirty: Dirty,
    /// Which probes have given a verdict yet.
    first_round: FirstRound,
    /// The engine's `set_keyed_probes` call that keyed this config's probes
    /// by their ids, if any yet (see [`Reconciler::keyed_by`]).
    keyed_set: Option<u32>,
    /// What an operator asked of real servers (see [`admin`]).
    admin: admin::AdminState,
    /// How long a drain a reload starts lasts (ms); 0 = delete at once.
    drain_timeout_ms: u64,
}

/// A virtual server's identity (see [`VsIdent`]).
pub fn vs_ident(vs: &VirtualServer) -> VsIdent {
    VsIdent {
        address: vs.address.clone(),
        protocol: vs.protocol,
    }
}

impl Reconciler {
    /// A reconciler for `config`, with every probe in its initial state
    /// (`alpha`: down, else up) and no knowledge of the kernel yet.
    pub fn new(config: Config) -> Self {
        let mut r = Reconciler {
            config: Config::default(),
            probes: ProbeIndex::default(),
            health: Vec::new(),
            weights: DynamicWeights::default(),
            rs_probes: RsProbes::new(),
            vs_keys: Vec::new(),
            quorum: HashMap::new(),
            rs_up: Vec::new(),
            owned: BTreeSet::new(),
            actual: Arc::default(),
            dirty: Dirty::default(),
            first_round: FirstRound::default(),
            keyed_set: None,
            admin: admin::AdminState::default(),
            drain_timeout_ms: 0,
        };
        drop(r.install(config));
        r
    }

    /// Index `config`: probe ids, service keys, ownership. Health of probes
    /// that were already known is kept; new probes start as `alpha` says.
    /// Returns the config it replaces.
    fn install(&mut self, config: Config) -> Config {
        let old_probes = std::mem::take(&mut self.probes);
        let old_health = std::mem::take(&mut self.health);
        let old_up = CarriedUp::new(&self.config, &self.rs_up);
        let (index, check_ids) = ProbeIndex::build(&config);
        self.rs_probes = RsProbes::of_config(&config, check_ids);
        self.vs_keys.clear();
        for vs in &config.virtual_servers {
            let keys = desired::service_keys(&config, vs);
            self.owned.extend(keys.iter().copied());
            self.vs_keys.push(keys);
        }
        // Each probe's health: what it was under the old config, else what
        // `alpha` says; and whether it has given a verdict yet.
        let mut seen = Vec::with_capacity(index.len());
        self.health = Vec::with_capacity(index.len());
        let reloading = !old_probes.is_empty();
        let mut old_ids = Vec::with_capacity(if reloading { index.len() } else { 0 });
        for id in 0..index.len() {
            let check = index.check(&config, id);
            let old = if reloading {
                old_probes.find_check(&self.config, check)
            } else {
                None
            };
            self.health
                .push(old.map_or(!check.common().alpha, |old| old_health[old]));
            seen.push(old.is_some_and(|old| self.first_round.seen(old)));
            if reloading {
                old_ids.push(old);
            }
        }
        self.weights = self
            .weights
            .carried(index.len(), |id| old_ids.get(id).copied().flatten());
        let idents: std::collections::HashSet<_> =
            config.virtual_servers.iter().map(vs_ident).collect();
        self.quorum.retain(|k, _| idents.contains(k));
        self.rs_up = old_up.onto(&config);
        self.probes = index;
        let keys: usize = self.vs_keys.iter().map(Vec::len).sum();
        let distinct: BTreeSet<&ServiceKey> = self.vs_keys.iter().flatten().collect();
        self.dirty = Dirty::new(&self.rs_probes, self.probes.len(), distinct.len() < keys);
        self.first_round = FirstRound::new(seen);
        // New ids: the engine's keys are this config's once it is told.
        self.keyed_set = None;
        std::mem::replace(&mut self.config, config)
    }

    /// The config in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The services lvsd owns: those its config names, and those an earlier
    /// config named until they are removed.
    pub fn owned(&self) -> &BTreeSet<ServiceKey> {
        &self.owned
    }

    /// Switch to a new, fully validated config. Probes that stay keep their
    /// health; services the old config owned and the new one does not are
    /// removed by the next plan. An identical config (the common SIGHUP) is
    /// recognised by one comparison and re-indexes nothing, so its probes
    /// and their ids stay as they are.
    ///
    /// The config no longer needed (the new one when identical, else the
    /// old one) is handed back rather than dropped here: freeing 100,000
    /// real servers is most of what a reload's comparison costs, and the
    /// caller can do it off its event loop.
    pub fn reload(&mut self, config: Config) -> Reloaded {
        if config == self.config {
            return Reloaded {
                changed: false,
                spare: config,
            };
        }
        self.drain_removed(&config);
        let spare = self.install(config);
        self.prune_admin();
        Reloaded {
            changed: true,
            spare,
        }
    }

    /// Whether real server `r` of virtual server `v` passes its checks.
    pub fn rs_healthy(&self, v: usize, r: usize) -> bool {
        self.rs_probes.of(v, r).all(|id| self.health[id])
    }

    /// The scripts `omega` asks for at stop: `notify_down` of every live real
    /// server and `quorum_down` of every virtual server that had quorum.
    pub fn omega_scripts(&self) -> Vec<ScriptRun> {
        let mut out = Vec::new();
        for (v, vs) in self.config.virtual_servers.iter().enumerate() {
            if !vs.omega {
                continue;
            }
            for (r, rs) in vs.real_servers.iter().enumerate() {
                if let Some(script) = rs.notify_down.as_ref().filter(|_| self.rs_healthy(v, r)) {
                    out.push(ScriptRun {
                        script: Script::clone(script),
                        event: "notify_down",
                        subject: format!("{} rs={}", describe_vs(vs), rs_name(rs.addr, rs.port)),
                    });
                }
            }
            let had_quorum = self.quorum.get(&vs_ident(vs)).copied().unwrap_or(true);
            if let Some(script) = vs.quorum_down.as_ref().filter(|_| had_quorum) {
                out.push(ScriptRun {
                    script: script.clone(),
                    event: "quorum_down",
                    subject: describe_vs(vs),
                });
            }
        }
        out
    }

    /// Whether virtual server `vs` has quorum now.
    pub fn has_quorum(&self, vs: &VirtualServer) -> bool {
        self.quorum.get(&vs_ident(vs)).copied().unwrap_or(false)
    }

    /// The kernel services virtual server `v` stands for.
    pub fn service_keys(&self, v: usize) -> &[ServiceKey] {
        self.vs_keys.get(v).map_or(&[], Vec::as_slice)
    }

    /// Health of every real server, for the state dump.
    pub fn real_server_states(&self) -> Vec<RealServerState> {
        let mut out = Vec::new();
        for (v, vs) in self.config.virtual_servers.iter().enumerate() {
            for (r, rs) in vs.real_servers.iter().enumerate() {
                out.push(RealServerState {
                    virtual_server: describe_vs(vs),
                    real_server: rs_name(rs.addr, rs.port),
                    up: self.rs_healthy(v, r),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_admin;
