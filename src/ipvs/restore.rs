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

/// What one line's options said, before they are checked against its
/// command (ipvsadm's defaults filled in where an option is absent).
struct Options {
    cmd: Option<Cmd>,
    svc: Option<(Protocol, IpAddr, Option<u16>)>,
    fwmark: Option<u32>,
    v6: bool,
    sched: Option<String>,
    timeout: u32,
    netmask: Option<String>,
    pe: Option<String>,
    flags: u32,
    sched_flag_arg: Option<String>,
    real: Option<(IpAddr, Option<u16>)>,
    fwd: ForwardMethod,
    weight: i32,
    u_threshold: u32,
    l_threshold: u32,
    tunnel: TunnelOptions,
}

/// The `--tun-*` options, and whether any was given.
#[derive(Default)]
struct TunnelOptions {
    kind: Option<TunnelType>,
    port: u16,
    flags: u16,
    given: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cmd: None,
            svc: None,
            fwmark: None,
            v6: false,
            sched: None,
            timeout: 0,
            netmask: None,
            pe: None,
            flags: 0,
            sched_flag_arg: None,
            real: None,
            fwd: ForwardMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: TunnelOptions::default(),
        }
    }
}

/// The protocol of a service option (`-t`, `-u`, `--sctp-service` and their
/// long forms).
fn service_protocol(opt: &str) -> Protocol {
    match opt {
        "-t" | "--tcp-service" => Protocol::Tcp,
        "-u" | "--udp-service" => Protocol::Udp,
        _ => Protocol::Sctp,
    }
}

impl Options {
    /// Read every option of a line's words (`--opt=value` or `--opt value`).
    fn read(words: &[&str]) -> Result<Options, String> {
        let mut o = Options::default();
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
            match opt {
                "-A" | "--add-service" => o.command(Cmd::AddService)?,
                "-E" | "--edit-service" => o.command(Cmd::EditService)?,
                "-D" | "--delete-service" => o.command(Cmd::DelService)?,
                "-a" | "--add-server" => o.command(Cmd::AddDest)?,
                "-e" | "--edit-server" => o.command(Cmd::EditDest)?,
                "-d" | "--delete-server" => o.command(Cmd::DelDest)?,
                "-C" | "--clear" => o.command(Cmd::Flush)?,
                "-t" | "--tcp-service" | "-u" | "--udp-service" | "--sctp-service" => {
                    let (a, port) = parse_addr_port(value(opt)?)?;
                    o.svc = Some((service_protocol(opt), a, port));
                }
                "-f" | "--fwmark-service" => o.fwmark = Some(number(value(opt)?, "fwmark")?),
                "-6" | "--ipv6" => o.v6 = true,
                "-s" | "--scheduler" => o.sched = Some(value(opt)?.to_string()),
                "-p" | "--persistent" => {
                    // The timeout is optional: the next word is it unless
                    // it is an option.
                    let next =
                        inline.or_else(|| words.get(i).copied().filter(|w| !w.starts_with('-')));
                    o.persistent(next)?;
                    if next.is_some() && inline.is_none() {
                        i += 1;
                    }
                }
                "-M" | "--netmask" => o.netmask = Some(value(opt)?.to_string()),
                "--pe" => o.pe = Some(value(opt)?.to_string()),
                "-o" | "--ops" => o.flags |= ServiceFlags::ONEPACKET,
                "-b" | "--sched-flags" => o.sched_flag_arg = Some(value(opt)?.to_string()),
                "-r" | "--real-server" => o.real = Some(parse_addr_port(value(opt)?)?),
                "-g" | "--gatewaying" => o.fwd = ForwardMethod::Route,
                "-i" | "--ipip" => o.fwd = ForwardMethod::Tunnel,
                "-m" | "--masquerading" => o.fwd = ForwardMethod::Masq,
                "-w" | "--weight" => o.weight = number(value(opt)?, "weight")?,
                "-x" | "--u-threshold" => o.u_threshold = number(value(opt)?, "u-threshold")?,
                "-y" | "--l-threshold" => o.l_threshold = number(value(opt)?, "l-threshold")?,
                "--tun-type" => o.tunnel_type(value(opt)?)?,
                "--tun-port" => {
                    o.tunnel.port = number(value(opt)?, "tunnel port")?;
                    o.tunnel.given = true;
                }
                "--tun-nocsum" | "--tun-csum" | "--tun-remcsum" => o.tunnel_checksum(opt),
                other => return Err(format!("invalid option `{other}'")),
            }
        }
        Ok(o)
    }

    /// `-p [TIMEOUT]`: persistence, for `timeout` seconds (360 without it).
    fn persistent(&mut self, timeout: Option<&str>) -> Result<(), String> {
        self.timeout = match timeout {
            Some(v) => number(v, "persistent timeout")?,
            None => 360,
        };
        self.flags |= ServiceFlags::PERSISTENT;
        Ok(())
    }

    /// `--tun-type ipip|gue|gre`.
    fn tunnel_type(&mut self, kind: &str) -> Result<(), String> {
        self.tunnel.kind = Some(match kind {
            "ipip" => TunnelType::Ipip,
            "gue" => TunnelType::Gue,
            "gre" => TunnelType::Gre,
            other => return Err(format!("illegal tunnel type `{other}'")),
        });
        self.tunnel.given = true;
        Ok(())
    }

    /// `--tun-nocsum` clears the checksum flags; `--tun-csum` and
    /// `--tun-remcsum` add theirs.
    fn tunnel_checksum(&mut self, opt: &str) {
        self.tunnel.flags = match opt {
            "--tun-nocsum" => 0,
            "--tun-csum" => self.tunnel.flags | 1,
            _ => self.tunnel.flags | 2,
        };
        self.tunnel.given = true;
    }

    /// Note the line's command; a line has one.
    fn command(&mut self, cmd: Cmd) -> Result<(), String> {
        match self.cmd.replace(cmd) {
            Some(_) => Err("more than one command".to_string()),
            None => Ok(()),
        }
    }

    /// The service the line names, and its port (0 for a fwmark).
    fn service_key(&self) -> Result<(ServiceKey, u16), String> {
        match (self.svc, self.fwmark) {
            (Some((protocol, addr, port)), None) => {
                let port = port.unwrap_or(0);
                Ok((
                    ServiceKey::Addr {
                        protocol,
                        addr,
                        port,
                    },
                    port,
                ))
            }
            (None, Some(mark)) => {
                let family = if self.v6 { Family::Inet6 } else { Family::Inet };
                Ok((ServiceKey::Fwmark { family, mark }, 0))
            }
            _ => Err("exactly one service (-t, -u, --sctp-service or -f) is needed".into()),
        }
    }

    /// The service of `-A`/`-E`, checked as ipvsadm checks it.
    fn service(self, key: ServiceKey, port: u16) -> Result<Service, String> {
        let is_fwmark = matches!(key, ServiceKey::Fwmark { .. });
        let mut flags = self.flags;
        if !is_fwmark && port == 0 && flags & ServiceFlags::PERSISTENT == 0 {
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
        let netmask = match (key.family(), self.netmask) {
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
        let scheduler = self.sched.unwrap_or_else(|| "wlc".into());
        if let Some(arg) = &self.sched_flag_arg {
            flags |= sched_flags(&scheduler, arg)?;
        }
        Ok(Service {
            key,
            scheduler,
            flags: ServiceFlags(flags),
            timeout: self.timeout,
            netmask,
            pe_name: self.pe,
        })
    }

    /// The real server of `-a`/`-e`, checked as ipvsadm checks it: its port
    /// is the service's unless it is masqueraded (or the service a fwmark).
    fn destination(self, key: &ServiceKey, svc_port: u16) -> Result<Destination, String> {
        let (addr, port) = self.real.ok_or("a real server (-r) is needed")?;
        let is_fwmark = matches!(key, ServiceKey::Fwmark { .. });
        let fwd = self.fwd;
        let port = match port {
            _ if !is_fwmark && matches!(fwd, ForwardMethod::Tunnel | ForwardMethod::Route) => {
                svc_port
            }
            port => port.unwrap_or(svc_port),
        };
        if Family::of(&addr) != key.family() && fwd != ForwardMethod::Tunnel {
            return Err("Different address family is allowed only for tunneling servers".into());
        }
        let tunnel = &self.tunnel;
        if tunnel.given && fwd != ForwardMethod::Tunnel {
            return Err("Tunnel options conflict with forward method".into());
        }
        let kind = tunnel.kind.unwrap_or(TunnelType::Ipip);
        if kind == TunnelType::Gue && tunnel.port == 0 {
            return Err(
                "You need to supply the 'tun-port' option for the 'gue' tunnel type".into(),
            );
        }
        if kind != TunnelType::Gue && tunnel.port != 0 {
            return Err("Illegal 'tun-port' option for this tunnel type".into());
        }
        if kind == TunnelType::Gre && tunnel.flags & 2 != 0 {
            return Err("Illegal 'tun-remcsum' option with the 'gre' tunnel type".into());
        }
        if kind == TunnelType::Ipip && tunnel.flags != 0 {
            return Err("Illegal checksum option with the 'ipip' tunnel type".into());
        }
        Ok(Destination {
            key: DestKey { addr, port },
            fwd,
            weight: self.weight,
            u_threshold: self.u_threshold,
            l_threshold: self.l_threshold,
            tunnel: Tunnel {
                kind,
                port: tunnel.port,
                flags: tunnel.flags,
            },
        })
    }
}

/// Parse one line's words (without the program name): read its options,
/// then make its command's change from them.
fn parse_words(words: &[&str]) -> Result<Option<RestoreLine>, String> {
    let options = Options::read(words)?;
    let cmd = options.cmd.ok_or("no command (-A -E -D -a -e -d -C)")?;
    if cmd == Cmd::Flush {
        return Ok(Some(RestoreLine::Flush));
    }
    let (key, svc_port) = options.service_key()?;
    let op = match cmd {
        Cmd::AddService => TableOp::AddService(options.service(key, svc_port)?),
        Cmd::EditService => TableOp::UpdateService(options.service(key, svc_port)?),
        Cmd::DelService => TableOp::RemoveService(key),
        Cmd::DelDest => {
            let (addr, port) = options.real.ok_or("a real server (-r) is needed")?;
            let port = port.unwrap_or(svc_port);
            TableOp::RemoveDest(key, DestKey { addr, port })
        }
        Cmd::AddDest => {
            let dest = options.destination(&key, svc_port)?;
            TableOp::AddDest(key, dest)
        }
        Cmd::EditDest => {
            let dest = options.destination(&key, svc_port)?;
            TableOp::UpdateDest(key, dest)
        }
        Cmd::Flush => return Ok(Some(RestoreLine::Flush)),
    };
    Ok(Some(RestoreLine::Op(op)))
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
mod tests;
