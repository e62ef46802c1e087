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
    counts: HashMap<RsIdent, [u64; 2]>,
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
            self.counts.entry(ident).or_default()[usize::from(!up)] += 1;
        }
    }

    /// (to up, to down) of real server `rs` of virtual server `vs`.
    pub fn of(&self, config: &Config, vs: usize, rs: usize) -> (u64, u64) {
        match ident(config, vs, rs).and_then(|i| self.counts.get(&i)) {
            Some([up, down]) => (*up, *down),
            None => (0, 0),
        }
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
