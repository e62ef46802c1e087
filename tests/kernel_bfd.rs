//! BFD_CHECK in a real kernel (see `tests/vm`): the same config under
//! keepalived 2.2.7 (`-C`, whose BFD child runs the session) and under
//! lvsd, one after the other in the same boot (both listen on UDP 3784),
//! against the same peer: keepalived's own BFD in a network namespace
//! `peer` behind a veth pair. After each step the whole `ipvsadm -Sn` must
//! be the same under both:
//!
//! 1. the session comes up: the real server (`alpha`: down until then) is added;
//! 2. the peer goes silent (its BFD child stopped): it is removed;
//! 3. the peer is back: it is added again.
//!
//! A second test runs a session that never comes up (no peer, no
//! `alpha`) under both: the same table after 8 s.
//!
//! Timers are 200 ms × 3: the guest runs under TCG, about ten times slower
//! than the host. Needs qemu and the cached kernel (`bash .ci/setup`);
//! skips without them unless `CI=true`.

use std::time::Duration;

use lvsd_vm::{Guest, GuestSpec, SharedGuest};

static GUEST: SharedGuest = SharedGuest::new();

fn guest() -> Option<std::sync::MutexGuard<'static, Guest>> {
    GUEST.get(|| {
        lvsd_vm::with_lvsd!(GuestSpec::new("kernel_bfd")
            .net_tools()
            .keepalived()
            .tool("ipvsadm"))
    })
}

const CHECKER: &str = "bfd_instance gw {
    neighbor_ip 10.203.0.2
    source_ip 10.203.0.1
    min_rx 200
    min_tx 200
    multiplier 3
}
virtual_server 10.13.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.203.0.2 80 {
        weight 3
        BFD_CHECK {
            name gw
            alpha
        }
    }
}
";

const PEER: &str = "global_defs {
    router_id peer
}
bfd_instance lb {
    neighbor_ip 10.203.0.1
    source_ip 10.203.0.2
    min_rx 200
    min_tx 200
    multiplier 3
}
";

/// The real server in /proc/net/ip_vs (10.203.0.2:80).
const RS_HEX: &str = "0ACB0002:0050";

/// The table after each step under one checker (`start` runs it in the
/// background as `name`).
fn steps(g: &mut Guest, name: &str, start: &str) -> Vec<String> {
    g.run_ok("ipvsadm -C");
    g.spawn(name, start).unwrap();
    let present = format!("grep -q {RS_HEX} /proc/net/ip_vs");
    let absent = format!("! grep -q {RS_HEX} /proc/net/ip_vs");
    let mut tables = Vec::new();
    g.wait_for(&present, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{name}: never up: {e}"));
    tables.push(g.run_ok("ipvsadm -Sn"));
    g.run_ok("kill -STOP $(cat /run/bfd/peer-bfd.pid)");
    let silent = g.wait_for(&absent, Duration::from_secs(20));
    tables.push(g.run_ok("ipvsadm -Sn"));
    g.run_ok("kill -CONT $(cat /run/bfd/peer-bfd.pid)");
    silent.unwrap_or_else(|e| panic!("{name}: a silent peer never took it down: {e}"));
    g.wait_for(&present, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{name}: never up again: {e}"));
    tables.push(g.run_ok("ipvsadm -Sn"));
    g.stop(name).unwrap();
    g.run_ok("ipvsadm -C");
    tables
}

#[test]
fn bfd_check_changes_the_table_as_keepalived_does() {
    let Some(mut guest) = guest() else { return };
    let g = &mut *guest;
    g.run_ok("rm -rf /run/bfd && mkdir -p /run/bfd");
    g.write_file("/run/bfd/checker.conf", CHECKER.as_bytes())
        .unwrap();
    g.write_file("/run/bfd/peer.conf", PEER.as_bytes()).unwrap();
    g.run_ok(
        "ip netns add peer && ip link add v0 type veth peer name v1 netns peer && \
         ip addr add 10.203.0.1/24 dev v0 && ip link set v0 up && \
         ip -n peer addr add 10.203.0.2/24 dev v1 && ip -n peer link set v1 up && \
         ip -n peer link set lo up",
    );
    g.spawn(
        "peer",
        "ip netns exec peer keepalived -C -n -l -f /run/bfd/peer.conf -p /run/bfd/peer.pid \
         -c /run/bfd/peer-c.pid -r /run/bfd/peer-v.pid -b /run/bfd/peer-bfd.pid",
    )
    .unwrap();
    g.wait_for("test -s /run/bfd/peer-bfd.pid", Duration::from_secs(20))
        .unwrap();
    let ka = steps(
        g,
        "keepalived",
        "keepalived -C -n -l -f /run/bfd/checker.conf -p /run/bfd/ka.pid \
         -c /run/bfd/ka-c.pid -r /run/bfd/ka-v.pid -b /run/bfd/ka-bfd.pid",
    );
    // keepalived's BFD child lets go of port 3784 as it ends.
    g.wait_for("! grep -q ':0EB8 ' /proc/net/udp", Duration::from_secs(10))
        .unwrap();
    let lv = steps(
        g,
        "lvsd",
        "lvsd -n -l -f /run/bfd/checker.conf --state-file /tmp/lvsd-bfd.json --drift-interval 0",
    );
    g.stop("peer").unwrap();
    for (i, (k, l)) in ka.iter().zip(&lv).enumerate() {
        println!("step {}:\nkeepalived:\n{k}lvsd:\n{l}", i + 1);
    }
    assert_eq!(ka, lv, "the tables differ after some step");
    assert!(ka[0].contains("10.203.0.2:80") && !ka[1].contains("10.203.0.2:80"));
}

/// A session that never comes up (no peer), without `alpha`: lvsd takes
/// the real server out once the start grace (`idle_tx` × `multiplier`,
/// 3 s) has passed; keepalived 2.2.7 has it out too: the same table.
#[test]
fn a_session_that_never_comes_up() {
    let Some(mut guest) = guest() else { return };
    let g = &mut *guest;
    let conf = CHECKER
        .replace("10.203.0.2", "10.203.0.9")
        .replace("            alpha\n", "");
    g.run_ok("mkdir -p /run/bfd && ipvsadm -C");
    g.write_file("/run/bfd/lonely.conf", conf.as_bytes())
        .unwrap();
    let mut tables = Vec::new();
    for (name, start) in [
        (
            "keepalived",
            "keepalived -C -n -l -f /run/bfd/lonely.conf -p /run/bfd/kl.pid \
             -c /run/bfd/kl-c.pid -r /run/bfd/kl-v.pid -b /run/bfd/kl-bfd.pid",
        ),
        (
            "lvsd",
            "lvsd -n -l -f /run/bfd/lonely.conf --state-file /tmp/lvsd-lonely.json --drift-interval 0",
        ),
    ] {
        g.spawn(name, start).unwrap();
        std::thread::sleep(Duration::from_secs(8));
        tables.push(g.run_ok("ipvsadm -Sn"));
        g.stop(name).unwrap();
        g.run_ok("ipvsadm -C");
        g.wait_for("! grep -q ':0EB8 ' /proc/net/udp", Duration::from_secs(10))
            .unwrap();
    }
    println!(
        "after 8 s without a peer:\nkeepalived:\n{}lvsd:\n{}",
        tables[0], tables[1]
    );
    assert!(
        !tables[1].contains("10.203.0.9:80"),
        "lvsd kept it: {}",
        tables[1]
    );
}
