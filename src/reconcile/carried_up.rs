//! What a reload carries over of each real server's last state.
//!
//! A real server keeps its state across a reload by identity (see
//! [`super::RsIdent`]): its virtual server's address and protocol, its own
//! address and port, wherever it now sits in the config. Keyed by the whole
//! identity, each of 100,000 real servers cost a copy of its virtual
//! server's address and a keyed hash (SipHash) of it, twice. Here a virtual
//! server's identity is numbered once, and a real server is keyed by that
//! number with its address and port: a few words, hashed with
//! FxHash (the `rustc-hash` crate).

use std::net::IpAddr;

use super::VsIdent;
use crate::config::Config;
use rustc_hash::FxHashMap;

/// The last known state of the real servers of a config, by identity.
#[derive(Debug, Default)]
pub struct CarriedUp {
    /// A number for each virtual server identity (its first position).
    vs: FxHashMap<VsIdent, u32>,
    /// Whether each real server was up, by its virtual server's number,
    /// address and port. Only real servers with a known state are here.
    up: FxHashMap<(u32, IpAddr, u16), bool>,
}

impl CarriedUp {
    /// The states `rs_up` (`[vs][rs]`, `None` before a first plan) of the
    /// real servers of `config`. Of two real servers with one identity (two
    /// virtual servers with one address), the later one's state is kept.
    pub fn new(config: &Config, rs_up: &[Vec<Option<bool>>]) -> Self {
        let known: usize = rs_up.iter().flatten().filter(|up| up.is_some()).count();
        if known == 0 {
            return CarriedUp::default();
        }
        let mut out = CarriedUp {
            vs: FxHashMap::with_capacity_and_hasher(
                config.virtual_servers.len(),
                Default::default(),
            ),
            up: FxHashMap::with_capacity_and_hasher(known, Default::default()),
        };
        for (v, (vs, ups)) in config.virtual_servers.iter().zip(rs_up).enumerate() {
            let number = *out.vs.entry(super::vs_ident(vs)).or_insert(v as u32);
            for (rs, up) in vs.real_servers.iter().zip(ups) {
                if let Some(up) = up {
                    out.up.insert((number, rs.addr, rs.port), *up);
                }
            }
        }
        out
    }

    /// The states carried over to the real servers of `config`, `[vs][rs]`.
    pub fn onto(&self, config: &Config) -> Vec<Vec<Option<bool>>> {
        config
            .virtual_servers
            .iter()
            .map(|vs| {
                let number = if self.up.is_empty() {
                    None
                } else {
                    self.vs.get(&super::vs_ident(vs)).copied()
                };
                vs.real_servers
                    .iter()
                    .map(|rs| number.and_then(|n| self.up.get(&(n, rs.addr, rs.port)).copied()))
                    .collect()
            })
            .collect()
    }
}
