//! The keywords lvsd knows, block by block, as data.
//!
//! Each table is written once, in `keyword_table!`, which makes both an
//! enum the typing pass matches on and a `&[&str]` list of the spellings.
//! `grammar/keepalived.ebnf` lists the same keywords; a test reads both and
//! fails when they disagree, so the grammar cannot drift from the parser.

/// Declares a keyword enum, its `from_name` lookup (a `match`, which the
/// compiler turns into a fast string switch) and the list of its spellings.
macro_rules! keyword_table {
    ($(#[$meta:meta])* $name:ident, $table:ident { $($kw:literal => $var:ident,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum $name { $($var,)* }

        impl $name {
            /// The keyword spelled `word`, if this block knows it.
            pub fn from_name(word: &str) -> Option<Self> {
                match word {
                    $($kw => Some(Self::$var),)*
                    _ => None,
                }
            }
        }

        /// Every spelling of this block's keywords, in grammar order.
        pub const $table: &[&str] = &[$($kw,)*];
    };
}

keyword_table! {
    /// Top-level blocks the checker reads.
    TopKw, TOP_KEYWORDS {
        "global_defs" => GlobalDefs,
        "virtual_server_group" => VirtualServerGroup,
        "virtual_server" => VirtualServer,
        "SSL" => Ssl,
        "track_file" => TrackFile,
        "vrrp_track_file" => VrrpTrackFile,
        "bfd_instance" => BfdInstance,
    }
}

/// Top-level blocks that belong to VRRP or the static/track machinery:
/// read as whole blocks and skipped, with one Info diagnostic each.
pub const SKIPPED_BLOCKS: &[&str] = &[
    "garp_group",
    "interface_up_down_delays",
    "linkbeat_interfaces",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "static_track_group",
    "track_process",
    "vrrp_instance",
    "vrrp_script",
    "vrrp_sync_group",
    "vrrp_track_process",
];

keyword_table! {
    /// `global_defs` keywords lvsd types; the others are in [`GLOBAL_OTHER_KEYWORDS`].
    GlobalKw, GLOBAL_KEYWORDS {
        "router_id" => RouterId,
        "lvs_id" => LvsId,
        "lvs_flush" => LvsFlush,
        "lvs_flush_onstop" => LvsFlushOnstop,
        "lvs_flush_on_stop" => LvsFlushOnStop,
        "lvs_timeouts" => LvsTimeouts,
        "lvs_sync_daemon" => LvsSyncDaemon,
        "script_user" => ScriptUser,
        "enable_script_security" => EnableScriptSecurity,
        "checker_log_all_failures" => CheckerLogAllFailures,
        "notification_email" => NotificationEmail,
        "notification_email_from" => NotificationEmailFrom,
        "smtp_server" => SmtpServer,
        "smtp_helo_name" => SmtpHeloName,
        "smtp_connect_timeout" => SmtpConnectTimeout,
        "smtp_alert" => SmtpAlert,
        "smtp_alert_checker" => SmtpAlertChecker,
        "no_email_faults" => NoEmailFaults,
        "no_checker_emails" => NoCheckerEmails,
        "bfd_priority" => BfdPriority,
        "bfd_rt_priority" => BfdRtPriority,
    }
}

/// The rest of `global_defs` (daemon, VRRP, SNMP, D-Bus, nftables...):
/// accepted and not used by the checker.
pub const GLOBAL_OTHER_KEYWORDS: &[&str] = &[
    "bfd_cpu_affinity",
    "bfd_no_swap",
    "bfd_process_name",
    "bfd_rlimit_rttime",
    "checker_cpu_affinity",
    "checker_no_swap",
    "checker_priority",
    "checker_process_name",
    "checker_rlimit_rttime",
    "checker_rt_priority",
    "child_wait_time",
    "config_save_dir",
    "data_use_instance",
    "dbus_service_name",
    "default_interface",
    "disable_local_igmp",
    "dynamic_interfaces",
    "enable_dbus",
    "enable_snmp_checker",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_snmp_vrrp",
    "enable_traps",
    "fifo_write_vrrp_states_on_reload",
    "include_check",
    "instance",
    "linkbeat_use_polling",
    "log_unknown_vrids",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
    "max_auto_priority",
    "min_auto_priority_delay",
    "namespace_with_ipsets",
    "net_namespace",
    "net_namespace_ipvs",
    "nftables",
    "nftables_counters",
    "nftables_ifindex",
    "nftables_ipvs",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    "nftables_priority",
    "notify_fifo",
    "notify_fifo_script",
    "process_monitor_rcv_bufs",
    "process_monitor_rcv_bufs_force",
    "process_name",
    "process_names",
    "random_seed",
    "reload_check_config",
    "reload_file",
    "reload_repeat",
    "reload_time_file",
    "rs_init_notifies",
    "shutdown_script",
    "shutdown_script_timeout",
    "smtp_alert_vrrp",
    "snmp_socket",
    "startup_script",
    "startup_script_timeout",
    "tmp_config_directory",
    "umask",
    "use_pid_dir",
    "vmac_addr_prefix",
    "vmac_prefix",
    "vrrp_check_unicast_src",
    "vrrp_cpu_affinity",
    "vrrp_down_timer_adverts",
    "vrrp_garp_extra_if",
    "vrrp_garp_interval",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_master_repeat",
    "vrrp_gna_interval",
    "vrrp_higher_prio_send_advert",
    "vrrp_ipsets",
    "vrrp_iptables",
    "vrrp_lower_prio_no_advert",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_min_garp",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "vrrp_no_swap",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "vrrp_notify_priority_changes",
    "vrrp_priority",
    "vrrp_process_name",
    "vrrp_rlimit_rttime",
    "vrrp_rt_priority",
    "vrrp_rx_bufs_multiplier",
    "vrrp_rx_bufs_policy",
    "vrrp_skip_check_adv_addr",
    "vrrp_startup_delay",
    "vrrp_strict",
    "vrrp_version",
];

keyword_table! {
    /// `virtual_server` keywords (besides the inherited ones in [`InheritKw`]).
    VsKw, VS_KEYWORDS {
        "lb_algo" => LbAlgo,
        "lvs_sched" => LvsSched,
        "lb_kind" => LbKind,
        "lvs_method" => LvsMethod,
        "persistence_timeout" => PersistenceTimeout,
        "persistence_granularity" => PersistenceGranularity,
        "persistence_engine" => PersistenceEngine,
        "protocol" => Protocol,
        "ha_suspend" => HaSuspend,
        "omega" => Omega,
        "quorum" => Quorum,
        "hysteresis" => Hysteresis,
        "quorum_up" => QuorumUp,
        "quorum_down" => QuorumDown,
        "sorry_server" => SorryServer,
        "sorry_server_inhibit" => SorryServerInhibit,
        "sorry_server_lvs_method" => SorryServerLvsMethod,
        "ip_family" => IpFamily,
        "ops" => Ops,
        "sh-port" => ShPort,
        "sh-fallback" => ShFallback,
        "mh-port" => MhPort,
        "mh-fallback" => MhFallback,
        "flag-1" => Flag1,
        "flag-2" => Flag2,
        "flag-3" => Flag3,
        "smtp_alert" => SmtpAlert,
        "snmp_name" => SnmpName,
        "weight" => Weight,
        "real_server" => RealServer,
    }
}

keyword_table! {
    /// Settings a virtual server passes to its real servers and a real
    /// server to its checkers.
    InheritKw, INHERIT_KEYWORDS {
        "delay_loop" => DelayLoop,
        "connect_timeout" => ConnectTimeout,
        "retry" => Retry,
        "delay_before_retry" => DelayBeforeRetry,
        "warmup" => Warmup,
        "alpha" => Alpha,
        "inhibit_on_failure" => InhibitOnFailure,
        "virtualhost" => Virtualhost,
    }
}

keyword_table! {
    /// `real_server` keywords (besides [`InheritKw`] and the checkers).
    RsKw, RS_KEYWORDS {
        "weight" => Weight,
        "lvs_method" => LvsMethod,
        "lb_kind" => LbKind,
        "notify_up" => NotifyUp,
        "notify_down" => NotifyDown,
        "uthreshold" => Uthreshold,
        "lthreshold" => Lthreshold,
        "smtp_alert" => SmtpAlert,
        "snmp_name" => SnmpName,
    }
}

keyword_table! {
    /// The checker blocks of a real server.
    CheckKw, CHECK_KEYWORDS {
        "TCP_CHECK" => Tcp,
        "HTTP_GET" => HttpGet,
        "SSL_GET" => SslGet,
        "MISC_CHECK" => Misc,
        "SMTP_CHECK" => Smtp,
        "DNS_CHECK" => Dns,
        "UDP_CHECK" => Udp,
        "PING_CHECK" => Ping,
        "FILE_CHECK" => File,
        "BFD_CHECK" => Bfd,
    }
}

impl CheckKw {
    /// Whether lvsd probes this kind of checker. A config that holds a kind
    /// lvsd does not probe is refused (an error at the block), because lvsd
    /// never reports a real server healthy for a check it does not perform.
    /// This is the one list of what lvsd probes: the engine asks it too.
    pub fn is_probed(self) -> bool {
        match self {
            CheckKw::Tcp
            | CheckKw::HttpGet
            | CheckKw::SslGet
            | CheckKw::Misc
            | CheckKw::File
            | CheckKw::Smtp
            | CheckKw::Dns
            | CheckKw::Udp
            | CheckKw::Ping
            | CheckKw::Bfd => true,
        }
    }

    /// The spellings of the kinds lvsd probes, for messages.
    pub fn probed_names() -> Vec<&'static str> {
        CHECK_KEYWORDS
            .iter()
            .copied()
            .filter(|name| CheckKw::from_name(name).is_some_and(CheckKw::is_probed))
            .collect()
    }
}

keyword_table! {
    /// What every checker block accepts (with [`InheritKw`]'s timing keywords).
    CommonKw, COMMON_KEYWORDS {
        "connect_ip" => ConnectIp,
        "connect_port" => ConnectPort,
        "bindto" => Bindto,
        "bind_port" => BindPort,
        "bind_if" => BindIf,
        "fwmark" => Fwmark,
        "log_all_failures" => LogAllFailures,
        "close_with_reset" => CloseWithReset,
    }
}

keyword_table! {
    /// Keywords of one checker type, beyond the common ones.
    SpecificKw, SPECIFIC_KEYWORDS {
        "url" => Url,
        "http_protocol" => HttpProtocol,
        "fast_recovery" => FastRecovery,
        "enable_sni" => EnableSni,
        "nb_get_retry" => NbGetRetry,
        "helo_name" => HeloName,
        "host" => Host,
        "type" => Type,
        "name" => Name,
        "misc_path" => MiscPath,
        "misc_timeout" => MiscTimeout,
        "misc_dynamic" => MiscDynamic,
        "user" => User,
        "payload" => Payload,
        "require_reply" => RequireReply,
        "min_reply_length" => MinReplyLength,
        "max_reply_length" => MaxReplyLength,
        "track_file" => TrackFile,
        "weight" => Weight,
        "sni_name" => SniName,
        "tls_compliant" => TlsCompliant,
    }
}

keyword_table! {
    /// The global `track_file NAME { ... }` block (and `vrrp_track_file`).
    TrackFileKw, TRACK_FILE_KEYWORDS {
        "file" => File,
        "weight" => Weight,
        "init_file" => InitFile,
    }
}

pub use super::bfd_instance::BFD_INSTANCE_KEYWORDS;

keyword_table! {
    /// `url { ... }` of HTTP_GET / SSL_GET.
    UrlKw, URL_KEYWORDS {
        "path" => Path,
        "digest" => Digest,
        "status_code" => StatusCode,
        "virtualhost" => Virtualhost,
        "regex" => Regex,
        "regex_no_match" => RegexNoMatch,
        "regex_options" => RegexOptions,
        "regex_stack" => RegexStack,
        "regex_min_offset" => RegexMinOffset,
        "regex_max_offset" => RegexMaxOffset,
        "tls_compliant" => TlsCompliant,
    }
}

keyword_table! {
    /// The top-level `SSL { ... }` block (SSL_GET's client context).
    SslKw, SSL_KEYWORDS {
        "password" => Password,
        "ca" => Ca,
        "certificate" => Certificate,
        "key" => Key,
    }
}

/// Whether `kw` may open a block inside a `parent` block: not when it is
/// unknown there (a misspelled checker in a `real_server`), since
/// keepalived ignores such a `{` but not the `}` meant to close it; `None`
/// where lvsd leaves that to the typing pass.
pub fn opens_block(parent: &str, kw: &str) -> Option<bool> {
    // The common cases first: a checker in a real_server, a real_server
    // in a virtual_server.
    let known = || {
        CheckKw::from_name(kw).is_some()
            || RsKw::from_name(kw).is_some()
            || InheritKw::from_name(kw).is_some()
    };
    match parent {
        "real_server" => Some(known()),
        "virtual_server" => Some(kw == "real_server" || VsKw::from_name(kw).is_some() || known()),
        _ => None,
    }
}

/// Which [`SpecificKw`] each checker type accepts.
pub fn accepts(check: CheckKw, kw: SpecificKw) -> bool {
    use SpecificKw as S;
    match check {
        CheckKw::HttpGet => matches!(
            kw,
            S::Url | S::HttpProtocol | S::FastRecovery | S::EnableSni | S::SniName | S::NbGetRetry
        ),
        CheckKw::SslGet => matches!(
            kw,
            S::Url
                | S::HttpProtocol
                | S::FastRecovery
                | S::EnableSni
                | S::SniName
                | S::TlsCompliant
                | S::NbGetRetry
        ),
        CheckKw::Smtp => matches!(kw, S::HeloName | S::Host),
        CheckKw::Dns => matches!(kw, S::Type | S::Name),
        CheckKw::Misc => matches!(kw, S::MiscPath | S::MiscTimeout | S::MiscDynamic | S::User),
        CheckKw::Udp => matches!(
            kw,
            S::Payload | S::RequireReply | S::MinReplyLength | S::MaxReplyLength
        ),
        CheckKw::File => matches!(kw, S::TrackFile | S::Weight),
        CheckKw::Bfd => matches!(kw, S::Name),
        CheckKw::Tcp | CheckKw::Ping => false,
    }
}
