//! The engine's bookkeeping on loopback (no root needed): reloads keep
//! running probes, equal checks share one probe, warmup spreads starts.

mod checker_support;

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use checker_support::{tcp, tcp_check};
use lvsd::checker::{Engine, HealthEvent, ProbeSpec};
use lvsd::config::Location;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::time::{timeout, Instant};

/// A loopback listener that reads each connection to end of file.
fn listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut sink = [0u8; 256];
                while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

fn spec(port: u16, delay_loop_ms: u64) -> ProbeSpec {
    let mut common = tcp_check("127.0.0.1", port);
    common.delay_loop = Duration::from_millis(delay_loop_ms).into();
    ProbeSpec::new(&tcp(common))
}

async fn next(rx: &mut UnboundedReceiver<HealthEvent>) -> HealthEvent {
    timeout(Duration::from_secs(3), rx.recv())
        .await
        .expect("an event within 3 s")
        .unwrap()
}

#[tokio::test]
async fn reload_keeps_running_probes_and_stops_removed_ones() {
    let (a, b) = (spec(listener(), 300), spec(listener(), 300));
    let (tx, mut rx) = unbounded_channel();
    let mut engine = Engine::new(tx).unwrap();
    engine.set_probes(vec![(a.clone(), true)]);
    next(&mut rx).await;
    next(&mut rx).await;
    let last_a = Instant::now();
    // Reload with A unchanged and B new: B probes now, A stays on its timer.
    engine.set_probes(vec![(a.clone(), true), (b.clone(), true)]);
    let first = next(&mut rx).await;
    assert_eq!(*first.probe, b);
    assert!(last_a.elapsed() < Duration::from_millis(100));
    let second = next(&mut rx).await;
    assert_eq!(*second.probe, a);
    let waited = last_a.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited <= Duration::from_millis(330),
        "A's next probe came {waited:?} after its previous one"
    );
    let states = engine.states();
    let state_a = states.iter().find(|s| s.spec == a).unwrap();
    assert_eq!(state_a.probes_sent, 3);
    assert!(state_a.up && state_a.supported);
    // Drop A: only B reports from now on.
    engine.set_probes(vec![(b.clone(), true)]);
    let until = Instant::now() + Duration::from_millis(700);
    while let Ok(Some(event)) = timeout(until - Instant::now(), rx.recv()).await {
        assert_eq!(*event.probe, b, "a removed probe still reports");
    }
    assert_eq!(engine.states().len(), 1);
}

#[tokio::test]
async fn equal_checks_of_several_virtual_servers_share_one_probe() {
    let port = listener();
    let checks: Vec<_> = (1..=3)
        .map(|line| {
            let mut common = tcp_check("127.0.0.1", port);
            common.location = Location {
                file: PathBuf::from("keepalived.conf").into(),
                line,
                col: 5,
            };
            (ProbeSpec::new(&tcp(common)), true)
        })
        .collect();
    let (tx, mut rx) = unbounded_channel();
    let mut engine = Engine::new(tx).unwrap();
    engine.set_probes(checks);
    assert!(next(&mut rx).await.result.ok);
    let states = engine.states();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].probes_sent, 1);
}

#[tokio::test]
async fn alpha_starts_down_and_one_success_brings_it_up() {
    let (tx, mut rx) = unbounded_channel();
    let mut engine = Engine::new(tx).unwrap();
    engine.set_probes(vec![(spec(listener(), 60_000), false)]);
    let event = next(&mut rx).await;
    assert!(event.up && event.changed, "{event:?}");
}

#[tokio::test]
async fn warmup_spreads_the_first_probes() {
    let warmup = Duration::from_secs(1);
    // Fifty distinct refused ports: all bound at once, then all closed (two
    // probes to one port would be one probe).
    let held: Vec<TcpListener> = (0..50)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(held);
    let specs: Vec<_> = ports
        .into_iter()
        .map(|port| {
            let mut common = tcp_check("127.0.0.1", port);
            common.delay_loop = Duration::from_secs(60).into();
            common.warmup = warmup.into();
            (ProbeSpec::new(&tcp(common)), true)
        })
        .collect();
    let (tx, mut rx) = unbounded_channel();
    let mut engine = Engine::new(tx).unwrap();
    let start = Instant::now();
    engine.set_probes(specs);
    let mut arrivals = Vec::new();
    for _ in 0..50 {
        let event = next(&mut rx).await;
        // The very first probe failing marks down at once.
        assert!(!event.up && event.changed, "{event:?}");
        arrivals.push(start.elapsed());
    }
    let (first, last) = (arrivals[0], arrivals[49]);
    assert!(
        last <= warmup + Duration::from_millis(50),
        "last start {last:?}"
    );
    assert!(
        last - first >= warmup / 2,
        "starts bunched in {:?}",
        last - first
    );
}

/// keepalived's down sequence, in real time on loopback (refusals are
/// answered at once, so only the schedule takes time): with delay_loop
/// 400 ms, delay_before_retry 100 ms and retry 3, the probes after the
/// backend's death come at 400, 500, 600 and 700 ms, the last one "down",
/// then the next 400 ms later. Within 30 ms each (the prober wakes on
/// epoll's millisecond timeouts; `checker_timing.rs` holds the tighter
/// 20 ms rule across a namespace).
#[tokio::test]
async fn down_sequence_in_real_time() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut common = tcp_check("127.0.0.1", port);
    common.delay_loop = Duration::from_millis(400).into();
    common.delay_before_retry = Duration::from_millis(100).into();
    common.retry = 3;
    let (tx, mut rx) = unbounded_channel();
    let mut engine = Engine::new(tx).unwrap();
    engine.set_probes(vec![(ProbeSpec::new(&tcp(common)), true)]);
    // Success at 0 (the handshake completes in the listener's backlog).
    let first = next(&mut rx).await;
    assert!(first.result.ok && !first.changed, "{first:?}");
    let start = Instant::now();
    drop(listener);
    let mut seen = Vec::new();
    loop {
        let event = next(&mut rx).await;
        seen.push((start.elapsed(), event.up, event.changed));
        if !event.up {
            break;
        }
    }
    let event = next(&mut rx).await;
    seen.push((start.elapsed(), event.up, event.changed));
    let expected = [
        (400, true, false),
        (500, true, false),
        (600, true, false),
        (700, false, true),
        (1100, false, false),
    ];
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    for ((at, up, changed), (want_ms, want_up, want_changed)) in seen.iter().zip(expected) {
        let want = Duration::from_millis(want_ms);
        let off = at.abs_diff(want);
        assert!(
            off <= Duration::from_millis(30) && *up == want_up && *changed == want_changed,
            "{seen:?}"
        );
    }
}
