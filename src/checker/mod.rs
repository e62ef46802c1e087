//! The checker engine: one probe per distinct target and check, each on its
//! own timer with keepalived's timing, reporting verdicts as [`HealthEvent`]s.
//!
//! A probe is identified by its [`ProbeSpec`]: the check as configured
//! (target, source, timeouts, retry schedule). Two real servers of different
//! virtual servers whose checks are equal share one probe; the reconciler
//! maps each probe's verdict back to every real server that listed it.
//!
//! - [`engine`]: the [`Engine`]: the probe set, diffs on reload, states.
//! - [`driver`]: the prober thread: timers and sockets in one epoll loop
//!   (`driver/web.rs`: its `HTTP_GET` and `SSL_GET` attempts).
//! - `conns`: the prober's open attempts: sockets, owners, phases.
//! - `epoll`: the prober's epoll, owned whole (one-shot and
//!   level-triggered registrations), and its waker.
//! - `timers`: the prober's timers: sorted queues per interval for
//!   probes and attempt deadlines, a heap for the rest.
//! - [`probe_table`]: the probes, as the engine and the prober share them.
//! - [`schedule`]: keepalived's timing and retry rules, as pure logic
//!   (`schedule/urls.rs`: `HTTP_GET`'s per-url rules).
//! - [`tcp`]: `TCP_CHECK`, with a close that never leaves an RST behind.
//! - [`http`]: `HTTP_GET` and `SSL_GET`: the request, one url per
//!   connection, the exchange as a state machine over a non-blocking
//!   socket (the prober's and one-off probes'), the close.
//! - [`http_answer`]: an HTTP answer judged as keepalived judges it.
//! - `http_answer_tests`: its unit tests.
//! - [`tls`]: `SSL_GET`'s TLS layer (a sync rustls connection the exchange
//!   drives): any certificate, SNI, client certificate, sessions resumed
//!   per target, close_notify then FIN.
//! - [`tls_verify`]: what `SSL_GET` checks of a server's certificate: only
//!   that the server holds its key.
//! - [`misc`]: `MISC_CHECK`, a command's exit status.
//! - [`smtp`]: `SMTP_CHECK`: banner, `HELO`, `QUIT`, and a FIN.
//! - [`dns`]: `DNS_CHECK`: one UDP query, judged on its answer's RCODE.
//! - [`file_check`]: `FILE_CHECK`: a tracked file's number and its verdict.
//! - [`file_watch`]: the thread that watches tracked files with inotify.
//! - [`bfd_runner`]: the thread that runs `BFD_CHECK`s' BFD sessions (the
//!   protocol itself is in `crate::bfd`).
//! - [`bfd_status`]: the BFD sessions and dropped packets, for the state dump.
//! - `side_thread`: how the engine starts, commands and stops those two
//!   threads (the file watcher's, the BFD thread).
//! - `datagram`: `UDP_CHECK`, `PING_CHECK` and `DNS_CHECK` attempts on the
//!   prober thread, each probe's socket kept across its passing attempts.
//! - [`udp`]: `UDP_CHECK`, one datagram; ICMP unreachable fails, silence passes.
//! - [`ping`]: `PING_CHECK`, an ICMP/ICMPv6 echo and its reply.
//! - [`probe`]: one attempt of the kinds that run on tokio, bounded in time
//!   (and one-off attempts of every kind).
//! - [`fuzz_input`]: arbitrary bytes as a UDP or PING reply (fuzzing).
//! - [`lag`]: how late probes start, for the benchmark and metrics.
//! - `outbox`: the prober's verdicts, sent to the daemon in batches.
//!
//! Every kind keepalived 2.2.7 knows is probed (`BFD_CHECK` through the
//! sessions `bfd_runner` runs). lvsd never reports a real server healthy
//! for a check it does not perform: a kind it did not probe would be refused
//! by the config (`CheckKw::is_probed` is the one list),
//! and should one reach the engine anyway it is reported **down**.

pub mod bfd_runner;
pub mod bfd_status;
mod conns;
mod datagram;
pub mod dns;
pub mod driver;
pub mod engine;
mod epoll;
pub mod file_check;
pub mod file_watch;
pub mod fuzz_input;
pub mod http;
pub mod http_answer;
#[cfg(test)]
mod http_answer_tests;
pub mod lag;
pub mod misc;
mod outbox;
pub mod ping;
pub mod probe;
pub mod probe_table;
pub mod schedule;
mod side_thread;
pub mod smtp;
pub mod tcp;
mod timers;
pub mod tls;
pub mod tls_verify;
pub mod udp;

pub use engine::{Engine, ProbeState};
pub use lag::LagHistogram;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::Check;

/// What one probe checks, with its schedule: the identity of a probe.
///
/// Equal specs are probed once. A check compares as the probe it makes,
/// wherever it was written (see [`crate::config::CheckCommon`]), so the
/// same check written in two virtual servers is still one probe. The check is shared with the config
/// that wrote it: a spec costs a pointer, not a copy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ProbeSpec {
    /// The check.
    pub check: Arc<Check>,
}

impl ProbeSpec {
    /// The probe of a check, as a copy (tests, one-off probes).
    pub fn new(check: &Check) -> Self {
        ProbeSpec {
            check: Arc::new(check.clone()),
        }
    }

    /// The probe of a config's check, sharing it.
    pub fn shared(check: &Arc<Check>) -> Self {
        ProbeSpec {
            check: Arc::clone(check),
        }
    }
}

/// The outcome of one probe attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    /// Whether the check passed.
    pub ok: bool,
    /// Why it failed ("connection refused", "timed out after 2 s"), or
    /// what succeeded ("connected"). The common reasons are static text, so
    /// a passing probe allocates nothing for its result.
    pub reason: std::borrow::Cow<'static, str>,
    /// Time from start to verdict (the handshake latency on success); in
    /// seconds in the state dump.
    #[serde(serialize_with = "crate::config::seconds::serialize")]
    pub latency: Duration,
    /// What the check asks of its real servers' weight (see [`WeightAsk`]);
    /// `None` for most results.
    pub weight: Option<WeightAsk>,
}

/// What a probe's result asks of the weight of the real servers it serves.
///
/// The reconciler keeps the latest ask of each probe (a reload keeps those
/// of the probes that stay) and gives a real server that is up the weight
/// `base + Σ Add`, clamped to 0..=2147483647 as keepalived's effective
/// weight is: `base` is the first `Set` among its probes, else the
/// configured weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WeightAsk {
    /// `MISC_CHECK` with `misc_dynamic` that exited 2–255: this weight (the
    /// status minus 2) in place of the configured one. Exit 0 asks nothing:
    /// the weight stays as it is.
    Set(u32),
    /// `FILE_CHECK` with a weight: value × weight added to the weight
    /// (0 when the value is 0, or when the check fails).
    Add(i32),
}

/// Which probe a verdict is about, in the numbering of the engine's
/// caller: the key it gave the probe in the latest
/// [`Engine::set_keyed_probes`] that listed it, and that call's number.
///
/// The daemon numbers its probes (`reconcile/probe_index.rs`) and gives the
/// engine those numbers; a verdict whose `set` is the daemon's latest call
/// names its probe by number, and the daemon finds it with one array index
/// instead of looking up the spec (a hash and two cache misses a verdict,
/// some 1.5% of lvsd's CPU at 5,000 probes a second). A verdict from an
/// earlier call (sent before a reload) is found by its spec, as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProbeKey {
    /// The number of the `set_keyed_probes` call the key comes from.
    pub set: u32,
    /// The caller's key ([`ProbeKey::NONE`] from [`Engine::set_probes`]).
    pub key: u32,
}

impl ProbeKey {
    /// The key of a probe its caller gave none.
    pub const NONE: u32 = u32::MAX;
}

/// A probe's verdict after keepalived's retry rules were applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthEvent {
    /// Which probe (shared with the engine: an event costs no spec copy).
    pub probe: std::sync::Arc<ProbeSpec>,
    /// Which probe, by its caller's key (see [`ProbeKey`]).
    pub key: ProbeKey,
    /// The health state after this result.
    pub up: bool,
    /// Whether `up` changed with this result (false for a plain report).
    pub changed: bool,
    /// The result that led here.
    pub result: ProbeResult,
}
