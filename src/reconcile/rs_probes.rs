//! Which probes decide each real server's health, in one flat list.
//!
//! A real server is up when all its probes are (usually one). Kept as a
//! `Vec` per real server inside a `Vec` per virtual server, that is 56 bytes
//! a real server (two `Vec` headers and a heap block for one id); laid out
//! flat, in config order, it is 8: the ids one after another, and where each
//! real server's ids start.

/// Probe ids by real server, addressed `(virtual server, real server)` by
/// their indices in the config.
#[derive(Debug, Default)]
pub struct RsProbes {
    /// Probe ids, real server after real server.
    ids: Vec<u32>,
    /// Where each real server's ids start in `ids`, plus the end of the last.
    rs_start: Vec<u32>,
    /// Where each virtual server's real servers start in `rs_start`.
    vs_start: Vec<u32>,
}

/// Indices are stored as `u32`: a config of four billion real servers or
/// probes is not one lvsd can read.
fn index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl RsProbes {
    /// Empty (tests fill it with `push_vs` and `push_rs`).
    pub fn new() -> Self {
        RsProbes {
            ids: Vec::new(),
            rs_start: vec![0],
            vs_start: Vec::new(),
        }
    }

    /// The probe ids of `config`'s real servers, from `ids`: the probe id
    /// of each check of the config, in config order (as
    /// [`super::probe_index::ProbeIndex::build`] gives them). The list is
    /// kept as it is; only where each real server's ids start is added.
    pub fn of_config(config: &crate::config::Config, ids: Vec<u32>) -> Self {
        let rs_count = config
            .virtual_servers
            .iter()
            .map(|vs| vs.real_servers.len());
        let mut rs_start = Vec::with_capacity(rs_count.sum::<usize>() + 1);
        let mut vs_start = Vec::with_capacity(config.virtual_servers.len());
        let mut at = 0;
        rs_start.push(0);
        for vs in &config.virtual_servers {
            vs_start.push(index(rs_start.len() - 1));
            for rs in &vs.real_servers {
                at += rs.checks.len();
                rs_start.push(index(at));
            }
        }
        RsProbes {
            ids,
            rs_start,
            vs_start,
        }
    }

    /// Start the next virtual server's real servers (tests build tables by
    /// hand this way; a config's is made by `of_config`).
    #[cfg(test)]
    pub fn push_vs(&mut self) {
        self.vs_start.push(index(self.rs_start.len() - 1));
    }

    /// Add the next real server of the current virtual server, with its
    /// probe ids.
    #[cfg(test)]
    pub fn push_rs(&mut self, ids: impl IntoIterator<Item = usize>) {
        self.ids.extend(ids.into_iter().map(index));
        self.rs_start.push(index(self.ids.len()));
    }

    /// The probe ids of real server `r` of virtual server `v`.
    #[inline]
    pub fn of(&self, v: usize, r: usize) -> impl Iterator<Item = usize> + '_ {
        let rs = self.vs_start[v] as usize + r;
        let (from, to) = (self.rs_start[rs] as usize, self.rs_start[rs + 1] as usize);
        self.ids[from..to].iter().map(|id| *id as usize)
    }

    /// Every probe id of virtual server `v`'s real servers.
    #[inline]
    pub fn of_vs(&self, v: usize) -> impl Iterator<Item = usize> + '_ {
        let first = self.vs_start[v] as usize;
        let end = self
            .vs_start
            .get(v + 1)
            .map_or(self.rs_start.len() - 1, |e| *e as usize);
        let (from, to) = (self.rs_start[first] as usize, self.rs_start[end] as usize);
        self.ids[from..to].iter().map(|id| *id as usize)
    }

    /// Every probe id of every real server (an id once per real server it
    /// serves).
    pub fn all(&self) -> impl Iterator<Item = usize> + '_ {
        self.ids.iter().map(|id| *id as usize)
    }

    /// How many virtual servers.
    pub fn vs_count(&self) -> usize {
        self.vs_start.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_servers_find_their_own_ids() {
        let mut p = RsProbes::new();
        p.push_vs();
        p.push_rs([0]);
        p.push_rs([1, 2]);
        p.push_vs();
        p.push_vs();
        p.push_rs([]);
        p.push_rs([0, 3]);
        assert_eq!(p.vs_count(), 3);
        assert_eq!(p.of(0, 0).collect::<Vec<_>>(), vec![0]);
        assert_eq!(p.of(0, 1).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(p.of(2, 0).count(), 0);
        assert_eq!(p.of(2, 1).collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(p.of_vs(0).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(p.of_vs(1).count(), 0);
        assert_eq!(p.of_vs(2).collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(p.all().collect::<Vec<_>>(), vec![0, 1, 2, 0, 3]);
    }
}
