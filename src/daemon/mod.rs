//! The daemon shell: start, reload, drift repair, stop. It only wires the
//! config, the checker engine, the reconciler and the IPVS table together;
//! each of those is tested on its own.
//!
//! The life of lvsd:
//!
//! 1. **Start**: read and validate the whole config; open the table; read it
//!    *first*, adopting real servers already present (a restart changes
//!    nothing while the first probes run); raise the open file limit to one
//!    per probe; bring the table in line with the initial health (up unless
//!    `alpha`); then start one probe per distinct check; tell systemd
//!    `READY=1`.
//! 2. **Run**: every probe verdict updates health; queued verdicts are taken
//!    together and turned into the fewest table changes. Every drift interval
//!    the kernel's table is read again and hand-made changes are undone.
//! 3. **Reload** (SIGHUP): the new config is read in full before anything
//!    changes; on error the old one keeps running. Only the difference is
//!    applied, and unchanged probes keep their state and timers.
//! 4. **Stop** (SIGTERM/SIGINT): probes stop; lvsd's services are removed as
//!    `lvs_flush_onstop` says, or left in place with `--keep-table`.
//!
//! Every table change is one netlink request; the daemon counts them
//! (`writes_total`, logged with each "applied N changes" and in the SIGUSR1
//! dump), which is how the tests prove that a restart or an unchanged reload
//! writes nothing. `lvs_timeouts` and `lvs_sync_daemon` are applied at start
//! and when a reload changes them (see `kernel_settings`).

mod change_log;
mod drift_pace;
mod dry_run;
mod event_loop;
mod fd_limit;
mod ha_suspend;
mod kernel_settings;
mod notify;
mod pidfile;
pub mod scripts;
mod state;
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
    /// `-p`: the pid file.
    pub pid_file: Option<PathBuf>,
    /// `--dry-run`: an in-memory table, every change printed as `ipvsadm` lines.
    pub dry_run: bool,
    /// How often the kernel's table is compared with the desired one (0 = never).
    pub drift_interval: Duration,
    /// Where SIGUSR1 writes the state dump.
    pub state_file: PathBuf,
    /// Leave lvsd's services in the table at stop (for a restart).
    pub keep_table: bool,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            config: PathBuf::from("/etc/keepalived/keepalived.conf"),
            config_id: None,
            pid_file: None,
            dry_run: false,
            drift_interval: Duration::from_secs(5),
            state_file: PathBuf::from("/tmp/lvsd.json"),
            keep_table: false,
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
    /// Anything the OS refused.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A setting that cannot work (an unknown `script_user`).
    #[error("{0}")]
    Setting(String),
}

/// Run until SIGTERM/SIGINT.
pub fn run(opts: DaemonOptions) -> Result<(), DaemonError> {
    one_malloc_arena();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
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
