//! Malformed configs, table-driven: each must give the right severity at
//! the right file:line:col with a message that says what was expected.
//! Errors make `load` fail; warnings let it succeed (keepalived's
//! tolerance); nothing panics.

use std::path::{Path, PathBuf};
use std::process::Command;

use lvsd::config::{load, load_bytes, ConfigError, Diagnostic, LoadOptions, Severity};

/// What a case must produce.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// `load` fails with an error here.
    Error(u32, u32, &'static str),
    /// `load` succeeds with a warning here.
    Warning(u32, u32, &'static str),
    /// `load` succeeds and says nothing at warning level or above.
    Clean,
}

use Expect::{Clean, Error, Warning};

/// A virtual server wrapper: `vs(body)` puts `body` inside a complete VS
/// (protocol, scheduler, method and one real server set) starting on line 1.
fn vs(body: &str) -> String {
    format!("virtual_server 10.0.0.1 80 {{\n protocol TCP\n lb_algo rr\n lb_kind NAT\n{body}\n real_server 10.0.0.2 80 {{\n }}\n}}\n")
}

/// A real server wrapper: `body` inside a real server, from line 6.
fn rs(body: &str) -> String {
    format!("virtual_server 10.0.0.1 80 {{\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 80 {{\n{body}\n }}\n}}\n")
}

/// A checker wrapper: `body` inside `kind { }`, from line 7.
fn check(kind: &str, body: &str) -> String {
    rs(&format!(" {kind} {{\n{body}\n }}"))
}

fn cases() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let s = |x: &str| x.as_bytes().to_vec();
    let o = |x: String| x.into_bytes();
    vec![
        // Truncated blocks.
        ("vs never closed", s("virtual_server 10.0.0.1 80 {\n"), Error(1, 28, "never closed")),
        ("global_defs never closed", s("global_defs {\n router_id x\n"), Error(1, 13, "never closed")),
        ("nested never closed", s("virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  TCP_CHECK {\n"), Error(1, 28, "expected `}`")),
        ("rs closed, vs not", s("virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n }\n"), Error(1, 28, "never closed")),
        ("vrrp block never closed", s("vrrp_instance VI_1 {\n state MASTER\n"), Error(1, 20, "never closed")),
        ("check never closed at eof", o(rs(" TCP_CHECK {")).split_at(60).0.to_vec(), Error(1, 28, "never closed")),
        ("vs without block", s("virtual_server 10.0.0.1 80\n"), Error(1, 25, "needs a block")),
        ("group without block", s("virtual_server_group G\n"), Error(1, 22, "needs a block")),
        ("checker without block", o(rs(" TCP_CHECK")), Error(6, 2, "needs a block")),
        // Stray braces.
        ("stray close", s("}\n"), Error(1, 1, "closes no block")),
        ("extra close after block", s("global_defs {\n}\n}\n"), Error(3, 1, "closes no block")),
        ("stray open", s("{\n"), Error(1, 1, "opens no block")),
        ("open after closed block", s("global_defs {\n}\n{\n}\n"), Error(3, 1, "opens no block")),
        // Bad addresses and ports.
        ("vs address octet", s("virtual_server 10.0.0.300 80 {\n}\n"), Error(1, 16, "expected an IP address")),
        ("vs port too big", s("virtual_server 10.0.0.1 99999 {\n}\n"), Error(1, 25, "a port")),
        ("vs port a name", s("virtual_server 10.0.0.1 http {\n}\n"), Error(1, 25, "found `http`")),
        ("vs ipv6 malformed", s("virtual_server fe80:::1 80 {\n}\n"), Error(1, 16, "expected an IP address")),
        ("vs fwmark not a number", s("virtual_server fwmark abc {\n}\n"), Error(1, 23, "firewall mark")),
        ("vs fwmark zero", s("virtual_server fwmark 0 {\n}\n"), Error(1, 23, "firewall mark")),
        ("vs group undefined", s("virtual_server group NOPE {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 80 {\n }\n}\n"), Error(1, 1, "`NOPE` is not defined")),
        ("rs address", o(vs(" real_server 10.0.0.2.5 80 {\n }")), Error(5, 14, "expected an IP address")),
        ("rs port negative", o(vs(" real_server 10.0.0.3 -1 {\n }")), Error(5, 23, "a port")),
        ("rs family differs", o(vs(" real_server fe80::2 80 {\n }")), Warning(5, 14, "different address families")),
        ("connect_ip", o(check("TCP_CHECK", "  connect_ip 300.1.1.1")), Error(7, 14, "an IP address")),
        ("bindto", o(check("TCP_CHECK", "  bindto localhost")), Error(7, 10, "an IP address")),
        ("connect_port", o(check("TCP_CHECK", "  connect_port 70000")), Error(7, 16, "a port")),
        ("sorry_server address", o(vs(" sorry_server 10.0.0 80")), Error(5, 15, "an IP address")),
        ("group range backwards", s("virtual_server_group G {\n 10.0.0.5-3 80\n}\n"), Error(2, 2, "ends before it starts")),
        ("group range end too big", s("virtual_server_group G {\n 10.0.0.1-300 80\n}\n"), Error(2, 2, "not 0-255")),
        ("group prefix too long", s("virtual_server_group G {\n 10.0.0.0/33 80\n}\n"), Error(2, 2, "too long")),
        ("group port", s("virtual_server_group G {\n 10.0.0.1 eighty\n}\n"), Error(2, 11, "a port")),
        ("group fwmark family", s("virtual_server_group G {\n fwmark 1 inet5\n}\n"), Error(2, 11, "inet or inet6")),
        ("sync daemon group", s("global_defs {\n lvs_sync_daemon eth0 VI_1 group nowhere\n}\n"), Error(2, 34, "multicast address")),
        // Wrong value types.
        ("delay_loop word", o(vs(" delay_loop abc")), Error(5, 13, "a time in seconds")),
        ("delay_loop negative", o(vs(" delay_loop -1")), Error(5, 13, "a time in seconds")),
        ("delay_loop zero", o(vs(" delay_loop 0")), Error(5, 13, "more than 0")),
        ("delay_loop huge", o(vs(" delay_loop 99999999999999999999")), Error(5, 13, "a time in seconds")),
        ("connect_timeout two dots", o(check("TCP_CHECK", "  connect_timeout 1.2.3")), Error(7, 19, "a time in seconds")),
        ("retry word", o(check("TCP_CHECK", "  retry x")), Error(7, 9, "a number of retries")),
        ("weight negative", o(rs("  weight -5")), Error(6, 10, "a weight")),
        ("weight fraction", o(rs("  weight 1.5")), Error(6, 10, "a weight")),
        ("quorum word", o(vs(" quorum many")), Error(5, 9, "a weight")),
        ("persistence_timeout word", o(vs(" persistence_timeout long")), Error(5, 22, "seconds")),
        ("protocol unknown", o(vs(" protocol ICMP")), Error(5, 11, "TCP, UDP or SCTP")),
        ("lb_kind unknown", o(vs(" lb_kind XYZ")), Warning(5, 10, "unknown forwarding method")),
        ("tunnel type unknown", o(vs(" lvs_method TUN type foo")), Error(5, 22, "ipip, gue or gre")),
        ("gue without port", o(vs(" lvs_method TUN type gue")), Error(5, 13, "needs `port N`")),
        ("status_code out of range", o(check("HTTP_GET", "  url {\n   path /\n   status_code 99\n  }")), Error(9, 16, "status code")),
        ("digest not hex", o(check("HTTP_GET", "  url {\n   path /\n   digest zz\n  }")), Error(9, 11, "MD5")),
        ("status_code past 599", o(check("HTTP_GET", "  url {\n   path /\n   status_code 200 600\n  }")), Error(9, 20, "100-599")),
        ("status_code range reversed", o(check("HTTP_GET", "  url {\n   path /\n   status_code 299-200\n  }")), Error(9, 16, "100-599")),
        ("status_code 3xx", o(check("HTTP_GET", "  url {\n   path /\n   status_code 3xx\n  }")), Error(9, 16, "status code")),
        ("digest 31 digits", o(check("HTTP_GET", "  url {\n   path /\n   digest 9b3a0c85a887a256d6939da88aabd8c\n  }")), Error(9, 11, "32 hex")),
        ("regex that does not compile", o(check("HTTP_GET", "  url {\n   path /\n   regex \"a(b\"\n  }")), Error(9, 10, "invalid regex")),
        ("regex option lvsd cannot set", o(check("HTTP_GET", "  url {\n   path /\n   regex ok\n   regex_options caseless firstline\n  }")), Error(10, 27, "firstline")),
        ("regex option unknown", o(check("HTTP_GET", "  url {\n   path /\n   regex ok\n   regex_options bogus\n  }")), Warning(10, 18, "unknown regex option")),
        ("regex settings without regex", o(check("HTTP_GET", "  url {\n   path /\n   regex_no_match\n  }")), Warning(9, 4, "without `regex`")),
        ("tls_compliant is no regex setting", o(check("SSL_GET", "  url {\n   path /\n   tls_compliant\n  }")), Clean),
        ("regex min past max", o(check("HTTP_GET", "  url {\n   path /\n   regex ok\n   regex_min_offset 10\n   regex_max_offset 5\n  }")), Warning(9, 4, "past `regex_max_offset`")),
        ("http_protocol 2", o(check("HTTP_GET", "  http_protocol 2.0\n  url {\n   path /\n  }")), Error(7, 17, "1.0, 1.0C or 1.1")),
        ("nb_get_retry deprecated", o(check("HTTP_GET", "  nb_get_retry 2\n  url {\n   path /\n  }")), Warning(7, 3, "deprecated")),
        ("HTTP_GET clean", o(check("HTTP_GET", "  http_protocol 1.0C\n  fast_recovery\n  url {\n   path /\n   status_code 200 300-399\n   status_code 404\n   regex \"\\\\d+ OK\"\n   regex_options caseless ungreedy\n   regex_min_offset 2\n   regex_max_offset 9\n   regex_stack 100 2000\n  }")), Clean),
        ("ip_family", o(vs(" ip_family inet5")), Error(5, 12, "inet or inet6")),
        ("alpha not a bool", o(rs("  alpha maybe")), Warning(6, 9, "on|off")),
        ("lvs_timeouts value", s("global_defs {\n lvs_timeouts tcp x\n}\n"), Error(2, 19, "seconds")),
        ("lvs_timeouts key", s("global_defs {\n lvs_timeouts foo 1\n}\n"), Error(2, 15, "`tcp`, `tcpfin` or `udp`")),
        ("lvs_flush_onstop value", s("global_defs {\n lvs_flush_onstop XX\n}\n"), Error(2, 19, "`VS` or `RS`")),
        ("bfd_priority range", s("global_defs {\n bfd_priority -21\n}\n"), Error(2, 15, "a nice value, -20 to 19")),
        ("bfd_rt_priority range", s("global_defs {\n bfd_rt_priority 0\n}\n"), Error(2, 18, "a real-time priority, 1 to 99")),
        ("bfd priorities clean", s("global_defs {\n bfd_priority -20\n bfd_rt_priority 99\n bfd_rlimit_rttime 10000\n}\n"), Clean),
        ("url without path", o(check("HTTP_GET", "  url {\n   digest 9b3a0c85a887a256d6939da88aabd8cd\n  }")), Error(7, 3, "needs `path PATH`")),
        ("misc without path", o(check("MISC_CHECK", "  misc_timeout 3")), Error(6, 2, "needs `misc_path")),
        ("misc_timeout word", o(check("MISC_CHECK", "  misc_path /bin/true\n  misc_timeout soon")), Error(8, 16, "a time in seconds")),
        ("dns type unknown", o(check("DNS_CHECK", "  type PTR")), Error(7, 8, "a DNS record type (A NS CNAME SOA MX TXT AAAA RRSIG DNSKEY)")),
        ("dns type any case", o(check("DNS_CHECK", "  type aaaa")), Clean),
        ("dns name empty label", o(check("DNS_CHECK", "  name a..example")), Error(7, 8, "an empty label")),
        ("dns name long label", o(check("DNS_CHECK", &format!("  name {}.org", "x".repeat(64)))), Error(7, 8, "longer than 63 bytes")),
        ("dns name too long", o(check("DNS_CHECK", &format!("  name {}", vec!["x".repeat(63); 4].join(".")))), Error(7, 8, "more than 255")),
        ("dns name twice", o(check("DNS_CHECK", "  name a.org\n  name b.org")), Warning(8, 8, "second `name` is ignored")),
        ("smtp helo_name without value", o(check("SMTP_CHECK", "  helo_name")), Error(7, 3, "a name to send in HELO")),
        ("smtp host unknown keyword", o(check("SMTP_CHECK", "  host {\n   helo_name x\n  }")), Warning(8, 4, "in host")),
        ("udp payload not hex", o(check("UDP_CHECK", "  payload 0102 03g4")), Error(7, 18, "expected hex digits")),
        ("udp payload wildcard", o(check("UDP_CHECK", "  payload 1x")), Error(7, 12, "found `x`")),
        ("udp payload empty", o(check("UDP_CHECK", "  payload")), Error(7, 3, "`payload` needs hex bytes")),
        ("udp reply not hex", o(check("UDP_CHECK", "  require_reply 1x 0z")), Error(7, 21, "hex digits or x wildcards")),
        ("udp max_reply_length too big", o(check("UDP_CHECK", "  max_reply_length 65536")), Error(7, 20, "a length (0-65535)")),
        ("udp min above max", o(check("UDP_CHECK", "  require_reply 01\n  min_reply_length 300")), Error(8, 3, "min_reply_length 300 is above max_reply_length 255")),
        ("udp min above max, max last", o(check("UDP_CHECK", "  min_reply_length 10\n  max_reply_length 9")), Error(8, 3, "could never pass")),
        ("udp keywords typed", o(check("UDP_CHECK", "  payload Ab12f 3\n  require_reply 1x\n  min_reply_length 1\n  max_reply_length 1000")), Clean),
        ("ping check", o(check("PING_CHECK", "  connect_timeout 2\n  retry 4")), Clean),
        ("udp keyword in ping check", o(check("PING_CHECK", "  payload 01")), Warning(7, 3, "unknown keyword `payload` in PING_CHECK")),
        ("uthreshold negative", o(rs("  uthreshold -1")), Error(6, 14, "connections")),
        // Missing values.
        ("vs without address", s("virtual_server {\n}\n"), Error(1, 1, "needs an address")),
        ("router_id without name", s("global_defs {\n router_id\n}\n"), Error(2, 2, "needs a name")),
        ("delay_loop without value", o(vs(" delay_loop")), Error(5, 2, "`delay_loop` needs")),
        // Unknown keywords: warnings, as keepalived.
        ("unknown top level", s("foo_bar 1\n"), Warning(1, 1, "unknown keyword `foo_bar`")),
        ("unknown in vs", o(vs(" speed 10")), Warning(5, 2, "unknown keyword `speed` in virtual_server")),
        ("unknown in rs", o(rs("  colour blue")), Warning(6, 3, "unknown keyword `colour` in real_server")),
        ("unknown in check", o(check("TCP_CHECK", "  nonsense")), Warning(7, 3, "unknown keyword `nonsense` in TCP_CHECK")),
        ("http keyword in tcp check", o(check("TCP_CHECK", "  nb_get_retry 3")), Warning(7, 3, "`nb_get_retry`")),
        ("inhibit in check", o(check("TCP_CHECK", "  inhibit_on_failure")), Warning(7, 3, "`inhibit_on_failure`")),
        ("misc user unknown", o(check("MISC_CHECK", "  misc_path /bin/true\n  user no-such-user-lvsd")), Warning(8, 8, r#"MISC_CHECK user: no user "no-such-user-lvsd""#)),
        ("misc group unknown", o(check("MISC_CHECK", "  misc_path /bin/true\n  user nobody no-such-group-lvsd")), Warning(8, 15, r#"no group "no-such-group-lvsd""#)),
        ("misc user known", o(check("MISC_CHECK", "  misc_path /bin/true\n  user nobody")), Clean),
        ("misc_path in tcp check", o(check("TCP_CHECK", "  misc_path /bin/true")), Warning(7, 3, "`misc_path`")),
        ("rs keyword in vs", o(vs(" notify_up /bin/true")), Warning(5, 2, "belongs in a real_server")),
        ("unknown in global_defs", s("global_defs {\n bogus 1\n}\n"), Warning(2, 2, "in global_defs")),
        ("lvs_id", s("global_defs {\n lvs_id x\n}\n"), Warning(2, 2, "`lvs_id`")),
        ("no protocol", s("virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 80 {\n }\n}\n"), Warning(1, 1, "no `protocol` set")),
        ("no real servers", s("virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n}\n"), Warning(1, 1, "has no real servers")),
        ("duplicate rs", o(vs(" real_server 10.0.0.2 80 {\n }")), Warning(7, 2, "appears twice")),
        ("dr ports differ", o(vs(" lb_kind DR\n real_server 10.0.0.3 81 {\n }")), Warning(6, 23, "ports differ")),
        ("fwmark with protocol", s("virtual_server fwmark 1 {\n protocol TCP\n lb_algo rr\n lb_kind DR\n real_server 10.0.0.2 80 {\n }\n}\n"), Warning(2, 2, "does not apply to a fwmark")),
        ("value block ignored", o(vs(" quorum 1 {\n }")), Warning(5, 11, "takes no block")),
        ("too many values", o(vs(" delay_loop 3 4")), Warning(5, 15, "takes 1 value")),
        // The preprocessor.
        ("undefined $VAR as value", o(vs(" delay_loop $UNDEF")), Error(5, 13, "undefined $PARAMETER")),
        ("undefined ${VAR} as address", s("virtual_server ${VIP} 80 {\n}\n"), Error(1, 16, "undefined $PARAMETER")),
        ("recursive parameter", s("$A=$A x\n$A\n"), Error(2, 1, "does not end")),
        ("seq step zero", s("~SEQ(x, 1, 0, 5) foo\n"), Error(1, 1, "step must not be 0")),
        ("seq malformed", s("~SEQ(1x) foo\n"), Error(1, 1, "malformed ~SEQ")),
        ("lst row size", s("~LST({a,b}, {1}) x\n"), Error(1, 1, "1 values for 2 variables")),
        ("seq too long", s("~SEQ(i, 1, 100000000) x\n"), Error(1, 1, "more than")),
        ("exponential parameters", s("$A=x x x x x x x x\n$B=$A $A $A $A $A $A $A $A\n$C=$B $B $B $B $B $B $B $B\n$D=$C $C $C $C $C $C $C $C\n$E=$D $D $D $D $D $D $D $D\n$F=$E $E $E $E $E $E $E $E\n$G=$F $F $F $F $F $F $F $F\n$H=$G $G $G $G $G $G $G $G\n$H\n"), Error(9, 1, "MB of text")),
        ("parameter defined later", s("virtual_server 10.0.0.1 $P {\n}\n$P=80\n"), Error(1, 25, "undefined $PARAMETER")),
        // Bytes and sizes.
        ("non-utf8 in keyword", b"global_defs {\n router_\xff\xfeid x\n}\n".to_vec(), Error(2, 9, "not UTF-8")),
        ("non-utf8 in comment", b"# caf\xe9\nglobal_defs {\n router_id x ! \xff\n}\n".to_vec(), Clean),
        ("nul bytes", b"\0\0\0\n".to_vec(), Error(1, 1, "looks like a binary file")),
        ("huge line", o(format!("global_defs {{\n router_id {}\n bogus{}\n}}\n", "x".repeat(1_000_000), "y".repeat(1_000_000))), Warning(3, 2, "unknown keyword")),
        ("many braces", o(format!("{}\n", "{".repeat(100_000))), Error(1, 1, "opens no block")),
        ("deep nesting", o(format!("global_defs {{\n{}\n", "a {".repeat(50_000))), Error(1, 13, "never closed")),
        ("deep nesting closed", o(format!("global_defs {{\n{}\n}}\n", "notification_email {".repeat(50_000) + &"}".repeat(50_000))), Clean),
        ("vertical tab between words", b"global_defs {\x0b\n router_id\x0bx\x0c\n}\n".to_vec(), Clean),
        ("notify_fifo", s("global_defs {\n notify_fifo /run/k.fifo\n notify_fifo_script /bin/reader\n}\n"), Clean),
        ("lvs_notify_fifo_script alone", s("global_defs {\n lvs_notify_fifo_script /bin/reader\n}\n"), Warning(1, 1, "without `lvs_notify_fifo`")),
        ("smtp_alert", s("global_defs {\n smtp_alert\n}\n"), Clean),
        ("smtp_alert in a real server", s("virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.1.1 80 {\n  smtp_alert on\n }\n}\n"), Clean),
        ("smtp_alert off", s("virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n smtp_alert off\n real_server 10.0.1.1 80 {\n }\n}\n"), Clean),
        ("enable_snmp_checker, no agent", s("global_defs {\n enable_snmp_checker\n}\n"), Warning(2, 2, "no SNMP agent")),
        ("empty file", s(""), Clean),
        ("only comments", s("# nothing\n! here\n"), Clean),
    ]
}

fn config_path(dir: &Path) -> PathBuf {
    dir.join("keepalived.conf")
}

fn diagnostics(path: &Path, bytes: Vec<u8>) -> (bool, Vec<Diagnostic>) {
    let opts = LoadOptions {
        config_id: Some("main".into()),
    };
    match load_bytes(path, bytes, &opts) {
        Ok(l) => (true, l.diagnostics),
        Err(ConfigError::Invalid(d)) => (false, d),
        Err(e) => panic!("unexpected {e}"),
    }
}

fn check_case(name: &str, path: &Path, ok: bool, diags: &[Diagnostic], expect: Expect) {
    let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    let (severity, line, col, text) = match expect {
        Clean => {
            assert!(ok, "{name}: expected success, got {shown:#?}");
            assert!(
                diags.iter().all(|d| d.severity < Severity::Warning),
                "{name}: expected silence, got {shown:#?}"
            );
            return;
        }
        Error(l, c, t) => (Severity::Error, l, c, t),
        Warning(l, c, t) => (Severity::Warning, l, c, t),
    };
    assert_eq!(
        ok,
        severity != Severity::Error,
        "{name}: load succeeded = {ok}: {shown:#?}"
    );
    let found = diags.iter().any(|d| {
        d.severity == severity
            && d.location.line == line
            && d.location.col == col
            && *d.location.file == *path
            && d.message.contains(text)
    });
    assert!(
        found,
        "{name}: no {severity:?} at {line}:{col} containing {text:?} in {shown:#?}"
    );
}

#[test]
fn malformed_inputs_are_reported_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_path(dir.path());
    let cases = cases();
    assert!(cases.len() >= 60);
    let mut failures = Vec::new();
    for (name, bytes, expect) in cases {
        let (ok, diags) = diagnostics(&path, bytes);
        let r = std::panic::catch_unwind(|| check_case(name, &path, ok, &diags, expect));
        if let Err(e) = r {
            let text = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {text}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn include_cycle_is_an_error_at_the_include_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("a.conf"),
        "global_defs {\n}\ninclude sub/b.conf\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sub/b.conf"),
        "# relative to sub/\n  include ../a.conf\n",
    )
    .unwrap();
    let err = load(&dir.path().join("a.conf"), &LoadOptions::default()).unwrap_err();
    let ConfigError::Invalid(diags) = err else {
        panic!()
    };
    let d = diags
        .iter()
        .find(|d| d.message.contains("include cycle"))
        .expect("a cycle diagnostic");
    assert_eq!((d.location.line, d.location.col), (2, 3));
    assert!(d.location.file.ends_with("sub/b.conf"));
}

#[test]
fn self_include_is_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.conf"), "include a.conf\n").unwrap();
    let err = load(&dir.path().join("a.conf"), &LoadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("include cycle"), "{err}");
}

#[test]
fn missing_include_is_a_warning_and_an_empty_glob_only_a_note() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.conf"),
        "include nothere.conf\ninclude conf.d/*.conf\n",
    )
    .unwrap();
    let loaded = load(&dir.path().join("a.conf"), &LoadOptions::default()).unwrap();
    assert_eq!(loaded.diagnostics.len(), 2, "{:?}", loaded.diagnostics);
    let d = &loaded.diagnostics[0];
    assert_eq!(
        (d.severity, d.location.line, d.location.col),
        (Severity::Warning, 1, 1)
    );
    assert!(d.message.contains("does not exist"));
    // keepalived -t says nothing of an empty glob: a note (shown with -D).
    let d = &loaded.diagnostics[1];
    assert_eq!(
        (d.severity, d.location.line, d.location.col),
        (Severity::Info, 2, 1)
    );
    assert!(d.message.contains("matches no file"));
    // Both are remembered: a reload refuses them.
    let unread: Vec<_> = loaded.unread_includes.iter().map(|u| &u.pattern).collect();
    assert_eq!(unread, ["nothere.conf", "conf.d/*.conf"]);
}

#[test]
fn include_without_a_name_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.conf"), "global_defs {\n}\n   include\n").unwrap();
    let err = load(&dir.path().join("a.conf"), &LoadOptions::default()).unwrap_err();
    let ConfigError::Invalid(diags) = err else {
        panic!()
    };
    assert_eq!((diags[0].location.line, diags[0].location.col), (3, 4));
}

#[test]
fn display_names_file_line_col_and_shows_a_caret() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_path(dir.path());
    let (_, diags) = diagnostics(&path, vs(" delay_loop abc").into_bytes());
    let shown = diags
        .iter()
        .find(|d| d.severity == Severity::Error)
        .unwrap()
        .to_string();
    let expected_head = format!("{}:5:13: error: expected a time in seconds", path.display());
    assert!(shown.starts_with(&expected_head), "{shown}");
    assert!(
        shown.contains("\n  |  delay_loop abc\n  |             ^"),
        "{shown:?}"
    );
}

#[test]
fn the_binary_exits_5_and_prints_the_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_path(dir.path());
    std::fs::write(&path, "virtual_server 10.0.0.1 80 {\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-t", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:1:28: error", path.display())),
        "{stderr}"
    );
    std::fs::write(&path, "foo_bar\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-t", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "a warning also makes -t fail, as keepalived"
    );
    let missing = dir.path().join("missing.conf");
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-t", "-f"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
}
