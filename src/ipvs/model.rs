//! The identity and attribute structs of an IPVS table.
//!
//! These mirror the kernel's UAPI (`linux/ip_vs.h`) but in Rust terms: a
//! [`Service`] is identified by its [`ServiceKey`] (address, port and protocol,
//! or a firewall mark and its address family), a [`Destination`] inside a
//! service by its [`DestKey`] (address and port). Counters live apart, in
//! [`Stats`], so that two tables can be compared for equality without them.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Transport protocol of an address-based virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// `IPPROTO_TCP` (6).
    #[serde(rename = "TCP", alias = "Tcp")]
    Tcp,
    /// `IPPROTO_UDP` (17).
    #[serde(rename = "UDP", alias = "Udp")]
    Udp,
    /// `IPPROTO_SCTP` (132).
    #[serde(rename = "SCTP", alias = "Sctp")]
    Sctp,
}

impl Protocol {
    /// `TCP`, `UDP`, `SCTP`: the name ipvsadm lists, `ServiceKey`'s
    /// `Display` and the metrics labels use (the one place that spells
    /// them so; the log's lower-case form, keepalived's, is
    /// `reconcile::names::protocol_name`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// The IP protocol number the kernel uses.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The protocol for an IP protocol number, if IPVS knows it.
    pub fn from_number(n: u16) -> Option<Self> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

/// Address family of a service or destination (`AF_INET` / `AF_INET6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    /// IPv4 (`AF_INET`, 2).
    #[serde(rename = "inet", alias = "Inet")]
    Inet,
    /// IPv6 (`AF_INET6`, 10).
    #[serde(rename = "inet6", alias = "Inet6")]
    Inet6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::Inet,
            IpAddr::V6(_) => Family::Inet6,
        }
    }

    /// The `AF_*` constant.
    pub fn number(self) -> u16 {
        match self {
            Family::Inet => libc::AF_INET as u16,
            Family::Inet6 => libc::AF_INET6 as u16,
        }
    }
}

/// What identifies a virtual service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ServiceKey {
    /// `-t/-u/--sctp-service ADDR:PORT`.
    #[serde(rename = "addr", alias = "Addr")]
    Addr {
        /// Transport protocol.
        protocol: Protocol,
        /// Virtual address; its family is the service's family.
        addr: IpAddr,
        /// Virtual port.
        port: u16,
    },
    /// `-f MARK` (with `-6` for an IPv6 fwmark service).
    #[serde(rename = "fwmark", alias = "Fwmark")]
    Fwmark {
        /// Address family of the marked packets.
        family: Family,
        /// Firewall mark.
        mark: u32,
    },
}

impl ServiceKey {
    /// Address family of the service.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => {
                let p = protocol.name();
                match addr {
                    IpAddr::V4(a) => write!(f, "{p} {a}:{port}"),
                    IpAddr::V6(a) => write!(f, "{p} [{a}]:{port}"),
                }
            }
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark,
            } => write!(f, "FWM {mark}"),
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark,
            } => write!(f, "FWM {mark} IPv6"),
        }
    }
}

/// Service flags (`IP_VS_SVC_F_*`). They serialise as ipvsadm's words
/// (`["persistent", "ops", "flag-1"]`, see [`ServiceFlags::words`]), and
/// read back from those or from the number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    /// `IP_VS_SVC_F_PERSISTENT`: set by the kernel when a persistence timeout is given.
    pub const PERSISTENT: u32 = 0x0001;
    /// `IP_VS_SVC_F_HASHED`: internal, set on every hashed service; never compared.
    pub const HASHED: u32 = 0x0002;
    /// `IP_VS_SVC_F_ONEPACKET`: one-packet scheduling (UDP).
    pub const ONEPACKET: u32 = 0x0004;
    /// `IP_VS_SVC_F_SCHED1` (`sh-fallback`, `mh-fallback`).
    pub const SCHED1: u32 = 0x0008;
    /// `IP_VS_SVC_F_SCHED2` (`sh-port`, `mh-port`).
    pub const SCHED2: u32 = 0x0010;
    /// `IP_VS_SVC_F_SCHED3`.
    pub const SCHED3: u32 = 0x0020;

    /// Each flag's word, as ipvsadm's `--sched-flags` and listing name them
    /// (the scheduler flags by their generic names).
    const WORDS: [(u32, &'static str); 6] = [
        (Self::PERSISTENT, "persistent"),
        (Self::HASHED, "hashed"),
        (Self::ONEPACKET, "ops"),
        (Self::SCHED1, "flag-1"),
        (Self::SCHED2, "flag-2"),
        (Self::SCHED3, "flag-3"),
    ];

    /// The words of the flags set; a bit IPVS does not define shows as its
    /// hexadecimal value.
    pub fn words(self) -> Vec<String> {
        let mut words: Vec<String> = Self::WORDS
            .iter()
            .filter(|(bit, _)| self.0 & bit != 0)
            .map(|(_, word)| (*word).to_owned())
            .collect();
        let unknown = self.0 & !Self::WORDS.iter().fold(0, |all, (bit, _)| all | bit);
        if unknown != 0 {
            words.push(format!("{unknown:#x}"));
        }
        words
    }
}

impl ServiceFlags {
    /// Serialises bare flag bits (a config's `flags`) as [`Self::words`].
    pub fn serialize_bits<S: serde::Serializer>(
        bits: &u32,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        ServiceFlags(*bits).serialize(serializer)
    }
}

impl Serialize for ServiceFlags {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.words().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ServiceFlags {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Bits(u32),
            Words(Vec<String>),
        }
        match Form::deserialize(deserializer)? {
            Form::Bits(bits) => Ok(ServiceFlags(bits)),
            Form::Words(words) => words.iter().try_fold(ServiceFlags(0), |flags, word| {
                let bit = Self::WORDS
                    .iter()
                    .find(|(_, w)| w == word)
                    .map(|(bit, _)| *bit)
                    .or_else(|| u32::from_str_radix(word.trim_start_matches("0x"), 16).ok())
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown flag {word:?}")))?;
                Ok(ServiceFlags(flags.0 | bit))
            }),
        }
    }
}

/// A persistence netmask (`Service::netmask`) serialised as people write
/// it: an IPv4 mask as an address (`255.255.255.0`), an IPv6 prefix length
/// as a number (`64`). IPv4 masks are contiguous from the top bit, so any
/// value above 128 is one; read back from either form.
pub mod netmask {
    use std::net::Ipv4Addr;

    use serde::{Deserialize, Serialize};

    /// `mask` as an address or a prefix length.
    pub fn serialize<S: serde::Serializer>(mask: &u32, serializer: S) -> Result<S::Ok, S::Error> {
        if *mask > 128 {
            Ipv4Addr::from(*mask).serialize(serializer)
        } else {
            serializer.serialize_u32(*mask)
        }
    }

    /// An `Option` of [`serialize`].
    pub fn option<S: serde::Serializer>(
        mask: &Option<u32>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match mask {
            Some(mask) => serialize(mask, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// A mask written either way.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Number(u32),
            Address(Ipv4Addr),
        }
        Ok(match Form::deserialize(deserializer)? {
            Form::Number(n) => n,
            Form::Address(a) => u32::from(a),
        })
    }
}

/// A virtual service's attributes, apart from its counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Service {
    /// Identity.
    pub key: ServiceKey,
    /// Scheduler name (`rr`, `wlc`, `sh`, `mh`, ...).
    pub scheduler: String,
    /// Flags, without `HASHED` (and `PERSISTENT`, which follows `timeout`).
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds; 0 = not persistent.
    pub timeout: u32,
    /// Persistence netmask: for IPv4 the mask as a big-endian u32
    /// (`0xffffffff` = /32), for IPv6 the prefix length (128 default).
    #[serde(with = "netmask")]
    pub netmask: u32,
    /// Persistence engine (`sip`), if any.
    pub pe_name: Option<String>,
}

/// Forwarding method of a destination (`IP_VS_CONN_F_FWD_MASK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ForwardMethod {
    /// NAT (`-m`, masquerading; keepalived's `lb_kind NAT`).
    #[serde(rename = "NAT", alias = "Masq")]
    Masq,
    /// Local node (shown as `Local`).
    #[serde(rename = "local", alias = "Local")]
    Local,
    /// IP-in-IP tunnelling (`-i`; `lb_kind TUN`).
    #[serde(rename = "TUN", alias = "Tunnel")]
    Tunnel,
    /// Direct routing (`-g`, gatewaying; `lb_kind DR`).
    #[serde(rename = "DR", alias = "Route")]
    Route,
    /// Cache bypass.
    #[serde(rename = "bypass", alias = "Bypass")]
    Bypass,
}

/// Tunnel encapsulation for `ForwardMethod::Tunnel` (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum TunnelType {
    /// Plain IPIP (the default).
    #[default]
    #[serde(rename = "ipip", alias = "Ipip")]
    Ipip,
    /// Generic UDP Encapsulation, to `port`.
    #[serde(rename = "gue", alias = "Gue")]
    Gue,
    /// GRE.
    #[serde(rename = "gre", alias = "Gre")]
    Gre,
}

/// Tunnel settings of a destination. The default (IPIP, port 0, no flags) is
/// what the kernel reports for a destination configured without any.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Tunnel {
    /// Encapsulation.
    pub kind: TunnelType,
    /// Destination UDP port (GUE).
    pub port: u16,
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*` (checksum / remote checksum).
    pub flags: u16,
}

/// What identifies a destination inside its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DestKey {
    /// Real server address (its family may differ from the service's).
    pub addr: IpAddr,
    /// Real server port (0 for fwmark services without a port).
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// A destination's attributes, apart from its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Destination {
    /// Identity.
    pub key: DestKey,
    /// Forwarding method.
    pub fwd: ForwardMethod,
    /// Weight (0 = quiesced: no new connections).
    pub weight: i32,
    /// Upper connection threshold (0 = none).
    pub u_threshold: u32,
    /// Lower connection threshold (0 = none).
    pub l_threshold: u32,
    /// Tunnel settings, meaningful when `fwd` is `Tunnel`.
    pub tunnel: Tunnel,
}

/// Traffic counters of a service or destination (`IPVS_STATS_ATTR_*`, 64-bit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
    /// Current connection rate.
    pub cps: u64,
    /// Current incoming packet rate.
    pub inpps: u64,
    /// Current outgoing packet rate.
    pub outpps: u64,
    /// Current incoming byte rate.
    pub inbps: u64,
    /// Current outgoing byte rate.
    pub outbps: u64,
}

/// Live connection counts of a destination, as the kernel reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestCounts {
    /// Active connections.
    pub active: u32,
    /// Inactive connections.
    pub inactive: u32,
    /// Persistence templates.
    pub persistent: u32,
}

/// One destination as read from a table dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestEntry {
    /// Attributes.
    pub dest: Destination,
    /// Connection counts.
    pub counts: DestCounts,
    /// Counters.
    pub stats: Stats,
}

/// One service and its destinations as read from a table dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEntry {
    /// Attributes.
    pub service: Service,
    /// Counters.
    pub stats: Stats,
    /// Destinations in the order the table returned them.
    pub dests: Vec<DestEntry>,
}

/// One change to a table. A batch of these is what the reconciler applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableOp {
    /// `IPVS_CMD_NEW_SERVICE`.
    AddService(Service),
    /// `IPVS_CMD_SET_SERVICE`.
    UpdateService(Service),
    /// `IPVS_CMD_DEL_SERVICE`.
    RemoveService(ServiceKey),
    /// `IPVS_CMD_NEW_DEST`.
    AddDest(ServiceKey, Destination),
    /// `IPVS_CMD_SET_DEST`.
    UpdateDest(ServiceKey, Destination),
    /// `IPVS_CMD_DEL_DEST`.
    RemoveDest(ServiceKey, DestKey),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_back_from_words_or_bits() {
        let flags = ServiceFlags(ServiceFlags::PERSISTENT | ServiceFlags::SCHED2 | 0x100);
        let json = serde_json::to_string(&flags).unwrap();
        assert_eq!(json, r#"["persistent","flag-2","0x100"]"#);
        assert_eq!(serde_json::from_str::<ServiceFlags>(&json).unwrap(), flags);
        assert_eq!(
            serde_json::from_str::<ServiceFlags>("17").unwrap(),
            ServiceFlags(17)
        );
        assert!(serde_json::from_str::<ServiceFlags>(r#"["sticky"]"#).is_err());
    }

    #[test]
    fn a_netmask_is_an_address_for_ipv4_and_a_length_for_ipv6() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Mask(#[serde(with = "netmask")] u32);
        for (mask, json) in [
            (0xffff_ff00, r#""255.255.255.0""#),
            (u32::MAX, r#""255.255.255.255""#),
            (64, "64"),
            (128, "128"),
        ] {
            assert_eq!(serde_json::to_string(&Mask(mask)).unwrap(), json);
            assert_eq!(serde_json::from_str::<Mask>(json).unwrap(), Mask(mask));
        }
        assert_eq!(
            serde_json::from_str::<Mask>("4294967040").unwrap(),
            Mask(0xffff_ff00)
        );
    }

    /// `admin-state.json` written before the words changed still reads.
    #[test]
    fn the_old_names_still_read() {
        let key: ServiceKey =
            serde_json::from_str(r#"{"Addr":{"protocol":"Tcp","addr":"10.0.0.1","port":80}}"#)
                .unwrap();
        assert_eq!(
            serde_json::to_string(&key).unwrap(),
            r#"{"addr":{"protocol":"TCP","addr":"10.0.0.1","port":80}}"#
        );
        let fwd: ForwardMethod = serde_json::from_str(r#""Route""#).unwrap();
        assert_eq!(fwd, ForwardMethod::Route);
        let family: Family = serde_json::from_str(r#""Inet6""#).unwrap();
        assert_eq!(serde_json::to_string(&family).unwrap(), r#""inet6""#);
    }
}
