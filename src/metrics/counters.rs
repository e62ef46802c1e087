//! What the daemon counts as it runs: verdicts, table writes, reloads, drift
//! repairs, scripts. Every family here has a fixed, small set of label values
//! (no per-target labels), so they live in one prometheus-client
//! [`Registry`] for the daemon's lifetime; the per-server series are built at
//! scrape time instead (`snapshot.rs`).
//!
//! Everything is counted on the daemon's event loop, from what it already
//! handles (each verdict arrives there as a `HealthEvent`): the prober thread
//! does no extra work for metrics. A count is an atomic add on a counter
//! found under an uncontended read lock; nothing allocates once a label
//! value has been seen.
//!
//! Adding a counter is a field and one `register` line in [`Counters::new`]
//! (and a call where it happens), as `drains` shows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::kind::CheckKind;
use super::reason::FailureReason;
use crate::ipvs::TableOp;
use crate::reconcile::drain::DrainEnd;

/// `result` of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum CheckResult {
    /// The check passed.
    success,
    /// It failed.
    failure,
}

/// `{check, result}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CheckLabels {
    /// The checker kind.
    pub check: CheckKind,
    /// Passed or failed.
    pub result: CheckResult,
}

/// `{check, reason}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FailureLabels {
    /// The checker kind.
    pub check: CheckKind,
    /// Why it failed.
    pub reason: FailureReason,
}

/// `{check}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabel {
    /// The checker kind.
    pub check: CheckKind,
}

/// `op` of a table write, named after the kernel's commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum WriteOp {
    /// `IPVS_CMD_NEW_SERVICE`.
    add_service,
    /// `IPVS_CMD_SET_SERVICE`.
    edit_service,
    /// `IPVS_CMD_DEL_SERVICE`.
    del_service,
    /// `IPVS_CMD_NEW_DEST`.
    add_dest,
    /// `IPVS_CMD_SET_DEST`.
    edit_dest,
    /// `IPVS_CMD_DEL_DEST`.
    del_dest,
}

impl WriteOp {
    fn of(op: &TableOp) -> WriteOp {
        match op {
            TableOp::AddService(_) => WriteOp::add_service,
            TableOp::UpdateService(_) => WriteOp::edit_service,
            TableOp::RemoveService(_) => WriteOp::del_service,
            TableOp::AddDest(..) => WriteOp::add_dest,
            TableOp::UpdateDest(..) => WriteOp::edit_dest,
            TableOp::RemoveDest(..) => WriteOp::del_dest,
        }
    }
}

/// `result` of a write or a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// It worked.
    success,
    /// It was refused.
    failure,
}

/// `{op, result}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct WriteLabels {
    /// The command.
    pub op: WriteOp,
    /// Accepted or refused by the kernel.
    pub result: Outcome,
}

/// `{result}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResultLabel {
    /// Success or failure.
    pub result: Outcome,
}

/// `{result}` of a drain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DrainLabel {
    /// How it ended, in the log's and `lvsd ctl`'s word
    /// ([`DrainEnd::word`]: `completed`, `timed_out`, `gone`).
    pub result: &'static str,
}

/// `{script}`: which of keepalived's notify scripts ran.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ScriptLabel {
    /// `notify_up`, `notify_down`, `quorum_up`, `quorum_down`.
    pub script: &'static str,
}

/// `{config_file, md5}` of `lvsd_config_info` (a gauge at 1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ConfigLabels {
    /// The main config file.
    pub config_file: String,
    /// The MD5 of the resolved config (see [`super::config_hash`]).
    pub md5: String,
}

/// The buckets of `lvsd_check_duration_seconds`: sub-millisecond on a LAN up
/// to keepalived's default `connect_timeout` of 5 s and beyond.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Makes the per-kind duration histograms.
#[derive(Debug, Clone)]
struct DurationHistogram;

impl MetricConstructor<Histogram> for DurationHistogram {
    fn new_metric(&self) -> Histogram {
        Histogram::new(DURATION_BUCKETS)
    }
}

/// The daemon's counters, registered once.
#[derive(Debug)]
pub struct Counters {
    registry: Registry,
    checks: Family<CheckLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    durations: Family<KindLabel, Histogram, DurationHistogram>,
    writes: Family<WriteLabels, Counter>,
    reloads: Family<ResultLabel, Counter>,
    last_reload_successful: Gauge,
    last_reload_success: Gauge<f64, std::sync::atomic::AtomicU64>,
    config_info: Family<ConfigLabels, Gauge>,
    drift_checks: Counter,
    drift_repairs: Counter,
    scripts: Family<ScriptLabel, Counter>,
    drains: Family<DrainLabel, Counter>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}

impl Counters {
    /// Every family registered, each at zero.
    pub fn new() -> Counters {
        let mut registry = Registry::with_prefix("lvsd");
        let c = Counters {
            registry: Registry::default(),
            checks: Family::default(),
            failures: Family::default(),
            durations: Family::new_with_constructor(DurationHistogram),
            writes: Family::default(),
            reloads: Family::default(),
            last_reload_successful: Gauge::default(),
            last_reload_success: Gauge::default(),
            config_info: Family::default(),
            drift_checks: Counter::default(),
            drift_repairs: Counter::default(),
            scripts: Family::default(),
            drains: Family::default(),
        };
        c.register(&mut registry);
        c.last_reload_successful.set(1);
        Counters { registry, ..c }
    }

    /// Name and describe every counter in `r` (the handles share their
    /// values with the copies `r` keeps).
    fn register(&self, r: &mut Registry) {
        let c = self;
        r.register(
            "build",
            "lvsd's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        r.register(
            "checks",
            "Check results, by checker kind and result",
            c.checks.clone(),
        );
        r.register(
            "check_failures",
            "Failed check results, by checker kind and reason (a fixed set, see docs/metrics.md)",
            c.failures.clone(),
        );
        r.register_with_unit(
            "check_duration",
            "How long check attempts took, start to verdict",
            Unit::Seconds,
            c.durations.clone(),
        );
        r.register(
            "ipvs_writes",
            "Changes sent to the IPVS table, by command and result",
            c.writes.clone(),
        );
        r.register(
            "config_reloads",
            "Config reloads, by result",
            c.reloads.clone(),
        );
        r.register(
            "config_last_reload_successful",
            "Whether the last reload was applied (1) or refused (0)",
            c.last_reload_successful.clone(),
        );
        r.register(
            "config_last_reload_success_timestamp_seconds",
            "When the running config was last loaded (start or reload), Unix time",
            c.last_reload_success.clone(),
        );
        r.register(
            "config_info",
            "The running config: its file and the MD5 of the resolved config",
            c.config_info.clone(),
        );
        r.register(
            "drift_checks",
            "Comparisons of the kernel's table with lvsd's",
            c.drift_checks.clone(),
        );
        r.register(
            "drift_repairs",
            "Services found changed outside lvsd and put back",
            c.drift_repairs.clone(),
        );
        r.register(
            "scripts",
            "notify_up/notify_down/quorum_up/quorum_down scripts started",
            c.scripts.clone(),
        );
        r.register(
            "drains",
            "Drains of real servers that ended, by how (completed, timed_out, gone)",
            c.drains.clone(),
        );
    }

    /// A drain ended.
    pub fn drain_ended(&self, end: &DrainEnd) {
        self.drains
            .get_or_create(&DrainLabel { result: end.word() })
            .inc();
    }

    /// One check result.
    pub fn verdict(&self, kind: CheckKind, ok: bool, reason: &str, took: Duration) {
        let result = if ok {
            CheckResult::success
        } else {
            CheckResult::failure
        };
        self.checks
            .get_or_create(&CheckLabels {
                check: kind,
                result,
            })
            .inc();
        if !ok {
            let reason = FailureReason::classify(kind, reason);
            self.failures
                .get_or_create(&FailureLabels {
                    check: kind,
                    reason,
                })
                .inc();
        }
        self.durations
            .get_or_create(&KindLabel { check: kind })
            .observe(took.as_secs_f64());
    }

    /// One table write and whether the kernel took it.
    pub fn table_write(&self, op: &TableOp, ok: bool) {
        let result = if ok {
            Outcome::success
        } else {
            Outcome::failure
        };
        self.writes
            .get_or_create(&WriteLabels {
                op: WriteOp::of(op),
                result,
            })
            .inc();
    }

    /// A config now runs (at start or after a reload): its file and hash.
    pub fn config_loaded(&self, file: &std::path::Path, md5: String) {
        self.config_info.clear();
        self.config_info
            .get_or_create(&ConfigLabels {
                config_file: file.display().to_string(),
                md5,
            })
            .set(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_reload_success.set(now);
    }

    /// A reload applied or refused.
    pub fn reload(&self, ok: bool) {
        let result = if ok {
            Outcome::success
        } else {
            Outcome::failure
        };
        self.reloads.get_or_create(&ResultLabel { result }).inc();
        self.last_reload_successful.set(i64::from(ok));
    }

    /// A drift check, and how many services it found changed.
    pub fn drift_checked(&self, changed: usize) {
        self.drift_checks.inc();
        self.drift_repairs.inc_by(changed as u64);
    }

    /// A notify or quorum script started (`event`: `notify_up`, ...).
    pub fn script(&self, event: &'static str) {
        self.scripts
            .get_or_create(&ScriptLabel { script: event })
            .inc();
    }

    /// The registered families, for the scrape.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::snapshot::Format;

    #[test]
    fn the_classic_format_types_the_build_info_as_a_gauge() {
        let c = Counters::new();
        let mut out = String::new();
        Format::Text.encode(&mut out, c.registry());
        assert!(out.contains("# TYPE lvsd_build_info gauge\n"), "{out}");
    }
}
