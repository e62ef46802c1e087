//! keepalived's line language as lvsd reads it: parameters, conditionals,
//! sequences, includes, quoting. Each case is checked on the model it builds.

use std::net::IpAddr;
use std::path::Path;

use lvsd::config::{load, load_bytes, Config, LoadOptions, Severity};

fn read(text: &str, id: &str) -> Config {
    let opts = LoadOptions {
        config_id: Some(id.into()),
    };
    let loaded = load_bytes(
        Path::new("/nonexistent/keepalived.conf"),
        text.as_bytes().to_vec(),
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let loud: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity >= Severity::Warning)
        .map(|d| d.to_string())
        .collect();
    assert!(loud.is_empty(), "{loud:#?}");
    loaded.config
}

fn rs_addrs(c: &Config) -> Vec<String> {
    c.virtual_servers
        .iter()
        .flat_map(|v| &v.real_servers)
        .map(|r| format!("{}:{}", r.addr, r.port))
        .collect()
}

const VS_HEAD: &str = "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n";

#[test]
fn parameters_are_replaced_when_used_not_when_defined() {
    let text = format!(
        "$BASE=10.2.${{SUB}}\n$SUB=0\n{VS_HEAD} real_server ${{BASE}}.100 80 {{\n }}\n$SUB=10\n real_server ${{BASE}}.100 80 {{\n }}\n}}\n"
    );
    assert_eq!(
        rs_addrs(&read(&text, "x")),
        ["10.2.0.100:80", "10.2.10.100:80"]
    );
}

#[test]
fn bare_parameter_needs_whitespace_after_it() {
    let text = format!("$P=8080\n{VS_HEAD} real_server 10.0.0.2 $P {{\n }}\n}}\n");
    assert_eq!(rs_addrs(&read(&text, "x")), ["10.0.0.2:8080"]);
}

#[test]
fn multiline_definitions_with_sequences() {
    let text = format!(
        "$RS= \\\nreal_server 192.168.0.${{N}} 80 {{ \\\n  weight ${{N}} \\\n  TCP_CHECK {{ \\\n  }} \\\n}}\n{VS_HEAD} ~SEQ(N, 1, 2, 5) $RS\n}}\n"
    );
    let c = read(&text, "x");
    assert_eq!(
        rs_addrs(&c),
        ["192.168.0.1:80", "192.168.0.3:80", "192.168.0.5:80"]
    );
    let weights: Vec<i32> = c.virtual_servers[0]
        .real_servers
        .iter()
        .map(|r| r.weight)
        .collect();
    assert_eq!(weights, [1, 3, 5]);
    assert!(c.virtual_servers[0]
        .real_servers
        .iter()
        .all(|r| r.checks.len() == 1));
}

#[test]
fn seq_hex_and_lists() {
    let text = format!(
        "{VS_HEAD} ~SEQx(H, 0x0e, 1, 0x0f) real_server fe80::${{H}} 80 {{ lvs_method TUN }}\n ~LST({{A, P}}, {{1, 81}}, {{2, 82}}) real_server 10.1.1.${{A}} ${{P}} {{ }}\n ~SEQ(X, 2) ~LST(Y, 7, 8) real_server 10.${{X}}.0.${{Y}} 80 {{ }}\n}}\n"
    );
    let got = rs_addrs(&read(&text, "x"));
    assert_eq!(
        got,
        [
            "fe80::e:80",
            "fe80::f:80",
            "10.1.1.1:81",
            "10.1.1.2:82",
            "10.1.0.7:80",
            "10.1.0.8:80",
            "10.2.0.7:80",
            "10.2.0.8:80"
        ]
    );
}

#[test]
fn conditionals_follow_the_config_id() {
    let text = format!(
        "global_defs {{\n @main router_id main_router\n @backup router_id backup_router\n}}\n@main $W=5\n@^main $W=7\n{VS_HEAD} real_server 10.0.0.2 80 {{\n  weight $W\n }}\n}}\n"
    );
    let main = read(&text, "main");
    assert_eq!(main.global.router_id.as_deref(), Some("main_router"));
    assert_eq!(main.virtual_servers[0].real_servers[0].weight, 5);
    let other = read(&text, "other");
    assert_eq!(other.global.router_id, None);
    assert_eq!(other.virtual_servers[0].real_servers[0].weight, 7);
}

#[test]
fn a_parameter_can_hold_a_conditional() {
    let text = "$IF_MAIN=@main\nglobal_defs {\n $IF_MAIN router_id m\n}\n";
    assert_eq!(read(text, "main").global.router_id.as_deref(), Some("m"));
    assert_eq!(read(text, "backup").global.router_id, None);
}

#[test]
fn comments_quotes_and_predefined_parameters() {
    let text = format!(
        "{VS_HEAD} real_server 10.0.0.2 80 {{ # a comment {{\n  MISC_CHECK {{ ! another\n   misc_path \"/bin/check --tag ${{_HASH}}1 'two words'\"\n  }}\n }}\n}}\n"
    );
    let c = read(&text, "x");
    let lvsd::config::Check::Misc(m) = &*c.virtual_servers[0].real_servers[0].checks[0] else {
        panic!("not a MISC_CHECK")
    };
    assert_eq!(m.path, "/bin/check --tag #1 'two words'");
}

#[test]
fn includes_resolve_relative_to_the_including_file_in_glob_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("conf.d/rs")).unwrap();
    std::fs::write(
        d.join("keepalived.conf"),
        format!("{VS_HEAD} include conf.d/*.conf\n}}\n"),
    )
    .unwrap();
    std::fs::write(d.join("conf.d/b.conf"), " include rs/one.inc\n").unwrap();
    std::fs::write(d.join("conf.d/a.conf"), " real_server 10.0.0.2 80 {\n }\n").unwrap();
    std::fs::write(
        d.join("conf.d/rs/one.inc"),
        " real_server 10.0.0.3 80 {\n  weight @\n }\n",
    )
    .unwrap();
    let err = load(&d.join("keepalived.conf"), &LoadOptions::default()).unwrap_err();
    // The error names the included file and its own line.
    let lvsd::config::ConfigError::Invalid(diags) = err else {
        panic!()
    };
    assert!(
        diags[0].location.file.ends_with("conf.d/rs/one.inc"),
        "{}",
        diags[0]
    );
    assert_eq!((diags[0].location.line, diags[0].location.col), (2, 10));
    std::fs::write(
        d.join("conf.d/rs/one.inc"),
        " real_server 10.0.0.3 80 {\n }\n",
    )
    .unwrap();
    let loaded = load(&d.join("keepalived.conf"), &LoadOptions::default()).unwrap();
    assert_eq!(rs_addrs(&loaded.config), ["10.0.0.2:80", "10.0.0.3:80"]);
}

#[test]
fn addresses_of_group_ranges() {
    let text = "virtual_server_group G {\n 10.0.0.1-10 80\n 192.168.202.8/29 443\n 10.0.0.250-10.0.1.10 80\n fe80::1-ff 80\n fwmark 7\n}\n";
    let c = read(text, "x");
    let e = &c.groups[0].entries;
    use lvsd::config::GroupEntry::*;
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        e[0],
        Addr {
            first: ip("10.0.0.1"),
            last: ip("10.0.0.10"),
            port: 80
        }
    );
    assert_eq!(
        e[1],
        Addr {
            first: ip("192.168.202.8"),
            last: ip("192.168.202.15"),
            port: 443
        }
    );
    assert_eq!(
        e[2],
        Addr {
            first: ip("10.0.0.250"),
            last: ip("10.0.1.10"),
            port: 80
        }
    );
    assert_eq!(
        e[3],
        Addr {
            first: ip("fe80::1"),
            last: ip("fe80::ff"),
            port: 80
        }
    );
    assert_eq!(e[4], Fwmark(7));
}
