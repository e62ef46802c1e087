//! The daemon shell: start, reload, drift repair, stop. It only wires the
//! config, the checker engine, the reconciler and the IPVS table together;
//! each of those is tested on its own.
//!
//! The life of lvsd:
//!
//! 1. **Start**: read and validate the whole config; enter the network
//!    namespace it names (or `-s`); take the instance lock (one lvsd per
//!    IPVS table); open the table; read it
//!    *first*, adopting real servers already present (a restart changes
//!    nothing while the first probes run); raise the open file limit to one
//!    per probe; bring the table in line with the initial health (up unless
//!    `alpha`); then start one probe per distinct check; tell systemd
//!    `READY=1`.
//! 2. **Run**: every probe verdict updates health; queued verdicts are taken
//!    together and turned into the fewest table changes. Every drift interval
//!    the kernel's table is read again and hand-made changes are undone.
//! 3. **Reload** (SIGHUP): the new config is read in full before anything
//!    changes; on error the old one keeps running, and so it does when an
//!    `include` read no file or the new config would empty the table
//!    (`config_guard`); systemd's `STATUS=` says why. Only the difference is
//!    applied, and unchanged probes keep their state and timers.
//! 4. **Stop** (SIGTERM/SIGINT): probes stop; lvsd's services are removed as
//!    `lvs_flush_onstop` says, or left in place with `--keep-table`.
//!
//! Every table change is one netlink request; the daemon counts them
//! (`writes_total`, logged with each "applied N changes" and in the SIGUSR1
//! dump), which is how the tests prove that a restart or an unchanged reload
//! writes nothing. `lvs_timeouts` is applied at start and when a reload
//! changes it (see `kernel_settings`); the sync daemon `lvs_sync_daemon`
//! names is left to the VRRP side and only watched (see `sync_daemon`).
//!
//! Its files:
//!
//! - `event_loop`: [`Daemon`]: start, the loop, stop; its own files
//!   (reload, control requests, drains, kernel watch, state dump, metrics)
//!   are mapped at its top.
//! - `change_log`: how table changes are logged (one line each, or a summary).
//! - `drift_pace`: how often drift is checked.
//! - `dry_run`: `--dry-run`, an in-memory table printing `ipvsadm` lines.
//! - `fd_limit`: the open file limit lvsd's probes need (two files a probe),
//!   sized at start and on a reload.
//! - `ha_suspend`: probes that run only while their virtual address is local.
//! - `address_events`: local address changes as the kernel announces them.
//! - `smtp_alert`: mail on real server and quorum changes (`smtp_alert`).
//! - `kernel_settings`: `lvs_timeouts`.
//! - `sync_daemon`: `lvs_sync_daemon`, watched, never started or stopped.
//! - `notify`: systemd's notify protocol.
//! - `pidfile`: the pid file.
//! - [`scripts`]: running the `notify_up`, `notify_down`, `quorum_up` and
//!   `quorum_down` scripts.
//! - `state`: the SIGUSR1 state dump.
//! - `config_guard`: what a config must have before lvsd runs it (the
//!   mistakes that parse cleanly but would empty the table).
//! - `instance_lock`: one lvsd per IPVS table, a lock held until exit.
//! - `ip_vs_module`: loading the `ip_vs` module at start.
//! - `netns`: `net_namespace` / `-s`: running in a named network namespace.
//! - `track_files`: `init_file` at start, and the tracked files read before
//!   the table is first planned.
//! - `notify_fifo`: `notify_fifo` and `lvs_notify_fifo` lines.
//! - `run_dir`: `/run/lvsd` (or `$RUNTIME_DIRECTORY`), and writing files
//!   there that no planted link can redirect.

mod address_events;
mod change_log;
mod config_guard;
mod drift_pace;
mod dry_run;
mod event_loop;
mod fd_limit;
mod ha_suspend;
pub mod instance_lock;
mod ip_vs_module;
mod kernel_settings;
pub mod netns;
mod notify;
mod notify_fifo;
mod pidfile;
pub mod run_dir;
pub mod scripts;
mod smtp_alert;
mod state;
mod sync_daemon;
mod track_files;

use std::path::PathBuf;
use std::time::Duration;

pub use dry_run::PrintingTable;
pub use event_loop::Daemon;

/// How the daemon was asked to run.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The config file.
    pub config: PathBuf,
    /// `-i`: conditional config id.
    pub config_id: Option<String>,
    /// `-p`, `-c`: the pid files.
    pub pid_files: Vec<PathBuf>,
    /// `--dry-run`: an in-memory table, every change printed as `ipvsadm` lines.
    pub dry_run: bool,
    /// How often the kernel's table is compared with the desired one (0 = never).
    pub drift_interval: Duration,
    /// Where SIGUSR1 writes the state dump.
    pub state_file: PathBuf,
    /// Leave lvsd's services in the table at stop (for a restart).
    pub keep_table: bool,
    /// The runtime directory (`/run/lvsd`): the instance lock lives there.
    pub run_dir: PathBuf,
    /// `-s`: the network namespace to run in (else the config's
    /// `net_namespace`, else this process's).
    pub namespace: Option<String>,
    /// `-e`: refuse to start when an include reads no file.
    pub all_config: bool,
    /// `-d`: log the resolved config at start.
    pub dump_conf: bool,
    /// `--allow-empty-config`: run a config that asks for no service (at
    /// start, or on a reload that removes every service lvsd runs).
    pub allow_empty_config: bool,
    /// The control socket (`--ctl-socket`; `None`: no socket).
    pub ctl: Option<crate::control::server::Options>,
    /// `--drain-timeout`: how long a real server a reload removes drains
    /// (0 = deleted at once, as keepalived does); `ctl drain`'s default.
    pub drain_timeout: Duration,
    /// `--drain-poll`: how often draining real servers' connections are counted.
    pub drain_poll: Duration,
    /// `--metrics-listen` (and `--metrics-per-real-server`): the HTTP
    /// listener of `/metrics`, `/status`, `/healthz`; none by default.
    pub metrics: Option<crate::metrics::MetricsOptions>,
    /// `--sync-daemon-grace`: how long after a start or reload lvsd waits
    /// for the VRRP side to run the sync daemon `lvs_sync_daemon` names
    /// before it warns that none runs.
    pub sync_daemon_grace: Duration,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            config: PathBuf::from("/etc/keepalived/keepalived.conf"),
            config_id: None,
            pid_files: Vec::new(),
            dry_run: false,
            drift_interval: Duration::from_secs(5),
            state_file: run_dir::runtime_dir().join("state.json"),
            keep_table: false,
            allow_empty_config: false,
            all_config: false,
            namespace: None,
            dump_conf: false,
            run_dir: run_dir::runtime_dir(),
            ctl: None,
            drain_timeout: Duration::from_secs(300),
            drain_poll: Duration::from_secs(2),
            metrics: None,
            sync_daemon_grace: Duration::from_secs(30),
        }
    }
}

/// Errors that stop the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The config could not be read at start.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The IPVS table could not be used.
    #[error(transparent)]
    Ipvs(#[from] crate::ipvs::IpvsError),
    /// Something the OS refused, with what lvsd was doing.
    #[error("{doing}: {why}")]
    Io {
        /// What failed, as the start of a sentence ("cannot install the
        /// signal handlers").
        doing: &'static str,
        /// The OS's reason (in the message, so not a `source` too: the
        /// binary's edge prints an error's sources after it).
        why: std::io::Error,
    },
    /// A setting that cannot work (an unknown `script_user`).
    #[error("{0}")]
    Setting(String),
    /// Another lvsd runs on this table.
    #[error(transparent)]
    Lock(#[from] instance_lock::LockError),
    /// A config that parsed but is not run (see `config_guard`).
    #[error("{0}")]
    Refused(config_guard::Refusal),
}

impl DaemonError {
    /// `DaemonError::Io` for what failed while `doing` (for `map_err`).
    pub fn io(doing: &'static str) -> impl FnOnce(std::io::Error) -> DaemonError {
        move |why| DaemonError::Io { doing, why }
    }
}

/// Run until SIGTERM/SIGINT.
pub fn run(opts: DaemonOptions) -> Result<(), DaemonError> {
    one_malloc_arena();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::io("cannot start the async runtime"))?;
    runtime.block_on(async {
        let daemon = Daemon::start(opts).await?;
        daemon.run().await
    })
}

/// Hand the heap's free pages back to the kernel. A start or reload of a
/// big config frees megabytes of transients (the parse, the desired table,
/// the change list) in the middle of the heap, where glibc keeps them
/// mapped; `malloc_trim` releases every whole free page, so the RSS that
/// stays is what lvsd holds.
pub(crate) fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own free lists.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Keep every allocation in glibc's main arena. The config is parsed and the
/// table read on `spawn_blocking` threads; by default each such thread gets
/// its own arena, whose freed pages (a parse's transients) stay mapped and
/// counted in the RSS. lvsd is one event loop plus an occasional helper
/// thread, so a single arena costs no contention worth measuring.
fn one_malloc_arena() {
    // SAFETY: mallopt only sets a tunable; called before any thread starts.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
