//! The probe's close, seen from the backend: a graceful close never resets,
//! banner or not; `close_with_reset` always does.
//!
//! Needs root and `ip netns` (iproute2): run with
//! `cargo test --release --test checker close::`.

use crate::checker_support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use checker_support::*;
use lvsd::checker::ProbeSpec;
use lvsd::config::CloseMode;

/// Probes at least `n` times through the engine, closing with `mode`; every
/// probe must pass. Two hundred probes of the same target (their specs
/// differ only in `delay_before_retry`, unused while they pass) every 50 ms:
/// about 4,000 probes a second. (A close waits for the backend's FIN for at
/// most the time to the next probe, so `delay_loop` is kept well above a
/// backend's answer time.)
fn probe_n(pair: &NetPair, port: u16, n: usize, mode: CloseMode) {
    pair.client_run(move || async move {
        let specs = (0..200)
            .map(|k| {
                let mut common = tcp_check(BACKEND, port);
                common.close = mode;
                common.delay_loop = Duration::from_millis(50).into();
                common.delay_before_retry = Duration::from_millis(100 + k).into();
                ProbeSpec::new(&tcp(common))
            })
            .collect();
        engine_probe_n(specs, n).await;
    });
}

/// Waits until every connection the backend accepted (at least `n`) has
/// ended; returns how many there were.
fn wait_ended(backend: &Backend, n: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let s = &backend.stats;
        let ended = s.clean.load(Ordering::Relaxed) + s.reset.load(Ordering::Relaxed);
        if ended >= n && ended == s.accepted.load(Ordering::Relaxed) {
            return ended;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "backend saw {:?} after 10 s, wanted {n} ended",
        backend.stats
    );
}

fn graceful_case(tag: &str, behaviour: Behaviour, n: usize) {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new(tag);
    let backend = Backend::start(&pair.backend, BACKEND, 8080, behaviour);
    let resets_before = NetPair::tcp_counter(&pair.backend, "EstabResets");
    let sent_before = NetPair::tcp_counter(&pair.client, "OutRsts");
    probe_n(&pair, 8080, n, CloseMode::Graceful);
    let ended = wait_ended(&backend, n as u64);
    let stats = &backend.stats;
    assert_eq!(stats.clean.load(Ordering::Relaxed), ended, "{stats:?}");
    assert_eq!(stats.reset.load(Ordering::Relaxed), 0, "{stats:?}");
    let resets = NetPair::tcp_counter(&pair.backend, "EstabResets") - resets_before;
    assert_eq!(resets, 0, "the backend namespace's EstabResets rose");
    let sent = NetPair::tcp_counter(&pair.client, "OutRsts") - sent_before;
    assert_eq!(sent, 0, "the client namespace sent RSTs");
}

#[test]
fn graceful_close_never_resets_over_10000_probes() {
    graceful_case("eof", Behaviour::ReadToEof, 10_000);
}

#[test]
fn graceful_close_never_resets_a_backend_that_sends_a_banner() {
    graceful_case("banner", Behaviour::Banner, 2_000);
}

#[test]
fn close_with_reset_resets_every_probe() {
    if !can_use_netns() {
        return;
    }
    let n = 1_000;
    let pair = NetPair::new("rst");
    let backend = Backend::start(&pair.backend, BACKEND, 8080, Behaviour::ReadToEof);
    let resets_before = NetPair::tcp_counter(&pair.backend, "EstabResets");
    probe_n(&pair, 8080, n, CloseMode::Reset);
    let ended = wait_ended(&backend, n as u64);
    assert_eq!(backend.stats.reset.load(Ordering::Relaxed), ended);
    let resets = NetPair::tcp_counter(&pair.backend, "EstabResets") - resets_before;
    assert_eq!(resets, ended);
}
