//! The labels of lvsd's per-destination and per-service series, spelled and
//! formatted exactly as node_exporter's `ipvs` collector writes them, so a
//! PromQL query joins `lvsd_real_server_up` with
//! `node_ipvs_backend_weight` on these labels without any relabelling.
//!
//! node_exporter reads `/proc/net/ip_vs` (through prometheus/procfs) and
//! writes, in this order:
//!
//! | label | address service | fwmark service |
//! |---|---|---|
//! | `local_address` | Go's `net.IP.String()`: dotted quad, compressed IPv6, an IPv4-mapped IPv6 address as dotted quad | `""` |
//! | `local_port` | decimal | `0` |
//! | `remote_address` | as `local_address` | as `local_address` |
//! | `remote_port` | decimal | decimal |
//! | `proto` | `TCP`, `UDP` (`SCTP` for SCTP services, which that collector skips) | `FWM` |
//! | `local_mark` | `""` | the mark as 8 upper-case hex digits (`%08X`: `000004D2` for 1234) |

use std::fmt::Write;
use std::net::IpAddr;

use prometheus_client::encoding::{
    EncodeLabelSet, EncodeLabelValue, LabelSetEncoder, LabelValueEncoder,
};

use crate::ipvs::ServiceKey;

/// A value written with `Display` (no allocation).
struct Shown<T>(T);

impl<T: std::fmt::Display> EncodeLabelValue for Shown<T> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        write!(encoder, "{}", self.0)
    }
}

/// A port, written without `fmt` (a scrape writes 100,000 of them).
struct Port(u16);

impl EncodeLabelValue for Port {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(itoa::Buffer::new().format(self.0))
    }
}

/// An address as Go's `net.IP.String()` writes it: dotted quad,
/// compressed IPv6, and an IPv4-mapped IPv6 address as its IPv4 form (where
/// Rust's `Display` keeps the `::ffff:` prefix). IPv4 is written without
/// `fmt`: a scrape writes 100,000 addresses.
struct Address(IpAddr);

impl EncodeLabelValue for Address {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let v4 = match self.0 {
            IpAddr::V4(a) => a,
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(a) => a,
                None => return write!(encoder, "{a}"),
            },
        };
        let mut digits = itoa::Buffer::new();
        for (i, octet) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                encoder.write_str(".")?;
            }
            encoder.write_str(digits.format(octet))?;
        }
        Ok(())
    }
}

/// The mark as the kernel prints it in `/proc/net/ip_vs` (`FWM  %08X`).
struct Mark(u32);

impl std::fmt::Display for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

/// `proto` for a service.
fn proto(key: &ServiceKey) -> &'static str {
    match key {
        ServiceKey::Addr { protocol, .. } => protocol.name(),
        ServiceKey::Fwmark { .. } => "FWM",
    }
}

/// Writes the four service labels of node_exporter (`local_address`,
/// `local_port`, then after the remote ones `proto`, `local_mark`).
fn encode_local(key: &ServiceKey, e: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
    match key {
        ServiceKey::Addr { addr, port, .. } => {
            ("local_address", Address(*addr)).encode(e.encode_label())?;
            ("local_port", Port(*port)).encode(e.encode_label())
        }
        ServiceKey::Fwmark { .. } => {
            ("local_address", "").encode(e.encode_label())?;
            ("local_port", "0").encode(e.encode_label())
        }
    }
}

fn encode_proto_mark(key: &ServiceKey, e: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
    ("proto", proto(key)).encode(e.encode_label())?;
    match key {
        ServiceKey::Addr { .. } => ("local_mark", "").encode(e.encode_label()),
        ServiceKey::Fwmark { mark, .. } => {
            ("local_mark", Shown(Mark(*mark))).encode(e.encode_label())
        }
    }
}

use prometheus_client::encoding::EncodeLabel;

/// A kernel destination: node_exporter's six backend labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestLabels {
    /// The virtual service.
    pub service: ServiceKey,
    /// The real server's address.
    pub addr: IpAddr,
    /// The real server's port.
    pub port: u16,
}

impl EncodeLabelSet for DestLabels {
    fn encode(&self, e: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        encode_local(&self.service, e)?;
        ("remote_address", Address(self.addr)).encode(e.encode_label())?;
        ("remote_port", Port(self.port)).encode(e.encode_label())?;
        encode_proto_mark(&self.service, e)
    }
}

/// A virtual service: node_exporter's service labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceLabels(pub ServiceKey);

impl EncodeLabelSet for ServiceLabels {
    fn encode(&self, e: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        encode_local(&self.0, e)?;
        encode_proto_mark(&self.0, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{Family, Protocol};
    use prometheus_client::encoding::text::encode_registry;
    use prometheus_client::registry::Registry;

    /// How a label set is written in a scrape: `{...}`.
    fn labels_of(set: DestLabels) -> String {
        // Encoded through the real encoder, by a one-series collector.
        let mut registry = Registry::default();
        #[derive(Debug)]
        struct One(DestLabels);
        impl prometheus_client::collector::Collector for One {
            fn encode(
                &self,
                mut encoder: prometheus_client::encoding::DescriptorEncoder,
            ) -> Result<(), std::fmt::Error> {
                use prometheus_client::encoding::EncodeMetric;
                let gauge = prometheus_client::metrics::gauge::ConstGauge::new(1i64);
                let mut m = encoder.encode_descriptor("x", "x", None, gauge.metric_type())?;
                gauge.encode(m.encode_family(&self.0)?)
            }
        }
        registry.register_collector(Box::new(One(set)));
        let mut out = String::new();
        encode_registry(&mut out, &registry).unwrap();
        let line = out
            .lines()
            .find(|l| l.starts_with("x{"))
            .unwrap()
            .to_owned();
        line["x".len()..line.rfind(' ').unwrap()].to_owned()
    }

    #[test]
    fn address_services_carry_node_exporter_s_labels_in_its_order() {
        let set = DestLabels {
            service: ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.10.0.1".parse().unwrap(),
                port: 80,
            },
            addr: "10.200.1.2".parse().unwrap(),
            port: 8081,
        };
        assert_eq!(
            labels_of(set),
            r#"{local_address="10.10.0.1",local_port="80",remote_address="10.200.1.2",remote_port="8081",proto="TCP",local_mark=""}"#
        );
    }

    #[test]
    fn fwmark_services_have_an_empty_address_port_0_and_the_mark_in_hex() {
        let set = DestLabels {
            service: ServiceKey::Fwmark {
                family: Family::Inet,
                mark: 1234,
            },
            addr: "192.168.1.5".parse().unwrap(),
            port: 0,
        };
        assert_eq!(
            labels_of(set),
            r#"{local_address="",local_port="0",remote_address="192.168.1.5",remote_port="0",proto="FWM",local_mark="000004D2"}"#
        );
    }

    #[test]
    fn ipv6_is_compressed_and_4_in_6_is_dotted_as_go_writes_them() {
        let set = DestLabels {
            service: ServiceKey::Addr {
                protocol: Protocol::Udp,
                addr: "2001:db8:0:0:0:0:0:1".parse().unwrap(),
                port: 53,
            },
            addr: "::ffff:10.0.0.7".parse().unwrap(),
            port: 5353,
        };
        assert_eq!(
            labels_of(set),
            r#"{local_address="2001:db8::1",local_port="53",remote_address="10.0.0.7",remote_port="5353",proto="UDP",local_mark=""}"#
        );
    }
}
