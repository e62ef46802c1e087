//! The daemon's event loop: verdicts, drift checks and signals in, table
//! changes and scripts out; and the daemon's life around it, start (in
//! phases: config, table, listeners, first round) and stop.
//!
//! - `reload`: SIGHUP and `ctl reload`: read, check, switch or refuse.
//! - `ctl`: control requests: admin changes, checks on demand, reload.
//! - `ctl_show`: control reads: `status`, `show vs/rs/probes`.
//! - `drain`: the drain poll, and `admin-state.json`.
//! - `kernel_watch`: what the loop reads back from the kernel: drift
//!   repair, the sync daemons.
//! - `state_dump`: SIGUSR1's state dump (and `/status`'s).
//! - `metrics`: what the loop counts, and its answers to the metrics
//!   listener.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::address_events::AddressEvents;
use super::change_log::{log_op, ChangeCounts, LOG_EACH_CHANGE_UP_TO};
use super::config_guard;
use super::drift_pace::DriftPace;
use super::instance_lock::{self, InstanceLock};
use super::notify::{notify, notify_with_status, Status};
use super::notify_fifo::NotifyFifos;
use super::pidfile::PidFile;
use super::scripts::{self, ScriptPolicy};
use super::smtp_alert::Mailer;
use super::sync_daemon::{self, SyncWatch};
use super::{
    fd_limit, ha_suspend, kernel_settings, netns, track_files, DaemonError, DaemonOptions,
    PrintingTable,
};
use crate::checker::engine::Engine;
use crate::checker::HealthEvent;
use crate::config::{self, Config, FlushOnStop, LoadOptions, Loaded, Severity};
use crate::ipvs::{IpvsError, IpvsTable, TableOp};
use crate::reconcile::{describe_vs, Changes, Plan, Reconciler};

mod ctl;
mod ctl_show;
mod drain;
mod kernel_watch;
mod metrics;
mod reload;
mod state_dump;

use metrics::DaemonMetrics;
use reload::in_one_line;

/// The table, shared with the blocking threads that talk to the kernel.
type SharedTable = Arc<Mutex<Box<dyn IpvsTable + Send>>>;

/// The signals lvsd answers, registered before the first table change so
/// a SIGHUP or SIGTERM that arrives during a long start is queued, not fatal
/// (the default action of both is to terminate).
struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
    usr1: Signal,
}

impl Signals {
    fn register() -> Result<Signals, DaemonError> {
        let handler =
            |kind| signal(kind).map_err(DaemonError::io("cannot install the signal handlers"));
        Ok(Signals {
            hup: handler(SignalKind::hangup())?,
            term: handler(SignalKind::terminate())?,
            int: handler(SignalKind::interrupt())?,
            usr1: handler(SignalKind::user_defined1())?,
        })
    }
}

/// A running lvsd.
pub struct Daemon {
    opts: DaemonOptions,
    reconciler: Reconciler,
    engine: Engine,
    events: UnboundedReceiver<HealthEvent>,
    table: SharedTable,
    policy: ScriptPolicy,
    /// Table changes sent to the kernel since start (one netlink request
    /// each): logged per reconcile and in the state dump, so tests and
    /// operators can see that an unchanged reload writes nothing.
    writes_total: u64,
    /// Taken by [`Daemon::run`].
    signals: Option<Signals>,
    /// Virtual servers (indices) whose probes `ha_suspend` stops now.
    suspended: HashSet<usize>,
    /// Whether any virtual server has `ha_suspend` (local addresses are polled).
    ha_wanted: bool,
    _pid_files: Vec<PidFile>,
    /// Held until lvsd exits (none with `--dry-run`).
    _instance_lock: Option<InstanceLock>,
    /// `notify_fifo`, `lvs_notify_fifo`.
    fifos: NotifyFifos,
    /// `smtp_alert`.
    mailer: Mailer,
    /// Requests from the control socket (none without one).
    ctl_jobs: Option<tokio::sync::mpsc::Receiver<crate::control::server::Job>>,
    /// The control socket, removed when lvsd stops.
    _ctl_socket: Option<crate::control::server::Bound>,
    /// The last reload's outcome, for `ctl status`.
    last_reload: Option<crate::control::view::ReloadSummary>,
    /// The admin state as last written to `admin-state.json`.
    saved_admin: Option<crate::reconcile::admin::Persisted>,
    /// `--metrics-listen`: the counters and the listener's requests.
    metrics: Option<DaemonMetrics>,
    /// `lvs_sync_daemon`: the kernel's sync daemons, run by the VRRP side.
    sync: SyncWatch,
}

/// Read and validate the config, logging what needs saying.
fn read_config(opts: &DaemonOptions) -> Result<Loaded, config::ConfigError> {
    let load_opts = LoadOptions {
        config_id: opts.config_id.clone(),
    };
    let loaded = config::load(&opts.config, &load_opts)?;
    let audit = crate::script_audit::audit(&loaded.config);
    for d in loaded.diagnostics.iter().chain(&audit) {
        match d.severity {
            Severity::Info => tracing::info!("{d}"),
            Severity::Warning => tracing::warn!("{d}"),
            Severity::Error => tracing::error!("{d}"),
        }
    }
    Ok(loaded)
}

/// [`read_config`] on a blocking thread, off the event loop (a reload).
async fn load_config(opts: &DaemonOptions) -> Result<Loaded, config::ConfigError> {
    let opts_for_read = opts.clone();
    tokio::task::spawn_blocking(move || read_config(&opts_for_read))
        .await
        .map_err(|e| config::ConfigError::Io {
            path: opts.config.clone(),
            why: std::io::Error::other(e),
        })?
}

fn open_table(opts: &DaemonOptions) -> Result<SharedTable, IpvsError> {
    let table: Box<dyn IpvsTable + Send> = if opts.dry_run {
        Box::new(PrintingTable::new(std::io::stdout()))
    } else {
        super::ip_vs_module::ensure_loaded();
        Box::new(crate::ipvs::netlink::NetlinkTable::open()?)
    };
    Ok(Arc::new(Mutex::new(table)))
}

/// The next address change, or never without a subscription.
async fn address_change(addresses: &mut Option<AddressEvents>) -> std::io::Result<()> {
    match addresses {
        Some(events) => events.changed().await,
        None => std::future::pending().await,
    }
}

/// The virtual servers `ha_suspend` suspends now (none when no virtual
/// server asks for it, or when the local addresses cannot be read).
fn suspended_now(config: &Config) -> HashSet<usize> {
    if !ha_suspend::wanted(config) {
        return HashSet::new();
    }
    match ha_suspend::local_addresses() {
        Ok(local) => ha_suspend::suspended(config, &local),
        Err(e) => {
            tracing::error!(error = %e, "ha_suspend: cannot read the local addresses; probing everything");
            HashSet::new()
        }
    }
}

/// Run `f` on the table in a blocking thread, off the event loop.
pub(super) async fn with_table<T: Send + 'static>(
    table: &SharedTable,
    f: impl FnOnce(&mut dyn IpvsTable) -> T + Send + 'static,
) -> T {
    let table = Arc::clone(table);
    let job = move || {
        let mut guard = table.lock().unwrap_or_else(PoisonError::into_inner);
        f(guard.as_mut())
    };
    match tokio::task::spawn_blocking(job).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Run the futures one after another (omega scripts at stop are few).
async fn run_in_turn<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    for f in futures {
        f.await;
    }
}

/// CPU time this process has used so far, user and system, and its minor
/// page faults (fresh memory is what a big parse costs most).
#[derive(Debug, Clone, Copy)]
struct CpuSoFar {
    user_ms: u64,
    system_ms: u64,
    minflt: u64,
}

impl CpuSoFar {
    fn now() -> CpuSoFar {
        use nix::sys::resource::{getrusage, UsageWho};
        use nix::sys::time::TimeValLike;
        // RUSAGE_SELF cannot fail; zeroes if it ever did.
        let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
            return CpuSoFar {
                user_ms: 0,
                system_ms: 0,
                minflt: 0,
            };
        };
        CpuSoFar {
            user_ms: usage.user_time().num_milliseconds() as u64,
            system_ms: usage.system_time().num_milliseconds() as u64,
            minflt: usage.minor_page_faults() as u64,
        }
    }

    /// The CPU and faults since `earlier`, at debug level.
    fn log_since(earlier: CpuSoFar, phase: &str) {
        let now = CpuSoFar::now();
        tracing::debug!(
            user_ms = now.user_ms.saturating_sub(earlier.user_ms),
            system_ms = now.system_ms.saturating_sub(earlier.system_ms),
            minflt = now.minflt.saturating_sub(earlier.minflt),
            "{phase}"
        );
    }
}

/// The first phase of [`Daemon::start`]: the config read and accepted, its
/// network namespace entered, and (unless `--dry-run`) the instance lock
/// taken.
fn start_config(opts: &DaemonOptions) -> Result<(Config, Option<InstanceLock>), DaemonError> {
    tracing::debug!(config = %opts.config.display(), "start: reading the config");
    // On this thread, while it is the only one: the network namespace
    // the config names can still be entered by the whole process.
    let loaded = read_config(opts).inspect_err(|e| {
        notify_with_status(
            Status::Stopping,
            &format!("config refused: {}", in_one_line(e)),
        )
    })?;
    if let Err(why) = config_guard::at_start(&loaded, opts) {
        notify_with_status(Status::Stopping, &format!("config refused: {why}"));
        return Err(DaemonError::Refused(why));
    }
    // -s, else the config's net_namespace.
    if let Some(name) = opts
        .namespace
        .as_ref()
        .or(loaded.config.global.net_namespace.as_ref())
    {
        netns::enter(name).map_err(DaemonError::io("cannot enter the network namespace"))?;
    }
    // Before the table is opened: a second lvsd must not touch it.
    let instance_lock = match opts.dry_run {
        true => None,
        false => Some(instance_lock::take(&opts.run_dir)?),
    };
    let config = loaded.config;
    if opts.dump_conf {
        // -d, as keepalived's: the config as read, into the log.
        match serde_json::to_string(&config) {
            Ok(json) => tracing::info!("config: {json}"),
            Err(e) => tracing::warn!(error = %e, "-d: cannot show the config"),
        }
    }
    tracing::debug!(
        virtual_servers = config.virtual_servers.len(),
        "start: config read"
    );
    Ok((config, instance_lock))
}

/// The second phase of [`Daemon::start`]: the kernel's settings and table
/// read, what it holds adopted, and the reconciler made ready to plan
/// (saved admin state, tracked files).
async fn start_table(
    opts: &DaemonOptions,
    table: &SharedTable,
    config: Config,
) -> Result<(Reconciler, SyncWatch), DaemonError> {
    if config.global.lvs_flush {
        tracing::info!("lvs_flush: flushing the whole IPVS table");
        with_table(table, |t| t.flush()).await?;
    }
    let global = config.global.clone();
    with_table(table, move |t| kernel_settings::apply(t, None, &global)).await;
    let sync = SyncWatch::new(
        config.global.lvs_sync_daemon.as_ref(),
        opts.sync_daemon_grace,
        std::time::Instant::now(),
    );
    let dump = with_table(table, |t| t.dump()).await?;
    tracing::debug!(services = dump.len(), "start: table read");
    track_files::initialise(&config.track_files, false);
    let mut reconciler = Reconciler::new(config);
    reconciler.set_drain_timeout(opts.drain_timeout);
    reconciler.adopt(&dump);
    drop(dump);
    // After adoption: drains resume at weight 0 with their deadlines;
    // a real server found at weight 0 with nothing asked of it gets its
    // weight back.
    reconciler.restore_admin(drain::load(&drain::admin_file(&opts.run_dir)));
    track_files::prime(&mut reconciler);
    tracing::debug!(probes = reconciler.probe_count(), "start: config indexed");
    Ok((reconciler, sync))
}

impl Daemon {
    /// Start: config, table, adoption, probes, first reconcile, in the
    /// phases below.
    pub async fn start(opts: DaemonOptions) -> Result<Daemon, DaemonError> {
        let signals = Signals::register()?;
        let (config, instance_lock) = start_config(&opts)?;
        let policy = ScriptPolicy::from_config(&config.global).map_err(DaemonError::Setting)?;
        let table = open_table(&opts)?;
        let (reconciler, sync) = start_table(&opts, &table, config).await?;
        let (tx, events) = unbounded_channel();
        let mut engine =
            Engine::new(tx).map_err(DaemonError::io("cannot start the prober thread"))?;
        engine.set_script_policy(policy);
        engine.set_bfd_scheduling(reconciler.config().global.bfd_scheduling);
        let suspended = suspended_now(reconciler.config());
        for v in &suspended {
            if let Some(vs) = reconciler.config().virtual_servers.get(*v) {
                tracing::info!(
                    vs = %describe_vs(vs),
                    "ha_suspend: the virtual address is not local; probes suspended"
                );
            }
        }
        fd_limit::raise_for(reconciler.probe_count());
        let pid_files = opts
            .pid_files
            .iter()
            .map(|path| PidFile::create(path))
            .collect::<Result<Vec<_>, _>>()
            .map_err(DaemonError::io("pid file"))?;
        let (ctl_jobs, ctl_socket) = ctl::open_socket(&opts)?;
        let ha_wanted = ha_suspend::wanted(reconciler.config());
        let metrics = match opts.metrics {
            Some(o) => Some(DaemonMetrics::start(o, &opts.config, reconciler.config()).await?),
            None => None,
        };
        let daemon = Daemon {
            opts,
            reconciler,
            engine,
            events,
            table,
            policy,
            writes_total: 0,
            signals: Some(signals),
            suspended,
            ha_wanted,
            _pid_files: pid_files,
            _instance_lock: instance_lock,
            fifos: NotifyFifos::default(),
            mailer: Mailer::default(),
            ctl_jobs,
            _ctl_socket: ctl_socket,
            last_reload: None,
            saved_admin: None,
            metrics,
            sync,
        };
        Ok(daemon.first_round().await)
    }

    /// The last phase of [`Daemon::start`]: the table brought in line
    /// with the initial health, then the probes started.
    async fn first_round(mut self) -> Daemon {
        let adopted = self.reconciler.owned().len();
        self.fifos = NotifyFifos::open(self.reconciler.config());
        // The table first, then the probes: the initial health (up unless
        // `alpha`) already says what the table should hold, and 20,000
        // probes starting at once would only slow the 20,000 writes down.
        let changes = self.reconcile().await;
        self.save_admin();
        self.watch_sync_daemons().await;
        let cpu = CpuSoFar::now();
        tracing::debug!(
            user_ms = cpu.user_ms,
            system_ms = cpu.system_ms,
            minflt = cpu.minflt,
            "start: table written"
        );
        self.set_probes();
        tracing::debug!("start: probes started");
        super::release_free_memory();
        tracing::info!(
            services = adopted,
            changes,
            probes = self.reconciler.probe_count(),
            "lvsd started"
        );
        notify_with_status(Status::Ready, &self.running_status("running"));
        self.tell_started();
        self
    }

    /// Run until SIGTERM or SIGINT, then stop.
    pub async fn run(mut self) -> Result<(), DaemonError> {
        let mut signals = match self.signals.take() {
            Some(signals) => signals,
            None => Signals::register()?,
        };
        let interval = self.opts.drift_interval;
        let mut pace = DriftPace::default();
        let next_drift = tokio::time::sleep(interval);
        tokio::pin!(next_drift);
        let mut addresses = None;
        self.follow_addresses(&mut addresses);
        let mut drain_poll = tokio::time::interval(self.opts.drain_poll);
        drain_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ctl_jobs = self.ctl_jobs.take();
        let mut sync_poll = tokio::time::interval(sync_daemon::POLL);
        sync_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let draining = self.reconciler.draining();
            tokio::select! {
                Some(job) = ctl::next_job(&mut ctl_jobs) => {
                    // `ctl reload` may bring the first `ha_suspend`.
                    self.on_ctl(job).await;
                    self.follow_addresses(&mut addresses);
                }
                _ = drain_poll.tick(), if draining => self.poll_drains().await,
                _ = sync_poll.tick(), if self.sync.wanted() => self.watch_sync_daemons().await,
                Some(event) = self.events.recv() => self.on_events(event).await,
                _ = &mut next_drift, if !interval.is_zero() => {
                    let started = tokio::time::Instant::now();
                    let took = self.repair_drift().await;
                    next_drift.as_mut().reset(started + pace.next(interval, took));
                }
                heard = address_change(&mut addresses), if self.ha_wanted => {
                    if let Err(e) = heard {
                        tracing::error!(error = %e, "ha_suspend: lost the kernel's address announcements; addresses are read again at reload only");
                        addresses = None;
                    }
                    self.check_suspension();
                }
                Some(request) = Self::next_request(&mut self.metrics) => self.answer(request).await,
                _ = signals.hup.recv() => {
                    self.reload().await;
                    self.follow_addresses(&mut addresses);
                }
                _ = signals.usr1.recv() => self.dump_state().await,
                _ = signals.term.recv() => break,
                _ = signals.int.recv() => break,
            }
        }
        self.stop().await
    }

    /// Subscribes to address announcements once some virtual server asks
    /// for `ha_suspend`, then reads the addresses (any change before the
    /// subscription would otherwise go unheard).
    fn follow_addresses(&mut self, addresses: &mut Option<AddressEvents>) {
        if !self.ha_wanted || addresses.is_some() {
            return;
        }
        match AddressEvents::subscribe() {
            Ok(events) => *addresses = Some(events),
            Err(e) => tracing::error!(
                error = %e,
                "ha_suspend: cannot subscribe to address announcements (rtnetlink); addresses are read at start and reload only"
            ),
        }
        self.check_suspension();
    }

    /// `ha_suspend`: stop or resume the probes of virtual servers whose
    /// address left or joined this machine's addresses.
    fn check_suspension(&mut self) {
        let now = suspended_now(self.reconciler.config());
        if now == self.suspended {
            return;
        }
        for (v, vs) in self.reconciler.config().virtual_servers.iter().enumerate() {
            match (self.suspended.contains(&v), now.contains(&v)) {
                (false, true) => tracing::info!(
                    vs = %describe_vs(vs),
                    "ha_suspend: the virtual address is not local; probes suspended"
                ),
                (true, false) => tracing::info!(
                    vs = %describe_vs(vs),
                    "ha_suspend: the virtual address is local; probes resumed"
                ),
                _ => {}
            }
        }
        self.suspended = now;
        self.set_probes();
    }

    /// Take this verdict and every one already queued, then reconcile once.
    async fn on_events(&mut self, first: HealthEvent) {
        let mut changed = self.record(&first);
        while let Ok(event) = self.events.try_recv() {
            changed |= self.record(&event);
        }
        if changed {
            self.reconcile().await;
        }
        if self.reconciler.first_round_just_completed() {
            let probes = self.reconciler.probe_count();
            let up = self.reconciler.probes_up();
            tracing::info!(
                probes,
                up,
                down = probes - up,
                "every probe has given its first verdict"
            );
        }
    }

    /// Give the reconciler a probe's verdict, and what it asks of the
    /// weight (`misc_dynamic`, a weighted `FILE_CHECK`); whether anything changed.
    fn record(&mut self, event: &HealthEvent) -> bool {
        self.count_verdict(&event.probe, &event.result);
        self.reconciler.verdict(event)
    }

    /// Gives the engine the config's probes, but those of suspended virtual
    /// servers (`ha_suspend`), each keyed by its id (see `ProbeKey`).
    fn set_probes(&mut self) {
        let set = self
            .engine
            .set_keyed_probes(self.reconciler.probes_except(&self.suspended));
        self.reconciler.keyed_by(set);
    }

    /// Plan against the cached table and apply. After a failure (the kernel
    /// differed from the cache) read the table again and retry once.
    /// Returns how many changes were sent to the kernel.
    async fn reconcile(&mut self) -> u64 {
        let before = self.writes_total;
        let plan = self.reconciler.plan();
        tracing::debug!(changes = plan.changes.len(), "planned");
        self.run_scripts(&plan);
        if self.apply(plan.changes).await > 0 {
            if let Ok(dump) = with_table(&self.table, |t| t.dump()).await {
                self.reconciler.refresh(&dump);
                let retry = self.reconciler.plan();
                self.apply(retry.changes).await;
            }
        }
        let changes = self.writes_total - before;
        if changes > 0 {
            tracing::info!(
                writes_total = self.writes_total,
                "applied {changes} changes"
            );
        }
        changes
    }

    /// What a plan saw happen: its scripts run, its lines to the FIFOs.
    fn run_scripts(&mut self, plan: &Plan) {
        self.count_plan(plan);
        self.fifos
            .write(self.reconciler.config(), &plan.transitions);
        self.mailer
            .send(self.reconciler.config(), &plan.transitions);
        for run in &plan.scripts {
            scripts::spawn(
                run.script.command.clone(),
                run.event,
                run.subject.clone(),
                self.policy,
            );
        }
    }

    /// Apply `changes`; returns how many failed.
    async fn apply(&mut self, changes: Changes) -> usize {
        if changes.is_empty() {
            return 0;
        }
        self.writes_total += changes.len() as u64;
        let (changes, results) = with_table(&self.table, move |t| {
            let results = t.apply(changes.ops());
            (changes, results)
        })
        .await;
        let ops = changes.ops();
        self.count_writes(ops, &results);
        let detail = ops.len() <= LOG_EACH_CHANGE_UP_TO;
        if !detail {
            ChangeCounts::of(ops, &results).log();
        }
        for (op, result) in ops.iter().zip(&results) {
            log_op(op, result, detail);
        }
        self.reconciler.record_outcome(changes, &results).len()
    }

    /// Stop probing; remove lvsd's services unless told to keep them.
    async fn stop(mut self) -> Result<(), DaemonError> {
        notify(Status::Stopping);
        self.engine.set_probes(Vec::new());
        let omega = self.reconciler.omega_scripts();
        let finals = omega.iter().map(|run| {
            let policy = self.policy;
            async move {
                if let Err(e) = scripts::run(&run.script.command, &policy).await {
                    tracing::error!(script = ?run.script.command, event = %run.event, error = %e, "omega script failed");
                }
            }
        });
        run_in_turn(finals).await;
        self.fifos.close();
        if self.opts.keep_table {
            tracing::info!("stopping; the IPVS table is left as it is (--keep-table)");
            return Ok(());
        }
        let mode = self
            .reconciler
            .config()
            .global
            .lvs_flush_onstop
            .unwrap_or(FlushOnStop::Own);
        if mode == FlushOnStop::All {
            with_table(&self.table, |t| t.flush()).await?;
        } else {
            let changes = self.reconciler.stop_changes(mode);
            self.apply(changes).await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}
