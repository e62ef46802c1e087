//! The typed model of a keepalived.conf, as far as the checker is concerned.
//!
//! Values here are *resolved*: defaults are filled in and settings that
//! keepalived inherits (virtual server → real server → checker) are already
//! applied at the level where they take effect, so that the rest of lvsd never
//! has to know about inheritance. Every block keeps the [`Location`] it was
//! read from, for diagnostics.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::ipvs::{ForwardMethod, Protocol, TunnelType};

pub use super::bfd_instance::{BfdCheck, BfdInstance};
pub use super::check_list::Checks;
pub use super::http_regex::{HttpRegex, RegexOption};
pub use super::location::{FileName, Location};
pub use super::smtp_dns::{
    dns_name, DnsCheck, DnsNameError, DnsType, SmtpCheck, DEFAULT_HELO_NAME,
};
pub use super::timer::Timer;

/// A whole configuration: what lvsd acts on.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    /// `global_defs`.
    pub global: GlobalDefs,
    /// `virtual_server_group` blocks, in file order.
    pub groups: Vec<VirtualServerGroup>,
    /// `virtual_server` blocks, in file order.
    pub virtual_servers: Vec<VirtualServer>,
    /// `track_file` blocks (and the deprecated `vrrp_track_file`), in file order.
    pub track_files: Vec<TrackFile>,
    /// `bfd_instance` blocks, in file order (those `BFD_CHECK`s name).
    pub bfd_instances: Vec<BfdInstance>,
    /// The client certificate of the global `SSL { }` block, which every
    /// `SSL_GET` presents (also in each one's [`TlsOptions`]).
    pub client_certificate: Option<std::sync::Arc<ClientCertificate>>,
}

/// A global `track_file NAME { file PATH; weight W [reverse]; init_file [V] [overwrite] }`:
/// a file whose number `FILE_CHECK`s follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackFile {
    /// The name `FILE_CHECK { track_file NAME }` uses.
    pub name: String,
    /// `file`: the path as written.
    pub path: PathBuf,
    /// `weight` (-254..254, default 1): what a `FILE_CHECK` without its own uses.
    pub weight: i32,
    /// `weight W reverse`.
    pub reverse: bool,
    /// `init_file`: what to write at start.
    pub init: Option<InitFile>,
    /// Where the block starts.
    pub location: Location,
}

/// `init_file [VALUE] [overwrite]`: write `VALUE` (default 0) to the file
/// at start if it does not exist, or always with `overwrite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InitFile {
    /// The number written (`"%d\n"`).
    pub value: i32,
    /// Write even if the file exists (never on a reload).
    pub overwrite: bool,
}

/// `lvs_flush_onstop`: what happens to the table when the checker stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlushOnStop {
    /// Remove the services this config owns (keepalived's default).
    #[default]
    Own,
    /// `lvs_flush_onstop`: flush the whole table.
    All,
    /// `lvs_flush_onstop VS`: remove only the virtual servers.
    VirtualServers,
    /// `lvs_flush_onstop RS`: remove only the real servers.
    RealServers,
}

/// `lvs_timeouts tcp T tcpfin T udp T`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LvsTimeouts {
    /// TCP established timeout, seconds (0 = leave as is).
    pub tcp: u32,
    /// TCP FIN_WAIT timeout, seconds.
    pub tcpfin: u32,
    /// UDP timeout, seconds.
    pub udp: u32,
}

/// `lvs_sync_daemon INTERFACE INSTANCE [id N] [maxlen N] [port N] [ttl N] [group IP]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncDaemon {
    /// Interface the sync traffic uses.
    pub interface: String,
    /// The VRRP instance whose state says master or backup.
    pub instance: String,
    /// Sync id (0–255).
    pub sync_id: u8,
    /// Maximum sync message length.
    pub maxlen: Option<u16>,
    /// UDP port.
    pub port: Option<u16>,
    /// Multicast TTL.
    pub ttl: Option<u8>,
    /// Multicast group.
    pub group: Option<IpAddr>,
}

/// The checker's part of `global_defs`; the rest is parsed and skipped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GlobalDefs {
    /// `router_id` / `lvs_id`.
    pub router_id: Option<String>,
    /// `lvs_flush`: flush the whole table at start.
    pub lvs_flush: bool,
    /// `lvs_flush_onstop`.
    pub lvs_flush_onstop: Option<FlushOnStop>,
    /// `lvs_timeouts`.
    pub lvs_timeouts: Option<LvsTimeouts>,
    /// `lvs_sync_daemon`.
    pub lvs_sync_daemon: Option<SyncDaemon>,
    /// `script_user USER [GROUP]`.
    pub script_user: Option<Account>,
    /// `enable_script_security`.
    pub enable_script_security: bool,
    /// `checker_log_all_failures`.
    pub checker_log_all_failures: bool,
    /// `notification_email_from`, `smtp_server` and the like: kept as raw text.
    pub notification: Vec<(String, String)>,
    /// `net_namespace NAME`: the network namespace lvsd runs in.
    pub net_namespace: Option<String>,
    /// `notify_fifo` (and `notify_fifo_script`): every event, VRRP's too.
    pub notify_fifo: Option<NotifyFifo>,
    /// `lvs_notify_fifo` (and `lvs_notify_fifo_script`): the checker's events.
    pub lvs_notify_fifo: Option<NotifyFifo>,
    /// `bfd_priority` and `bfd_rt_priority`: how the BFD thread is scheduled.
    pub bfd_scheduling: BfdScheduling,
}

/// How the thread running BFD sessions is scheduled (keepalived applies
/// the same keywords to its BFD process).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BfdScheduling {
    /// `bfd_priority`: its nice value, -20 (first) to 19 (last).
    pub nice: Option<i8>,
    /// `bfd_rt_priority`: real-time scheduling (`SCHED_RR`) at this
    /// priority, 1 to 99.
    pub rt_priority: Option<u8>,
}

/// A FIFO keepalived writes one line per state change to, and the script
/// that reads it (run with the FIFO's path as its argument).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotifyFifo {
    /// The FIFO (empty when only the script was given).
    pub path: String,
    /// The reader, as a command line.
    pub script: Option<String>,
}

/// A command line to run on an event, with its optional `timeout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    /// The command line as written (quotes removed).
    pub command: String,
    /// Where it was configured.
    pub location: Location,
}

/// How a virtual server is addressed (read back from `admin-state.json`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VsAddress {
    /// `virtual_server IP PORT` (`Addr` in files written before 0.2).
    #[serde(alias = "Addr")]
    Addr {
        /// Virtual address.
        addr: IpAddr,
        /// Virtual port.
        port: u16,
    },
    /// `virtual_server fwmark N`.
    #[serde(alias = "Fwmark")]
    Fwmark(u32),
    /// `virtual_server group NAME`.
    #[serde(alias = "Group")]
    Group(String),
}

/// One entry of a `virtual_server_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupEntry {
    /// `IP PORT`, or a range `10.0.0.1-10 PORT` expanded to its addresses.
    Addr {
        /// First address of the range.
        first: IpAddr,
        /// Last address of the range (equal to `first` for one address).
        last: IpAddr,
        /// Port.
        port: u16,
    },
    /// `fwmark N`.
    Fwmark(u32),
}

/// `virtual_server_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualServerGroup {
    /// Group name.
    pub name: String,
    /// Entries in file order.
    pub entries: Vec<GroupEntry>,
    /// Where the block starts.
    pub location: Location,
}

/// `sorry_server IP PORT` and its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SorryServer {
    /// Address.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// `sorry_server_inhibit`: kept at weight 0 rather than removed.
    pub inhibit: bool,
    /// `sorry_server_lvs_method`, else the virtual server's.
    pub method: ForwardMethod,
}

/// Tunnel options of `lb_kind TUN` (`tun_type`, `tun_port`, `tun_flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TunnelOptions {
    /// Encapsulation.
    pub kind: TunnelType,
    /// GUE port.
    pub port: u16,
    /// Encapsulation flags (checksum options).
    pub flags: u16,
}

/// `virtual_server ... { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServer {
    /// Where the block starts.
    pub location: Location,
    /// How it is addressed.
    pub address: VsAddress,
    /// `ip_family inet|inet6` (needed for fwmark services; else from the address).
    pub ip_family: Option<crate::ipvs::Family>,
    /// `protocol`. Unset: UDP with a warning, as keepalived 2.2 does (for
    /// fwmark services, where it does not apply: TCP).
    pub protocol: Protocol,
    /// `lb_algo` / `lvs_sched` (default `wlc`).
    pub scheduler: String,
    /// `lb_kind` / `lvs_method` (default NAT).
    pub method: ForwardMethod,
    /// Tunnel options for `lb_kind TUN`.
    pub tunnel: Option<TunnelOptions>,
    /// Scheduler and service flags: `ops`, `sh-port`/`mh-port` (SCHED2),
    /// `sh-fallback`/`mh-fallback` (SCHED1), as `IP_VS_SVC_F_*` bits.
    #[serde(serialize_with = "crate::ipvs::ServiceFlags::serialize_bits")]
    pub flags: u32,
    /// `persistence_timeout`, seconds (0 = none).
    pub persistence_timeout: u32,
    /// `persistence_granularity` as the kernel's netmask value.
    #[serde(serialize_with = "crate::ipvs::model::netmask::option")]
    pub persistence_granularity: Option<u32>,
    /// `persistence_engine`.
    pub persistence_engine: Option<String>,
    /// `ha_suspend`.
    pub ha_suspend: bool,
    /// `alpha`: real servers start down until their first success.
    pub alpha: bool,
    /// `omega`: run notify_down / quorum_down for every server at stop.
    pub omega: bool,
    /// `quorum` (default 1).
    pub quorum: u32,
    /// `hysteresis` (default 0).
    pub hysteresis: u32,
    /// `quorum_up`.
    pub quorum_up: Option<Script>,
    /// `quorum_down`.
    pub quorum_down: Option<Script>,
    /// `sorry_server`.
    pub sorry_server: Option<SorryServer>,
    /// `inhibit_on_failure` at the virtual server level (real servers inherit it).
    pub inhibit_on_failure: bool,
    /// `virtualhost` (HTTP checks' default Host header).
    pub virtualhost: Option<String>,
    /// `smtp_alert`: mail on quorum changes (unset: global_defs decides).
    pub smtp_alert: Option<bool>,
    /// The real servers.
    pub real_servers: Vec<RealServer>,
}

impl VirtualServer {
    /// A virtual server at `address` with keepalived's defaults (protocol
    /// unset means UDP, `wlc`, NAT, quorum 1) and no real servers yet.
    pub fn new(location: Location, address: VsAddress) -> Self {
        VirtualServer {
            location,
            address,
            ip_family: None,
            protocol: Protocol::Udp,
            scheduler: "wlc".into(),
            method: ForwardMethod::Masq,
            tunnel: None,
            flags: 0,
            persistence_timeout: 0,
            persistence_granularity: None,
            persistence_engine: None,
            ha_suspend: false,
            alpha: false,
            omega: false,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            sorry_server: None,
            inhibit_on_failure: false,
            virtualhost: None,
            smtp_alert: None,
            real_servers: Vec::new(),
        }
    }
}

/// `real_server IP PORT { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealServer {
    /// Where the block starts.
    pub location: Location,
    /// Address.
    pub addr: IpAddr,
    /// Port (for fwmark services it may be 0).
    pub port: u16,
    /// `weight` (default 1).
    pub weight: i32,
    /// `lvs_method` for this real server, else the virtual server's.
    pub method: ForwardMethod,
    /// Tunnel options, else the virtual server's.
    pub tunnel: Option<TunnelOptions>,
    /// `inhibit_on_failure` (inherited from the virtual server).
    pub inhibit_on_failure: bool,
    /// `uthreshold` (0 = none).
    pub u_threshold: u32,
    /// `lthreshold` (0 = none).
    pub l_threshold: u32,
    /// `notify_up` (boxed: most real servers have none, and a config can
    /// have 100,000 real servers).
    pub notify_up: Option<Box<Script>>,
    /// `notify_down` (boxed, as `notify_up`).
    pub notify_down: Option<Box<Script>>,
    /// `smtp_alert`: mail on health changes (unset: global_defs decides).
    pub smtp_alert: Option<bool>,
    /// The health checks; a real server with none is always up. Shared
    /// with the checker, whose probes are these very checks.
    pub checks: Checks,
}

/// How a probe's connection is closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseMode {
    /// An orderly close: FIN, never blocking (lvsd's default).
    #[default]
    Graceful,
    /// `close_with_reset` (lvsd's own keyword): SO_LINGER 0, an RST.
    Reset,
}

/// How a probe's socket is set up before it connects: `bindto`,
/// `bind_port`, `bind_if`, `fwmark`. Few checkers set any of them, so
/// [`CheckCommon`] keeps them out of line, and only when one is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Binding {
    /// `bindto`: the source address.
    pub bindto: Option<IpAddr>,
    /// `bind_port`: the source port.
    pub bind_port: Option<u16>,
    /// `bind_if`: SO_BINDTODEVICE.
    pub bind_if: Option<String>,
    /// `fwmark`: SO_MARK on the probe's socket.
    pub fwmark: Option<u32>,
}

impl Binding {
    /// `self` boxed, or `None` if it sets nothing (the form
    /// [`CheckCommon::binding`] keeps, so that equal checkers compare equal).
    pub fn boxed(self) -> Option<Box<Binding>> {
        let unset = self.bindto.is_none()
            && self.bind_port.is_none()
            && self.bind_if.is_none()
            && self.fwmark.is_none();
        (!unset).then(|| Box::new(self))
    }
}

/// What every checker has, resolved from the checker, real server and virtual
/// server levels (keepalived's inheritance) with keepalived's defaults.
///
/// Serialised with the four [`Binding`] settings as fields of their own
/// (`null` when unset), as they were before they moved out of line.
///
/// Compares and hashes as the probe it makes: every field but `location`.
/// So a check (and a [`crate::checker::ProbeSpec`]) equals the same check
/// written elsewhere: two virtual servers' identical checks are one probe,
/// and a reload after lines moved keeps every probe. A config compares the
/// locations of its checks too (see [`Checks`]).
#[derive(Debug, Clone)]
pub struct CheckCommon {
    /// Where the checker block starts.
    pub location: Location,
    /// `connect_ip`, else the real server's address.
    pub connect_ip: IpAddr,
    /// `connect_port`, else the real server's port.
    pub connect_port: u16,
    /// `bindto`, `bind_port`, `bind_if`, `fwmark`; `None` when none is set
    /// (see [`Binding::boxed`]). A config may hold 100,000 checkers: out of
    /// line, these four cost 8 bytes a checker instead of 56.
    pub binding: Option<Box<Binding>>,
    /// `connect_timeout` (default 5 s).
    pub connect_timeout: Timer,
    /// `delay_loop` (virtual server's, default 60 s).
    pub delay_loop: Timer,
    /// `retry` (default 1; `nb_get_retry` for HTTP).
    pub retry: u32,
    /// `delay_before_retry` (default 1 s).
    pub delay_before_retry: Timer,
    /// `warmup`: the largest random delay before the first probe (default `delay_loop`).
    pub warmup: Timer,
    /// `alpha` (from the virtual server): start down.
    pub alpha: bool,
    /// How the probe's connection ends.
    pub close: CloseMode,
}

impl CheckCommon {
    /// Every field but `location`, for hashing. Listed without `..`, so a
    /// new field cannot be left out (nor from `==`, written the same way).
    #[allow(clippy::type_complexity)]
    fn identity(
        &self,
    ) -> (
        &IpAddr,
        u16,
        &Option<Box<Binding>>,
        &Timer,
        &Timer,
        u32,
        &Timer,
        &Timer,
        bool,
        &CloseMode,
    ) {
        let CheckCommon {
            location: _,
            connect_ip,
            connect_port,
            binding,
            connect_timeout,
            delay_loop,
            retry,
            delay_before_retry,
            warmup,
            alpha,
            close,
        } = self;
        (
            connect_ip,
            *connect_port,
            binding,
            connect_timeout,
            delay_loop,
            *retry,
            delay_before_retry,
            warmup,
            *alpha,
            close,
        )
    }
}

impl PartialEq for CheckCommon {
    /// Field by field (as a derived `==`, the cheap ones first): a reload
    /// compares every check of the old config with the new one's.
    fn eq(&self, other: &Self) -> bool {
        let CheckCommon {
            location: _,
            connect_ip,
            connect_port,
            binding,
            connect_timeout,
            delay_loop,
            retry,
            delay_before_retry,
            warmup,
            alpha,
            close,
        } = self;
        *connect_port == other.connect_port
            && *retry == other.retry
            && *alpha == other.alpha
            && *close == other.close
            && *connect_timeout == other.connect_timeout
            && *delay_loop == other.delay_loop
            && *delay_before_retry == other.delay_before_retry
            && *warmup == other.warmup
            && *connect_ip == other.connect_ip
            && *binding == other.binding
    }
}

impl Eq for CheckCommon {}

impl std::hash::Hash for CheckCommon {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity().hash(state)
    }
}

impl CheckCommon {
    /// A checker of `connect_ip:connect_port` with keepalived's TCP_CHECK
    /// defaults: connect_timeout 5 s, delay_loop 60 s, retry 1,
    /// delay_before_retry 1 s, warmup up to delay_loop, no alpha, a graceful close.
    pub fn new(connect_ip: IpAddr, connect_port: u16) -> Self {
        let delay_loop = super::inherit::DEFAULT_DELAY_LOOP;
        CheckCommon {
            location: Location::default(),
            connect_ip,
            connect_port,
            binding: None,
            connect_timeout: super::inherit::DEFAULT_CONNECT_TIMEOUT,
            delay_loop,
            retry: 1,
            delay_before_retry: Timer::from_secs(1),
            warmup: delay_loop,
            alpha: false,
            close: CloseMode::Graceful,
        }
    }

    /// `bindto`, if set.
    pub fn bindto(&self) -> Option<IpAddr> {
        self.binding.as_ref().and_then(|b| b.bindto)
    }

    /// `bind_port`, if set.
    pub fn bind_port(&self) -> Option<u16> {
        self.binding.as_ref().and_then(|b| b.bind_port)
    }

    /// `bind_if`, if set.
    pub fn bind_if(&self) -> Option<&str> {
        self.binding.as_ref().and_then(|b| b.bind_if.as_deref())
    }

    /// `fwmark`, if set.
    pub fn fwmark(&self) -> Option<u32> {
        self.binding.as_ref().and_then(|b| b.fwmark)
    }
}

impl Serialize for CheckCommon {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("CheckCommon", 14)?;
        s.serialize_field("location", &self.location)?;
        s.serialize_field("connect_ip", &self.connect_ip)?;
        s.serialize_field("connect_port", &self.connect_port)?;
        s.serialize_field("bindto", &self.bindto())?;
        s.serialize_field("bind_port", &self.bind_port())?;
        s.serialize_field("bind_if", &self.bind_if())?;
        s.serialize_field("fwmark", &self.fwmark())?;
        s.serialize_field("connect_timeout", &self.connect_timeout)?;
        s.serialize_field("delay_loop", &self.delay_loop)?;
        s.serialize_field("retry", &self.retry)?;
        s.serialize_field("delay_before_retry", &self.delay_before_retry)?;
        s.serialize_field("warmup", &self.warmup)?;
        s.serialize_field("alpha", &self.alpha)?;
        s.serialize_field("close", &self.close)?;
        s.end()
    }
}

/// `TCP_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TcpCheck {
    /// Common settings.
    pub common: CheckCommon,
}

/// One `url { ... }` of `HTTP_GET` / `SSL_GET`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Url {
    /// `path`, sent as written (query string included).
    pub path: String,
    /// `digest`: the MD5 of the body, 32 lowercase hex digits.
    pub digest: Option<String>,
    /// `status_code` values and ranges (100–599), in the order written;
    /// 200–299 when none is given.
    pub status_codes: Vec<(u16, u16)>,
    /// `virtualhost` for this URL.
    pub virtualhost: Option<String>,
    /// `regex` with its `regex_*` settings.
    pub regex: Option<UrlRegex>,
}

impl Url {
    /// A URL with keepalived's defaults: any 2xx, no digest, no regex.
    pub fn new(path: impl Into<String>) -> Url {
        Url {
            path: path.into(),
            digest: None,
            status_codes: vec![(200, 299)],
            virtualhost: None,
            regex: None,
        }
    }
}

/// A url's `regex`, `regex_no_match`, `regex_min_offset` and
/// `regex_max_offset`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UrlRegex {
    /// The compiled pattern (with `regex_options` and `regex_stack`).
    pub regex: HttpRegex,
    /// `regex_no_match`: the URL passes when the pattern does *not* match.
    pub no_match: bool,
    /// `regex_min_offset`: a match may not start before this byte of the
    /// answer (the status line's first byte is 0).
    pub min_offset: usize,
    /// `regex_max_offset`: a match must start at or before this byte.
    pub max_offset: Option<usize>,
}

/// `http_protocol`: the request line's version and `Connection: close`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub enum HttpProtocol {
    /// `1.0` (keepalived's default): `HTTP/1.0`, no `Connection` header.
    #[default]
    #[serde(rename = "1.0")]
    Http10,
    /// `1.0C`: `HTTP/1.0` with `Connection: close`.
    #[serde(rename = "1.0C")]
    Http10Close,
    /// `1.1`: `HTTP/1.1` with `Connection: close`.
    #[serde(rename = "1.1")]
    Http11,
}

/// `HTTP_GET` / `SSL_GET`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct HttpCheck {
    /// Common settings.
    pub common: CheckCommon,
    /// `SSL_GET` or `enable_ssl`.
    pub tls: bool,
    /// URLs to fetch, one per connection, in order.
    pub urls: Vec<Url>,
    /// The Host header's default when a url has no `virtualhost`: the
    /// checker's `virtualhost`, else the real server's, else the virtual
    /// server's.
    pub virtualhost: Option<String>,
    /// `http_protocol`.
    pub protocol: HttpProtocol,
    /// `fast_recovery`: while the server is down (or has not run), the next
    /// URL is probed at once after one passes.
    pub fast_recovery: bool,
    /// `SSL_GET`'s TLS settings: SNI and the client certificate
    /// (unused by `HTTP_GET`).
    pub tls_options: TlsOptions,
}

/// How an `SSL_GET` speaks TLS (see `checker/tls.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct TlsOptions {
    /// `enable_sni`, or implied by `sni_name`: send a server name.
    pub enable_sni: bool,
    /// `sni_name NAME` (keepalived after 2.4.3): the server name, before
    /// any `virtualhost`.
    pub sni_name: Option<String>,
    /// The server name when neither `sni_name` nor the URL's `virtualhost`
    /// gives one: the checker's `virtualhost`, else the virtual server's.
    /// keepalived never uses the real server's here (it does for `Host:`).
    pub sni_virtualhost: Option<String>,
    /// The client certificate of the global `SSL { }` block, if it has one.
    pub client: Option<std::sync::Arc<ClientCertificate>>,
}

impl TlsOptions {
    /// The server name sent for `url` (SNI), if any: keepalived's order,
    /// `sni_name`, then the URL's `virtualhost`, then [`Self::sni_virtualhost`];
    /// none unless `enable_sni`.
    pub fn sni<'a>(&'a self, url: &'a Url) -> Option<&'a str> {
        if !self.enable_sni {
            return None;
        }
        self.sni_name
            .as_deref()
            .or(url.virtualhost.as_deref())
            .or(self.sni_virtualhost.as_deref())
    }
}

/// The client certificate and key of the global `SSL { certificate key }`
/// block, read and decrypted when the config is loaded (a file that cannot
/// be read or decrypted is an error at its line). Compares by content, so a
/// reload that reads the same files changes no probe; prints and serialises
/// as its file names only, never the key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientCertificate {
    /// `certificate FILE`: a PEM chain, the client's own certificate first.
    pub certificate_file: std::path::PathBuf,
    /// `key FILE`: a PEM private key (PKCS#8, PKCS#1 or SEC1; PKCS#8 may be
    /// encrypted, with `password`).
    pub key_file: std::path::PathBuf,
    /// The chain, DER.
    pub chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// The private key, decrypted, DER (PKCS#8, PKCS#1 or SEC1 as
    /// `key_format` says).
    pub key_der: Vec<u8>,
    /// The form of [`Self::key_der`].
    pub key_format: KeyFormat,
}

/// The form of a private key's DER.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyFormat {
    /// PKCS#8 (`PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` once decrypted).
    Pkcs8,
    /// PKCS#1 (`RSA PRIVATE KEY`).
    Pkcs1,
    /// SEC1 (`EC PRIVATE KEY`).
    Sec1,
}

impl ClientCertificate {
    /// The private key, for rustls.
    pub fn private_key(&self) -> rustls_pki_types::PrivateKeyDer<'static> {
        use rustls_pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
        let der = self.key_der.clone();
        match self.key_format {
            KeyFormat::Pkcs8 => PrivatePkcs8KeyDer::from(der).into(),
            KeyFormat::Pkcs1 => PrivatePkcs1KeyDer::from(der).into(),
            KeyFormat::Sec1 => PrivateSec1KeyDer::from(der).into(),
        }
    }
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("certificate_file", &self.certificate_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl Serialize for ClientCertificate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("ClientCertificate", 2)?;
        s.serialize_field("certificate_file", &self.certificate_file)?;
        s.serialize_field("key_file", &self.key_file)?;
        s.end()
    }
}

/// `MISC_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MiscCheck {
    /// Common settings (connect_* unused).
    pub common: CheckCommon,
    /// `misc_path`.
    pub path: String,
    /// `misc_timeout`.
    #[serde(serialize_with = "super::timer::seconds::option")]
    pub timeout: Option<Duration>,
    /// `misc_dynamic`: the exit code sets the weight.
    pub dynamic: bool,
    /// `user USER [GROUP]` (boxed: rare, and it would otherwise make every
    /// [`Check`] of a config bigger).
    pub user: Option<Box<Account>>,
}

/// `USER [GROUP]`: whom a script runs as (`script_user`, a MISC_CHECK's
/// `user`), with where each name was written. The names are only read
/// here; whether they exist on this host is asked after the parse, by
/// [`crate::script_policy::check_config`].
///
/// Compares, hashes and serialises as its names alone (`["USER", "GROUP"]`),
/// so a check equals the same check written elsewhere (see [`CheckCommon`]).
#[derive(Debug, Clone)]
pub struct Account {
    /// The user's name.
    pub user: String,
    /// The group's name, else the user's primary group.
    pub group: Option<String>,
    /// Where the user's name is written.
    pub user_at: Location,
    /// Where the group's name is written.
    pub group_at: Option<Location>,
}

impl Account {
    /// The names, without where they were written.
    pub fn names(&self) -> (&str, Option<&str>) {
        let Account {
            user,
            group,
            user_at: _,
            group_at: _,
        } = self;
        (user, group.as_deref())
    }
}

impl PartialEq for Account {
    fn eq(&self, other: &Self) -> bool {
        self.names() == other.names()
    }
}

impl Eq for Account {}

impl std::hash::Hash for Account {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.names().hash(state)
    }
}

impl Serialize for Account {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(serializer)
    }
}

/// `FILE_CHECK { track_file NAME; weight W [reverse|noreverse] }`, with
/// its `track_file` resolved: everything the watcher needs, so two checks
/// of the same file with the same weight are one probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FileCheck {
    /// Only `location` means anything: FILE_CHECK takes none of the
    /// connection or timing keywords, and the rest is the same for every
    /// FILE_CHECK (so checks of different real servers share a probe).
    pub common: CheckCommon,
    /// The `track_file` it names.
    pub track_file: String,
    /// That track_file's `file`.
    pub path: PathBuf,
    /// `weight` (±2147483647), else the track_file's: 0 = the real server is
    /// down while the value says so; else value × weight is added to its weight.
    pub weight: i32,
    /// `reverse`, else the track_file's (with the track_file's weight).
    pub reverse: bool,
}

/// What `UDP_CHECK`'s `require_reply` asks of the reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ReplyPattern {
    /// The bytes the reply starts with (`require_reply HEX`); empty when no
    /// HEX was given: then any datagram, even an empty one, passes.
    pub value: Vec<u8>,
    /// Per byte of `value`, the bits that must match (`x` nibbles are 0).
    pub mask: Vec<u8>,
}

/// `UDP_CHECK`: one datagram out; an ICMP "destination unreachable" back
/// fails, silence passes unless a reply is required.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UdpCheck {
    /// Common settings.
    pub common: CheckCommon,
    /// `payload HEX`; `None` sends keepalived's fixed 32 bytes.
    pub payload: Option<Vec<u8>>,
    /// `require_reply [HEX]`; `None` when no reply is required.
    pub require_reply: Option<ReplyPattern>,
    /// `min_reply_length` (default 0): checked only with a reply HEX.
    pub min_reply_length: u16,
    /// `max_reply_length` (default 255): checked only with a reply HEX.
    pub max_reply_length: u16,
}

/// `PING_CHECK`: an ICMP (or ICMPv6) echo to `connect_ip`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PingCheck {
    /// Common settings (`connect_port` and `fwmark` are not used).
    pub common: CheckCommon,
}

/// One checker of a real server. It serialises under the keyword that
/// opens its block (`{"TCP_CHECK": {...}}`, `{"SSL_GET": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Check {
    /// `TCP_CHECK`.
    Tcp(TcpCheck),
    /// `HTTP_GET` / `SSL_GET` (boxed, as every kind but TCP: a config may
    /// hold 100,000 checks, nearly all `TCP_CHECK`, and the enum is as big
    /// as its biggest variant).
    Http(Box<HttpCheck>),
    /// `MISC_CHECK`.
    Misc(Box<MiscCheck>),
    /// `SMTP_CHECK` (one per `host` block).
    Smtp(Box<SmtpCheck>),
    /// `DNS_CHECK`.
    Dns(Box<DnsCheck>),
    /// `UDP_CHECK`.
    Udp(Box<UdpCheck>),
    /// `PING_CHECK`.
    Ping(Box<PingCheck>),
    /// `FILE_CHECK`.
    File(Box<FileCheck>),
    /// `BFD_CHECK`.
    Bfd(Box<BfdCheck>),
}

impl Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Check::Tcp(c) => map.serialize_entry(self.keyword(), c)?,
            Check::Http(c) => map.serialize_entry(self.keyword(), c)?,
            Check::Misc(c) => map.serialize_entry(self.keyword(), c)?,
            Check::Smtp(c) => map.serialize_entry(self.keyword(), c)?,
            Check::Dns(c) => map.serialize_entry(self.keyword(), c)?,
            Check::Udp(c) => map.serialize_entry(self.keyword(), c)?,
            Check::Ping(c) => map.serialize_entry(self.keyword(), c)?,
            Check::File(c) => map.serialize_entry(self.keyword(), c)?,
            Check::Bfd(c) => map.serialize_entry(self.keyword(), c)?,
        }
        map.end()
    }
}

impl Check {
    /// The settings every checker has.
    pub fn common(&self) -> &CheckCommon {
        match self {
            Check::Tcp(c) => &c.common,
            Check::Http(c) => &c.common,
            Check::Misc(c) => &c.common,
            Check::Smtp(c) => &c.common,
            Check::Dns(c) => &c.common,
            Check::Udp(c) => &c.common,
            Check::Ping(c) => &c.common,
            Check::File(c) => &c.common,
            Check::Bfd(c) => &c.common,
        }
    }

    /// The same check written at the same place: how a config compares
    /// its checks (`==` alone is the probe's identity, wherever written).
    /// One match for both, as a reload compares every check.
    pub fn same_and_at_same_place(&self, other: &Check) -> bool {
        macro_rules! same {
            ($a:expr, $b:expr) => {
                $a.common.location == $b.common.location && $a == $b
            };
        }
        match (self, other) {
            (Check::Tcp(a), Check::Tcp(b)) => same!(a, b),
            (Check::Http(a), Check::Http(b)) => same!(a, b),
            (Check::Misc(a), Check::Misc(b)) => same!(a, b),
            (Check::Smtp(a), Check::Smtp(b)) => same!(a, b),
            (Check::Dns(a), Check::Dns(b)) => same!(a, b),
            (Check::Udp(a), Check::Udp(b)) => same!(a, b),
            (Check::Ping(a), Check::Ping(b)) => same!(a, b),
            (Check::File(a), Check::File(b)) => same!(a, b),
            (Check::Bfd(a), Check::Bfd(b)) => same!(a, b),
            _ => false,
        }
    }

    /// Whether lvsd probes this kind of check (see
    /// [`CheckKw::is_probed`](super::keywords::CheckKw::is_probed)).
    pub fn is_probed(&self) -> bool {
        super::keywords::CheckKw::from_name(self.keyword())
            .is_some_and(super::keywords::CheckKw::is_probed)
    }

    /// The keyword that opens this checker's block.
    pub fn keyword(&self) -> &'static str {
        match self {
            Check::Tcp(_) => "TCP_CHECK",
            Check::Http(c) if c.tls => "SSL_GET",
            Check::Http(_) => "HTTP_GET",
            Check::Misc(_) => "MISC_CHECK",
            Check::Smtp(_) => "SMTP_CHECK",
            Check::Dns(_) => "DNS_CHECK",
            Check::Udp(_) => "UDP_CHECK",
            Check::Ping(_) => "PING_CHECK",
            Check::File(_) => "FILE_CHECK",
            Check::Bfd(_) => "BFD_CHECK",
        }
    }
}
