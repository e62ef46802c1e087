//! The floor of a BFD implementation on this machine: as many packets as
//! lvsd's `n` sessions sent (their mean gap is ~44 ms of 50: RFC 5880's
//! jitter draws 75–100 %), sent and received by a minimal C program
//! (`bench/floor/bfd_floor.c`: a timerfd every 2 ms, `recvmmsg` of
//! whatever came, `sendmmsg` of the packets due, no state machine), one in
//! each namespace of a [`Pair`], each measured from `/proc` as lvsd is.
//! What lvsd costs beyond it is its own; the floor itself is the kernel's
//! (and on a veth, the receiver's path runs in the sender's softirq, so
//! each side also pays for part of the other's).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::pair::Pair;
use super::usage::{cpu, medians, ran};
use crate::dry_run_support::Killed;

/// How the floor sends (`bfd_floor`'s MODE).
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// One unconnected socket, source and TTL in control messages,
    /// `sendmmsg`: lvsd's way.
    Shared,
    /// One socket a session, bound and connected, one `send` a packet.
    Connected,
}

/// Builds `bfd_floor` into `dir`.
pub fn build(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/floor/bfd_floor.c");
    let bin = dir.join("bfd_floor");
    let ok = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("cc");
    assert!(ok.success(), "cc {}", src.display());
    bin
}

/// What a floor run measured: CPU % of a core of the `c` side (ticks and
/// schedstat run time), and of the `b` side (ticks).
pub struct Floor {
    pub c: f64,
    pub c_ran: f64,
    pub b: f64,
}

/// Runs the floor in both namespaces of `pair`, a packet every
/// `interval_ms` a session; the
/// median of `rounds` windows of `window`, after a second's warm-up.
pub fn run(
    bin: &Path,
    pair: &Pair,
    mode: Mode,
    interval_ms: f64,
    rounds: u64,
    window: Duration,
) -> Floor {
    let mode = match mode {
        Mode::Shared => "shared",
        Mode::Connected => "connected",
    };
    let length = (window.as_secs_f64() * rounds as f64 + 30.0).to_string();
    let n = pair.n.to_string();
    let interval = format!("{interval_ms:.3}");
    let start = |ns: &str, ours: &str, peer: &str| {
        Killed(
            Command::new("ip")
                .args(["netns", "exec", ns])
                .arg(bin)
                .args([mode, &n, &interval, &length, ours, peer])
                .stdout(Stdio::null())
                .spawn()
                .expect("bfd_floor"),
        )
    };
    let c = start(&pair.c.0, "10.201", "10.200");
    let b = start(&pair.b.0, "10.200", "10.201");
    std::thread::sleep(Duration::from_secs(1));
    let (c_pid, b_pid) = (c.0.id(), b.0.id());
    let (c_stat, b_stat) = (format!("/proc/{c_pid}/stat"), format!("/proc/{b_pid}/stat"));
    let [c_cpu, c_ran, b_cpu] = medians(
        rounds,
        window,
        || [cpu(&c_stat), ran(c_pid), cpu(&b_stat)],
        |end| std::thread::sleep(end.saturating_duration_since(std::time::Instant::now())),
    );
    Floor {
        c: 100.0 * c_cpu,
        c_ran: 100.0 * c_ran,
        b: 100.0 * b_cpu,
    }
}
