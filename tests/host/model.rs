//! The typed model: keepalived's defaults, inheritance virtual server →
//! real server → checker, and the virtual server keywords.

use std::path::Path;
use std::time::Duration;

use lvsd::config::{
    load_bytes, Binding, Check, CheckCommon, CloseMode, Config, LoadOptions, Severity, VsAddress,
};
use lvsd::ipvs::{ForwardMethod, Protocol, TunnelType};

fn read(text: &str) -> Config {
    let loaded = load_bytes(
        Path::new("/nonexistent/k.conf"),
        text.as_bytes().to_vec(),
        &LoadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        loaded
            .diagnostics
            .iter()
            .all(|d| d.severity < Severity::Warning),
        "{:#?}",
        loaded.diagnostics
    );
    loaded.config
}

const SECS: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn checker_defaults_by_type() {
    let c = read(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 8080 {\n  TCP_CHECK {\n  }\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n  MISC_CHECK {\n   misc_path /nonexistent/lvsd-check\n  }\n  DNS_CHECK {\n   type A\n  }\n }\n}\n",
    );
    let checks = &c.virtual_servers[0].real_servers[0].checks;
    let tcp = checks[0].common();
    assert_eq!(
        (tcp.connect_ip.to_string(), tcp.connect_port),
        ("10.0.0.2".into(), 8080)
    );
    assert_eq!(
        (
            tcp.delay_loop.duration(),
            tcp.connect_timeout.duration(),
            tcp.retry,
            tcp.delay_before_retry.duration(),
            tcp.warmup.duration()
        ),
        (SECS(60), SECS(5), 1, SECS(1), SECS(60))
    );
    assert_eq!(tcp.close, CloseMode::Graceful);
    assert!(!tcp.alpha);
    assert_eq!(
        (
            checks[1].common().retry,
            checks[1].common().delay_before_retry.duration()
        ),
        (1, SECS(3))
    );
    assert_eq!(checks[2].common().retry, 0);
    assert_eq!(
        (
            checks[3].common().retry,
            checks[3].common().delay_before_retry.duration()
        ),
        (3, SECS(60))
    );
    let Check::Http(h) = &*checks[1] else {
        panic!()
    };
    assert_eq!((h.tls, h.urls[0].path.as_str()), (false, "/"));
}

#[test]
fn settings_flow_from_virtual_server_to_real_server_to_checker() {
    let c = read(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n delay_loop 10\n connect_timeout 2.5\n retry 4\n alpha\n inhibit_on_failure\n virtualhost vs.example\n real_server 10.0.0.2 80 {\n  delay_before_retry 7\n  virtualhost rs.example\n  HTTP_GET {\n   retry 9\n   close_with_reset\n   url {\n    path /\n   }\n  }\n }\n real_server 10.0.0.3 80 {\n  inhibit_on_failure off\n  alpha no\n  SSL_GET {\n   url {\n    path /\n   }\n  }\n }\n}\n",
    );
    let vs = &c.virtual_servers[0];
    assert!(vs.alpha && vs.inhibit_on_failure);
    let (a, b) = (&vs.real_servers[0], &vs.real_servers[1]);
    assert!(a.inhibit_on_failure && !b.inhibit_on_failure);
    let Check::Http(ha) = &*a.checks[0] else {
        panic!()
    };
    let Check::Http(hb) = &*b.checks[0] else {
        panic!()
    };
    let ca = &ha.common;
    assert_eq!(
        (
            ca.delay_loop.duration(),
            ca.connect_timeout.duration(),
            ca.retry,
            ca.delay_before_retry.duration()
        ),
        (SECS(10), Duration::from_millis(2500), 9, SECS(7))
    );
    assert!(ca.alpha);
    assert_eq!(ca.warmup, SECS(10));
    assert_eq!(ca.close, CloseMode::Reset);
    assert_eq!(ha.virtualhost.as_deref(), Some("rs.example"));
    assert_eq!(
        (
            hb.common.retry,
            hb.common.delay_before_retry.duration(),
            hb.common.alpha
        ),
        (4, SECS(3), false)
    );
    assert!(hb.tls);
    assert_eq!(hb.virtualhost.as_deref(), Some("vs.example"));
}

#[test]
fn virtual_server_keywords() {
    let c = read(
        "virtual_server fwmark 5 {\n lvs_sched sh\n sh-port\n sh-fallback\n ops\n lvs_method TUN type gue port 6080 csum\n persistence_timeout\n persistence_granularity 255.255.255.0\n quorum 3\n hysteresis 1\n quorum_up \"/bin/up now\"\n ha_suspend\n omega\n ip_family inet6\n sorry_server fe80::9\n sorry_server_inhibit\n sorry_server_lvs_method DR\n real_server fe80::2 {\n  weight 5\n  uthreshold 100\n  lthreshold 10\n  lvs_method NAT\n  notify_down /bin/down\n }\n}\n",
    );
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.address, VsAddress::Fwmark(5));
    assert_eq!(vs.scheduler, "sh");
    assert_eq!(vs.flags, 0x0004 | 0x0008 | 0x0010);
    assert_eq!(vs.method, ForwardMethod::Tunnel);
    let t = vs.tunnel.unwrap();
    assert_eq!((t.kind, t.port, t.flags), (TunnelType::Gue, 6080, 1));
    assert_eq!(
        (vs.persistence_timeout, vs.persistence_granularity),
        (360, Some(0xffff_ff00))
    );
    assert_eq!((vs.quorum, vs.hysteresis), (3, 1));
    assert_eq!(vs.quorum_up.as_ref().unwrap().command, "/bin/up now");
    assert!(vs.ha_suspend && vs.omega);
    let sorry = vs.sorry_server.as_ref().unwrap();
    assert_eq!(
        (sorry.port, sorry.inhibit, sorry.method),
        (0, true, ForwardMethod::Route)
    );
    let rs = &vs.real_servers[0];
    assert_eq!(
        (rs.port, rs.weight, rs.u_threshold, rs.l_threshold),
        (0, 5, 100, 10)
    );
    assert_eq!((rs.method, rs.tunnel), (ForwardMethod::Masq, None));
    assert_eq!(rs.notify_down.as_ref().unwrap().command, "/bin/down");
    assert!(rs.checks.is_empty());
    assert_eq!(vs.protocol, Protocol::Tcp);
}

#[test]
fn dr_real_server_without_port_takes_the_virtual_port() {
    let c = read("virtual_server 10.0.0.1 443 {\n protocol UDP\n lb_algo wlc\n lb_kind DR\n real_server 10.0.0.2 {\n  TCP_CHECK {\n   connect_port 80\n  }\n }\n}\n");
    let rs = &c.virtual_servers[0].real_servers[0];
    assert_eq!((rs.port, rs.method), (443, ForwardMethod::Route));
    assert_eq!(rs.checks[0].common().connect_port, 80);
    assert_eq!(c.virtual_servers[0].protocol, Protocol::Udp);
}

#[test]
fn global_defs_checker_items() {
    let c = read(
        "global_defs {\n router_id lb1\n bfd_priority -5\n bfd_rt_priority 20\n lvs_flush\n lvs_flush_onstop VS\n lvs_timeouts tcp 900 tcpfin 120 udp 300\n lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 8848 ttl 2 group 224.0.0.81\n script_user nobody nogroup\n enable_script_security\n checker_log_all_failures on\n notification_email {\n  a@example.org\n  b@example.org\n }\n smtp_server 127.0.0.1\n vrrp_strict\n}\n",
    );
    let g = &c.global;
    assert_eq!(g.router_id.as_deref(), Some("lb1"));
    assert_eq!(
        g.bfd_scheduling,
        lvsd::config::BfdScheduling {
            nice: Some(-5),
            rt_priority: Some(20)
        }
    );
    assert!(g.lvs_flush && g.enable_script_security && g.checker_log_all_failures);
    assert_eq!(
        g.lvs_flush_onstop,
        Some(lvsd::config::FlushOnStop::VirtualServers)
    );
    let t = g.lvs_timeouts.unwrap();
    assert_eq!((t.tcp, t.tcpfin, t.udp), (900, 120, 300));
    let s = g.lvs_sync_daemon.as_ref().unwrap();
    assert_eq!(
        (
            s.interface.as_str(),
            s.instance.as_str(),
            s.sync_id,
            s.maxlen,
            s.port,
            s.ttl
        ),
        ("eth1", "VI_1", 7, Some(1400), Some(8848), Some(2))
    );
    assert_eq!(
        g.script_user.as_ref().map(|a| a.names()),
        Some(("nobody", Some("nogroup")))
    );
    assert_eq!(
        g.notification
            .iter()
            .filter(|(k, _)| k == "notification_email")
            .count(),
        2
    );
}

/// A `TCP_CHECK`, nearly every checker of a big config, is no bigger
/// than its common settings, which keep the rare socket settings out of line.
#[test]
fn a_tcp_check_is_small() {
    assert!(std::mem::size_of::<CheckCommon>() <= 80);
    assert_eq!(
        std::mem::size_of::<Check>(),
        std::mem::size_of::<CheckCommon>()
    );
}

/// The socket settings serialise as four fields of their own, set or not.
#[test]
fn binding_serialises_as_four_fields() {
    let mut common = CheckCommon::new("10.0.0.1".parse().unwrap(), 80);
    // serde_json's map sorts its keys: the order is read off the text.
    let fields = |c: &CheckCommon| {
        let text = serde_json::to_string(c).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        (text, json)
    };
    let (text, json) = fields(&common);
    let order = [
        "location",
        "connect_ip",
        "connect_port",
        "bindto",
        "bind_port",
        "bind_if",
        "fwmark",
        "connect_timeout",
        "delay_loop",
        "retry",
        "delay_before_retry",
        "warmup",
        "alpha",
        "close",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|k| text.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(json.as_object().unwrap().len(), order.len());
    assert!(json["bindto"].is_null() && json["bind_if"].is_null());
    common.binding = Binding {
        bindto: Some("10.0.0.9".parse().unwrap()),
        bind_port: None,
        bind_if: Some("eth1".into()),
        fwmark: Some(7),
    }
    .boxed();
    let (_, json) = fields(&common);
    assert_eq!(json["bindto"], "10.0.0.9");
    assert!(json["bind_port"].is_null());
    assert_eq!(json["bind_if"], "eth1");
    assert_eq!(json["fwmark"], 7);
    assert_eq!(Binding::default().boxed(), None);
}

/// SMTP_CHECK `host` blocks as keepalived 2.2.7 reads them: each is a
/// checker with its own connection (nothing merged from the checker's);
/// the checker probes its own target too when it sets a connection option
/// or `connect_timeout` itself, else the first host is the checker. A host
/// without `connect_timeout` gets the real server's (2.2.7: 0).
#[test]
fn smtp_hosts_are_independent_checkers() {
    let c = read(
        "virtual_server 10.0.0.1 25 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n connect_timeout 4\n real_server 10.0.0.2 2525 {\n  connect_timeout 7\n  SMTP_CHECK {\n   helo_name probe.example\n   bindto 10.0.0.9\n   host {\n    connect_ip 10.0.0.3\n   }\n   host {\n    connect_port 587\n    connect_timeout 2\n    retry 5\n   }\n  }\n }\n real_server 10.0.0.4 25 {\n  SMTP_CHECK {\n   host {\n    connect_ip 10.0.0.5\n   }\n   host {\n    connect_ip 10.0.0.6\n   }\n  }\n  SMTP_CHECK {\n  }\n }\n}\n",
    );
    let smtp =
        |rs: usize, i: usize| -> (String, u16, Option<std::net::IpAddr>, Duration, u32, String) {
            let check = &c.virtual_servers[0].real_servers[rs].checks[i];
            let Check::Smtp(s) = &**check else {
                panic!("{check:?}")
            };
            let common = &s.common;
            (
                common.connect_ip.to_string(),
                common.connect_port,
                common.bindto(),
                common.connect_timeout.duration(),
                common.retry,
                s.helo_name.clone(),
            )
        };
    let rs0 = &c.virtual_servers[0].real_servers[0].checks;
    assert_eq!(rs0.len(), 3, "own target (bindto set) + two hosts");
    let bind = Some("10.0.0.9".parse().unwrap());
    let helo = || "probe.example".to_string();
    assert_eq!(
        smtp(0, 0),
        ("10.0.0.2".into(), 2525, bind, SECS(7), 5, helo())
    );
    assert_eq!(
        smtp(0, 1),
        ("10.0.0.3".into(), 2525, None, SECS(7), 5, helo())
    );
    assert_eq!(
        smtp(0, 2),
        ("10.0.0.2".into(), 587, None, SECS(2), 5, helo())
    );
    let rs1 = &c.virtual_servers[0].real_servers[1].checks;
    assert_eq!(
        rs1.len(),
        3,
        "first host is the checker, one more host, one plain"
    );
    let default_helo = || lvsd::config::DEFAULT_HELO_NAME.to_string();
    assert_eq!(
        smtp(1, 0),
        ("10.0.0.5".into(), 25, None, SECS(4), 1, default_helo())
    );
    assert_eq!(
        smtp(1, 1),
        ("10.0.0.6".into(), 25, None, SECS(4), 1, default_helo())
    );
    assert_eq!(
        smtp(1, 2),
        ("10.0.0.4".into(), 25, None, SECS(4), 1, default_helo())
    );
    assert_eq!(
        rs1[2].common().delay_before_retry.duration(),
        SECS(1),
        "SMTP's default delay_before_retry"
    );
}

#[test]
fn dns_check_type_name_and_port() {
    let c = read(
        "virtual_server 10.0.0.1 53 {\n protocol UDP\n lb_algo rr\n lb_kind NAT\n delay_loop 6\n real_server 10.0.0.2 5353 {\n  DNS_CHECK {\n   type mx\n   name Example.ORG.\n  }\n  DNS_CHECK {\n   retry 1\n   delay_before_retry 2\n  }\n }\n}\n",
    );
    let checks = &c.virtual_servers[0].real_servers[0].checks;
    let dns = |i: usize| {
        let Check::Dns(d) = &*checks[i] else {
            panic!("{:?}", checks[i])
        };
        (
            d.query_type,
            d.name.clone(),
            d.common.connect_port,
            d.common.retry,
            d.common.delay_before_retry.duration(),
        )
    };
    use lvsd::config::DnsType;
    assert_eq!(
        dns(0),
        (DnsType::Mx, "Example.ORG".into(), 5353, 3, SECS(6))
    );
    assert_eq!(dns(1), (DnsType::Soa, String::new(), 5353, 1, SECS(2)));
}

#[test]
fn udp_check_keywords_are_typed_with_keepalived_s_defaults() {
    let c = read(
        "virtual_server 10.0.0.1 53 {\n protocol UDP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 53 {\n  UDP_CHECK {\n  }\n  UDP_CHECK {\n   payload Ab12f 3 456 546443123\n   require_reply 1x X2\n   min_reply_length 2\n   max_reply_length 600\n  }\n  UDP_CHECK {\n   require_reply\n  }\n  PING_CHECK {\n  }\n }\n}\n",
    );
    let checks = &c.virtual_servers[0].real_servers[0].checks;
    let udp = |i: usize| match &*checks[i] {
        Check::Udp(u) => u.clone(),
        other => panic!("{other:?}"),
    };
    let plain = udp(0);
    assert_eq!(plain.payload, None, "the default payload is the probe's");
    assert_eq!(plain.require_reply, None);
    assert_eq!((plain.min_reply_length, plain.max_reply_length), (0, 255));
    assert_eq!((plain.common.connect_port, plain.common.retry), (53, 1));
    assert_eq!(plain.common.delay_before_retry.duration(), SECS(1));
    let full = udp(1);
    assert_eq!(
        full.payload.as_deref(),
        Some(&[0xAB, 0x12, 0x0F, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03][..])
    );
    let reply = full.require_reply.expect("require_reply");
    assert_eq!(
        (reply.value, reply.mask),
        (vec![0x10, 0x02], vec![0xf0, 0x0f])
    );
    assert_eq!((full.min_reply_length, full.max_reply_length), (2, 600));
    let any = udp(2).require_reply.expect("require_reply without HEX");
    assert!(any.value.is_empty() && any.mask.is_empty());
    let Check::Ping(ping) = &*checks[3] else {
        panic!("{:?}", checks[3]);
    };
    assert_eq!(ping.common.connect_ip.to_string(), "10.0.0.2");
    assert_eq!(ping.common.retry, 1);
    assert!(checks.iter().all(|c| c.is_probed()));
}

#[test]
fn http_get_typed_as_keepalived_reads_it() {
    let c = read(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 8080 {\n  HTTP_GET {\n   http_protocol 1.1\n   fast_recovery\n   url {\n    path /a?b=1\n    digest 5D41402ABC4B2A76B9719D911017C592\n    status_code 200\n    status_code 300-399 404\n    regex \"\\\\d+ OK\"\n    regex_no_match\n    regex_min_offset 3\n    regex_max_offset 40\n   }\n   url {\n    path /b\n    regex \\d+\\.\n   }\n  }\n }\n}\n",
    );
    let Check::Http(h) = &*c.virtual_servers[0].real_servers[0].checks[0] else {
        panic!("not HTTP_GET");
    };
    assert_eq!(h.protocol, lvsd::config::HttpProtocol::Http11);
    assert!(h.fast_recovery && !h.tls_options.enable_sni);
    let (a, b) = (&h.urls[0], &h.urls[1]);
    assert_eq!(a.path, "/a?b=1");
    assert_eq!(
        a.digest.as_deref(),
        Some("5d41402abc4b2a76b9719d911017c592")
    );
    assert_eq!(a.status_codes, [(200, 200), (300, 399), (404, 404)]);
    let rx = a.regex.as_ref().unwrap();
    // Quoted: the lexer turned `\\d` into `\d`, PCRE2's digit class.
    assert_eq!(rx.regex.pattern(), r"\d+ OK");
    assert_eq!(
        (rx.no_match, rx.min_offset, rx.max_offset),
        (true, 3, Some(40))
    );
    // Unquoted: keepalived's escapes apply all the same, `\d` is `d`.
    assert_eq!(b.regex.as_ref().unwrap().regex.pattern(), "d+.");
    assert_eq!(b.status_codes, [(200, 299)]);
}
