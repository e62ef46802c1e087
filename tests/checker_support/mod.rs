//! Test fixtures for the checker: a client and a backend network namespace
//! joined by a veth pair, backends with chosen behaviours, and check specs.
//!
//! Topology (all addresses exist only inside the two namespaces):
//!
//! ```text
//!   client ns  eth0 192.0.2.1/24, 192.0.2.11/24, 2001:db8::1/64
//!       │ veth
//!   backend ns eth0 192.0.2.2/24, 192.0.2.3/24, 10.213.0.2/24, 2001:db8::2/64
//! ```
//!
//! Code runs in a namespace on a thread of its own (`setns` affects only the
//! calling thread), so the test process itself stays in the host namespace.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use lvsd::config::{Check, CheckCommon, TcpCheck};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const CLIENT: &str = "192.0.2.1";
pub const CLIENT_ALIAS: &str = "192.0.2.11";
pub const BACKEND: &str = "192.0.2.2";
pub const BACKEND_ALIAS: &str = "192.0.2.3";
/// Reachable from the client only through the fwmark routing rule.
pub const BACKEND_MARKED: &str = "10.213.0.2";
pub const CLIENT6: &str = "2001:db8::1";
pub const BACKEND6: &str = "2001:db8::2";
/// The mark that routes to [`BACKEND_MARKED`].
pub const MARK: u32 = 0x7;

/// Returns false (after printing why) when the test must be skipped, and
/// panics when it cannot run under CI.
pub fn can_use_netns() -> bool {
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let ip = Command::new("ip").arg("-V").output().is_ok();
    can_run(root && ip, "needs root and iproute2 (`ip netns`)")
}

/// Returns `ok`; when false, first prints "skipped: `why`", or panics with
/// `why` under CI (a test must not pass there without running).
pub fn can_run(ok: bool, why: &str) -> bool {
    if !ok && std::env::var("CI").as_deref() == Ok("true") {
        panic!("cannot run under CI: {why}");
    }
    if !ok {
        eprintln!("skipped: {why}");
    }
    ok
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces and their veth pair; deleted on drop.
pub struct NetPair {
    pub client: String,
    pub backend: String,
}

impl NetPair {
    pub fn new(tag: &str) -> NetPair {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = format!("lvsdck-{tag}-{}-{n}", std::process::id());
        let pair = NetPair {
            client: format!("{base}-c"),
            backend: format!("{base}-b"),
        };
        ip(&["netns", "add", &pair.client]);
        ip(&["netns", "add", &pair.backend]);
        let (c, b) = (pair.client.as_str(), pair.backend.as_str());
        ip(&[
            "-n", c, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b,
        ]);
        for (ns, addrs) in [
            (c, &[CLIENT, CLIENT_ALIAS][..]),
            (b, &[BACKEND, BACKEND_ALIAS, BACKEND_MARKED][..]),
        ] {
            for a in addrs {
                ip(&["-n", ns, "addr", "add", &format!("{a}/24"), "dev", "eth0"]);
            }
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
        }
        ip(&[
            "-n",
            c,
            "addr",
            "add",
            &format!("{CLIENT6}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        ip(&[
            "-n",
            b,
            "addr",
            "add",
            &format!("{BACKEND6}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        // 10.213.0.0/24 is on the backend's link, but the client reaches it only
        // with the mark: no route in main, one in table 77 for marked packets.
        ip(&[
            "-n",
            c,
            "rule",
            "add",
            "fwmark",
            &MARK.to_string(),
            "table",
            "77",
        ]);
        ip(&[
            "-n",
            c,
            "route",
            "add",
            "10.213.0.0/24",
            "dev",
            "eth0",
            "table",
            "77",
        ]);
        pair
    }

    /// Runs `f` on a new thread inside namespace `ns`.
    pub fn spawn_in<T: Send + 'static>(
        ns: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let path = format!("/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns");
            // SAFETY: an open namespace file's descriptor; setns(2) moves
            // only this new thread into it.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
    }

    /// Runs an async block on a current-thread runtime in the client namespace.
    pub fn client_run<T, F>(&self, f: impl FnOnce() -> F + Send + 'static) -> T
    where
        T: Send + 'static,
        F: std::future::Future<Output = T>,
    {
        NetPair::spawn_in(&self.client, move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(f())
        })
        .join()
        .expect("client thread")
    }

    /// A TCP counter from the namespace's `/proc/net/snmp` (e.g. `EstabResets`).
    pub fn tcp_counter(ns: &str, name: &str) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "cat", "/proc/net/snmp"])
            .output()
            .expect("read snmp");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
        let (names, values) = (
            tcp.next().expect("Tcp header"),
            tcp.next().expect("Tcp values"),
        );
        let index = names
            .split_whitespace()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no {name} in /proc/net/snmp"));
        values
            .split_whitespace()
            .nth(index)
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Runs `ip -n NS ARGS`.
    pub fn ip_in(ns: &str, args: &[&str]) {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        ip(&all);
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        for ns in [&self.client, &self.backend] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// How a test backend treats each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Read until end of file, then close.
    ReadToEof,
    /// Write a banner at once, then read until end of file and close.
    Banner,
    /// Accept and then do nothing (keep the connection open).
    Silent,
    /// Never accept (a backlog of 1, so it fills up).
    NeverAccept,
}

/// What a backend saw.
#[derive(Debug, Default)]
pub struct BackendStats {
    pub accepted: AtomicU64,
    /// Connections that ended in a read error (an RST).
    pub reset: AtomicU64,
    /// Connections read cleanly to end of file.
    pub clean: AtomicU64,
    /// Peer address of the latest connection.
    pub last_peer: std::sync::Mutex<Option<SocketAddr>>,
    /// Local address of the latest connection.
    pub last_local: std::sync::Mutex<Option<SocketAddr>>,
}

/// A listening backend on its own thread in the backend namespace.
pub struct Backend {
    pub addr: SocketAddr,
    pub stats: Arc<BackendStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    pub fn start(ns: &str, ip: &str, port: u16, behaviour: Behaviour) -> Backend {
        let ip: IpAddr = ip.parse().unwrap();
        let addr = SocketAddr::new(ip, port);
        let stats = Arc::new(BackendStats::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_stats = Arc::clone(&stats);
        let thread = NetPair::spawn_in(ns, move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(addr, behaviour, thread_stats, stop_rx, ready_tx));
        });
        ready_rx.recv().expect("backend ready");
        Backend {
            addr,
            stats,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Stops listening (new connections are refused) and waits for the thread.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Never panic here: this also runs while a failed test unwinds.
            let _ = thread.join();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(
    addr: SocketAddr,
    behaviour: Behaviour,
    stats: Arc<BackendStats>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    ready: std::sync::mpsc::Sender<()>,
) {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    let backlog = if behaviour == Behaviour::NeverAccept {
        1
    } else {
        1024
    };
    let listener = socket.listen(backlog).unwrap();
    ready.send(()).unwrap();
    if behaviour == Behaviour::NeverAccept {
        let _ = stop.await;
        return;
    }
    let mut open = Vec::new();
    loop {
        let (mut conn, peer) = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted.unwrap(),
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        *stats.last_peer.lock().unwrap() = Some(peer);
        *stats.last_local.lock().unwrap() = conn.local_addr().ok();
        if behaviour == Behaviour::Silent {
            open.push(conn);
            continue;
        }
        let stats = Arc::clone(&stats);
        tokio::spawn(async move {
            if behaviour == Behaviour::Banner {
                let _ = conn.write_all(b"220 test backend ready\r\n").await;
            }
            let mut buf = [0u8; 512];
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) => {
                        stats.clean.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(_) => continue,
                    Err(_) => {
                        stats.reset.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        });
    }
}

/// A TCP_CHECK to `ip:port` with test-friendly timing (no warmup).
pub fn tcp_check(ip: &str, port: u16) -> CheckCommon {
    CheckCommon {
        connect_timeout: Duration::from_secs(1).into(),
        delay_loop: Duration::from_secs(1).into(),
        delay_before_retry: Duration::from_millis(200).into(),
        warmup: Duration::ZERO.into(),
        ..CheckCommon::new(ip.parse().unwrap(), port)
    }
}

pub fn tcp(common: CheckCommon) -> Check {
    Check::Tcp(TcpCheck { common })
}

/// One probe through the engine, as lvsd runs it: a fresh engine with just
/// `check` (no warmup), its first verdict, then the engine stops. The
/// probe's close runs as it always does (the engine's stop closes politely).
#[allow(dead_code)]
pub async fn engine_probe_once(check: Check) -> lvsd::checker::ProbeResult {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut engine = lvsd::checker::Engine::new(tx).expect("engine");
    engine.set_probes(vec![(lvsd::checker::ProbeSpec::new(&check), true)]);
    let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a verdict within 10 s")
        .expect("the engine runs");
    engine.set_probes(Vec::new());
    event.result
}

/// Runs `specs` in one engine until `n` verdicts are in; every verdict must
/// pass. Then the probes stop (attempts under way still finish and close as
/// they always do) and the engine is dropped a little later.
#[allow(dead_code)]
pub async fn engine_probe_n(specs: Vec<lvsd::checker::ProbeSpec>, n: usize) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut engine = lvsd::checker::Engine::new(tx).expect("engine");
    engine.set_probes(specs.into_iter().map(|s| (s, true)));
    for i in 0..n {
        let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a verdict within 10 s")
            .expect("the engine runs");
        assert!(event.result.ok, "probe {i}: {}", event.result.reason);
    }
    engine.set_probes(Vec::new());
    tokio::time::sleep(Duration::from_millis(500)).await;
}
