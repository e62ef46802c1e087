//! [`CheckMemo`]: the reading of the last `TCP_CHECK` block, reused by the
//! next one of the same virtual server that is written the same way.
//!
//! A big config repeats one checker block under every real server of a
//! virtual server (`TCP_CHECK { connect_timeout 5 }` 100,000 times). What a
//! `TCP_CHECK` block reads into (its connection settings and the inherited
//! timers after its own overrides) depends only on the words of its
//! statements and on what the real server passes down, not on where it is
//! written. So when a block has the same statements, word for word, as the
//! last one read, and its real server passes down the same settings, its
//! reading is the last one's: only its location and its target (the real
//! server's address and port) are its own, and [`Reading::common_for`]
//! fills them in.
//!
//! The lookup is made in one place: for a real server with exactly one
//! checker, a `TCP_CHECK` (nearly every real server of a big config), before
//! the general checker path. Every `TCP_CHECK` read in full is remembered.
//!
//! The memo keeps where the last block is, not a copy of its words: both
//! blocks are in the tree of one top-level block, and their words are
//! compared there. Remembering a block therefore costs no more than its
//! settings, so a config whose blocks all differ pays one comparison that
//! stops at the first differing word, not a copy of every block.
//! [`CheckMemo::forget`] starts each top-level block afresh.
//!
//! A virtual server whose checker blocks all differ would still pay a
//! comparison and a remembering for every block, for nothing: after
//! [`GIVE_UP_AFTER`] misses in a row the memo stops looking (and
//! remembering) until the next top-level block. A config with 100,000
//! different blocks then costs what it cost without a memo.
//!
//! Only a block that was read without a diagnostic is remembered, and only
//! one whose statements have no blocks of their own: an identical block
//! then also reads without a diagnostic, so nothing is lost by not reading
//! it. This is within one reading of a config; nothing is kept from one
//! reading to the next.

use std::cell::Cell;
use std::net::IpAddr;

use super::block::Tree;
use super::inherit::Inherited;
use super::{CheckCommon, Location};

/// Misses in a row after which the memo stops looking for the rest of a
/// top-level block.
const GIVE_UP_AFTER: u32 = 16;

#[cfg(test)]
thread_local! {
    /// Set by tests to read a config with the memo off, to compare what it
    /// reads with the memo on (per thread: tests run side by side).
    static OFF: Cell<bool> = const { Cell::new(false) };
}

/// The last remembered `TCP_CHECK` block of the current top-level block.
#[derive(Default)]
pub struct CheckMemo {
    /// The remembered block's node in the current tree and its reading.
    last: Option<(u32, Reading)>,
    /// What the real server passed down to it.
    passed_down: Inherited,
    /// Lookups that found nothing since the last one that did (a `Cell`:
    /// a lookup hands out a borrowed reading).
    misses: Cell<u32>,
}

/// What a remembered `TCP_CHECK` block read into.
pub struct Reading {
    /// Its settings, resolved for the remembered block's target and location.
    pub common: CheckCommon,
    /// Which parts of its target it names itself.
    pub own: OwnTarget,
}

/// Which parts of its target a checker block names itself
/// (`connect_ip`, `connect_port`); the rest is its real server's.
#[derive(Debug, Clone, Copy)]
pub struct OwnTarget {
    /// It sets `connect_ip` (else the target's address is used).
    pub ip: bool,
    /// It sets `connect_port` (else the target's port is used).
    pub port: bool,
}

impl Reading {
    /// The settings of a block read alike, at `location`, probing `target`
    /// unless the block names its own address or port.
    #[inline]
    pub fn common_for(&self, location: Location, target: (IpAddr, u16)) -> CheckCommon {
        let mut common = self.common.clone();
        common.location = location;
        if !self.own.ip {
            common.connect_ip = target.0;
        }
        if !self.own.port {
            common.connect_port = target.1;
        }
        common
    }
}

impl CheckMemo {
    /// Forget the remembered block: a new tree begins, where its node
    /// number means nothing.
    pub fn forget(&mut self) {
        self.last = None;
        self.misses.set(0);
    }

    /// Whether the memo has stopped looking in this top-level block.
    fn given_up(&self) -> bool {
        self.misses.get() >= GIVE_UP_AFTER
    }

    /// The reading of checker block `node` if it is written as the
    /// remembered one was and `passed_down` is the same.
    #[inline]
    pub fn lookup(&self, tree: &Tree<'_>, node: u32, passed_down: &Inherited) -> Option<&Reading> {
        if self.given_up() {
            return None;
        }
        #[cfg(test)]
        if OFF.with(Cell::get) {
            return None;
        }
        let found = self.find(tree, node, passed_down);
        self.misses.set(if found.is_some() {
            0
        } else {
            self.misses.get() + 1
        });
        found
    }

    /// [`Self::lookup`]'s comparison.
    fn find(&self, tree: &Tree<'_>, node: u32, passed_down: &Inherited) -> Option<&Reading> {
        let (last, reading) = self.last.as_ref()?;
        if !tree.args(node).is_empty() {
            return None;
        }
        let mut theirs = tree.children(*last);
        for child in tree.children(node) {
            let other = theirs.next()?;
            if tree.has_block(child) {
                return None;
            }
            let (a, b) = (tree.statement(child), tree.statement(other));
            if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.text != y.text) {
                return None;
            }
        }
        // What was passed down is compared last: it is the same for every
        // real server of a virtual server, the words are what differ.
        (theirs.next().is_none() && self.passed_down == *passed_down).then_some(reading)
    }

    /// Remember `common` as what block `node` (read without a diagnostic)
    /// read into under `passed_down`, and whether it named its own
    /// `connect_ip` and `connect_port`; unless the block has arguments or
    /// statements with blocks, which are never looked up.
    pub fn remember(
        &mut self,
        tree: &Tree<'_>,
        node: u32,
        passed_down: &Inherited,
        common: &CheckCommon,
        own: OwnTarget,
    ) {
        self.last = None;
        if self.given_up()
            || !tree.args(node).is_empty()
            || tree.children(node).any(|c| tree.has_block(c))
        {
            return;
        }
        self.passed_down.clone_from(passed_down);
        self.last = Some((
            node,
            Reading {
                common: common.clone(),
                own,
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{load_bytes, Check, Config, ConfigError, LoadOptions, Loaded};

    fn read(text: &str) -> Result<Loaded, ConfigError> {
        let opts = LoadOptions {
            config_id: Some("main".into()),
        };
        load_bytes(
            std::path::Path::new("/nonexistent-lvsd-test/memo.conf"),
            text.as_bytes().to_vec(),
            &opts,
        )
    }

    fn load(text: &str) -> Loaded {
        read(text).unwrap()
    }

    /// `text` read with the memo off: every block read for itself.
    fn read_without_memo(text: &str) -> Result<Loaded, ConfigError> {
        super::OFF.with(|off| off.set(true));
        let loaded = read(text);
        super::OFF.with(|off| off.set(false));
        loaded
    }

    /// A config of virtual servers whose real servers take their settings
    /// and their TCP_CHECK blocks from small pools, in an order `seed`
    /// chooses: runs of alike blocks (the memo's case) broken by blocks
    /// and real servers written otherwise.
    fn mixed_config(seed: u64) -> String {
        const BLOCKS: &[&str] = &[
            "",
            "   connect_timeout 3",
            "   connect_timeout 3\n   connect_port 81",
            "   connect_ip 127.0.0.9\n   connect_port 82",
            "   bindto 127.0.0.1\n   bind_port 4000",
            "   retry 4\n   delay_before_retry 2",
            "   warmup 5\n   delay_loop 9",
            "   connect_timeout 3\n   connect_timeout 4",
            "   fwmark 7\n   close_with_reset yes",
            "   nonsense 1",
        ];
        const RS_SETTINGS: &[&str] = &[
            "",
            "  retry 3\n",
            "  delay_loop 7\n",
            "  inhibit_on_failure\n",
            "  weight 2\n  lb_kind DR\n",
        ];
        let mut state = seed;
        let mut pick = |n: usize| {
            // A 64-bit LCG (Knuth's MMIX constants): the same configs every run.
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % n
        };
        let mut text = String::new();
        for v in 0..3 {
            text.push_str(&format!(
                "virtual_server 127.1.0.{} 80 {{\n lb_algo rr\n lb_kind NAT\n protocol TCP\n{}",
                v + 1,
                ["", " delay_loop 11\n", " alpha\n retry 2\n"][pick(3)]
            ));
            let mut block = pick(BLOCKS.len());
            for r in 0..40 {
                // Mostly the block before: runs the memo can follow.
                if pick(4) == 0 {
                    block = pick(BLOCKS.len());
                }
                let port = ["", " 8080", " 0", " 81"][pick(4)];
                // A TCP_CHECK without its block is an error: in one config
                // in eight, so most are read in full.
                let check = match pick(12) {
                    0 if seed % 8 == 7 => "  TCP_CHECK\n".to_owned(),
                    1 => format!(
                        "  TCP_CHECK {{\n{}\n  }}\n  TCP_CHECK {{\n  }}\n",
                        BLOCKS[block]
                    ),
                    _ => format!("  TCP_CHECK {{\n{}\n  }}\n", BLOCKS[block]),
                };
                text.push_str(&format!(
                    " real_server 127.2.{v}.{}{port} {{\n{}{check} }}\n",
                    r + 1,
                    RS_SETTINGS[pick(RS_SETTINGS.len())],
                ));
            }
            text.push_str("}\n");
        }
        text
    }

    /// The memo's invariant: a config reads the same with it as without
    /// it, checks, locations and diagnostics alike.
    #[test]
    fn the_memo_never_changes_what_a_config_reads() {
        let mut hits = 0;
        for seed in 0..40 {
            let text = mixed_config(seed);
            let (with, without) = (read(&text), read_without_memo(&text));
            match (with, without) {
                (Ok(with), Ok(without)) => {
                    assert!(with.config == without.config, "seed {seed}:\n{text}");
                    assert_eq!(with.diagnostics, without.diagnostics, "seed {seed}");
                    hits += 1;
                }
                (Err(with), Err(without)) => {
                    assert_eq!(with.to_string(), without.to_string(), "seed {seed}")
                }
                (with, without) => panic!("seed {seed}: {with:?}\nvs {without:?}"),
            }
        }
        // Not every config may be refused: most must be compared in full.
        assert!(hits > 30, "{hits} of 40 configs read");
    }

    /// The checks of every real server: (connect ip, connect port, connect
    /// timeout in ms, retry, line of the block).
    fn checks(config: &Config) -> Vec<(String, u16, u64, u32, u32)> {
        let vs = &config.virtual_servers[0];
        let mut out = Vec::new();
        for rs in &vs.real_servers {
            for c in rs.checks.iter() {
                let Check::Tcp(t) = &**c else {
                    panic!("not a TCP_CHECK: {c:?}")
                };
                let c = &t.common;
                out.push((
                    c.connect_ip.to_string(),
                    c.connect_port,
                    c.connect_timeout.duration().as_millis() as u64,
                    c.retry,
                    c.location.line,
                ));
            }
        }
        out
    }

    fn config(blocks: &[&str]) -> String {
        let mut text = String::from(
            "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n",
        );
        for (i, block) in blocks.iter().enumerate() {
            text.push_str(&format!(
                " real_server 10.0.1.{} 8080 {{\n  TCP_CHECK {{\n{block}\n  }}\n }}\n",
                i + 1
            ));
        }
        text.push_str("}\n");
        text
    }

    /// A block written like the one before takes its settings with its own
    /// target and location; one written otherwise, or under a real server
    /// that passes down something else, is read for itself.
    #[test]
    fn alike_blocks_share_a_reading_and_keep_their_own_target() {
        let text = config(&[
            "   connect_timeout 3",
            "   connect_timeout 3",
            "   connect_timeout 3\n   connect_port 81",
            "   connect_timeout 3\n   connect_port 81",
            "   connect_timeout 4",
            "   connect_timeout 3",
        ])
        .replace(
            " real_server 10.0.1.6 8080 {\n",
            " real_server 10.0.1.6 8080 {\n  retry 7\n",
        );
        let loaded = load(&text);
        assert_eq!(
            checks(&loaded.config),
            [
                ("10.0.1.1".into(), 8080, 3000, 1, 6),
                ("10.0.1.2".into(), 8080, 3000, 1, 11),
                ("10.0.1.3".into(), 81, 3000, 1, 16),
                ("10.0.1.4".into(), 81, 3000, 1, 22),
                ("10.0.1.5".into(), 8080, 4000, 1, 28),
                ("10.0.1.6".into(), 8080, 3000, 7, 34),
            ]
        );
    }

    /// A block with something to say says it every time it is written.
    #[test]
    fn a_block_with_a_diagnostic_is_read_every_time() {
        let loaded = load(&config(&["   nonsense 1", "   nonsense 1"]));
        let lines: Vec<u32> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.message.contains("nonsense"))
            .map(|d| d.location.line)
            .collect();
        assert_eq!(lines, [7, 12]);
    }

    /// The memo names a block by its place in the tree of one top-level
    /// block: a later, smaller virtual server starts afresh (a place from
    /// the first tree would be past the end of the second).
    #[test]
    fn each_virtual_server_starts_a_fresh_memo() {
        let mut text = config(&["   connect_timeout 3"; 6]);
        text.push_str(
            "virtual_server 10.0.0.2 80 {\n real_server 10.0.2.1 8080 {\n  TCP_CHECK {\n   connect_timeout 3\n  }\n }\n}\n",
        );
        let loaded = load(&text);
        let vs = &loaded.config.virtual_servers[1];
        let Check::Tcp(t) = &*vs.real_servers[0].checks[0] else {
            panic!("not a TCP_CHECK")
        };
        assert_eq!(t.common.connect_ip.to_string(), "10.0.2.1");
        assert_eq!(t.common.connect_timeout.duration().as_millis(), 3000);
    }

    /// Blocks that all differ: the memo gives up, and every block is still
    /// read for itself, its own settings and all.
    #[test]
    fn blocks_that_all_differ_are_each_read_for_themselves() {
        let blocks: Vec<String> = (1..=40)
            .map(|i| format!("   connect_timeout {}", i % 7 + 1))
            .collect();
        let blocks: Vec<&str> = blocks.iter().map(String::as_str).collect();
        let loaded = load(&config(&blocks));
        let timeouts: Vec<u64> = checks(&loaded.config).iter().map(|c| c.2).collect();
        let want: Vec<u64> = (1..=40).map(|i| (i % 7 + 1) * 1000).collect();
        assert_eq!(timeouts, want);
    }
}
