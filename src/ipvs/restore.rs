//! Parsing `ipvsadm -Sn` / `ipvsadm -R` lines into table changes, with
//! ipvsadm's defaults: scheduler `wlc`, persistence 360 s when `-p` has no
//! value, netmask /32 (IPv4) or 128 (IPv6), weight 1, direct routing, and
//! the real server's port taken from the service when it has none or when
//! forwarding is direct routing or tunnelling.

use std::net::IpAddr;

use thiserror::Error;

use super::{
    DestKey, Destination, Family, ForwardMethod, Protocol, Service, ServiceFlags, ServiceKey,
    TableOp, Tunnel, TunnelType,
};

/// One line of a restore file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreLine {
    /// A table change (`-A -E -D -a -e -d`).
    Op(TableOp),
    /// `-C`: remove every service.
    Flush,
}

/// Why a restore line was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct RestoreError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmd {
    AddService,
    EditService,
    DelService,
    AddDest,
    EditDest,
    DelDest,
    Flush,
}

/// Split `ADDR[:PORT]` or `[V6]:PORT`; `None` port when absent.
fn parse_addr_port(s: &str) -> Result<(IpAddr, Option<u16>), String> {
    let bad = || format!("illegal address[:port] `{s}'");
    if let Some(rest) = s.strip_prefix('[') {
        let (a, p) = rest.split_once(']').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let port = p.strip_prefix(':').ok_or_else(bad)?;
        return Ok((addr, Some(port.parse().map_err(|_| bad())?)));
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok((a, None));
    }
    let (a, p) = s.rsplit_once(':').ok_or_else(bad)?;
    let addr: std::net::Ipv4Addr = a.parse().map_err(|_| bad())?;
    Ok((IpAddr::V4(addr), Some(p.parse().map_err(|_| bad())?)))
}

/// `-b` flags; `sh-*` need the `sh` scheduler and `mh-*` the `mh` one.
fn sched_flags(scheduler: &str, arg: &str) -> Result<u32, String> {
    let mut f = 0;
    for name in arg.split(',') {
        let (bit, needs) = match name {
            "flag-1" => (ServiceFlags::SCHED1, None),
            "flag-2" => (ServiceFlags::SCHED2, None),
            "flag-3" => (ServiceFlags::SCHED3, None),
            "sh-fallback" => (ServiceFlags::SCHED1, Some("sh")),
            "sh-port" => (ServiceFlags::SCHED2, Some("sh")),
            "mh-fallback" => (ServiceFlags::SCHED1, Some("mh")),
            "mh-port" => (ServiceFlags::SCHED2, Some("mh")),
            other => return Err(format!("invalid scheduler flag `{other}'")),
        };
        if needs.is_some_and(|n| n != scheduler) {
            return Err(format!("incompatible scheduler flag `{name}'"));
        }
        f |= bit;
    }
    Ok(f)
}

fn number<T: std::str::FromStr>(v: &str, what: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("illegal {what} `{v}'"))
}

/// Parse one line's words (without the program name).
fn parse_words(words: &[&str]) -> Result<Option<RestoreLine>, String> {
    let mut cmd = None;
    let mut svc: Option<(Option<Protocol>, IpAddr, Option<u16>)> = None;
    let mut fwmark: Option<u32> = None;
    let mut v6 = false;
    let (mut sched, mut timeout, mut netmask, mut pe) = (None, 0u32, None, None);
    let mut flags = 0u32;
    let mut sched_flag_arg: Option<String> = None;
    let mut real: Option<(IpAddr, Option<u16>)> = None;
    let (mut fwd, mut weight, mut ut, mut lt) = (ForwardMethod::Route, 1i32, 0u32, 0u32);
    let (mut tun_type, mut tun_port, mut tun_flags, mut tun_opts) = (None, 0u16, 0u16, false);
    let mut i = 0;
    while i < words.len() {
        let (opt, inline) = match words[i].split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o, Some(v)),
            _ => (words[i], None),
        };
        i += 1;
        let mut value = |what: &str| -> Result<&str, String> {
            if let Some(v) = inline {
                return Ok(v);
            }
            let v = words
                .get(i)
                .ok_or_else(|| format!("option {what} needs a value"))?;
            i += 1;
            Ok(v)
        };
        let mut set_cmd = |c| {
            if cmd.replace(c).is_some() {
                Err("more than one command".to_string())
            } else {
                Ok(())
            }
        };
        match opt {
            "-A" | "--add-service" => set_cmd(Cmd::AddService)?,
            "-E" | "--edit-service" => set_cmd(Cmd::EditService)?,
            "-D" | "--delete-service" => set_cmd(Cmd::DelService)?,
            "-a" | "--add-server" => set_cmd(Cmd::AddDest)?,
            "-e" | "--edit-server" => set_cmd(Cmd::EditDest)?,
            "-d" | "--delete-server" => set_cmd(Cmd::DelDest)?,
            "-C" | "--clear" => set_cmd(Cmd::Flush)?,
            "-t" | "--tcp-service" | "-u" | "--udp-service" | "--sctp-service" => {
                let p = match opt {
                    "-t" | "--tcp-service" => Protocol::Tcp,
                    "-u" | "--udp-service" => Protocol::Udp,
                    _ => Protocol::Sctp,
                };
                let (a, port) = parse_addr_port(value(opt)?)?;
                svc = Some((Some(p), a, port));
            }
            "-f" | "--fwmark-service" => fwmark = Some(number(value(opt)?, "fwmark")?),
            "-6" | "--ipv6" => v6 = true,
            "-s" | "--scheduler" => sched = Some(value(opt)?.to_string()),
            "-p" | "--persistent" => {
                timeout = 360;
                let next = inline.or_else(|| words.get(i).copied().filter(|w| !w.starts_with('-')));
                if let Some(v) = next {
                    timeout = number(v, "persistent timeout")?;
                    if inline.is_none() {
                        i += 1;
                    }
                }
                flags |= ServiceFlags::PERSISTENT;
            }
            "-M" | "--netmask" => netmask = Some(value(opt)?.to_string()),
            "--pe" => pe = Some(value(opt)?.to_string()),
            "-o" | "--ops" => flags |= ServiceFlags::ONEPACKET,
            "-b" | "--sched-flags" => sched_flag_arg = Some(value(opt)?.to_string()),
            "-r" | "--real-server" => real = Some(parse_addr_port(value(opt)?)?),
            "-g" | "--gatewaying" => fwd = ForwardMethod::Route,
            "-i" | "--ipip" => fwd = ForwardMethod::Tunnel,
            "-m" | "--masquerading" => fwd = ForwardMethod::Masq,
            "-w" | "--weight" => weight = number(value(opt)?, "weight")?,
            "-x" | "--u-threshold" => ut = number(value(opt)?, "u-threshold")?,
            "-y" | "--l-threshold" => lt = number(value(opt)?, "l-threshold")?,
            "--tun-type" => {
                tun_opts = true;
                tun_type = Some(match value(opt)? {
                    "ipip" => TunnelType::Ipip,
                    "gue" => TunnelType::Gue,
                    "gre" => TunnelType::Gre,
                    other => return Err(format!("illegal tunnel type `{other}'")),
                })
            }
            "--tun-port" => {
                tun_opts = true;
                tun_port = number(value(opt)?, "tunnel port")?
            }
            "--tun-nocsum" => {
                tun_opts = true;
                tun_flags = 0
            }
            "--tun-csum" => {
                tun_opts = true;
                tun_flags |= 1
            }
            "--tun-remcsum" => {
                tun_opts = true;
                tun_flags |= 2
            }
            other => return Err(format!("invalid option `{other}'")),
        }
    }
    let Some(cmd) = cmd else {
        return Err("no command (-A -E -D -a -e -d -C)".into());
    };
    if cmd == Cmd::Flush {
        return Ok(Some(RestoreLine::Flush));
    }
    let (key, svc_port) = match (svc, fwmark) {
        (Some((Some(protocol), addr, port)), None) => {
            let port = port.unwrap_or(0);
            (
                ServiceKey::Addr {
                    protocol,
                    addr,
                    port,
                },
                port,
            )
        }
        (None, Some(mark)) => {
            let family = if v6 { Family::Inet6 } else { Family::Inet };
            (ServiceKey::Fwmark { family, mark }, 0)
        }
        _ => return Err("exactly one service (-t, -u, --sctp-service or -f) is needed".into()),
    };
    let family = key.family();
    match cmd {
        Cmd::AddService | Cmd::EditService => {
            let is_fwmark = matches!(key, ServiceKey::Fwmark { .. });
            if !is_fwmark && svc_port == 0 && flags & ServiceFlags::PERSISTENT == 0 {
                return Err("Zero port specified for non-persistent service".into());
            }
            let udp = matches!(
                key,
                ServiceKey::Addr {
                    protocol: Protocol::Udp,
                    ..
                }
            );
            if flags & ServiceFlags::ONEPACKET != 0 && !is_fwmark && !udp {
                return Err("One-Packet Scheduling is only for UDP virtual services".into());
            }
            let netmask = match (family, netmask) {
                (Family::Inet, None) => 0xffff_ffff,
                (Family::Inet6, None) => 128,
                (Family::Inet, Some(m)) => {
                    let a: std::net::Ipv4Addr = m
                        .parse()
                        .map_err(|_| format!("illegal persistent mask `{m}'"))?;
                    u32::from(a)
                }
                (Family::Inet6, Some(m)) => match m.parse::<u32>() {
                    Ok(n) if (1..=128).contains(&n) => n,
                    _ => return Err(format!("illegal ipv6 netmask `{m}'")),
                },
            };
            let scheduler = sched.unwrap_or_else(|| "wlc".into());
            if let Some(arg) = &sched_flag_arg {
                flags |= sched_flags(&scheduler, arg)?;
            }
            let service = Service {
                key,
                scheduler,
                flags: ServiceFlags(flags),
                timeout,
                netmask,
                pe_name: pe,
            };
            Ok(Some(RestoreLine::Op(if cmd == Cmd::AddService {
                TableOp::AddService(service)
            } else {
                TableOp::UpdateService(service)
            })))
        }
        Cmd::DelService => Ok(Some(RestoreLine::Op(TableOp::RemoveService(key)))),
        Cmd::AddDest | Cmd::EditDest | Cmd::DelDest => {
            let (addr, port) = real.ok_or("a real server (-r) is needed")?;
            let mut port = port.unwrap_or(svc_port);
            if cmd == Cmd::DelDest {
                return Ok(Some(RestoreLine::Op(TableOp::RemoveDest(
                    key,
                    DestKey { addr, port },
                ))));
            }
            let is_fwmark = matches!(key, ServiceKey::Fwmark { .. });
            if !is_fwmark && matches!(fwd, ForwardMethod::Tunnel | ForwardMethod::Route) {
                port = svc_port;
            }
            if Family::of(&addr) != family && fwd != ForwardMethod::Tunnel {
                return Err(
                    "Different address family is allowed only for tunneling servers".into(),
                );
            }
            if tun_opts && fwd != ForwardMethod::Tunnel {
                return Err("Tunnel options conflict with forward method".into());
            }
            let kind = tun_type.unwrap_or(TunnelType::Ipip);
            if kind == TunnelType::Gue && tun_port == 0 {
                return Err(
                    "You need to supply the 'tun-port' option for the 'gue' tunnel type".into(),
                );
            }
            if kind != TunnelType::Gue && tun_port != 0 {
                return Err("Illegal 'tun-port' option for this tunnel type".into());
            }
            if kind == TunnelType::Gre && tun_flags & 2 != 0 {
                return Err("Illegal 'tun-remcsum' option with the 'gre' tunnel type".into());
            }
            if kind == TunnelType::Ipip && tun_flags != 0 {
                return Err("Illegal checksum option with the 'ipip' tunnel type".into());
            }
            let dest = Destination {
                key: DestKey { addr, port },
                fwd,
                weight,
                u_threshold: ut,
                l_threshold: lt,
                tunnel: Tunnel {
                    kind,
                    port: tun_port,
                    flags: tun_flags,
                },
            };
            Ok(Some(RestoreLine::Op(if cmd == Cmd::AddDest {
                TableOp::AddDest(key, dest)
            } else {
                TableOp::UpdateDest(key, dest)
            })))
        }
        Cmd::Flush => Ok(Some(RestoreLine::Flush)),
    }
}

/// Parse one line; blank lines and `#` comments give `None`. A leading
/// `ipvsadm` word is skipped.
pub fn parse_line(line: &str) -> Result<Option<RestoreLine>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut words: Vec<&str> = line.split_whitespace().collect();
    if words.first() == Some(&"ipvsadm") {
        words.remove(0);
    }
    parse_words(&words)
}

/// Parse a whole restore file; the first bad line fails it all.
pub fn parse(text: &str) -> Result<Vec<RestoreLine>, RestoreError> {
    Ok(parse_numbered(text)?.into_iter().map(|(_, l)| l).collect())
}

/// Like [`parse`], with each change's 1-based line number.
pub fn parse_numbered(text: &str) -> Result<Vec<(usize, RestoreLine)>, RestoreError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(l)) => out.push((n + 1, l)),
            Ok(None) => {}
            Err(message) => {
                return Err(RestoreError {
                    line: n + 1,
                    message,
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
