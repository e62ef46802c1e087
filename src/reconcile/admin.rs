//! Admin state: what an operator asked of real servers through `lvsd ctl`
//! (or a reload that removed one), on top of what their checks say.
//!
//! Three things can be asked of a real server of a virtual server:
//!
//! - **drain**: weight 0 in the kernel (no new connections; the established
//!   ones stay), then out of the table once its connections are gone or its
//!   deadline passes (see [`super::drain`]). A drained real server stays out
//!   until `enable`. A real server a reload removed drains the same way, at
//!   the weight-0 destination it last had, and is forgotten once deleted.
//! - **disable**: out of the table, exactly as if its checks failed (weight 0
//!   under `inhibit_on_failure`).
//! - **weight override**: this weight instead of the configured (or
//!   `misc_dynamic`) one, while the real server is up.
//!
//! The admin state is one input of the desired table (`plan.rs` asks
//! [`effect`] for every real server), so drift repair, reloads
//! and verdicts all respect it without knowing of it. It is kept by identity
//! (virtual server address and protocol, real server address and port), so
//! it survives a reload; the daemon writes it to `admin-state.json` in the
//! run directory after every change, so it survives a restart too, drains
//! with their original deadlines.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::VsIdent;
use crate::config::VsAddress;
use crate::ipvs::{DestKey, Destination, Protocol};

/// Milliseconds since the Unix epoch: drain deadlines are wall-clock times,
/// so that a restart resumes them.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A drain in progress, or finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drain {
    /// When it began (ms since the epoch).
    pub started_ms: u64,
    /// When the real server is deleted whatever its connections (ms since
    /// the epoch).
    pub deadline_ms: u64,
    /// The real server was deleted: it stays out until `enable`.
    #[serde(default)]
    pub done: bool,
    /// Set when the config no longer lists the real server (a reload removed
    /// it): the destination kept at weight 0 while it drains. Such an entry
    /// is forgotten when the drain ends.
    #[serde(default)]
    pub removed: Option<Destination>,
}

/// What was asked of one real server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RsAdmin {
    /// `ctl disable`: out of the table as if its checks failed.
    #[serde(default)]
    pub disabled: bool,
    /// `ctl weight`: this weight while up.
    #[serde(default)]
    pub weight: Option<i32>,
    /// `ctl drain`, or a reload that removed it.
    #[serde(default)]
    pub drain: Option<Drain>,
}

impl RsAdmin {
    /// Nothing asked: the entry can go.
    pub fn is_empty(&self) -> bool {
        !self.disabled && self.weight.is_none() && self.drain.is_none()
    }

    /// The state in one word, as `ctl show rs` prints it.
    pub fn word(&self) -> &'static str {
        match (self.disabled, self.drain) {
            (true, _) => "disabled",
            (false, Some(Drain { done: true, .. })) => "drained",
            (false, Some(_)) => "draining",
            (false, None) => "ready",
        }
    }
}

/// What the admin state does to one configured real server in the desired
/// table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// As the checks say, at this weight (the override, else `None`: the
    /// configured or dynamic one).
    AsChecked(Option<i32>),
    /// Draining: present at weight 0 while its checks pass, and not part
    /// of the live weight (quorum).
    Quiesced,
    /// Disabled or drained: treated as a failed check.
    Out,
}

/// Every real server something was asked of, by virtual server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdminState {
    by_vs: HashMap<VsIdent, BTreeMap<DestKey, RsAdmin>>,
}

/// One entry of the file form ([`Persisted`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistedEntry {
    /// The virtual server's address (or fwmark, or group).
    pub vs: VsAddress,
    /// Its protocol.
    pub protocol: Protocol,
    /// The real server.
    pub rs: DestKey,
    /// What was asked of it.
    #[serde(flatten)]
    pub admin: RsAdmin,
}

/// The admin state as `admin-state.json` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Persisted {
    /// The file format (1).
    pub version: u32,
    /// Every entry.
    pub entries: Vec<PersistedEntry>,
}

impl AdminState {
    /// Nothing asked of anyone (the usual case: the plan then looks nothing up).
    pub fn is_empty(&self) -> bool {
        self.by_vs.is_empty()
    }

    /// The entries of one virtual server.
    pub fn of_vs(&self, vs: &VsIdent) -> Option<&BTreeMap<DestKey, RsAdmin>> {
        self.by_vs.get(vs)
    }

    /// One real server's entry.
    pub fn get(&self, vs: &VsIdent, rs: &DestKey) -> Option<&RsAdmin> {
        self.by_vs.get(vs)?.get(rs)
    }

    /// Change one real server's entry with `f`; an entry left empty is
    /// removed. Returns whether anything changed.
    pub fn update(&mut self, vs: &VsIdent, rs: DestKey, f: impl FnOnce(&mut RsAdmin)) -> bool {
        let entries = self.by_vs.entry(vs.clone()).or_default();
        let entry = entries.entry(rs).or_default();
        let before = *entry;
        f(entry);
        let changed = *entry != before;
        if entry.is_empty() {
            entries.remove(&rs);
        }
        if entries.is_empty() {
            self.by_vs.remove(vs);
        }
        changed
    }

    /// Keep only the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&VsIdent, &DestKey, &mut RsAdmin) -> bool) {
        for (vs, entries) in self.by_vs.iter_mut() {
            entries.retain(|rs, admin| keep(vs, rs, admin));
        }
        self.by_vs.retain(|_, entries| !entries.is_empty());
    }

    /// Every entry, in no particular order of virtual servers.
    pub fn iter(&self) -> impl Iterator<Item = (&VsIdent, &DestKey, &RsAdmin)> {
        self.by_vs
            .iter()
            .flat_map(|(vs, entries)| entries.iter().map(move |(rs, a)| (vs, rs, a)))
    }

    /// The file form, sorted so that the same state is the same file.
    pub fn persisted(&self) -> Persisted {
        let mut entries: Vec<PersistedEntry> = self
            .iter()
            .map(|(vs, rs, admin)| PersistedEntry {
                vs: vs.address.clone(),
                protocol: vs.protocol,
                rs: *rs,
                admin: *admin,
            })
            .collect();
        entries.sort_by(|a, b| {
            (format!("{:?}", a.vs), a.protocol, a.rs).cmp(&(
                format!("{:?}", b.vs),
                b.protocol,
                b.rs,
            ))
        });
        Persisted {
            version: 1,
            entries,
        }
    }

    /// The state a file holds.
    pub fn from_persisted(p: Persisted) -> AdminState {
        let mut state = AdminState::default();
        for e in p.entries {
            if !e.admin.is_empty() {
                state
                    .by_vs
                    .entry(VsIdent {
                        address: e.vs,
                        protocol: e.protocol,
                    })
                    .or_default()
                    .insert(e.rs, e.admin);
            }
        }
        state
    }
}

/// What `admin` does to a configured real server.
pub fn effect(admin: Option<&RsAdmin>) -> Effect {
    match admin {
        None => Effect::AsChecked(None),
        Some(a) if a.disabled => Effect::Out,
        Some(RsAdmin { drain: Some(d), .. }) => {
            if d.done {
                Effect::Out
            } else {
                Effect::Quiesced
            }
        }
        Some(a) => Effect::AsChecked(a.weight),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vs() -> VsIdent {
        VsIdent {
            address: VsAddress::Addr {
                addr: "10.0.0.1".parse().unwrap(),
                port: 80,
            },
            protocol: Protocol::Tcp,
        }
    }

    fn rs(n: u8) -> DestKey {
        DestKey {
            addr: std::net::IpAddr::V4([10, 0, 1, n].into()),
            port: 8080,
        }
    }

    #[test]
    fn an_entry_emptied_by_an_update_is_gone() {
        let mut a = AdminState::default();
        assert!(a.update(&vs(), rs(1), |e| e.disabled = true));
        assert!(!a.is_empty());
        assert!(!a.update(&vs(), rs(1), |e| e.disabled = true));
        assert!(a.update(&vs(), rs(1), |e| e.disabled = false));
        assert!(a.is_empty());
    }

    #[test]
    fn effects_rank_disable_over_drain_over_weight() {
        let drain = Drain {
            started_ms: 0,
            deadline_ms: 1,
            done: false,
            removed: None,
        };
        assert_eq!(effect(None), Effect::AsChecked(None));
        let w = RsAdmin {
            weight: Some(7),
            ..Default::default()
        };
        assert_eq!(effect(Some(&w)), Effect::AsChecked(Some(7)));
        let d = RsAdmin {
            drain: Some(drain),
            ..w
        };
        assert_eq!(effect(Some(&d)), Effect::Quiesced);
        let done = RsAdmin {
            drain: Some(Drain {
                done: true,
                ..drain
            }),
            ..w
        };
        assert_eq!(effect(Some(&done)), Effect::Out);
        let off = RsAdmin {
            disabled: true,
            ..d
        };
        assert_eq!(effect(Some(&off)), Effect::Out);
    }

    #[test]
    fn the_file_form_round_trips() {
        let mut a = AdminState::default();
        a.update(&vs(), rs(2), |e| e.weight = Some(3));
        a.update(&vs(), rs(1), |e| {
            e.drain = Some(Drain {
                started_ms: 5,
                deadline_ms: 300_005,
                done: false,
                removed: None,
            })
        });
        let text = serde_json::to_string(&a.persisted()).unwrap();
        let back: Persisted = serde_json::from_str(&text).unwrap();
        assert_eq!(AdminState::from_persisted(back), a);
        assert_eq!(a.persisted().entries[0].rs, rs(1), "sorted");
    }
}
