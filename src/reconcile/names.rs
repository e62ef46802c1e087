//! How the log names virtual and real servers: `10.0.0.1:tcp:80`,
//! `[2001:db8::1]:8080`, as keepalived's log does. One place for the log's
//! form, whatever a name is made from: a virtual server of the config, a
//! service of the kernel, or a removed virtual server's identity. (A real
//! server's is [`DestKey`]'s `Display`. Other forms are kept on purpose
//! where a reader expects them: ipvsadm's `-t ADDR:PORT` in
//! `ipvs::format`, keepalived's FIFO and mail form in
//! `daemon::notify_fifo`, and the config diagnostics' `[ADDR]:PORT`.)

use std::net::IpAddr;

use crate::config::{VirtualServer, VsAddress};
use crate::ipvs::{DestKey, Protocol, ServiceKey};

/// A virtual server as the log names it.
pub fn describe_vs(vs: &VirtualServer) -> String {
    vs_name(&vs.address, vs.protocol)
}

/// A virtual server's address and protocol as the log names them:
/// `10.0.0.1:tcp:80`, `[2001:db8::1]:tcp:80`, `FWM 7`, `group G`.
pub fn vs_name(address: &VsAddress, protocol: Protocol) -> String {
    match address {
        VsAddress::Addr { addr, port } => addr_name(*addr, protocol, *port),
        VsAddress::Fwmark(m) => format!("FWM {m}"),
        VsAddress::Group(g) => format!("group {g}"),
    }
}

/// A kernel service, named as its virtual server is.
pub fn service_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => addr_name(*addr, *protocol, *port),
        ServiceKey::Fwmark { mark, .. } => format!("FWM {mark}"),
    }
}

/// `10.0.0.1:tcp:80`, `[2001:db8::1]:tcp:80`.
fn addr_name(addr: IpAddr, protocol: Protocol, port: u16) -> String {
    let proto = protocol_name(protocol);
    match addr {
        IpAddr::V4(a) => format!("{a}:{proto}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{proto}:{port}"),
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

/// A real server as the log names it: [`DestKey`]'s form.
pub fn rs_name(addr: IpAddr, port: u16) -> String {
    DestKey { addr, port }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A virtual server of the config and the kernel service it makes
    /// read alike in the log, over both families; a real server too.
    #[test]
    fn a_virtual_server_and_its_service_have_one_name() {
        for (addr, want) in [
            ("10.0.0.1", "10.0.0.1:udp:53"),
            ("2001:db8::1", "[2001:db8::1]:udp:53"),
        ] {
            let addr: IpAddr = addr.parse().unwrap();
            let vs = VsAddress::Addr { addr, port: 53 };
            let key = ServiceKey::Addr {
                protocol: Protocol::Udp,
                addr,
                port: 53,
            };
            assert_eq!(vs_name(&vs, Protocol::Udp), want);
            assert_eq!(service_name(&key), want);
        }
        let key = ServiceKey::Fwmark {
            family: crate::ipvs::Family::Inet6,
            mark: 7,
        };
        assert_eq!(service_name(&key), "FWM 7");
        assert_eq!(vs_name(&VsAddress::Fwmark(7), Protocol::Tcp), "FWM 7");
        let v6: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(rs_name(v6, 8080), "[2001:db8::2]:8080");
    }
}
