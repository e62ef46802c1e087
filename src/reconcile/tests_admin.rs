//! The desired table with admin state: drains, disables, weight overrides,
//! drains a reload starts, and what a restart does with them.

use std::time::Duration;

use super::admin::{now_ms, AdminState, Drain};
use super::tests::{config, round, rs, two_by_three, vs, weights};
use super::*;
use crate::ipvs::{DestKey, Destination, IpvsTable, MemoryTable, ServiceEntry};

fn key(addr: &str, port: u16) -> DestKey {
    DestKey {
        addr: addr.parse().unwrap(),
        port,
    }
}

fn drain_for(secs: u64) -> Drain {
    Drain {
        started_ms: now_ms(),
        deadline_ms: now_ms() + secs * 1000,
        done: false,
        removed: None,
    }
}

/// The dump with `n` active connections on every destination.
fn with_conns(table: &mut MemoryTable, n: u32) -> Vec<ServiceEntry> {
    let mut dump = table.dump().unwrap();
    for s in &mut dump {
        for d in &mut s.dests {
            d.counts.active = n;
        }
    }
    dump
}

fn weight_of(t: &mut MemoryTable, vs: &str, rs: &str) -> Option<i32> {
    weights(t)
        .into_iter()
        .find(|(s, d, _)| s == vs && d == rs)
        .map(|(_, _, w)| w)
}

#[test]
fn a_drained_real_server_stays_at_weight_0_until_its_connections_are_gone() {
    let mut r = Reconciler::new(two_by_three());
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    assert!(r.update_admin(0, key("192.0.2.2", 80), |a| a.drain = Some(drain_for(300))));
    let plan = round(&mut r, &mut t);
    assert_eq!(plan.ops().len(), 1, "{:?}", plan.ops());
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.2:80"),
        Some(0)
    );
    // The other virtual server's same backend is untouched.
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.2:443", "192.0.2.2:443"),
        Some(1)
    );
    // A verdict replans the virtual server: the drain holds.
    r.set_health(&super::tests::spec("192.0.2.1", 80), false);
    round(&mut r, &mut t);
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.2:80"),
        Some(0)
    );
    // Connections left: nothing ends.
    let busy = with_conns(&mut t, 3);
    assert!(r.finish_drains(&busy, now_ms()).is_empty());
    assert!(round(&mut r, &mut t).ops().is_empty());
    // The last one closed: deleted, and stays out.
    let idle = with_conns(&mut t, 0);
    let ended = r.finish_drains(&idle, now_ms());
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].end, drain::DrainEnd::Empty);
    round(&mut r, &mut t);
    assert_eq!(weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.2:80"), None);
    assert_eq!(
        r.admin()
            .get(
                &vs_ident(&r.config().virtual_servers[0]),
                &key("192.0.2.2", 80)
            )
            .unwrap()
            .word(),
        "drained"
    );
    assert!(!r.draining());
    // enable: back at its weight.
    r.update_admin(0, key("192.0.2.2", 80), |a| *a = Default::default());
    round(&mut r, &mut t);
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.2:80"),
        Some(2)
    );
    assert!(r.admin().is_empty());
}

#[test]
fn a_drain_times_out_at_its_deadline() {
    let mut r = Reconciler::new(two_by_three());
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    let d = drain_for(10);
    r.update_admin(0, key("192.0.2.1", 80), |a| a.drain = Some(d));
    round(&mut r, &mut t);
    let busy = with_conns(&mut t, 1);
    assert!(r.finish_drains(&busy, d.deadline_ms - 1).is_empty());
    let ended = r.finish_drains(&busy, d.deadline_ms);
    assert!(matches!(ended[0].end, drain::DrainEnd::TimedOut(c) if c.active == 1));
    round(&mut r, &mut t);
    assert_eq!(weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.1:80"), None);
}

#[test]
fn disable_is_a_failed_check_and_weight_overrides_the_config() {
    let mut c = two_by_three();
    c.virtual_servers[1].real_servers[0].inhibit_on_failure = true;
    let mut r = Reconciler::new(c);
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    r.update_admin(0, key("192.0.2.3", 80), |a| a.disabled = true);
    r.update_admin(1, key("192.0.2.1", 443), |a| a.disabled = true);
    r.update_admin(1, key("192.0.2.2", 443), |a| a.weight = Some(9));
    round(&mut r, &mut t);
    assert_eq!(weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.3:80"), None);
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.2:443", "192.0.2.1:443"),
        Some(0),
        "inhibit_on_failure"
    );
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.2:443", "192.0.2.2:443"),
        Some(9)
    );
    // A down real server with an override stays down.
    r.set_health(&super::tests::spec("192.0.2.2", 443), false);
    round(&mut r, &mut t);
    assert_eq!(weight_of(&mut t, "TCP 10.0.0.2:443", "192.0.2.2:443"), None);
    // Cleared: the config again.
    r.set_health(&super::tests::spec("192.0.2.2", 443), true);
    r.update_admin(1, key("192.0.2.2", 443), |a| a.weight = None);
    r.update_admin(0, key("192.0.2.3", 80), |a| a.disabled = false);
    round(&mut r, &mut t);
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.2:443", "192.0.2.2:443"),
        Some(1)
    );
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.3:80"),
        Some(3)
    );
}

fn without_second(c: &Config) -> Config {
    let mut c = c.clone();
    c.virtual_servers[0].real_servers.remove(1);
    c
}

#[test]
fn a_reload_that_removes_a_real_server_drains_it_and_one_that_restores_it_cancels() {
    let mut r = Reconciler::new(two_by_three());
    r.set_drain_timeout(Duration::from_secs(300));
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    r.reload(without_second(&two_by_three()));
    let plan = round(&mut r, &mut t);
    assert_eq!(
        plan.ops().len(),
        1,
        "only a weight change: {:?}",
        plan.ops()
    );
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.2:80"),
        Some(0)
    );
    assert!(r.draining());
    // Back in the config: the drain is cancelled, the weight restored.
    r.reload(two_by_three());
    round(&mut r, &mut t);
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.2:80"),
        Some(2)
    );
    assert!(r.admin().is_empty());
    // Removed again, then drained to the end: forgotten.
    r.reload(without_second(&two_by_three()));
    round(&mut r, &mut t);
    let idle = with_conns(&mut t, 0);
    assert_eq!(r.finish_drains(&idle, now_ms()).len(), 1);
    round(&mut r, &mut t);
    assert_eq!(weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.2:80"), None);
    assert!(r.admin().is_empty());
}

#[test]
fn drain_timeout_0_deletes_a_removed_real_server_at_once_as_keepalived() {
    let mut r = Reconciler::new(two_by_three());
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    r.reload(without_second(&two_by_three()));
    let plan = round(&mut r, &mut t);
    assert!(
        matches!(plan.ops()[..], [TableOp::RemoveDest(_, _)]),
        "{:?}",
        plan.ops()
    );
    assert!(r.admin().is_empty());
}

#[test]
fn a_failed_real_server_removed_by_a_reload_is_not_drained() {
    let mut r = Reconciler::new(two_by_three());
    r.set_drain_timeout(Duration::from_secs(300));
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    r.set_health(&super::tests::spec("192.0.2.2", 80), false);
    round(&mut r, &mut t);
    r.reload(without_second(&two_by_three()));
    round(&mut r, &mut t);
    assert!(r.admin().is_empty());
}

#[test]
fn a_restart_resumes_drains_and_never_leaves_a_healthy_server_at_weight_0() {
    let c = config(vec![vs(
        "10.0.0.1",
        80,
        vec![rs("192.0.2.1", 80, 5, false), rs("192.0.2.2", 80, 5, false)],
    )]);
    let mut t = MemoryTable::new();
    let mut first = Reconciler::new(c.clone());
    round(&mut first, &mut t);
    first.update_admin(0, key("192.0.2.1", 80), |a| a.drain = Some(drain_for(300)));
    round(&mut first, &mut t);
    // Left at weight 0 by hand (or by a killed lvsd without admin state).
    t.apply_one(&TableOp::UpdateDest(
        first.vs_keys[0][0],
        Destination {
            weight: 0,
            ..desired::destination(&c.virtual_servers[0].real_servers[1], 5)
        },
    ))
    .unwrap();
    let saved = first.admin().persisted();
    // The restart: adopt, then the admin state read back.
    let mut second = Reconciler::new(c);
    second.adopt(&t.dump().unwrap());
    second.restore_admin(AdminState::from_persisted(saved));
    round(&mut second, &mut t);
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.1:80"),
        Some(0),
        "still draining"
    );
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.2:80"),
        Some(5),
        "weight given back"
    );
    assert!(second.draining());
}

#[test]
fn a_drain_read_back_for_a_real_server_no_longer_in_the_table_is_over() {
    let c = two_by_three();
    let mut t = MemoryTable::new();
    let mut first = Reconciler::new(c.clone());
    first.set_drain_timeout(Duration::from_secs(300));
    round(&mut first, &mut t);
    first.update_admin(0, key("192.0.2.1", 80), |a| a.drain = Some(drain_for(300)));
    first.reload(without_second(&c));
    round(&mut first, &mut t);
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.1:80", "192.0.2.2:80"),
        Some(0)
    );
    let saved = first.admin().persisted();
    // A clean stop removed the services; the restart finds an empty table.
    let mut empty = MemoryTable::new();
    let mut second = Reconciler::new(without_second(&c));
    second.adopt(&empty.dump().unwrap());
    second.restore_admin(AdminState::from_persisted(saved));
    round(&mut second, &mut empty);
    assert_eq!(
        weight_of(&mut empty, "TCP 10.0.0.1:80", "192.0.2.2:80"),
        None,
        "not put back"
    );
    assert_eq!(
        weight_of(&mut empty, "TCP 10.0.0.1:80", "192.0.2.1:80"),
        None,
        "drained: stays out"
    );
    assert!(!second.draining());
    let ident = vs_ident(&second.config().virtual_servers[0]);
    assert_eq!(
        second
            .admin()
            .get(&ident, &key("192.0.2.1", 80))
            .unwrap()
            .word(),
        "drained"
    );
}

#[test]
fn a_reload_that_removes_a_virtual_server_drains_its_real_servers_then_removes_it() {
    let c = two_by_three();
    let mut only_first = c.clone();
    only_first.virtual_servers.truncate(1);
    let mut r = Reconciler::new(c.clone());
    r.set_drain_timeout(Duration::from_secs(300));
    let mut t = MemoryTable::new();
    round(&mut r, &mut t);
    r.set_health(&super::tests::spec("192.0.2.3", 443), false);
    round(&mut r, &mut t);
    r.reload(only_first.clone());
    round(&mut r, &mut t);
    // The service stays, its healthy real servers at weight 0; the failed one is gone.
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.2:443", "192.0.2.1:443"),
        Some(0)
    );
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.2:443", "192.0.2.2:443"),
        Some(0)
    );
    assert_eq!(weight_of(&mut t, "TCP 10.0.0.2:443", "192.0.2.3:443"), None);
    assert!(r.draining());
    // A verdict elsewhere replans part of the table: the drains hold.
    r.set_health(&super::tests::spec("192.0.2.1", 80), false);
    round(&mut r, &mut t);
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.2:443", "192.0.2.1:443"),
        Some(0)
    );
    // One drain ends, then the other: then the service goes.
    let mut dump = t.dump().unwrap();
    for s in &mut dump {
        for d in &mut s.dests {
            d.counts.active =
                u32::from(d.dest.key.addr == "192.0.2.2".parse::<std::net::IpAddr>().unwrap());
        }
    }
    assert_eq!(r.finish_drains(&dump, now_ms()).len(), 1);
    round(&mut r, &mut t);
    assert_eq!(weight_of(&mut t, "TCP 10.0.0.2:443", "192.0.2.1:443"), None);
    assert_eq!(
        weight_of(&mut t, "TCP 10.0.0.2:443", "192.0.2.2:443"),
        Some(0)
    );
    let idle = with_conns(&mut t, 0);
    assert_eq!(r.finish_drains(&idle, now_ms()).len(), 1);
    round(&mut r, &mut t);
    assert!(
        !weights(&mut t)
            .iter()
            .any(|(s, _, _)| s == "TCP 10.0.0.2:443"),
        "{:?}",
        weights(&mut t)
    );
    assert!(r.admin().is_empty());
    // With a drain timeout of 0, as keepalived: removed at once.
    let mut k = Reconciler::new(c);
    let mut t = MemoryTable::new();
    round(&mut k, &mut t);
    k.reload(only_first);
    let plan = round(&mut k, &mut t);
    assert!(
        plan.ops()
            .iter()
            .any(|op| matches!(op, TableOp::RemoveService(_))),
        "{:?}",
        plan.ops()
    );
}
