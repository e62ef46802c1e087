//! The daemon shell: start, reload, drift repair, stop; it only wires the
//! config, the checker engine, the reconciler and the IPVS table together.

use std::path::PathBuf;

/// How the daemon was asked to run.
#[derive(Debug, Clone, Default)]
pub struct DaemonOptions {
    /// The config file.
    pub config: PathBuf,
    /// `-i`: conditional config id.
    pub config_id: Option<String>,
    /// `-p`: the pid file.
    pub pid_file: Option<PathBuf>,
    /// `--dry-run`: an in-memory table, every change printed as `ipvsadm -Sn` lines.
    pub dry_run: bool,
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
}

/// Run until SIGTERM/SIGINT. Placeholder until the daemon lands.
pub fn run(_opts: DaemonOptions) -> Result<(), DaemonError> {
    Ok(())
}
