//! `bfd_instance` blocks and `BFD_CHECK` as lvsd types them: keepalived
//! 2.2.7's keywords, defaults and ranges (checked against `keepalived -t`
//! 2.2.7), and an error at file:line:col for what keepalived refuses or
//! drops.

use std::path::Path;
use std::time::Duration;

use lvsd::config::{load_bytes, Config, ConfigError, Diagnostic, LoadOptions, Severity};

fn load(text: &str) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
    let opts = LoadOptions {
        config_id: Some("main".into()),
    };
    match load_bytes(Path::new("k.conf"), text.as_bytes().to_vec(), &opts) {
        Ok(l) => Ok((l.config, l.diagnostics)),
        Err(ConfigError::Invalid(d)) => Err(d),
        Err(e) => panic!("unexpected {e}"),
    }
}

/// A virtual server after the instances, so the config has something to run.
const VS: &str = "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 127.0.0.2 80 {\n TCP_CHECK {\n }\n }\n}\n";

/// The errors, as `line:col: message`.
fn errors(diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{}:{}: {}", d.location.line, d.location.col, d.message))
        .collect()
}

#[test]
fn an_instance_takes_keepalived_defaults_and_its_own_values() {
    let text = format!(
        "bfd_instance a {{\n neighbor_ip 192.0.2.1\n}}\n\
         bfd_instance b {{\n neighbour_ip 2001:db8::1\n source_ip 2001:db8::2\n min_rx 3.5\n min_tx 20\n idle_tx 2000\n multiplier 3\n passive\n hoplimit 64\n max_hops 255\n}}\n{VS}"
    );
    let (c, _) = load(&text).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(c.bfd_instances.len(), 2);
    let a = &c.bfd_instances[0];
    assert_eq!(a.name, "a");
    assert_eq!(a.neighbor, "192.0.2.1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(
        (
            a.min_rx,
            a.min_tx,
            a.idle_tx,
            a.multiplier,
            a.passive,
            a.ttl
        ),
        (
            Duration::from_millis(10),
            Duration::from_millis(10),
            Duration::from_secs(1),
            5,
            false,
            255
        )
    );
    assert_eq!(a.min_received_ttl(), Some(255), "GTSM: 255 required");
    let b = &c.bfd_instances[1];
    assert_eq!(b.source, Some("2001:db8::2".parse().unwrap()));
    assert_eq!(
        (
            b.min_rx,
            b.min_tx,
            b.idle_tx,
            b.multiplier,
            b.passive,
            b.ttl
        ),
        (
            Duration::from_micros(3500),
            Duration::from_millis(20),
            Duration::from_secs(2),
            3,
            true,
            64
        )
    );
    assert_eq!(b.min_received_ttl(), None, "max_hops 255 checks nothing");
}

#[test]
fn what_keepalived_refuses_is_an_error_at_its_line() {
    let text = format!(
        "bfd_instance a {{\n neighbor_ip 192.0.2.1\n min_rx 0.5\n min_tx 1.2345\n idle_tx 999\n multiplier 256\n ttl 0\n max_hops -2\n}}\n\
         bfd_instance b {{\n neighbor_ip 192.0.2.2\n source_ip ::1\n}}\n\
         bfd_instance c {{\n passive\n}}\n\
         bfd_instance a {{\n neighbor_ip 192.0.2.3\n}}\n\
         bfd_instance d {{\n neighbor_ip 192.0.2.1\n}}\n\
         bfd_instance abcdefghijabcdefghijabcdefghijab {{\n neighbor_ip 192.0.2.4\n}}\n{VS}"
    );
    let d = load(&text).expect_err("refused");
    let e = errors(&d);
    let expect = [
        "3:9: expected an interval",
        "4:9: expected an interval",
        "5:10: expected an interval",
        "6:13: expected a multiplier",
        "7:6: expected a TTL",
        "8:11: expected a hop count",
        "12:2: source_ip ::1 and neighbor_ip 192.0.2.2 are not of the same family",
        "14:1: bfd_instance `c` needs `neighbor_ip IP`",
        "17:1: bfd_instance `a` is defined again",
        "20:1: bfd_instance `d`: bfd_instance `a` has neighbor 192.0.2.1 already",
        "23:14: a bfd_instance name has at most 31 characters",
    ];
    for x in expect {
        assert!(e.iter().any(|l| l.starts_with(x)), "no `{x}` in {e:#?}");
    }
    assert_eq!(e.len(), expect.len(), "{e:#?}");
}

#[test]
fn multihop_and_echo_are_named_at_their_line_and_ignored() {
    let text = format!("bfd_instance a {{\n neighbor_ip 192.0.2.1\n multihop\n echo\n}}\n{VS}");
    let (c, d) = load(&text).unwrap_or_else(|d| panic!("{d:#?}"));
    for line in [3, 4] {
        assert!(
            d.iter().any(|d| d.location.line == line
                && d.severity == Severity::Warning
                && d.message.contains("single-hop")),
            "line {line}: {d:#?}"
        );
    }
    assert_eq!(c.bfd_instances.len(), 1);
}
