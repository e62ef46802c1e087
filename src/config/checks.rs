//! Checker blocks: TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, SMTP_CHECK,
//! DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK, BFD_CHECK.
//!
//! Each is read into its settings, then resolved into a [`CheckCommon`]
//! with what the real server and virtual server passed down and
//! keepalived's defaults for the checker's type.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::block::Tree;
use super::inherit::{Inherited, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DELAY_LOOP};
use super::keywords::{accepts, CheckKw, CommonKw, InheritKw, SpecificKw, UrlKw};
use super::typer::Typer;
use super::{
    values, Binding, Check, CheckCommon, CloseMode, HttpCheck, Location, MiscCheck, OtherCheck,
    TcpCheck, Timer, TlsOptions, Url,
};
use crate::script_policy::AccountError;

/// The connection settings of one checker (or one SMTP `host`).
#[derive(Debug, Clone, Default)]
struct Connection {
    connect_ip: Option<IpAddr>,
    connect_port: Option<u16>,
    bindto: Option<IpAddr>,
    bind_port: Option<u16>,
    bind_if: Option<String>,
    fwmark: Option<u32>,
    close: CloseMode,
}

/// Everything read from a checker block before resolution.
#[derive(Default)]
struct Reading {
    conn: Connection,
    inherited: Inherited,
    /// What only some checker types have: boxed and made on first use, so
    /// that a TCP_CHECK (nearly every checker of a big config) neither fills
    /// nor drops it.
    extra: Option<Box<Extra>>,
}

/// The settings of the checker types beyond TCP_CHECK.
#[derive(Default)]
struct Extra {
    urls: Vec<Url>,
    settings: Vec<(String, String)>,
    hosts: Vec<Connection>,
    misc_path: Option<String>,
    misc_timeout: Option<Duration>,
    misc_dynamic: bool,
    user: Option<(String, Option<String>)>,
    /// `enable_sni`, or `sni_name` (which implies it).
    enable_sni: bool,
    /// `sni_name NAME`.
    sni_name: Option<String>,
}

impl Reading {
    /// The type-specific settings, made empty on first use.
    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The type-specific settings, taken out (empty if none were read).
    fn take_extra(&mut self) -> Extra {
        self.extra.take().map_or_else(Extra::default, |b| *b)
    }
}

impl Typer<'_> {
    /// Type one checker block of real server `target` (address, port) and
    /// add its checkers to `out` (one, or for SMTP_CHECK one a `host`; none
    /// if the block is unusable).
    pub fn check(
        &mut self,
        tree: &Tree<'_>,
        node: u32,
        kind: CheckKw,
        target: (IpAddr, u16),
        rs: &Inherited,
        out: &mut Vec<Arc<Check>>,
    ) {
        let (addr, port) = target;
        let kw = tree.keyword(node);
        let diagnostics_before = self.diagnostics.len();
        self.max_args(tree, node, 0);
        // The checker's own virtualhost overrides; the inherited one is the
        // default (taken below, for the HTTP checks that use it).
        let mut r = Reading {
            inherited: rs.without_virtualhost(),
            ..Reading::default()
        };
        let standard = !matches!(kind, CheckKw::Bfd | CheckKw::File);
        for child in tree.children(node) {
            let ckw = tree.keyword(child);
            if let Some(ik) = InheritKw::from_name(&ckw.text).filter(|_| standard) {
                if ik == InheritKw::InhibitOnFailure {
                    self.unknown(ckw, &format!("in {}", kw.text));
                    continue;
                }
                self.inherit_keyword(tree, child, ik, &mut r.inherited);
                continue;
            }
            if let Some(ck) =
                CommonKw::from_name(&ckw.text).filter(|_| standard && kind != CheckKw::Misc)
            {
                self.connection_keyword(tree, child, ck, &mut r.conn);
                continue;
            }
            match SpecificKw::from_name(&ckw.text).filter(|&s| accepts(kind, s)) {
                Some(sk) => self.specific(tree, child, sk, &mut r),
                None => self.unknown(ckw, &format!("in {}", kw.text)),
            }
        }
        if !kind.is_probed() {
            self.error(
                kw,
                format!(
                    "lvsd does not probe {} yet, and never reports a real server healthy \
                     for a check it does not perform: replace it with a check lvsd probes ({}), \
                     or keep this virtual server under keepalived",
                    kw.text,
                    CheckKw::probed_names().join(", ")
                ),
            );
        }
        let location = self.loc(kw);
        let common = |conn: &Connection, r: &Reading| {
            resolve(kind, location, conn, &r.inherited, addr, port)
        };
        let check = match kind {
            // The common case, without copying the location.
            CheckKw::Tcp => {
                let common = resolve(kind, location, &r.conn, &r.inherited, addr, port);
                if self.diagnostics.len() == diagnostics_before {
                    let own = (r.conn.connect_ip.is_some(), r.conn.connect_port.is_some());
                    self.check_memo.remember(tree, node, rs, &common, own);
                }
                Check::Tcp(TcpCheck { common })
            }
            CheckKw::HttpGet | CheckKw::SslGet => {
                let mut x = r.take_extra();
                if x.urls.is_empty() {
                    self.warning(
                        kw,
                        format!(
                            "{} has no `url {{ path ... }}`: it cannot check anything",
                            kw.text
                        ),
                    );
                }
                let tls = kind == CheckKw::SslGet;
                let own_vhost = r.inherited.virtualhost.take();
                // SNI skips the real server's virtualhost (keepalived's order).
                let tls_options = match tls && x.enable_sni {
                    true => TlsOptions {
                        enable_sni: true,
                        sni_name: x.sni_name.take(),
                        sni_virtualhost: own_vhost.clone().or_else(|| self.vs_virtualhost.clone()),
                        client: None,
                    },
                    false => TlsOptions::default(),
                };
                let vhost = own_vhost.or_else(|| rs.virtualhost.clone());
                Check::Http(Box::new(HttpCheck {
                    common: resolve(kind, location, &r.conn, &r.inherited, addr, port),
                    tls,
                    urls: std::mem::take(&mut x.urls),
                    virtualhost: vhost,
                    tls_options,
                }))
            }
            CheckKw::Misc => {
                let x = r.take_extra();
                let Some(path) = x.misc_path else {
                    self.error(kw, "MISC_CHECK needs `misc_path COMMAND`");
                    return;
                };
                Check::Misc(Box::new(MiscCheck {
                    common: common(&r.conn, &r),
                    path,
                    timeout: x.misc_timeout,
                    dynamic: x.misc_dynamic,
                    user: x.user.map(Box::new),
                }))
            }
            CheckKw::Smtp => {
                let x = r.take_extra();
                // The first `host` configures the checker itself; each further one is another checker.
                let mut conns = vec![r.conn.clone()];
                for (i, h) in x.hosts.iter().enumerate() {
                    let merged = merge(&r.conn, h);
                    if i == 0 {
                        conns[0] = merged;
                    } else {
                        conns.push(merged);
                    }
                }
                out.extend(conns.iter().map(|c| {
                    Arc::new(Check::Smtp(Box::new(OtherCheck {
                        common: common(c, &r),
                        settings: x.settings.clone(),
                    })))
                }));
                return;
            }
            other => {
                let x = r.take_extra();
                let c = Box::new(OtherCheck {
                    common: common(&r.conn, &r),
                    settings: x.settings,
                });
                match other {
                    CheckKw::Dns => Check::Dns(c),
                    CheckKw::Udp => Check::Udp(c),
                    CheckKw::Ping => Check::Ping(c),
                    CheckKw::File => Check::File(c),
                    _ => Check::Bfd(c),
                }
            }
        };
        out.push(Arc::new(check));
    }

    fn connection_keyword(
        &mut self,
        tree: &Tree<'_>,
        node: u32,
        kw: CommonKw,
        conn: &mut Connection,
    ) {
        self.no_block(tree, node);
        match kw {
            CommonKw::ConnectIp => conn.connect_ip = self.ip_arg(tree, node).or(conn.connect_ip),
            CommonKw::ConnectPort => {
                conn.connect_port = self.port_arg(tree, node).or(conn.connect_port)
            }
            CommonKw::Bindto => conn.bindto = self.ip_arg(tree, node).or(conn.bindto),
            CommonKw::BindPort => conn.bind_port = self.port_arg(tree, node).or(conn.bind_port),
            CommonKw::BindIf => {
                conn.bind_if = self
                    .string_arg(tree, node, "an interface name")
                    .or(conn.bind_if.take())
            }
            CommonKw::Fwmark => {
                conn.fwmark = self.uint_arg(tree, node, "a firewall mark").or(conn.fwmark)
            }
            CommonKw::LogAllFailures => {
                self.flag_arg(tree, node);
            }
            CommonKw::CloseWithReset => {
                if self.flag_arg(tree, node) == Some(true) {
                    conn.close = CloseMode::Reset;
                }
            }
        }
    }

    fn specific(&mut self, tree: &Tree<'_>, node: u32, kw: SpecificKw, r: &mut Reading) {
        let name = tree.keyword(node).text.to_string();
        if !matches!(kw, SpecificKw::Url | SpecificKw::Host) {
            self.no_block(tree, node);
        }
        let joined = || {
            tree.args(node)
                .iter()
                .map(|t| t.text.as_ref())
                .collect::<Vec<_>>()
                .join(" ")
        };
        match kw {
            SpecificKw::Url => {
                if self.need_block(tree, node) {
                    if let Some(u) = self.url(tree, node) {
                        r.extra().urls.push(u);
                    }
                }
            }
            SpecificKw::Host => {
                if self.need_block(tree, node) {
                    let mut conn = Connection::default();
                    for child in tree.children(node) {
                        let ckw = tree.keyword(child);
                        match CommonKw::from_name(&ckw.text) {
                            Some(ck) => self.connection_keyword(tree, child, ck, &mut conn),
                            None => self.unknown(ckw, "in host"),
                        }
                    }
                    r.extra().hosts.push(conn);
                }
            }
            SpecificKw::NbGetRetry => {
                if let Some(v) = self.uint_arg::<u32>(tree, node, "a number of retries") {
                    r.inherited.retry = Some(v);
                }
            }
            SpecificKw::MiscPath => r.extra().misc_path = self.string_arg(tree, node, "a command"),
            SpecificKw::MiscTimeout => {
                r.extra().misc_timeout = self.timer_arg(tree, node).map(Timer::duration)
            }
            SpecificKw::MiscDynamic => r.extra().misc_dynamic = true,
            SpecificKw::User => {
                if let Some(u) = self.string_arg(tree, node, "a user name") {
                    let args = tree.args(node);
                    let group = args.get(1).map(|t| t.text.to_string());
                    // Like keepalived, say at load time that the account is
                    // missing; the probe fails with the same reason.
                    if let Err(e) = crate::script_policy::lookup_user(&u, group.as_deref()) {
                        let at = match e {
                            AccountError::NoGroup(_) => args.get(1),
                            _ => args.first(),
                        };
                        if let Some(at) = at {
                            self.warning(
                                at,
                                format!("MISC_CHECK user: {e}: the check fails until it exists"),
                            );
                        }
                    }
                    r.extra().user = Some((u, group));
                }
            }
            SpecificKw::MinReplyLength | SpecificKw::MaxReplyLength | SpecificKw::Weight => {
                let ok = if kw == SpecificKw::Weight {
                    self.parsed(tree, node, 0, "a weight", values::int)
                        .is_some()
                } else {
                    self.uint_arg::<u32>(tree, node, "a length").is_some()
                };
                if ok {
                    r.extra().settings.push((name, joined()));
                }
            }
            SpecificKw::HeloName
            | SpecificKw::Type
            | SpecificKw::Name
            | SpecificKw::Payload
            | SpecificKw::TrackFile
            | SpecificKw::HttpProtocol => {
                if self.arg(tree, node, 0, "a value").is_some() {
                    r.extra().settings.push((name, joined()));
                }
            }
            SpecificKw::EnableSni => {
                if let Some(on) = self.flag_arg(tree, node) {
                    r.extra().enable_sni = on;
                }
            }
            // `sni_name` alone turns SNI on with keepalived's order of names.
            SpecificKw::SniName => {
                let name = tree.args(node).first().map(|t| t.text.to_string());
                let x = r.extra();
                x.enable_sni = true;
                x.sni_name = name;
            }
            // lvsd always ends with close_notify (see checker/tls.rs).
            SpecificKw::TlsCompliant => {
                self.flag_arg(tree, node);
            }
            SpecificKw::FastRecovery | SpecificKw::Dynamic | SpecificKw::RequireReply => {
                r.extra().settings.push((name, joined()));
            }
        }
    }

    /// `url { path ...; digest ...; status_code ...; ... }`.
    fn url(&mut self, tree: &Tree<'_>, node: u32) -> Option<Url> {
        let mut u = Url {
            path: String::new(),
            digest: None,
            status_codes: Vec::new(),
            virtualhost: None,
            regex: None,
        };
        let mut has_path = false;
        for child in tree.children(node) {
            let ckw = tree.keyword(child);
            let Some(kw) = UrlKw::from_name(&ckw.text) else {
                self.unknown(ckw, "in url");
                continue;
            };
            self.no_block(tree, child);
            match kw {
                UrlKw::Path => {
                    if let Some(p) = self.string_arg(tree, child, "a path") {
                        u.path = p;
                        has_path = true;
                    }
                }
                UrlKw::Digest => {
                    u.digest = self.parsed(tree, child, 0, "an MD5 digest (32 hex digits)", |w| {
                        (w.len() == 32 && w.bytes().all(|b| b.is_ascii_hexdigit()))
                            .then(|| w.to_ascii_lowercase())
                    })
                }
                UrlKw::StatusCode => {
                    if self
                        .arg(tree, child, 0, "status codes or ranges (200, 200-299)")
                        .is_some()
                    {
                        for t in tree.args(child) {
                            if let Some(r) = self.value(
                                t,
                                "a status code or range (100-999)",
                                values::status_range,
                            ) {
                                u.status_codes.push(r);
                            }
                        }
                    }
                }
                UrlKw::Virtualhost => u.virtualhost = self.string_arg(tree, child, "a host name"),
                UrlKw::Regex => u.regex = self.string_arg(tree, child, "a regular expression"),
                UrlKw::RegexNoMatch | UrlKw::RegexOptions => {}
                UrlKw::TlsCompliant => {
                    self.flag_arg(tree, child);
                }
                UrlKw::RegexStack => {
                    self.parsed(
                        tree,
                        child,
                        1,
                        "a start and a maximum size",
                        values::uint::<u64>,
                    );
                }
                UrlKw::RegexMinOffset | UrlKw::RegexMaxOffset => {
                    self.uint_arg::<u64>(tree, child, "an offset");
                }
            }
        }
        if !has_path {
            self.error(tree.keyword(node), "`url` needs `path PATH`");
            return None;
        }
        Some(u)
    }
}

/// An SMTP `host` on top of the checker's own settings.
fn merge(base: &Connection, host: &Connection) -> Connection {
    Connection {
        connect_ip: host.connect_ip.or(base.connect_ip),
        connect_port: host.connect_port.or(base.connect_port),
        bindto: host.bindto.or(base.bindto),
        bind_port: host.bind_port.or(base.bind_port),
        bind_if: host.bind_if.clone().or_else(|| base.bind_if.clone()),
        fwmark: host.fwmark.or(base.fwmark),
        close: if host.close == CloseMode::Reset {
            host.close
        } else {
            base.close
        },
    }
}

/// Fill a checker's settings with what was inherited and keepalived's
/// defaults for its type.
fn resolve(
    kind: CheckKw,
    location: Location,
    conn: &Connection,
    inh: &Inherited,
    addr: IpAddr,
    port: u16,
) -> CheckCommon {
    let delay_loop = inh.delay_loop.unwrap_or(DEFAULT_DELAY_LOOP);
    let (retry, delay_before_retry) = match kind {
        CheckKw::Misc => (0, Timer::from_secs(1)),
        CheckKw::Dns => (3, delay_loop),
        CheckKw::HttpGet | CheckKw::SslGet => (1, Timer::from_secs(3)),
        _ => (1, Timer::from_secs(1)),
    };
    CheckCommon {
        location,
        connect_ip: conn.connect_ip.unwrap_or(addr),
        connect_port: conn.connect_port.unwrap_or(port),
        binding: Binding {
            bindto: conn.bindto,
            bind_port: conn.bind_port,
            bind_if: conn.bind_if.clone(),
            fwmark: conn.fwmark,
        }
        .boxed(),
        connect_timeout: inh.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        delay_loop,
        retry: inh.retry.unwrap_or(retry),
        delay_before_retry: inh.delay_before_retry.unwrap_or(delay_before_retry),
        warmup: inh.warmup.unwrap_or(delay_loop),
        alpha: inh.alpha.unwrap_or(false),
        close: conn.close,
    }
}
