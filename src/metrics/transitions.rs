//! How many times each real server went up and down, for
//! `lvsd_real_server_transitions_total`.
//!
//! Counted from the plan's transitions (the same ones keepalived's notify
//! FIFO lines come from), by the real server's identity, so a reload keeps
//! the counts of the servers that stay and forgets those it removes: their
//! series disappear with them.

use std::collections::HashMap;

use crate::config::Config;
use crate::reconcile::{RsIdent, Transition};

/// Up and down counts by real server.
#[derive(Debug, Default)]
pub struct Transitions {
    counts: HashMap<RsIdent, Flips>,
}

/// How many times one real server went up, and down.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flips {
    /// Times it went up.
    pub to_up: u64,
    /// Times it went down.
    pub to_down: u64,
}

impl Transitions {
    /// Counts the real server transitions among `transitions`.
    pub fn record(&mut self, config: &Config, transitions: &[Transition]) {
        for t in transitions {
            let Transition::RealServer { vs, rs, up } = *t else {
                continue;
            };
            let Some(ident) = ident(config, vs, rs) else {
                continue;
            };
            let flips = self.counts.entry(ident).or_default();
            match up {
                true => flips.to_up += 1,
                false => flips.to_down += 1,
            }
        }
    }

    /// The counts of real server `rs` of virtual server `vs`.
    pub fn of(&self, config: &Config, vs: usize, rs: usize) -> Flips {
        ident(config, vs, rs)
            .and_then(|i| self.counts.get(&i).copied())
            .unwrap_or_default()
    }

    /// After a reload: forget the real servers `config` no longer has.
    pub fn retain(&mut self, config: &Config) {
        if self.counts.is_empty() {
            return;
        }
        let mut kept = HashMap::with_capacity(self.counts.len());
        for (v, vs) in config.virtual_servers.iter().enumerate() {
            for r in 0..vs.real_servers.len() {
                if let Some(i) = ident(config, v, r) {
                    if let Some(c) = self.counts.remove(&i) {
                        kept.insert(i, c);
                    }
                }
            }
        }
        self.counts = kept;
    }
}

fn ident(config: &Config, vs: usize, rs: usize) -> Option<RsIdent> {
    let v = config.virtual_servers.get(vs)?;
    let r = v.real_servers.get(rs)?;
    Some(RsIdent {
        vs: crate::reconcile::vs_ident(v),
        addr: r.addr,
        port: r.port,
    })
}
