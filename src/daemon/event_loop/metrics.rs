//! The daemon's side of the metrics: what it counts as it runs, and its
//! answers to the HTTP listener (`src/metrics/`). Without
//! `--metrics-listen` none of this exists and every hook is one `None` test.

use std::time::Instant;

use tokio::sync::mpsc;

use super::*;
use crate::checker::ProbeResult;
use crate::metrics::gauges::Gauges;
use crate::metrics::labels::{DestLabels, ServiceLabels};
use crate::metrics::snapshot::{DestRow, Format, ServiceRow};
use crate::metrics::transitions::Flips;
use crate::metrics::{
    server, CheckKind, Counters, HealthJudge, MetricsOptions, Request, Snapshot, Transitions,
};

/// Requests the listener may queue before it waits.
const QUEUED_REQUESTS: usize = 8;

/// What the daemon keeps for the metrics.
#[derive(Debug)]
pub(super) struct DaemonMetrics {
    options: MetricsOptions,
    pub(super) counters: Counters,
    transitions: Transitions,
    judge: HealthJudge,
    /// The hash of a config being switched to (see `hash_for_metrics`).
    next_hash: Option<String>,
    /// The listener's requests.
    pub(super) requests: mpsc::Receiver<Request>,
    /// Told to the listener once lvsd has started.
    started: server::Started,
}

impl DaemonMetrics {
    /// Binds the listener and starts serving it on this runtime.
    pub(super) async fn start(
        options: MetricsOptions,
        config_file: &std::path::Path,
        config: &Config,
    ) -> Result<DaemonMetrics, DaemonError> {
        let listener = server::bind(options.listen).await.map_err(|e| {
            DaemonError::Setting(format!(
                "--metrics-listen {}: cannot listen: {e}",
                options.listen
            ))
        })?;
        let bound = listener.local_addr().map_err(DaemonError::io(
            "--metrics-listen: cannot read the bound address",
        ))?;
        let (tx, requests) = mpsc::channel(QUEUED_REQUESTS);
        let started = server::Started::default();
        tokio::spawn(server::serve(listener, tx, started.clone()));
        tracing::info!(
            listen = %bound,
            "metrics: serving /metrics, /status, /healthz and /readyz"
        );
        let counters = Counters::new();
        counters.config_loaded(config_file, crate::metrics::config_hash(config));
        Ok(DaemonMetrics {
            options,
            counters,
            transitions: Transitions::default(),
            judge: HealthJudge::default(),
            next_hash: None,
            requests,
            started,
        })
    }
}

impl Daemon {
    /// Counts a probe result.
    pub(super) fn count_verdict(&self, probe: &crate::checker::ProbeSpec, result: &ProbeResult) {
        if let Some(m) = &self.metrics {
            m.counters.verdict(
                CheckKind::of(&probe.check),
                result.ok,
                &result.reason,
                result.latency,
            );
        }
    }

    /// Counts applied table changes.
    pub(super) fn count_writes(&self, ops: &[TableOp], results: &[Result<(), IpvsError>]) {
        if let Some(m) = &self.metrics {
            for (op, result) in ops.iter().zip(results) {
                m.counters.table_write(op, result.is_ok());
            }
        }
    }

    /// Counts what a plan saw: transitions and scripts.
    pub(super) fn count_plan(&mut self, plan: &Plan) {
        if let Some(m) = &mut self.metrics {
            m.transitions
                .record(self.reconciler.config(), &plan.transitions);
            for run in &plan.scripts {
                m.counters.script(run.event);
            }
        }
    }

    /// Hashes a config about to run, for `lvsd_config_info`, on a blocking
    /// thread: serialising 100,000 real servers takes a few hundred ms,
    /// which the event loop should not wait for. Hands the config back.
    pub(super) async fn hash_for_metrics(&mut self, config: Config) -> Config {
        let Some(m) = &mut self.metrics else {
            return config;
        };
        let hashed = tokio::task::spawn_blocking(move || {
            let hash = crate::metrics::config_hash(&config);
            (config, hash)
        })
        .await;
        match hashed {
            Ok((config, hash)) => {
                m.next_hash = Some(hash);
                config
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Counts a reload, applied (the new config runs) or refused.
    pub(super) fn count_reload(&mut self, applied: bool) {
        if let Some(m) = &mut self.metrics {
            m.counters.reload(applied);
            if applied {
                let hash = m.next_hash.take().unwrap_or_default();
                m.counters.config_loaded(&self.opts.config, hash);
                m.transitions.retain(self.reconciler.config());
            }
        }
    }

    /// The next request of the listener (never, without one).
    pub(super) async fn next_request(metrics: &mut Option<DaemonMetrics>) -> Option<Request> {
        match metrics {
            Some(m) => m.requests.recv().await,
            None => std::future::pending().await,
        }
    }

    /// lvsd has started: `/readyz` answers 200 from now on.
    pub(super) fn tell_started(&self) {
        if let Some(m) = &self.metrics {
            m.started.set();
        }
    }

    /// Counts a drain that ended.
    pub(super) fn count_drain(&self, end: &crate::reconcile::drain::DrainEnd) {
        if let Some(m) = &self.metrics {
            m.counters.drain_ended(end);
        }
    }

    /// Counts a drift check that found `changed` services changed.
    pub(super) fn count_drift(&self, changed: usize) {
        if let Some(m) = &self.metrics {
            m.counters.drift_checked(changed);
        }
    }

    /// Answers one request of the listener.
    pub(super) async fn answer(&mut self, request: Request) {
        match request {
            Request::Metrics(format, reply) => {
                let snapshot = self.snapshot(format);
                let _ = reply.send(snapshot);
            }
            Request::Status(reply) => {
                let dump = self.state_dump().await;
                let json = serde_json::to_vec_pretty(&dump).unwrap_or_else(|e| {
                    format!("{{\"error\": \"cannot encode the state: {e}\"}}").into_bytes()
                });
                let _ = reply.send(json);
            }
            Request::Ready(reply) => {
                let missing = self.reconciler.probes_without_verdict();
                let ready = match missing {
                    0 => "ready: every probe has given a verdict".to_owned(),
                    n => format!(
                        "ready: the table is written; {n} of {} probes have not given their first verdict yet",
                        self.reconciler.probe_count()
                    ),
                };
                let _ = reply.send(ready);
            }
            Request::Health(reply) => {
                let lag = self.engine.lag();
                let health = match &mut self.metrics {
                    Some(m) => m.judge.judge(lag, Instant::now()),
                    None => Ok("ok".to_owned()),
                };
                let _ = reply.send(health);
            }
        }
    }

    /// The scrape's data, read now.
    fn snapshot(&self, format: Format) -> Snapshot {
        let Some(m) = &self.metrics else {
            return Snapshot::default();
        };
        let mut head = String::new();
        format.encode(&mut head, m.counters.registry());
        let config = self.reconciler.config();
        let mut dests = Vec::new();
        if m.options.per_real_server {
            let mut last: Option<(usize, usize, Flips)> = None;
            self.reconciler.each_dest(|d| {
                let flips = match last {
                    Some((v, r, counts)) if v == d.vs && r == d.rs => counts,
                    _ => {
                        let counts = m.transitions.of(config, d.vs, d.rs);
                        last = Some((d.vs, d.rs, counts));
                        counts
                    }
                };
                dests.push(DestRow {
                    labels: DestLabels {
                        service: d.service,
                        addr: d.addr,
                        port: d.port,
                    },
                    up: d.up,
                    weight: i64::from(d.weight.unwrap_or(0)),
                    configured_weight: i64::from(d.configured_weight),
                    to_up: flips.to_up,
                    to_down: flips.to_down,
                });
            });
        }
        let mut services = Vec::new();
        self.reconciler.each_service(|s| {
            services.push(ServiceRow {
                labels: ServiceLabels(s.service),
                real_servers: s.real_servers as u64,
                up: s.up as u64,
                quorum_up: s.quorum_up,
            });
        });
        let mut probes = [0u64; CheckKind::ALL.len()];
        for (spec, _) in self.reconciler.probes() {
            probes[CheckKind::of(&spec.check).index()] += 1;
        }
        let gauges = Gauges {
            virtual_servers: config.virtual_servers.len() as u64,
            real_servers: config
                .virtual_servers
                .iter()
                .map(|vs| vs.real_servers.len() as u64)
                .sum(),
            probes,
            ..Gauges::default()
        };
        crate::metrics::gauges::encode(&mut head, format, gauges.with_lag(self.engine.lag()));
        crate::metrics::process::encode(&mut head, format);
        Snapshot {
            format,
            head,
            dests: dests.into(),
            services: services.into(),
        }
    }
}
