//! `ha_suspend`: a virtual server's probes run only while its address is
//! one of this machine's own (the VIP is here, e.g. this node is VRRP
//! master). lvsd runs no VRRP, so it looks: every second, when any virtual
//! server asks for `ha_suspend`, it reads the local addresses
//! (`getifaddrs`). A suspended virtual server keeps its table entries and
//! its real servers keep their last health; its probes resume, each with
//! that health, when the address comes back. Virtual servers named by
//! fwmark or group have no single address and are never suspended.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use crate::config::{Config, VsAddress};

/// How often local addresses are read while some virtual server has `ha_suspend`.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

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
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut out = HashSet::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr whose family says its type.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: AF_INET: a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                out.insert(IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()));
            } else if family == libc::AF_INET6 {
                // SAFETY: AF_INET6: a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                out.insert(IpAddr::from(sin6.sin6_addr.s6_addr));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
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
