//! TCP_CHECK verdicts against misbehaving backends, and the source options
//! (bindto, bind_port, bind_if, fwmark, connect_ip/port) seen from the backend.
//!
//! Needs root and `ip netns` (iproute2); the blackhole is a `blackhole` route
//! in the backend namespace (no iptables/nft needed).

use crate::checker_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use checker_support::*;
use lvsd::checker::ProbeResult;
use lvsd::config::{Binding, CheckCommon};

/// Waits (up to 2 s) until `counter` of `backend` reaches `n`, and checks
/// it is exactly `n`.
fn wait_count(backend: &Backend, counter: &AtomicU64, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while counter.load(Ordering::Relaxed) < n && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(counter.load(Ordering::Relaxed), n, "{:?}", backend.stats);
}

/// Waits until `backend` has accepted `n` connections: a verdict comes with
/// the handshake, before the backend's accept().
fn wait_accepted(backend: &Backend, n: u64) {
    wait_count(backend, &backend.stats.accepted, n);
}

/// Waits until `backend` has seen `n` connections end cleanly.
fn wait_clean(backend: &Backend, n: u64) {
    wait_count(backend, &backend.stats.clean, n);
}

/// How late a verdict may come after `connect_timeout`.
const SLACK: Duration = Duration::from_millis(50);

fn probe_once(pair: &NetPair, common: CheckCommon) -> ProbeResult {
    pair.client_run(move || engine_probe_once(tcp(common)))
}

fn assert_timed_out(result: &ProbeResult, timeout: Duration) {
    assert!(!result.ok, "{result:?}");
    assert!(result.reason.contains("no answer"), "{result:?}");
    assert!(result.latency >= timeout, "{result:?}");
    assert!(result.latency <= timeout + SLACK, "{result:?}");
}

#[test]
fn refused_fails_at_once() {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new("refused");
    let result = probe_once(&pair, tcp_check(BACKEND, 8081));
    assert!(!result.ok);
    assert!(result.reason.contains("refused"), "{result:?}");
    assert!(result.latency < SLACK, "{result:?}");
}

#[test]
fn blackholed_fails_within_connect_timeout() {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new("hole");
    let backend = Backend::start(&pair.backend, BACKEND, 8082, Behaviour::ReadToEof);
    // The backend's answers to the alias address vanish.
    NetPair::ip_in(
        &pair.backend,
        &["route", "add", "blackhole", &format!("{CLIENT_ALIAS}/32")],
    );
    let mut common = tcp_check(BACKEND, 8082);
    binding(&mut common).bindto = Some(CLIENT_ALIAS.parse().unwrap());
    common.connect_timeout = Duration::from_millis(300).into();
    let result = probe_once(&pair, common);
    assert_timed_out(&result, Duration::from_millis(300));
    assert_eq!(backend.stats.accepted.load(Ordering::Relaxed), 0);
}

#[test]
fn accept_then_silent_is_up() {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new("silent");
    let backend = Backend::start(&pair.backend, BACKEND, 8083, Behaviour::Silent);
    let result = probe_once(&pair, tcp_check(BACKEND, 8083));
    assert!(result.ok, "{result:?}");
    assert!(result.latency < SLACK, "{result:?}");
    wait_accepted(&backend, 1);
}

#[test]
fn full_backlog_fails_within_connect_timeout() {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new("backlog");
    let _backend = Backend::start(&pair.backend, BACKEND, 8084, Behaviour::NeverAccept);
    let timeout = Duration::from_millis(300);
    let result = pair.client_run(move || async move {
        // Fill the accept queue (backlog 1 holds 2) with connections kept open.
        let target: SocketAddr = format!("{BACKEND}:8084").parse().unwrap();
        let mut held = Vec::new();
        for _ in 0..4 {
            if let Ok(Ok(s)) =
                tokio::time::timeout(timeout, tokio::net::TcpStream::connect(target)).await
            {
                held.push(s);
            }
        }
        assert!(held.len() >= 2, "could not fill the backlog");
        let mut common = tcp_check(BACKEND, 8084);
        common.connect_timeout = timeout.into();
        engine_probe_once(tcp(common)).await
    });
    assert_timed_out(&result, timeout);
}

#[test]
fn ipv6_works() {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new("v6");
    let backend = Backend::start(&pair.backend, BACKEND6, 8085, Behaviour::ReadToEof);
    let result = probe_once(&pair, tcp_check(BACKEND6, 8085));
    assert!(result.ok, "{result:?}");
    wait_accepted(&backend, 1);
    let peer = backend.stats.last_peer.lock().unwrap().unwrap();
    assert_eq!(peer.ip().to_string(), CLIENT6);
    let refused = probe_once(&pair, tcp_check(BACKEND6, 8086));
    assert!(
        !refused.ok && refused.reason.contains("refused"),
        "{refused:?}"
    );
}

#[test]
fn bindto_and_bind_port_set_the_source() {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new("bind");
    let backend = Backend::start(&pair.backend, BACKEND, 8087, Behaviour::ReadToEof);
    let mut common = tcp_check(BACKEND, 8087);
    binding(&mut common).bindto = Some(CLIENT_ALIAS.parse().unwrap());
    let result = probe_once(&pair, common.clone());
    assert!(result.ok, "{result:?}");
    wait_accepted(&backend, 1);
    let peer = backend.stats.last_peer.lock().unwrap().unwrap();
    assert_eq!(peer.ip().to_string(), CLIENT_ALIAS);
    wait_clean(&backend, 1);
    binding(&mut common).bind_port = Some(40_000);
    // Three in a row, each once the previous one has closed (as a probe's
    // close always ends before its next probe): each takes over the
    // previous probe's TIME_WAIT.
    for k in 2..=4 {
        let result = probe_once(&pair, common.clone());
        assert!(result.ok, "{result:?}");
        wait_accepted(&backend, k);
        wait_clean(&backend, k);
        let peer = backend.stats.last_peer.lock().unwrap().unwrap();
        assert_eq!(peer.to_string(), format!("{CLIENT_ALIAS}:40000"));
    }
    assert_eq!(backend.stats.accepted.load(Ordering::Relaxed), 4);
}

#[test]
fn connect_ip_and_port_pick_the_target() {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new("cip");
    let backend = Backend::start(&pair.backend, BACKEND_ALIAS, 8088, Behaviour::ReadToEof);
    let result = probe_once(&pair, tcp_check(BACKEND_ALIAS, 8088));
    assert!(result.ok, "{result:?}");
    wait_accepted(&backend, 1);
    let local = backend.stats.last_local.lock().unwrap().unwrap();
    assert_eq!(local.to_string(), format!("{BACKEND_ALIAS}:8088"));
    // The same port on the other address has no listener.
    assert!(!probe_once(&pair, tcp_check(BACKEND, 8088)).ok);
}

#[test]
fn fwmark_routes_the_probe() {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new("mark");
    let backend = Backend::start(&pair.backend, BACKEND_MARKED, 8089, Behaviour::ReadToEof);
    // Without the mark there is no route to the target.
    let unmarked = probe_once(&pair, tcp_check(BACKEND_MARKED, 8089));
    assert!(!unmarked.ok, "{unmarked:?}");
    assert!(unmarked.reason.contains("unreachable"), "{unmarked:?}");
    let mut common = tcp_check(BACKEND_MARKED, 8089);
    binding(&mut common).fwmark = Some(MARK);
    let marked = probe_once(&pair, common);
    assert!(marked.ok, "{marked:?}");
    wait_accepted(&backend, 1);
}

#[test]
fn bind_if_binds_the_device() {
    if !can_use_netns() {
        return;
    }
    let pair = NetPair::new("bindif");
    let backend = Backend::start(&pair.backend, BACKEND, 8090, Behaviour::ReadToEof);
    let mut common = tcp_check(BACKEND, 8090);
    binding(&mut common).bind_if = Some("eth0".into());
    assert!(probe_once(&pair, common.clone()).ok);
    wait_accepted(&backend, 1);
    binding(&mut common).bind_if = Some("nosuchif0".into());
    let result = probe_once(&pair, common);
    assert!(
        !result.ok && result.reason.contains("bind_if"),
        "{result:?}"
    );
}

/// The socket settings of `common`, made (all unset) if it has none yet.
fn binding(common: &mut CheckCommon) -> &mut Binding {
    common.binding.get_or_insert_with(Box::default)
}
