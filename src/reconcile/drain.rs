//! Draining: when a real server at weight 0 may leave the table, and the
//! reconciler's side of admin state (see [`super::admin`]).
//!
//! A drain ends when the kernel counts no connection left on the
//! destination (active + inactive, and persistence templates for a
//! persistent service: those send a known client back to it), when its
//! deadline passes, or when the destination is gone already (its checks
//! failed, or an operator deleted it with `ipvsadm -d`: the drain is then
//! over, it is not put back). The daemon reads the counts from a dump every
//! `--drain-poll` ([`Reconciler::finish_drains`]).
//!
//! A reload that removes a real server drains it (unless `--drain-timeout
//! 0`, keepalived's immediate delete): the destination it had is kept at
//! weight 0 until the drain ends. A reload that lists it again cancels that
//! drain. A reload that removes a whole virtual server (not a group) drains
//! its real servers the same way: its service stays, as the kernel has it,
//! until the last of them is gone (`Reconciler::desired_orphans`). A real server whose checks fail
//! is never drained: it has no connection worth keeping (as keepalived).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::admin::{now_ms, AdminState, Drain};
use super::{describe_vs, desired, vs_ident, Reconciler, VsIdent};
use crate::config::{Config, VsAddress};
use crate::ipvs::{DestCounts, DestKey, ServiceEntry, ServiceKey};

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainEnd {
    /// No connection left.
    Empty,
    /// The deadline passed with these connections left.
    TimedOut(DestCounts),
    /// The destination is no longer in the kernel.
    Gone,
}

impl DrainEnd {
    /// One word for the log and `ctl`.
    pub fn word(&self) -> &'static str {
        match self {
            DrainEnd::Empty => "completed",
            DrainEnd::TimedOut(_) => "timed_out",
            DrainEnd::Gone => "gone",
        }
    }
}

/// Whether a drain is over, given what the kernel reports of its
/// destination (`None`: absent from every service of the virtual server;
/// else its counts, summed, and whether a service is persistent).
pub fn drain_end(
    found: Option<(DestCounts, bool)>,
    now_ms: u64,
    deadline_ms: u64,
) -> Option<DrainEnd> {
    let (counts, persistent) = match found {
        None => return Some(DrainEnd::Gone),
        Some(f) => f,
    };
    let left = u64::from(counts.active)
        + u64::from(counts.inactive)
        + if persistent {
            u64::from(counts.persistent)
        } else {
            0
        };
    if left == 0 {
        Some(DrainEnd::Empty)
    } else if now_ms >= deadline_ms {
        Some(DrainEnd::TimedOut(counts))
    } else {
        None
    }
}

/// A drain that ended, for the log.
#[derive(Debug, Clone)]
pub struct Ended {
    /// The virtual server, as the log names it.
    pub vs: String,
    /// The real server.
    pub rs: DestKey,
    /// How.
    pub end: DrainEnd,
    /// How long it took (ms).
    pub took_ms: u64,
}

/// The kernel service of a removed virtual server (not a group) that holds
/// real server `rs`: its address's, or its fwmark's in `rs`'s family.
pub fn orphan_key(ident: &VsIdent, rs: &DestKey) -> Option<ServiceKey> {
    match &ident.address {
        VsAddress::Addr { addr, port } => Some(ServiceKey::Addr {
            protocol: ident.protocol,
            addr: *addr,
            port: *port,
        }),
        VsAddress::Fwmark(mark) => Some(ServiceKey::Fwmark {
            family: crate::ipvs::Family::of(&rs.addr),
            mark: *mark,
        }),
        VsAddress::Group(_) => None,
    }
}

/// A removed virtual server as the log names it.
pub fn orphan_name(ident: &VsIdent) -> String {
    format!(
        "{} (removed)",
        super::vs_name(&ident.address, ident.protocol)
    )
}

/// What a reload found for a real server it removed.
fn removed_entry(started_ms: u64, timeout_ms: u64, dest: crate::ipvs::Destination) -> Drain {
    Drain {
        started_ms,
        deadline_ms: started_ms.saturating_add(timeout_ms),
        done: false,
        removed: Some(crate::ipvs::Destination { weight: 0, ..dest }),
    }
}

/// The real servers `config` lists, by virtual server.
fn listed_real_servers(config: &Config) -> HashMap<VsIdent, HashSet<DestKey>> {
    config
        .virtual_servers
        .iter()
        .map(|vs| {
            let rs = vs.real_servers.iter().map(desired::dest_key).collect();
            (vs_ident(vs), rs)
        })
        .collect()
}

impl Reconciler {
    /// The admin state in force.
    pub fn admin(&self) -> &AdminState {
        &self.admin
    }

    /// Start with `admin` (read back from the file at start): entries for
    /// real servers the config does not have are dropped.
    ///
    /// Call after [`Reconciler::adopt`]: a drain whose destination is no
    /// longer in the kernel (lvsd stopped and removed its services, or
    /// someone deleted it) is over, and is not put back at weight 0 only to
    /// be deleted again.
    pub fn restore_admin(&mut self, admin: AdminState) {
        self.admin = admin;
        self.prune_admin();
        let mut over = Vec::new();
        for (v, vs) in self.config.virtual_servers.iter().enumerate() {
            let Some(entries) = self.admin.of_vs(&vs_ident(vs)) else {
                continue;
            };
            for (rs, a) in entries {
                let present = self.vs_keys[v]
                    .iter()
                    .any(|k| self.actual.get(k).is_some_and(|(_, d)| d.contains_key(rs)));
                if a.drain.is_some_and(|d| !d.done) && !present {
                    over.push((vs_ident(vs), *rs));
                }
            }
        }
        let configured: HashSet<VsIdent> =
            self.config.virtual_servers.iter().map(vs_ident).collect();
        for (ident, rs, a) in self.admin.iter() {
            if configured.contains(ident) || a.drain.is_none_or(|d| d.done) {
                continue;
            }
            let present = orphan_key(ident, rs)
                .and_then(|k| self.actual.get(&k))
                .is_some_and(|(_, d)| d.contains_key(rs));
            if !present {
                over.push((ident.clone(), *rs));
            }
        }
        for (ident, rs) in over {
            tracing::info!(rs = %rs, "a drain read back is over: its real server is no longer in the table");
            self.admin.update(&ident, rs, |a| {
                if let Some(d) = &mut a.drain {
                    if d.removed.is_some() {
                        a.drain = None;
                    } else {
                        d.done = true;
                    }
                }
            });
        }
        self.dirty.all();
    }

    /// How long a drain started by a reload lasts; 0 = removed real servers
    /// are deleted at once, as keepalived does (the default here, so the
    /// reconciler alone behaves as keepalived; the daemon sets its option).
    pub fn set_drain_timeout(&mut self, timeout: Duration) {
        self.drain_timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    }

    /// The index of the virtual server with identity `ident`.
    pub fn vs_index(&self, ident: &VsIdent) -> Option<usize> {
        self.config
            .virtual_servers
            .iter()
            .position(|vs| vs_ident(vs) == *ident)
    }

    /// Change what was asked of real server `rs` of virtual server `v`;
    /// the next plan looks at that virtual server. Returns whether
    /// anything changed.
    pub fn update_admin(
        &mut self,
        v: usize,
        rs: DestKey,
        f: impl FnOnce(&mut super::admin::RsAdmin),
    ) -> bool {
        let Some(vs) = self.config.virtual_servers.get(v) else {
            return false;
        };
        let changed = self.admin.update(&vs_ident(vs), rs, f);
        if changed {
            self.dirty.vs(v);
        }
        changed
    }

    /// Whether any drain is in progress (the daemon polls only then).
    pub fn draining(&self) -> bool {
        self.admin
            .iter()
            .any(|(_, _, a)| a.drain.is_some_and(|d| !d.done))
    }

    /// End the drains that are over, given a fresh dump of the table, at
    /// `now_ms`. Ended drains of configured real servers stay (drained,
    /// out until `enable`); those of removed ones are forgotten. The next
    /// plan deletes their destinations.
    pub fn finish_drains(&mut self, dump: &[ServiceEntry], now_ms: u64) -> Vec<Ended> {
        let in_dump: HashMap<ServiceKey, &ServiceEntry> =
            dump.iter().map(|e| (e.service.key, e)).collect();
        let mut ended = Vec::new();
        let mut dirty = Vec::new();
        for (v, vs) in self.config.virtual_servers.iter().enumerate() {
            let Some(entries) = self.admin.of_vs(&vs_ident(vs)) else {
                continue;
            };
            for (rs, a) in entries {
                let Some(drain) = a.drain.filter(|d| !d.done) else {
                    continue;
                };
                let found = self.counts_in_dump(v, rs, &in_dump);
                if let Some(end) = drain_end(found, now_ms, drain.deadline_ms) {
                    ended.push(Ended {
                        vs: describe_vs(vs),
                        rs: *rs,
                        end,
                        took_ms: now_ms.saturating_sub(drain.started_ms),
                    });
                    dirty.push((v, *rs));
                }
            }
        }
        self.finish_orphan_drains(&in_dump, now_ms, &mut ended);
        for (v, rs) in dirty {
            self.update_admin(v, rs, |a| {
                if let Some(d) = &mut a.drain {
                    if d.removed.is_some() {
                        a.drain = None;
                    } else {
                        d.done = true;
                    }
                }
            });
        }
        ended
    }

    /// Real server `rs` of virtual server `v` in the dump: its connection
    /// counts summed over the virtual server's services, and whether any of
    /// them is persistent; `None` if no service holds it.
    fn counts_in_dump(
        &self,
        v: usize,
        rs: &DestKey,
        in_dump: &HashMap<ServiceKey, &ServiceEntry>,
    ) -> Option<(DestCounts, bool)> {
        let mut found: Option<(DestCounts, bool)> = None;
        for key in &self.vs_keys[v] {
            let Some(entry) = in_dump.get(key) else {
                continue;
            };
            if let Some(d) = entry.dests.iter().find(|d| d.dest.key == *rs) {
                let (sum, persistent) = found.get_or_insert((DestCounts::default(), false));
                sum.active = sum.active.saturating_add(d.counts.active);
                sum.inactive = sum.inactive.saturating_add(d.counts.inactive);
                sum.persistent = sum.persistent.saturating_add(d.counts.persistent);
                *persistent |= entry.service.timeout > 0;
            }
        }
        found
    }

    /// The part of [`Reconciler::finish_drains`] for real servers of
    /// removed virtual servers, found in the service the virtual server's
    /// address names: the ended ones onto `ended`, and forgotten.
    fn finish_orphan_drains(
        &mut self,
        in_dump: &HashMap<ServiceKey, &ServiceEntry>,
        now_ms: u64,
        ended: &mut Vec<Ended>,
    ) {
        let configured: HashSet<VsIdent> =
            self.config.virtual_servers.iter().map(vs_ident).collect();
        let mut orphans_ended = Vec::new();
        for (ident, rs, a) in self.admin.iter() {
            let Some(drain) = a.drain.filter(|d| !d.done) else {
                continue;
            };
            if configured.contains(ident) {
                continue;
            }
            let found = orphan_key(ident, rs)
                .and_then(|key| in_dump.get(&key))
                .and_then(|entry| {
                    let d = entry.dests.iter().find(|d| d.dest.key == *rs)?;
                    Some((d.counts, entry.service.timeout > 0))
                });
            if let Some(end) = drain_end(found, now_ms, drain.deadline_ms) {
                ended.push(Ended {
                    vs: orphan_name(ident),
                    rs: *rs,
                    end,
                    took_ms: now_ms.saturating_sub(drain.started_ms),
                });
                orphans_ended.push((ident.clone(), *rs));
            }
        }
        if !orphans_ended.is_empty() {
            self.dirty.all();
        }
        for (ident, rs) in orphans_ended {
            self.admin.update(&ident, rs, |a| a.drain = None);
        }
    }

    /// Into `desired`: the services of removed virtual servers whose real
    /// servers still drain, with those real servers at weight 0 (the
    /// service as the kernel has it). When the last drain of one ends, it is
    /// no longer desired and the next plan (a whole one: see
    /// [`Reconciler::finish_drains`]) removes it.
    pub(super) fn desired_orphans(&self, desired: &mut super::Table) {
        if self.admin.is_empty() {
            return;
        }
        let configured: HashSet<VsIdent> =
            self.config.virtual_servers.iter().map(vs_ident).collect();
        for (ident, _, a) in self.admin.iter() {
            let Some(dest) = a.drain.filter(|d| !d.done).and_then(|d| d.removed) else {
                continue;
            };
            if configured.contains(ident) {
                continue;
            }
            let Some(key) = orphan_key(ident, &dest.key) else {
                continue;
            };
            let Some((service, _)) = self.actual.get(&key) else {
                continue;
            };
            let (_, dests) = desired
                .entry(key)
                .or_insert_with(|| (service.clone(), Default::default()));
            dests.insert(dest.key, dest);
        }
    }

    /// Before a reload switches to `new`: every healthy real server it
    /// removes from a virtual server it keeps starts draining at the
    /// destination it has in the kernel (unless the drain timeout is 0). A
    /// real server already draining keeps its deadline.
    pub(super) fn drain_removed(&mut self, new: &Config) {
        if self.drain_timeout_ms == 0 {
            return;
        }
        let kept = listed_real_servers(new);
        let now = now_ms();
        let mut starts = Vec::new();
        for (v, vs) in self.config.virtual_servers.iter().enumerate() {
            let ident = vs_ident(vs);
            // A removed virtual server drains all its real servers (a group
            // is deleted at once: its services cannot be named without it).
            let listed = match kept.get(&ident) {
                Some(listed) => Some(listed),
                None if matches!(vs.address, VsAddress::Group(_)) => continue,
                None => None,
            };
            for (r, rs) in vs.real_servers.iter().enumerate() {
                let key = desired::dest_key(rs);
                if listed.is_some_and(|l| l.contains(&key)) || !self.rs_healthy(v, r) {
                    continue;
                }
                let dest = self.vs_keys[v]
                    .iter()
                    .find_map(|k| self.actual.get(k).and_then(|(_, d)| d.get(&key)));
                let Some(dest) = dest else { continue };
                let earlier = self.admin.get(&ident, &key).and_then(|a| a.drain);
                let drain = match earlier {
                    Some(d) if d.done => continue,
                    Some(d) => Drain {
                        removed: Some(crate::ipvs::Destination { weight: 0, ..*dest }),
                        ..d
                    },
                    None => removed_entry(now, self.drain_timeout_ms, *dest),
                };
                tracing::info!(
                    vs = %describe_vs(vs),
                    rs = %key,
                    deadline_s = (drain.deadline_ms.saturating_sub(now)) / 1000,
                    "reload removes this real server: draining it"
                );
                starts.push((ident.clone(), key, drain));
            }
        }
        for (ident, key, drain) in starts {
            self.admin.update(&ident, key, |a| {
                *a = super::admin::RsAdmin {
                    drain: Some(drain),
                    ..Default::default()
                }
            });
        }
    }

    /// After a config switch: forget what was asked of virtual servers the
    /// config no longer has, and of real servers it no longer lists (but a
    /// removed one still draining); a removed real server listed again
    /// cancels its drain.
    pub(super) fn prune_admin(&mut self) {
        if self.admin.is_empty() {
            return;
        }
        let listed = listed_real_servers(&self.config);
        self.admin.retain(|vs, rs, a| {
            let Some(set) = listed.get(vs) else {
                // A removed virtual server: only its drains stay.
                return a.drain.is_some_and(|d| !d.done && d.removed.is_some());
            };
            let removed_drain = a.drain.is_some_and(|d| d.removed.is_some());
            if set.contains(rs) {
                if removed_drain {
                    tracing::info!(rs = %rs, "the reload lists this draining real server again: drain cancelled");
                    a.drain = None;
                }
                !a.is_empty()
            } else {
                removed_drain && a.drain.is_some_and(|d| !d.done)
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(active: u32, inactive: u32, persistent: u32) -> DestCounts {
        DestCounts {
            active,
            inactive,
            persistent,
        }
    }

    #[test]
    fn a_drain_ends_with_its_last_connection_or_its_deadline() {
        assert_eq!(
            drain_end(Some((counts(0, 0, 0), false)), 5, 10),
            Some(DrainEnd::Empty)
        );
        assert_eq!(drain_end(Some((counts(1, 0, 0), false)), 5, 10), None);
        assert_eq!(drain_end(Some((counts(0, 1, 0), false)), 5, 10), None);
        assert_eq!(
            drain_end(Some((counts(0, 1, 0), false)), 10, 10),
            Some(DrainEnd::TimedOut(counts(0, 1, 0)))
        );
        assert_eq!(drain_end(None, 5, 10), Some(DrainEnd::Gone));
    }

    #[test]
    fn persistence_templates_count_only_for_persistent_services() {
        assert_eq!(
            drain_end(Some((counts(0, 0, 2), false)), 5, 10),
            Some(DrainEnd::Empty)
        );
        assert_eq!(drain_end(Some((counts(0, 0, 2), true)), 5, 10), None);
    }
}
