//! What the daemon answers, typed: the `result` of each command. The daemon
//! builds these and `lvsd ctl` reads them back to print tables; `--json`
//! prints them as they came.

use serde::{Deserialize, Serialize};

/// `status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// lvsd's version.
    pub version: String,
    /// Its process id.
    pub pid: u32,
    /// The config file.
    pub config_file: String,
    /// The last reload: `None` before any; else whether it was applied and
    /// (when refused) why, in one line.
    pub last_reload: Option<ReloadSummary>,
    /// Virtual servers in the config.
    pub virtual_servers: usize,
    /// Real servers in the config (over every virtual server).
    pub real_servers: usize,
    /// Of which pass their checks.
    pub real_servers_up: usize,
    /// Real servers draining now.
    pub draining: usize,
    /// Real servers drained (out until `enable`).
    pub drained: usize,
    /// Real servers disabled.
    pub disabled: usize,
    /// Real servers with a weight override.
    pub weight_overrides: usize,
    /// Distinct probes.
    pub probes: usize,
    /// Of which up.
    pub probes_up: usize,
    /// How late probes started against their schedule, 99th percentile
    /// since start (ms; `None` before the first probe): a checker that
    /// falls behind shows here.
    pub probe_lag_p99_ms: Option<f64>,
    /// Table changes sent to the kernel since start.
    pub writes_total: u64,
    /// How long a drain lasts at most (s) unless `drain --timeout` says.
    pub drain_timeout_s: u64,
    /// IPVS sysctls that decide how drains behave (`None`: unreadable).
    pub sysctls: Vec<(String, Option<i64>)>,
    /// The kernel's sync daemons as last read, one `master mcast=eth1
    /// syncid=1` each (run by the VRRP side); `None` when the config has
    /// no `lvs_sync_daemon`.
    #[serde(default)]
    pub sync_daemons: Option<Vec<String>>,
}

/// A reload's outcome, as `status` remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadSummary {
    /// Applied.
    pub ok: bool,
    /// Why not (one line), or what runs now.
    pub message: String,
}

/// One line of `show vs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServer {
    /// As the log names it.
    pub vs: String,
    /// Scheduler.
    pub scheduler: String,
    /// Real servers.
    pub real_servers: usize,
    /// Of which pass their checks.
    pub up: usize,
    /// Of which something was asked (drain, disable, weight).
    pub admin: usize,
    /// Whether it has quorum (as keepalived's `quorum`).
    pub quorum: bool,
}

/// One line of `show rs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    /// Its virtual server, as the log names it.
    pub vs: String,
    /// `IP:PORT`.
    pub rs: String,
    /// Whether its checks pass (`None`: no longer in the config, a
    /// removed real server draining).
    pub up: Option<bool>,
    /// `ready`, `draining`, `drained` or `disabled`.
    pub admin: String,
    /// The configured weight.
    pub config_weight: Option<i32>,
    /// The weight override, if any.
    pub weight_override: Option<i32>,
    /// Its weight in the kernel (`None`: not in the table).
    pub kernel_weight: Option<i32>,
    /// Active connections (kernel).
    pub active: u32,
    /// Inactive connections (kernel).
    pub inactive: u32,
    /// Persistence templates (kernel).
    pub persistent: u32,
    /// Seconds left before a drain deletes it whatever its connections.
    pub drain_left_s: Option<u64>,
}

/// One line of `show probes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// The check's keyword (`TCP_CHECK`…).
    pub check: String,
    /// What it probes.
    pub target: String,
    /// Whether it is up.
    pub up: bool,
    /// Failures in a row.
    pub failures: u32,
    /// Probes done.
    pub probes_sent: u64,
    /// How many real servers it serves.
    pub real_servers: usize,
    /// The last result's reason.
    pub last: Option<String>,
    /// The last result's latency (ms).
    pub latency_ms: Option<f64>,
}

/// One real server a change applied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    /// The virtual server.
    pub vs: String,
    /// The real server.
    pub rs: String,
    /// Its admin state now.
    pub admin: String,
    /// Whether this request changed anything (false: it was so already).
    pub changed: bool,
}

/// One check run by `check`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRun {
    /// The virtual server.
    pub vs: String,
    /// The real server.
    pub rs: String,
    /// The check's keyword.
    pub check: String,
    /// What it probed.
    pub target: String,
    /// Whether it passed.
    pub ok: bool,
    /// Why (or what it saw).
    pub reason: String,
    /// How long it took (ms).
    pub latency_ms: f64,
}

/// `reload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reload {
    /// Applied.
    pub ok: bool,
    /// Every diagnostic of the config (warnings on success; on refusal the
    /// errors, at file:line:col).
    pub diagnostics: Vec<String>,
    /// What runs now (or why the reload was refused).
    pub message: String,
}
