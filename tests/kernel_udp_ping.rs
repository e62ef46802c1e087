//! UDP_CHECK and PING_CHECK, keepalived 2.2.7 and lvsd side by side in a
//! real kernel (one guest boot): a behaviour table per kind. For every row
//! both checkers must leave the same table (the row's real server present
//! or not, at the same weight) and, when the real server is removed, must
//! have sent the same number of probes before the removal.
//!
//! Each row is a real server in a network namespace behind a veth pair
//! (`tests/data/udp_ping/lib.sh`); each checker has its own copy of every
//! row, so the probes a namespace receives (its `/proc/net/snmp`: UDP
//! datagrams, ICMP echo requests) are one checker's. The UDP service is
//! dnsmasq (a real DNS server from Debian); PING_CHECK is answered by the
//! kernel's own echo. Failures are made with the kernel's tools: a closed
//! port (ICMP port unreachable), a blackhole route (silence), netem (an
//! answer 1.5 s late, past `connect_timeout` 1 s).
//!
//! Every check: `delay_loop 3`, `connect_timeout 1`, `retry 2`,
//! `delay_before_retry 1`. A real server that fails its very first probe
//! leaves at once (1 probe); one that dies while up leaves after
//! `retry + 1` = 3 probes from its death.
//!
//! Needs qemu, the cached kernel, keepalived and dnsmasq (`bash
//! .ci/setup`); skips without them unless `CI=true`.

use std::time::Duration;

use lvsd_vm::{Guest, GuestSpec};

/// A row of the behaviour table.
struct Row {
    name: &'static str,
    /// The checker block.
    check: &'static str,
    /// Shell run for the row's pair (`$1`) before the checkers start.
    before: &'static str,
    /// Shell run for the pair once the checkers have settled (a death or
    /// a recovery), or "".
    during: &'static str,
    /// Whether the real server is in the final table.
    present: bool,
    /// Probes sent from the start (or from `during`, for a death) to the
    /// real server's removal; None when it is never removed.
    probes_to_removal: Option<u64>,
}

const DNS_QUERY: &str = "4c56 0100 0001 0000 0000 0000 046c 7673 6404 7465 7374 0000 0100 01";

fn rows() -> Vec<Row> {
    let udp = |reply: &'static str| -> &'static str {
        match reply {
            "" => "UDP_CHECK {\n payload PAYLOAD\n }",
            "ok" => "UDP_CHECK {\n payload PAYLOAD\n require_reply 4c56 8x x0\n }",
            "wrong" => "UDP_CHECK {\n payload PAYLOAD\n require_reply 1111\n }",
            _ => "UDP_CHECK {\n payload PAYLOAD\n require_reply\n }",
        }
    };
    let ping = "PING_CHECK {\n }";
    vec![
        Row {
            name: "udp healthy (dnsmasq answers NOERROR)",
            check: udp("ok"),
            before: "dns_up $1",
            during: "",
            present: true,
            probes_to_removal: None,
        },
        Row {
            name: "udp refused (port closed)",
            check: udp(""),
            before: "",
            during: "",
            present: false,
            probes_to_removal: Some(1),
        },
        Row {
            name: "udp silent, no reply required",
            check: udp(""),
            before: "blackhole $1",
            during: "",
            present: true,
            probes_to_removal: None,
        },
        Row {
            name: "udp silent, reply required",
            check: udp("any"),
            before: "blackhole $1",
            during: "",
            present: false,
            probes_to_removal: Some(1),
        },
        Row {
            name: "udp wrong answer",
            check: udp("wrong"),
            before: "dns_up $1",
            during: "",
            present: false,
            probes_to_removal: Some(1),
        },
        Row {
            name: "udp slow answer (1.5 s)",
            check: udp("ok"),
            before: "dns_up $1; slow $1",
            during: "",
            present: false,
            probes_to_removal: Some(1),
        },
        Row {
            name: "udp dies while up (port closes)",
            check: udp("ok"),
            before: "dns_up $1",
            during: "die $1 port",
            present: false,
            probes_to_removal: Some(3),
        },
        Row {
            name: "udp recovers",
            check: udp("ok"),
            before: "",
            during: "dns_up $1",
            present: true,
            probes_to_removal: Some(1),
        },
        Row {
            name: "ping live",
            check: ping,
            before: "",
            during: "",
            present: true,
            probes_to_removal: None,
        },
        Row {
            name: "ping dropped",
            check: ping,
            before: "blackhole $1",
            during: "",
            present: false,
            probes_to_removal: Some(1),
        },
        Row {
            name: "ping slow (1.5 s)",
            check: ping,
            before: "slow $1",
            during: "",
            present: false,
            probes_to_removal: Some(1),
        },
        Row {
            name: "ping dies while up",
            check: ping,
            before: "",
            during: "die $1 echo",
            present: false,
            probes_to_removal: Some(3),
        },
        Row {
            name: "ping recovers",
            check: ping,
            before: "blackhole $1",
            during: "unblackhole $1",
            present: true,
            probes_to_removal: Some(1),
        },
    ]
}

/// Pair of row `r` (1-based) for checker `c` (0 keepalived, 1 lvsd).
fn pair(c: usize, r: usize) -> usize {
    c * 20 + r
}

fn config(c: usize, rows: &[Row]) -> String {
    let mut text = String::new();
    for (i, row) in rows.iter().enumerate() {
        let n = pair(c, i + 1);
        let check = row.check.replace("PAYLOAD", DNS_QUERY);
        text.push_str(&format!(
            "virtual_server 10.13.{c}.{r} 53 {{
    delay_loop 3
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server 10.203.{n}.2 53 {{
        weight 1
        connect_timeout 1
        retry 2
        delay_before_retry 1
        {check}
    }}
}}
",
            r = i + 1
        ));
    }
    text
}

fn guest() -> Option<Guest> {
    let spec = GuestSpec::new("kernel_udp_ping")
        .net_tools()
        .keepalived()
        .tool("dnsmasq")
        .tool("tc")
        .module("sch_netem")
        .binary_at(env!("CARGO_BIN_EXE_lvsd"), "/usr/local/bin/lvsd")
        .bytes(
            "/etc/lvsd-udp-ping/lib.sh",
            include_str!("data/udp_ping/lib.sh"),
            0o644,
        );
    lvsd_vm::boot_or_skip(spec)
}

#[test]
fn udp_and_ping_behave_as_keepalived_row_by_row() {
    let Some(mut guest) = guest() else { return };
    let started = std::time::Instant::now();
    let rows = rows();
    let lib = ". /etc/lvsd-udp-ping/lib.sh";
    let mut setup = format!("{lib}\nip link set lo up\n");
    for c in 0..2 {
        for (i, row) in rows.iter().enumerate() {
            let n = pair(c, i + 1);
            setup.push_str(&format!("make_pair {n}\nset -- {n}\n{}\n", row.before));
        }
    }
    // 26 namespaces: slow under TCG on a busy host.
    let out = guest.run_timeout(&setup, Duration::from_secs(300)).unwrap();
    assert!(out.success(), "setup failed\n{out}");
    let all: Vec<String> = (0..2)
        .flat_map(|c| (1..=rows.len()).map(move |r| pair(c, r).to_string()))
        .collect();
    guest.run_ok(&format!("{lib}; base {}", all.join(" ")));
    for c in 0..2 {
        guest
            .write_file(
                &format!("/etc/lvsd-udp-ping/{c}.conf"),
                config(c, &rows).as_bytes(),
            )
            .unwrap();
    }
    guest
        .spawn(
            "keepalived",
            "keepalived -C -n -l -f /etc/lvsd-udp-ping/0.conf",
        )
        .unwrap();
    guest
        .spawn(
            "lvsd",
            "lvsd -n -l -f /etc/lvsd-udp-ping/1.conf --state-file /tmp/lvsd-udp-ping.json",
        )
        .unwrap();
    // Both start tables in (every real server added) before the watch
    // begins: from then on, a real server absent at the watch's first look
    // was removed by its first probe, and the next probe comes delay_loop
    // (3 s: room for a busy host) later.
    guest
        .wait_for(
            &format!(
                "grep -q 'lvsd started' /run/bg/lvsd.log && \
                 [ $(grep -c 'Activating healthchecker' /run/bg/keepalived.log) -ge {} ]",
                rows.len()
            ),
            Duration::from_secs(20),
        )
        .expect("both checkers started");
    guest
        .spawn(
            "watch",
            &format!("bash -c '{lib}; watch_removals {}'", all.join(" ")),
        )
        .unwrap();
    // Let every check give a few verdicts: warmup (up to delay_loop) and two
    // rounds. Then the deaths and recoveries, at once for both checkers.
    guest.run_ok("sleep 8");
    let mut during = format!("{lib}\n");
    for c in 0..2 {
        for (i, row) in rows.iter().enumerate() {
            if row.during.is_empty() {
                continue;
            }
            let n = pair(c, i + 1);
            if row.during.starts_with("die") {
                during.push_str(&format!(
                    "present {n} || echo 'row {n} not up before its death'\n"
                ));
            }
            during.push_str(&format!("set -- {n}\n{}\n", row.during));
        }
    }
    let said = guest.run_ok(&during);
    guest.run_ok("sleep 12");
    let table = guest.run_ok("ipvsadm -Sn");
    let counts = guest
        .run_ok("for f in /run/removed.* /run/death.* /run/base.*; do echo \"$f $(cat $f)\"; done 2>/dev/null");
    let keepalived_log = guest.stop("keepalived").unwrap();
    let lvsd_log = guest.stop("lvsd").unwrap();
    let watch_log = guest.stop("watch").unwrap_or_default();
    let count = |kind: &str, n: usize| -> Option<u64> {
        counts
            .lines()
            .find(|l| l.starts_with(&format!("/run/{kind}.{n} ")))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
    };
    let mut report = Vec::new();
    let mut wrong = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let mut seen = Vec::new();
        for c in 0..2 {
            let n = pair(c, i + 1);
            let line = table
                .lines()
                .find(|l| l.contains(&format!("-r 10.203.{n}.2:")))
                .map(|l| {
                    l.split(" -r ")
                        .nth(1)
                        .unwrap_or("")
                        .replace(&format!("10.203.{n}.2"), "RS")
                });
            let since = count("death", n).or(count("base", n)).unwrap_or(0);
            let removal = count("removed", n).map(|at| at.saturating_sub(since));
            seen.push((line, removal));
        }
        let [(k_line, k_probes), (l_line, l_probes)] = [seen[0].clone(), seen[1].clone()];
        report.push(format!(
            "{:40} keepalived: {:22} probes to removal {:?} | lvsd: {:22} {:?}",
            row.name,
            k_line.clone().unwrap_or("absent".into()),
            k_probes,
            l_line.clone().unwrap_or("absent".into()),
            l_probes
        ));
        // A death races the probe in flight: one sent just before the
        // death is counted before it, yet fails after it. So for a death
        // while up, each program may count one probe fewer than `retry + 1`
        // (seen: keepalived 2, lvsd 3, in one run); otherwise the counts
        // are equal and as expected.
        let counts_agree = if row.during.starts_with("die") {
            let expected = |p: Option<u64>| matches!((p, row.probes_to_removal), (Some(p), Some(want)) if p == want || p + 1 == want);
            expected(k_probes) && expected(l_probes)
        } else {
            k_probes == l_probes && k_probes == row.probes_to_removal
        };
        let ok = k_line == l_line && k_line.is_some() == row.present && counts_agree;
        if !ok {
            wrong.push(row.name);
        }
    }
    let report = report.join("\n");
    eprintln!("{report}\nwall time {:?}", started.elapsed());
    assert!(
        wrong.is_empty() && !said.contains("not up"),
        "rows that differ: {wrong:?}\n{report}\n{said}\ntable:\n{table}\ncounts:\n{counts}\nwatch log:\n{watch_log}\n\
         keepalived log:\n{keepalived_log}\nlvsd log:\n{lvsd_log}"
    );
}
