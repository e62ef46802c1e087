//! lvsd end to end in a real kernel (one guest for the whole file, see
//! `tests/vm`): lvsd runs as a process in the guest, its backends are
//! `lvsd-backend` processes in network namespaces `rs1`..`rs3` behind veth
//! pairs, and `ipvsadm -Sn` (an independent reader) checks the table.
//!
//! - The scenario (`tests/data/daemon/scenario.conf`: 2 virtual servers x 3
//!   real servers) is written once, as steps with the table and the notify
//!   script calls each step must end with, and run by lvsd and by
//!   keepalived 2.2.7 (`keepalived -C`) in the same boot: both must pass.
//! - Restart, reload and drift: `kill -9` and restart changes nothing,
//!   SIGHUP writes only the difference, hand edits are undone, foreign
//!   services are left alone.
//! - Least privilege: in the scenario and the drift test lvsd runs as the
//!   packaged unit runs it, with exactly `packaging/lvsd.service`'s
//!   `CapabilityBoundingSet` and no new privileges (`setpriv`); without
//!   `CAP_NET_ADMIN` it fails at start, naming it; scripts run as another
//!   user need the unit's `CAP_SETUID` and `CAP_KILL`, and PING_CHECK its
//!   `CAP_NET_RAW`, shown by removing each.
//! - `net_namespace` (`kernel_daemon/net_namespace.rs`): the table and the
//!   probes in the namespace the config names, beside keepalived run there.
//!
//! Needs qemu and the cached kernel (`bash .ci/setup`); skips without them
//! unless `CI=true`.

use std::time::Duration;

use lvsd_vm::{Guest, GuestSpec, SharedGuest};

#[path = "kernel_daemon/net_namespace.rs"]
mod net_namespace;
#[path = "kernel_daemon/scenario.rs"]
mod scenario;
use scenario::{Action, FULL, STEPS};

static GUEST: SharedGuest = SharedGuest::new();

fn guest() -> Option<std::sync::MutexGuard<'static, Guest>> {
    let mut guest = GUEST.get(|| {
        lvsd_vm::with_lvsd!(GuestSpec::new("kernel_daemon").net_tools().keepalived())
            .tool("setpriv")
            .bytes(
                "/etc/lvsd-test/scenario.conf",
                include_str!("data/daemon/scenario.conf"),
                0o644,
            )
            .bytes(
                "/etc/lvsd-test/notify.sh",
                include_str!("data/daemon/notify.sh"),
                0o755,
            )
            .bytes(
                "/etc/lvsd-test/fifo-reader.sh",
                include_str!("data/daemon/fifo-reader.sh"),
                0o755,
            )
            .bytes(
                "/etc/lvsd-test/lib.sh",
                include_str!("data/daemon/lib.sh"),
                0o644,
            )
    })?;
    guest.run_ok(". /etc/lvsd-test/lib.sh; make_namespaces");
    Some(guest)
}

/// Where the scenario's notify scripts write, one line per call.
const NOTIFY_LOG: &str = "/tmp/lvsd-test-notify.log";
/// Where the scenario's `lvs_notify_fifo` reader writes what it read.
const FIFO_LOG: &str = "/tmp/lvsd-test-fifo.log";

/// The `lvs_notify_fifo` line keepalived 2.2.7 writes for a notify call of
/// the scenario (`down A 1`, `quorum_up A`), as watched in the guest.
fn fifo_line(call: &str) -> String {
    let words: Vec<&str> = call.split_whitespace().collect();
    let (vs, port) = if words[1] == "A" {
        ("[10.10.0.1]:tcp:80", 8081)
    } else {
        ("[10.10.0.2]:tcp:80", 8082)
    };
    match words[0] {
        "quorum_up" => format!("VS {vs} UP"),
        "quorum_down" => format!("VS {vs} DOWN"),
        state => format!(
            "RS [10.200.{}.2]:tcp:{port} {vs} {}",
            words[2],
            state.to_uppercase()
        ),
    }
}
const SCENARIO: &str = "/etc/lvsd-test/scenario.conf";

/// The program under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Program {
    Lvsd,
    Keepalived,
}

impl Program {
    fn command(self, conf: &str) -> String {
        match self {
            Program::Lvsd => as_the_unit(&format!(
                "lvsd -n -l -f {conf} --state-file /tmp/lvsd.json --drain-timeout 0"
            )),
            Program::Keepalived => format!("keepalived -C -n -l -f {conf}"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Program::Lvsd => "lvsd",
            Program::Keepalived => "keepalived",
        }
    }
}

/// The packaged unit's `CapabilityBoundingSet`, as capabilities(7) names them.
fn unit_capabilities() -> Vec<&'static str> {
    include_str!("../packaging/lvsd.service")
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("lvsd.service has a CapabilityBoundingSet")
        .split_whitespace()
        .collect()
}

/// `command` (an lvsd line) run as lvsd.service runs it: root, with the
/// unit's capabilities and no other, and no new privileges. `without`
/// names capabilities of the unit to leave out as well.
fn as_the_unit_without(command: &str, without: &[&str]) -> String {
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

fn as_the_unit(command: &str) -> String {
    as_the_unit_without(command, &[])
}

/// Asserts that NAME (an lvsd) runs with exactly the unit's capabilities.
fn assert_unit_capabilities(guest: &mut Guest, name: &str) {
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

/// Backend NAME is `be-<vs><n>`: virtual server `a` (port 8081) or `b`
/// (port 8082) in namespace `rs<n>`.
fn backend_command(name: &str) -> String {
    let (vs, n) = name
        .strip_prefix("be-")
        .and_then(|s| s.split_at_checked(1))
        .expect("backend name be-<vs><n>");
    let port = if vs == "a" { 8081 } else { 8082 };
    format!("ip netns exec rs{n} lvsd-backend 10.200.{n}.2:{port}")
}

const ALL_BACKENDS: [&str; 6] = ["be-a1", "be-a2", "be-a3", "be-b1", "be-b2", "be-b3"];

fn start_backends(guest: &mut Guest, names: &[&str]) {
    for name in names {
        guest.spawn(name, &backend_command(name)).unwrap();
    }
    let ready: Vec<String> = names
        .iter()
        .map(|n| format!("grep -q listening /run/bg/{n}.log"))
        .collect();
    guest
        .wait_for(&ready.join(" && "), Duration::from_secs(10))
        .unwrap();
}

fn stop_backends(guest: &mut Guest, names: &[&str]) {
    for name in names {
        guest.stop(name).unwrap();
    }
}

/// `ipvsadm -Sn` with its lines sorted: the kernel lists real servers in
/// the order they were added, which differs between two programs that
/// re-add servers at different moments; the set of lines is the table.
fn canonical(table: &str) -> String {
    let mut lines: Vec<&str> = table.lines().filter(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Waits until `ipvsadm -Sn` shows `expected` (as [`canonical`]) and
/// returns the table it last saw.
fn wait_table(guest: &mut Guest, expected: &str, timeout: Duration) -> String {
    guest
        .write_file("/tmp/expected-table", canonical(expected).as_bytes())
        .unwrap();
    let _ = guest.wait_for(
        "[ \"$(ipvsadm -Sn | sort)\" = \"$(cat /tmp/expected-table)\" ]",
        timeout,
    );
    canonical(&guest.run_ok("ipvsadm -Sn"))
}

/// Kills backend `name` (port `port` in namespace `rs<n>`) and watches the
/// table every 20 ms until its real server leaves or drops to weight 0;
/// returns (failed probes the backend's namespace answered with an RST,
/// seconds from the kill to the change).
fn kill_and_count(guest: &mut Guest, name: &str) -> (u64, f64) {
    let (n, port) = match name {
        "be-a1" => (1, 8081),
        "be-b1" => (1, 8082),
        _ => panic!("no probe count for {name}"),
    };
    let out = guest.run_ok(&format!(
        ". /etc/lvsd-test/lib.sh
        before=$(tcp_counter rs{n} OutRsts)
        t0=$(uptime_cs)
        kill $(cat /run/bg/{name}.pid)
        while ipvsadm -Sn | grep -q -- '-r 10.200.{n}.2:{port} -m -w [1-9]'; do
            [ $(( $(uptime_cs) - t0 )) -gt 2000 ] && break
            sleep 0.02
        done
        echo $(( $(tcp_counter rs{n} OutRsts) - before )) $(( $(uptime_cs) - t0 ))"
    ));
    let mut words = out.split_whitespace();
    let probes = words.next().and_then(|w| w.parse().ok()).expect(&out);
    let centis: u64 = words.next().and_then(|w| w.parse().ok()).expect(&out);
    (probes, centis as f64 / 100.0)
}

/// Runs the scenario with `program`; panics on the first step that ends
/// differently from the expected table or notify calls.
fn run_scenario(guest: &mut Guest, program: Program) {
    guest.run_ok(&format!(
        "ipvsadm -C; rm -f {NOTIFY_LOG} {FIFO_LOG}; touch {NOTIFY_LOG} {FIFO_LOG}"
    ));
    start_backends(guest, &ALL_BACKENDS);
    let opens = guest.run_ok(". /etc/lvsd-test/lib.sh; passive_opens_all");
    guest
        .spawn(program.name(), &program.command(SCENARIO))
        .unwrap();
    let mut failures = Vec::new();
    for (n, step) in STEPS.iter().enumerate() {
        guest.run_ok(&format!(": > {NOTIFY_LOG}; : > {FIFO_LOG}"));
        match step.action {
            Action::Nothing => {
                // Every backend probed at least once (both virtual servers'
                // ports in each namespace) before anything dies: a first
                // probe that fails downs a server without retries.
                guest
                    .wait_for(
                        &format!(". /etc/lvsd-test/lib.sh; probed_since '{}' 2", opens.trim()),
                        Duration::from_secs(15),
                    )
                    .unwrap();
            }
            Action::Kill(names) if names.len() == 1 => {
                let (probes, seconds) = kill_and_count(guest, names[0]);
                eprintln!(
                    "{}: {}: {probes} failed probes, {seconds:.2} s",
                    program.name(),
                    step.what
                );
                // keepalived's rule: retry (1) + 1 = 2 failed probes.
                if probes != 2 {
                    failures.push(format!(
                        "{}: {}: {probes} failed probes before the change, expected 2",
                        program.name(),
                        step.what
                    ));
                }
            }
            Action::Kill(names) => stop_backends(guest, names),
            Action::Revive(names) => start_backends(guest, names),
        }
        let table = wait_table(guest, step.table, Duration::from_secs(20));
        if n == 0 && program == Program::Lvsd {
            assert_unit_capabilities(guest, program.name());
        }
        if table != canonical(step.table) {
            failures.push(format!(
                "{}: {}: table\n{table}expected\n{}",
                program.name(),
                step.what,
                canonical(step.table)
            ));
            break;
        }
        let want = step.notify.len();
        let _ = guest.wait_for(
            &format!("[ $(wc -l < {NOTIFY_LOG}) -ge {want} ]"),
            Duration::from_secs(5),
        );
        let mut calls: Vec<String> = guest
            .run_ok(&format!("cat {NOTIFY_LOG}"))
            .lines()
            .map(str::to_string)
            .collect();
        calls.sort();
        let mut expected: Vec<String> = step.notify.iter().map(|s| s.to_string()).collect();
        expected.sort();
        if calls != expected {
            failures.push(format!(
                "{}: {}: notify calls {calls:?}, expected {expected:?}",
                program.name(),
                step.what
            ));
        }
        // The FIFO says the same, in keepalived's words; at start B gains
        // its quorum too (it has no quorum script).
        let mut expected: Vec<String> = step.notify.iter().map(|c| fifo_line(c)).collect();
        if n == 0 {
            expected.push("VS [10.10.0.2]:tcp:80 UP".into());
        }
        expected.sort();
        let _ = guest.wait_for(
            &format!("[ $(wc -l < {FIFO_LOG}) -ge {} ]", expected.len()),
            Duration::from_secs(5),
        );
        let mut lines: Vec<String> = guest
            .run_ok(&format!("cat {FIFO_LOG}"))
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        if lines != expected {
            failures.push(format!(
                "{}: {}: lvs_notify_fifo lines {lines:?}, expected {expected:?}",
                program.name(),
                step.what
            ));
        }
    }
    let log = guest.stop(program.name()).unwrap();
    stop_backends(guest, &ALL_BACKENDS);
    guest.run_ok("ipvsadm -C");
    assert!(
        failures.is_empty(),
        "{}\n{} log:\n{log}",
        failures.join("\n"),
        program.name()
    );
}

#[test]
fn scenario_under_lvsd() {
    let Some(mut guest) = guest() else { return };
    run_scenario(&mut guest, Program::Lvsd);
}

#[test]
fn scenario_under_keepalived() {
    let Some(mut guest) = guest() else { return };
    run_scenario(&mut guest, Program::Keepalived);
}

/// The scenario with `include FILE` as the last line of virtual server B,
/// so a reload can add a real server by changing FILE.
fn scenario_including(file: &str) -> String {
    let scenario = include_str!("data/daemon/scenario.conf").trim_end();
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

/// Waits until `pattern` (grep -E) matched at least `count` lines of NAME's log.
fn wait_log(guest: &mut Guest, name: &str, pattern: &str, count: usize) {
    let cond = format!(
        "[ $(grep -cE {} /run/bg/{name}.log) -ge {count} ]",
        lvsd_vm::shell_quote(pattern)
    );
    if let Err(e) = guest.wait_for(&cond, Duration::from_secs(20)) {
        let log = guest.log_of(name).unwrap_or_default();
        panic!("{e}\n{name} log:\n{log}");
    }
}

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

/// A service lvsd does not own, made before it starts.
const FOREIGN: &str = "\
-A -t 10.99.0.1:80 -s rr
-a -t 10.99.0.1:80 -r 10.200.3.2:9999 -m -w 5
";

/// Hand edits (`ipvsadm -d`, `ipvsadm -e`) of lvsd's services are undone
/// within the drift interval; a foreign service is left alone through
/// start, reload, drift repair and stop.
#[test]
fn drift_is_repaired_and_foreign_services_are_left_alone() {
    let Some(mut guest) = guest() else { return };
    let guest = &mut *guest;
    guest.run_ok(
        "ipvsadm -C
        ipvsadm -A -t 10.99.0.1:80 -s rr
        ipvsadm -a -t 10.99.0.1:80 -r 10.200.3.2:9999 -m -w 5",
    );
    start_backends(guest, &ALL_BACKENDS);
    guest
        .spawn(
            "lvsd",
            &as_the_unit(&format!(
                "lvsd -n -l -f {SCENARIO} --drift-interval 1 --state-file /tmp/lvsd-drift.json"
            )),
        )
        .unwrap();
    let both = format!("{FULL}{FOREIGN}");
    assert_eq!(
        wait_table(guest, &both, Duration::from_secs(20)),
        canonical(&both)
    );
    assert_unit_capabilities(guest, "lvsd");

    // Remove one real server and change another's weight by hand; time
    // until the table is whole again (every 20 ms in the guest).
    let out = guest.run_ok(
        ". /etc/lvsd-test/lib.sh
        sort_table() { ipvsadm -Sn | sort; }
        want=$(sort_table)
        t0=$(uptime_cs)
        ipvsadm -d -t 10.10.0.1:80 -r 10.200.2.2:8081
        ipvsadm -e -t 10.10.0.2:80 -r 10.200.3.2:8082 -m -w 7
        while [ \"$(sort_table)\" != \"$want\" ]; do
            [ $(( $(uptime_cs) - t0 )) -gt 1000 ] && break
            sleep 0.02
        done
        echo $(( $(uptime_cs) - t0 ))",
    );
    let seconds = out.trim().parse::<f64>().unwrap() / 100.0;
    eprintln!("drift repaired in {seconds:.2} s (interval 1 s)");
    assert_eq!(canonical(&guest.run_ok("ipvsadm -Sn")), canonical(&both));
    // The interval, plus the guest's slowness (TCG) as slack.
    assert!(seconds <= 2.5, "drift repaired after {seconds} s");
    wait_log(guest, "lvsd", "drift repaired", 1);

    guest.signal("lvsd", "HUP").unwrap();
    wait_log(guest, "lvsd", "reload complete", 1);
    assert_eq!(canonical(&guest.run_ok("ipvsadm -Sn")), canonical(&both));

    let log = guest.stop("lvsd").unwrap();
    stop_backends(guest, &ALL_BACKENDS);
    let after = guest.run_ok("ipvsadm -Sn");
    guest.run_ok("ipvsadm -C");
    assert_eq!(canonical(&after), canonical(FOREIGN), "lvsd log:\n{log}");
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
