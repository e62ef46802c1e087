//! SIGHUP: read the new config in full, check it (`config_guard`), and
//! only then switch to it; or refuse, saying why in the log and to systemd.

use super::*;

/// A config error in one line for `STATUS=`: the first diagnostic's first
/// line, and how many more there are.
pub(super) fn in_one_line(e: &config::ConfigError) -> String {
    match e {
        config::ConfigError::Invalid(all) => {
            let first = all.first().map(|d| d.to_string()).unwrap_or_default();
            let first = first.lines().next().unwrap_or_default();
            match all.len() {
                0 | 1 => first.to_owned(),
                n => format!("{first} (and {} more)", n - 1),
            }
        }
        other => other.to_string(),
    }
}

/// Why a reload was refused: in one line (systemd's `STATUS=`, `ctl`), in
/// full (the log), and every diagnostic of the config.
struct Refused {
    why: String,
    in_detail: String,
    diagnostics: Vec<String>,
}

impl Daemon {
    /// `STATUS=` for systemd: what runs now.
    pub(super) fn running_status(&self, what: &str) -> String {
        format!(
            "{what}: {} services, {} probes",
            self.reconciler.owned().len(),
            self.reconciler.probe_count()
        )
    }

    /// SIGHUP and `ctl reload`: the new config in full, or nothing at all.
    /// Returns what happened, with the config's diagnostics.
    pub(super) async fn reload(&mut self) -> crate::control::view::Reload {
        notify(Status::Reloading);
        tracing::info!(config = %self.opts.config.display(), "reloading");
        let at_start = CpuSoFar::now();
        let outcome = match self.read_for_reload().await {
            Ok((config, policy, diagnostics)) => {
                CpuSoFar::log_since(at_start, "reload: config read");
                self.switch_to(config, policy).await;
                fd_limit::raise_for(self.reconciler.probe_count());
                CpuSoFar::log_since(at_start, "reload: applied");
                self.count_reload(true);
                let message = self.running_status("reloaded");
                notify_with_status(Status::Ready, &message);
                crate::control::view::Reload {
                    ok: true,
                    diagnostics,
                    message,
                }
            }
            Err(Refused {
                why,
                in_detail,
                diagnostics,
            }) => {
                tracing::error!("reload refused; the running config stays: {in_detail}");
                self.count_reload(false);
                let status = format!("reload refused, the previous config runs: {why}");
                notify_with_status(Status::Ready, &status);
                crate::control::view::Reload {
                    ok: false,
                    diagnostics,
                    message: why,
                }
            }
        };
        self.last_reload = Some(crate::control::view::ReloadSummary {
            ok: outcome.ok,
            message: outcome.message.clone(),
        });
        outcome
    }

    /// The new config, its script policy and what needs saying about it
    /// (warnings and notes); or why the reload is refused.
    async fn read_for_reload(&mut self) -> Result<(Config, ScriptPolicy, Vec<String>), Refused> {
        let loaded = match load_config(&self.opts).await {
            Ok(loaded) => loaded,
            Err(e) => {
                let diagnostics = match &e {
                    config::ConfigError::Invalid(all) => {
                        all.iter().map(|d| d.to_string()).collect()
                    }
                    other => vec![other.to_string()],
                };
                return Err(Refused {
                    why: in_one_line(&e),
                    in_detail: format!("\n{e}"),
                    diagnostics,
                });
            }
        };
        let diagnostics: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
        let running = self.reconciler.owned().len();
        let now = self.reconciler.config();
        if let Err(why) = config_guard::at_reload(&loaded, &self.opts, now, running) {
            return Err(Refused {
                why: why.to_string(),
                in_detail: why.to_string(),
                diagnostics,
            });
        }
        match ScriptPolicy::from_config(&loaded.config.global) {
            Ok(policy) => Ok((
                self.hash_for_metrics(loaded.config).await,
                policy,
                diagnostics,
            )),
            Err(e) => Err(Refused {
                why: e.clone(),
                in_detail: e,
                diagnostics,
            }),
        }
    }

    /// Run `config` from now on: kernel settings, the table, the probes.
    async fn switch_to(&mut self, config: Config, policy: ScriptPolicy) {
        self.policy = policy;
        self.engine.set_script_policy(policy);
        self.engine.set_bfd_scheduling(config.global.bfd_scheduling);
        let old = self.reconciler.config().global.clone();
        let new = config.global.clone();
        with_table(&self.table, move |t| {
            kernel_settings::apply(t, Some(&old), &new)
        })
        .await;
        self.sync.reload(
            config.global.lvs_sync_daemon.as_ref(),
            std::time::Instant::now(),
        );
        track_files::initialise(&config.track_files, true);
        let reloaded = self.reconciler.reload(config);
        self.fifos.reload(self.reconciler.config());
        let changed = reloaded.changed;
        if changed {
            track_files::prime(&mut self.reconciler);
        }
        // The config no longer needed is freed on a blocking thread, and
        // the memory given back after it: the event loop goes on at once.
        tokio::task::spawn_blocking(move || {
            drop(reloaded.spare);
            crate::daemon::release_free_memory();
        });
        tracing::debug!(changed, "reload: config compared and indexed");
        self.ha_wanted = ha_suspend::wanted(self.reconciler.config());
        let suspended = suspended_now(self.reconciler.config());
        // The same probes as before: the engine already runs exactly
        // these, so spare it 100,000 spec comparisons.
        if changed || suspended != self.suspended {
            self.suspended = suspended;
            self.set_probes();
        }
        let changes = self.reconcile().await;
        self.save_admin();
        tracing::info!(changes, writes_total = self.writes_total, "reload complete");
    }
}
