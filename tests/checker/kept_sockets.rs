//! The engine keeps a datagram probe's socket across its passing attempts
//! (`src/checker/datagram.rs`): the next `UDP_CHECK` or `DNS_CHECK`
//! attempt is a `send` on the same connected socket. What that must not
//! change, seen from scripted loopback servers (no root):
//!
//! - while attempts pass, they come from one source port; after a failure
//!   the next attempt comes from a new socket (a new port);
//! - what a server sends between attempts (a second, wrong datagram) is
//!   read and dropped, never taken for the next attempt's reply;
//! - a port that closes while the socket is kept fails the next attempt
//!   at once (ICMP port unreachable), as with a new socket.

use crate::checker_support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use checker_support::tcp_check;
use lvsd::checker::{Engine, HealthEvent, ProbeSpec};
use lvsd::config::{Check, CheckCommon, DnsCheck, DnsType, ReplyPattern, UdpCheck};

/// Quick timing: a probe every 150 ms, 300 ms to answer.
fn quick(port: u16) -> CheckCommon {
    let mut common = tcp_check("127.0.0.1", port);
    common.delay_loop = Duration::from_millis(150).into();
    common.delay_before_retry = Duration::from_millis(150).into();
    common.connect_timeout = Duration::from_millis(300).into();
    common
}

/// A UDP_CHECK that requires a reply starting with "ok".
fn udp(port: u16) -> Check {
    Check::Udp(Box::new(UdpCheck {
        common: quick(port),
        payload: None,
        require_reply: Some(ReplyPattern {
            value: b"ok".to_vec(),
            mask: b"\xff\xff".to_vec(),
        }),
        min_reply_length: 0,
        max_reply_length: 255,
    }))
}

fn dns(port: u16) -> Check {
    Check::Dns(Box::new(DnsCheck {
        common: quick(port),
        query_type: DnsType::A,
        name: "example.test".into(),
    }))
}

/// A loopback UDP server: for the n-th datagram (from 0), `script(n,
/// datagram)` gives the datagrams to send back, each after its delay;
/// after answering datagram `last` it closes its socket (the port then
/// answers with ICMP port unreachable). Reports each datagram's source
/// address.
fn server(
    last: usize,
    script: impl Fn(usize, &[u8]) -> Vec<(Duration, Vec<u8>)> + Send + 'static,
) -> (u16, mpsc::Receiver<SocketAddr>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        for n in 0.. {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            if tx.send(from).is_err() {
                return;
            }
            for (delay, answer) in script(n, &buf[..len]) {
                std::thread::sleep(delay);
                let _ = socket.send_to(&answer, from);
            }
            if n == last {
                return;
            }
        }
    });
    (port, rx)
}

/// Runs `check` in an engine until `n` verdicts are in; returns them.
async fn verdicts(check: Check, n: usize) -> Vec<HealthEvent> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut engine = Engine::new(tx).expect("engine");
    engine.set_probes(vec![(ProbeSpec::new(&check), true)]);
    let mut out = Vec::new();
    while out.len() < n {
        let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a verdict within 10 s")
            .expect("the engine runs");
        out.push(event);
    }
    engine.set_probes(Vec::new());
    out
}

fn ports(rx: &mpsc::Receiver<SocketAddr>) -> Vec<u16> {
    rx.try_iter().map(|from| from.port()).collect()
}

#[tokio::test]
async fn udp_attempts_share_a_socket_while_they_pass_and_stray_datagrams_are_dropped() {
    // Every reply is followed, 30 ms later, by a wrong datagram: had it
    // waited in the kept socket, the next attempt would read it and fail.
    let (port, seen) = server(usize::MAX, |_, _| {
        vec![
            (Duration::ZERO, b"ok".to_vec()),
            (Duration::from_millis(30), b"no".to_vec()),
        ]
    });
    let events = verdicts(udp(port), 6).await;
    for (i, e) in events.iter().enumerate() {
        assert!(e.result.ok, "attempt {i}: {}", e.result.reason);
    }
    let ports = ports(&seen);
    assert!(ports.len() >= 6, "{ports:?}");
    assert!(
        ports.iter().all(|&p| p == ports[0]),
        "one kept socket, one source port: {ports:?}"
    );
}

#[tokio::test]
async fn a_failed_udp_attempt_closes_its_socket() {
    // Attempts 0 and 1 answered, 2 not (require_reply: it fails), then
    // answered again.
    let (port, seen) = server(usize::MAX, |n, _| {
        if n == 2 {
            Vec::new()
        } else {
            vec![(Duration::ZERO, b"ok".to_vec())]
        }
    });
    let events = verdicts(udp(port), 5).await;
    let ok: Vec<bool> = events.iter().map(|e| e.result.ok).collect();
    assert_eq!(ok, [true, true, false, true, true], "{events:?}");
    let ports = ports(&seen);
    assert_eq!(ports[0], ports[1], "kept after a pass: {ports:?}");
    assert_eq!(ports[1], ports[2], "kept after a pass: {ports:?}");
    assert_ne!(
        ports[2], ports[3],
        "a new socket after the failure: {ports:?}"
    );
    assert_eq!(ports[3], ports[4], "kept again: {ports:?}");
}

#[tokio::test]
async fn dns_attempts_share_a_socket_and_a_port_that_closes_fails_at_once() {
    let (port, seen) = server(usize::MAX, |_, query| {
        let mut answer = query.to_vec();
        answer[2] |= 0x80; // QR
        answer[3] = 0x80; // RA, NOERROR
                          // A stray answer with another id first: ignored, as always.
        let mut stray = answer.clone();
        stray[0] ^= 0xff;
        vec![(Duration::ZERO, stray), (Duration::ZERO, answer)]
    });
    let events = verdicts(dns(port), 4).await;
    for (i, e) in events.iter().enumerate() {
        assert!(e.result.ok, "attempt {i}: {}", e.result.reason);
    }
    let ports = ports(&seen);
    assert!(
        ports.iter().all(|&p| p == ports[0]),
        "one kept socket: {ports:?}"
    );

    // The server's port closes (after its second answer) while lvsd's
    // socket is kept: the kernel's ICMP port unreachable fails the next
    // attempt at once, not after connect_timeout.
    let (port, _seen) = server(1, |_, query| {
        let mut answer = query.to_vec();
        answer[2] |= 0x80;
        answer[3] = 0x80;
        vec![(Duration::ZERO, answer)]
    });
    let events = verdicts(dns(port), 3).await;
    let (last, ok) = (&events[2].result, events[1].result.ok);
    assert!(events[0].result.ok && ok, "{events:?}");
    assert!(!last.ok && last.reason.contains("refused"), "{last:?}");
    assert!(
        last.latency < Duration::from_millis(250),
        "at once, not after connect_timeout: {:?}",
        last.latency
    );
}
