//! Naming virtual and real servers on the command line.
//!
//! A real server: `IP` (every port of that address) or `IP:PORT`
//! (`[IPv6]:PORT`). A virtual server: `IP:PORT`, `fwmark:N` or
//! `group:NAME`, each with an optional `/tcp`, `/udp` or `/sctp`; the form
//! lvsd's logs print (`10.0.0.1:tcp:80`, `FWM 5`, `group NAME`) is read
//! too, so a name can be pasted from the log.

use std::net::{IpAddr, SocketAddr};

use crate::config::{VirtualServer, VsAddress};
use crate::ipvs::Protocol;

/// A real server selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsSelector {
    /// The address.
    pub addr: IpAddr,
    /// The port, or any.
    pub port: Option<u16>,
}

impl RsSelector {
    /// Read `text`, or say what was expected.
    pub fn parse(text: &str) -> Result<RsSelector, String> {
        let text = text.trim();
        if let Ok(sa) = text.parse::<SocketAddr>() {
            return Ok(RsSelector {
                addr: sa.ip(),
                port: Some(sa.port()),
            });
        }
        let bare = text.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>()
            .map(|addr| RsSelector { addr, port: None })
            .map_err(|_| {
                format!("`{text}` is not a real server: expected IP or IP:PORT ([IPv6]:PORT)")
            })
    }

    /// Whether it names the real server at `addr`, `port`.
    pub fn matches(&self, addr: IpAddr, port: u16) -> bool {
        self.addr == addr && self.port.is_none_or(|p| p == port)
    }
}

/// A virtual server selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsSelector {
    /// The address (or fwmark, or group).
    pub address: VsAddress,
    /// The protocol, or any.
    pub protocol: Option<Protocol>,
}

fn protocol(name: &str) -> Option<Protocol> {
    match name.to_ascii_lowercase().as_str() {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        "sctp" => Some(Protocol::Sctp),
        _ => None,
    }
}

impl VsSelector {
    /// Read `text`, or say what was expected.
    pub fn parse(text: &str) -> Result<VsSelector, String> {
        let text = text.trim();
        let expected = || {
            format!(
                "`{text}` is not a virtual server: expected IP:PORT, fwmark:N or group:NAME, \
                 optionally followed by /tcp, /udp or /sctp"
            )
        };
        // The log's own form: `10.0.0.1:tcp:80`, `[::1]:udp:53`.
        if let Some((left, port)) = text.rsplit_once(':') {
            if let Some((addr, proto)) = left.rsplit_once(':') {
                if let (Some(p), Ok(port), Ok(addr)) = (
                    protocol(proto),
                    port.parse::<u16>(),
                    addr.trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<IpAddr>(),
                ) {
                    return Ok(VsSelector {
                        address: VsAddress::Addr { addr, port },
                        protocol: Some(p),
                    });
                }
            }
        }
        let (body, proto) = match text.rsplit_once('/') {
            Some((body, p)) => (body, Some(protocol(p).ok_or_else(expected)?)),
            None => (text, None),
        };
        let lower = body.to_ascii_lowercase();
        let address = if let Some(mark) = lower
            .strip_prefix("fwmark:")
            .or_else(|| lower.strip_prefix("fwm "))
        {
            VsAddress::Fwmark(mark.trim().parse().map_err(|_| expected())?)
        } else if let Some(name) = body
            .strip_prefix("group:")
            .or_else(|| body.strip_prefix("group "))
        {
            VsAddress::Group(name.trim().to_string())
        } else {
            let sa: SocketAddr = body.parse().map_err(|_| expected())?;
            VsAddress::Addr {
                addr: sa.ip(),
                port: sa.port(),
            }
        };
        Ok(VsSelector {
            address,
            protocol: proto,
        })
    }

    /// Whether it names `vs`.
    pub fn matches(&self, vs: &VirtualServer) -> bool {
        vs.address == self.address && self.protocol.is_none_or(|p| p == vs.protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_servers_with_or_without_a_port() {
        let s = RsSelector::parse("10.0.1.5:8080").unwrap();
        assert!(s.matches("10.0.1.5".parse().unwrap(), 8080));
        assert!(!s.matches("10.0.1.5".parse().unwrap(), 8081));
        let any = RsSelector::parse("10.0.1.5").unwrap();
        assert!(any.matches("10.0.1.5".parse().unwrap(), 1));
        let v6 = RsSelector::parse("[2001:db8::1]:80").unwrap();
        assert_eq!(v6.port, Some(80));
        assert!(RsSelector::parse("[2001:db8::1]").unwrap().port.is_none());
        assert!(RsSelector::parse("web1")
            .unwrap_err()
            .contains("expected IP"));
    }

    #[test]
    fn virtual_servers_in_every_form() {
        let addr = VsAddress::Addr {
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        for text in ["10.0.0.1:80/tcp", "10.0.0.1:tcp:80", "10.0.0.1:80/TCP"] {
            let s = VsSelector::parse(text).unwrap();
            assert_eq!(
                (s.address, s.protocol),
                (addr.clone(), Some(Protocol::Tcp)),
                "{text}"
            );
        }
        assert_eq!(VsSelector::parse("10.0.0.1:80").unwrap().protocol, None);
        assert_eq!(
            VsSelector::parse("fwmark:5").unwrap().address,
            VsAddress::Fwmark(5)
        );
        assert_eq!(
            VsSelector::parse("FWM 5").unwrap().address,
            VsAddress::Fwmark(5)
        );
        assert_eq!(
            VsSelector::parse("group:web/udp").unwrap(),
            VsSelector {
                address: VsAddress::Group("web".into()),
                protocol: Some(Protocol::Udp)
            }
        );
        assert_eq!(
            VsSelector::parse("[::1]:udp:53").unwrap().address,
            VsAddress::Addr {
                addr: "::1".parse().unwrap(),
                port: 53
            }
        );
        for bad in ["10.0.0.1", "10.0.0.1:80/icmp", "fwmark:x", ""] {
            assert!(
                VsSelector::parse(bad).unwrap_err().contains("expected"),
                "{bad}"
            );
        }
    }
}
