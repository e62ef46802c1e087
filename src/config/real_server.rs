//! `real_server IP [PORT] { ... }`.

use rustc_hash::FxBuildHasher;
use std::borrow::Cow;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv6Addr};

use crate::ipvs::ForwardMethod;

use std::sync::Arc;

use super::block::Tree;
use super::inherit::Inherited;
use super::keywords::{CheckKw, InheritKw, RsKw};
use super::typer::Typer;
use super::virtual_server::describe;
use super::{values, Check, Checks, RealServer, TcpCheck, VirtualServer, VsAddress};

impl Typer<'_> {
    /// Type a `real_server` and add it to `vs` (unless it repeats one):
    /// its own settings (the real server's first, as its checkers inherit
    /// them wherever they are written), whether it fits its virtual
    /// server, then its checks (the last block's reading, see `check_memo`,
    /// or read in full).
    ///
    /// Kept in one piece on purpose: split into phases it cost `lvsd -t`
    /// 1-1.6 % more instructions (callgrind, 20,000 real servers), the
    /// phases passing the real server through memory.
    pub fn real_server(
        &mut self,
        tree: &Tree<'_>,
        node: u32,
        vs: &mut VirtualServer,
        vs_inherited: &Inherited,
        seen: &mut SeenRealServers,
    ) {
        let kw = tree.keyword(node);
        let Some(addr) = self.ip_arg(tree, node) else {
            return;
        };
        let vs_port = match vs.address {
            VsAddress::Addr { port, .. } => Some(port),
            _ => None,
        };
        // Port 0 is no port: the virtual server's, as keepalived reads it.
        let port = match tree.args(node).get(1) {
            Some(p) => match self.value(p, "a port (0-65535)", values::uint::<u16>) {
                Some(p) => p,
                None => return,
            },
            None => 0,
        };
        let port = if port == 0 {
            vs_port.unwrap_or(0)
        } else {
            port
        };
        self.max_args(tree, node, 2);
        // Copied only if this real server sets something of its own.
        let mut inherited = Cow::Borrowed(vs_inherited);
        let mut check_count = 0;
        let mut first_check = None;
        let mut rs = RealServer {
            location: self.loc(kw),
            addr,
            port,
            weight: 1,
            method: vs.method,
            tunnel: vs.tunnel,
            inhibit_on_failure: false,
            u_threshold: 0,
            l_threshold: 0,
            notify_up: None,
            notify_down: None,
            smtp_alert: None,
            checks: Checks::default(),
        };
        // First pass: the real server's own settings (which its checkers
        // inherit, wherever they are written); checkers in the second pass.
        for child in tree.children(node) {
            let ckw = tree.keyword(child);
            if let Some(kind) = CheckKw::from_name(&ckw.text) {
                first_check.get_or_insert((child, kind));
                check_count += 1;
                continue;
            }
            if let Some(ik) = InheritKw::from_name(&ckw.text) {
                self.inherit_keyword(tree, child, ik, inherited.to_mut());
                continue;
            }
            let Some(which) = RsKw::from_name(&ckw.text) else {
                self.unknown(ckw, "in real_server");
                continue;
            };
            self.no_block(tree, child);
            self.rs_setting(tree, child, which, &mut rs);
        }
        rs.inhibit_on_failure = inherited.inhibit_on_failure.unwrap_or(false);
        if let Some(family) = vs_family(vs) {
            if family != addr.is_ipv4() && rs.method != ForwardMethod::Tunnel {
                let at = &tree.args(node)[0];
                self.warning(at, format!("real server {addr} and virtual server {} are of different address families (only tunnelled real servers may differ): skipped, as keepalived does", describe(&vs.address)));
                return;
            }
        }
        // Only NAT can change the port: keepalived resets any other's to the
        // service's (a fwmark service has none). Its checkers still probe
        // the port as written, as keepalived's do.
        if rs.method != ForwardMethod::Masq {
            let want = match vs.address {
                VsAddress::Addr { port, .. } => Some(port),
                VsAddress::Fwmark(_) => Some(0),
                VsAddress::Group(_) => None,
            };
            if let Some(want) = want.filter(|&w| w != port) {
                let at = tree.args(node).get(1).unwrap_or(kw);
                self.warning(at, format!("virtual server {} and real server [{addr}]:{port} ports differ, which only NAT can do: {want} is used, as keepalived does", describe(&vs.address)));
                rs.port = want;
            }
        }
        // One TCP_CHECK written like the last one read: its reading, with
        // this checker's location and target.
        if let (1, Some((first, CheckKw::Tcp))) = (check_count, first_check) {
            if tree.has_block(first) {
                if let Some(reading) = self.check_memo.lookup(tree, first, &inherited) {
                    let location = self.loc(tree.keyword(first));
                    let common = reading.common_for(location, (addr, port));
                    rs.checks = Checks::from(Arc::new(Check::Tcp(TcpCheck { common })));
                    first_check = None;
                }
            }
        }
        // Gathered in the typer's scratch list, then stored at their exact
        // size: one checker inline (the common case), more in a boxed slice.
        if let Some((first, kind)) = first_check {
            let mut found = std::mem::take(&mut self.check_scratch);
            self.check_block(tree, first, kind, (addr, port), &inherited, &mut found);
            // The others, if any, after the first (rare: most have one).
            if check_count > 1 {
                let rest = tree.children(node).skip_while(|&c| c != first).skip(1);
                for check_node in rest {
                    if let Some(kind) = CheckKw::from_name(&tree.keyword(check_node).text) {
                        self.check_block(
                            tree,
                            check_node,
                            kind,
                            (addr, port),
                            &inherited,
                            &mut found,
                        );
                    }
                }
            }
            rs.checks = match found.len() {
                1 => found.pop().map(Checks::from).unwrap_or_default(),
                _ => found.drain(..).collect(),
            };
            self.check_scratch = found;
        }
        if !seen.insert(addr, port) {
            self.warning(kw, format!("real server [{addr}]:{} appears twice in virtual server {}: the second is ignored", rs.port, describe(&vs.address)));
            return;
        }
        vs.real_servers.push(rs);
    }

    /// One of the real server's own settings (`weight`, `lb_kind`, ...).
    fn rs_setting(&mut self, tree: &Tree<'_>, child: u32, which: RsKw, rs: &mut RealServer) {
        match which {
            RsKw::Weight => {
                if let Some(w) = self.parsed(
                    tree,
                    child,
                    0,
                    "a weight (0-2147483647)",
                    values::uint::<i32>,
                ) {
                    rs.weight = w;
                }
            }
            RsKw::LvsMethod | RsKw::LbKind => {
                if let Some((m, t)) = self.forward_method(tree, child) {
                    rs.method = m;
                    rs.tunnel = t;
                }
            }
            RsKw::NotifyUp => rs.notify_up = self.script(tree, child).map(Box::new),
            RsKw::NotifyDown => rs.notify_down = self.script(tree, child).map(Box::new),
            RsKw::Uthreshold => {
                rs.u_threshold = self
                    .uint_arg(tree, child, "a number of connections")
                    .unwrap_or(0)
            }
            RsKw::Lthreshold => {
                rs.l_threshold = self
                    .uint_arg(tree, child, "a number of connections")
                    .unwrap_or(0)
            }
            RsKw::SmtpAlert => rs.smtp_alert = self.flag_arg(tree, child),
            RsKw::SnmpName => {
                self.string_arg(tree, child, "a name");
            }
        }
    }

    /// One checker block of a real server, if it has its `{ ... }`.
    fn check_block(
        &mut self,
        tree: &Tree<'_>,
        node: u32,
        kind: CheckKw,
        target: (IpAddr, u16),
        inherited: &Inherited,
        out: &mut Vec<std::sync::Arc<Check>>,
    ) {
        if self.need_block(tree, node) {
            self.check(tree, node, kind, target, inherited, out);
        }
    }
}

/// Whether a virtual server's real servers must be IPv4 (`true`) or IPv6,
/// as keepalived decides it: the service's own address, else its
/// `ip_family`, else the first real server that is not tunnelled.
fn vs_family(vs: &VirtualServer) -> Option<bool> {
    match vs.address {
        VsAddress::Addr { addr, .. } => Some(addr.is_ipv4()),
        _ => match vs.ip_family {
            Some(f) => Some(f == crate::ipvs::Family::Inet),
            None => vs
                .real_servers
                .iter()
                .find(|r| r.method != ForwardMethod::Tunnel)
                .map(|r| r.addr.is_ipv4()),
        },
    }
}

/// The (address, port) of each real server of one virtual server so far,
/// to find one written twice.
///
/// An IPv4 real server, nearly every one, is kept as one `u64` (address
/// and port side by side). Real servers are nearly always written in
/// ascending order (generated configs, and people, count up), so a key
/// above every one before it is new without looking anything up: it is
/// appended to `ascending`, which stays sorted. A key that breaks the order
/// is looked for there by binary search and kept in a hash set of its own.
/// Every key is in exactly one of the two. IPv6 ones go to a set of their
/// own. Hashed with FxHash (`rustc-hash`) rather than std's SipHash: the keys
/// come from the administrator's own config, so there is no attacker to
/// resist.
#[derive(Default)]
pub struct SeenRealServers {
    ascending: Vec<u64>,
    v4: HashSet<u64, FxBuildHasher>,
    v6: HashSet<(Ipv6Addr, u16), FxBuildHasher>,
}

impl SeenRealServers {
    /// An empty set with room for `n` IPv4 real servers.
    pub fn with_capacity(n: usize) -> Self {
        SeenRealServers {
            ascending: Vec::with_capacity(n),
            v4: HashSet::default(),
            v6: HashSet::default(),
        }
    }

    /// Note `addr:port`; `false` if it was noted before.
    #[inline]
    pub fn insert(&mut self, addr: IpAddr, port: u16) -> bool {
        match addr {
            IpAddr::V4(a) => {
                let key = (u64::from(u32::from(a)) << 16) | u64::from(port);
                if self.ascending.last().is_none_or(|&last| last < key) {
                    self.ascending.push(key);
                    return true;
                }
                self.ascending.binary_search(&key).is_err() && self.v4.insert(key)
            }
            IpAddr::V6(a) => self.v6.insert((a, port)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each address and port is noted once, whatever its family, and the
    /// same address with another port (or the same bits as IPv6) is another.
    #[test]
    fn notes_each_address_and_port_once() {
        let mut seen = SeenRealServers::with_capacity(4);
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(seen.insert(v4, 80));
        assert!(!seen.insert(v4, 80));
        assert!(seen.insert(v4, 81));
        assert!(seen.insert("10.0.0.2".parse().unwrap(), 80));
        assert!(seen.insert(mapped, 80));
        assert!(!seen.insert(mapped, 80));
        assert!(seen.insert(mapped, 81));
    }

    /// Out of order, repeated, and in order again: each key is new once.
    #[test]
    fn order_does_not_change_the_answer() {
        let mut seen = SeenRealServers::with_capacity(8);
        let mut reference = std::collections::HashSet::new();
        let a = |n: u8| IpAddr::from([10, 0, 0, n]);
        for (n, port) in [
            (5, 80),
            (7, 80),
            (3, 80),
            (5, 80),
            (3, 80),
            (9, 80),
            (7, 81),
            (7, 80),
            (1, 1),
            (9, 80),
        ] {
            assert_eq!(
                seen.insert(a(n), port),
                reference.insert((n, port)),
                "{n}:{port}"
            );
        }
    }
}
