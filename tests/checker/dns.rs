//! DNS_CHECK on loopback: against dnsmasq (a resolver nobody here wrote:
//! Debian's dnsmasq-base) for the answers a real server gives, and against
//! a scripted UDP responder for the ones it never gives (another id, a
//! short datagram, a query echoed back, silence, a late answer).
//!
//! dnsmasq runs unprivileged on a free loopback port; without it the
//! dnsmasq test prints `skipped: …` (fails under `CI=true`).

use crate::checker_support;

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use checker_support::{can_run, tcp_check};
use lvsd::checker::probe;
use lvsd::config::{Check, DnsCheck, DnsType};

fn dns(port: u16, query_type: DnsType, name: &str, timeout_ms: u64) -> Check {
    dns_at("127.0.0.1", port, query_type, name, timeout_ms)
}

/// [`dns`] to another loopback address.
fn dns_at(addr: &str, port: u16, query_type: DnsType, name: &str, timeout_ms: u64) -> Check {
    let mut common = tcp_check(addr, port);
    common.connect_timeout = Duration::from_millis(timeout_ms).into();
    Check::Dns(Box::new(DnsCheck {
        common,
        query_type,
        name: name.into(),
    }))
}

/// A free UDP port on loopback (bound, then released).
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// dnsmasq on loopback: `example.test` resolves, `*.nx.test` is NXDOMAIN,
/// everything else REFUSED (no upstream). Killed on drop.
struct Dnsmasq {
    child: Child,
    port: u16,
}

impl Dnsmasq {
    fn start() -> Option<Dnsmasq> {
        let present = Command::new("dnsmasq").arg("--version").output().is_ok();
        if !can_run(present, "needs dnsmasq (package dnsmasq-base)") {
            return None;
        }
        let port = free_udp_port();
        let child = Command::new("dnsmasq")
            .args([
                "--no-daemon",
                &format!("--port={port}"),
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--address=/example.test/127.0.0.2",
                "--local=/nx.test/",
                "--local=/example.test/",
                "--user=root",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        let d = Dnsmasq { child, port };
        // Ready when it answers anything.
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let query = [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1];
        while Instant::now() < deadline {
            let _ = probe.send_to(&query, ("127.0.0.1", port));
            if probe.recv(&mut [0u8; 512]).is_ok() {
                return Some(d);
            }
        }
        panic!("dnsmasq did not answer on port {port}");
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn dnsmasq_answers_are_judged_on_their_rcode() {
    let Some(d) = Dnsmasq::start() else { return };
    let up = probe::attempt(&dns(d.port, DnsType::A, "example.test", 1000)).await;
    assert!(up.ok, "{up:?}");
    // NOERROR without an answer of that type (NODATA) is up too.
    let nodata = probe::attempt(&dns(d.port, DnsType::Mx, "example.test", 1000)).await;
    assert!(nodata.ok, "{nodata:?}");
    let nx = probe::attempt(&dns(d.port, DnsType::A, "a.nx.test", 1000)).await;
    assert!(!nx.ok && nx.reason.contains("NXDOMAIN"), "{nx:?}");
    // keepalived's default query (SOA of the root) to a resolver with no
    // upstream: REFUSED.
    let refused = probe::attempt(&dns(d.port, DnsType::Soa, "", 1000)).await;
    assert!(
        !refused.ok && refused.reason.contains("REFUSED"),
        "{refused:?}"
    );
}

/// How the scripted responder answers a query.
#[derive(Clone, Copy)]
enum Script {
    /// Noise first (another id, a short datagram, the query itself echoed
    /// with QR = 0), then the right answer with this RCODE.
    NoiseThen(u8),
    /// Noise only.
    NoiseOnly,
    /// Nothing at all.
    Silent,
    /// The right answer (NOERROR), after this long.
    Late(Duration),
}

/// A scripted UDP responder for one query; hands the query it got back.
fn responder(script: Script) -> (u16, mpsc::Receiver<Vec<u8>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            return;
        };
        let query = buf[..n].to_vec();
        let answer = |rcode: u8| {
            let mut a = query.clone();
            a[2] |= 0x80; // QR
            a[3] = 0x80 | rcode; // RA, RCODE
            a
        };
        let noise = || {
            let mut other_id = answer(0);
            other_id[0] ^= 0xff;
            let _ = socket.send_to(&other_id, from);
            let _ = socket.send_to(&answer(0)[..11], from);
            let _ = socket.send_to(&query, from);
        };
        match script {
            Script::NoiseThen(rcode) => {
                noise();
                let _ = socket.send_to(&answer(rcode), from);
            }
            Script::NoiseOnly => noise(),
            Script::Silent => {}
            Script::Late(after) => {
                std::thread::sleep(after);
                let _ = socket.send_to(&answer(0), from);
            }
        }
        let _ = tx.send(query);
    });
    (port, rx)
}

#[tokio::test]
async fn the_query_is_keepalived_s_and_noise_is_ignored() {
    let (port, query) = responder(Script::NoiseThen(0));
    let up = probe::attempt(&dns(port, DnsType::Soa, "", 1000)).await;
    assert!(up.ok, "{up:?}");
    let q = query.recv().unwrap();
    // RD only, one question, nothing else (no EDNS OPT record): the root, SOA, IN.
    assert_eq!(&q[2..], &[1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1]);

    let (port, _) = responder(Script::NoiseThen(2));
    let servfail = probe::attempt(&dns(port, DnsType::A, "x.test", 1000)).await;
    assert!(
        !servfail.ok && servfail.reason.contains("SERVFAIL"),
        "{servfail:?}"
    );
}

#[tokio::test]
async fn noise_silence_and_late_answers_time_out() {
    for (what, script) in [
        ("noise only", Script::NoiseOnly),
        ("silent", Script::Silent),
        ("late", Script::Late(Duration::from_millis(700))),
    ] {
        let (port, _) = responder(script);
        let started = Instant::now();
        let down = probe::attempt(&dns(port, DnsType::A, "x.test", 300)).await;
        let took = started.elapsed();
        assert!(!down.ok, "{what}: {down:?}");
        assert!(
            down.reason.contains("no answer within 300 ms"),
            "{what}: {down:?}"
        );
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_millis(600),
            "{what}: took {took:?}"
        );
    }
    // Late, but within connect_timeout: up.
    let (port, _) = responder(Script::Late(Duration::from_millis(100)));
    let up = probe::attempt(&dns(port, DnsType::A, "x.test", 1000)).await;
    assert!(up.ok, "{up:?}");
}

#[tokio::test]
async fn a_closed_port_is_down_at_once() {
    closed_port_is_refused("probe::attempt", |check| async move {
        probe::attempt(&check).await
    })
    .await;
}

/// Nothing listens: the kernel's ICMP port unreachable makes recv fail at
/// once. CI once saw no ICMP within 2 s here (a silence, not a refusal),
/// a cause not found: loopback's ICMP errors are not rate-limited (300 in
/// a row were all refused in a namespace with `icmp_msgs_per_sec` 0), and
/// the probe's socket is connected before it sends. So up to three tries,
/// each down, and one of them refused within 1 s; a probe that never
/// reads the refusal fails all three.
async fn closed_port_is_refused<F, Fut>(what: &str, mut attempt: F)
where
    F: FnMut(Check) -> Fut,
    Fut: std::future::Future<Output = lvsd::checker::ProbeResult>,
{
    let mut results = Vec::new();
    for _ in 0..3 {
        // On an address of its own: a port just freed on 127.0.0.1 may be
        // taken meanwhile by another test's socket here.
        let port = UdpSocket::bind("127.0.0.77:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let down = attempt(dns_at("127.0.0.77", port, DnsType::A, "x.test", 2000)).await;
        let took = started.elapsed();
        assert!(!down.ok, "{what}: closed port: {down:?}");
        if down.reason.contains("refused") {
            assert!(took < Duration::from_secs(1), "{what}: took {took:?}");
            return;
        }
        assert!(
            down.reason.contains("no answer within 2 s"),
            "{what}: closed port: {down:?}"
        );
        results.push(down);
    }
    panic!("{what}: a closed port was never refused in 3 tries: {results:?}");
}

/// The engine runs DNS_CHECK attempts on its prober thread (not through
/// `probe::attempt`): the same verdicts there, noise ignored, silence and
/// a closed port down.
#[tokio::test]
async fn the_engine_s_prober_gives_the_same_verdicts() {
    use checker_support::engine_probe_once;
    let (port, _) = responder(Script::NoiseThen(0));
    let up = engine_probe_once(dns(port, DnsType::Soa, "", 1000)).await;
    assert!(up.ok, "engine: noise then NOERROR: {up:?}");
    let (port, _) = responder(Script::NoiseThen(3));
    let nx = engine_probe_once(dns(port, DnsType::A, "x.test", 1000)).await;
    assert!(
        !nx.ok && nx.reason.contains("NXDOMAIN"),
        "engine: NXDOMAIN: {nx:?}"
    );
    let (port, _) = responder(Script::NoiseOnly);
    let silent = engine_probe_once(dns(port, DnsType::A, "x.test", 300)).await;
    assert!(
        !silent.ok && silent.reason.contains("no answer within 300 ms"),
        "engine: noise only: {silent:?}"
    );
    closed_port_is_refused("engine", engine_probe_once).await;
}
