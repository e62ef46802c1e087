//! The kernel-wide IPVS settings of `global_defs`: `lvs_timeouts` set at
//! start, and `lvs_sync_daemon` left to the VRRP side (watched, not run).

use std::time::Duration;

use super::guest;
use super::watch::wait_log;

/// `lvs_timeouts` from `global_defs` reaches the kernel at start. The sync
/// daemon `lvs_sync_daemon` names belongs to the VRRP side: lvsd neither
/// starts nor stops it, warns once when none runs after the grace time,
/// logs the daemons the VRRP side starts, and shows them in `ctl status`
/// and the state dump.
#[test]
fn global_timeouts_are_set_and_the_sync_daemon_is_left_to_vrrp() {
    let Some(mut guest) = guest() else { return };
    let guest = &mut *guest;
    guest
        .write_file(
            "/tmp/settings.conf",
            b"global_defs {
    lvs_timeouts tcp 901 tcpfin 121 udp 301
    lvs_sync_daemon veth-lb1 VI_1 id 7
}
virtual_server 10.10.0.3 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.200.1.2 8081 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
",
        )
        .unwrap();
    // The kernel's defaults are 900 120 300: lvsd's values differ.
    guest.run_ok(
        "ipvsadm -C; ipvsadm --set 900 120 300; ipvsadm --stop-daemon backup || true; \
         ipvsadm --stop-daemon master || true",
    );
    let before = guest.run_ok("ipvsadm -L --timeout");
    guest
        .spawn(
            "lvsd-sync",
            "lvsd -n -l -f /tmp/settings.conf --sync-daemon-grace 2 --state-file /tmp/sync-state.json",
        )
        .unwrap();
    wait_log(guest, "lvsd-sync", "lvsd started", 1);
    let timeouts = guest.run_ok("ipvsadm -L --timeout");
    let started = guest.run_ok("ipvsadm -L --daemon");
    // Nothing runs it: one warning after the grace time.
    wait_log(
        guest,
        "lvsd-sync",
        "lvs_sync_daemon: no sync daemon runs",
        1,
    );
    // The VRRP side (keepalived -P, here by hand) starts it: lvsd follows.
    guest.run_ok("ipvsadm --start-daemon master --mcast-interface veth-lb1 --syncid 7");
    wait_log(guest, "lvsd-sync", "sync daemon running.*role=master", 1);
    let status = guest.run_ok("lvsd ctl status");
    guest.signal("lvsd-sync", "USR1").unwrap();
    guest
        .wait_for("[ -s /tmp/sync-state.json ]", Duration::from_secs(10))
        .unwrap();
    let dump: serde_json::Value =
        serde_json::from_str(&guest.run_ok("cat /tmp/sync-state.json")).unwrap();
    // Stopping lvsd leaves it running.
    let log = guest.stop("lvsd-sync").unwrap();
    let stopped = guest.run_ok("ipvsadm -L --daemon");
    guest.run_ok("ipvsadm --stop-daemon master || true; ipvsadm --set 900 120 300; ipvsadm -C");
    assert_eq!(before.trim(), "Timeout (tcp tcpfin udp): 900 120 300");
    assert_eq!(
        timeouts.trim(),
        "Timeout (tcp tcpfin udp): 901 121 301",
        "lvsd log:\n{log}"
    );
    assert!(
        !started.contains("sync daemon"),
        "lvsd started one: {started}\nlvsd log:\n{log}"
    );
    assert_eq!(log.matches("no sync daemon runs").count(), 1, "{log}");
    assert!(
        status.contains("sync daemon (run by VRRP): master mcast=veth-lb1 syncid=7"),
        "{status}"
    );
    let daemons = &dump["sync_daemons"];
    assert_eq!(daemons[0]["state"], "master", "{daemons}");
    assert_eq!(daemons[0]["mcast_ifn"], "veth-lb1", "{daemons}");
    assert!(
        stopped.contains("master sync daemon (mcast=veth-lb1, syncid=7"),
        "{stopped}\nlvsd log:\n{log}"
    );
}
