//! BFD_CHECK against a real peer: FRR's bfdd (Debian's `frr`, 8.4) in the
//! backend namespace, lvsd (`--dry-run`, its table printed) in the client
//! namespace, joined by a veth pair (tests/checker_support). One session,
//! taken through what the issue asks, in order:
//!
//! 1. it comes Up, and the real server is added;
//! 2. the peer changes its timers (a Poll from bfdd), then lvsd does (a
//!    reload with another `min_tx`: a Poll from lvsd): no flap either way;
//! 3. the peer goes AdminDown (`shutdown` in its `peer` block): the real
//!    server is removed; `no shutdown` brings it back;
//! 4. the peer dies (SIGKILL): the real server is removed within the
//!    detection time plus one receive interval.
//!
//! Then keepalived 2.2.7's own BFD as the peer: up, a silent peer (its BFD
//! child stopped) detected in time, timer changes on both sides without a
//! flap (keepalived has no AdminDown to give).
//!
//! Needs root, iproute2, frr and keepalived: skipped (said) otherwise, a
//! failure under CI.

use crate::checker_support;
use crate::dry_run_support;

use dry_run_support::dry_run_in;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use checker_support::{can_run, can_use_netns, NetPair, BACKEND, BACKEND6, CLIENT, CLIENT6};

const BFDD: &str = "/usr/lib/frr/bfdd";

/// bfdd, killed when dropped; its vty socket in `dir`.
struct Bfdd {
    child: Child,
    dir: PathBuf,
    /// lvsd's address and bfdd's, as the `peer` block names them.
    peer: (&'static str, &'static str),
}

impl Bfdd {
    fn start(ns: &str, dir: &Path, ms: u32, peer: (&'static str, &'static str)) -> Bfdd {
        let (remote, local) = peer;
        let conf = dir.join("bfdd.conf");
        std::fs::write(
            &conf,
            format!(
                "bfd\n peer {remote} local-address {local}\n  receive-interval {ms}\n  \
                 transmit-interval {ms}\n  detect-multiplier 3\n !\n!\n"
            ),
        )
        .unwrap();
        let d = dir.display();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, BFDD, "-f"])
            .arg(&conf)
            .args(["-u", "frr", "-g", "frr", "-P", "0"])
            .arg("-i")
            .arg(format!("{d}/bfdd.pid"))
            .arg("--vty_socket")
            .arg(dir)
            .arg("--bfdctl")
            .arg(format!("{d}/bfdd.sock"))
            .arg("-z")
            .arg(format!("{d}/zserv.api"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bfdd");
        let bfdd = Bfdd {
            child,
            dir: dir.to_path_buf(),
            peer,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dir.join("bfdd.vty").exists() {
            assert!(Instant::now() < deadline, "bfdd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        bfdd
    }

    /// Runs vtysh commands against this bfdd; its output.
    fn vtysh(&self, commands: &[&str]) -> String {
        let mut cmd = Command::new("vtysh");
        cmd.arg("--vty_socket").arg(&self.dir).args(["-d", "bfdd"]);
        for c in commands {
            cmd.args(["-c", c]);
        }
        let out = cmd.output().expect("vtysh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `show bfd peers`, once it contains `needle` (within 5 s), or a panic.
    fn peers_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let peers = self.vtysh(&["show bfd peers"]);
            if peers.contains(needle) {
                return peers;
            }
            assert!(Instant::now() < deadline, "no `{needle}` in:\n{peers}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs commands in the `peer` block of the configuration.
    fn peer(&self, commands: &[&str]) {
        let peer = format!("peer {} local-address {}", self.peer.0, self.peer.1);
        let mut all = vec!["configure terminal", "bfd", peer.as_str()];
        all.extend_from_slice(commands);
        self.vtysh(&all);
    }
}

impl Drop for Bfdd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// lvsd in a namespace, killed when dropped; its stdout and stderr lines.
struct Lvsd(dry_run_support::Lvsd);

impl Lvsd {
    /// lvsd on `config`, its state dump in `state.json` beside it.
    fn start(ns: &str, config: &Path) -> Lvsd {
        let lvsd = dry_run_in(ns, config)
            .args(["-l"])
            .state_file(&config.with_file_name("state.json"))
            .log_merged("info")
            .start();
        Lvsd(lvsd)
    }

    /// The first line containing `needle` within `limit` (and when it came),
    /// or a panic with the lines seen.
    fn until(&self, needle: &str, limit: Duration) -> Instant {
        self.0.out.next_containing(needle, limit)
    }

    /// Every line for `d`: none may contain `needle`.
    fn never(&self, needle: &str, d: Duration) {
        for line in self.0.out.within(d) {
            assert!(!line.contains(needle), "unexpected: {line}");
        }
    }

    /// The state dump's `bfd` part (SIGUSR1, then the file read).
    fn bfd_state(&self, config: &Path) -> serde_json::Value {
        let path = config.with_file_name("state.json");
        let _ = std::fs::remove_file(&path);
        self.0.signal(libc::SIGUSR1);
        self.until("state written", Duration::from_secs(5));
        let dump: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        dump["bfd"].clone()
    }

    fn reload(&self) {
        self.0.signal(libc::SIGHUP);
    }
}

/// One virtual server whose real server `backend` follows a session from
/// `client` to `backend`.
fn config(min_tx: u32, client: &str, backend: &str) -> String {
    let vip = if backend.contains(':') {
        "2001:db8:ff::1"
    } else {
        "10.0.0.1"
    };
    format!(
        "bfd_instance peer {{\n neighbor_ip {backend}\n source_ip {client}\n min_rx 50\n \
         min_tx {min_tx}\n multiplier 3\n}}\n\
         virtual_server {vip} 80 {{\n lb_algo rr\n lb_kind NAT\n protocol TCP\n \
         real_server {backend} 80 {{\n  BFD_CHECK {{\n   name peer\n  }}\n }}\n}}\n"
    )
}

/// lvsd in `net`'s client namespace with one session to bfdd in its
/// backend namespace, both at `ms` intervals, their files in one temporary
/// directory. The fields drop in the order written: lvsd, then bfdd, then
/// the directory; the namespaces, the caller's, after the rig.
struct WithBfdd {
    lvsd: Lvsd,
    bfdd: Bfdd,
    conf: PathBuf,
    _dir: tempfile::TempDir,
}

impl WithBfdd {
    fn start(net: &NetPair, ms: u32, (client, backend): (&'static str, &'static str)) -> WithBfdd {
        let dir = tempfile::tempdir().unwrap();
        // bfdd runs as `frr` and makes its vty socket here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let bfdd = Bfdd::start(&net.backend, dir.path(), ms, (client, backend));
        let conf = dir.path().join("keepalived.conf");
        std::fs::write(&conf, config(ms, client, backend)).unwrap();
        let lvsd = Lvsd::start(&net.client, &conf);
        WithBfdd {
            lvsd,
            bfdd,
            conf,
            _dir: dir,
        }
    }
}

fn can_run_bfdd() -> bool {
    can_use_netns()
        && can_run(
            Path::new(BFDD).exists() && Command::new("vtysh").arg("--help").output().is_ok(),
            "needs FRR's bfdd and vtysh (Debian package `frr`)",
        )
}

#[test]
fn a_session_with_frr_bfdd_comes_up_survives_timer_changes_and_goes_down_as_the_peer_does() {
    if !can_run_bfdd() {
        return;
    }
    let net = NetPair::new("bfd");
    let mut rig = WithBfdd::start(&net, 50, (CLIENT, BACKEND));
    let WithBfdd {
        lvsd, bfdd, conf, ..
    } = &mut rig;
    let added = format!("-a -t 10.0.0.1:80 -r {BACKEND}:80");
    let removed = format!("-d -t 10.0.0.1:80 -r {BACKEND}:80");

    // 1. Up.
    lvsd.until(&added, Duration::from_secs(10));
    bfdd.peers_with("Status: up");

    // Junk, a packet with TTL 64 and one for no session, all from the
    // peer's address: dropped and counted, and the session stays up.
    NetPair::spawn_in(&net.backend, || {
        let s = std::net::UdpSocket::bind((BACKEND, 0)).unwrap();
        let to = (CLIENT, 3784);
        s.send_to(&[0x20; 10], to).unwrap();
        let mut p = [0u8; 24];
        p[0] = 0x20; // version 1
        p[1] = 1 << 6; // Down
        p[2] = 3;
        p[3] = 24;
        p[7] = 9; // my discriminator 9, yours 0
        s.set_ttl(64).unwrap();
        s.send_to(&p, to).unwrap();
        s.set_ttl(255).unwrap();
        p[11] = 77; // your discriminator 77: no such session
        s.send_to(&p, to).unwrap();
    })
    .join()
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let bfd = lvsd.bfd_state(conf);
    assert_eq!(bfd["sessions"][0]["state"], "Up", "{bfd:#}");
    assert_eq!(bfd["drops"]["malformed"][0], 1, "short: {bfd:#}");
    assert_eq!(bfd["drops"]["wrong_ttl"], 1, "{bfd:#}");
    assert_eq!(bfd["drops"]["unknown_session"], 1, "{bfd:#}");
    lvsd.never(&removed, Duration::from_millis(500));

    // 2. The peer's timers change (its Poll), then lvsd's (a reload): no flap.
    bfdd.peer(&["transmit-interval 100", "receive-interval 100"]);
    lvsd.never(&removed, Duration::from_secs(2));
    std::fs::write(&*conf, config(80, CLIENT, BACKEND)).unwrap();
    lvsd.reload();
    lvsd.never(&removed, Duration::from_secs(2));
    // bfdd sees lvsd's new rate, and the session stayed up.
    let peers = bfdd.peers_with("Transmission interval: 80ms");
    assert!(peers.contains("Status: up"), "{peers}");
    bfdd.peer(&["transmit-interval 50", "receive-interval 50"]);
    lvsd.never(&removed, Duration::from_secs(1));
    // Nor at the peer: the session never went down (a restarted session
    // would, even if the real server stayed in the table).
    let counters = bfdd.vtysh(&["show bfd peers counters"]);
    assert!(
        counters.contains("Session down events: 0") && counters.contains("Session up events: 1"),
        "the session flapped at the peer:\n{counters}"
    );

    // 3. AdminDown, then back.
    bfdd.peer(&["shutdown"]);
    // Told, not timed out: the session is down with "Neighbor Signaled
    // Session Down", before any detection time could expire.
    lvsd.until("diag NeighborDown", Duration::from_secs(2));
    lvsd.until(&removed, Duration::from_secs(2));
    bfdd.peer(&["no shutdown"]);
    lvsd.until(&added, Duration::from_secs(10));
    lvsd.never(&removed, Duration::from_secs(1));

    // 4. The peer dies: Down within the detection time (3 × 50 ms) plus
    // one receive interval (50 ms).
    let killed = Instant::now();
    let _ = bfdd.child.kill();
    // The Down says why: how long the peer was silent, and what the
    // detection time was made of (the log and the removal come through two
    // pipes, in either order).
    const WHY: &str = "detection time expired: the peer's last packet arrived";
    let mut why = None;
    let (at, _) = lvsd
        .0
        .out
        .next_where("the removal", Duration::from_secs(2), |l| {
            if l.contains(WHY) {
                why = Some(l.to_string());
            }
            l.contains(&removed)
        });
    let down = at - killed;
    let why = why.unwrap_or_else(|| {
        let (_, line) = lvsd
            .0
            .out
            .next_where("why", Duration::from_secs(2), |l| l.contains(WHY));
        line
    });
    assert!(
        why.contains(
            "its Detect Mult 3 × max(its Desired Min TX 50.0 ms, our Required Min RX 50.0 ms)"
        ),
        "{why}"
    );
    eprintln!("lvsd: peer killed → real server removed in {down:?} (limit 200 ms)");
    assert!(
        down <= Duration::from_millis(200),
        "detected in {down:?}, more than detection time + one rx interval"
    );
}

#[test]
fn an_ipv6_session_with_frr_bfdd_comes_up_and_goes_down_when_the_peer_dies() {
    if !can_run_bfdd() {
        return;
    }
    let net = NetPair::new("bfd6");
    let mut rig = WithBfdd::start(&net, 50, (CLIENT6, BACKEND6));
    let WithBfdd { lvsd, bfdd, .. } = &mut rig;
    lvsd.until(
        &format!("-a -t [2001:db8:ff::1]:80 -r [{BACKEND6}]:80"),
        Duration::from_secs(10),
    );
    bfdd.peers_with("Status: up");
    let killed = Instant::now();
    let _ = bfdd.child.kill();
    let down = lvsd.until(
        &format!("-d -t [2001:db8:ff::1]:80 -r [{BACKEND6}]:80"),
        Duration::from_secs(2),
    ) - killed;
    eprintln!("lvsd (IPv6): peer killed → real server removed in {down:?} (limit 200 ms)");
    assert!(down <= Duration::from_millis(200), "detected in {down:?}");
}

/// keepalived 2.2.7 (`-C`, which still forks its BFD child) with one
/// `bfd_instance` towards lvsd; stopped when dropped.
struct Keepalived {
    child: Child,
    dir: PathBuf,
}

impl Keepalived {
    fn config(min_tx: u32) -> String {
        format!(
            "global_defs {{\n router_id peer\n}}\nbfd_instance lvsd {{\n neighbor_ip {CLIENT}\n \
             source_ip {BACKEND}\n min_rx 50\n min_tx {min_tx}\n multiplier 3\n}}\n"
        )
    }

    fn start(ns: &str, dir: &Path) -> Keepalived {
        std::fs::write(dir.join("peer.conf"), Keepalived::config(50)).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "keepalived", "-n", "-l", "-C", "-f"])
            .arg(dir.join("peer.conf"))
            .arg("-p")
            .arg(dir.join("k.pid"))
            .arg("-c")
            .arg(dir.join("c.pid"))
            .arg("-r")
            .arg(dir.join("v.pid"))
            .arg("-b")
            .arg(dir.join("b.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start keepalived");
        Keepalived {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// The BFD child's pid, once it has written it.
    fn bfd_pid(&self) -> libc::pid_t {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(pid) = std::fs::read_to_string(self.dir.join("b.pid"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "keepalived's BFD child did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(pid: libc::pid_t, signal: libc::c_int) {
        // SAFETY: kill(2) on keepalived's own processes, which this test
        // started (the parent is our child; the BFD child is its child).
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill {pid}");
    }

    fn reload(&self, min_tx: u32) {
        std::fs::write(self.dir.join("peer.conf"), Keepalived::config(min_tx)).unwrap();
        Keepalived::signal(self.child.id() as libc::pid_t, libc::SIGHUP);
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("b.pid")) {
            if let Ok(pid) = pid.trim().parse::<libc::pid_t>() {
                // SAFETY: as in `signal`; it may have gone: errors are moot.
                unsafe { libc::kill(pid, libc::SIGCONT) };
            }
        }
        // SAFETY: our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// keepalived 2.2.7's own BFD as the peer. It has no administrative
/// shutdown, and sends no AdminDown when it stops or drops the instance
/// (it goes silent): AdminDown is shown with bfdd above.
#[test]
fn a_session_with_keepalived_bfd_comes_up_survives_timer_changes_and_detects_a_silent_peer() {
    if !can_use_netns()
        || !can_run(
            Command::new("keepalived").arg("-v").output().is_ok(),
            "needs keepalived 2.2.7",
        )
    {
        return;
    }
    let net = NetPair::new("kbfd");
    let dir = tempfile::tempdir().unwrap();
    let keepalived = Keepalived::start(&net.backend, dir.path());
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, config(50, CLIENT, BACKEND)).unwrap();
    let lvsd = Lvsd::start(&net.client, &conf);
    let added = format!("-a -t 10.0.0.1:80 -r {BACKEND}:80");
    let removed = format!("-d -t 10.0.0.1:80 -r {BACKEND}:80");

    // 1. Up, at the fast rate both sides asked for.
    lvsd.until(&added, Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let bfd = lvsd.bfd_state(&conf);
        if bfd["sessions"][0]["detection_time"]["nanos"] == 150_000_000 {
            break;
        }
        assert!(Instant::now() < deadline, "never at 3 × 50 ms: {bfd:#}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // 2. The peer goes silent (its BFD child stopped): Down within the
    // detection time plus one receive interval.
    let bfd_child = keepalived.bfd_pid();
    let stopped = Instant::now();
    Keepalived::signal(bfd_child, libc::SIGSTOP);
    let down = lvsd.until(&removed, Duration::from_secs(2)) - stopped;
    eprintln!("lvsd: keepalived's BFD stopped → real server removed in {down:?} (limit 200 ms)");
    assert!(down <= Duration::from_millis(200), "detected in {down:?}");
    Keepalived::signal(bfd_child, libc::SIGCONT);
    lvsd.until(&added, Duration::from_secs(10));

    // 3. Timer changes: keepalived's (a reload), then lvsd's: no flap,
    // and lvsd's session is the same one (its discriminator kept).
    lvsd.never(&removed, Duration::from_secs(1));
    let disc = lvsd.bfd_state(&conf)["sessions"][0]["local_disc"].clone();
    keepalived.reload(100);
    lvsd.never(&removed, Duration::from_secs(3));
    std::fs::write(&conf, config(80, CLIENT, BACKEND)).unwrap();
    lvsd.reload();
    lvsd.never(&removed, Duration::from_secs(2));
    // lvsd sees keepalived's new rate: 3 × max(50, 100) ms.
    let bfd = lvsd.bfd_state(&conf);
    assert_eq!(bfd["sessions"][0]["state"], "Up", "{bfd:#}");
    assert_eq!(
        bfd["sessions"][0]["local_disc"], disc,
        "a new session: {bfd:#}"
    );
    assert_eq!(
        bfd["sessions"][0]["detection_time"]["nanos"], 300_000_000,
        "{bfd:#}"
    );
}

/// Port 3784 taken (another BFD daemon in lvsd's namespace): the
/// session cannot run, its real server is down with the reason, nothing
/// panics; the session tries again every 5 s, and runs once the port is free.
#[test]
fn a_taken_port_takes_the_real_server_down_with_why_until_it_is_free() {
    if !can_run_bfdd() {
        return;
    }
    let net = NetPair::new("bfdport");
    let (release, released) = mpsc::channel::<()>();
    let (bound, is_bound) = mpsc::channel();
    let holder = NetPair::spawn_in(&net.client, move || {
        let s = std::net::UdpSocket::bind(("0.0.0.0", 3784)).unwrap();
        bound.send(()).unwrap();
        let _ = released.recv();
        drop(s);
    });
    is_bound.recv().unwrap();
    let rig = WithBfdd::start(&net, 50, (CLIENT, BACKEND));
    let lvsd = &rig.lvsd;
    // The log's why (stderr) and the removal (stdout) come through two
    // pipes: either may be read first.
    let removal = format!("-d -t 10.0.0.1:80 -r {BACKEND}:80");
    let (mut why, mut removed) = (false, false);
    lvsd.0.out.next_where(
        "the log's why and the removal",
        Duration::from_secs(10),
        |l| {
            why |= l.contains("cannot listen on UDP port 3784");
            removed |= l.contains(&removal);
            why && removed
        },
    );
    release.send(()).unwrap();
    holder.join().unwrap();
    lvsd.reload();
    lvsd.until(
        &format!("-a -t 10.0.0.1:80 -r {BACKEND}:80"),
        Duration::from_secs(10),
    );
}

/// A field of a log line (`late_ms=85.3`), as a number.
fn field(line: &str, name: &str) -> f64 {
    let key = format!("{name}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&key))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in: {line}"))
}

/// The BFD thread's id in the process `pid` (its name is `lvsd-bfd`).
fn bfd_thread(pid: u32) -> rustix::process::Pid {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        if std::fs::read_to_string(task.join("comm")).is_ok_and(|c| c.trim() == "lvsd-bfd") {
            let tid: i32 = task.file_name().unwrap().to_str().unwrap().parse().unwrap();
            return rustix::process::Pid::from_raw(tid).unwrap();
        }
    }
    let names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .collect();
    panic!("no lvsd-bfd thread in {pid}: {names:?}");
}

/// The next "woke late" warning: (late_ms, run_delay_ms).
fn next_late_wake(lvsd: &Lvsd) -> (f64, f64) {
    let (_, line) = lvsd
        .0
        .out
        .next_where("a late wake-up", Duration::from_secs(3), |l| {
            l.contains("BFD thread woke late")
        });
    eprintln!("{line}");
    (field(&line, "late_ms"), field(&line, "run_delay_ms"))
}

/// The BFD thread wakes late twice, and each warning says which kind of
/// late it was from the scheduler's `run_delay`: kept off its CPU by a
/// SCHED_FIFO spinner (runnable, not running: most of the lateness), then
/// stopped (SIGSTOP: not runnable, next to none). Sessions at 100 ms
/// (detection 300 ms) outlast a 150 ms stall without a flap.
#[test]
fn a_late_wake_up_says_whether_the_bfd_thread_waited_for_a_cpu() {
    if !can_run_bfdd() {
        return;
    }
    let net = NetPair::new("bfdlate");
    let rig = WithBfdd::start(&net, 100, (CLIENT, BACKEND));
    let WithBfdd { lvsd, bfdd, .. } = &rig;
    bfdd.peers_with("Status: up");
    const STALL: Duration = Duration::from_millis(150);

    // 1. Busy: the BFD thread may run on CPU 0 only, where a SCHED_FIFO
    // thread spins for the stall.
    let mut cpu0 = rustix::thread::CpuSet::new();
    cpu0.set(0);
    rustix::thread::sched_setaffinity(Some(bfd_thread(lvsd.0.pid())), &cpu0).unwrap();
    lvsd.0.out.within(Duration::from_millis(300));
    std::thread::spawn(move || {
        rustix::thread::sched_setaffinity(None, &cpu0).unwrap();
        let param = libc::sched_param { sched_priority: 1 };
        // SAFETY: pid 0 is this thread; `param` is initialised and only read.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        assert_eq!(rc, 0, "SCHED_FIFO: {}", std::io::Error::last_os_error());
        let start = Instant::now();
        while start.elapsed() < STALL {
            std::hint::spin_loop();
        }
    })
    .join()
    .unwrap();
    let (late, run_delay) = next_late_wake(lvsd);
    assert!(
        run_delay >= late / 2.0,
        "kept off its CPU for {late} ms, yet queued only {run_delay} ms"
    );

    // 2. Stopped: late as much, but never runnable meanwhile.
    lvsd.0.out.within(Duration::from_millis(300));
    lvsd.0.signal(libc::SIGSTOP);
    std::thread::sleep(STALL);
    lvsd.0.signal(libc::SIGCONT);
    let (late, run_delay) = next_late_wake(lvsd);
    assert!(
        run_delay < late / 2.0,
        "stopped for {late} ms, yet queued {run_delay} ms"
    );
}
