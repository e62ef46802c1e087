//! Bench (ignored by `cargo test`; `bench/dns.sh` runs it): CPU per 1,000
//! DNS_CHECK probes, lvsd beside keepalived 2.2.7 `-C`, in one guest boot:
//! 200 real servers (200 addresses of one network namespace, where one
//! dnsmasq answers them all), `delay_loop 1`, every check healthy.
//!
//! Each program runs alone, after the other: started, left to settle, then
//! its CPU time (user + system, with its children: keepalived's checker is
//! a child process) is read at the start and at the end of a window
//! (`LVSD_BENCH_SECONDS`, default 10), and the queries dnsmasq logged in
//! that window are counted: CPU milliseconds per 1,000 of those queries.
//! That is done `LVSD_BENCH_ROUNDS` times (default 3), in reverse order
//! every other round; the figure is the median of the rounds' ratios.
//! `LVSD_BENCH_BASE=PATH` adds a baseline lvsd build to every round.
//!
//! Needs qemu, the cached kernel and the keepalived and dnsmasq-base
//! packages; skips without them unless `CI=true`.

use std::time::Duration;

use lvsd_vm::GuestSpec;

mod bench_rounds;

const SERVERS: usize = 200;

fn config() -> String {
    let mut c = String::from(
        "virtual_server 10.13.0.1 53 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol UDP\n",
    );
    for k in 1..=SERVERS {
        c.push_str(&format!(
            "    real_server 10.204.{}.{} 53 {{\n        DNS_CHECK {{\n            type A\n            name example.test\n            connect_timeout 3\n        }}\n    }}\n",
            k / 250,
            k % 250 + 1
        ));
    }
    c.push_str("}\n");
    c
}

/// Runs `command` as NAME, waits for the table and `settle`, then returns
/// (CPU ms, queries answered) over the window.
fn measure(guest: &mut lvsd_vm::Guest, name: &str, command: &str, window: u64) -> (f64, f64) {
    guest.spawn(name, command).unwrap();
    guest
        .wait_for(
            &format!("[ $(ipvsadm -Ln | grep -c 10.204.) -ge {SERVERS} ]"),
            Duration::from_secs(60),
        )
        .unwrap();
    // Every probe has run a few times (warmup is up to delay_loop).
    guest.run_ok("sleep 5");
    let script = format!(
        "p=$(cat /run/bg/{name}.pid)
        children_of() {{ for c in /proc/[0-9]*/stat; do awk -v p=$1 '$4 == p {{ print $1 }}' $c 2>/dev/null; done; }}
        run_ns() {{ PIDS=\"$p $(children_of $p)\"; {run_ns}; }}
        queries() {{ grep -c 'query\\[A\\] example.test' /run/dq.log; }}
        t0=$(run_ns); q0=$(queries)
        sleep {window}
        t1=$(run_ns); q1=$(queries)
        echo $(( (t1 - t0) / 1000000 )) $(( q1 - q0 ))",
        run_ns = bench_rounds::GUEST_RUN_NS
    );
    let out = guest
        .run_timeout(&script, Duration::from_secs(window * 4 + 30))
        .unwrap();
    assert!(out.success(), "{out}");
    guest.stop(name).unwrap();
    guest.run_ok("ipvsadm -C");
    let mut words = out.stdout.split_whitespace();
    let cpu_ms: f64 = words.next().unwrap().parse().unwrap();
    let queries: f64 = words.next().unwrap().parse().unwrap();
    println!("{command}: {cpu_ms} ms CPU, {queries} queries in {window} s");
    (cpu_ms, queries)
}

#[test]
#[ignore = "a bench: bench/dns.sh runs it"]
fn cpu_per_1000_dns_probes() {
    let mut spec = lvsd_vm::with_lvsd!(GuestSpec::new("kernel_dns_bench").net_tools().keepalived())
        .tool("dnsmasq");
    if let Some(base) = bench_rounds::base() {
        spec = spec.binary_at(base, "/usr/local/bin/lvsd-base");
    }
    let Some(mut guest) = lvsd_vm::boot_or_skip(spec) else {
        return;
    };
    let mut setup = String::from(
        "ip netns add dnsb
        ip link add veth-dnsb type veth peer name veth-dnsbr
        ip link set veth-dnsbr netns dnsb
        ip addr add 10.203.0.1/24 dev veth-dnsb
        ip link set veth-dnsb up
        ip netns exec dnsb ip addr add 10.203.0.2/24 dev veth-dnsbr
        ip netns exec dnsb ip link set veth-dnsbr up
        ip netns exec dnsb ip link set lo up
        ip route add 10.204.0.0/16 via 10.203.0.2
        ip netns exec dnsb ip route add default via 10.203.0.1\n",
    );
    for k in 1..=SERVERS {
        setup.push_str(&format!(
            "ip netns exec dnsb ip addr add 10.204.{}.{}/32 dev lo\n",
            k / 250,
            k % 250 + 1
        ));
    }
    guest.run_ok(&setup);
    let clock = "/sys/devices/system/clocksource/clocksource0";
    let clocks = guest.run_ok(&format!(
        "cat {clock}/current_clocksource {clock}/available_clocksource"
    ));
    println!(
        "guest clocksource (current, available): {}",
        clocks.replace('\n', "; ")
    );
    guest
        .spawn(
            "dnsmasq",
            "ip netns exec dnsb dnsmasq --no-daemon --port=53 --no-resolv --no-hosts \
             --user=root --group=root --pid-file= --address=/example.test/127.0.0.2 \
             --local=/example.test/ --log-queries --log-facility=/run/dq.log",
        )
        .unwrap();
    guest
        .wait_for("grep -q started /run/dq.log", Duration::from_secs(20))
        .unwrap();
    guest
        .write_file("/etc/dns-bench.conf", config().as_bytes())
        .unwrap();
    let window = bench_rounds::seconds();
    let conf = "-n -l -f /etc/dns-bench.conf";
    let state = "--state-file /tmp/dns-bench.json";
    // (figure, process name, command)
    let mut runs = vec![("", "keepalived", format!("keepalived -C {conf}"))];
    if bench_rounds::base().is_some() {
        runs.push((
            "DNS_CHECK (lvsd base)",
            "lvsd",
            format!("lvsd-base {conf} {state}"),
        ));
    }
    runs.push(("DNS_CHECK", "lvsd", format!("lvsd {conf} {state}")));
    let figures = bench_rounds::alternate(runs.len(), bench_rounds::rounds(), |i| {
        let (_, name, command) = &runs[i];
        let (cpu, queries) = measure(&mut guest, name, command, window);
        assert!(queries > 0.0, "{command}: no queries seen");
        cpu / queries * 1000.0
    });
    for ((what, _, _), figure) in runs.iter().skip(1).zip(&figures) {
        let setting = format!("{SERVERS} real servers, delay_loop 1");
        bench_rounds::print(what, &setting, "ms", figure);
    }
}
