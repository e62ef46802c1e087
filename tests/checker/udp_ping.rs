//! UDP_CHECK and PING_CHECK probes, one attempt at a time.
//!
//! UDP on loopback (no root): a test echo server, a closed port (the
//! kernel's ICMP port unreachable), a silent socket, and dnsmasq as a real
//! UDP service nobody here wrote. In the namespaces of
//! `checker_support` (root): an ICMP host unreachable from a neighbour
//! that never answers ARP, and a send the routing table refuses.
//!
//! PING in the namespaces: the kernel's own echo, through a raw socket
//! (the new namespace's `ping_group_range` allows nobody) and through a
//! ping socket (the test widens the range in its own namespace only); an
//! address whose replies are dropped; and a responder that answers with
//! the wrong sequence number.

use crate::checker_support;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use checker_support::{can_run, can_use_netns, tcp_check, NetPair, BACKEND, BACKEND6};
use lvsd::checker::ping::{self, SocketKind};
use lvsd::checker::probe;
use lvsd::checker::ProbeResult;
use lvsd::config::{Check, PingCheck, ReplyPattern, UdpCheck};

fn udp(ip: &str, port: u16, reply: Option<(&[u8], &[u8])>, min: u16, max: u16) -> Check {
    Check::Udp(Box::new(UdpCheck {
        common: tcp_check(ip, port),
        payload: None,
        require_reply: reply.map(|(value, mask)| ReplyPattern {
            value: value.to_vec(),
            mask: mask.to_vec(),
        }),
        min_reply_length: min,
        max_reply_length: max,
    }))
}

fn with_payload(check: Check, payload: &[u8]) -> Check {
    match check {
        Check::Udp(mut u) => {
            u.payload = Some(payload.to_vec());
            Check::Udp(u)
        }
        other => other,
    }
}

fn with_timeout(mut check: Check, timeout: Duration) -> Check {
    match &mut check {
        Check::Udp(u) => u.common.connect_timeout = timeout.into(),
        Check::Ping(p) => p.common.connect_timeout = timeout.into(),
        _ => {}
    }
    check
}

/// A loopback UDP server that answers each datagram with `answer(datagram)`
/// (nothing when it returns None); its port.
fn udp_server(answer: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static) -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            if let Some(reply) = answer(&buf[..n]) {
                let _ = socket.send_to(&reply, peer);
            }
        }
    });
    port
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn attempt(check: &Check) -> ProbeResult {
    probe::attempt(check).await
}

fn passes(r: &ProbeResult, what: &str) {
    assert!(r.ok, "{what}: expected a pass: {}", r.reason);
}

fn fails(r: &ProbeResult, what: &str, reason: &str) {
    assert!(!r.ok, "{what}: expected a failure: {}", r.reason);
    assert!(
        r.reason.contains(reason),
        "{what}: reason {:?} lacks {reason:?}",
        r.reason
    );
}

#[tokio::test]
async fn udp_healthy_echo_and_keepalived_s_default_payload() {
    let (tx, rx) = std::sync::mpsc::channel();
    let port = udp_server(move |d| {
        let _ = tx.send(d.to_vec());
        Some(d.to_vec())
    });
    let r = attempt(&udp("127.0.0.1", port, None, 0, 255)).await;
    passes(&r, "any reply");
    assert!(r.latency < Duration::from_millis(500), "{:?}", r.latency);
    assert_eq!(rx.recv().unwrap(), b"keepalived check - keepalived ch");
    let check = with_payload(
        udp("127.0.0.1", port, Some((b"\xab\x12", b"\xff\xff")), 0, 255),
        b"\xab\x12\x0f",
    );
    passes(&attempt(&check).await, "the echo matches the pattern");
    assert_eq!(rx.recv().unwrap(), b"\xab\x12\x0f");
}

#[tokio::test]
async fn udp_port_unreachable_fails_at_once() {
    let started = Instant::now();
    let r = attempt(&udp("127.0.0.1", closed_port(), None, 0, 255)).await;
    fails(
        &r,
        "closed port",
        "ICMP destination unreachable (type 3 code 3)",
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    let r = attempt(&udp("::1", closed_port_v6(), None, 0, 255)).await;
    fails(
        &r,
        "closed port, IPv6",
        "ICMP destination unreachable (type 1 code 4)",
    );
}

fn closed_port_v6() -> u16 {
    UdpSocket::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn udp_silence_passes_unless_a_reply_is_required() {
    let port = udp_server(|_| None);
    let quick = |c| with_timeout(c, Duration::from_millis(300));
    let started = Instant::now();
    let r = attempt(&quick(udp("127.0.0.1", port, None, 0, 255))).await;
    passes(&r, "silence without require_reply");
    assert!(r.reason.contains("no answer within 300 ms"), "{}", r.reason);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let r = attempt(&quick(udp("127.0.0.1", port, Some((b"", b"")), 0, 255))).await;
    fails(&r, "silence with require_reply", "no reply within 300 ms");
}

#[tokio::test]
async fn udp_wrong_short_long_and_wildcard_replies() {
    let port = udp_server(|d| Some(d.to_vec()));
    let pattern: (&[u8], &[u8]) = (b"\x10\xab", b"\xf0\xff");
    let echo = |payload: &[u8], min, max| {
        with_payload(udp("127.0.0.1", port, Some(pattern), min, max), payload)
    };
    passes(&attempt(&echo(b"\x1f\xab", 0, 255)).await, "x nibble");
    let r = attempt(&echo(b"\x20\xab", 0, 255)).await;
    fails(&r, "wrong first nibble", "reply byte 0 is 20, expected 10");
    let r = attempt(&echo(b"\x10\xab", 3, 255)).await;
    fails(&r, "short", "reply of 2 bytes, shorter than 3");
    let r = attempt(&echo(b"\x10\xab\x00\x00", 0, 3)).await;
    fails(&r, "long", "reply longer than 3 bytes");
    // Without HEX, lengths are not checked (keepalived 2.2.7).
    let any = with_payload(udp("127.0.0.1", port, Some((b"", b"")), 5, 6), b"\x01");
    passes(&attempt(&any).await, "require_reply without HEX");
}

/// dnsmasq on 127.0.0.1 at a free port, answering `lvsd.test` itself.
struct Dnsmasq(Child, u16);

impl Dnsmasq {
    fn start() -> Option<Dnsmasq> {
        let present = Command::new("dnsmasq").arg("--version").output().is_ok();
        if !can_run(present, "needs dnsmasq (package dnsmasq-base)") {
            return None;
        }
        let port = closed_port();
        let dns = Dnsmasq(
            Command::new("dnsmasq")
                .args([
                    "--keep-in-foreground",
                    "--no-resolv",
                    "--no-hosts",
                    "--conf-file=/dev/null",
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    "--user=root",
                    "--pid-file=",
                    &format!("--port={port}"),
                    "--address=/lvsd.test/192.0.2.7",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start dnsmasq"),
            port,
        );
        // Ready when it answers.
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        for _ in 0..50 {
            let _ = probe.send_to(&query(1), ("127.0.0.1", port));
            if probe.recv(&mut [0u8; 512]).is_ok() {
                return Some(dns);
            }
        }
        panic!("dnsmasq did not answer on port {port}");
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A DNS query for `lvsd.test` A, id `id`, recursion desired.
fn query(id: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend_from_slice(b"\x04lvsd\x04test\x00\x00\x01\x00\x01");
    q
}

#[tokio::test]
async fn udp_against_dnsmasq_a_real_service() {
    // dnsmasq binds as root only: running it needs root.
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !can_run(root, "needs root to run dnsmasq") {
        return;
    }
    let Some(dns) = Dnsmasq::start() else { return };
    // The answer starts with our id, then QR=1, opcode 0, and rcode 0
    // (NOERROR) in the low nibble of byte 3: `4c56 8x x0`.
    let check = |q: Vec<u8>, pattern: (&[u8], &[u8])| {
        with_payload(udp("127.0.0.1", dns.1, Some(pattern), 12, 512), &q)
    };
    let noerror: (&[u8], &[u8]) = (b"\x4c\x56\x80\x00", b"\xff\xff\xf0\x0f");
    passes(
        &attempt(&check(query(0x4c56), noerror)).await,
        "dnsmasq NOERROR",
    );
    let r = attempt(&check(query(0x4c57), noerror)).await;
    fails(&r, "another id", "reply byte 1 is 57, expected 56");
    // An inverse query (opcode 1, obsolete): dnsmasq answers NOTIMP (4).
    let mut bad = query(0x4c56);
    bad[2] = 0x09;
    let r = attempt(&check(bad, noerror)).await;
    fails(&r, "dnsmasq's NOTIMP", "reply byte 3");
    // The default payload is no DNS message: dnsmasq stays silent, and
    // silence passes.
    passes(
        &attempt(&udp("127.0.0.1", dns.1, None, 0, 255)).await,
        "silent dnsmasq",
    );
}

#[test]
fn udp_host_unreachable_and_refused_send_fail() {
    if !can_use_netns() {
        return;
    }
    let net = NetPair::new("udp");
    // 192.0.2.99 is on the link but nobody answers ARP: after ~3 s the
    // kernel queues an ICMP host unreachable (keepalived.conf(5) advises a
    // connect_timeout over 3 s for this reason).
    let r = net.client_run(|| async {
        let check = with_timeout(
            udp("192.0.2.99", 5353, None, 0, 255),
            Duration::from_secs(6),
        );
        attempt(&check).await
    });
    fails(
        &r,
        "no neighbour",
        "ICMP destination unreachable (type 3 code 1)",
    );
    NetPair::ip_in(
        &net.client,
        &["route", "add", "unreachable", "198.51.100.0/24"],
    );
    let r = net.client_run(|| async { attempt(&udp("198.51.100.1", 53, None, 0, 255)).await });
    fails(&r, "an unreachable route", "connect");
    // A real UDP answer across the veth.
    let server = NetPair::spawn_in(&net.backend, || {
        let socket = UdpSocket::bind((BACKEND, 7)).unwrap();
        let mut buf = [0u8; 64];
        let (n, peer) = socket.recv_from(&mut buf).unwrap();
        socket.send_to(&buf[..n], peer).unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    let r = net.client_run(|| async {
        attempt(&udp(
            BACKEND,
            7,
            Some((b"keep", b"\xff\xff\xff\xff")),
            0,
            255,
        ))
        .await
    });
    passes(&r, "echo across the veth");
    server.join().unwrap();
}

fn ping(ip: &str) -> Check {
    Check::Ping(Box::new(PingCheck {
        common: tcp_check(ip, 0),
    }))
}

/// Sets a sysctl inside namespace `ns` (never on the host).
fn sysctl_in(ns: &str, setting: &str) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-qw", setting])
        .output()
        .unwrap();
    assert!(out.status.success(), "sysctl {setting}: {out:?}");
}

#[test]
fn ping_the_kernel_s_echo_through_a_raw_and_a_ping_socket() {
    if !can_use_netns() {
        return;
    }
    let net = NetPair::new("ping");
    // A new namespace's ping_group_range ("1 0") allows no group: raw.
    for target in [BACKEND, BACKEND6] {
        let r = net.client_run(move || async move { attempt(&ping(target)).await });
        passes(&r, target);
        assert!(r.reason.contains("(raw socket)"), "{}", r.reason);
    }
    // Forced: no raw socket, and the range excludes us: the reason names
    // the sysctl and the capability.
    let refused = net.client_run(|| async {
        ping::open_as(BACKEND.parse().unwrap(), None, None, &[SocketKind::Ping]).map(|_| ())
    });
    let reason = refused.unwrap_err().to_string();
    assert!(
        reason.contains("net.ipv4.ping_group_range") && reason.contains("CAP_NET_RAW"),
        "{reason}"
    );
    sysctl_in(&net.client, "net.ipv4.ping_group_range=0 2147483647");
    for target in [BACKEND, BACKEND6] {
        let r = net.client_run(move || async move { attempt(&ping(target)).await });
        passes(&r, target);
        assert!(r.reason.contains("(ping socket)"), "{}", r.reason);
    }
}

#[test]
fn ping_fails_when_replies_are_dropped() {
    if !can_use_netns() {
        return;
    }
    let net = NetPair::new("pingdrop");
    // The backend's replies to the client go into a blackhole.
    NetPair::ip_in(&net.backend, &["route", "add", "blackhole", "192.0.2.1/32"]);
    let started = Instant::now();
    let r = net.client_run(|| async {
        attempt(&with_timeout(ping(BACKEND), Duration::from_millis(500))).await
    });
    fails(&r, "dropped", "no echo reply within 500 ms");
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[test]
fn ping_fails_on_a_reply_with_the_wrong_sequence_number() {
    if !can_use_netns() {
        return;
    }
    let net = NetPair::new("pingseq");
    // The kernel's echo is off; a responder answers with seq + 1.
    sysctl_in(&net.backend, "net.ipv4.icmp_echo_ignore_all=1");
    let responder = NetPair::spawn_in(&net.backend, wrong_seq_responder);
    std::thread::sleep(Duration::from_millis(100));
    for kinds in [false, true] {
        if kinds {
            sysctl_in(&net.client, "net.ipv4.ping_group_range=0 2147483647");
        }
        let r = net.client_run(|| async { attempt(&ping(BACKEND)).await });
        fails(&r, "wrong seq", "echo reply with seq");
    }
    drop(net);
    let _ = responder.join();
}

/// Answers two echo requests with an echo reply one sequence number off.
fn wrong_seq_responder() {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answered = 0;
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
    while answered < 2 {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            return;
        };
        let packet: Vec<u8> = buf[..n]
            .iter()
            // SAFETY: recv_from initialised the first n bytes.
            .map(|b| unsafe { b.assume_init() })
            .collect();
        let icmp = &packet[usize::from(packet[0] & 0x0f) * 4..];
        if icmp[0] != 8 {
            continue;
        }
        let mut reply = icmp.to_vec();
        reply[0] = 0;
        let seq = u16::from_be_bytes([reply[6], reply[7]]).wrapping_add(1);
        reply[6..8].copy_from_slice(&seq.to_be_bytes());
        reply[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&reply);
        reply[2..4].copy_from_slice(&sum.to_be_bytes());
        let to: SocketAddr = from.as_socket().unwrap();
        socket.send_to(&reply, &to.into()).unwrap();
        answered += 1;
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|p| u32::from(u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The fuzz target's checked-in corpus (fuzz/corpus/udp_ping_reply),
/// replayed through the same entry: nothing panics, and the seeds that are
/// meant to pass do (the others fail).
#[test]
fn fuzz_corpus_of_udp_and_ping_replies_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/udp_ping_reply");
    let mut passed = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/udp_ping_reply") {
        let path = entry.unwrap().path();
        files += 1;
        let bytes = std::fs::read(&path).unwrap();
        if lvsd::checker::fuzz_input::udp_ping_reply(&bytes) {
            passed.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(files >= 16, "the corpus has only {files} inputs");
    for seed in [
        "udp_match",
        "udp_any",
        "udp_required_nohex",
        "ping_reply",
        "ping_v6",
        "ping_raw_ours",
        "ping_raw_v6",
    ] {
        assert!(
            passed.iter().any(|p| p == seed),
            "{seed} did not pass: {passed:?}"
        );
    }
    for seed in [
        "udp_mismatch",
        "udp_short",
        "udp_long",
        "ping_wrong_seq",
        "ping_unreach",
        "ping_raw_other",
    ] {
        assert!(!passed.iter().any(|p| p == seed), "{seed} passed");
    }
}

/// The engine runs UDP and PING attempts on its prober thread (not through
/// `probe::attempt`): the same verdicts there.
#[tokio::test]
async fn the_engine_s_prober_gives_the_same_udp_verdicts() {
    use checker_support::engine_probe_once;
    let echo = udp_server(|d| Some(d.to_vec()));
    let pattern: Option<(&[u8], &[u8])> = Some((b"keep", b"\xff\xff\xff\xff"));
    let r = engine_probe_once(udp("127.0.0.1", echo, pattern, 0, 255)).await;
    passes(&r, "engine: echo");
    let r = engine_probe_once(udp(
        "127.0.0.1",
        echo,
        Some((b"keeq", b"\xff\xff\xff\xff")),
        0,
        255,
    ))
    .await;
    fails(&r, "engine: wrong reply", "reply byte 3");
    let r = engine_probe_once(udp("127.0.0.1", closed_port(), None, 0, 255)).await;
    fails(
        &r,
        "engine: closed port",
        "ICMP destination unreachable (type 3 code 3)",
    );
    let silent = udp_server(|_| None);
    let quick = |c| with_timeout(c, Duration::from_millis(300));
    let r = engine_probe_once(quick(udp("127.0.0.1", silent, None, 0, 255))).await;
    passes(&r, "engine: silence");
    let r = engine_probe_once(quick(udp("127.0.0.1", silent, Some((b"", b"")), 0, 255))).await;
    fails(
        &r,
        "engine: silence, reply required",
        "no reply within 300 ms",
    );
}

#[test]
fn the_engine_s_prober_gives_the_same_ping_verdicts() {
    if !can_use_netns() {
        return;
    }
    let net = NetPair::new("pingeng");
    let r = net.client_run(|| checker_support::engine_probe_once(ping(BACKEND6)));
    passes(&r, "engine: ping (raw socket)");
    NetPair::ip_in(&net.backend, &["route", "add", "blackhole", "192.0.2.1/32"]);
    let r = net.client_run(|| {
        checker_support::engine_probe_once(with_timeout(ping(BACKEND), Duration::from_millis(300)))
    });
    fails(&r, "engine: dropped", "no echo reply within 300 ms");
}
