//! Checker blocks: TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, SMTP_CHECK,
//! DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK, BFD_CHECK.
//!
//! Each is read into its settings, then resolved into a [`CheckCommon`]
//! with what the real server and virtual server passed down and
//! keepalived's defaults for the checker's type.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::bfd_instance;
use super::block::Tree;
use super::inherit::{Inherited, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DELAY_LOOP};
use super::keywords::{accepts, CheckKw, CommonKw, InheritKw, SpecificKw};
use super::typer::Typer;
use super::udp_keywords::UdpReading;
use super::{
    values, BfdInstance, Binding, Check, CheckCommon, CloseMode, DnsCheck, DnsType, FileCheck,
    HttpCheck, HttpProtocol, Location, MiscCheck, PingCheck, SmtpCheck, TcpCheck, Timer,
    TlsOptions, TrackFile, Url, DEFAULT_HELO_NAME,
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
    /// `connect_timeout` written in this block itself (an SMTP `host`
    /// has its own; a checker's also goes to its inherited settings).
    connect_timeout: Option<Timer>,
}

impl Connection {
    /// Whether the block sets any connection option of its own (keepalived
    /// 2.2.7's test for whether an `SMTP_CHECK` with `host` blocks probes its
    /// own target too).
    fn is_set(&self) -> bool {
        self.connect_ip.is_some()
            || self.connect_port.is_some()
            || self.bindto.is_some()
            || self.bind_port.is_some()
            || self.bind_if.is_some()
            || self.fwmark.is_some()
            || self.connect_timeout.is_some()
    }
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
    hosts: Vec<Connection>,
    misc_path: Option<String>,
    misc_timeout: Option<Duration>,
    misc_dynamic: bool,
    user: Option<(String, Option<String>)>,
    /// FILE_CHECK's `track_file`, resolved; `track_file_named` is set even
    /// when the name is unknown (said at the name).
    track_file: Option<TrackFile>,
    track_file_named: bool,
    /// BFD_CHECK's `name`, resolved (like `track_file`).
    bfd: Option<BfdInstance>,
    bfd_named: bool,
    /// FILE_CHECK's `weight W [reverse|noreverse]`.
    file_weight: Option<(i32, bool)>,
    helo_name: Option<String>,
    dns_type: Option<DnsType>,
    dns_name: Option<String>,
    udp: UdpReading,
    http_protocol: HttpProtocol,
    fast_recovery: bool,
    enable_sni: bool,
    /// `sni_name NAME` (implies `enable_sni`).
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
            // BFD_CHECK takes `alpha` and nothing else of the timing keywords.
            let bfd_alpha = |ik: &InheritKw| kind == CheckKw::Bfd && *ik == InheritKw::Alpha;
            if let Some(ik) = InheritKw::from_name(&ckw.text).filter(|ik| standard || bfd_alpha(ik))
            {
                if ik == InheritKw::InhibitOnFailure {
                    self.unknown(ckw, &format!("in {}", kw.text));
                    continue;
                }
                self.inherit_keyword(tree, child, ik, &mut r.inherited);
                if ik == InheritKw::ConnectTimeout && tree.args(child).len() == 1 {
                    r.conn.connect_timeout = r.inherited.connect_timeout;
                }
                continue;
            }
            if let Some(ck) =
                CommonKw::from_name(&ckw.text).filter(|_| standard && kind != CheckKw::Misc)
            {
                self.connection_keyword(tree, child, ck, &mut r.conn);
                continue;
            }
            match SpecificKw::from_name(&ckw.text).filter(|&s| accepts(kind, s)) {
                Some(sk) => self.specific(tree, child, kind, sk, &mut r),
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
                    protocol: x.http_protocol,
                    fast_recovery: x.fast_recovery,
                    tls_options,
                }))
            }
            CheckKw::Misc => {
                let x = r.take_extra();
                let Some(path) = x.misc_path else {
                    self.error(kw, "MISC_CHECK needs `misc_path COMMAND`");
                    return;
                };
                self.scripts_seen = true;
                if let (None, Some(why)) = (&x.user, &self.script_user_missing) {
                    let why = why.clone();
                    self.warning(
                        kw,
                        format!(
                            "this MISC_CHECK would run as script_user ({why}): keepalived drops it"
                        ),
                    );
                }
                Check::Misc(Box::new(MiscCheck {
                    common: common(&r.conn, &r),
                    path,
                    timeout: x.misc_timeout,
                    dynamic: x.misc_dynamic,
                    user: x.user.map(Box::new),
                }))
            }
            CheckKw::Smtp => {
                let mut x = r.take_extra();
                // keepalived 2.2.7: the checker probes its own target (the
                // real server, or its connect_ip/port) when it sets a
                // connection option or connect_timeout itself, or has no
                // `host`; else the first `host` is the checker. Every
                // other `host` is one more checker, with the host's own
                // connection only (nothing merged from the checker).
                let mut conns = Vec::with_capacity(1 + x.hosts.len());
                if r.conn.is_set() || x.hosts.is_empty() {
                    conns.push(r.conn.clone());
                }
                // A host without its own connect_timeout gets the real
                // server's (else the virtual server's, else 5 s). keepalived
                // 2.2.7 gives it 0 (it times out at once): see
                // docs/differences.md.
                let host_timeout = rs.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
                conns.extend(x.hosts.drain(..).map(|mut h| {
                    h.connect_timeout = h.connect_timeout.or(Some(host_timeout));
                    h
                }));
                let helo_name = x.helo_name.unwrap_or_else(|| DEFAULT_HELO_NAME.into());
                out.extend(conns.iter().map(|c| {
                    Arc::new(Check::Smtp(Box::new(SmtpCheck {
                        common: common(c, &r),
                        helo_name: helo_name.clone(),
                    })))
                }));
                return;
            }
            CheckKw::File => {
                let x = r.take_extra();
                let Some(file) = x.track_file else {
                    if !x.track_file_named {
                        self.error(kw, "FILE_CHECK needs `track_file NAME`");
                    }
                    return;
                };
                let (weight, reverse) = x.file_weight.unwrap_or((file.weight, file.reverse));
                // Nothing of the real server: equal checks of one file are one probe.
                let unspecified = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
                Check::File(Box::new(FileCheck {
                    common: CheckCommon {
                        location,
                        warmup: Timer::from_secs(0),
                        retry: 0,
                        ..CheckCommon::new(unspecified, 0)
                    },
                    track_file: file.name,
                    path: file.path,
                    weight,
                    reverse,
                }))
            }
            CheckKw::Dns => {
                let x = r.take_extra();
                Check::Dns(Box::new(DnsCheck {
                    common: common(&r.conn, &r),
                    query_type: x.dns_type.unwrap_or_default(),
                    name: x.dns_name.unwrap_or_default(),
                }))
            }
            CheckKw::Udp => {
                let x = r.take_extra();
                self.udp_finish(tree, node, &x.udp);
                Check::Udp(Box::new(x.udp.into_check(common(&r.conn, &r))))
            }
            CheckKw::Ping => Check::Ping(Box::new(PingCheck {
                common: common(&r.conn, &r),
            })),
            CheckKw::Bfd => {
                let x = r.take_extra();
                let Some(instance) = x.bfd else {
                    if !x.bfd_named {
                        self.error(kw, "BFD_CHECK needs `name BFD_INSTANCE`");
                    }
                    return;
                };
                // keepalived: an RS may not track one instance twice.
                let tracked = out
                    .iter()
                    .any(|c| matches!(&**c, Check::Bfd(b) if b.instance.name == instance.name));
                if tracked {
                    // keepalived -t fails on it (and runs without it).
                    self.error(
                        kw,
                        format!(
                            "this real server follows bfd_instance `{}` already \
                             (keepalived ignores this BFD_CHECK)",
                            instance.name
                        ),
                    );
                    return;
                }
                let alpha = r.inherited.alpha.unwrap_or(false);
                Check::Bfd(Box::new(bfd_instance::bfd_check(location, alpha, instance)))
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

    fn specific(
        &mut self,
        tree: &Tree<'_>,
        node: u32,
        kind: CheckKw,
        kw: SpecificKw,
        r: &mut Reading,
    ) {
        if !matches!(kw, SpecificKw::Url | SpecificKw::Host) {
            self.no_block(tree, node);
        }
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
                    let conn = self.smtp_host(tree, node, &mut r.inherited);
                    r.extra().hosts.push(conn);
                }
            }
            SpecificKw::NbGetRetry => {
                let kw = tree.keyword(node);
                self.warning(kw, "`nb_get_retry` is deprecated: write `retry` (it is read as `retry`, as keepalived does)");
                if let Some(v) = self.uint_arg::<u32>(tree, node, "a number of retries") {
                    r.inherited.retry = Some(v);
                    self.warning(
                        tree.keyword(node),
                        "`nb_get_retry` is deprecated: use `retry` (the value is applied)",
                    );
                }
            }
            SpecificKw::HttpProtocol => {
                if let Some(p) = self.http_protocol(tree, node) {
                    r.extra().http_protocol = p;
                }
            }
            SpecificKw::FastRecovery => {
                if let Some(on) = self.flag_arg(tree, node) {
                    r.extra().fast_recovery = on;
                }
            }
            SpecificKw::EnableSni => {
                if let Some(on) = self.flag_arg(tree, node) {
                    r.extra().enable_sni = on;
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
            SpecificKw::Payload
            | SpecificKw::RequireReply
            | SpecificKw::MinReplyLength
            | SpecificKw::MaxReplyLength => self.udp_keyword(tree, node, kw, &mut r.extra().udp),
            SpecificKw::Weight => self.file_check_weight(tree, node, r),
            SpecificKw::TrackFile => {
                self.max_args(tree, node, 1);
                if let Some(t) = self.arg(tree, node, 0, "a track_file name") {
                    let known = self.config.track_files.iter().find(|f| f.name == t.text);
                    let known = known.cloned();
                    if known.is_none() {
                        self.error(
                            t,
                            format!(
                                "no track_file `{}` is defined before this FILE_CHECK \
                                 (a `track_file {} {{ file PATH }}` block must come first)",
                                t.text, t.text
                            ),
                        );
                    }
                    let x = r.extra();
                    x.track_file_named = true;
                    x.track_file = known;
                }
            }
            SpecificKw::HeloName => {
                if let Some(helo) = self.string_arg(tree, node, "a name to send in HELO") {
                    r.extra().helo_name = Some(helo);
                }
            }
            SpecificKw::Type => {
                let expected = format!(
                    "a DNS record type ({})",
                    DnsType::names().collect::<Vec<_>>().join(" ")
                );
                if let Some(t) = self.parsed(tree, node, 0, &expected, DnsType::from_name) {
                    r.extra().dns_type = Some(t);
                }
            }
            SpecificKw::Name if kind == CheckKw::Dns => self.dns_name(tree, node, r),
            SpecificKw::Name => {
                let instance = self.bfd_check_instance(tree, node);
                let x = r.extra();
                x.bfd_named = true;
                x.bfd = instance;
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
        }
    }

    /// FILE_CHECK's `weight W [reverse|noreverse]`: W within ±2147483647
    /// (keepalived's IPVS_WEIGHT_LIMIT).
    fn file_check_weight(&mut self, tree: &Tree<'_>, node: u32, r: &mut Reading) {
        self.max_args(tree, node, 2);
        let limit = i64::from(i32::MAX);
        let Some(w) = self.parsed(tree, node, 0, "a weight (-2147483647..2147483647)", |w| {
            values::int(w).filter(|w| (-limit..=limit).contains(w))
        }) else {
            return;
        };
        let reverse = match tree.args(node).get(1) {
            None => false,
            Some(t) => match self.value(t, "`reverse` or `noreverse`", |w| match w {
                "reverse" => Some(true),
                "noreverse" => Some(false),
                _ => None,
            }) {
                Some(reverse) => reverse,
                None => return,
            },
        };
        r.extra().file_weight = Some((w as i32, reverse));
    }

    /// An `SMTP_CHECK`'s `host { ... }` (deprecated): its own connection
    /// options and `connect_timeout`, as keepalived 2.2.7 reads them. The
    /// timing keywords written in it (`retry`, `delay_loop`...) set the
    /// enclosing checker's, as in keepalived.
    fn smtp_host(&mut self, tree: &Tree<'_>, node: u32, checker: &mut Inherited) -> Connection {
        self.info(
            tree.keyword(node),
            "the SMTP_CHECK `host` block is deprecated (keepalived says so too): \
             write one SMTP_CHECK per target instead",
        );
        let mut conn = Connection::default();
        for child in tree.children(node) {
            let ckw = tree.keyword(child);
            if let Some(ck) = CommonKw::from_name(&ckw.text) {
                self.connection_keyword(tree, child, ck, &mut conn);
                continue;
            }
            match InheritKw::from_name(&ckw.text) {
                Some(InheritKw::ConnectTimeout) => {
                    let mut own = Inherited::default();
                    self.inherit_keyword(tree, child, InheritKw::ConnectTimeout, &mut own);
                    conn.connect_timeout = own.connect_timeout.or(conn.connect_timeout);
                }
                Some(ik) if !matches!(ik, InheritKw::InhibitOnFailure | InheritKw::Virtualhost) => {
                    self.inherit_keyword(tree, child, ik, checker)
                }
                _ => self.unknown(ckw, "in host"),
            }
        }
        conn
    }

    /// `DNS_CHECK`'s `name`: a valid DNS name, else an error at it. As in
    /// keepalived, a second `name` is ignored (with a warning here).
    fn dns_name(&mut self, tree: &Tree<'_>, node: u32, r: &mut Reading) {
        let Some(tok) = self.arg(tree, node, 0, "a DNS name") else {
            return;
        };
        if r.extra().dns_name.is_some() {
            self.warning(
                tok,
                "a second `name` is ignored: the first one is used, as keepalived does",
            );
            return;
        }
        match super::dns_name(&tok.text) {
            Ok(name) => r.extra().dns_name = Some(name),
            Err(e) => self.error(tok, format!("`name {}` is not a DNS name: {e}", tok.text)),
        }
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
        connect_timeout: conn
            .connect_timeout
            .or(inh.connect_timeout)
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        delay_loop,
        retry: inh.retry.unwrap_or(retry),
        delay_before_retry: inh.delay_before_retry.unwrap_or(delay_before_retry),
        warmup: inh.warmup.unwrap_or(delay_loop),
        alpha: inh.alpha.unwrap_or(false),
        close: conn.close,
    }
}
