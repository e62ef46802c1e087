//! The IPVS attribute schema: the attribute numbers, the model's values in
//! their wire form, and the model read back from a reply's attributes
//! (`parse_*`, over a [`View`]); [`super::wire`] writes them.
//!
//! Every number here is from `linux/ip_vs.h`. Byte order follows the kernel:
//! ports and IPv4 netmasks are big-endian (`__be16`/`__be32`), everything
//! else is in host order; addresses travel as a 16-byte `nf_inet_addr` with
//! an IPv4 address in its first four bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::message::View;
use crate::ipvs::settings::{SyncDaemon, SyncState, Timeouts};
use crate::ipvs::{
    DestCounts, DestEntry, DestKey, Destination, Family, ForwardMethod, IpvsError, Protocol,
    Service, ServiceEntry, ServiceFlags, ServiceKey, Stats, Tunnel, TunnelType,
};

/// `IPVS_CMD_ATTR_*`: top level.
pub mod cmd {
    /// Nested service.
    pub const SERVICE: u16 = 1;
    /// Nested destination.
    pub const DEST: u16 = 2;
    /// Nested sync daemon.
    pub const DAEMON: u16 = 3;
    /// TCP timeout.
    pub const TIMEOUT_TCP: u16 = 4;
    /// TCP FIN timeout.
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    /// UDP timeout.
    pub const TIMEOUT_UDP: u16 = 6;
}

/// `IPVS_SVC_ATTR_*`.
pub mod svc {
    /// Address family, u16.
    pub const AF: u16 = 1;
    /// Protocol, u16.
    pub const PROTOCOL: u16 = 2;
    /// Address, `nf_inet_addr`.
    pub const ADDR: u16 = 3;
    /// Port, be16.
    pub const PORT: u16 = 4;
    /// Firewall mark, u32.
    pub const FWMARK: u16 = 5;
    /// Scheduler name, string.
    pub const SCHED_NAME: u16 = 6;
    /// `struct ip_vs_flags { flags, mask }`.
    pub const FLAGS: u16 = 7;
    /// Persistence timeout, u32.
    pub const TIMEOUT: u16 = 8;
    /// Persistence netmask, be32 (IPv6: prefix length).
    pub const NETMASK: u16 = 9;
    /// Nested 32-bit counters.
    pub const STATS: u16 = 10;
    /// Persistence engine name, string.
    pub const PE_NAME: u16 = 11;
    /// Nested 64-bit counters.
    pub const STATS64: u16 = 12;
}

/// `IPVS_DEST_ATTR_*`.
pub mod dest {
    /// Address, `nf_inet_addr`.
    pub const ADDR: u16 = 1;
    /// Port, be16.
    pub const PORT: u16 = 2;
    /// Forwarding method, u32.
    pub const FWD_METHOD: u16 = 3;
    /// Weight, u32.
    pub const WEIGHT: u16 = 4;
    /// Upper threshold, u32.
    pub const U_THRESH: u16 = 5;
    /// Lower threshold, u32.
    pub const L_THRESH: u16 = 6;
    /// Active connections, u32.
    pub const ACTIVE_CONNS: u16 = 7;
    /// Inactive connections, u32.
    pub const INACT_CONNS: u16 = 8;
    /// Persistence templates, u32.
    pub const PERSIST_CONNS: u16 = 9;
    /// Nested 32-bit counters.
    pub const STATS: u16 = 10;
    /// Address family of the address, u16.
    pub const ADDR_FAMILY: u16 = 11;
    /// Nested 64-bit counters.
    pub const STATS64: u16 = 12;
    /// Tunnel type, u8.
    pub const TUN_TYPE: u16 = 13;
    /// Tunnel port, be16.
    pub const TUN_PORT: u16 = 14;
    /// Tunnel flags, u16.
    pub const TUN_FLAGS: u16 = 15;
}

/// `IPVS_DAEMON_ATTR_*`.
pub mod daemon {
    /// Master / backup, u32.
    pub const STATE: u16 = 1;
    /// Multicast interface, string.
    pub const MCAST_IFN: u16 = 2;
    /// Sync ID, u32.
    pub const SYNC_ID: u16 = 3;
    /// UDP payload size, u16.
    pub const SYNC_MAXLEN: u16 = 4;
    /// IPv4 group, be32.
    pub const MCAST_GROUP: u16 = 5;
    /// IPv6 group, in6_addr.
    pub const MCAST_GROUP6: u16 = 6;
    /// Port, u16.
    pub const MCAST_PORT: u16 = 7;
    /// TTL, u8.
    pub const MCAST_TTL: u16 = 8;
}

/// `IPVS_INFO_ATTR_*`.
pub mod info {
    /// Version code, u32.
    pub const VERSION: u16 = 1;
    /// Connection table size, u32.
    pub const CONN_TAB_SIZE: u16 = 2;
}

fn proto(msg: &str) -> IpvsError {
    IpvsError::Protocol(msg.to_string())
}

fn need<T>(v: Option<T>, what: &str) -> Result<T, IpvsError> {
    v.ok_or_else(|| proto(&format!("reply lacks {what}")))
}

fn family_of_number(n: u64) -> Result<Family, IpvsError> {
    match n as i32 {
        libc::AF_INET => Ok(Family::Inet),
        libc::AF_INET6 => Ok(Family::Inet6),
        _ => Err(proto(&format!("unknown address family {n}"))),
    }
}

/// An address as a 16-byte `union nf_inet_addr`.
pub fn inet_addr_bytes(addr: &IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match addr {
        IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b.copy_from_slice(&a.octets()),
    }
    b
}

fn addr_from_bytes(b: &[u8], family: Family) -> Result<IpAddr, IpvsError> {
    match family {
        Family::Inet if b.len() >= 4 => Ok(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        Family::Inet6 if b.len() >= 16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[..16]);
            Ok(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => Err(proto("address attribute too short")),
    }
}

/// The wire form of a persistence netmask: IPv4 masks big-endian, IPv6
/// prefix lengths in host order (as ipvsadm sends and the kernel reads them).
pub(super) fn netmask_bytes(family: Family, netmask: u32) -> [u8; 4] {
    match family {
        Family::Inet => netmask.to_be_bytes(),
        Family::Inet6 => netmask.to_ne_bytes(),
    }
}

/// The flags lvsd sends for a service: its own flags, `PERSISTENT` exactly
/// when a timeout is set, never `HASHED`.
pub fn wire_flags(service: &Service) -> u32 {
    let mut f = service.flags.0 & !ServiceFlags::HASHED;
    if service.timeout > 0 {
        f |= ServiceFlags::PERSISTENT;
    } else {
        f &= !ServiceFlags::PERSISTENT;
    }
    f
}

pub(super) fn fwd_number(fwd: ForwardMethod) -> u32 {
    match fwd {
        ForwardMethod::Masq => 0,
        ForwardMethod::Local => 1,
        ForwardMethod::Tunnel => 2,
        ForwardMethod::Route => 3,
        ForwardMethod::Bypass => 4,
    }
}

fn fwd_from_number(n: u64) -> Result<ForwardMethod, IpvsError> {
    Ok(match n & 7 {
        0 => ForwardMethod::Masq,
        1 => ForwardMethod::Local,
        2 => ForwardMethod::Tunnel,
        3 => ForwardMethod::Route,
        4 => ForwardMethod::Bypass,
        other => return Err(proto(&format!("unknown forwarding method {other}"))),
    })
}

pub(super) fn tunnel_type_number(t: TunnelType) -> u8 {
    match t {
        TunnelType::Ipip => 0,
        TunnelType::Gue => 1,
        TunnelType::Gre => 2,
    }
}

/// Counters from a nested stats attribute (either width).
pub fn parse_stats(bytes: &[u8]) -> Result<Stats, IpvsError> {
    let a = View::parse(bytes)?;
    let g = |k| a.uint(k).unwrap_or(0);
    Ok(Stats {
        conns: g(1),
        inpkts: g(2),
        outpkts: g(3),
        inbytes: g(4),
        outbytes: g(5),
        cps: g(6),
        inpps: g(7),
        outpps: g(8),
        inbps: g(9),
        outbps: g(10),
    })
}

/// Whether decoding a destination reads its traffic counters. A drift
/// check compares settings only, and the counters are half the attributes
/// of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counters {
    /// Read them.
    Read,
    /// Leave them at zero.
    Skip,
}

fn stats_of(attrs: &View, wide: u16, narrow: u16) -> Result<Stats, IpvsError> {
    match attrs.get(wide).or_else(|| attrs.get(narrow)) {
        Some(a) => parse_stats(a),
        None => Ok(Stats::default()),
    }
}

fn nested_of<'a>(top: &View<'a>, kind: u16, what: &str) -> Result<View<'a>, IpvsError> {
    View::parse(need(top.get(kind), what)?)
}

/// A service (without destinations) from a `GET_SERVICE` reply's top-level
/// attributes.
pub fn parse_service(top: &View<'_>) -> Result<ServiceEntry, IpvsError> {
    let a = nested_of(top, cmd::SERVICE, "a service")?;
    let family = family_of_number(need(a.uint(svc::AF), "service family")?)?;
    let key = match a.uint(svc::FWMARK) {
        Some(mark) if mark != 0 => ServiceKey::Fwmark {
            family,
            mark: mark as u32,
        },
        _ => {
            let n = need(a.uint(svc::PROTOCOL), "service protocol")?;
            let protocol = Protocol::from_number(n as u16)
                .ok_or_else(|| proto(&format!("unknown protocol {n}")))?;
            let addr = addr_from_bytes(need(a.get(svc::ADDR), "service address")?, family)?;
            let port = need(a.be16(svc::PORT), "service port")?;
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            }
        }
    };
    let flags = match a.get(svc::FLAGS) {
        Some(b) if b.len() >= 4 => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        _ => 0,
    };
    let netmask = match a.get(svc::NETMASK) {
        Some(b) if b.len() >= 4 => {
            let raw = [b[0], b[1], b[2], b[3]];
            match family {
                Family::Inet => u32::from_be_bytes(raw),
                Family::Inet6 => u32::from_ne_bytes(raw),
            }
        }
        _ => 0,
    };
    let service = Service {
        key,
        scheduler: a.string(svc::SCHED_NAME).unwrap_or_default(),
        flags: ServiceFlags(flags & !ServiceFlags::HASHED),
        timeout: a.uint(svc::TIMEOUT).unwrap_or(0) as u32,
        netmask,
        pe_name: a.string(svc::PE_NAME).filter(|s| !s.is_empty()),
    };
    Ok(ServiceEntry {
        service,
        stats: stats_of(&a, svc::STATS64, svc::STATS)?,
        dests: Vec::new(),
    })
}

/// A destination from a `GET_DEST` reply's top-level attributes;
/// `service_family` is the address family used when the kernel gives none.
pub fn parse_dest(
    top: &View<'_>,
    service_family: Family,
    counters: Counters,
) -> Result<DestEntry, IpvsError> {
    let a = nested_of(top, cmd::DEST, "a destination")?;
    let family = match a.uint(dest::ADDR_FAMILY) {
        Some(n) => family_of_number(n)?,
        None => service_family,
    };
    let addr = addr_from_bytes(need(a.get(dest::ADDR), "destination address")?, family)?;
    let kind = match a.uint(dest::TUN_TYPE).unwrap_or(0) {
        1 => TunnelType::Gue,
        2 => TunnelType::Gre,
        _ => TunnelType::Ipip,
    };
    let g = |k| a.uint(k).unwrap_or(0) as u32;
    Ok(DestEntry {
        dest: Destination {
            key: DestKey {
                addr,
                port: need(a.be16(dest::PORT), "destination port")?,
            },
            fwd: fwd_from_number(need(a.uint(dest::FWD_METHOD), "forwarding method")?)?,
            weight: g(dest::WEIGHT) as i32,
            u_threshold: g(dest::U_THRESH),
            l_threshold: g(dest::L_THRESH),
            tunnel: Tunnel {
                kind,
                port: a.be16(dest::TUN_PORT).unwrap_or(0),
                flags: a.uint(dest::TUN_FLAGS).unwrap_or(0) as u16,
            },
        },
        counts: DestCounts {
            active: g(dest::ACTIVE_CONNS),
            inactive: g(dest::INACT_CONNS),
            persistent: g(dest::PERSIST_CONNS),
        },
        stats: match counters {
            Counters::Read => stats_of(&a, dest::STATS64, dest::STATS)?,
            Counters::Skip => Stats::default(),
        },
    })
}

/// Timeouts from a `GET_CONFIG` reply.
pub fn parse_timeouts(top: &View<'_>) -> Timeouts {
    let g = |k| top.uint(k).unwrap_or(0) as u32;
    Timeouts {
        tcp: g(cmd::TIMEOUT_TCP),
        tcp_fin: g(cmd::TIMEOUT_TCP_FIN),
        udp: g(cmd::TIMEOUT_UDP),
    }
}

/// A sync daemon from a `GET_DAEMON` dump message's top-level attributes.
pub fn parse_daemon(top: &View<'_>) -> Result<SyncDaemon, IpvsError> {
    let a = nested_of(top, cmd::DAEMON, "a daemon")?;
    let state = match need(a.uint(daemon::STATE), "daemon state")? {
        1 => SyncState::Master,
        2 => SyncState::Backup,
        n => return Err(proto(&format!("unknown daemon state {n}"))),
    };
    let group = if let Some(g) = a.get(daemon::MCAST_GROUP6) {
        Some(addr_from_bytes(g, Family::Inet6)?)
    } else if let Some(g) = a.get(daemon::MCAST_GROUP) {
        Some(addr_from_bytes(g, Family::Inet)?)
    } else {
        None
    };
    Ok(SyncDaemon {
        state,
        mcast_ifn: a.string(daemon::MCAST_IFN).unwrap_or_default(),
        syncid: a.uint(daemon::SYNC_ID).unwrap_or(0) as u32,
        sync_maxlen: a.uint(daemon::SYNC_MAXLEN).unwrap_or(0) as u16,
        mcast_group: group,
        mcast_port: a.uint(daemon::MCAST_PORT).unwrap_or(0) as u16,
        mcast_ttl: a.uint(daemon::MCAST_TTL).unwrap_or(0) as u8,
    })
}
