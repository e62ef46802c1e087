//! Bench (ignored by `cargo test`; `bench/dns.sh` runs it): CPU per 1,000
//! DNS_CHECK probes, lvsd beside keepalived 2.2.7 `-C`, in one guest boot:
//! 200 real servers (200 addresses of one network namespace, where one
//! dnsmasq answers them all), `delay_loop 1`, every check healthy.
//!
//! Each program runs alone, after the other: started, left to settle, then
//! its CPU time (user + system, with its children: keepalived's checker is
//! a child process) is read at the start and at the end of a window, and
//! the queries dnsmasq logged in that window are counted. The figure is CPU
//! milliseconds per 1,000 of those queries.
//!
//! Needs qemu, the cached kernel and the keepalived and dnsmasq-base
//! packages; skips without them unless `CI=true`.

use std::time::Duration;

use lvsd_vm::GuestSpec;

const SERVERS: usize = 200;
const WINDOW_S: u64 = 20;

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
fn measure(guest: &mut lvsd_vm::Guest, name: &str, command: &str) -> (f64, f64) {
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
        ticks() {{ for q in $p $(children_of $p); do awk '{{ print $14 + $15 }}' /proc/$q/stat 2>/dev/null; done | awk '{{ s += $1 }} END {{ print s }}'; }}
        queries() {{ grep -c 'query\\[A\\] example.test' /run/dq.log; }}
        t0=$(ticks); q0=$(queries)
        sleep {WINDOW_S}
        t1=$(ticks); q1=$(queries)
        echo $(( (t1 - t0) * 10 )) $(( q1 - q0 ))"
    );
    let out = guest
        .run_timeout(&script, Duration::from_secs(WINDOW_S * 4))
        .unwrap();
    assert!(out.success(), "{out}");
    guest.stop(name).unwrap();
    guest.run_ok("ipvsadm -C");
    let mut words = out.stdout.split_whitespace();
    let cpu_ms: f64 = words.next().unwrap().parse().unwrap();
    let queries: f64 = words.next().unwrap().parse().unwrap();
    println!("{name}: {cpu_ms} ms CPU, {queries} queries in {WINDOW_S} s");
    (cpu_ms, queries)
}

#[test]
#[ignore = "a bench: bench/dns.sh runs it"]
fn cpu_per_1000_dns_probes() {
    let spec = lvsd_vm::with_lvsd!(GuestSpec::new("kernel_dns_bench").net_tools().keepalived())
        .tool("dnsmasq");
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
    let (ka_cpu, ka_q) = measure(
        &mut guest,
        "keepalived",
        "keepalived -C -n -l -f /etc/dns-bench.conf",
    );
    let (lv_cpu, lv_q) = measure(
        &mut guest,
        "lvsd",
        "lvsd -n -l -f /etc/dns-bench.conf --state-file /tmp/dns-bench.json",
    );
    assert!(ka_q > 0.0 && lv_q > 0.0, "no queries seen");
    let (lv, ka) = (lv_cpu / lv_q * 1000.0, ka_cpu / ka_q * 1000.0);
    println!(
        "figure: CPU per 1,000 DNS_CHECK probes, {SERVERS} real servers, delay_loop 1 (ms): \
         lvsd {lv:.1} | keepalived {ka:.1} | ratio {:.2}",
        lv / ka
    );
}
