//! Prometheus metrics and the read-only HTTP listener (`--metrics-listen
//! ADDR`, off by default): `/metrics` (OpenMetrics text, prometheus-client),
//! `/status` (the SIGUSR1 state dump as JSON), `/healthz` and `/readyz`.
//! `docs/metrics.md` lists every series with example queries.
//!
//! ```text
//!  event loop ── verdicts, writes, reloads ──▶ Counters (atomics, fixed labels)
//!      ▲  │
//!      │  └── per scrape: Snapshot (rows per destination/service) ──▶ text, piece by piece
//!      └──── Request (metrics | status | health) ◀── HTTP listener (hyper, bounded)
//! ```
//!
//! Nothing is counted on the prober thread: the event loop counts the
//! verdicts it already receives, and the schedule lag is the histogram the
//! prober always kept (`src/checker/lag.rs`). Per-server series are read at
//! scrape time from the reconciler, so a reload that removes a real server
//! removes its series, and nothing per server is kept in between but its
//! transition counts.
//!
//! Its files:
//!
//! - [`counters`]: [`Counters`]: checks, failures, durations, table writes,
//!   reloads, drift, scripts (fixed labels, one registry for the daemon's life).
//! - [`gauges`]: what is read at scrape time: config size, probes, schedule lag.
//! - [`health`]: `/healthz`: the loop turns, the prober turns, probes start on time.
//! - [`kind`]: the `check` label.
//! - [`labels`]: node_exporter's IPVS labels, formatted as it formats them.
//! - [`process`]: the `process_*` series (start time, CPU, memory, open files).
//! - [`reason`]: failure reasons as a fixed set of values.
//! - [`server`]: the HTTP listener and its bounds.
//! - [`snapshot`]: one scrape's rows and their encoding, piece by piece.
//! - [`transitions`]: per-real-server up/down counts, kept across reloads.

pub mod counters;
pub mod gauges;
pub mod health;
pub mod kind;
pub mod labels;
pub mod process;
pub mod reason;
pub mod server;
pub mod snapshot;
pub mod transitions;

use std::net::SocketAddr;

pub use counters::Counters;
pub use health::{Health, HealthJudge};
pub use kind::CheckKind;
pub use reason::FailureReason;
pub use server::Request;
pub use snapshot::{DestRow, ServiceRow, Snapshot};
pub use transitions::Transitions;

/// How the metrics listener was asked to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsOptions {
    /// `--metrics-listen`.
    pub listen: SocketAddr,
    /// `--metrics-per-real-server`: per-destination series (else only
    /// per-service counts, for very large tables).
    pub per_real_server: bool,
}

/// The MD5 of a resolved config, as `lvsd_config_info{md5}` shows it: the
/// same on two directors that run the same effective config.
pub fn config_hash(config: &crate::config::Config) -> String {
    let mut md5 = md5::Context::new();
    // Serialising the model cannot fail (no maps with non-string keys); if
    // it ever did, the hash of what was written is still a hash.
    let _ = serde_json::to_writer(&mut md5, config);
    format!("{:x}", md5.finalize())
}
