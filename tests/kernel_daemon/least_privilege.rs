//! Least privilege: lvsd run as the packaged unit runs it, with exactly
//! `packaging/lvsd.service`'s `CapabilityBoundingSet` and no new
//! privileges (`setpriv`). The scenario and the drift test use
//! [`as_the_unit`]; the tests here take capabilities away one at a time
//! and show what each is for: without `CAP_NET_ADMIN` lvsd fails at start,
//! naming it; scripts run as another user need `CAP_SETUID` and `CAP_KILL`,
//! and PING_CHECK needs `CAP_NET_RAW`.

use std::time::Duration;

use lvsd_vm::Guest;

use super::guest;
use super::scenario::SCENARIO;
use super::watch::wait_log;

/// The packaged unit's `CapabilityBoundingSet`, as capabilities(7) names them.
fn unit_capabilities() -> Vec<&'static str> {
    include_str!("../../packaging/lvsd.service")
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("lvsd.service has a CapabilityBoundingSet")
        .split_whitespace()
        .collect()
}

/// `command` (an lvsd line) run as lvsd.service runs it: root, with the
/// unit's capabilities and no other, and no new privileges. `without`
/// names capabilities of the unit to leave out as well.
pub fn as_the_unit_without(command: &str, without: &[&str]) -> String {
    let caps: Vec<String> = unit_capabilities()
        .into_iter()
        .filter(|c| !without.contains(c))
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_ascii_lowercase()))
        .collect();
    format!(
        "/usr/bin/setpriv --no-new-privs --inh-caps=-all --bounding-set=-all,{} {command}",
        caps.join(",")
    )
}

pub fn as_the_unit(command: &str) -> String {
    as_the_unit_without(command, &[])
}

/// Asserts that NAME (an lvsd) runs with exactly the unit's capabilities.
pub fn assert_unit_capabilities(guest: &mut Guest, name: &str) {
    let status = guest.run_ok(&format!("cat /proc/$(cat /run/bg/{name}.pid)/status"));
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no CapEff in\n{status}"));
    let mut want = unit_capabilities();
    want.sort_unstable();
    let mut got: Vec<String> = lvsd::capability::names(effective)
        .split(' ')
        .map(str::to_string)
        .collect();
    got.sort_unstable();
    assert_eq!(got, want, "{name}'s effective capabilities");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
}

/// With the unit's capabilities but `CAP_NET_ADMIN`, lvsd stops at start
/// with a message naming the capability and how to grant it, and leaves
/// the table as it found it.
#[test]
fn without_cap_net_admin_lvsd_fails_at_start_naming_it() {
    let Some(mut guest) = guest() else { return };
    let guest = &mut *guest;
    guest.run_ok("ipvsadm -C; ipvsadm -A -t 10.99.0.1:80 -s rr");
    let command = as_the_unit_without(
        &format!("lvsd -n -l -f {SCENARIO} --state-file /tmp/lvsd-nocap.json"),
        &["CAP_NET_ADMIN"],
    );
    let out = guest.run(&format!("timeout 20 {command}")).unwrap();
    let table = guest.run_ok("ipvsadm -Sn");
    guest.run_ok("ipvsadm -C");
    eprintln!("{out}");
    assert_eq!(out.status, 1, "{out}");
    assert!(
        out.stderr
            .contains("lvsd lacks CAP_NET_ADMIN, which every IPVS request needs"),
        "{out}"
    );
    assert!(
        out.stderr.contains("CapabilityBoundingSet=CAP_NET_ADMIN"),
        "{out}"
    );
    assert_eq!(table, "-A -t 10.99.0.1:80 -s rr\n");
}

/// MISC_CHECKs run as `user nobody`: one writes its uid, one outlives its
/// `misc_timeout` and must be killed. And a PING_CHECK: the guest's
/// `net.ipv4.ping_group_range` is the kernel's default (nobody may use
/// ping sockets), so it needs a raw socket.
const SCRIPTS_CONF: &str = "virtual_server 10.10.0.6 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.200.1.2 8081 {
        MISC_CHECK {
            misc_path /tmp/scripts/whoami.sh
            user nobody
        }
    }
    real_server 10.200.2.2 8081 {
        MISC_CHECK {
            misc_path /tmp/scripts/linger.sh
            misc_timeout 1
            user nobody
        }
    }
    real_server 10.200.3.2 8081 {
        PING_CHECK {
            connect_timeout 1
        }
    }
}
";

/// How many `sleep` processes run as nobody (the lingering scripts).
fn nobodys_sleeps(guest: &mut Guest) -> usize {
    guest
        .run_ok(
            "for p in /proc/[0-9]*; do
                grep -qE '^Uid:\\s+65534' $p/status 2>/dev/null && cat $p/comm 2>/dev/null
            done | grep -c '^sleep$' || true",
        )
        .trim()
        .parse()
        .unwrap()
}

/// Scripts run as another user need the unit's CAP_SETUID/CAP_SETGID (to
/// switch) and CAP_KILL (to stop one past its timeout), and PING_CHECK its
/// CAP_NET_RAW: with the unit's set all work; without CAP_KILL timed-out
/// scripts pile up; without CAP_SETUID or CAP_NET_RAW the checks fail with
/// a message naming the capability.
#[test]
fn scripts_and_ping_need_exactly_the_units_setuid_setgid_kill_and_net_raw() {
    let Some(mut guest) = guest() else { return };
    let guest = &mut *guest;
    guest.run_ok(
        "ipvsadm -C; chmod 1777 /tmp; mkdir -p /tmp/scripts; rm -f /tmp/misc-uid
        grep -q '^nobody:' /etc/passwd 2>/dev/null ||
            echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >> /etc/passwd
        grep -q '^nogroup:' /etc/group 2>/dev/null || echo 'nogroup:x:65534:' >> /etc/group
        printf '#!/bin/sh\\nid -u > /tmp/misc-uid\\n' > /tmp/scripts/whoami.sh
        printf '#!/bin/sh\\nexec sleep 30\\n' > /tmp/scripts/linger.sh
        chmod 755 /tmp/scripts /tmp/scripts/*.sh",
    );
    guest
        .write_file("/tmp/scripts/lvsd.conf", SCRIPTS_CONF.as_bytes())
        .unwrap();
    let lvsd = |without: &[&str]| {
        as_the_unit_without(
            "lvsd -n -l -f /tmp/scripts/lvsd.conf --state-file /tmp/lvsd-scripts.json",
            without,
        )
    };

    // The unit's set: the script ran as nobody, and each timed-out one was
    // killed (at most the current one runs).
    guest.spawn("lvsd", &lvsd(&[])).unwrap();
    guest
        .wait_for("[ -s /tmp/misc-uid ]", Duration::from_secs(10))
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let uid = guest.run_ok("cat /tmp/misc-uid");
    let sleeps = nobodys_sleeps(guest);
    let table = guest.run_ok("ipvsadm -Sn");
    let log = guest.stop("lvsd").unwrap();
    assert_eq!(uid.trim(), "65534", "lvsd log:\n{log}");
    assert!(sleeps <= 1, "{sleeps} timed-out scripts still run\n{log}");
    assert!(
        table.contains("-r 10.200.3.2:8081") && !log.contains("ICMP"),
        "PING_CHECK failed under the unit's capabilities:\n{table}{log}"
    );
    guest.run_ok("pkill -9 -x sleep || true; ipvsadm -C");

    // Without CAP_KILL, lvsd cannot stop them.
    guest.spawn("lvsd", &lvsd(&["CAP_KILL"])).unwrap();
    wait_log(guest, "lvsd", "lvsd started", 1);
    std::thread::sleep(Duration::from_secs(5));
    let sleeps = nobodys_sleeps(guest);
    let log = guest.stop("lvsd").unwrap();
    guest.run_ok("pkill -9 -x sleep || true; ipvsadm -C");
    assert!(
        sleeps >= 2,
        "{sleeps} lingering scripts without CAP_KILL\n{log}"
    );

    // Without CAP_SETUID and CAP_NET_RAW, the checks fail and say why.
    guest
        .spawn("lvsd", &lvsd(&["CAP_SETUID", "CAP_NET_RAW"]))
        .unwrap();
    wait_log(guest, "lvsd", "lacks CAP_SETUID", 1);
    wait_log(guest, "lvsd", "lacks CAP_NET_RAW", 1);
    guest.stop("lvsd").unwrap();
    guest.run_ok("ipvsadm -C");
}
