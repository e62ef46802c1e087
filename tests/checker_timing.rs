//! From a backend's death to lvsd's "down": the instants and the number of
//! probes must be keepalived's for the same delay_loop / retry /
//! delay_before_retry, within 20 ms. Real time, small values.
//!
//! keepalived's rules (see shared/notes/keepalived-facts.md): a probe every
//! `delay_loop`, timed from the previous verdict; while up, a failure is
//! retried after `delay_before_retry`; down after `retry + 1` failures. So
//! with the last success's verdict at `t`, failure `k` (1-based) has its
//! verdict at `t + delay_loop + (k-1)·delay_before_retry + k·L`, L being how
//! long a failing probe takes (≈0 when refused, `connect_timeout` when the
//! packets vanish), and the `retry + 1`-th failure is the "down".
//!
//! Needs root and `ip netns` (iproute2).

mod checker_support;

use std::time::Duration;

use checker_support::*;
use lvsd::checker::{Engine, HealthEvent, ProbeSpec};
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::Instant;

const TOLERANCE: Duration = Duration::from_millis(20);

#[derive(Clone, Copy)]
enum Death {
    /// The listener closes: probes are refused at once.
    Refused,
    /// The backend's answers are blackholed: probes time out.
    Blackholed,
}

fn death_timeline(tag: &str, death: Death) {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new(tag);
    let mut backend = Backend::start(&pair.backend, BACKEND, 8091, Behaviour::ReadToEof);
    let backend_ns = pair.backend.clone();
    let retry = 2;
    let delay_loop = Duration::from_secs(1);
    let delay_before_retry = Duration::from_millis(200);
    let connect_timeout = Duration::from_millis(300);
    let (last_ok, failures) = pair.client_run(move || async move {
        let (tx, mut rx) = unbounded_channel::<HealthEvent>();
        let mut engine = Engine::new(tx).unwrap();
        let mut common = tcp_check(BACKEND, 8091);
        common.retry = retry;
        common.delay_loop = delay_loop.into();
        common.delay_before_retry = delay_before_retry.into();
        common.connect_timeout = connect_timeout.into();
        engine.set_probes(vec![(ProbeSpec::new(&tcp(common)), true)]);
        // Two successes, then death half-way to the next probe.
        let mut last_ok = Instant::now();
        for _ in 0..2 {
            let event = rx.recv().await.unwrap();
            assert!(event.result.ok && event.up, "{event:?}");
            last_ok = Instant::now();
        }
        tokio::time::sleep(delay_loop / 2).await;
        match death {
            Death::Refused => backend.stop(),
            Death::Blackholed => NetPair::ip_in(
                &backend_ns,
                &["route", "add", "blackhole", &format!("{CLIENT}/32")],
            ),
        }
        let mut failures = Vec::new();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("no down within 5 s")
                .unwrap();
            assert!(!event.result.ok, "a success after death: {event:?}");
            failures.push((Instant::now(), event.up, event.changed));
            if !event.up {
                break;
            }
        }
        drop(engine);
        (last_ok, failures)
    });
    let latency = match death {
        Death::Refused => Duration::ZERO,
        Death::Blackholed => connect_timeout,
    };
    assert_eq!(
        failures.len(),
        retry as usize + 1,
        "probes from death to down"
    );
    for (k, (at, up, changed)) in failures.iter().enumerate() {
        let expected =
            last_ok + delay_loop + delay_before_retry * k as u32 + latency * (k as u32 + 1);
        let error = if *at > expected {
            *at - expected
        } else {
            expected - *at
        };
        eprintln!("failure {}: {error:?} off keepalived's instant", k + 1);
        assert!(
            error <= TOLERANCE,
            "failure {} came {:?} off keepalived's instant",
            k + 1,
            error
        );
        let last = k == retry as usize;
        assert_eq!((*up, *changed), (!last, last), "failure {}", k + 1);
    }
}

#[test]
fn refused_backend_goes_down_on_keepalived_schedule() {
    death_timeline("trefused", Death::Refused);
}

#[test]
fn blackholed_backend_goes_down_on_keepalived_schedule() {
    death_timeline("thole", Death::Blackholed);
}
