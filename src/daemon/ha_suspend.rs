//! `ha_suspend`: a virtual server's probes run only while its address is
//! one of this machine's own (the VIP is here, e.g. this node is VRRP
//! master). lvsd runs no VRRP, so it listens: when any virtual server
//! asks for `ha_suspend`, the kernel tells lvsd of every address added or
//! removed (`address_events.rs`), and lvsd reads the local addresses again
//! (`getifaddrs`). A suspended virtual server keeps its table entries and
//! its real servers keep their last health; its probes resume, each with
//! that health, when the address comes back. Virtual servers named by
//! fwmark or group have no single address and are never suspended.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::config::{Config, VsAddress};

/// Whether any virtual server of `config` asks for `ha_suspend`.
pub fn wanted(config: &Config) -> bool {
    config.virtual_servers.iter().any(|vs| vs.ha_suspend)
}

/// Indices of the virtual servers whose probes must not run, given the
/// machine's `local` addresses.
pub fn suspended(config: &Config, local: &HashSet<IpAddr>) -> HashSet<usize> {
    config
        .virtual_servers
        .iter()
        .enumerate()
        .filter(|(_, vs)| vs.ha_suspend)
        .filter(|(_, vs)| match &vs.address {
            VsAddress::Addr { addr, .. } => !local.contains(addr),
            _ => false,
        })
        .map(|(i, _)| i)
        .collect()
}

/// Every address configured on an interface of this network namespace.
pub fn local_addresses() -> std::io::Result<HashSet<IpAddr>> {
    let addresses = nix::ifaddrs::getifaddrs()?;
    Ok(addresses
        .filter_map(|ifa| {
            let address = ifa.address?;
            if let Some(v4) = address.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_local() {
        let local = local_addresses().unwrap();
        assert!(
            local.contains(&"127.0.0.1".parse::<IpAddr>().unwrap()),
            "{local:?}"
        );
    }
}
