//! Restart and reload write only what changed: a `kill -9` and restart
//! leaves the table as it was, SIGHUP with the same config writes nothing,
//! a second lvsd refuses to start, a broken include is refused and logged,
//! and one added real server costs one write (counted by the state dump's
//! `writes_total`).

use std::time::Duration;

use lvsd_vm::Guest;

use super::backends::{start_backends, stop_backends, ALL_BACKENDS};
use super::guest;
use super::scenario::FULL;
use super::watch::{canonical, wait_log, wait_table};

/// The scenario with `include FILE` as the last line of virtual server B,
/// so a reload can add a real server by changing FILE.
fn scenario_including(file: &str) -> String {
    let scenario = include_str!("../data/daemon/scenario.conf").trim_end();
    let body = scenario
        .strip_suffix('}')
        .expect("scenario ends with B's `}`");
    format!("{body}    include {file}\n}}\n")
}

/// An extra real server of B in namespace rs2 (`be-x` serves it).
const EXTRA_RS: &str = "real_server 10.200.2.9 8082 {
    weight 1
    TCP_CHECK {
        connect_timeout 1
        retry 1
        delay_before_retry 1
    }
}
";

/// `writes_total` from a fresh SIGUSR1 state dump of NAME (state file `state`).
fn writes_total(guest: &mut Guest, name: &str, state: &str) -> u64 {
    guest.run_ok(&format!("rm -f {state}"));
    guest.signal(name, "USR1").unwrap();
    guest
        .wait_for(&format!("[ -s {state} ]"), Duration::from_secs(10))
        .unwrap();
    let text = guest.run_ok(&format!("cat {state}"));
    let dump: serde_json::Value = serde_json::from_str(&text).expect("state dump is JSON");
    dump["writes_total"]
        .as_u64()
        .expect("writes_total in the dump")
}

/// Lines of NAME's log matching `pattern` (grep -E).
fn log_lines(guest: &mut Guest, name: &str, pattern: &str) -> Vec<String> {
    guest
        .run_ok(&format!(
            "grep -E {} /run/bg/{name}.log || true",
            lvsd_vm::shell_quote(pattern)
        ))
        .lines()
        .map(str::to_string)
        .collect()
}

/// `kill -9` and restart (with the ExecStart line of Debian's
/// keepalived.service) with healthy backends: a poller reading
/// `ipvsadm -Sn` every 50 ms sees one table throughout. Then SIGHUP with
/// the same config writes nothing, a second lvsd refuses to start, a broken
/// include changes nothing and is logged, and one added real server costs
/// exactly one write.
#[test]
fn restart_and_reload_write_only_what_changed() {
    let Some(mut guest) = guest() else { return };
    let guest = &mut *guest;
    let state = "/tmp/lvsd-reload.json";
    guest.run_ok("ipvsadm -C; mkdir -p /tmp/reload; : > /tmp/reload/b-extra.conf");
    guest
        .write_file(
            "/tmp/reload/main.conf",
            scenario_including("/tmp/reload/b-extra.conf").as_bytes(),
        )
        .unwrap();
    start_backends(guest, &ALL_BACKENDS);
    guest
        .spawn("be-x", "ip netns exec rs2 lvsd-backend 10.200.2.9:8082")
        .unwrap();
    let lvsd =
        |name: &str| format!("lvsd -n -l -f /tmp/reload/main.conf --state-file {state} # {name}");
    guest.spawn("lvsd-first", &lvsd("first")).unwrap();
    assert_eq!(
        wait_table(guest, FULL, Duration::from_secs(20)),
        canonical(FULL)
    );
    // Every probe has run (and passed) at least once: nothing more to write.
    std::thread::sleep(Duration::from_secs(2));

    guest
        .spawn(
            "poller",
            "bash -c 'while :; do ipvsadm -Sn | md5sum; sleep 0.05; done'",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    guest.signal("lvsd-first", "KILL").unwrap();
    guest
        .wait_for(
            "! kill -0 $(cat /run/bg/lvsd-first.pid) 2>/dev/null",
            Duration::from_secs(5),
        )
        .unwrap();
    // Restarted as Debian's keepalived.service starts keepalived, with
    // lvsd for keepalived and the options in /etc/default/keepalived.
    guest
        .write_file(
            "/etc/default/keepalived",
            format!("DAEMON_ARGS=\"-l -f /tmp/reload/main.conf --state-file {state}\"\n")
                .as_bytes(),
        )
        .unwrap();
    guest
        .spawn(
            "lvsd",
            "sh -c '. /etc/default/keepalived; exec lvsd --dont-fork $DAEMON_ARGS'",
        )
        .unwrap();
    wait_log(guest, "lvsd", "lvsd started", 1);
    // Several probe rounds of the restarted lvsd.
    std::thread::sleep(Duration::from_secs(3));
    guest.stop("poller").unwrap();
    let polls = guest.run_ok("wc -l < /run/bg/poller.log; sort -u /run/bg/poller.log | wc -l");
    let counts: Vec<usize> = polls
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    let started = log_lines(guest, "lvsd", "lvsd started");
    assert!(counts[0] >= 20, "the poller polled: {polls}");
    assert_eq!(
        counts[1], 1,
        "the table changed during the restart; {started:?}"
    );
    assert!(started[0].contains("changes=0"), "{started:?}");
    assert_eq!(writes_total(guest, "lvsd", state), 0);

    // SIGHUP, same config: zero writes.
    guest.signal("lvsd", "HUP").unwrap();
    wait_log(guest, "lvsd", "reload complete", 1);
    let reloads = log_lines(guest, "lvsd", "reload complete");
    assert!(reloads[0].contains("changes=0"), "{reloads:?}");
    assert_eq!(writes_total(guest, "lvsd", state), 0);

    // A second lvsd on the same table refuses at once, naming the first,
    // and writes nothing.
    let second = guest
        .run("lvsd -n -l -f /tmp/reload/main.conf --state-file /tmp/second.json")
        .unwrap();
    let first = guest.run_ok("cat /run/bg/lvsd.pid");
    assert_eq!(second.status, 1, "{second}");
    assert!(
        second
            .stderr
            .contains(&format!("another lvsd (pid {}) already runs", first.trim())),
        "{second}"
    );
    assert_eq!(canonical(&guest.run_ok("ipvsadm -Sn")), canonical(FULL));
    assert_eq!(writes_total(guest, "lvsd", state), 0);

    // A broken include: the running config stays, the error is logged.
    guest
        .write_file(
            "/tmp/reload/b-extra.conf",
            b"real_server 10.200.2.9 8082 {\n    weight x\n}\n",
        )
        .unwrap();
    guest.signal("lvsd", "HUP").unwrap();
    wait_log(guest, "lvsd", "reload refused", 1);
    let refused = guest.log_of("lvsd").unwrap();
    assert!(
        refused.contains("/tmp/reload/b-extra.conf:2"),
        "the error names the include: {refused}"
    );
    assert_eq!(canonical(&guest.run_ok("ipvsadm -Sn")), canonical(FULL));
    assert_eq!(writes_total(guest, "lvsd", state), 0);

    // One real server more: one write.
    guest
        .write_file("/tmp/reload/b-extra.conf", EXTRA_RS.as_bytes())
        .unwrap();
    guest.signal("lvsd", "HUP").unwrap();
    wait_log(guest, "lvsd", "reload complete", 2);
    let with_extra = format!("{FULL}-a -t 10.10.0.2:80 -r 10.200.2.9:8082 -m -w 1\n");
    assert_eq!(
        wait_table(guest, &with_extra, Duration::from_secs(5)),
        canonical(&with_extra)
    );
    let reloads = log_lines(guest, "lvsd", "reload complete");
    assert!(reloads[1].contains("changes=1"), "{reloads:?}");
    // Its probes pass: still one write a few rounds later.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(writes_total(guest, "lvsd", state), 1);

    guest.stop("lvsd").unwrap();
    stop_backends(guest, &ALL_BACKENDS);
    stop_backends(guest, &["be-x"]);
    assert_eq!(
        guest.run_ok("ipvsadm -Sn"),
        "",
        "lvsd removed its services at stop"
    );
}
