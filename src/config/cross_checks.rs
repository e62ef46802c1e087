//! Checks that need the whole config, run once it is read: group
//! references and ports. (What the host says of the config's scripts is
//! asked after these, by [`crate::script_policy::check_config`].)

use super::diagnostic::{Diagnostic, Severity};
use super::typer::Typer;
use super::{GroupEntry, VsAddress};
use crate::ipvs::ForwardMethod;

/// Every check, its diagnostics added to the typer's.
pub fn run(typer: &mut Typer<'_>) {
    check_group_references(typer);
    check_group_ports(typer);
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
