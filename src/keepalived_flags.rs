//! keepalived 2.2.7's command line, as lvsd takes it (part of the binary,
//! beside `main.rs`).
//!
//! lvsd is keepalived's checker process (`keepalived -C`), so a unit or
//! script written for keepalived must be able to call lvsd unchanged:
//! every keepalived flag parses. Each one is either
//!
//! - **honoured**, with keepalived's meaning as it applies to the checker
//!   (`-C`, `-I`, `-c`, `-S`, `-G`, `-u`, `-e`, `-s`, `-m`, `-d`, ...), or
//!   accepted because the checker has nothing it would change (`-R`, `-r`,
//!   `-b`, `-a`: no child processes, no VRRP or BFD process to name);
//! - **refused** with one line saying why, when it asks for something only
//!   keepalived's other processes do (`-P`, `-V`, `-X`, `-B`, `--all`,
//!   `-x`, `-A`, `-T`).
//!
//! `-f`, `-n`, `-l`, `-D`, `-p`, `-t`, `-i`, `-v` are in `main.rs`.

use std::path::PathBuf;

use clap::Args;

/// keepalived's flags beyond the common ones.
#[derive(Debug, Args)]
#[command(next_help_heading = "keepalived's options")]
pub struct KeepalivedFlags {
    /// Only run the health checker: what lvsd is (accepted).
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Refused: VRRP is keepalived's (run `keepalived --vrrp` beside lvsd).
    #[arg(short = 'P', long = "vrrp")]
    pub vrrp: bool,
    /// Refused: lvsd runs no BFD process (run keepalived for BFD).
    #[arg(short = 'B', long = "no_bfd")]
    pub no_bfd: bool,
    /// Refused: lvsd runs only the checker.
    #[arg(long = "all")]
    pub all: bool,
    /// Syslog facility: 0-7 (local0-7), user or daemon (the default).
    #[arg(short = 'S', long = "log-facility", value_name = "FACILITY")]
    pub log_facility: Option<String>,
    /// Don't log via syslog.
    #[arg(short = 'G', long = "no-syslog")]
    pub no_syslog: bool,
    /// umask for the files lvsd creates (numeric, e.g. 022).
    #[arg(short = 'u', long = "umask", value_name = "MASK")]
    pub umask: Option<String>,
    /// Refused: VRRP addresses are keepalived's.
    #[arg(short = 'X', long = "release-vips")]
    pub release_vips: bool,
    /// Refused: VRRP addresses are keepalived's.
    #[arg(short = 'V', long = "dont-release-vrrp")]
    pub dont_release_vrrp: bool,
    /// Leave the IPVS services in place at stop (as --keep-table).
    #[arg(short = 'I', long = "dont-release-ipvs")]
    pub dont_release_ipvs: bool,
    /// Accepted: lvsd has no child processes to respawn.
    #[arg(short = 'R', long = "dont-respawn")]
    pub dont_respawn: bool,
    /// Log the resolved config at start (as JSON).
    #[arg(short = 'd', long = "dump-conf")]
    pub dump_conf: bool,
    /// Accepted: lvsd runs no VRRP process to write a pid file for.
    #[arg(short = 'r', long = "vrrp_pid", value_name = "FILE")]
    pub vrrp_pid: Option<PathBuf>,
    /// Refused: use keepalived's `genhash`.
    #[arg(short = 'T', long = "genhash")]
    pub genhash: bool,
    /// The checker's pid file: lvsd's own (as -p).
    #[arg(short = 'c', long = "checkers_pid", value_name = "FILE")]
    pub checkers_pid: Option<PathBuf>,
    /// Accepted: lvsd does not log address changes.
    #[arg(short = 'a', long = "address-monitoring")]
    pub address_monitoring: bool,
    /// Accepted: lvsd runs no BFD process to write a pid file for.
    #[arg(short = 'b', long = "bfd_pid", value_name = "FILE")]
    pub bfd_pid: Option<PathBuf>,
    /// Refused: lvsd has no SNMP agent.
    #[arg(short = 'x', long = "snmp")]
    pub snmp: bool,
    /// Refused: lvsd has no SNMP agent.
    #[arg(short = 'A', long = "snmp-agent-socket", value_name = "FILE")]
    pub snmp_agent_socket: Option<PathBuf>,
    /// Run in network namespace NAME (/run/netns/NAME).
    #[arg(short = 's', long = "namespace", value_name = "NAME")]
    pub namespace: Option<String>,
    /// Dump core if lvsd ends abnormally (no core size limit).
    #[arg(short = 'm', long = "core-dump")]
    pub core_dump: bool,
    /// Also set /proc/sys/kernel/core_pattern to PATN (implies -m).
    #[arg(short = 'M', long = "core-dump-pattern", value_name = "PATN", num_args = 0..=1,
          require_equals = true, default_missing_value = "core")]
    pub core_dump_pattern: Option<String>,
    /// Refuse to start when an included file is missing.
    #[arg(short = 'e', long = "all-config")]
    pub all_config: bool,
    /// Print the number of the signal for STOP, RELOAD or DATA, and exit.
    #[arg(long = "signum", value_name = "SIGFUNC")]
    pub signum: Option<String>,
}

impl KeepalivedFlags {
    /// The first flag lvsd cannot honour, with why, in one line.
    pub fn refused(&self) -> Option<&'static str> {
        [
            (self.vrrp, "-P/--vrrp: lvsd is keepalived's checker (-C) alone; run `keepalived --vrrp` for VRRP"),
            (self.no_bfd, "-B/--no_bfd: lvsd is keepalived's checker (-C) alone and runs no BFD; drop the option"),
            (self.all, "--all: lvsd is keepalived's checker (-C) alone; run keepalived for VRRP and BFD"),
            (self.release_vips, "-X/--release-vips: VRRP addresses are keepalived's; give it to `keepalived --vrrp`"),
            (self.dont_release_vrrp, "-V/--dont-release-vrrp: VRRP addresses are keepalived's; give it to `keepalived --vrrp`"),
            (self.genhash, "-T/--genhash: use keepalived's `genhash` to compute an HTTP digest"),
            (self.snmp, "-x/--snmp: lvsd has no SNMP agent; read its state with SIGUSR1 (--state-file)"),
            (self.snmp_agent_socket.is_some(), "-A/--snmp-agent-socket: lvsd has no SNMP agent; read its state with SIGUSR1 (--state-file)"),
        ]
        .into_iter()
        .find_map(|(given, why)| given.then_some(why))
    }

    /// `-S`: the syslog facility code, or why the value is wrong.
    pub fn facility(&self) -> Result<u8, String> {
        let Some(name) = &self.log_facility else {
            return Ok(3); // LOG_DAEMON
        };
        match name.as_str() {
            "daemon" => Ok(3),
            "user" => Ok(1),
            n => n
                .strip_prefix("local")
                .unwrap_or(n)
                .parse::<u8>()
                .ok()
                .filter(|&k| k <= 7)
                .map(|k| 16 + k) // LOG_LOCAL0..7
                .ok_or_else(|| {
                    format!("-S/--log-facility takes 0-7, local0-7, user or daemon, not `{n}`")
                }),
        }
    }

    /// `-u`: the umask, or why the value is wrong.
    pub fn umask(&self) -> Result<Option<u32>, String> {
        self.umask
            .as_deref()
            .map(|m| {
                u32::from_str_radix(m.trim_start_matches("0o"), 8)
                    .ok()
                    .filter(|&m| m <= 0o777)
                    .ok_or_else(|| format!("-u/--umask takes an octal mask such as 022, not `{m}`"))
            })
            .transpose()
    }
}

/// `--signum=SIGFUNC`: the signal number lvsd answers for SIGFUNC, as
/// keepalived prints it.
pub fn signum(function: &str) -> Result<i32, String> {
    match function {
        "STOP" => Ok(libc::SIGTERM),
        "RELOAD" => Ok(libc::SIGHUP),
        "DATA" => Ok(libc::SIGUSR1),
        "STATS" | "STATS_CLEAR" | "JSON" => Err(format!(
            "--signum={function}: lvsd has no such signal (SIGUSR1 writes its whole state as JSON)"
        )),
        other => Err(format!(
            "--signum takes STOP, RELOAD, DATA, STATS, STATS_CLEAR or JSON, not `{other}`"
        )),
    }
}
