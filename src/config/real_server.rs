//! `real_server IP [PORT] { ... }`.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::ipvs::ForwardMethod;

use super::block::Tree;
use super::inherit::Inherited;
use super::keywords::{CheckKw, InheritKw, RsKw};
use super::typer::Typer;
use super::virtual_server::describe;
use super::{values, RealServer, VirtualServer, VsAddress};

impl Typer<'_> {
    /// Type a `real_server` and add it to `vs` (unless it repeats one).
    pub fn real_server(
        &mut self,
        tree: &Tree<'_>,
        node: u32,
        vs: &mut VirtualServer,
        vs_inherited: &Inherited,
        seen: &mut HashSet<(IpAddr, u16)>,
    ) {
        let kw = tree.keyword(node).clone();
        let Some(addr) = self.ip_arg(tree, node) else {
            return;
        };
        let vs_port = match vs.address {
            VsAddress::Addr { port, .. } => Some(port),
            _ => None,
        };
        let mut port = match tree.args(node).get(1).cloned() {
            Some(p) => match self.value(&p, "a port (0-65535)", values::uint::<u16>) {
                Some(p) => p,
                None => return,
            },
            None => vs_port.unwrap_or(0),
        };
        self.max_args(tree, node, 2);
        let mut inherited = vs_inherited.clone();
        let mut rs = RealServer {
            location: self.loc(&kw),
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
            checks: Vec::new(),
        };
        // First pass: the real server's own settings (which its checkers
        // inherit, wherever they are written); checkers in the second pass.
        for child in tree.children(node) {
            let ckw = tree.keyword(child).clone();
            if let Some(ik) = InheritKw::from_name(&ckw.text) {
                self.inherit_keyword(tree, child, ik, &mut inherited);
                continue;
            }
            if CheckKw::from_name(&ckw.text).is_some() {
                continue;
            }
            let Some(which) = RsKw::from_name(&ckw.text) else {
                self.unknown(&ckw, "in real_server");
                continue;
            };
            self.no_block(tree, child);
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
                RsKw::SmtpAlert => {
                    self.flag_arg(tree, child);
                }
                RsKw::SnmpName => {
                    self.string_arg(tree, child, "a name");
                }
            }
        }
        rs.inhibit_on_failure = inherited.inhibit_on_failure.unwrap_or(false);
        if let VsAddress::Addr { addr: vip, .. } = vs.address {
            if vip.is_ipv4() != addr.is_ipv4() && rs.method != ForwardMethod::Tunnel {
                let at = tree.args(node)[0].clone();
                self.error(&at, format!("real server {addr} and virtual server {} are of different address families; only tunnelled real servers may differ", describe(&vs.address)));
                return;
            }
        }
        if rs.method == ForwardMethod::Route {
            if let Some(vp) = vs_port.filter(|&vp| vp != 0 && vp != port) {
                if tree.args(node).get(1).is_some() {
                    let at = tree.args(node)[1].clone();
                    self.warning(&at, format!("virtual server {} and real server [{addr}]:{port} ports don't match, which DR cannot do: {vp} is used", describe(&vs.address)));
                }
                port = vp;
                rs.port = vp;
            }
        }
        for check_node in tree.children(node) {
            let Some(kind) = CheckKw::from_name(&tree.keyword(check_node).text) else {
                continue;
            };
            if !self.need_block(tree, check_node) {
                continue;
            }
            let checks = self.check(tree, check_node, kind, addr, port, &inherited);
            rs.checks
                .extend(checks.into_iter().map(std::sync::Arc::new));
        }
        // Exact capacity: with 100,000 real servers, spare room adds up.
        rs.checks.shrink_to_fit();
        if !seen.insert((addr, port)) {
            self.warning(&kw, format!("real server [{addr}]:{port} appears twice in virtual server {}: the second is ignored", describe(&vs.address)));
            return;
        }
        vs.real_servers.push(rs);
    }
}
