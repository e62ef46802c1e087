//! The reconciler's behaviour, against an in-memory table.

use super::*;
use crate::checker::{ProbeSpec, WeightAsk};
use crate::config::{
    Check, CheckCommon, FlushOnStop, Location, RealServer, SorryServer, TcpCheck, VirtualServer,
};
use crate::ipvs::{ForwardMethod, IpvsError, IpvsTable, MemoryTable};

fn check(addr: &str, port: u16, alpha: bool) -> Check {
    Check::Tcp(TcpCheck {
        common: CheckCommon {
            alpha,
            ..CheckCommon::new(addr.parse().unwrap(), port)
        },
    })
}

pub(super) fn rs(addr: &str, port: u16, weight: i32, alpha: bool) -> RealServer {
    RealServer {
        location: Location::default(),
        addr: addr.parse().unwrap(),
        port,
        weight,
        method: ForwardMethod::Masq,
        tunnel: None,
        inhibit_on_failure: false,
        u_threshold: 0,
        l_threshold: 0,
        notify_up: None,
        notify_down: None,
        smtp_alert: None,
        checks: std::sync::Arc::new(check(addr, port, alpha)).into(),
    }
}

pub(super) fn vs(addr: &str, port: u16, real_servers: Vec<RealServer>) -> VirtualServer {
    VirtualServer {
        protocol: Protocol::Tcp,
        real_servers,
        ..VirtualServer::new(
            Location::default(),
            VsAddress::Addr {
                addr: addr.parse().unwrap(),
                port,
            },
        )
    }
}

fn script(cmd: &str) -> Option<Script> {
    Some(Script {
        command: cmd.into(),
        location: Location::default(),
    })
}

pub(super) fn config(vss: Vec<VirtualServer>) -> Config {
    Config {
        virtual_servers: vss,
        ..Config::default()
    }
}

pub(super) fn two_by_three() -> Config {
    config(vec![
        vs(
            "10.0.0.1",
            80,
            vec![
                rs("192.0.2.1", 80, 1, false),
                rs("192.0.2.2", 80, 2, false),
                rs("192.0.2.3", 80, 3, false),
            ],
        ),
        vs(
            "10.0.0.2",
            443,
            vec![
                rs("192.0.2.1", 443, 1, false),
                rs("192.0.2.2", 443, 1, false),
                rs("192.0.2.3", 443, 1, false),
            ],
        ),
    ])
}

/// Plan, apply to `table`, record: one reconcile round. Returns the ops.
pub(super) fn round(r: &mut Reconciler, table: &mut MemoryTable) -> Plan {
    let plan = r.plan();
    let results = table.apply(plan.ops());
    assert!(
        r.record_outcome(plan.changes.clone(), &results).is_empty(),
        "{results:?}"
    );
    plan
}

pub(super) fn spec(addr: &str, port: u16) -> ProbeSpec {
    ProbeSpec::new(&check(addr, port, false))
}

pub(super) fn weights(table: &mut MemoryTable) -> Vec<(String, String, i32)> {
    table
        .dump()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s.dests.iter().map(|d| {
                (
                    s.service.key.to_string(),
                    d.dest.key.to_string(),
                    d.dest.weight,
                )
            })
        })
        .collect()
}

#[test]
fn healthy_config_builds_the_table_then_rests() {
    let mut r = Reconciler::new(two_by_three());
    let mut t = MemoryTable::new();
    let plan = round(&mut r, &mut t);
    assert_eq!(plan.ops().len(), 2 + 6);
    assert_eq!(weights(&mut t).len(), 6);
    assert!(r.plan().ops().is_empty());
}

#[test]
fn a_refused_addition_in_the_middle_of_a_new_service_is_tried_again() {
    let mut r = Reconciler::new(two_by_three());
    let mut t = MemoryTable::new();
    let plan = r.plan();
    // The kernel refuses the second real server of the first service.
    let refused = plan
        .ops()
        .iter()
        .position(|op| matches!(op, TableOp::AddDest(..)))
        .map(|first| first + 1)
        .unwrap();
    let mut results = Vec::new();
    for (i, op) in plan.ops().iter().enumerate() {
        results.push(if i == refused {
            Err(IpvsError::Errno(22))
        } else {
            t.apply_one(op)
        });
    }
    let refused_op = plan.ops()[refused].clone();
    let failures = r.record_outcome(plan.changes, &results);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, refused_op);
    // The cache holds what the kernel holds, so the next plan is exactly
    // the refused change.
    assert_eq!(r.plan().ops(), [refused_op]);
}

#[test]
fn failed_server_is_removed_or_inhibited() {
    let mut cfg = two_by_three();
    cfg.virtual_servers[1].real_servers[1].inhibit_on_failure = true;
    let mut r = Reconciler::new(cfg);
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    assert!(r.set_health(&spec("192.0.2.2", 80), false));
    assert!(r.set_health(&spec("192.0.2.2", 443), false));
    let plan = round(&mut r, &mut t);
    assert_eq!(plan.ops().len(), 2);
    let w = weights(&mut t);
    assert!(!w
        .iter()
        .any(|(s, d, _)| s == "TCP 10.0.0.1:80" && d == "192.0.2.2:80"));
    assert!(w.contains(&("TCP 10.0.0.2:443".into(), "192.0.2.2:443".into(), 0)));
    // Back up: re-added at its weight.
    r.set_health(&spec("192.0.2.2", 80), true);
    r.set_health(&spec("192.0.2.2", 443), true);
    round(&mut r, &mut t);
    let w = weights(&mut t);
    assert!(w.contains(&("TCP 10.0.0.1:80".into(), "192.0.2.2:80".into(), 2)));
    assert!(w.contains(&("TCP 10.0.0.2:443".into(), "192.0.2.2:443".into(), 1)));
}

#[test]
fn lost_quorum_brings_the_sorry_server_and_its_script() {
    let mut cfg = two_by_three();
    let v = &mut cfg.virtual_servers[0];
    v.quorum = 4;
    v.quorum_down = script("/bin/down");
    v.quorum_up = script("/bin/up");
    v.sorry_server = Some(SorryServer {
        addr: "192.0.2.99".parse().unwrap(),
        port: 80,
        inhibit: false,
        method: ForwardMethod::Route,
    });
    let mut r = Reconciler::new(cfg);
    let mut t = MemoryTable::new();
    // A virtual server starts without quorum: the first plan gains it.
    let plan = round(&mut r, &mut t);
    assert_eq!(plan.scripts.len(), 1);
    assert_eq!(plan.scripts[0].event, "quorum_up");
    // 1 + 2 + 3 = 6 >= 4; losing the weight-3 server leaves 3 < 4.
    r.set_health(&spec("192.0.2.3", 80), false);
    let plan = round(&mut r, &mut t);
    assert_eq!(plan.scripts.len(), 1);
    assert_eq!(plan.scripts[0].event, "quorum_down");
    // The transitions, in order: the real server, then the quorum it took.
    assert_eq!(
        plan.transitions,
        vec![
            Transition::RealServer {
                vs: 0,
                rs: 2,
                up: false
            },
            Transition::VirtualServer {
                vs: 0,
                up: false,
                live_weight: 3,
                first: false
            },
        ]
    );
    let w: Vec<_> = weights(&mut t)
        .into_iter()
        .filter(|(s, _, _)| s == "TCP 10.0.0.1:80")
        .collect();
    assert_eq!(
        w,
        vec![("TCP 10.0.0.1:80".into(), "192.0.2.99:80".into(), 1)]
    );
    r.set_health(&spec("192.0.2.3", 80), true);
    let plan = round(&mut r, &mut t);
    assert_eq!(plan.scripts[0].event, "quorum_up");
    assert!(plan.transitions.contains(&Transition::VirtualServer {
        vs: 0,
        up: true,
        live_weight: 6,
        first: false
    }));
    let w: Vec<_> = weights(&mut t)
        .into_iter()
        .filter(|(s, _, _)| s == "TCP 10.0.0.1:80")
        .map(|(_, d, _)| d)
        .collect();
    assert_eq!(w, vec!["192.0.2.1:80", "192.0.2.2:80", "192.0.2.3:80"]);
}

#[test]
fn notify_scripts_follow_transitions_only() {
    let mut cfg = two_by_three();
    cfg.virtual_servers[0].real_servers[0].notify_up = script("/bin/up rs1").map(Box::new);
    cfg.virtual_servers[0].real_servers[0].notify_down = script("/bin/down rs1").map(Box::new);
    let mut r = Reconciler::new(cfg);
    let mut t = MemoryTable::new();
    assert!(
        round(&mut r, &mut t).scripts.is_empty(),
        "no script at start"
    );
    r.set_health(&spec("192.0.2.1", 80), false);
    let plan = round(&mut r, &mut t);
    assert_eq!(plan.scripts.len(), 1);
    assert_eq!(plan.scripts[0].script.command, "/bin/down rs1");
    assert_eq!(plan.scripts[0].subject, "10.0.0.1:tcp:80 rs=192.0.2.1:80");
    r.set_health(&spec("192.0.2.1", 80), true);
    assert_eq!(
        round(&mut r, &mut t).scripts[0].script.command,
        "/bin/up rs1"
    );
}

#[test]
fn one_probe_serves_every_virtual_server_that_lists_the_target() {
    let cfg = config(vec![
        vs("10.0.0.1", 80, vec![rs("192.0.2.1", 80, 1, false)]),
        vs("10.0.0.2", 80, vec![rs("192.0.2.1", 80, 1, false)]),
    ]);
    let mut r = Reconciler::new(cfg);
    assert_eq!(r.probes().len(), 1);
    assert_eq!(r.probe_fanout(), vec![2]);
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    r.set_health(&spec("192.0.2.1", 80), false);
    assert_eq!(round(&mut r, &mut t).ops().len(), 2);
    assert!(weights(&mut t).is_empty());
}

#[test]
fn probes_are_numbered_by_first_appearance_and_found_again() {
    // Targets A B A C B over three virtual servers, with many more
    // distinct ones after them (so that hash buckets are shared).
    let mut tail: Vec<RealServer> = (1..=200)
        .map(|i| rs(&format!("198.51.100.{i}"), 80, 1, false))
        .collect();
    tail.push(rs("192.0.2.1", 80, 1, false));
    let cfg = config(vec![
        vs(
            "10.0.0.1",
            80,
            vec![rs("192.0.2.1", 80, 1, false), rs("192.0.2.2", 80, 1, false)],
        ),
        vs(
            "10.0.0.2",
            80,
            vec![rs("192.0.2.1", 80, 1, false), rs("192.0.2.3", 80, 1, false)],
        ),
        vs("10.0.0.3", 80, vec![rs("192.0.2.2", 80, 1, false)]),
        vs("10.0.0.4", 80, tail),
    ]);
    let mut r = Reconciler::new(cfg);
    let specs: Vec<ProbeSpec> = r.probes().into_iter().map(|(s, _)| s).collect();
    assert_eq!(specs.len(), 203);
    assert_eq!(
        specs[..3],
        [
            spec("192.0.2.1", 80),
            spec("192.0.2.2", 80),
            spec("192.0.2.3", 80)
        ]
    );
    assert_eq!(specs[3], spec("198.51.100.1", 80));
    assert_eq!(r.probe_fanout()[..4], [3, 2, 1, 1]);
    for s in &specs {
        assert!(r.set_health(s, false), "{s:?} not found");
    }
    assert_eq!(r.probes_up(), 0);
    assert!(!r.set_health(&spec("192.0.2.9", 80), true));
}

#[test]
fn a_reload_carries_each_real_server_state_by_identity() {
    // 10.0.0.1:80 (192.0.2.1-3), 10.0.0.2:443 (192.0.2.1-3), and
    // 10.0.0.2:443 again (192.0.2.1): of one identity, the later is kept.
    let mut old = two_by_three();
    let mut again = old.virtual_servers[1].clone();
    again.real_servers.truncate(1);
    old.virtual_servers.push(again);
    let ups = vec![
        vec![Some(true), Some(false), None],
        vec![Some(true), Some(true), Some(false)],
        vec![Some(false)],
    ];
    let carried = carried_up::CarriedUp::new(&old, &ups);
    // Virtual servers swapped, real servers reversed, one new of each.
    let mut new = two_by_three();
    new.virtual_servers.reverse();
    for vs in &mut new.virtual_servers {
        vs.real_servers.reverse();
        vs.real_servers.push(rs("192.0.2.9", 80, 1, false));
    }
    new.virtual_servers
        .push(vs("10.0.0.3", 80, vec![rs("192.0.2.1", 80, 1, false)]));
    assert_eq!(
        carried.onto(&new),
        vec![
            vec![Some(false), Some(true), Some(false), None],
            vec![None, Some(false), Some(true), None],
            vec![None],
        ]
    );
    let nothing_known = carried_up::CarriedUp::new(&old, &[vec![None, None]]);
    assert_eq!(nothing_known.onto(&new)[1], vec![None; 4]);
}

#[test]
fn alpha_starts_down_unless_the_kernel_already_has_the_server() {
    let cfg = config(vec![vs(
        "10.0.0.1",
        80,
        vec![rs("192.0.2.1", 80, 1, true), rs("192.0.2.2", 80, 1, true)],
    )]);
    let mut r = Reconciler::new(cfg.clone());
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    assert!(
        weights(&mut t).is_empty(),
        "alpha: down until the first success"
    );
    assert!(r.set_health(&ProbeSpec::new(&check("192.0.2.1", 80, true)), true));
    round(&mut r, &mut t);
    assert_eq!(weights(&mut t).len(), 1);
    // A restart finds 192.0.2.1 present and adopts it: no change at all.
    let mut r2 = Reconciler::new(cfg);
    r2.adopt(&t.dump().unwrap());
    assert!(r2.plan().ops().is_empty());
    let up: Vec<bool> = r2.probes().iter().map(|(_, up)| *up).collect();
    assert_eq!(up, vec![true, false]);
}

#[test]
fn reload_applies_only_the_difference_and_keeps_health() {
    let mut r = Reconciler::new(two_by_three());
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    r.set_health(&spec("192.0.2.3", 443), false);
    round(&mut r, &mut t);
    let writes = t.writes();
    // Same config: nothing, and the failed server is not resurrected.
    assert!(
        !r.reload(two_by_three()).changed,
        "an identical config is no change"
    );
    assert!(round(&mut r, &mut t).ops().is_empty());
    assert_eq!(t.writes(), writes);
    // One real server more: one write.
    let mut cfg = two_by_three();
    cfg.virtual_servers[0]
        .real_servers
        .push(rs("192.0.2.4", 80, 1, false));
    let reloaded = r.reload(cfg.clone());
    assert!(reloaded.changed);
    assert_eq!(
        reloaded.spare,
        two_by_three(),
        "the replaced config comes back"
    );
    assert_eq!(round(&mut r, &mut t).ops().len(), 1);
    // A virtual server gone: its service goes, and only it.
    cfg.virtual_servers.remove(1);
    drop(r.reload(cfg));
    let plan = round(&mut r, &mut t);
    assert_eq!(
        plan.ops(),
        vec![TableOp::RemoveService(ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.2".parse().unwrap(),
            port: 443
        })]
    );
    assert!(!r
        .owned()
        .iter()
        .any(|k| k.to_string() == "TCP 10.0.0.2:443"));
}

#[test]
fn drift_is_repaired_and_foreign_services_are_left_alone() {
    let mut r = Reconciler::new(two_by_three());
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    let vs1 = ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: "10.0.0.1".parse().unwrap(),
        port: 80,
    };
    let foreign = crate::ipvs::Service {
        key: ServiceKey::Fwmark {
            family: crate::ipvs::Family::Inet,
            mark: 7,
        },
        scheduler: "rr".into(),
        flags: Default::default(),
        timeout: 0,
        netmask: 0xffff_ffff,
        pe_name: None,
    };
    let dest = desired::destination(&rs("192.0.2.2", 80, 2, false), 2);
    // By hand: a destination deleted, a weight changed, a foreign service added.
    t.apply_one(&TableOp::RemoveDest(vs1, dest.key)).unwrap();
    let mut heavier = desired::destination(&rs("192.0.2.1", 80, 1, false), 9);
    heavier.weight = 9;
    t.apply_one(&TableOp::UpdateDest(vs1, heavier)).unwrap();
    t.apply_one(&TableOp::AddService(foreign)).unwrap();
    let found = drift::find(&mut t, &r.drift_basis()).unwrap();
    assert_eq!(found.changed.len(), 1, "one service drifted: {found:?}");
    r.absorb_drift(found);
    let plan = round(&mut r, &mut t);
    assert_eq!(plan.ops().len(), 2);
    assert_eq!(weights(&mut t).len(), 6);
    assert_eq!(t.dump().unwrap().len(), 3, "the foreign service stays");
    assert_eq!(r.stop_changes(FlushOnStop::Own).len(), 2);
}

#[test]
fn omega_runs_down_scripts_of_live_servers_at_stop() {
    let mut cfg = two_by_three();
    let v = &mut cfg.virtual_servers[0];
    v.omega = true;
    v.quorum_down = script("/bin/qdown");
    v.real_servers[0].notify_down = script("/bin/down rs1").map(Box::new);
    v.real_servers[1].notify_down = script("/bin/down rs2").map(Box::new);
    let mut r = Reconciler::new(cfg);
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    r.set_health(&spec("192.0.2.2", 80), false);
    round(&mut r, &mut t);
    let lines: Vec<_> = r
        .omega_scripts()
        .into_iter()
        .map(|s| s.script.command)
        .collect();
    assert_eq!(lines, vec!["/bin/down rs1", "/bin/qdown"]);
}

#[test]
fn a_reordered_config_keeps_each_probe_health_by_identity() {
    let mut r = Reconciler::new(two_by_three());
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    assert!(r.set_health(&spec("192.0.2.3", 443), false));
    round(&mut r, &mut t);
    let before = weights(&mut t);
    // The same servers, listed in the other order: other positions, same probes.
    let mut cfg = two_by_three();
    cfg.virtual_servers.reverse();
    for vs in &mut cfg.virtual_servers {
        vs.real_servers.reverse();
    }
    assert!(r.reload(cfg).changed);
    assert!(round(&mut r, &mut t).ops().is_empty());
    assert_eq!(weights(&mut t), before);
    assert!(!r.set_health(&spec("192.0.2.3", 443), false), "still down");
    assert!(r.set_health(&spec("192.0.2.3", 443), true));
    assert!(
        !r.set_health(&spec("192.0.2.9", 443), true),
        "unknown probe"
    );
    assert_eq!(round(&mut r, &mut t).ops().len(), 1);
}

/// A plan that looks only at the marked virtual servers gives exactly the
/// operations and scripts of a whole plan, verdict after verdict: probes
/// shared between virtual servers, quorum with a sorry server, inhibit,
/// notify scripts. The whole plan is forced by a refresh from the table.
#[test]
fn planning_only_what_moved_equals_planning_everything() {
    let make = || {
        // 10.0.0.1:80 over 192.0.2.1..3 with weights 1, 2, 3.
        let mut shared = two_by_three().virtual_servers.remove(0);
        shared.quorum = 3;
        shared.sorry_server = Some(SorryServer {
            addr: "192.0.2.9".parse().unwrap(),
            port: 80,
            inhibit: false,
            method: ForwardMethod::Masq,
        });
        shared.quorum_down = script("/bin/qd");
        let mut other = vs(
            "10.0.0.2",
            80,
            vec![rs("192.0.2.1", 80, 1, false), rs("192.0.2.4", 80, 1, false)],
        );
        other.real_servers[1].inhibit_on_failure = true;
        other.real_servers[1].notify_down = script("/bin/down").map(Box::new);
        let alone = vs("10.0.0.3", 80, vec![rs("192.0.2.5", 80, 1, false)]);
        config(vec![shared, other, alone])
    };
    let (mut inc, mut whole) = (Reconciler::new(make()), Reconciler::new(make()));
    let (mut t_inc, mut t_whole) = (MemoryTable::new(), MemoryTable::new());
    round(&mut inc, &mut t_inc);
    round(&mut whole, &mut t_whole);
    let targets = [
        "192.0.2.1",
        "192.0.2.2",
        "192.0.2.3",
        "192.0.2.4",
        "192.0.2.5",
    ];
    let mut seed: u32 = 12345;
    for step in 0..300 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let target = targets[(seed >> 16) as usize % targets.len()];
        let up = (seed >> 8) % 3 != 0;
        inc.set_health(&spec(target, 80), up);
        whole.set_health(&spec(target, 80), up);
        whole.refresh(&t_whole.dump().unwrap());
        let (a, b) = (round(&mut inc, &mut t_inc), round(&mut whole, &mut t_whole));
        assert_eq!(a, b, "step {step}: {target} up={up}");
        assert_eq!(weights(&mut t_inc), weights(&mut t_whole), "step {step}");
    }
}

/// A drift check compares service by service and plans only what
/// drifted; a whole refresh plans everything. Through random hand edits
/// (destinations removed, added, reweighted; services removed, changed,
/// flushed; foreign services added) and health changes, both make the same
/// changes and leave the same table.
#[test]
fn drift_found_service_by_service_is_repaired_like_a_whole_refresh() {
    let make = || {
        let mut first = two_by_three().virtual_servers.remove(0);
        first.quorum = 3;
        first.sorry_server = Some(SorryServer {
            addr: "192.0.2.9".parse().unwrap(),
            port: 80,
            inhibit: false,
            method: ForwardMethod::Masq,
        });
        let mut second = vs(
            "10.0.0.2",
            80,
            vec![rs("192.0.2.1", 80, 1, false), rs("192.0.2.4", 80, 1, false)],
        );
        second.real_servers[1].inhibit_on_failure = true;
        config(vec![first, second, vs("10.0.0.3", 80, vec![])])
    };
    let (mut inc, mut whole) = (Reconciler::new(make()), Reconciler::new(make()));
    let (mut t_inc, mut t_whole) = (MemoryTable::new(), MemoryTable::new());
    round(&mut inc, &mut t_inc);
    round(&mut whole, &mut t_whole);
    let key = |last: u8| ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: format!("10.0.0.{last}").parse().unwrap(),
        port: 80,
    };
    let dest = |last: u8, weight: i32| {
        desired::destination(&rs(&format!("192.0.2.{last}"), 80, weight, false), weight)
    };
    let mut seed: u32 = 777;
    let mut edits = 0;
    for step in 0..300 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let service = key((seed >> 4) as u8 % 4 + 1);
        let last = (seed >> 8) as u8 % 5 + 1;
        let hand: Vec<TableOp> = match (seed >> 16) % 9 {
            0 => vec![TableOp::RemoveDest(service, dest(last, 1).key)],
            1 => vec![TableOp::UpdateDest(service, dest(last, 9))],
            2 => vec![TableOp::AddDest(service, dest(last, 1))],
            3 => vec![TableOp::RemoveService(service)],
            4 => {
                let mut s = desired::service(&make().virtual_servers[0], service);
                s.scheduler = "wlc".into();
                vec![TableOp::AddService(s.clone()), TableOp::UpdateService(s)]
            }
            5 => t_inc
                .dump()
                .unwrap()
                .iter()
                .map(|e| TableOp::RemoveService(e.service.key))
                .collect(),
            _ => {
                let target = format!("192.0.2.{last}");
                let up = (seed >> 12) % 3 != 0;
                inc.set_health(&spec(&target, 80), up);
                whole.set_health(&spec(&target, 80), up);
                vec![]
            }
        };
        for op in &hand {
            // Refused edits (a destination already there, say) are refused
            // by both tables alike.
            let (a, b) = (t_inc.apply_one(op), t_whole.apply_one(op));
            assert_eq!(a.is_ok(), b.is_ok());
            edits += usize::from(a.is_ok());
        }
        inc.absorb_drift(drift::find(&mut t_inc, &inc.drift_basis()).unwrap());
        whole.refresh(&t_whole.dump().unwrap());
        let (a, b) = (round(&mut inc, &mut t_inc), round(&mut whole, &mut t_whole));
        assert_eq!(a, b, "step {step}: {hand:?}");
        assert_eq!(
            t_inc.dump().unwrap(),
            t_whole.dump().unwrap(),
            "step {step}"
        );
        assert!(
            drift::find(&mut t_inc, &inc.drift_basis())
                .unwrap()
                .is_empty(),
            "step {step}: repaired"
        );
    }
    assert!(edits > 50, "{edits} hand edits took effect");
}

/// The first round completes once every probe has reported; a reload that
/// adds a probe waits for that one only.
#[test]
fn the_first_round_completes_when_every_probe_has_reported() {
    let mut r = Reconciler::new(two_by_three());
    assert_eq!(r.probe_count(), 6);
    for (i, addr) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"].iter().enumerate() {
        r.set_health(&spec(addr, 80), i != 1);
        assert!(!r.first_round_just_completed());
    }
    for addr in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        r.set_health(&spec(addr, 443), true);
    }
    assert!(r.first_round_just_completed());
    assert!(!r.first_round_just_completed());
    assert_eq!(r.probes_up(), 5);
    let mut bigger = two_by_three();
    bigger.virtual_servers[0]
        .real_servers
        .push(rs("192.0.2.4", 80, 1, false));
    drop(r.reload(bigger));
    r.set_health(&spec("192.0.2.1", 80), true);
    assert!(
        !r.first_round_just_completed(),
        "the new probe has not reported"
    );
    r.set_health(&spec("192.0.2.4", 80), true);
    assert!(r.first_round_just_completed());
}

#[test]
fn a_dynamic_checks_weight_goes_to_every_real_server_it_serves() {
    use crate::config::MiscCheck;
    let misc = Check::Misc(Box::new(MiscCheck {
        common: CheckCommon::new("192.0.2.9".parse().unwrap(), 80),
        path: "/usr/local/bin/load-check".into(),
        timeout: None,
        dynamic: true,
        user: None,
    }));
    let dynamic_rs = || RealServer {
        checks: std::sync::Arc::new(misc.clone()).into(),
        ..rs("192.0.2.9", 80, 5, false)
    };
    let cfg = |extra: bool| {
        let mut first = vec![dynamic_rs(), rs("192.0.2.2", 80, 2, false)];
        if extra {
            first.push(rs("192.0.2.3", 80, 1, false));
        }
        config(vec![
            vs("10.0.0.1", 80, first),
            vs("10.0.0.2", 80, vec![dynamic_rs()]),
        ])
    };
    let weight_of = |t: &mut MemoryTable, vip: &str| {
        weights(t)
            .into_iter()
            .find(|(s, d, _)| s.starts_with(vip) && d.starts_with("192.0.2.9"))
            .map(|(_, _, w)| w)
    };
    let mut r = Reconciler::new(cfg(false));
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    assert_eq!(weight_of(&mut t, "TCP 10.0.0.1"), Some(5));
    // One probe serves both virtual servers: both take its weight.
    let probe = ProbeSpec::new(&misc);
    assert!(r.set_weight(&probe, WeightAsk::Set(9)));
    let plan = round(&mut r, &mut t);
    assert_eq!(plan.ops().len(), 2, "{:?}", plan.ops());
    assert!(plan
        .ops()
        .iter()
        .all(|op| matches!(op, TableOp::UpdateDest(_, d) if d.weight == 9)));
    assert_eq!(weight_of(&mut t, "TCP 10.0.0.1"), Some(9));
    assert_eq!(weight_of(&mut t, "TCP 10.0.0.2"), Some(9));
    assert!(
        !r.set_weight(&probe, WeightAsk::Set(9)),
        "the same weight changes nothing"
    );
    assert!(r.plan().ops().is_empty());
    // A reload keeps the weight: the changed config adds one real server.
    r.reload(cfg(true));
    let plan = round(&mut r, &mut t);
    assert_eq!(plan.ops().len(), 1, "{:?}", plan.ops());
    assert_eq!(weight_of(&mut t, "TCP 10.0.0.2"), Some(9));
    // Weight 0 keeps the real server in the table, unused.
    assert!(r.set_weight(&probe, WeightAsk::Set(0)));
    round(&mut r, &mut t);
    assert_eq!(weight_of(&mut t, "TCP 10.0.0.1"), Some(0));
}

/// The same config read again after its lines moved is a new config: a
/// reload takes it (the state dump shows the new lines), yet every probe
/// is the one it was, so health carries over and nothing is written.
#[test]
fn a_reload_after_lines_moved_takes_the_new_lines_and_keeps_every_probe() {
    let text = "virtual_server 10.0.0.1 80 {
 lb_algo rr
 lb_kind NAT
 protocol TCP
 real_server 192.0.2.1 80 {
  TCP_CHECK {
   connect_timeout 1
  }
 }
 real_server 192.0.2.2 80 {
  TCP_CHECK {
   connect_timeout 1
  }
 }
}
";
    let load = |text: &str| {
        let path = std::path::Path::new("/etc/lvsd-test.conf");
        let opts = crate::config::LoadOptions::default();
        crate::config::load_bytes(path, text.as_bytes().to_vec(), &opts)
            .unwrap()
            .config
    };
    let check_line = |config: &Config| {
        let rs = &config.virtual_servers[0].real_servers[1];
        (rs.location.line, rs.checks[0].common().location.line)
    };
    let mut r = Reconciler::new(load(text));
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    let second = ProbeSpec::shared(&r.config().virtual_servers[0].real_servers[1].checks[0]);
    assert!(r.set_health(&second, false));
    assert_eq!(round(&mut r, &mut t).ops().len(), 1);
    assert_eq!(check_line(r.config()), (10, 11));

    let moved = format!("\n\n{text}");
    assert!(load(&moved) != load(text), "a config whose lines moved");
    let reloaded = r.reload(load(&moved));
    assert!(reloaded.changed);
    assert_eq!(check_line(r.config()), (12, 13), "the new lines");
    // The same two probes, the second still down: nothing to write.
    let probes = r.probes();
    assert_eq!(probes.len(), 2);
    assert!(probes.contains(&(second, false)), "{probes:?}");
    assert!(round(&mut r, &mut t).ops().is_empty());
}
