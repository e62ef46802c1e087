//! A table rendered exactly as ipvsadm 1.31 prints it: `ipvsadm -Sn` (rules)
//! and `ipvsadm -Ln` (listing).
//!
//! ipvsadm sorts services and destinations with glibc's `qsort`, which is a
//! top-down merge sort, using comparators that subtract unsigned values and
//! keep the wrapped result as a C `int`. That order is not always a total
//! order (addresses more than 2^31 apart compare "backwards"), so the output
//! can only be matched by running the same merge sort with the same
//! comparators on the table in the order the kernel dumped it; both are
//! reproduced here.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::settings::Info;
use super::{
    DestEntry, Destination, ForwardMethod, Protocol, Service, ServiceEntry, ServiceFlags,
    ServiceKey, TableOp, TunnelType,
};

/// glibc's merge sort (`msort_with_tmp`): split at `n / 2`, sort both halves,
/// merge taking from the left while `cmp(left, right) <= 0`. Sorts indices
/// into `items`, so entries are never copied.
fn glibc_msort<T>(items: &[T], cmp: &dyn Fn(&T, &T) -> i32) -> Vec<usize> {
    fn sort<T>(items: &[T], idx: &mut [usize], tmp: &mut Vec<usize>, cmp: &dyn Fn(&T, &T) -> i32) {
        let n = idx.len();
        if n <= 1 {
            return;
        }
        let n1 = n / 2;
        sort(items, &mut idx[..n1], tmp, cmp);
        sort(items, &mut idx[n1..], tmp, cmp);
        tmp.clear();
        let (mut i, mut j) = (0, n1);
        while i < n1 && j < n {
            if cmp(&items[idx[i]], &items[idx[j]]) <= 0 {
                tmp.push(idx[i]);
                i += 1;
            } else {
                tmp.push(idx[j]);
                j += 1;
            }
        }
        tmp.extend_from_slice(&idx[i..n1]);
        tmp.extend_from_slice(&idx[j..n]);
        idx.copy_from_slice(tmp);
    }
    let mut idx: Vec<usize> = (0..items.len()).collect();
    let mut tmp = Vec::with_capacity(items.len());
    sort(items, &mut idx, &mut tmp, cmp);
    idx
}

/// The four host-order 32-bit words of a `union nf_inet_addr`.
fn words(addr: &IpAddr) -> [u32; 4] {
    match addr {
        IpAddr::V4(a) => [u32::from(*a), 0, 0, 0],
        IpAddr::V6(a) => {
            let o = a.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            [w(0), w(4), w(8), w(12)]
        }
    }
}

/// `a - b` on unsigned ints, kept as a C `int`.
fn c_sub(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// libipvs' address comparison: four words if the left one is IPv6, else one.
fn cmp_addr(a: &IpAddr, b: &IpAddr) -> i32 {
    let (wa, wb) = (words(a), words(b));
    let count = if a.is_ipv6() { 4 } else { 1 };
    let mut r = 0;
    for i in 0..count {
        r = c_sub(wa[i], wb[i]);
        if r != 0 {
            break;
        }
    }
    r
}

/// The fields libipvs compares services by, in its order.
struct SortFields {
    fwmark: u32,
    family: i32,
    protocol: i32,
    addr: IpAddr,
    port: i32,
}

impl SortFields {
    fn of(k: &ServiceKey) -> Self {
        match k {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => SortFields {
                fwmark: 0,
                family: k.family().number() as i32,
                protocol: protocol.number() as i32,
                addr: *addr,
                port: *port as i32,
            },
            ServiceKey::Fwmark { family, mark } => SortFields {
                fwmark: *mark,
                family: family.number() as i32,
                protocol: 0,
                addr: match family {
                    super::Family::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    super::Family::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                },
                port: 0,
            },
        }
    }
}

fn cmp_services(a: &ServiceEntry, b: &ServiceEntry) -> i32 {
    let (a, b) = (
        SortFields::of(&a.service.key),
        SortFields::of(&b.service.key),
    );
    let r = c_sub(a.fwmark, b.fwmark);
    if r != 0 {
        return r;
    }
    if a.family != b.family {
        return a.family - b.family;
    }
    if a.protocol != b.protocol {
        return a.protocol - b.protocol;
    }
    let r = cmp_addr(&a.addr, &b.addr);
    if r != 0 {
        return r;
    }
    a.port - b.port
}

fn cmp_dests(a: &DestEntry, b: &DestEntry) -> i32 {
    let r = cmp_addr(&a.dest.key.addr, &b.dest.key.addr);
    if r != 0 {
        return r;
    }
    a.dest.key.port as i32 - b.dest.key.port as i32
}

/// The table in ipvsadm's order: services and each one's destinations
/// sorted as `ipvsadm` sorts them, from the kernel's dump order.
pub fn ipvsadm_order(table: &[ServiceEntry]) -> Vec<(&ServiceEntry, Vec<&DestEntry>)> {
    glibc_msort(table, &cmp_services)
        .into_iter()
        .map(|i| {
            let s = &table[i];
            let dests = glibc_msort(&s.dests, &cmp_dests)
                .into_iter()
                .map(|j| &s.dests[j])
                .collect();
            (s, dests)
        })
        .collect()
}

/// IPv6 text as glibc's `inet_ntop` writes it: the longest run (first on a
/// tie) of two or more zero groups becomes `::`, and an IPv4-compatible or
/// -mapped address ends in dotted quad.
pub fn inet_ntop6(a: &Ipv6Addr) -> String {
    let w = a.segments();
    let (mut best, mut cur): ((i32, i32), (i32, i32)) = ((-1, 0), (-1, 0));
    for (i, g) in w.iter().enumerate() {
        if *g == 0 {
            if cur.0 == -1 {
                cur = (i as i32, 1);
            } else {
                cur.1 += 1;
            }
        } else if cur.0 != -1 {
            if best.0 == -1 || cur.1 > best.1 {
                best = cur;
            }
            cur = (-1, 0);
        }
    }
    if cur.0 != -1 && (best.0 == -1 || cur.1 > best.1) {
        best = cur;
    }
    if best.0 != -1 && best.1 < 2 {
        best = (-1, 0);
    }
    let mut s = String::new();
    let mut i = 0i32;
    while i < 8 {
        if best.0 != -1 && i >= best.0 && i < best.0 + best.1 {
            if i == best.0 {
                s.push(':');
            }
            i += 1;
            continue;
        }
        if i != 0 {
            s.push(':');
        }
        if i == 6 && best.0 == 0 && (best.1 == 6 || (best.1 == 5 && w[5] == 0xffff)) {
            let o = a.octets();
            let _ = write!(s, "{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
            return s;
        }
        let _ = write!(s, "{:x}", w[i as usize]);
        i += 1;
    }
    if best.0 != -1 && best.0 + best.1 == 8 {
        s.push(':');
    }
    s
}

/// `addr:port` as ipvsadm's numeric `addrport_to_anyname` prints it.
pub fn addr_port(addr: &IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{}]:{port}", inet_ntop6(a)),
    }
}

fn sched_flag_names(scheduler: &str, flags: u32) -> String {
    let names: &[(u32, &str)] = match scheduler {
        "sh" => &[
            (ServiceFlags::SCHED1, "sh-fallback"),
            (ServiceFlags::SCHED2, "sh-port"),
        ],
        "mh" => &[
            (ServiceFlags::SCHED1, "mh-fallback"),
            (ServiceFlags::SCHED2, "mh-port"),
        ],
        _ => &[
            (ServiceFlags::SCHED1, "flag-1"),
            (ServiceFlags::SCHED2, "flag-2"),
            (ServiceFlags::SCHED3, "flag-3"),
        ],
    };
    names
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

const SCHED_FLAGS: u32 = ServiceFlags::SCHED1 | ServiceFlags::SCHED2 | ServiceFlags::SCHED3;

fn persistence_mask(s: &Service) -> Option<String> {
    match s.key.family() {
        super::Family::Inet if s.netmask != 0xffff_ffff => {
            Some(Ipv4Addr::from(s.netmask).to_string())
        }
        super::Family::Inet6 if s.netmask != 128 => Some((s.netmask as i32).to_string()),
        _ => None,
    }
}

fn protocol_option(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "-t",
        Protocol::Udp => "-u",
        Protocol::Sctp => "--sctp-service",
    }
}

fn fwd_switch(f: ForwardMethod) -> &'static str {
    match f {
        ForwardMethod::Masq => "-m",
        ForwardMethod::Tunnel => "-i",
        ForwardMethod::Local | ForwardMethod::Route => "-g",
        ForwardMethod::Bypass => "(null)",
    }
}

fn fwd_name(f: ForwardMethod) -> &'static str {
    match f {
        ForwardMethod::Masq => "Masq",
        ForwardMethod::Local => "Local",
        ForwardMethod::Tunnel => "Tunnel",
        ForwardMethod::Route => "Route",
        ForwardMethod::Bypass => "(null)",
    }
}

fn tun_flags_option(flags: u16) -> &'static str {
    match flags {
        0 => "--tun-nocsum",
        1 => "--tun-csum",
        2 => "--tun-remcsum",
        _ => "(null)",
    }
}

/// A service as ipvsadm names it on its command line: `-t ADDR:PORT`,
/// `-u ...`, `--sctp-service ...`, or `-f MARK [-6]`.
pub fn service_spec(key: &ServiceKey) -> String {
    match *key {
        ServiceKey::Fwmark { family, mark } => match family {
            super::Family::Inet6 => format!("-f {} -6", mark as i32),
            super::Family::Inet => format!("-f {}", mark as i32),
        },
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => format!("{} {}", protocol_option(protocol), addr_port(&addr, port)),
    }
}

/// What follows the service in an `-A`/`-E` line: ` -s SCHED` and the
/// persistence, one-packet and scheduler-flag options, as `ipvsadm -Sn` writes them.
pub fn service_options(s: &Service) -> String {
    let mut out = format!(" -s {}", s.scheduler);
    if s.flags.0 & ServiceFlags::PERSISTENT != 0 {
        let _ = write!(out, " -p {}", s.timeout);
        if let Some(m) = persistence_mask(s) {
            let _ = write!(out, " -M {m}");
        }
    }
    if let Some(pe) = &s.pe_name {
        let _ = write!(out, " --pe {pe}");
    }
    if s.flags.0 & ServiceFlags::ONEPACKET != 0 {
        out.push_str(" -o");
    }
    if s.flags.0 & SCHED_FLAGS != 0 {
        let _ = write!(out, " -b {}", sched_flag_names(&s.scheduler, s.flags.0));
    }
    out
}

/// What follows the service in an `-a`/`-e` line: ` -r ADDR:PORT`, the
/// forwarding method, weight, tunnel and threshold options.
pub fn dest_options(d: &Destination) -> String {
    let mut out = format!(
        " -r {} {} -w {}",
        addr_port(&d.key.addr, d.key.port),
        fwd_switch(d.fwd),
        d.weight
    );
    if d.fwd == ForwardMethod::Tunnel {
        match d.tunnel.kind {
            TunnelType::Ipip => out.push_str(" --tun-type ipip"),
            TunnelType::Gue => {
                let _ = write!(
                    out,
                    " --tun-type gue --tun-port {} {}",
                    d.tunnel.port,
                    tun_flags_option(d.tunnel.flags)
                );
            }
            TunnelType::Gre => {
                let _ = write!(out, " --tun-type gre {}", tun_flags_option(d.tunnel.flags));
            }
        }
    }
    out
}

/// The `ipvsadm` arguments that make `op` (as `ipvsadm -R` reads them).
pub fn op_line(op: &TableOp) -> String {
    match op {
        TableOp::AddService(s) => format!("-A {}{}", service_spec(&s.key), service_options(s)),
        TableOp::UpdateService(s) => format!("-E {}{}", service_spec(&s.key), service_options(s)),
        TableOp::RemoveService(k) => format!("-D {}", service_spec(k)),
        TableOp::AddDest(k, d) => format!("-a {}{}", service_spec(k), dest_options(d)),
        TableOp::UpdateDest(k, d) => format!("-e {}{}", service_spec(k), dest_options(d)),
        TableOp::RemoveDest(k, d) => {
            format!("-d {} -r {}", service_spec(k), addr_port(&d.addr, d.port))
        }
    }
}

/// The table as `ipvsadm -Sn` prints it.
pub fn save(table: &[ServiceEntry]) -> String {
    let mut out = String::new();
    for (e, dests) in ipvsadm_order(table) {
        let svc = service_spec(&e.service.key);
        let _ = writeln!(out, "-A {svc}{}", service_options(&e.service));
        for d in dests {
            let _ = writeln!(out, "-a {svc}{}", dest_options(&d.dest));
        }
    }
    out
}

/// The table as `ipvsadm -Ln` prints it.
pub fn list(table: &[ServiceEntry], info: &Info) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "IP Virtual Server version {} (size={})",
        info.version_string(),
        info.conn_tab_size as i32
    );
    out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
    out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
    for (e, dests) in ipvsadm_order(table) {
        let s = &e.service;
        let name = match s.key {
            ServiceKey::Fwmark { family, mark } => match family {
                super::Family::Inet6 => format!("FWM  {} IPv6", mark as i32),
                super::Family::Inet => format!("FWM  {}", mark as i32),
            },
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => {
                let mut n = format!("{:<4} {}", protocol.name(), addr_port(&addr, port));
                if addr.is_ipv4() {
                    n.truncate(33);
                }
                n
            }
        };
        let _ = write!(out, "{name} {}", s.scheduler);
        if s.flags.0 & SCHED_FLAGS != 0 {
            let _ = write!(out, " ({})", sched_flag_names(&s.scheduler, s.flags.0));
        }
        if s.flags.0 & ServiceFlags::PERSISTENT != 0 {
            let _ = write!(out, " persistent {}", s.timeout);
            if let Some(m) = persistence_mask(&e.service) {
                let _ = write!(out, " mask {m}");
            }
            if let Some(pe) = &s.pe_name {
                let _ = write!(out, " pe {pe}");
            }
        }
        if s.flags.0 & ServiceFlags::ONEPACKET != 0 {
            out.push_str(" ops");
        }
        out.push('\n');
        for d in dests {
            let mut dname = addr_port(&d.dest.key.addr, d.dest.key.port);
            if d.dest.key.addr.is_ipv4() {
                dname.truncate(28);
            }
            let _ = writeln!(
                out,
                "  -> {:<28} {:<7} {:<6} {:<10} {:<10}",
                dname,
                fwd_name(d.dest.fwd),
                d.dest.weight,
                d.counts.active,
                d.counts.inactive
            );
        }
    }
    out
}

#[cfg(test)]
mod tests;
