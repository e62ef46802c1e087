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

/// A refused loopback port (bound then closed).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spec(port: u16, delay_loop_ms: u64) -> ProbeSpec {
    let mut common = tcp_check("127.0.0.1", port);
    common.delay_loop = Duration::from_millis(delay_loop_ms);
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
    let mut engine = Engine::new(tx);
    engine.set_probes(vec![(a.clone(), true)]);
    next(&mut rx).await;
    next(&mut rx).await;
    let last_a = Instant::now();
    // Reload with A unchanged and B new: B probes now, A stays on its timer.
    engine.set_probes(vec![(a.clone(), true), (b.clone(), true)]);
    let first = next(&mut rx).await;
    assert_eq!(first.probe, b);
    assert!(last_a.elapsed() < Duration::from_millis(100));
    let second = next(&mut rx).await;
    assert_eq!(second.probe, a);
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
        assert_eq!(event.probe, b, "a removed probe still reports");
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
    let mut engine = Engine::new(tx);
    engine.set_probes(checks);
    assert!(next(&mut rx).await.result.ok);
    let states = engine.states();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].probes_sent, 1);
}

#[tokio::test]
async fn alpha_starts_down_and_one_success_brings_it_up() {
    let (tx, mut rx) = unbounded_channel();
    let mut engine = Engine::new(tx);
    engine.set_probes(vec![(spec(listener(), 60_000), false)]);
    let event = next(&mut rx).await;
    assert!(event.up && event.changed, "{event:?}");
}

#[tokio::test]
async fn warmup_spreads_the_first_probes() {
    let warmup = Duration::from_secs(1);
    let specs: Vec<_> = (0..50)
        .map(|_| {
            let mut common = tcp_check("127.0.0.1", closed_port());
            common.delay_loop = Duration::from_secs(60);
            common.warmup = warmup;
            (ProbeSpec::new(&tcp(common)), true)
        })
        .collect();
    let (tx, mut rx) = unbounded_channel();
    let mut engine = Engine::new(tx);
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

/// keepalived's down sequence on tokio's paused clock: virtual instants are
/// exact (to tokio's millisecond), so this pins the schedule without the
/// real-time slack of `checker_timing.rs`. Loopback connects and refusals
/// complete inside `connect()`, so no real time has to pass for them.
#[tokio::test(start_paused = true)]
async fn down_sequence_on_a_paused_clock() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut common = tcp_check("127.0.0.1", port);
    common.delay_loop = Duration::from_secs(10);
    common.delay_before_retry = Duration::from_secs(2);
    common.retry = 3;
    let (tx, mut rx) = unbounded_channel();
    let mut engine = Engine::new(tx);
    let start = Instant::now();
    engine.set_probes(vec![(ProbeSpec::new(&tcp(common)), true)]);
    // Success at 0 (the handshake completes in the listener's backlog).
    let first = next(&mut rx).await;
    assert!(first.result.ok && !first.changed, "{first:?}");
    drop(listener);
    // Refused at 10, retries at 12, 14, 16: down at 16 (retry + 1 = 4 failures).
    let mut seen = Vec::new();
    loop {
        let event = timeout(Duration::from_secs(60), rx.recv())
            .await
            .unwrap()
            .unwrap();
        seen.push((start.elapsed().as_millis() / 100, event.up, event.changed));
        if !event.up {
            break;
        }
    }
    // Tenths of a second: 10.0 s, 12.0 s, 14.0 s, 16.0 s (±the 1 ms rounding).
    assert_eq!(
        seen,
        vec![
            (100, true, false),
            (120, true, false),
            (140, true, false),
            (160, false, true)
        ]
    );
    // Down: the next probe is delay_loop later, at 26 s.
    let event = timeout(Duration::from_secs(60), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(start.elapsed().as_millis() / 100, 260);
    assert!(!event.up && !event.changed);
}
