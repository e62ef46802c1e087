//! The UDP_CHECK and PING_CHECK benchmark (ignored; `bench/udp_ping.sh`
//! runs it with a release build): CPU per 1,000 probes, lvsd beside
//! keepalived 2.2.7 (`keepalived -C`) in the same guest, at 200 healthy
//! real servers and `delay_loop 1`.
//!
//! The real servers are 10.128.0.1–200, made local in a network namespace
//! `bench` by one `local` route (AnyIP), behind a veth pair. There dnsmasq
//! (listening on every address) answers the UDP_CHECK's DNS query, which
//! the check requires (`require_reply`); the kernel answers the echo.
//!
//! Each program runs alone, from an empty table: once its table is
//! complete and a few seconds have passed, its CPU time (user + system,
//! every process and thread; keepalived's parent and checker child summed)
//! and the probes the namespace received (`/proc/net/snmp`: UDP datagrams,
//! ICMP echo requests) are read twice, `LVSD_BENCH_SECONDS` apart (default
//! 10). Every real server must still be in the table at the end: the
//! figures are for passing probes. That is done `LVSD_BENCH_ROUNDS` times
//! (default 3), the programs in reverse order every other round, and each
//! figure is the median of the rounds' ratios: the guest shares the host's
//! two cores, and one run's figure moves by a third with the host's load.

use std::collections::BTreeMap;
use std::time::Duration;

use lvsd_vm::{Guest, GuestSpec};

mod bench_rounds;

const SERVERS: usize = 200;

const DNS_QUERY: &str = "4c56 0100 0001 0000 0000 0000 046c 7673 6404 7465 7374 0000 0100 01";

fn config(check: &str) -> String {
    let mut text = String::from(
        "virtual_server 10.14.0.1 53 {\n delay_loop 1\n lb_algo rr\n lb_kind NAT\n protocol UDP\n",
    );
    for i in 1..=SERVERS {
        text.push_str(&format!(
            " real_server 10.128.0.{i} 53 {{\n  connect_timeout 2\n  {check}\n }}\n"
        ));
    }
    text.push_str("}\n");
    text
}

fn guest() -> Option<Guest> {
    let mut spec = GuestSpec::new("kernel_udp_ping_bench")
        .net_tools()
        .keepalived()
        .tool("dnsmasq")
        .binary_at(env!("CARGO_BIN_EXE_lvsd"), "/usr/local/bin/lvsd");
    if let Some(base) = bench_rounds::base() {
        spec = spec.binary_at(base, "/usr/local/bin/lvsd-base");
    }
    lvsd_vm::boot_or_skip(spec)
}

const SETUP: &str = "ip link set lo up
ip netns add bench
ip link add veth-b type veth peer name veth-bn
ip link set veth-bn netns bench
ip addr add 10.210.0.1/24 dev veth-b
ip link set veth-b up
ip netns exec bench ip addr add 10.210.0.2/24 dev veth-bn
ip netns exec bench ip link set veth-bn up
ip netns exec bench ip link set lo up
ip netns exec bench ip route add local 10.128.0.0/24 dev lo
ip route add 10.128.0.0/24 via 10.210.0.2
ip netns exec bench dnsmasq --no-resolv --no-hosts --conf-file=/dev/null --user=root \
    --pid-file=/run/dnsmasq.pid --port=53 --address=/lvsd.test/192.0.2.7
";

/// Shell, after `bench_rounds::GUEST_RUN_NS` for `$PIDS` (program `who`,
/// pid in /run/bg, and its children: their CPU time in nanoseconds): prints
/// the probes the namespace received, then each thread of the program's
/// main process and its run time in nanoseconds (commentary: where lvsd's
/// CPU goes).
const PIDS: &str = r#"p=$(cat /run/bg/$WHO.pid)
PIDS="$p $(for s in /proc/[0-9]*/stat; do awk -v p=$p '$4 == p { print $1 }' $s 2>/dev/null; done)"
"#;
const SAMPLE: &str = r#"ip netns exec bench awk '
    /^Udp:/ { if (u) print_u = $2; u = 1 }
    /^Icmp:/ { if (i) { split($0, f, " "); e = f[c] } else { i = 1; for (k = 1; k <= NF; k++) if ($k == "InEchos") c = k } }
    END { print print_u + e }' /proc/net/snmp
for t in /proc/$p/task/*; do echo "$(cat $t/comm | tr -c 'a-zA-Z0-9\n-' _) $(cut -d' ' -f1 $t/schedstat)"; done
"#;

/// Runs `program` on `conf` and returns (CPU seconds, probes) over the
/// window; prints the CPU of each thread in it (commentary).
fn measure(guest: &mut Guest, who: &str, command: &str, seconds: u64) -> (f64, f64) {
    guest.run_ok("ipvsadm -C");
    guest.spawn(who, command).unwrap();
    let complete = format!("[ $(ipvsadm -Sn | grep -c -- '-r 10.128') -eq {SERVERS} ]");
    guest
        .wait_for(&complete, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{who}: no complete table: {e}"));
    guest.run_ok("sleep 4");
    let sample = |guest: &mut Guest| -> (f64, f64, BTreeMap<String, f64>) {
        let out = guest.run_ok(&format!(
            "WHO={who}\n{PIDS}{}\n{SAMPLE}",
            bench_rounds::GUEST_RUN_NS
        ));
        let mut lines = out.lines();
        let mut number = || -> f64 { lines.next().unwrap_or("").trim().parse().unwrap() };
        let (cpu, probes) = (number() / 1e9, number());
        let mut threads = BTreeMap::new();
        for line in lines {
            if let Some((name, run)) = line.split_once(' ') {
                let run: f64 = run.trim().parse().unwrap_or(0.0);
                *threads.entry(name.to_string()).or_insert(0.0) += run / 1e9;
            }
        }
        (cpu, probes, threads)
    };
    let (cpu0, probes0, threads0) = sample(guest);
    guest.run_ok(&format!("sleep {seconds}"));
    let (cpu1, probes1, threads1) = sample(guest);
    let per_thread: Vec<String> = threads1
        .iter()
        .map(|(name, cpu)| {
            let spent = cpu - threads0.get(name).copied().unwrap_or(0.0);
            format!("{name} {spent:.2} s")
        })
        .collect();
    println!("{who} threads: {}", per_thread.join(", "));
    let still = guest.run_ok("ipvsadm -Sn | grep -c -- '-r 10.128' || true");
    let log = guest.stop(who).unwrap();
    assert_eq!(
        still.trim(),
        SERVERS.to_string(),
        "{who}: real servers failed during the bench\n{log}"
    );
    guest.run_ok("ipvsadm -C");
    (cpu1 - cpu0, probes1 - probes0)
}

#[test]
#[ignore = "a benchmark: bench/udp_ping.sh runs it"]
fn cpu_per_1000_udp_and_ping_probes_beside_keepalived() {
    let Some(mut guest) = guest() else { return };
    let seconds = bench_rounds::seconds();
    guest.run_ok(SETUP);
    let kinds = [
        (
            "UDP_CHECK",
            format!("UDP_CHECK {{\n   payload {DNS_QUERY}\n   require_reply 4c56 8x x0\n  }}"),
        ),
        ("PING_CHECK", "PING_CHECK {\n  }".to_string()),
    ];
    for (kind, check) in kinds {
        let conf = format!("/tmp/{kind}.conf");
        guest.write_file(&conf, config(&check).as_bytes()).unwrap();
        // keepalived, then lvsd with a ping socket (keepalived's kind), and
        // for PING_CHECK also with a raw one (the group range allowing
        // nobody); in reverse order every other round.
        // (what, ping_group_range, lvsd binary)
        let mut runs: Vec<(String, &str, &str)> = vec![("keepalived".into(), "", "")];
        let mut sockets = vec![("ping socket", "0 2147483647")];
        if kind == "PING_CHECK" {
            sockets.push(("raw socket", "1 0"));
        }
        for (socket, range) in sockets {
            let what = if kind == "PING_CHECK" {
                format!("{kind} (lvsd: {socket})")
            } else {
                kind.to_string()
            };
            if bench_rounds::base().is_some() {
                runs.push((format!("{what} (lvsd base)"), range, "lvsd-base"));
            }
            runs.push((what, range, "lvsd"));
        }
        let figures = bench_rounds::alternate(runs.len(), bench_rounds::rounds(), |i| {
            let (what, range, binary) = &runs[i];
            let (who, command) = if i == 0 {
                ("keepalived", format!("keepalived -C -n -l -f {conf}"))
            } else {
                guest.run_ok(&format!("sysctl -qw net.ipv4.ping_group_range='{range}'"));
                let lvsd = format!("{binary} -n -l -f {conf} --state-file /tmp/bench.json");
                ("lvsd", lvsd)
            };
            let (cpu, probes) = measure(&mut guest, who, &command, seconds);
            println!("{kind}: {what}: {cpu:.2} s CPU for {probes} probes");
            cpu / probes * 1000.0
        });
        for ((what, _, _), figure) in runs.iter().skip(1).zip(&figures) {
            let setting = format!("{SERVERS} real servers, delay_loop 1, guest");
            bench_rounds::print(what, &setting, "s", figure);
        }
    }
}
