//! The end-to-end scenario of `tests/kernel_daemon.rs`, written once: each
//! step is an action on the backends, the table it must end with (as
//! `ipvsadm -Sn` prints it, compared as a set of lines) and the notify
//! script calls it must cause. The config is `tests/data/daemon/scenario.conf`.

/// Where the guest holds the scenario's config.
pub const SCENARIO: &str = "/etc/lvsd-test/scenario.conf";

/// The whole table of the scenario, every real server up.
pub const FULL: &str = "\
-A -t 10.10.0.1:80 -s rr
-a -t 10.10.0.1:80 -r 10.200.1.2:8081 -m -w 1
-a -t 10.10.0.1:80 -r 10.200.2.2:8081 -m -w 1
-a -t 10.10.0.1:80 -r 10.200.3.2:8081 -m -w 1
-A -t 10.10.0.2:80 -s wrr
-a -t 10.10.0.2:80 -r 10.200.1.2:8082 -m -w 1
-a -t 10.10.0.2:80 -r 10.200.2.2:8082 -m -w 2
-a -t 10.10.0.2:80 -r 10.200.3.2:8082 -m -w 3
";

/// What a step does to the backends.
#[derive(Debug)]
pub enum Action {
    Nothing,
    Kill(&'static [&'static str]),
    Revive(&'static [&'static str]),
}

/// One step of the scenario: an action, the table it must end with, and
/// the notify script calls it must cause (in any order).
pub struct Step {
    pub what: &'static str,
    pub action: Action,
    pub table: &'static str,
    pub notify: &'static [&'static str],
}

pub const STEPS: &[Step] = &[
    Step {
        what: "start, every backend healthy",
        action: Action::Nothing,
        table: FULL,
        // A virtual server starts without quorum; the first evaluation
        // gains it (keepalived 2.2.7 logs "Gained quorum" at start).
        notify: &["quorum_up A"],
    },
    Step {
        what: "A's rs1 dies: removed",
        action: Action::Kill(&["be-a1"]),
        table: "\
-A -t 10.10.0.1:80 -s rr
-a -t 10.10.0.1:80 -r 10.200.2.2:8081 -m -w 1
-a -t 10.10.0.1:80 -r 10.200.3.2:8081 -m -w 1
-A -t 10.10.0.2:80 -s wrr
-a -t 10.10.0.2:80 -r 10.200.1.2:8082 -m -w 1
-a -t 10.10.0.2:80 -r 10.200.2.2:8082 -m -w 2
-a -t 10.10.0.2:80 -r 10.200.3.2:8082 -m -w 3
",
        notify: &["down A 1"],
    },
    Step {
        what: "A's rs1 revives: re-added",
        action: Action::Revive(&["be-a1"]),
        table: FULL,
        notify: &["up A 1"],
    },
    Step {
        what: "B's rs1 dies: inhibit_on_failure keeps it at weight 0",
        action: Action::Kill(&["be-b1"]),
        table: "\
-A -t 10.10.0.1:80 -s rr
-a -t 10.10.0.1:80 -r 10.200.1.2:8081 -m -w 1
-a -t 10.10.0.1:80 -r 10.200.2.2:8081 -m -w 1
-a -t 10.10.0.1:80 -r 10.200.3.2:8081 -m -w 1
-A -t 10.10.0.2:80 -s wrr
-a -t 10.10.0.2:80 -r 10.200.1.2:8082 -m -w 0
-a -t 10.10.0.2:80 -r 10.200.2.2:8082 -m -w 2
-a -t 10.10.0.2:80 -r 10.200.3.2:8082 -m -w 3
",
        notify: &["down B 1"],
    },
    Step {
        what: "B's rs1 revives: weight 1 again",
        action: Action::Revive(&["be-b1"]),
        table: FULL,
        notify: &["up B 1"],
    },
    Step {
        what: "A's rs2 and rs3 die: quorum lost, the sorry server replaces rs1",
        action: Action::Kill(&["be-a2", "be-a3"]),
        table: "\
-A -t 10.10.0.1:80 -s rr
-a -t 10.10.0.1:80 -r 10.200.1.9:8080 -m -w 1
-A -t 10.10.0.2:80 -s wrr
-a -t 10.10.0.2:80 -r 10.200.1.2:8082 -m -w 1
-a -t 10.10.0.2:80 -r 10.200.2.2:8082 -m -w 2
-a -t 10.10.0.2:80 -r 10.200.3.2:8082 -m -w 3
",
        notify: &["down A 2", "down A 3", "quorum_down A"],
    },
    Step {
        what: "A's rs2 and rs3 revive: quorum regained, the sorry server leaves",
        action: Action::Revive(&["be-a2", "be-a3"]),
        table: FULL,
        notify: &["up A 2", "up A 3", "quorum_up A"],
    },
];
