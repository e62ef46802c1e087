//! The scenario of [`super::scenario`] run step by step, by lvsd (as the
//! packaged unit runs it) and by keepalived 2.2.7 (`keepalived -C`) in the
//! same boot: both must end each step with its table, its notify script
//! calls and the `lvs_notify_fifo` lines keepalived writes for them.

use std::time::Duration;

use lvsd_vm::Guest;

use super::backends::{start_backends, stop_backends, ALL_BACKENDS};
use super::guest;
use super::least_privilege::{as_the_unit, assert_unit_capabilities};
use super::scenario::{Action, SCENARIO, STEPS};
use super::watch::{canonical, wait_table};

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
