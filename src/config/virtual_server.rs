//! `virtual_server` (IP PORT, fwmark N, group NAME) and
//! `virtual_server_group`.

use crate::ipvs::{Family, ForwardMethod, Protocol, ServiceFlags, TunnelType};

use super::block::{Tok, Tree};
use super::inherit::Inherited;
use super::keywords::{CheckKw, InheritKw, RsKw, VsKw};
use super::real_server::SeenRealServers;
use super::typer::Typer;
use super::{
    values, GroupEntry, Script, SorryServer, TunnelOptions, VirtualServer, VirtualServerGroup,
    VsAddress,
};

/// The schedulers keepalived 2.2.7 accepts (it ignores any other name).
const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
];
/// The longest `persistence_timeout` keepalived accepts (31 days).
const MAX_PERSISTENCE: u32 = 2_678_400;
/// `IP_VS_SVC_F_SCHED3` (flag-3), which [`ServiceFlags`] does not name.
const SCHED3: u32 = 0x0020;
/// `persistence_timeout` without a value: keepalived's 6 minutes.
const DEFAULT_PERSISTENCE: u32 = 360;

/// What a `virtual_server`'s statements said beyond its own fields: what
/// typing its real servers and the checks after them need.
#[derive(Default)]
struct VsStatements<'t, 's> {
    /// The `real_server` blocks, typed once the other statements are (they
    /// inherit from them).
    real_servers: Vec<u32>,
    /// What its real servers and checks inherit.
    inherited: Inherited,
    /// Where each was set (for the checks that name it), if it was.
    protocol: Option<&'t Tok<'s>>,
    quorum: Option<&'t Tok<'s>>,
    hysteresis: Option<&'t Tok<'s>>,
    sorry_server: Option<&'t Tok<'s>>,
    /// Whether a scheduler and a forwarding method were set.
    scheduler: bool,
    method: bool,
    /// `sorry_server_lvs_method` and `sorry_server_inhibit`.
    sorry_method: Option<(ForwardMethod, Option<TunnelOptions>)>,
    sorry_inhibit: bool,
}

impl Typer<'_> {
    /// Type a `virtual_server` block: its statements, then its real
    /// servers, then the checks that need both.
    pub fn virtual_server(&mut self, tree: &Tree<'_>, node: u32) {
        let kw = tree.keyword(node);
        let Some(address) = self.vs_address(tree, node) else {
            return;
        };
        let mut vs = VirtualServer::new(self.loc(kw), address);
        let said = self.vs_statements(tree, node, &mut vs);
        let inherited = &said.inherited;
        vs.alpha = inherited.alpha.unwrap_or(false);
        vs.inhibit_on_failure = inherited.inhibit_on_failure.unwrap_or(false);
        vs.virtualhost = inherited.virtualhost.clone();
        self.vs_virtualhost.clone_from(&vs.virtualhost);
        if let Some(s) = vs.sorry_server.as_mut() {
            s.inhibit = said.sorry_inhibit;
            s.method = said.sorry_method.as_ref().map_or(vs.method, |(m, _)| *m);
        }
        let mut seen = SeenRealServers::with_capacity(said.real_servers.len());
        vs.real_servers.reserve_exact(said.real_servers.len());
        for &rs in &said.real_servers {
            self.real_server(tree, rs, &mut vs, inherited, &mut seen);
        }
        if vs.real_servers.is_empty() {
            let sorry = if vs.sorry_server.is_some() {
                " (its sorry server too), as keepalived does"
            } else {
                ""
            };
            let name = describe(&vs.address);
            self.warning(
                kw,
                format!("virtual server {name} has no real servers: ignored{sorry}"),
            );
            return;
        }
        self.vs_checks(&mut vs, kw, &said);
        vs.real_servers.shrink_to_fit();
        self.config.virtual_servers.push(vs);
    }

    /// The statements of a `virtual_server`, into `vs`; what they said
    /// beyond its fields is returned.
    fn vs_statements<'t, 's>(
        &mut self,
        tree: &'t Tree<'s>,
        node: u32,
        vs: &mut VirtualServer,
    ) -> VsStatements<'t, 's> {
        let mut said = VsStatements::default();
        for child in tree.children(node) {
            let ckw = tree.keyword(child);
            // Nearly every statement of a big virtual server: straight to the list.
            if ckw.text == "real_server" {
                said.real_servers.push(child);
                continue;
            }
            if let Some(ik) = InheritKw::from_name(&ckw.text) {
                if matches!(ik, InheritKw::Alpha | InheritKw::InhibitOnFailure) {
                    self.vs_flag(tree, child, ik, &mut said.inherited);
                } else {
                    self.inherit_keyword(tree, child, ik, &mut said.inherited);
                }
                continue;
            }
            let Some(which) = VsKw::from_name(&ckw.text) else {
                if CheckKw::from_name(&ckw.text).is_some() || RsKw::from_name(&ckw.text).is_some() {
                    let t = &ckw.text;
                    self.warning(ckw, format!("`{t}` belongs in a real_server block, not directly in virtual_server: ignored"));
                } else {
                    self.unknown(ckw, "in virtual_server");
                }
                continue;
            };
            if which != VsKw::RealServer {
                self.no_block(tree, child);
            }
            self.vs_statement(tree, child, which, vs, &mut said);
        }
        said
    }

    /// One statement `which` of a `virtual_server` (not an inherited one).
    fn vs_statement<'t, 's>(
        &mut self,
        tree: &'t Tree<'s>,
        child: u32,
        which: VsKw,
        vs: &mut VirtualServer,
        said: &mut VsStatements<'t, 's>,
    ) {
        let at = Some(tree.keyword(child));
        match which {
            VsKw::RealServer => said.real_servers.push(child),
            VsKw::LbAlgo | VsKw::LvsSched => said.scheduler |= self.vs_scheduler(tree, child, vs),
            VsKw::LbKind | VsKw::LvsMethod => {
                if let Some((m, t)) = self.forward_method(tree, child) {
                    vs.method = m;
                    vs.tunnel = t;
                    said.method = true;
                }
            }
            VsKw::PersistenceTimeout => self.persistence_timeout(tree, child, vs),
            VsKw::PersistenceGranularity => {
                vs.persistence_granularity = self.persistence_granularity(tree, child)
            }
            VsKw::PersistenceEngine => {
                vs.persistence_engine = self.string_arg(tree, child, "an engine name (sip)")
            }
            VsKw::Protocol => {
                if let Some(p) = self.vs_protocol(tree, child) {
                    vs.protocol = p;
                    said.protocol = at;
                }
            }
            VsKw::HaSuspend => vs.ha_suspend = true,
            VsKw::Omega => vs.omega = true,
            VsKw::Quorum => {
                said.quorum = at;
                vs.quorum = self.quorum(tree, child, vs.quorum);
            }
            VsKw::Hysteresis => {
                said.hysteresis = at;
                vs.hysteresis = self
                    .uint_arg(tree, child, "a weight")
                    .unwrap_or(vs.hysteresis)
            }
            VsKw::QuorumUp => vs.quorum_up = self.script(tree, child),
            VsKw::QuorumDown => vs.quorum_down = self.script(tree, child),
            VsKw::SorryServer => {
                said.sorry_server = at;
                self.sorry_server(tree, child, vs);
            }
            VsKw::SorryServerInhibit => said.sorry_inhibit = true,
            VsKw::SorryServerLvsMethod => said.sorry_method = self.forward_method(tree, child),
            VsKw::IpFamily => vs.ip_family = self.ip_family(tree, child),
            VsKw::Ops => vs.flags |= ServiceFlags::ONEPACKET,
            VsKw::ShPort | VsKw::MhPort | VsKw::Flag2 => vs.flags |= ServiceFlags::SCHED2,
            VsKw::ShFallback | VsKw::MhFallback | VsKw::Flag1 => vs.flags |= ServiceFlags::SCHED1,
            VsKw::Flag3 => vs.flags |= SCHED3,
            VsKw::SmtpAlert => vs.smtp_alert = self.flag_arg(tree, child),
            VsKw::SnmpName => {
                self.string_arg(tree, child, "a name");
            }
            // Accepted by keepalived 2.2 in a virtual_server, with no effect on the checker.
            VsKw::Weight => {
                self.parsed(tree, child, 0, "a weight", values::int);
            }
        }
    }

    /// `persistence_granularity MASK|PREFIX`: a dotted IPv4 netmask, or a
    /// prefix length 1..128.
    fn persistence_granularity(&mut self, tree: &Tree<'_>, child: u32) -> Option<u32> {
        self.parsed(
            tree,
            child,
            0,
            "a netmask (255.255.255.0) or prefix length",
            |w| match values::ip(w) {
                Some(std::net::IpAddr::V4(m)) => Some(u32::from(m)),
                Some(_) => None,
                None => values::uint::<u32>(w).filter(|&b| (1..=128).contains(&b)),
            },
        )
    }

    /// `protocol TCP|UDP|SCTP`, in any case.
    fn vs_protocol(&mut self, tree: &Tree<'_>, child: u32) -> Option<Protocol> {
        self.parsed(tree, child, 0, "TCP, UDP or SCTP", |w| {
            match w.to_ascii_uppercase().as_str() {
                "TCP" => Some(Protocol::Tcp),
                "UDP" => Some(Protocol::Udp),
                "SCTP" => Some(Protocol::Sctp),
                _ => None,
            }
        })
    }

    /// `quorum W`: the new quorum (`old` if the word is bad); 0 becomes 1
    /// with a warning, as in keepalived.
    fn quorum(&mut self, tree: &Tree<'_>, child: u32, old: u32) -> u32 {
        let quorum = self.uint_arg(tree, child, "a weight").unwrap_or(old);
        if quorum == 0 {
            let at = &tree.args(child)[0];
            self.warning(
                at,
                "`quorum` must be at least 1: 1 is used, as keepalived does",
            );
            return 1;
        }
        quorum
    }

    /// `ip_family inet|inet6`.
    fn ip_family(&mut self, tree: &Tree<'_>, child: u32) -> Option<Family> {
        self.parsed(tree, child, 0, "inet or inet6", |w| match w {
            "inet" => Some(Family::Inet),
            "inet6" => Some(Family::Inet6),
            _ => None,
        })
    }

    /// `lb_algo`/`lvs_sched NAME`: whether it set the scheduler (a name
    /// keepalived does not know is ignored, with a warning).
    fn vs_scheduler(&mut self, tree: &Tree<'_>, node: u32, vs: &mut VirtualServer) -> bool {
        let Some(name) = self.arg(tree, node, 0, "a scheduler name") else {
            return false;
        };
        if SCHEDULERS.contains(&name.text.as_ref()) {
            vs.scheduler = name.text.to_string();
            return true;
        }
        let known = SCHEDULERS.join(", ");
        self.warning(
            name,
            format!(
                "unknown scheduler `{}` (keepalived knows {known}): ignored",
                name.text
            ),
        );
        false
    }

    /// `persistence_timeout [SECONDS]`: none is keepalived's default; a
    /// value outside 1 s to 31 days is ignored, as keepalived does.
    fn persistence_timeout(&mut self, tree: &Tree<'_>, node: u32, vs: &mut VirtualServer) {
        if tree.args(node).is_empty() {
            vs.persistence_timeout = DEFAULT_PERSISTENCE;
            return;
        }
        let Some(t) = self.uint_arg::<u64>(tree, node, "a number of seconds") else {
            return;
        };
        match u32::try_from(t)
            .ok()
            .filter(|t| (1..=MAX_PERSISTENCE).contains(t))
        {
            Some(t) => vs.persistence_timeout = t,
            None => {
                let at = &tree.args(node)[0];
                self.warning(at, format!("`persistence_timeout` {t} is outside 1-{MAX_PERSISTENCE}: ignored, as keepalived does (write nothing for no persistence)"));
            }
        }
    }

    /// `sorry_server IP [PORT]` (its method and inhibit come later, from
    /// their own statements).
    fn sorry_server(&mut self, tree: &Tree<'_>, node: u32, vs: &mut VirtualServer) {
        let addr = self.ip_arg(tree, node);
        let port = match tree.args(node).get(1) {
            Some(p) => self.value(p, "a port (0-65535)", values::uint::<u16>),
            None => Some(0),
        };
        if let (Some(addr), Some(port)) = (addr, port) {
            vs.sorry_server = Some(SorryServer {
                addr,
                port,
                inhibit: false,
                method: ForwardMethod::Masq,
            });
        }
    }

    /// The checks of a virtual server with its real servers: the sorry
    /// server's port, quorum against the weights, the protocol, persistence
    /// on port 0, and the defaults keepalived fills in (said, not silent).
    fn vs_checks(&mut self, vs: &mut VirtualServer, kw: &Tok<'_>, said: &VsStatements<'_, '_>) {
        let name = describe(&vs.address);
        self.sorry_server_port(vs, said.sorry_server);
        self.quorum_within_weight(vs, said.quorum.or(Some(kw)), said.hysteresis.or(Some(kw)));
        match (&vs.address, said.protocol) {
            (VsAddress::Fwmark(_), Some(p)) => {
                self.warning(p, format!("virtual server {name}: `protocol` does not apply to a fwmark service: ignored"));
            }
            (VsAddress::Fwmark(_), None) => vs.protocol = Protocol::Tcp,
            (_, None) => self.warning(
                kw,
                format!("virtual server {name}: no `protocol` set: UDP, as keepalived defaults"),
            ),
            _ => {}
        }
        if let VsAddress::Addr { port: 0, .. } = vs.address {
            if vs.persistence_timeout == 0 {
                self.warning(kw, format!("virtual server {name}: port 0 (none) needs persistence: `persistence_timeout` {DEFAULT_PERSISTENCE} is set, as keepalived does"));
                vs.persistence_timeout = DEFAULT_PERSISTENCE;
            }
        }
        if !said.scheduler {
            self.warning(
                kw,
                format!("virtual server {name}: no `lb_algo`/`lvs_sched` set: wlc"),
            );
        }
        if !said.method {
            self.warning(
                kw,
                format!("virtual server {name}: no `lb_kind`/`lvs_method` set: NAT"),
            );
        }
    }

    /// `alpha` or `inhibit_on_failure` in a virtual_server: keepalived
    /// reads no value there and turns it on whatever follows (`alpha no`
    /// included), so lvsd does too, and says so when something follows.
    fn vs_flag(&mut self, tree: &Tree<'_>, node: u32, kw: InheritKw, into: &mut Inherited) {
        self.no_block(tree, node);
        match kw {
            InheritKw::Alpha => into.alpha = Some(true),
            _ => into.inhibit_on_failure = Some(true),
        }
        if let Some(value) = tree.args(node).first() {
            let name = &tree.keyword(node).text;
            self.warning(value, format!("`{name}` in a virtual_server takes no value: `{}` is ignored and {name} is on, as keepalived does", value.text));
        }
    }

    /// keepalived's port rules for a sorry server that is not NAT: a fwmark
    /// service's has its port cleared; an address service's takes the
    /// service's port (a different one is reset to it).
    fn sorry_server_port(&mut self, vs: &mut VirtualServer, at: Option<&Tok<'_>>) {
        let (Some(s), Some(at)) = (vs.sorry_server.as_mut(), at) else {
            return;
        };
        if s.method == ForwardMethod::Masq {
            return;
        }
        let want = match vs.address {
            VsAddress::Fwmark(_) => 0,
            VsAddress::Addr { port, .. } if s.port != 0 => port,
            VsAddress::Addr { port, .. } => {
                s.port = port;
                return;
            }
            VsAddress::Group(_) => return,
        };
        if s.port != want {
            let message = format!("sorry server [{}]:{} of virtual server {}: its forwarding cannot change the port, so {want} is used, as keepalived does", s.addr, s.port, describe(&vs.address));
            s.port = want;
            self.warning(at, message);
        }
    }

    /// A `quorum` above the real servers' total weight could never be
    /// reached: keepalived lowers it to that total (and `hysteresis` below
    /// it), and lvsd does the same.
    fn quorum_within_weight(
        &mut self,
        vs: &mut VirtualServer,
        quorum_at: Option<&Tok<'_>>,
        hysteresis_at: Option<&Tok<'_>>,
    ) {
        let total: u64 = vs.real_servers.iter().map(|r| r.weight.max(0) as u64).sum();
        let name = describe(&vs.address);
        if u64::from(vs.quorum) > total {
            let total = u32::try_from(total).unwrap_or(u32::MAX);
            if let Some(at) = quorum_at {
                self.warning(at, format!("virtual server {name}: quorum {} exceeds the real servers' total weight {total}: lowered to {total}, as keepalived does", vs.quorum));
            }
            vs.quorum = total;
        }
        if vs.quorum > 0 && vs.hysteresis >= vs.quorum {
            if let Some(at) = hysteresis_at {
                self.warning(at, format!("virtual server {name}: hysteresis {} is not below quorum {}: {} is used, as keepalived does", vs.hysteresis, vs.quorum, vs.quorum - 1));
            }
            vs.hysteresis = vs.quorum - 1;
        }
    }

    /// `IP [PORT]`, `fwmark N` or `group NAME`.
    fn vs_address(&mut self, tree: &Tree<'_>, node: u32) -> Option<VsAddress> {
        let first = self.arg(
            tree,
            node,
            0,
            "an address and port, `fwmark N` or `group NAME`",
        )?;
        match first.text.as_ref() {
            "fwmark" => {
                let mark = self.parsed(tree, node, 1, "a firewall mark (1-4294967295)", |w| {
                    values::uint::<u32>(w).filter(|&m| m > 0)
                })?;
                self.max_args(tree, node, 2);
                Some(VsAddress::Fwmark(mark))
            }
            "group" => {
                let name = self
                    .arg(tree, node, 1, "a virtual_server_group name")?
                    .text
                    .to_string();
                self.max_args(tree, node, 2);
                Some(VsAddress::Group(name))
            }
            _ => {
                let addr = self.value(first, "an IP address, `fwmark` or `group`", values::ip)?;
                let port = match tree.args(node).get(1) {
                    Some(p) => self.value(p, "a port (0-65535)", values::uint::<u16>)?,
                    None => 0,
                };
                self.max_args(tree, node, 2);
                Some(VsAddress::Addr { addr, port })
            }
        }
    }

    /// `NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
    pub fn forward_method(
        &mut self,
        tree: &Tree<'_>,
        node: u32,
    ) -> Option<(ForwardMethod, Option<TunnelOptions>)> {
        let word = self.arg(tree, node, 0, "NAT, DR or TUN")?;
        // keepalived compares case-sensitively: `dr` is not `DR`.
        let m = match word.text.as_ref() {
            "NAT" => ForwardMethod::Masq,
            "DR" => ForwardMethod::Route,
            "TUN" => ForwardMethod::Tunnel,
            other => {
                let upper = other.to_ascii_uppercase();
                let hint = if ["NAT", "DR", "TUN"].contains(&upper.as_str()) {
                    format!(": keepalived reads only upper case, so `{other}` is not `{upper}`")
                } else {
                    String::new()
                };
                self.warning(word, format!("unknown forwarding method `{other}`{hint}; ignored, as keepalived does (the method stays NAT unless set elsewhere)"));
                return None;
            }
        };
        let args = tree.args(node);
        if m != ForwardMethod::Tunnel {
            self.max_args(tree, node, 1);
            return Some((m, None));
        }
        let mut t = TunnelOptions {
            kind: TunnelType::Ipip,
            port: 0,
            flags: 0,
        };
        let mut i = 1;
        while i < args.len() {
            let a = &args[i];
            match a.text.as_ref() {
                "type" => {
                    let kind = args.get(i + 1).map(|k| k.text.as_ref());
                    t.kind = match kind {
                        Some("ipip") => TunnelType::Ipip,
                        Some("gue") => TunnelType::Gue,
                        Some("gre") => TunnelType::Gre,
                        _ => {
                            let at = args.get(i + 1).unwrap_or(a);
                            self.error(at, "expected a tunnel type: ipip, gue or gre");
                            return None;
                        }
                    };
                    i += 2;
                }
                "port" => {
                    let Some(p) = args.get(i + 1) else {
                        self.error(a, "`port` needs a port number");
                        return None;
                    };
                    t.port = self.value(p, "a port (1-65535)", |w| {
                        values::uint::<u16>(w).filter(|&p| p > 0)
                    })?;
                    i += 2;
                }
                "nocsum" => (t.flags, i) = (0, i + 1),
                "csum" => (t.flags, i) = (1, i + 1),
                "remcsum" => (t.flags, i) = (2, i + 1),
                other => {
                    self.error(
                        a,
                        format!("expected type, port, nocsum, csum or remcsum, found `{other}`"),
                    );
                    return None;
                }
            }
        }
        if t.kind == TunnelType::Gue && t.port == 0 {
            self.error(&args[0], "a GUE tunnel needs `port N`");
            return None;
        }
        Some((m, Some(t)))
    }

    /// `notify_up`/`quorum_up`-style script: command [user [group]].
    pub fn script(&mut self, tree: &Tree<'_>, node: u32) -> Option<Script> {
        let tok = self.arg(tree, node, 0, "a command")?;
        Some(Script {
            command: tok.text.to_string(),
            location: self.loc(tok),
        })
    }

    /// Type a `virtual_server_group` block.
    pub fn virtual_server_group(&mut self, tree: &Tree<'_>, node: u32) {
        let kw = tree.keyword(node);
        let Some(name) = self.string_arg(tree, node, "a group name") else {
            return;
        };
        let mut entries = Vec::new();
        for child in tree.children(node) {
            let first = tree.keyword(child);
            self.no_block(tree, child);
            if first.text == "fwmark" {
                if let Some(m) = self.parsed(tree, child, 0, "a firewall mark", |w| {
                    values::uint::<u32>(w).filter(|&m| m > 0)
                }) {
                    if let Some(fam) = tree.args(child).get(1) {
                        if fam.text != "inet" && fam.text != "inet6" {
                            self.error(
                                fam,
                                format!("expected inet or inet6, found `{}`", fam.text),
                            );
                        }
                    }
                    entries.push(GroupEntry::Fwmark(m));
                }
                continue;
            }
            let range = match values::ip_range(&first.text) {
                Ok(r) => r,
                Err(why) => {
                    let hint = super::typer::parameter_hint(&first.text);
                    self.error(first, format!("expected an address, range (A.B.C.D-E, A.B.C.D/NN) or `fwmark N`: {why}{hint}"));
                    continue;
                }
            };
            let port = match tree.args(child).first() {
                Some(p) => match self.value(p, "a port (0-65535)", values::uint::<u16>) {
                    Some(p) => p,
                    None => continue,
                },
                None => 0,
            };
            self.max_args(tree, child, 1);
            entries.push(GroupEntry::Addr {
                first: range.0,
                last: range.1,
                port,
            });
        }
        let location = self.loc(kw);
        self.config.groups.push(VirtualServerGroup {
            name,
            entries,
            location,
        });
    }
}

/// A virtual server's name in messages: `[10.0.0.1]:80`, `fwmark 1`, `group G`.
pub fn describe(a: &VsAddress) -> String {
    match a {
        VsAddress::Addr { addr, port } => format!("[{addr}]:{port}"),
        VsAddress::Fwmark(m) => format!("fwmark {m}"),
        VsAddress::Group(g) => format!("group {g}"),
    }
}
