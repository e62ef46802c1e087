//! The state dump SIGUSR1 writes: config, health, last verdicts, table,
//! BFD sessions and the kernel's sync daemons, as JSON to a file, and a
//! one-line summary to the log.

use std::path::Path;

use serde::Serialize;

use crate::checker::engine::ProbeState;
use crate::config::Config;
use crate::ipvs::ServiceEntry;

pub use crate::reconcile::RealServerState;

/// Everything SIGUSR1 reports.
#[derive(Debug, Serialize)]
pub struct StateDump<'a> {
    /// lvsd's version.
    pub version: &'static str,
    /// Table changes sent to the kernel since start.
    pub writes_total: u64,
    /// The config in force.
    pub config: &'a Config,
    /// Real server health.
    pub real_servers: Vec<RealServerState>,
    /// Every probe: how many real servers it serves, its state and last verdict.
    pub probes: Vec<ProbeDump>,
    /// The kernel's table (lvsd's services and any other).
    pub table: Vec<ServiceEntry>,
    /// The BFD sessions `BFD_CHECK`s follow, and the packets dropped.
    pub bfd: crate::checker::bfd_status::BfdStatus,
    /// The kernel's connection sync daemons (`ipvsadm -L --daemon`), as
    /// the VRRP side runs them: lvsd never starts or stops one.
    pub sync_daemons: Vec<crate::ipvs::settings::SyncDaemon>,
    /// How late probes start: by how much an overloaded prober stretches
    /// every probe's interval (each probe's own latest lag is in `probes`).
    pub schedule: crate::checker::lag::LagSummary,
}

/// A probe in the dump.
#[derive(Debug, Serialize)]
pub struct ProbeDump {
    /// State from the engine.
    #[serde(flatten)]
    pub state: ProbeState,
    /// How many real servers share this probe.
    pub real_servers: usize,
}

/// Write `dump` to `path`: atomically, mode 0600 (it holds the whole
/// config), and never through a link planted there (see
/// [`super::run_dir::write_privately`]).
pub fn write(path: &Path, dump: &StateDump<'_>) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(dump).map_err(std::io::Error::other)?;
    super::run_dir::write_privately(path, &text)
}
