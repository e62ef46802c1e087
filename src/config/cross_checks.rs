//! Checks that need the whole config, run once it is read: group
//! references and ports, and who runs scripts.

use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, Severity};
use super::typer::Typer;
use super::{Check, GroupEntry, Location, VsAddress};
use crate::ipvs::ForwardMethod;
use crate::script_policy::{insecure_reason, lookup_user, AccountError, DEFAULT_SCRIPT_USER};

/// Every check, its diagnostics added to the typer's.
pub fn run(typer: &mut Typer<'_>) {
    check_group_references(typer);
    check_group_ports(typer);
    check_scripts(typer);
}

/// `virtual_server group NAME` must name a `virtual_server_group`.
fn check_group_references(typer: &mut Typer<'_>) {
    let missing: Vec<(String, super::Location)> = typer
        .config
        .virtual_servers
        .iter()
        .filter_map(|vs| match &vs.address {
            VsAddress::Group(g) if !typer.config.groups.iter().any(|x| &x.name == g) => {
                Some((g.clone(), vs.location))
            }
            _ => None,
        })
        .collect();
    for (name, location) in missing {
        typer.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            location,
            message: format!("virtual_server_group `{name}` is not defined"),
            source_line: None,
        });
    }
}

/// A group's real servers (and sorry server) that are not NAT reach their
/// backend on the port the client used: keepalived warns about each group
/// entry whose port differs from such a server's (and changes nothing), and
/// so does lvsd, at the real server (the sorry server's: at the virtual
/// server).
fn check_group_ports(typer: &mut Typer<'_>) {
    let mut found = Vec::new();
    for vs in &typer.config.virtual_servers {
        let VsAddress::Group(name) = &vs.address else {
            continue;
        };
        let Some(group) = typer.config.groups.iter().find(|g| &g.name == name) else {
            continue;
        };
        // The real servers and the sorry server that are not NAT, with a port.
        let servers = vs
            .real_servers
            .iter()
            .map(|r| (r.method, r.addr, r.port, "real", r.location))
            .chain(
                vs.sorry_server
                    .iter()
                    .map(|s| (s.method, s.addr, s.port, "sorry", vs.location)),
            )
            .filter(|&(method, _, port, ..)| method != ForwardMethod::Masq && port != 0);
        for (_, addr, port, what, location) in servers {
            for entry in &group.entries {
                let differs = match entry {
                    GroupEntry::Addr { first, port: p, .. } => {
                        (*p != port).then(|| format!("entry {first} port {p}"))
                    }
                    GroupEntry::Fwmark(m) => Some(format!("entry fwmark {m}")),
                };
                if let Some(entry) = differs {
                    found.push(Diagnostic {
                        severity: Severity::Warning,
                        location,
                        message: format!("virtual_server_group `{name}` {entry} and {what} server [{addr}]:{port} ports differ, which only NAT can do: that entry's traffic keeps its own port, as with keepalived"),
                        source_line: None,
                    });
                }
            }
        }
    }
    for d in found {
        typer.diagnostics.push(d);
    }
}

/// What `keepalived -t` says about scripts, said at the first script
/// concerned: without `enable_script_security`, that scripts run without
/// it (keepalived's "SECURITY VIOLATION", given once any script exists);
/// with it but without `script_user`, that the default script user
/// `keepalived_script` does not exist, so scripts run as lvsd's own user.
fn check_scripts(typer: &mut Typer<'_>) {
    if !typer.scripts_seen {
        return;
    }
    let config = &typer.config;
    // notify and quorum scripts, and the MISC_CHECKs without a user of their own.
    let mut scripts: Vec<(&str, Location)> = Vec::new();
    for vs in &config.virtual_servers {
        for s in [&vs.quorum_up, &vs.quorum_down].into_iter().flatten() {
            scripts.push((&s.command, s.location));
        }
        for rs in &vs.real_servers {
            for s in [&rs.notify_up, &rs.notify_down].into_iter().flatten() {
                scripts.push((&s.command, s.location));
            }
            for check in rs.checks.iter() {
                if let Check::Misc(m) = &**check {
                    if m.user.is_none() {
                        scripts.push((&m.path, m.common.location));
                    }
                }
            }
        }
    }
    scripts.sort_by_key(|(_, l)| (l.line, l.col));
    let global = &config.global;
    let mut found = Vec::new();
    if !global.enable_script_security {
        let programs: Vec<(PathBuf, Location)> = scripts
            .iter()
            .filter_map(|(command, at)| program(command).map(|p| (p, *at)))
            .collect();
        if let Some((first, at)) = programs.first() {
            let insecure = programs
                .iter()
                .find_map(|(p, _)| insecure_reason(p))
                .map(|why| format!("; {why}"))
                .unwrap_or_default();
            found.push((*at, format!("`{}` and any other script run without `enable_script_security` in global_defs (keepalived reports a SECURITY VIOLATION){insecure}", first.display())));
        }
    } else if global.script_user.is_none() {
        if let (Some((_, at)), Err(AccountError::NoUser(_))) =
            (scripts.first(), lookup_user(DEFAULT_SCRIPT_USER, None))
        {
            found.push((*at, format!("no `script_user` and no user {DEFAULT_SCRIPT_USER}: scripts run as lvsd's own user (keepalived says it cannot set its default script user)")));
        }
    }
    for (location, message) in found {
        typer.diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            location,
            message,
            source_line: None,
        });
    }
}

/// The program a script line runs, if it exists (found in `PATH` when
/// the name has no `/`, as a shell would).
fn program(command: &str) -> Option<PathBuf> {
    let words = crate::daemon::scripts::split_words(command);
    let name = Path::new(words.first()?);
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
