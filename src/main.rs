//! The `lvsd` binary: the command line at the edge of the library.
//!
//! Options follow `keepalived`'s where keepalived has them, so an existing
//! unit file or script can call lvsd the same way: the common ones are
//! here, the rest of keepalived's in `keepalived_flags.rs`. `generate.rs`
//! writes the man pages and shell completions from this same definition.

// Kept by clippy in CI (`.ci/run`, -D warnings); see Cargo.toml's [lints]
// for why these are here and not there.
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod ctl_command;
mod generate;
mod keepalived_flags;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{CommandFactory, Parser, Subcommand};
use keepalived_flags::KeepalivedFlags;

/// A health checker for Linux IPVS that reads keepalived.conf.
#[derive(Debug, Parser)]
#[command(
    name = "lvsd",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// The config file (keepalived.conf syntax).
    #[arg(
        short = 'f',
        long = "use-file",
        default_value = "/etc/keepalived/keepalived.conf"
    )]
    use_file: PathBuf,
    /// Stay in the foreground (lvsd always does; accepted for keepalived compatibility).
    #[arg(short = 'n', long = "dont-fork")]
    dont_fork: bool,
    /// Log to the console (stderr) too; without it lvsd logs to syslog
    /// (journald) only, as keepalived does.
    #[arg(short = 'l', long = "log-console")]
    log_console: bool,
    /// Detailed logging (debug level).
    #[arg(short = 'D', long = "log-detail")]
    log_detail: bool,
    /// Write the process id to this file.
    #[arg(short = 'p', long = "pid")]
    pid: Option<PathBuf>,
    /// Check the config and exit: 0 if nothing needed saying, 5 otherwise;
    /// the report goes to stderr, or to LOG_FILE.
    #[arg(
        short = 't',
        long = "config-test",
        value_name = "LOG_FILE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "-"
    )]
    config_test: Option<PathBuf>,
    /// Select `@ID` conditional config lines.
    #[arg(short = 'i', long = "config-id")]
    config_id: Option<String>,
    /// Print the version and exit.
    #[arg(short = 'v', long = "version")]
    version: bool,
    /// Use an in-memory IPVS table and print every change as `ipvsadm -Sn`
    /// lines (it logs to the console, not to syslog).
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Print the resolved config model as JSON and exit.
    #[arg(long = "dump-config")]
    dump_config: bool,
    /// Seconds between comparisons of the kernel's table with the desired one (0 = never).
    #[arg(long = "drift-interval", default_value_t = 5.0)]
    drift_interval: f64,
    /// Where SIGUSR1 writes the full state as JSON (mode 0600) [default:
    /// state.json in $RUNTIME_DIRECTORY, else /run/lvsd/state.json].
    #[arg(long = "state-file")]
    state_file: Option<PathBuf>,
    /// Leave lvsd's services in the IPVS table at stop (for a restart).
    #[arg(long = "keep-table")]
    keep_table: bool,
    /// Run a config that asks for no IPVS service: at start, and on a
    /// reload that would remove every service lvsd runs (refused otherwise).
    #[arg(long = "allow-empty-config")]
    allow_empty_config: bool,
    /// The control socket for `lvsd ctl`: a path, or `none` [default:
    /// lvsd.sock in the run directory; none with --dry-run].
    #[arg(long = "ctl-socket", value_name = "PATH|none")]
    ctl_socket: Option<String>,
    /// The control socket's group: its members may read (status, show)
    /// [default: `lvsd` if that group exists, else root only].
    #[arg(long = "ctl-group", value_name = "GROUP")]
    ctl_group: Option<String>,
    /// A group whose members may change things over the control socket
    /// (drain, disable, enable, weight, check, reload) besides root.
    #[arg(long = "ctl-admin-group", value_name = "GROUP")]
    ctl_admin_group: Option<String>,
    /// Seconds a real server that a reload removes drains (weight 0) before
    /// it is deleted; 0 deletes it at once, as keepalived does.
    #[arg(long = "drain-timeout", default_value_t = 300, value_name = "SECS")]
    drain_timeout: u64,
    /// Seconds between counts of draining real servers' connections.
    #[arg(long = "drain-poll", default_value_t = 2.0, value_name = "SECS")]
    drain_poll: f64,
    /// Serve /metrics (Prometheus), /status (JSON) and /healthz over HTTP on
    /// this address (e.g. 127.0.0.1:9650); off by default.
    #[arg(long = "metrics-listen", value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Per-real-server series on /metrics (false: per virtual service only,
    /// for very large tables).
    #[arg(long = "metrics-per-real-server", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    metrics_per_real_server: bool,
    /// Seconds after a start or reload before lvsd warns that no sync
    /// daemon runs though `lvs_sync_daemon` asks for one (the VRRP side,
    /// `keepalived -P`, runs it; lvsd only watches).
    #[arg(long = "sync-daemon-grace", default_value_t = 30, value_name = "SECS")]
    sync_daemon_grace: u64,
    #[command(flatten)]
    keepalived: KeepalivedFlags,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Talk to the running lvsd over its control socket (see docs/control.md).
    Ctl(ctl_command::CtlArgs),
    /// Read or write the kernel's IPVS table.
    Ipvs {
        #[command(subcommand)]
        action: IpvsAction,
    },
}

#[derive(Debug, Subcommand)]
enum IpvsAction {
    /// The table as `ipvsadm -Ln` prints it.
    List {
        /// Print lvsd's own dump as JSON instead (for tests).
        #[arg(long, hide = true)]
        json: bool,
    },
    /// The table as `ipvsadm -Sn` prints it.
    Save,
    /// Apply `ipvsadm -Sn` lines from standard input, as `ipvsadm -R` does.
    Restore {
        /// Print one result line per change (for tests).
        #[arg(long, hide = true)]
        report: bool,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lvsd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    // `lvsd generate man|completions DIR`, for packaging/build-deb: read
    // before clap so that it shows in no man page and no completion.
    if let Some((what, dir)) =
        generate::requested(std::env::args_os()).map_err(anyhow::Error::msg)?
    {
        generate::run(what, &dir, Cli::command())
            .with_context(|| format!("cannot write into {}", dir.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let cli = Cli::parse();
    if cli.version {
        println!("lvsd {}", env!("CARGO_PKG_VERSION"));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(why) = cli.keepalived.refused() {
        bail!("{why}");
    }
    if let Some(function) = &cli.keepalived.signum {
        println!(
            "{}",
            keepalived_flags::signum(function).map_err(anyhow::Error::msg)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let facility = cli.keepalived.facility().map_err(anyhow::Error::msg)?;
    let umask = cli.keepalived.umask().map_err(anyhow::Error::msg)?;
    // Only the daemon logs to syslog: a dry run, a config test and the
    // `ipvs` tools talk to whoever runs them.
    let daemon = cli.command.is_none() && cli.config_test.is_none() && !cli.dump_config;
    let syslog = daemon && !cli.dry_run && !cli.keepalived.no_syslog;
    let console = cli.log_console || !daemon || cli.dry_run;
    let syslog = lvsd::logging::init(lvsd::logging::LogTo {
        console,
        syslog: syslog.then_some(facility),
        detail: cli.log_detail,
    });
    match &cli.command {
        Some(Command::Ipvs { action }) => return ipvs_command(action),
        Some(Command::Ctl(args)) => return ctl_command::run(args),
        None => {}
    }
    let opts = lvsd::config::LoadOptions {
        config_id: cli.config_id.clone(),
    };
    if cli.config_test.is_some() || cli.dump_config {
        return config_test(&cli, &opts);
    }
    let result = run_daemon(&cli, umask);
    if let (Err(e), true) = (&result, syslog) {
        // The console shows it (main prints it); syslog must too.
        tracing::error!("{e:#}");
    }
    result
}

/// The daemon, with keepalived's process settings applied first.
fn run_daemon(cli: &Cli, umask: Option<u32>) -> anyhow::Result<ExitCode> {
    let k = &cli.keepalived;
    if let Some(mask) = umask {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    }
    if k.core_dump || k.core_dump_pattern.is_some() {
        let unlimited = rustix::process::Rlimit {
            current: None,
            maximum: None,
        };
        rustix::process::setrlimit(rustix::process::Resource::Core, unlimited)
            .context("-m/--core-dump: cannot lift the core size limit")?;
    }
    if let Some(pattern) = &k.core_dump_pattern {
        std::fs::write("/proc/sys/kernel/core_pattern", pattern)
            .context("-M/--core-dump-pattern: cannot set /proc/sys/kernel/core_pattern")?;
    }
    let pid_files = cli.pid.iter().chain(&k.checkers_pid).cloned().collect();
    lvsd::daemon::run(lvsd::daemon::DaemonOptions {
        config: cli.use_file.clone(),
        config_id: cli.config_id.clone(),
        pid_files,
        dry_run: cli.dry_run,
        drift_interval: std::time::Duration::try_from_secs_f64(cli.drift_interval)
            .context("--drift-interval takes a number of seconds")?,
        state_file: cli
            .state_file
            .clone()
            .unwrap_or_else(|| lvsd::daemon::run_dir::runtime_dir().join("state.json")),
        keep_table: cli.keep_table || k.dont_release_ipvs,
        allow_empty_config: cli.allow_empty_config,
        run_dir: lvsd::daemon::run_dir::runtime_dir(),
        all_config: k.all_config,
        namespace: k.namespace.clone(),
        dump_conf: k.dump_conf,
        ctl: ctl_options(cli),
        drain_timeout: std::time::Duration::from_secs(cli.drain_timeout),
        drain_poll: std::time::Duration::try_from_secs_f64(cli.drain_poll)
            .ok()
            .filter(|d| !d.is_zero())
            .context("--drain-poll takes a number of seconds above 0")?,
        metrics: cli
            .metrics_listen
            .map(|listen| lvsd::metrics::MetricsOptions {
                listen,
                per_real_server: cli.metrics_per_real_server,
            }),
        sync_daemon_grace: std::time::Duration::from_secs(cli.sync_daemon_grace),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The control socket the options ask for: `--ctl-socket`, else the run
/// directory's `lvsd.sock` (none for a dry run); `none` turns it off. The
/// group is `--ctl-group`, else `lvsd` when that group exists.
fn ctl_options(cli: &Cli) -> Option<lvsd::control::server::Options> {
    let path = match cli.ctl_socket.as_deref() {
        Some("none") => return None,
        Some(path) => PathBuf::from(path),
        None if cli.dry_run => return None,
        None => lvsd::daemon::run_dir::runtime_dir().join("lvsd.sock"),
    };
    let group = cli.ctl_group.clone().or_else(|| {
        nix::unistd::Group::from_name("lvsd")
            .ok()
            .flatten()
            .map(|_| "lvsd".to_string())
    });
    Some(lvsd::control::server::Options {
        path,
        group,
        admin_group: cli.ctl_admin_group.clone(),
    })
}

/// `lvsd ipvs ...`.
fn ipvs_command(action: &IpvsAction) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match action {
        IpvsAction::List { json: false } => lvsd::ipvs::command::list(&mut out)?,
        IpvsAction::List { json: true } => lvsd::ipvs::command::list_json(&mut out)?,
        IpvsAction::Save => lvsd::ipvs::command::save(&mut out)?,
        IpvsAction::Restore { report: false } => {
            lvsd::ipvs::command::restore(&mut std::io::stdin().lock())?
        }
        IpvsAction::Restore { report: true } => {
            let mut table = lvsd::ipvs::NetlinkTable::open()?;
            let result = lvsd::ipvs::command::restore_into(
                &mut table,
                &mut std::io::stdin().lock(),
                Some(&mut out),
            );
            if let Err(e) = result {
                eprintln!("lvsd: {e}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `-t` and `--dump-config`: read the config, say what needs saying.
fn config_test(cli: &Cli, opts: &lvsd::config::LoadOptions) -> anyhow::Result<ExitCode> {
    prefer_huge_pages();
    // -t=LOG_FILE: the report goes there rather than to stderr.
    let out: Box<dyn Write> = match &cli.config_test {
        Some(file) if file.as_os_str() != "-" => Box::new(
            std::fs::File::create(file)
                .with_context(|| format!("-t: cannot write {}", file.display()))?,
        ),
        _ => Box::new(std::io::stderr().lock()),
    };
    // Buffered: a broken config can have a thousand diagnostics.
    let mut out = std::io::BufWriter::new(out);
    match lvsd::config::load(&cli.use_file, opts) {
        Ok(mut loaded) => {
            let audit = lvsd::script_audit::audit(&loaded.config);
            loaded.diagnostics.extend(audit);
            let mut said = false;
            for d in &loaded.diagnostics {
                if d.severity >= lvsd::config::Severity::Warning {
                    said = true;
                } else if !cli.log_detail {
                    // Notes (a skipped VRRP block) only with -D: `-t` stays
                    // silent where keepalived's is.
                    continue;
                }
                writeln!(out, "{d}")?;
            }
            out.flush()?;
            drop(out);
            if cli.dump_config {
                println!("{}", serde_json::to_string_pretty(&loaded.config)?);
            }
            // The process ends now: freeing a model of 100,000 real
            // servers piece by piece would only cost time.
            std::mem::forget(loaded);
            Ok(if said && cli.config_test.is_some() {
                ExitCode::from(5)
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(e) => {
            writeln!(out, "{e}")?;
            out.flush()?;
            Ok(ExitCode::from(5))
        }
    }
}

/// A big config builds a model of tens of megabytes; faulting it in 4 KB
/// pages costs more than parsing it. Grow glibc's heap once by a large
/// step, keep it, and ask the kernel to back that fresh part with
/// transparent huge pages (the usual THP mode is `madvise`). Only a hint:
/// if any call fails, pages are simply small.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn prefer_huge_pages() {
    const HUGE: usize = 2 << 20;
    const STEP: usize = 96 << 20;
    // SAFETY: mallopt only tunes glibc; the block is allocated and freed
    // right here and never read or written; sbrk(0) only reads the break;
    // madvise gets a range inside the heap that the block just covered,
    // and only sets a hint on it.
    unsafe {
        // Heap growth comes in STEP-sized pieces, is never given back
        // early, and buffers up to 32 MB (the largest glibc allows) come
        // from the heap too.
        libc::mallopt(libc::M_TOP_PAD, STEP as libc::c_int);
        libc::mallopt(libc::M_TRIM_THRESHOLD, (2 * STEP) as libc::c_int);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        let before = libc::sbrk(0) as usize;
        // More than the heap has free: the heap grows by it plus STEP.
        // black_box: the compiler would otherwise drop an unused malloc/free.
        let block = std::hint::black_box(libc::malloc(1 << 20));
        if block.is_null() {
            return;
        }
        libc::free(block);
        let after = libc::sbrk(0) as usize;
        let start = (before + HUGE - 1) & !(HUGE - 1);
        let end = after & !(HUGE - 1);
        if end > start {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn prefer_huge_pages() {}
