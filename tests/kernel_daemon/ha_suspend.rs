//! `ha_suspend`: probes run only while the virtual address is local, and
//! lvsd hears the address come and go from the kernel.

use std::time::Duration;

use lvsd_vm::Guest;

use super::guest;
use super::watch::wait_log;

/// `ha_suspend`: no probe while the virtual address is not local; probes
/// start once it is, and stop when it goes. lvsd hears the address come
/// and go from the kernel (rtnetlink), so it reacts in well under the
/// 600 ms bound (see the assertion).
#[test]
fn ha_suspend_probes_only_while_the_address_is_local() {
    let Some(mut guest) = guest() else { return };
    let guest = &mut *guest;
    guest
        .write_file(
            "/tmp/ha.conf",
            b"virtual_server 10.10.0.5 80 {
    delay_loop 1
    ha_suspend
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.200.3.2 8083 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
",
        )
        .unwrap();
    guest.run_ok("ipvsadm -C; ip addr del 10.10.0.5/32 dev lo 2>/dev/null || true");
    guest
        .spawn("be-h", "ip netns exec rs3 lvsd-backend 10.200.3.2:8083")
        .unwrap();
    guest
        .wait_for(
            "grep -q listening /run/bg/be-h.log",
            Duration::from_secs(10),
        )
        .unwrap();
    let opens = |guest: &mut Guest| -> u64 {
        guest
            .run_ok(". /etc/lvsd-test/lib.sh; tcp_counter rs3 PassiveOpens")
            .trim()
            .parse()
            .unwrap()
    };
    let before = opens(guest);
    guest
        .spawn(
            "lvsd",
            "lvsd -n -l -f /tmp/ha.conf --state-file /tmp/lvsd-ha.json",
        )
        .unwrap();
    wait_log(guest, "lvsd", "lvsd started", 1);
    std::thread::sleep(Duration::from_secs(3));
    let suspended = opens(guest);
    let table = guest.run_ok("ipvsadm -Sn");

    // ms from the address change until lvsd's log says COUNT lines of
    // PATTERN (the log is read every 10 ms).
    let reaction = |guest: &mut Guest, change: &str, pattern: &str, count: u32| -> u64 {
        // /proc/uptime in centiseconds, read by the shell itself (no fork:
        // busybox's date has no %N, and each fork costs TCG tens of ms).
        let script = format!(
            "read u _ < /proc/uptime; t0=${{u%.*}}${{u#*.}}; {change}; \
             while [ $(grep -c '{pattern}' /run/bg/lvsd.log) -lt {count} ]; do \
               read u _ < /proc/uptime; [ $(( ${{u%.*}}${{u#*.}} - t0 )) -gt 500 ] && break; \
             done; read u _ < /proc/uptime; echo $(( (${{u%.*}}${{u#*.}} - t0) * 10 ))"
        );
        guest.run_ok(&script).trim().parse().unwrap()
    };
    let resumed_after = reaction(
        guest,
        "ip addr add 10.10.0.5/32 dev lo",
        "probes resumed",
        1,
    );
    wait_log(guest, "lvsd", "probes resumed", 1);
    let probed = guest.wait_for(
        &format!(". /etc/lvsd-test/lib.sh; [ $(tcp_counter rs3 PassiveOpens) -gt {suspended} ]"),
        Duration::from_secs(5),
    );

    let suspended_after = reaction(
        guest,
        "ip addr del 10.10.0.5/32 dev lo",
        "probes suspended",
        2,
    );
    wait_log(guest, "lvsd", "probes suspended", 2);
    let at_suspension = opens(guest);
    std::thread::sleep(Duration::from_millis(2500));
    let later = opens(guest);
    // Two more comings and goings, timed like the first.
    let mut reactions = vec![resumed_after, suspended_after];
    for cycle in 0..2 {
        let add = "ip addr add 10.10.0.5/32 dev lo";
        reactions.push(reaction(guest, add, "probes resumed", 2 + cycle));
        let del = "ip addr del 10.10.0.5/32 dev lo";
        reactions.push(reaction(guest, del, "probes suspended", 3 + cycle));
    }

    let log = guest.stop("lvsd").unwrap();
    guest.stop("be-h").unwrap();
    guest.run_ok("ipvsadm -C");
    assert_eq!(suspended, before, "probes ran while suspended\n{log}");
    // Reading the addresses every second would react within 600 ms to
    // fewer than three of four changes 7 times in 8.
    eprintln!("ha_suspend: reactions to the address coming and going (ms): {reactions:?}");
    let quick = reactions.iter().filter(|&&ms| ms < 600).count();
    assert!(
        quick >= reactions.len() - 1,
        "ha_suspend reacted {reactions:?} ms after the address changed (want all but one under 600)\n{log}"
    );
    assert!(table.contains("-r 10.200.3.2:8083"), "{table}");
    probed.unwrap_or_else(|e| panic!("no probe after the address came: {e}\n{log}"));
    // A probe in flight when the address went may still land.
    assert!(
        later - at_suspension <= 1,
        "probes ran after suspension\n{log}"
    );
}
