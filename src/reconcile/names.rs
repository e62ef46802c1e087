//! How the log names virtual and real servers: `10.0.0.1:tcp:80`,
//! `[2001:db8::1]:8080`, as keepalived's log does.

use std::net::IpAddr;

use crate::config::{VirtualServer, VsAddress};
use crate::ipvs::Protocol;

/// A virtual server as the log names it.
pub fn describe_vs(vs: &VirtualServer) -> String {
    let proto = protocol_name(vs.protocol);
    match &vs.address {
        VsAddress::Addr { addr, port } => format!("{}:{proto}:{port}", bracket(*addr)),
        VsAddress::Fwmark(m) => format!("FWM {m}"),
        VsAddress::Group(g) => format!("group {g}"),
    }
}

/// `tcp`, `udp`, `sctp`: a protocol as keepalived writes it in names.
pub fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// A real server as the log names it.
pub fn rs_name(addr: IpAddr, port: u16) -> String {
    format!("{}:{port}", bracket(addr))
}

/// An address as the log writes it before a `:port`: IPv6 in brackets.
pub fn bracket(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}
