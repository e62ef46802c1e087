//! Wire-format tests: requests encoded byte for byte as `linux/ip_vs.h`
//! lays them out, and kernel-style replies decoded. The expected bytes are
//! built by hand here, independently of [`super::wire`]'s writer.

use super::attrs::{parse_dest, parse_service, Counters};
use super::datagram::{Frame, Messages};
use super::message::View;
use super::wire::{write_op, write_request, Header, Request, BLOCK};
use crate::ipvs::settings::{SyncDaemon, SyncState, Timeouts};
use crate::ipvs::*;

const NLM_F_REQUEST: u16 = libc::NLM_F_REQUEST as u16;
const NLM_F_ACK: u16 = libc::NLM_F_ACK as u16;

/// One attribute: `struct nlattr` (len, type) + payload + padding to 4.
fn nla(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(payload);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

/// A whole message: nlmsghdr + genlmsghdr + attributes.
fn nlmsg(family: u16, flags: u16, seq: u32, cmd: u8, attrs: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((16 + 4 + attrs.len()) as u32).to_ne_bytes());
    v.extend_from_slice(&family.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes());
    v.extend_from_slice(&[cmd, 1, 0, 0]);
    v.extend_from_slice(attrs);
    v
}

/// A table change as lvsd sends it, asking for an ack.
fn encode_op(op: &TableOp, family: u16, seq: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let flags = NLM_F_REQUEST | NLM_F_ACK;
    write_op(op, Header { family, flags, seq }, &mut out);
    out
}

/// Any request as lvsd sends it, asking for an ack.
fn encode(request: Request<'_>, family: u16, seq: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let flags = NLM_F_REQUEST | NLM_F_ACK;
    write_request(&request, Header { family, flags, seq }, &mut out);
    out
}

/// Calls `read` with a view of the attributes of the one IPVS message in
/// `datagram` (family 0x22), as the client reads a reply.
fn decode<R>(datagram: &[u8], read: impl FnOnce(&View<'_>) -> R) -> R {
    let frames: Vec<_> = Messages::new(datagram, 0x22)
        .collect::<Result<_, _>>()
        .unwrap();
    match frames.as_slice() {
        [(_, Frame::Message(_, attrs))] => read(&View::parse(attrs).unwrap()),
        other => panic!("not one IPVS message: {other:?}"),
    }
}

fn addr16(a: [u8; 4]) -> [u8; 16] {
    let mut b = [0; 16];
    b[..4].copy_from_slice(&a);
    b
}

#[test]
fn new_service_is_encoded_as_the_uapi_says() {
    let service = Service {
        key: ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        },
        scheduler: "rr".into(),
        flags: ServiceFlags(ServiceFlags::ONEPACKET),
        timeout: 300,
        netmask: 0xffff_ff00,
        pe_name: None,
    };
    let mut flags = Vec::new();
    flags.extend_from_slice(&(ServiceFlags::ONEPACKET | ServiceFlags::PERSISTENT).to_ne_bytes());
    flags.extend_from_slice(&u32::MAX.to_ne_bytes());
    let svc = [
        nla(1, &2u16.to_ne_bytes()),
        nla(2, &6u16.to_ne_bytes()),
        nla(3, &addr16([10, 0, 0, 1])),
        nla(4, &80u16.to_be_bytes()),
        nla(6, b"rr\0"),
        nla(7, &flags),
        nla(8, &300u32.to_ne_bytes()),
        nla(9, &[255, 255, 255, 0]),
    ]
    .concat();
    let want = nlmsg(0x22, NLM_F_REQUEST | NLM_F_ACK, 7, 1, &nla(1, &svc));
    assert_eq!(encode_op(&TableOp::AddService(service), 0x22, 7), want);
}

/// 10.1.1.1:443, tunnelled (GUE to port 6080), with every field set.
fn tunnel_dest() -> Destination {
    Destination {
        key: DestKey {
            addr: "10.1.1.1".parse().unwrap(),
            port: 443,
        },
        fwd: ForwardMethod::Tunnel,
        weight: 5,
        u_threshold: 100,
        l_threshold: 10,
        tunnel: Tunnel {
            kind: TunnelType::Gue,
            port: 6080,
            flags: 1,
        },
    }
}

#[test]
fn fwmark_and_dest_requests_are_encoded_as_the_uapi_says() {
    let key = ServiceKey::Fwmark {
        family: Family::Inet6,
        mark: 9,
    };
    let dest = tunnel_dest();
    let svc = [nla(1, &10u16.to_ne_bytes()), nla(5, &9u32.to_ne_bytes())].concat();
    let d = [
        nla(11, &2u16.to_ne_bytes()),
        nla(1, &addr16([10, 1, 1, 1])),
        nla(2, &443u16.to_be_bytes()),
        nla(3, &2u32.to_ne_bytes()),
        nla(4, &5u32.to_ne_bytes()),
        nla(13, &[1]),
        nla(14, &6080u16.to_be_bytes()),
        nla(15, &1u16.to_ne_bytes()),
        nla(5, &100u32.to_ne_bytes()),
        nla(6, &10u32.to_ne_bytes()),
    ]
    .concat();
    let want = nlmsg(
        0x22,
        NLM_F_REQUEST | NLM_F_ACK,
        1,
        5,
        &[nla(1, &svc), nla(2, &d)].concat(),
    );
    assert_eq!(encode_op(&TableOp::AddDest(key, dest), 0x22, 1), want);
}

#[test]
fn removals_updates_and_ipv6_services_are_encoded_as_the_uapi_says() {
    let v6: std::net::IpAddr = "2001:db8::1".parse().unwrap();
    let key = ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr: v6,
        port: 53,
    };
    let v6_key = [
        nla(1, &10u16.to_ne_bytes()),
        nla(2, &17u16.to_ne_bytes()),
        nla(
            3,
            &match v6 {
                std::net::IpAddr::V6(a) => a.octets(),
                std::net::IpAddr::V4(_) => unreachable!(),
            },
        ),
        nla(4, &53u16.to_be_bytes()),
    ]
    .concat();
    // A persistence engine name, an IPv6 prefix length in host order, and
    // no timeout: PERSISTENT cleared.
    let service = Service {
        key,
        scheduler: "wlc".into(),
        flags: ServiceFlags(ServiceFlags::PERSISTENT),
        timeout: 0,
        netmask: 64,
        pe_name: Some("sip".into()),
    };
    let mut flags = 0u32.to_ne_bytes().to_vec();
    flags.extend_from_slice(&u32::MAX.to_ne_bytes());
    let full = [
        v6_key.clone(),
        nla(6, b"wlc\0"),
        nla(11, b"sip\0"),
        nla(7, &flags),
        nla(8, &0u32.to_ne_bytes()),
        nla(9, &64u32.to_ne_bytes()),
    ]
    .concat();
    let flags = NLM_F_REQUEST | NLM_F_ACK;
    let update = TableOp::UpdateService(service);
    assert_eq!(
        encode_op(&update, 0x22, 2),
        nlmsg(0x22, flags, 2, 2, &nla(1, &full))
    );
    assert_eq!(
        encode_op(&TableOp::RemoveService(key), 0x22, 3),
        nlmsg(0x22, flags, 3, 3, &nla(1, &v6_key))
    );
    let dest_key = DestKey {
        addr: "10.9.9.9".parse().unwrap(),
        port: 8080,
    };
    let d_key = [
        nla(11, &2u16.to_ne_bytes()),
        nla(1, &addr16([10, 9, 9, 9])),
        nla(2, &8080u16.to_be_bytes()),
    ]
    .concat();
    assert_eq!(
        encode_op(&TableOp::RemoveDest(key, dest_key), 0x22, 4),
        nlmsg(
            0x22,
            flags,
            4,
            7,
            &[nla(1, &v6_key), nla(2, &d_key)].concat()
        )
    );
    let dest = Destination {
        key: dest_key,
        fwd: ForwardMethod::Route,
        weight: 0,
        u_threshold: 0,
        l_threshold: 0,
        tunnel: Tunnel::default(),
    };
    let d_full = [
        d_key,
        nla(3, &3u32.to_ne_bytes()),
        nla(4, &0u32.to_ne_bytes()),
        nla(13, &[0]),
        nla(14, &0u16.to_be_bytes()),
        nla(15, &0u16.to_ne_bytes()),
        nla(5, &0u32.to_ne_bytes()),
        nla(6, &0u32.to_ne_bytes()),
    ]
    .concat();
    assert_eq!(
        encode_op(&TableOp::UpdateDest(key, dest), 0x22, 5),
        nlmsg(
            0x22,
            flags,
            5,
            6,
            &[nla(1, &v6_key), nla(2, &d_full)].concat()
        )
    );
    // GET_DEST and GET_SERVICE name their service the same way, through
    // the general writer.
    assert_eq!(
        encode(Request::Dests(&key), 0x22, 6),
        nlmsg(0x22, flags, 6, 8, &nla(1, &v6_key))
    );
    assert_eq!(
        encode(Request::Service(&key), 0x22, 7),
        nlmsg(0x22, flags, 7, 4, &nla(1, &v6_key))
    );
}

fn stats(kind: u16, wide: bool, base: u64) -> Vec<u8> {
    let mut a = Vec::new();
    for k in 1..=10u16 {
        let v = base + k as u64;
        let eight = wide || k == 4 || k == 5;
        a.extend(if eight {
            nla(k, &v.to_ne_bytes())
        } else {
            nla(k, &(v as u32).to_ne_bytes())
        });
    }
    nla(kind, &a)
}

#[test]
fn kernel_dest_reply_is_decoded_preferring_stats64() {
    let d = [
        nla(1, &{
            let mut a = [0u8; 16];
            a[..].copy_from_slice(
                &"2001:db8::7"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets(),
            );
            a
        }),
        nla(2, &8080u16.to_be_bytes()),
        nla(3, &0u32.to_ne_bytes()),
        nla(4, &3u32.to_ne_bytes()),
        nla(13, &[2]),
        nla(14, &0u16.to_be_bytes()),
        nla(15, &1u16.to_ne_bytes()),
        nla(5, &50u32.to_ne_bytes()),
        nla(6, &5u32.to_ne_bytes()),
        nla(7, &11u32.to_ne_bytes()),
        nla(8, &12u32.to_ne_bytes()),
        nla(9, &13u32.to_ne_bytes()),
        nla(11, &10u16.to_ne_bytes()),
        stats(10, false, 100),
        stats(12, true, 1 << 40),
    ]
    .concat();
    let e = decode(&nlmsg(0x22, 2, 3, 5, &nla(2, &d)), |v| {
        parse_dest(v, Family::Inet, Counters::Read)
    })
    .unwrap();
    assert_eq!(
        e.dest.key.addr,
        "2001:db8::7".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(e.dest.key.port, 8080);
    assert_eq!((e.dest.fwd, e.dest.weight), (ForwardMethod::Masq, 3));
    assert_eq!((e.dest.u_threshold, e.dest.l_threshold), (50, 5));
    assert_eq!(
        e.dest.tunnel,
        Tunnel {
            kind: TunnelType::Gre,
            port: 0,
            flags: 1
        }
    );
    assert_eq!(
        e.counts,
        DestCounts {
            active: 11,
            inactive: 12,
            persistent: 13
        }
    );
    assert_eq!(e.stats.conns, (1 << 40) + 1, "stats64 wins");
    assert_eq!(e.stats.outbps, (1 << 40) + 10);
}

#[test]
fn kernel_service_reply_is_decoded() {
    let mut flags = Vec::new();
    flags.extend_from_slice(
        &(ServiceFlags::HASHED | ServiceFlags::PERSISTENT | ServiceFlags::SCHED2).to_ne_bytes(),
    );
    flags.extend_from_slice(&u32::MAX.to_ne_bytes());
    let svc = [
        nla(1, &10u16.to_ne_bytes()),
        nla(5, &77u32.to_ne_bytes()),
        nla(6, b"sh\0"),
        nla(11, b"sip\0"),
        nla(7, &flags),
        nla(8, &60u32.to_ne_bytes()),
        nla(9, &64u32.to_ne_bytes()),
        stats(10, false, 0),
    ]
    .concat();
    let e = decode(&nlmsg(0x22, 2, 3, 1, &nla(1, &svc)), parse_service).unwrap();
    assert_eq!(
        e.service,
        Service {
            key: ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 77
            },
            scheduler: "sh".into(),
            flags: ServiceFlags(ServiceFlags::PERSISTENT | ServiceFlags::SCHED2),
            timeout: 60,
            netmask: 64,
            pe_name: Some("sip".into()),
        }
    );
    assert_eq!(e.stats.conns, 1, "32-bit stats when no stats64");
    assert_eq!(e.stats.inbytes, 4);
}

#[test]
fn truncated_replies_are_errors_not_panics() {
    let dest_without_address = nlmsg(0x22, 2, 3, 5, &nla(2, &nla(2, &80u16.to_be_bytes())));
    assert!(decode(&dest_without_address, |v| parse_dest(
        v,
        Family::Inet,
        Counters::Read
    ))
    .is_err());
    let service_without_key = nlmsg(0x22, 2, 3, 1, &nla(1, &nla(1, &2u16.to_ne_bytes())));
    assert!(decode(&service_without_key, parse_service).is_err());
    // A nested attribute whose length runs past its parent's end.
    let mut overrun = nla(1, &nla(1, &2u16.to_ne_bytes()));
    overrun[4] = 40;
    assert!(decode(&nlmsg(0x22, 2, 3, 1, &overrun), parse_service).is_err());
}

#[test]
fn reads_and_settings_are_encoded_as_the_uapi_says() {
    let flags = NLM_F_REQUEST | NLM_F_ACK;
    for (request, cmd) in [
        (Request::Services, 4),
        (Request::Daemons, 11),
        (Request::Timeouts, 13),
        (Request::Info, 15),
        (Request::Zero, 16),
        (Request::Flush, 17),
    ] {
        assert_eq!(
            encode(request, 0x22, 9),
            nlmsg(0x22, flags, 9, cmd, &[]),
            "{request:?}"
        );
    }
    // Zero timeouts are left out: they stay as they are.
    let timeouts = Timeouts {
        tcp: 901,
        tcp_fin: 0,
        udp: 301,
    };
    assert_eq!(
        encode(Request::SetTimeouts(&timeouts), 0x22, 1),
        nlmsg(
            0x22,
            flags,
            1,
            12,
            &[nla(4, &901u32.to_ne_bytes()), nla(6, &301u32.to_ne_bytes())].concat()
        )
    );
    let daemon = SyncDaemon {
        state: SyncState::Backup,
        mcast_ifn: "eth0".into(),
        syncid: 7,
        sync_maxlen: 1400,
        mcast_group: Some("239.1.1.1".parse().unwrap()),
        mcast_port: 0,
        mcast_ttl: 2,
    };
    let body = [
        nla(1, &2u32.to_ne_bytes()),
        nla(2, b"eth0\0"),
        nla(3, &7u32.to_ne_bytes()),
        nla(4, &1400u16.to_ne_bytes()),
        nla(5, &[239, 1, 1, 1]),
        nla(8, &[2]),
    ]
    .concat();
    assert_eq!(
        encode(Request::StartDaemon(&daemon), 0x22, 2),
        nlmsg(0x22, flags, 2, 9, &nla(3, &body))
    );
    assert_eq!(
        encode(Request::StopDaemon(SyncState::Master), 0x22, 3),
        nlmsg(0x22, flags, 3, 10, &nla(3, &nla(1, &1u32.to_ne_bytes())))
    );
}

/// The biggest bounded request, a whole destination with its service's
/// address key (addresses take 16 bytes in either family), fills a wire
/// block exactly: [`BLOCK`] is neither short (a request would not fit)
/// nor loose. Every request states its own length.
#[test]
fn the_biggest_bounded_request_fills_a_block() {
    let key = ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr: "2001:db8::1".parse().unwrap(),
        port: 53,
    };
    let d = tunnel_dest();
    let mut sizes = Vec::new();
    for op in [
        TableOp::AddDest(key, d),
        TableOp::UpdateDest(key, d),
        TableOp::RemoveDest(key, d.key),
        TableOp::RemoveService(key),
    ] {
        let mut out = vec![0xee; 3];
        let flags = NLM_F_REQUEST;
        write_op(
            &op,
            Header {
                family: 0x22,
                flags,
                seq: 1,
            },
            &mut out,
        );
        let len = u32::from_ne_bytes(out[3..7].try_into().unwrap()) as usize;
        assert_eq!(len, out.len() - 3, "{op:?}: the length covers the request");
        sizes.push(len);
    }
    assert_eq!(sizes, [BLOCK, BLOCK, 20 + 48 + 4 + 36, 20 + 48]);
}
