//! SMTP_CHECK and DNS_CHECK, keepalived 2.2.7 and lvsd side by side in a
//! real kernel (one guest boot, see `tests/vm`): a behaviour table per kind,
//! each row a backend in its own network namespace, one copy for each
//! checker (odd pairs keepalived's, even ones lvsd's, see
//! `tests/data/smtp_dns/lib.sh`). Per row, both must leave the same real
//! servers in `ipvsadm -Sn`, and send the same number of probes before the
//! real server leaves the table.
//!
//! Backends: dnsmasq (Debian's dnsmasq-base) for DNS; for SMTP a scripted
//! server (busybox `nc` running a busybox shell script per connection), since an
//! MTA needs more of a system than the guest has: the tests on the host
//! (`tests/checker/smtp.rs`) hold the dialog with OpenSMTPD. Probes are
//! counted where the backend receives them (`lvsd-witness syns` / `udp`),
//! the table's changes seen by `lvsd-witness ipvs` (every 5 ms).
//!
//! | row | SMTP backend | DNS backend |
//! |---|---|---|
//! | healthy | banner, 250, 221 | dnsmasq, `example.test` A |
//! | refused | nothing on port 25 (RST) | nothing on port 53 (ICMP port unreachable) |
//! | silent | accepts, says nothing | dnsmasq, its answers dropped |
//! | wrong answer | `554` banner | dnsmasq, `a.nx.test`: NXDOMAIN |
//! | slow | banner 4 s late | dnsmasq, answers delayed 3 s (netem) |
//! | recovery | nothing, then the healthy server | nothing, then dnsmasq |
//!
//! Every check: `delay_loop 2`, `connect_timeout 2`, `retry 1`,
//! `delay_before_retry 1`, `warmup 0`. SMTP counts its retries per
//! `delay_loop` cycle, from the start: two probes before the removal; DNS
//! follows TCP_CHECK's rule: the first failure removes at once.
//!
//! Needs qemu, the cached kernel and the keepalived and dnsmasq-base
//! packages (`bash .ci/setup`); skips without them unless `CI=true`.

use std::collections::BTreeMap;
use std::time::Duration;

use lvsd_vm::{Guest, GuestSpec};

/// A checker kind of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Smtp,
    Dns,
}

/// One row: its name, kind, how its backend starts (lib.sh commands, `N`
/// standing for the pair), what starts later (recovery), the DNS name
/// asked, whether the real server ends in the table, and how many probes
/// keepalived's rules send before the removal (None: never removed).
struct Row {
    name: &'static str,
    kind: Kind,
    setup: &'static str,
    later: &'static str,
    dns_name: &'static str,
    ends_up: bool,
    probes_before_removal: Option<usize>,
}

const ROWS: &[Row] = &[
    Row {
        name: "SMTP healthy",
        kind: Kind::Smtp,
        setup: "smtp N good",
        later: "",
        dns_name: "",
        ends_up: true,
        probes_before_removal: None,
    },
    Row {
        name: "SMTP refused",
        kind: Kind::Smtp,
        setup: "",
        later: "",
        dns_name: "",
        ends_up: false,
        probes_before_removal: Some(2),
    },
    Row {
        name: "SMTP silent",
        kind: Kind::Smtp,
        setup: "smtp N silent",
        later: "",
        dns_name: "",
        ends_up: false,
        probes_before_removal: Some(2),
    },
    Row {
        name: "SMTP wrong answer (554)",
        kind: Kind::Smtp,
        setup: "smtp N wrong",
        later: "",
        dns_name: "",
        ends_up: false,
        probes_before_removal: Some(2),
    },
    Row {
        name: "SMTP slow (banner 4 s late)",
        kind: Kind::Smtp,
        setup: "smtp N slow",
        later: "",
        dns_name: "",
        ends_up: false,
        probes_before_removal: Some(2),
    },
    Row {
        name: "SMTP recovery",
        kind: Kind::Smtp,
        setup: "",
        later: "smtp N good",
        dns_name: "",
        ends_up: true,
        probes_before_removal: Some(2),
    },
    Row {
        name: "DNS healthy",
        kind: Kind::Dns,
        setup: "dns N",
        later: "",
        dns_name: "example.test",
        ends_up: true,
        probes_before_removal: None,
    },
    Row {
        name: "DNS unreachable",
        kind: Kind::Dns,
        setup: "",
        later: "",
        dns_name: "example.test",
        ends_up: false,
        probes_before_removal: Some(1),
    },
    Row {
        name: "DNS silent",
        kind: Kind::Dns,
        setup: "dns N; silent N",
        later: "",
        dns_name: "example.test",
        ends_up: false,
        probes_before_removal: Some(1),
    },
    Row {
        name: "DNS wrong answer (NXDOMAIN)",
        kind: Kind::Dns,
        setup: "dns N",
        later: "",
        dns_name: "a.nx.test",
        ends_up: false,
        probes_before_removal: Some(1),
    },
    Row {
        name: "DNS slow (answers 3 s late)",
        kind: Kind::Dns,
        setup: "dns N; slow N 3000",
        later: "",
        dns_name: "example.test",
        ends_up: false,
        probes_before_removal: Some(1),
    },
    Row {
        name: "DNS recovery",
        kind: Kind::Dns,
        setup: "",
        later: "dns N",
        dns_name: "example.test",
        ends_up: true,
        probes_before_removal: Some(1),
    },
];

fn guest() -> Option<Guest> {
    let data = |name: &str| format!("{}/tests/data/smtp_dns/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut spec = lvsd_vm::with_lvsd!(GuestSpec::new("kernel_smtp_dns").net_tools().keepalived())
        .binary_at(
            env!("CARGO_BIN_EXE_lvsd-witness"),
            "/usr/local/bin/lvsd-witness",
        )
        .tool("dnsmasq")
        .tool("tc")
        .module("sch_netem")
        .file(data("lib.sh"), "/etc/lvsd-sd/lib.sh")
        .bytes(
            "/etc/lvsd-sd/timing.sh",
            include_str!("data/timing/lib.sh"),
            0o644,
        );
    for script in ["good", "wrong", "silent", "slow"] {
        let path = data(&format!("smtp-{script}.sh"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        spec = spec.bytes(&format!("/etc/lvsd-sd/smtp-{script}.sh"), bytes, 0o755);
    }
    lvsd_vm::boot_or_skip(spec)
}

/// The virtual server of pair `n` (row `n - 1 / 2`).
fn config(n: usize, row: &Row) -> String {
    let (port, protocol, check) = match row.kind {
        Kind::Smtp => (25, "TCP", "SMTP_CHECK {".to_string()),
        Kind::Dns => (
            53,
            "UDP",
            format!(
                "DNS_CHECK {{\n            type A\n            name {}",
                row.dns_name
            ),
        ),
    };
    format!(
        "virtual_server 10.12.0.{n} {port} {{
    delay_loop 2
    lb_algo rr
    lb_kind NAT
    protocol {protocol}
    real_server 10.201.{n}.2 {port} {{
        weight 1
        {check}
            connect_timeout 2
            retry 1
            delay_before_retry 1
            warmup 0
        }}
    }}
}}
"
    )
}

/// Pair `n`'s real server, `ADDR:PORT`.
fn target(n: usize, row: &Row) -> String {
    let port = if row.kind == Kind::Smtp { 25 } else { 53 };
    format!("10.201.{n}.2:{port}")
}

/// The times of a witness's lines starting with `label`
/// (`syn 1795234567.123456 ...`). Every SYN is a probe: no row drops SYNs,
/// so none is retransmitted (and a refused probe's source port may come
/// back in the next one).
fn times(log: &str, label: &str) -> Vec<f64> {
    log.lines()
        .filter(|l| l.starts_with(label))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

/// What one checker did in one row.
#[derive(Debug, PartialEq)]
struct Seen {
    /// Probes before the real server first left the table (None: never).
    probes_before_removal: Option<usize>,
    /// Whether its real server is in `ipvsadm -Sn` at the end.
    ends_up: bool,
}

#[test]
fn smtp_and_dns_behave_as_keepalived_2_2_7() {
    let Some(mut guest) = guest() else { return };
    let started_at = std::time::Instant::now();
    let pairs = 2 * ROWS.len();
    let row_of = |n: usize| &ROWS[(n - 1) / 2];
    let mut setup = String::from(". /etc/lvsd-sd/lib.sh\nmkdir -p /run/bg\n");
    for n in 1..=pairs {
        let row = row_of(n);
        setup.push_str(&format!("make_pair {n}\n"));
        if !row.setup.is_empty() {
            setup.push_str(&row.setup.replace('N', &n.to_string()));
            setup.push('\n');
        }
    }
    // 24 namespaces and their backends: slow in TCG on a busy host.
    let made = guest.run_timeout(&setup, Duration::from_secs(300)).unwrap();
    assert!(made.success(), "{made}");
    let mut ready = Vec::new();
    for n in 1..=pairs {
        let (mode, port) = match row_of(n).kind {
            Kind::Smtp => ("syns", 25),
            Kind::Dns => ("udp", 53),
        };
        guest
            .spawn(
                &format!("w{n}"),
                &format!("ip netns exec t{n} lvsd-witness {mode} veth-t{n}r {port}"),
            )
            .unwrap();
        ready.push(format!("grep -q watching /run/bg/w{n}.log"));
        if row_of(n).setup.contains("dns N") {
            ready.push(format!("grep -q started /run/bg/be{n}.log"));
        }
    }
    if let Err(e) = guest.wait_for(&ready.join(" && "), Duration::from_secs(20)) {
        let logs = guest.run_ok("tail -n 5 /run/bg/*.log");
        panic!("{e}\n{logs}");
    }
    let conf = |odd: usize| -> String {
        (1..=pairs)
            .filter(|n| n % 2 == odd)
            .map(|n| config(n, row_of(n)))
            .collect()
    };
    guest
        .write_file("/etc/lvsd-sd/ka.conf", conf(1).as_bytes())
        .unwrap();
    guest
        .write_file("/etc/lvsd-sd/lv.conf", conf(0).as_bytes())
        .unwrap();
    let targets: Vec<String> = (1..=pairs).map(|n| target(n, row_of(n))).collect();
    guest
        .spawn(
            "presence",
            &format!("lvsd-witness ipvs {}", targets.join(" ")),
        )
        .unwrap();
    guest
        .wait_for(
            "grep -q watching /run/bg/presence.log",
            Duration::from_secs(20),
        )
        .unwrap();
    guest
        .spawn(
            "keepalived",
            "keepalived -C -n -l -D -f /etc/lvsd-sd/ka.conf",
        )
        .unwrap();
    guest
        .spawn(
            "lvsd",
            "lvsd -n -l -f /etc/lvsd-sd/lv.conf --state-file /tmp/lvsd-sd.json",
        )
        .unwrap();
    // Every failing row is down within 7 s of its first probe; the
    // recovering backends start then, and are seen within two delay_loops.
    guest.run_ok("sleep 12");
    let mut later = String::from(". /etc/lvsd-sd/lib.sh\n");
    for n in 1..=pairs {
        let row = row_of(n);
        if !row.later.is_empty() {
            later.push_str(&row.later.replace('N', &n.to_string()));
            later.push('\n');
        }
    }
    guest.run_ok(&later);
    guest.run_ok("sleep 8");
    let table = guest.run_ok("ipvsadm -Sn");
    let presence = guest.stop("presence").unwrap();
    let ka_log = guest.stop("keepalived").unwrap();
    let lv_log = guest.stop("lvsd").unwrap();
    let mut seen: BTreeMap<usize, Seen> = BTreeMap::new();
    for n in 1..=pairs {
        let row = row_of(n);
        let log = guest.stop(&format!("w{n}")).unwrap();
        let label = if row.kind == Kind::Smtp { "syn" } else { "udp" };
        let probes = times(&log, label);
        // When the real server first left the table after its first probe.
        let key = target(n, row);
        let removal = probes.first().and_then(|first| {
            presence
                .lines()
                .filter_map(|l| {
                    let mut words = l.split_whitespace();
                    let word = words.next()?;
                    let t: f64 = words.next()?.parse().ok()?;
                    (word == "absent" && words.next()? == key).then_some(t)
                })
                .find(|t| t > first)
        });
        let port = if row.kind == Kind::Smtp { 25 } else { 53 };
        seen.insert(
            n,
            Seen {
                probes_before_removal: removal.map(|at| probes.iter().filter(|&&p| p < at).count()),
                ends_up: table.contains(&format!("-r 10.201.{n}.2:{port} ")),
            },
        );
    }
    let mut report = String::from("row | keepalived | lvsd | expected\n");
    let mut wrong = Vec::new();
    for (i, row) in ROWS.iter().enumerate() {
        let (ka, lv) = (&seen[&(2 * i + 1)], &seen[&(2 * i + 2)]);
        let expected = Seen {
            probes_before_removal: row.probes_before_removal,
            ends_up: row.ends_up,
        };
        report.push_str(&format!("{} | {ka:?} | {lv:?} | {expected:?}\n", row.name));
        if ka != lv || *lv != expected {
            wrong.push(row.name);
        }
    }
    println!("{report}(guest run {:?})", started_at.elapsed());
    assert!(
        wrong.is_empty(),
        "rows that differ: {wrong:?}\n{report}\nipvsadm -Sn:\n{table}\n\
         keepalived:\n{ka_log}\nlvsd:\n{lv_log}"
    );
}
