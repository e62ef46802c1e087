//! The pieces of the table the config asks for: a virtual server's service
//! keys and service, a real server's destination, the table type itself.
//!
//! Each is a pure function of the config: the same config always gives the
//! same services and destinations, which is what makes a reload with an
//! unchanged config cost zero netlink writes. Which destinations are wanted
//! given the health (and quorum) is decided in `plan.rs`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::config::{Config, GroupEntry, RealServer, VirtualServer, VsAddress};
use crate::ipvs::{
    DestKey, Destination, Family, ForwardMethod, Service, ServiceFlags, ServiceKey, Tunnel,
};

/// A table: services by identity, each with its destinations by identity.
pub type Table = BTreeMap<ServiceKey, (Service, BTreeMap<DestKey, Destination>)>;

/// `table` with every map rebuilt from its sorted entries. A `BTreeMap`
/// grown one insert at a time (the cache after a start's 20,000 additions)
/// leaves its nodes about half full; one built from sorted entries fills
/// them, which halves the memory the table holds (3.5 MB → 1.7 MB at 20,000
/// real servers).
pub fn repacked(table: Table) -> Table {
    table
        .into_iter()
        .map(|(key, (service, dests))| (key, (service, dests.into_iter().collect())))
        .collect()
}

/// A destination with its key, as a map entry.
pub fn dest_entry(d: Destination) -> (DestKey, Destination) {
    (d.key, d)
}

/// The destinations of one service, keyed, from a list of entries in which
/// a later one replaces an earlier one with the same key (as inserting
/// them one by one would). Built at once from the sorted list (in place:
/// the list is already of entries), the map costs half of what inserting
/// 20,000 destinations one by one does, and its nodes are full. The list
/// is usually in key order already (real servers written in address
/// order), which the sort notices in one pass.
pub fn dest_map(list: Vec<(DestKey, Destination)>) -> BTreeMap<DestKey, Destination> {
    BTreeMap::from_iter(list)
}

/// The kernel's persistence netmask when none is configured (`/32`, or 128 for IPv6).
pub fn default_netmask(family: Family) -> u32 {
    match family {
        Family::Inet => 0xffff_ffff,
        Family::Inet6 => 128,
    }
}

/// The kernel services one virtual server stands for: one, or one per
/// address (and fwmark) of its `virtual_server_group`.
pub fn service_keys(config: &Config, vs: &VirtualServer) -> Vec<ServiceKey> {
    match &vs.address {
        VsAddress::Addr { addr, port } => vec![ServiceKey::Addr {
            protocol: vs.protocol,
            addr: *addr,
            port: *port,
        }],
        VsAddress::Fwmark(mark) => vec![ServiceKey::Fwmark {
            family: fwmark_family(vs),
            mark: *mark,
        }],
        VsAddress::Group(name) => {
            let Some(group) = config.groups.iter().find(|g| &g.name == name) else {
                return Vec::new();
            };
            let mut keys = Vec::new();
            for entry in &group.entries {
                match entry {
                    GroupEntry::Addr { first, last, port } => {
                        for addr in address_range(*first, *last) {
                            keys.push(ServiceKey::Addr {
                                protocol: vs.protocol,
                                addr,
                                port: *port,
                            });
                        }
                    }
                    GroupEntry::Fwmark(mark) => keys.push(ServiceKey::Fwmark {
                        family: fwmark_family(vs),
                        mark: *mark,
                    }),
                }
            }
            keys
        }
    }
}

/// A fwmark service's family: `ip_family`, else its real servers', else IPv4.
fn fwmark_family(vs: &VirtualServer) -> Family {
    vs.ip_family
        .or_else(|| vs.real_servers.first().map(|rs| Family::of(&rs.addr)))
        .unwrap_or(Family::Inet)
}

/// Every address from `first` to `last` inclusive (a group range such as
/// `10.0.0.1-10`). An inverted range is just `first`.
pub fn address_range(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) if u32::from(a) <= u32::from(b) => (u32::from(a)
            ..=u32::from(b))
            .map(|n| IpAddr::V4(n.into()))
            .collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) if u128::from(a) <= u128::from(b) => (u128::from(a)
            ..=u128::from(b))
            .take(65_536)
            .map(|n| IpAddr::V6(n.into()))
            .collect(),
        _ => vec![first],
    }
}

/// The kernel service a virtual server asks for, under `key`.
pub fn service(vs: &VirtualServer, key: ServiceKey) -> Service {
    let family = key.family();
    let mut flags = vs.flags & !(ServiceFlags::HASHED | ServiceFlags::PERSISTENT);
    if vs.persistence_timeout > 0 {
        flags |= ServiceFlags::PERSISTENT;
    }
    Service {
        key,
        scheduler: vs.scheduler.clone(),
        flags: ServiceFlags(flags),
        timeout: vs.persistence_timeout,
        netmask: vs
            .persistence_granularity
            .unwrap_or_else(|| default_netmask(family)),
        pe_name: vs.persistence_engine.clone(),
    }
}

/// The kernel destination a real server stands for, by identity.
pub fn dest_key(rs: &RealServer) -> DestKey {
    DestKey {
        addr: rs.addr,
        port: rs.port,
    }
}

/// The destination a real server is when present, at `weight`.
pub fn destination(rs: &RealServer, weight: i32) -> Destination {
    Destination {
        key: dest_key(rs),
        fwd: rs.method,
        weight,
        u_threshold: rs.u_threshold,
        l_threshold: rs.l_threshold,
        tunnel: tunnel(rs.method, rs.tunnel),
    }
}

/// The sorry server as a destination at `weight`: 1 while it stands in for
/// the real servers, 0 while `sorry_server_inhibit` keeps it quiesced.
pub fn sorry_destination(sorry: &crate::config::SorryServer, weight: i32) -> Destination {
    Destination {
        key: DestKey {
            addr: sorry.addr,
            port: sorry.port,
        },
        fwd: sorry.method,
        weight,
        u_threshold: 0,
        l_threshold: 0,
        tunnel: tunnel(sorry.method, None),
    }
}

/// Tunnel attributes as the kernel reports them (IPIP, port 0, no flags
/// unless configured).
pub fn tunnel(method: ForwardMethod, opts: Option<crate::config::TunnelOptions>) -> Tunnel {
    match (method, opts) {
        (ForwardMethod::Tunnel, Some(t)) => Tunnel {
            kind: t.kind,
            port: t.port,
            flags: t.flags,
        },
        _ => Tunnel::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::Protocol;
    use crate::reconcile::diff::tests::dest;

    #[test]
    fn a_dest_map_is_what_inserting_one_by_one_gives() {
        // Out of key order, with a key given twice: the later one wins.
        let list = vec![dest(9, 1), dest(2, 0), dest(5, 1), dest(2, 7), dest(1, 1)];
        let mut one_by_one = BTreeMap::new();
        for d in &list {
            one_by_one.insert(d.key, *d);
        }
        let at_once = dest_map(list.into_iter().map(dest_entry).collect());
        assert_eq!(at_once, one_by_one);
        assert_eq!(at_once[&dest(2, 0).key].weight, 7);
    }

    #[test]
    fn repacking_keeps_every_entry() {
        let mut table = Table::new();
        for s in 0..3u16 {
            let key = ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.0.1".parse().unwrap(),
                port: 80 + s,
            };
            let service = Service {
                key,
                scheduler: "rr".into(),
                flags: ServiceFlags(0),
                timeout: 0,
                netmask: default_netmask(Family::Inet),
                pe_name: None,
            };
            let (_, dests) = table.entry(key).or_insert((service, BTreeMap::new()));
            for i in 0..500u32 {
                let d = Destination {
                    key: DestKey {
                        addr: IpAddr::V4((0x0a80_0000 + i).into()),
                        port: 8080,
                    },
                    fwd: ForwardMethod::Masq,
                    weight: i as i32,
                    u_threshold: 0,
                    l_threshold: 0,
                    tunnel: Tunnel::default(),
                };
                dests.insert(d.key, d);
            }
        }
        let repacked = repacked(table.clone());
        assert_eq!(repacked, table);
        assert_eq!(repacked.values().map(|(_, d)| d.len()).sum::<usize>(), 1500);
    }
}
