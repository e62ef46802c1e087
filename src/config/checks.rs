//! Checker blocks: TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, SMTP_CHECK,
//! DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK, BFD_CHECK.
//!
//! [`Typer::check`] goes in two phases: the block's statements are read
//! into a [`Reading`] here (its connection, what it inherits, and what only
//! some types have), then made into checks in [`super::check_build`], with
//! what the real server and virtual server passed down and keepalived's
//! defaults for the checker's type.
//!
//! **Adding a keyword a `TCP_CHECK` accepts:** its meaning must depend only
//! on its words and on what the real server passes down ([`Inherited`]),
//! never on where it is written, on `global_defs` or on the host: a block
//! written like the one before it reuses that one's reading
//! (`check_memo`). `check_memo`'s test
//! `the_memo_never_changes_what_a_config_reads` holds this for the keywords
//! its generated configs use; add the new one there.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::block::Tree;
use super::check_build::Site;
use super::inherit::Inherited;
use super::keywords::{accepts, CheckKw, CommonKw, InheritKw, SpecificKw};
use super::typer::Typer;
use super::udp_keywords::UdpReading;
use super::{
    values, Account, BfdInstance, Check, CloseMode, DnsType, HttpProtocol, Timer, TrackFile, Url,
};

/// The connection settings of one checker (or one SMTP `host`).
#[derive(Debug, Clone, Default)]
pub(super) struct Connection {
    pub(super) connect_ip: Option<IpAddr>,
    pub(super) connect_port: Option<u16>,
    pub(super) bindto: Option<IpAddr>,
    pub(super) bind_port: Option<u16>,
    pub(super) bind_if: Option<String>,
    pub(super) fwmark: Option<u32>,
    pub(super) close: CloseMode,
    /// `connect_timeout` written in this block itself (an SMTP `host`
    /// has its own; a checker's also goes to its inherited settings).
    pub(super) connect_timeout: Option<Timer>,
}

impl Connection {
    /// Whether the block sets any connection option of its own (keepalived
    /// 2.2.7's test for whether an `SMTP_CHECK` with `host` blocks probes its
    /// own target too).
    pub(super) fn is_set(&self) -> bool {
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
pub(super) struct Reading {
    pub(super) conn: Connection,
    pub(super) inherited: Inherited,
    /// What only some checker types have: boxed and made on first use, so
    /// that a TCP_CHECK (nearly every checker of a big config) neither fills
    /// nor drops it.
    extra: Option<Box<Extra>>,
}

/// The settings of the checker types beyond TCP_CHECK.
#[derive(Default)]
pub(super) struct Extra {
    pub(super) urls: Vec<Url>,
    pub(super) hosts: Vec<Connection>,
    pub(super) misc_path: Option<String>,
    pub(super) misc_timeout: Option<Duration>,
    pub(super) misc_dynamic: bool,
    pub(super) user: Option<Account>,
    /// FILE_CHECK's `track_file`, resolved; `track_file_named` is set even
    /// when the name is unknown (said at the name).
    pub(super) track_file: Option<TrackFile>,
    pub(super) track_file_named: bool,
    /// BFD_CHECK's `name`, resolved (like `track_file`).
    pub(super) bfd: Option<BfdInstance>,
    pub(super) bfd_named: bool,
    /// FILE_CHECK's `weight W [reverse|noreverse]`.
    pub(super) file_weight: Option<(i32, bool)>,
    pub(super) helo_name: Option<String>,
    pub(super) dns_type: Option<DnsType>,
    pub(super) dns_name: Option<String>,
    pub(super) udp: UdpReading,
    pub(super) http_protocol: HttpProtocol,
    pub(super) fast_recovery: bool,
    pub(super) enable_sni: bool,
    /// `sni_name NAME` (implies `enable_sni`).
    pub(super) sni_name: Option<String>,
}

impl Reading {
    /// The type-specific settings, made empty on first use.
    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The type-specific settings, taken out (empty if none were read).
    pub(super) fn take_extra(&mut self) -> Extra {
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
        let kw = tree.keyword(node);
        let diagnostics_before = self.diagnostics.len();
        self.max_args(tree, node, 0);
        let r = self.read_check(tree, node, kind, rs);
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
        let site = Site {
            kind,
            location: self.loc(kw),
            target,
        };
        let clean = self.diagnostics.len() == diagnostics_before;
        self.build_checks(tree, node, site, rs, r, clean, out);
    }

    /// Read the statements of checker block `node` (of type `kind`, in a
    /// real server that passes down `rs`): the first phase of [`Typer::check`].
    fn read_check(&mut self, tree: &Tree<'_>, node: u32, kind: CheckKw, rs: &Inherited) -> Reading {
        let kw = tree.keyword(node);
        // The checker's own virtualhost overrides; the inherited one is the
        // default (taken when the checks are made, for the HTTP checks that
        // use it).
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
        r
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

    /// A statement only some checker kinds have: one line a keyword here,
    /// the longer ones in a method each below.
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
            SpecificKw::NbGetRetry => self.nb_get_retry(tree, node, r),
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
            SpecificKw::User => self.misc_check_user(tree, node, r),
            SpecificKw::Payload
            | SpecificKw::RequireReply
            | SpecificKw::MinReplyLength
            | SpecificKw::MaxReplyLength => self.udp_keyword(tree, node, kw, &mut r.extra().udp),
            SpecificKw::Weight => self.file_check_weight(tree, node, r),
            SpecificKw::TrackFile => self.file_check_track_file(tree, node, r),
            SpecificKw::HeloName => {
                if let Some(helo) = self.string_arg(tree, node, "a name to send in HELO") {
                    r.extra().helo_name = Some(helo);
                }
            }
            SpecificKw::Type => self.dns_type(tree, node, r),
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

    /// `nb_get_retry N`: read as `retry`, as keepalived does, with a
    /// warning that it is deprecated.
    fn nb_get_retry(&mut self, tree: &Tree<'_>, node: u32, r: &mut Reading) {
        self.warning(
            tree.keyword(node),
            "`nb_get_retry` is deprecated: write `retry` (it is read as `retry`, as keepalived does)",
        );
        if let Some(v) = self.uint_arg::<u32>(tree, node, "a number of retries") {
            r.inherited.retry = Some(v);
        }
    }

    /// MISC_CHECK's `user USER [GROUP]`. Like keepalived, lvsd says at
    /// load time when the account is missing (see
    /// [`crate::script_policy::check_config`]); the probe fails with the
    /// same reason.
    fn misc_check_user(&mut self, tree: &Tree<'_>, node: u32, r: &mut Reading) {
        if let Some(account) = self.account(tree, node) {
            r.extra().user = Some(account);
        }
    }

    /// FILE_CHECK's `track_file NAME`: a `track_file` block defined before it.
    fn file_check_track_file(&mut self, tree: &Tree<'_>, node: u32, r: &mut Reading) {
        self.max_args(tree, node, 1);
        let Some(t) = self.arg(tree, node, 0, "a track_file name") else {
            return;
        };
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

    /// DNS_CHECK's `type`: one of the record types it knows.
    fn dns_type(&mut self, tree: &Tree<'_>, node: u32, r: &mut Reading) {
        let expected = format!(
            "a DNS record type ({})",
            DnsType::names().collect::<Vec<_>>().join(" ")
        );
        if let Some(t) = self.parsed(tree, node, 0, &expected, DnsType::from_name) {
            r.extra().dns_type = Some(t);
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
