//! `net_namespace` in a real kernel: lvsd, told by its config to run in
//! namespace `lvns`, writes its table there (IPVS tables are per network
//! namespace) and probes from there, while keepalived 2.2.7 runs the same
//! config inside `kans` by `ip netns exec` (Debian's build does not know the
//! keyword). Each namespace has the same backend on the same address, so
//! the two tables must be equal, and the guest's own table must not hold
//! the service at all.

use std::time::Duration;

use super::guest;
use super::watch::canonical;

/// The config both run, lvsd's with `net_namespace` first. The real server
/// on 8081 listens in each namespace; nothing listens on 8089.
fn config(net_namespace: Option<&str>) -> String {
    let rs = |port: u16| {
        format!(
            "    real_server 10.200.9.2 {port} {{\n        TCP_CHECK {{\n            connect_timeout 1\n            delay_loop 1\n            retry 0\n        }}\n    }}\n"
        )
    };
    let global = net_namespace
        .map(|ns| format!("global_defs {{\n    net_namespace {ns}\n}}\n"))
        .unwrap_or_default();
    format!(
        "{global}virtual_server 10.10.9.1 80 {{\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n{}{}}}\n",
        rs(8081),
        rs(8089)
    )
}

const WANTED: &str = "-A -t 10.10.9.1:80 -s rr\n-a -t 10.10.9.1:80 -r 10.200.9.2:8081 -m -w 1\n";

#[test]
fn net_namespace_puts_the_table_and_the_probes_in_that_namespace() {
    let Some(mut guest) = guest() else { return };
    let g = &mut *guest;
    g.run_ok(
        "for ns in lvns kans; do
           ip netns del $ns 2>/dev/null
           ip netns add $ns
           ip -n $ns link set lo up
           ip -n $ns addr add 10.200.9.2/32 dev lo
         done
         mkdir -p /etc/lvsd-netns",
    );
    g.write_file("/etc/lvsd-netns/lv.conf", config(Some("lvns")).as_bytes())
        .unwrap();
    g.write_file("/etc/lvsd-netns/ka.conf", config(None).as_bytes())
        .unwrap();
    for ns in ["lvns", "kans"] {
        g.spawn(
            &format!("be-{ns}"),
            &format!("ip netns exec {ns} lvsd-backend 10.200.9.2:8081"),
        )
        .unwrap();
    }
    let listening = g.wait_for(
        "grep -q listening /run/bg/be-lvns.log && grep -q listening /run/bg/be-kans.log",
        Duration::from_secs(10),
    );
    assert!(
        listening.is_ok(),
        "the backends: {}",
        g.run_ok("cat /run/bg/be-*ns.log; ip -n lvns addr")
    );
    g.spawn(
        "lvsd-netns",
        "lvsd -n -l -f /etc/lvsd-netns/lv.conf --state-file /tmp/lvsd-netns.json \
         --drift-interval 0 --drain-timeout 0",
    )
    .unwrap();
    g.spawn(
        "keepalived-netns",
        "ip netns exec kans keepalived -C -n -l -D -f /etc/lvsd-netns/ka.conf",
    )
    .unwrap();
    g.write_file("/tmp/netns-wanted", canonical(WANTED).as_bytes())
        .unwrap();
    let settled = |ns: &str| {
        format!("[ \"$(ip netns exec {ns} ipvsadm -Sn | sort)\" = \"$(cat /tmp/netns-wanted)\" ]")
    };
    let lv_ok = g
        .wait_for(&settled("lvns"), Duration::from_secs(20))
        .is_ok();
    let ka_ok = g
        .wait_for(&settled("kans"), Duration::from_secs(20))
        .is_ok();
    let lv = canonical(&g.run_ok("ip netns exec lvns ipvsadm -Sn"));
    let ka = canonical(&g.run_ok("ip netns exec kans ipvsadm -Sn"));
    let root = g.run_ok("ipvsadm -Sn");
    let lv_log = g.stop("lvsd-netns").unwrap();
    g.stop("keepalived-netns").unwrap();
    // A stop removes the service, in the namespace it was written in.
    let lv_after = g.run_ok("ip netns exec lvns ipvsadm -Sn");
    let ka_after = g.run_ok("ip netns exec kans ipvsadm -Sn");
    for ns in ["lvns", "kans"] {
        g.stop(&format!("be-{ns}")).unwrap();
    }
    g.run_ok("ip netns del lvns; ip netns del kans");
    assert!(lv_ok, "lvsd's namespace table:\n{lv}\nlog:\n{lv_log}");
    assert!(ka_ok, "keepalived's namespace table:\n{ka}");
    assert_eq!(lv, ka, "the two namespaces' tables");
    assert!(
        !root.contains("10.10.9.1"),
        "the guest's own table holds the service:\n{root}"
    );
    assert_eq!(lv_after.trim(), "", "lvsd's stop left:\n{lv_after}");
    assert_eq!(ka_after.trim(), "", "keepalived's stop left:\n{ka_after}");
}
