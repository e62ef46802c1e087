//! What each control request does to the running lvsd (the socket itself
//! is `crate::control`): changes to the admin state, checks run on demand,
//! reloads that answer. Reads (`status`, `show`) are in `ctl_show.rs`.
//!
//! Every change goes the one way a verdict goes: the admin state changes,
//! the reconciler plans the virtual servers concerned, the table follows,
//! and the admin state is written to `admin-state.json`.

use std::time::Duration;

use super::Daemon;
use crate::checker::probe;
use crate::control::protocol::{ErrorKind, Request, Response, ShowWhat};
use crate::control::selector::{RsSelector, VsSelector};
use crate::control::server::Job;
use crate::control::view;
use crate::ipvs::DestKey;
use crate::reconcile::admin::{now_ms, Drain, RsAdmin};
use crate::reconcile::{describe_vs, rs_name};

/// The default timeout of `ctl drain` when `--drain-timeout` is 0 (which
/// only means: a reload deletes at once).
pub const CTL_DRAIN_DEFAULT: Duration = Duration::from_secs(300);

/// The largest weight IPVS and keepalived accept.
const MAX_WEIGHT: i32 = 65_535;

impl Daemon {
    /// Answer one control request.
    pub(super) async fn on_ctl(&mut self, job: Job) {
        let response = match job.request {
            Request::Status {} => Response::ok(self.status_view()),
            Request::Show { what, vs } => match self.vs_filter(vs.as_deref()) {
                Err(e) => e,
                Ok(filter) => match what {
                    ShowWhat::Vs => Response::ok(self.vs_views(filter.as_ref())),
                    ShowWhat::Rs => Response::ok(self.rs_views(filter.as_ref()).await),
                    ShowWhat::Probes => Response::ok(self.probe_views()),
                },
            },
            Request::Drain { rs, vs, timeout } => self.ctl_drain(&rs, vs.as_deref(), timeout).await,
            Request::Disable { rs, vs } => {
                self.change(&rs, vs.as_deref(), |a| a.disabled = true).await
            }
            Request::Enable { rs, vs } => {
                self.change(&rs, vs.as_deref(), |a| {
                    a.disabled = false;
                    a.drain = None;
                })
                .await
            }
            Request::Weight { rs, vs, weight } => match weight {
                Some(w) if !(0..=MAX_WEIGHT).contains(&w) => Response::error(
                    ErrorKind::BadRequest,
                    format!("weight {w} is out of range: 0 to {MAX_WEIGHT}, or `reset`"),
                ),
                _ => self.change(&rs, vs.as_deref(), |a| a.weight = weight).await,
            },
            Request::Check { rs, vs } => match self.targets(&rs, vs.as_deref()) {
                Err(e) => e,
                Ok(targets) => {
                    // Checks take up to their connect_timeout: answered from
                    // a task of their own, the event loop goes on.
                    let runs = self.check_runs(&targets);
                    let policy = self.policy;
                    tokio::spawn(async move {
                        let results = run_checks(runs, policy).await;
                        let _ = job.reply.send(Response::ok(results));
                    });
                    return;
                }
            },
            Request::Reload {} => self.ctl_reload().await,
        };
        let _ = job.reply.send(response);
    }

    /// `drain RS [--vs VS] [--timeout S]`: start draining the real servers
    /// named (one already draining keeps its deadline).
    async fn ctl_drain(&mut self, rs: &str, vs: Option<&str>, timeout: Option<u64>) -> Response {
        let timeout = match timeout {
            Some(s) => Duration::from_secs(s),
            None if self.opts.drain_timeout.is_zero() => CTL_DRAIN_DEFAULT,
            None => self.opts.drain_timeout,
        };
        let now = now_ms();
        let drain = Drain {
            started_ms: now,
            deadline_ms: now.saturating_add(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)),
            done: false,
            removed: None,
        };
        self.change(rs, vs, move |a| {
            if a.drain.is_none() {
                a.drain = Some(drain);
            }
        })
        .await
    }

    /// `reload`: the reload's outcome, an error answer if it was refused.
    async fn ctl_reload(&mut self) -> Response {
        let outcome = self.reload().await;
        let error = (!outcome.ok).then(|| {
            format!(
                "reload refused, the previous config runs: {}",
                outcome.message
            )
        });
        Response {
            ok: outcome.ok,
            kind: error.as_ref().map(|_| ErrorKind::Failed),
            error,
            ..Response::ok(outcome)
        }
    }

    /// `--vs` as a selector, if given.
    fn vs_filter(&self, vs: Option<&str>) -> Result<Option<VsSelector>, Response> {
        vs.map(VsSelector::parse)
            .transpose()
            .map_err(|e| Response::error(ErrorKind::BadRequest, e))
    }

    /// The configured real servers `rs` (and `vs`) name, as (virtual
    /// server, real server) indices; an error answer if none.
    fn targets(&self, rs: &str, vs: Option<&str>) -> Result<Vec<(usize, usize)>, Response> {
        let rs_sel =
            RsSelector::parse(rs).map_err(|e| Response::error(ErrorKind::BadRequest, e))?;
        let vs_sel = self.vs_filter(vs)?;
        let mut out = Vec::new();
        for (v, vs) in self.reconciler.config().virtual_servers.iter().enumerate() {
            if vs_sel.as_ref().is_some_and(|s| !s.matches(vs)) {
                continue;
            }
            for (r, real) in vs.real_servers.iter().enumerate() {
                if rs_sel.matches(real.addr, real.port) {
                    out.push((v, r));
                }
            }
        }
        if out.is_empty() {
            let within = vs.map_or_else(
                || "any virtual server".to_string(),
                |v| format!("virtual server {v}"),
            );
            return Err(Response::error(
                ErrorKind::NotFound,
                format!("no real server {rs} in {within} of the running config (see `lvsd ctl show rs`)"),
            ));
        }
        Ok(out)
    }

    /// Apply `f` to the admin state of every real server named, replan, and
    /// write the admin state down.
    async fn change(&mut self, rs: &str, vs: Option<&str>, f: impl Fn(&mut RsAdmin)) -> Response {
        let targets = match self.targets(rs, vs) {
            Ok(t) => t,
            Err(e) => return e,
        };
        let mut changed = Vec::with_capacity(targets.len());
        for (v, r) in targets {
            let config = self.reconciler.config();
            let (vs_name, key) = {
                let real = &config.virtual_servers[v].real_servers[r];
                (
                    describe_vs(&config.virtual_servers[v]),
                    DestKey {
                        addr: real.addr,
                        port: real.port,
                    },
                )
            };
            let did = self.reconciler.update_admin(v, key, &f);
            let ident = crate::reconcile::vs_ident(&self.reconciler.config().virtual_servers[v]);
            let word = self
                .reconciler
                .admin()
                .get(&ident, &key)
                .map_or("ready", RsAdmin::word);
            if did {
                tracing::info!(vs = %vs_name, rs = %key, admin = word, "control: admin state changed");
            }
            changed.push(view::Changed {
                vs: vs_name,
                rs: rs_name(key.addr, key.port),
                admin: word.to_string(),
                changed: did,
            });
        }
        if changed.iter().any(|c| c.changed) {
            self.reconcile().await;
            self.save_admin();
        }
        Response::ok(changed)
    }

    /// The checks of the real servers named, ready to run once.
    fn check_runs(
        &self,
        targets: &[(usize, usize)],
    ) -> Vec<(String, String, std::sync::Arc<crate::config::Check>)> {
        let config = self.reconciler.config();
        let mut runs = Vec::new();
        for &(v, r) in targets {
            let vs = &config.virtual_servers[v];
            let rs = &vs.real_servers[r];
            for check in &rs.checks {
                runs.push((
                    describe_vs(vs),
                    rs_name(rs.addr, rs.port),
                    std::sync::Arc::clone(check),
                ));
            }
        }
        runs
    }
}

/// The control socket the options ask for, bound and served (nothing
/// without one).
pub(super) fn open_socket(
    opts: &crate::daemon::DaemonOptions,
) -> Result<
    (
        Option<tokio::sync::mpsc::Receiver<Job>>,
        Option<crate::control::server::Bound>,
    ),
    crate::daemon::DaemonError,
> {
    let Some(ctl) = &opts.ctl else {
        return Ok((None, None));
    };
    let (jobs, bound) = crate::control::server::start(ctl)
        .map_err(|e| crate::daemon::DaemonError::Setting(e.to_string()))?;
    Ok((Some(jobs), Some(bound)))
}

/// The next control request, or never when there is no control socket.
pub(super) async fn next_job(jobs: &mut Option<tokio::sync::mpsc::Receiver<Job>>) -> Option<Job> {
    match jobs {
        Some(jobs) => jobs.recv().await,
        None => std::future::pending().await,
    }
}

/// Run every check once, all at the same time; their results in order.
async fn run_checks(
    runs: Vec<(String, String, std::sync::Arc<crate::config::Check>)>,
    policy: crate::script_policy::ScriptPolicy,
) -> Vec<view::CheckRun> {
    let tasks: Vec<_> = runs
        .into_iter()
        .map(|(vs, rs, check)| {
            tokio::spawn(async move {
                let result = once(&check, &policy).await;
                view::CheckRun {
                    vs,
                    rs,
                    check: check.keyword().to_string(),
                    target: probe::target(&check),
                    ok: result.ok,
                    reason: result.reason.to_string(),
                    latency_ms: result.latency.as_secs_f64() * 1000.0,
                }
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(run) = t.await {
            out.push(run);
        }
    }
    out
}

/// One attempt of `check`, whatever its kind: `TCP_CHECK` as a connection
/// closed with a FIN (the prober's own attempts run on its thread), the
/// others as the engine runs them.
async fn once(
    check: &crate::config::Check,
    policy: &crate::script_policy::ScriptPolicy,
) -> crate::checker::ProbeResult {
    use crate::checker::{tcp, ProbeResult};
    use crate::config::Check;
    let Check::Tcp(tcp_check) = check else {
        return probe::attempt_with(check, policy).await;
    };
    let common = &tcp_check.common;
    let started = std::time::Instant::now();
    let limit = common.connect_timeout.duration();
    let (ok, reason) = match tokio::time::timeout(limit, tcp::connect(common)).await {
        Ok(Ok(conn)) => {
            tokio::spawn(tcp::close_stream(conn.into_stream(), common.close, limit));
            (true, "connected".to_string())
        }
        Ok(Err(e)) => (false, e.to_string()),
        Err(_) => (false, format!("no answer within {}", probe::seconds(limit))),
    };
    ProbeResult {
        ok,
        reason: reason.into(),
        latency: started.elapsed(),
        weight: None,
    }
}
