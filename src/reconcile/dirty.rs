//! Which virtual servers the next plan has to look at.
//!
//! A plan compares the table the config asks for with the cached kernel
//! table. Computed whole, that costs time in proportion to the whole config:
//! with 100,000 real servers, every batch of verdicts (one flapping backend,
//! say) would rebuild and compare 100,000 destinations. But a verdict can
//! only change the virtual servers whose real servers use that probe, so
//! the reconciler marks those, and the next plan looks at them alone.
//!
//! Everything is marked when the picture may have moved as a whole: a new
//! config, a fresh dump of the kernel's table (start, and the re-read after
//! a change the kernel refused). A drift check marks only the virtual
//! servers whose services it found changed (see [`super::drift`]). A
//! config in which two virtual servers name the same IPVS service (a group
//! and an address, say) always plans whole: the later one overwrites the
//! earlier one's destinations, and only a whole plan sees both.

use super::rs_probes::RsProbes;

/// What the next plan covers.
#[derive(Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every virtual server, and services no longer in the config.
    All,
    /// These virtual servers (indices into the config, ascending).
    Some(Vec<usize>),
}

/// The marks, and for each probe the virtual servers it serves.
#[derive(Debug, Default)]
pub struct Dirty {
    all: bool,
    /// Plan whole every time (see the module doc).
    always_all: bool,
    /// Marked virtual servers, as flags and in order of marking.
    flags: Vec<bool>,
    list: Vec<u32>,
    /// For each probe, the virtual servers it serves.
    users: ProbeUsers,
}

/// Mark virtual server `v` in `flags`, and list it the first time.
fn mark(flags: &mut [bool], list: &mut Vec<u32>, v: usize) {
    if let Some(flag) = flags.get_mut(v) {
        if !*flag {
            *flag = true;
            list.push(v as u32);
        }
    }
}

/// For each probe, the virtual servers it serves: those of probe `id` are
/// `users[starts[id]..starts[id + 1]]`.
#[derive(Debug, Default, PartialEq, Eq)]
struct ProbeUsers {
    users: Vec<u32>,
    starts: Vec<u32>,
}

impl ProbeUsers {
    /// The virtual servers probe `id` serves (none for an unknown id).
    fn of(&self, id: usize) -> &[u32] {
        let (Some(&from), Some(&to)) = (self.starts.get(id), self.starts.get(id + 1)) else {
            return &[];
        };
        &self.users[from as usize..to as usize]
    }
}

impl Dirty {
    /// Marks for a newly indexed config: everything marked.
    /// `always_all` when two virtual servers share a service.
    pub fn new(rs_probes: &RsProbes, probe_count: usize, always_all: bool) -> Self {
        let vs_count = rs_probes.vs_count();
        let users = if rs_probes.all().eq(0..probe_count) {
            one_each(rs_probes, probe_count)
        } else {
            by_counting(rs_probes, probe_count)
        };
        Dirty {
            all: true,
            always_all,
            flags: vec![false; vs_count],
            list: Vec::new(),
            users,
        }
    }

    /// Probe `id`'s health changed: mark the virtual servers it serves.
    pub fn probe(&mut self, id: usize) {
        if self.all {
            return;
        }
        let Dirty {
            flags, list, users, ..
        } = self;
        for &v in users.of(id) {
            mark(flags, list, v as usize);
        }
    }

    /// Virtual server `v` needs planning (a service of it drifted).
    pub fn vs(&mut self, v: usize) {
        mark(&mut self.flags, &mut self.list, v);
    }

    /// Mark everything.
    pub fn all(&mut self) {
        self.all = true;
    }

    /// What the next plan covers, clearing the marks.
    pub fn take(&mut self) -> Scope {
        let list = std::mem::take(&mut self.list);
        for &v in &list {
            self.flags[v as usize] = false;
        }
        if std::mem::replace(&mut self.all, false) || self.always_all {
            return Scope::All;
        }
        let mut list: Vec<usize> = list.into_iter().map(|v| v as usize).collect();
        list.sort_unstable();
        Scope::Some(list)
    }
}

/// The probes' users when every probe serves exactly one real server and
/// ids follow the config (a start with no check shared): probe `id`'s
/// virtual server is the one its real server is in, and each probe has
/// one user. One walk, where counting takes two.
fn one_each(rs_probes: &RsProbes, probe_count: usize) -> ProbeUsers {
    let mut users = Vec::with_capacity(probe_count);
    for v in 0..rs_probes.vs_count() {
        users.extend(rs_probes.of_vs(v).map(|_| v as u32));
    }
    let starts = (0..=users.len() as u32).collect();
    ProbeUsers { users, starts }
}

/// The probes' users in general: a counting sort of (probe, virtual
/// server) pairs by probe; a probe serving several real servers of one
/// virtual server counts once.
fn by_counting(rs_probes: &RsProbes, probe_count: usize) -> ProbeUsers {
    let vs_count = rs_probes.vs_count();
    let mut counts = vec![0u32; probe_count + 1];
    let mut last = vec![u32::MAX; probe_count];
    for v in 0..vs_count {
        for id in rs_probes.of_vs(v) {
            if last[id] != v as u32 {
                last[id] = v as u32;
                counts[id + 1] += 1;
            }
        }
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    let starts = counts;
    let mut fill = starts.clone();
    let mut users = vec![0u32; starts.last().copied().unwrap_or(0) as usize];
    last.fill(u32::MAX);
    for v in 0..vs_count {
        for id in rs_probes.of_vs(v) {
            if last[id] != v as u32 {
                last[id] = v as u32;
                users[fill[id] as usize] = v as u32;
                fill[id] += 1;
            }
        }
    }
    ProbeUsers { users, starts }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Virtual server 0: probes [0], [1, 0]; 1: [2]; 2: [1].
    fn probes() -> RsProbes {
        let mut p = RsProbes::new();
        p.push_vs();
        p.push_rs([0]);
        p.push_rs([1, 0]);
        p.push_vs();
        p.push_rs([2]);
        p.push_vs();
        p.push_rs([1]);
        p
    }

    #[test]
    fn a_probe_marks_the_virtual_servers_it_serves() {
        let mut d = Dirty::new(&probes(), 3, false);
        assert_eq!(d.take(), Scope::All, "a new config plans whole");
        assert_eq!(d.take(), Scope::Some(vec![]));
        d.probe(1);
        assert_eq!(d.take(), Scope::Some(vec![0, 2]));
        d.probe(2);
        d.probe(0);
        d.probe(2);
        assert_eq!(d.take(), Scope::Some(vec![0, 1]));
        d.probe(7);
        assert_eq!(d.take(), Scope::Some(vec![]), "unknown probes mark nothing");
    }

    #[test]
    fn one_probe_each_in_config_order_gives_what_counting_gives() {
        // Virtual server 0: probes [0], [1]; 1: none; 2: [2], [3].
        let mut p = RsProbes::new();
        p.push_vs();
        p.push_rs([0]);
        p.push_rs([1]);
        p.push_vs();
        p.push_vs();
        p.push_rs([2]);
        p.push_rs([3]);
        assert!(p.all().eq(0..4));
        assert_eq!(one_each(&p, 4), by_counting(&p, 4));
        let mut d = Dirty::new(&p, 4, false);
        d.take();
        d.probe(3);
        d.probe(1);
        assert_eq!(d.take(), Scope::Some(vec![0, 2]));
    }

    #[test]
    fn all_wins_and_shared_services_always_plan_whole() {
        let mut d = Dirty::new(&probes(), 3, false);
        d.take();
        d.probe(2);
        d.all();
        assert_eq!(d.take(), Scope::All);
        assert_eq!(d.take(), Scope::Some(vec![]), "the marks went with it");
        let mut d = Dirty::new(&probes(), 3, true);
        d.take();
        assert_eq!(d.take(), Scope::All);
    }
}
