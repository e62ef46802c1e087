//! `lvsd ctl …`: the control socket's client for people (tables) and
//! scripts (`--json`). See `docs/control.md`.
//!
//! Exit status: 0 when lvsd did what was asked; 1 when it answered no (a
//! refused reload, a change the caller may not make, a real server it does
//! not know: the reason goes to stderr, and with `--json` the answer to
//! stdout too); 3 when lvsd could not be reached or answered nonsense.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use lvsd::control::protocol::{Request, Response, ShowWhat};
use lvsd::control::{client, render, view};

/// `lvsd ctl`'s arguments.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The control socket [default: lvsd.sock in $RUNTIME_DIRECTORY, else /run/lvsd/lvsd.sock].
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Print lvsd's answer as JSON (one object) instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for the answer.
    #[arg(long = "wait", default_value_t = 130, value_name = "SECS")]
    wait: u64,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Table {
    /// Virtual servers.
    Vs,
    /// Real servers: health, admin state, weights, connections.
    Rs,
    /// The distinct probes and their last verdicts.
    Probes,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// Counts, the config, the last reload, the IPVS sysctls drains depend on.
    Status,
    /// A table of virtual servers, real servers or probes.
    Show {
        /// Which table.
        #[arg(value_enum)]
        what: Table,
        /// Only this virtual server (IP:PORT[/tcp|udp|sctp], fwmark:N, group:NAME).
        #[arg(long)]
        vs: Option<String>,
    },
    /// Weight 0 (no new connections), then delete when its connections are gone or at the timeout.
    Drain {
        /// The real server: IP or IP:PORT.
        rs: String,
        /// Only in this virtual server (else in every one that lists it).
        #[arg(long)]
        vs: Option<String>,
        /// Seconds before it is deleted whatever its connections [default: --drain-timeout of the daemon, else 300].
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Out of the table as if its checks failed, until `enable`.
    Disable {
        /// The real server: IP or IP:PORT.
        rs: String,
        /// Only in this virtual server.
        #[arg(long)]
        vs: Option<String>,
    },
    /// Cancel a drain or a disable.
    Enable {
        /// The real server: IP or IP:PORT.
        rs: String,
        /// Only in this virtual server.
        #[arg(long)]
        vs: Option<String>,
    },
    /// Override the real server's weight (`reset`: the configured one again).
    Weight {
        /// The real server: IP or IP:PORT.
        rs: String,
        /// 0 to 65535, or `reset`.
        weight: String,
        /// Only in this virtual server.
        #[arg(long)]
        vs: Option<String>,
    },
    /// Run the real server's checks once now and print the results (changes nothing).
    Check {
        /// The real server: IP or IP:PORT.
        rs: String,
        /// Only in this virtual server.
        #[arg(long)]
        vs: Option<String>,
    },
    /// Reload the config as SIGHUP does; prints its diagnostics, exits 1 when refused.
    Reload,
}

fn request(command: &CtlCommand) -> anyhow::Result<Request> {
    Ok(match command {
        CtlCommand::Status => Request::Status {},
        CtlCommand::Show { what, vs } => Request::Show {
            what: match what {
                Table::Vs => ShowWhat::Vs,
                Table::Rs => ShowWhat::Rs,
                Table::Probes => ShowWhat::Probes,
            },
            vs: vs.clone(),
        },
        CtlCommand::Drain { rs, vs, timeout } => Request::Drain {
            rs: rs.clone(),
            vs: vs.clone(),
            timeout: *timeout,
        },
        CtlCommand::Disable { rs, vs } => Request::Disable {
            rs: rs.clone(),
            vs: vs.clone(),
        },
        CtlCommand::Enable { rs, vs } => Request::Enable {
            rs: rs.clone(),
            vs: vs.clone(),
        },
        CtlCommand::Weight { rs, weight, vs } => Request::Weight {
            rs: rs.clone(),
            vs: vs.clone(),
            weight: match weight.as_str() {
                "reset" => None,
                n => Some(n.parse().map_err(|_| {
                    anyhow::anyhow!("weight `{n}`: expected a number from 0 to 65535, or `reset`")
                })?),
            },
        },
        CtlCommand::Check { rs, vs } => Request::Check {
            rs: rs.clone(),
            vs: vs.clone(),
        },
        CtlCommand::Reload => Request::Reload {},
    })
}

/// The answer's result as a table.
fn table(command: &CtlCommand, result: serde_json::Value) -> Result<String, serde_json::Error> {
    use serde_json::from_value as from;
    Ok(match command {
        CtlCommand::Status => render::status(&from::<view::Status>(result)?),
        CtlCommand::Show {
            what: Table::Vs, ..
        } => render::virtual_servers(&from::<Vec<_>>(result)?),
        CtlCommand::Show {
            what: Table::Rs, ..
        } => render::real_servers(&from::<Vec<_>>(result)?),
        CtlCommand::Show {
            what: Table::Probes,
            ..
        } => render::probes(&from::<Vec<_>>(result)?),
        CtlCommand::Check { .. } => render::checks(&from::<Vec<_>>(result)?),
        CtlCommand::Reload => render::reload(&from::<view::Reload>(result)?),
        _ => render::changed(&from::<Vec<_>>(result)?),
    })
}

/// Run `lvsd ctl`.
pub fn run(args: &CtlArgs) -> anyhow::Result<ExitCode> {
    let request = request(&args.command)?;
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(|| lvsd::daemon::run_dir::runtime_dir().join("lvsd.sock"));
    let response = match client::call(&socket, &request, Duration::from_secs(args.wait)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lvsd ctl: {e}");
            return Ok(ExitCode::from(3));
        }
    };
    let Response {
        ok,
        result,
        error,
        kind,
    } = response.clone();
    if args.json {
        println!("{}", serde_json::to_string(&response)?);
    } else if let Some(result) = result {
        match table(&args.command, result) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("lvsd ctl: lvsd's answer cannot be read: {e}");
                return Ok(ExitCode::from(3));
            }
        }
    }
    if ok {
        return Ok(ExitCode::SUCCESS);
    }
    let kind = kind.map(|k| format!("{k:?}")).unwrap_or_default();
    eprintln!(
        "lvsd ctl: {}",
        error.unwrap_or_else(|| format!("lvsd answered no ({kind})"))
    );
    Ok(ExitCode::FAILURE)
}
