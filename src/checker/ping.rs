//! `PING_CHECK`: one ICMP (or ICMPv6) echo to the target, and its reply.
//!
//! ## On the wire
//!
//! As keepalived sends it: an 8-byte ICMP header (echo request: type 8, or
//! 128 for ICMPv6; code 0; the identifier; a sequence number, network byte
//! order, one more for every echo lvsd sends) and 128 bytes of payload, a
//! fixed text repeated ([`PAYLOAD_TEXT`], lvsd's own text where keepalived
//! repeats its name). The reply is read 136 bytes at most; it passes when it
//! is an echo reply (type 0, or 129) carrying the sequence number just sent.
//! Anything else fails: another ICMP type, another sequence number, a short
//! packet, a read error, or no reply within `connect_timeout`.
//!
//! ## Which socket
//!
//! keepalived uses a "ping socket" (`SOCK_DGRAM`, `IPPROTO_ICMP`): no
//! privilege, the kernel picks the identifier and delivers only the
//! replies that carry it. Linux allows one only to processes whose group is
//! in `net.ipv4.ping_group_range` (for IPv6 too), and keepalived rewrites
//! that sysctl to allow every group. lvsd never changes a sysctl silently,
//! so it tries, for every attempt, in order:
//!
//! 1. a ping socket, which works when the process's group is in
//!    `ping_group_range` (systemd's default allows every group);
//! 2. else a raw ICMP socket, which needs `CAP_NET_RAW` (root has it). Every
//!    raw ICMP socket sees every ICMP packet the host receives, so the
//!    socket gets a kernel filter that passes echo replies only, and lvsd
//!    keeps only those carrying its own identifier (a random one per
//!    attempt). A BPF filter on the identifier was tried and dropped: in
//!    the guest, attaching one to every socket cost more CPU (2.0 ms per
//!    probe against 0.7 ms, at 200 probes a second) than it saved;
//! 3. else the check fails with a reason that names both ways out: the
//!    sysctl and the capability.
//!
//! The engine runs an attempt on its prober thread (see `datagram.rs`);
//! [`run`] does the same on tokio for one-off probes.
//!
//! On the prober, a ping socket is kept between passing attempts, as
//! keepalived 2.3.0+ keeps it (2.2.7 made a new one for every attempt):
//! the next echo is one `sendto` ([`send`]); what comes between attempts
//! is read and dropped, and a failure closes the socket (`datagram.rs`),
//! so a late reply to an earlier echo can never be read as the answer to a
//! later one. A raw socket is made for every attempt.
//!
//! `connect_port` means nothing to an echo, `fwmark` is not applied (as in
//! keepalived), `bind_port` is ignored; `bindto` and `bind_if` are honoured
//! (as keepalived does since after 2.4.3; 2.2.7 ignored them). The retry
//! rules are `TCP_CHECK`'s (see `schedule.rs`).

use std::borrow::Cow;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::time::timeout;

use super::probe::seconds;
use super::tcp::NotStarted;
use crate::config::PingCheck;

/// The ICMP header.
pub const HEADER_LEN: usize = 8;
/// The payload of an echo request, as keepalived sends it.
pub const PAYLOAD_LEN: usize = 128;
/// A whole echo request, and the most of a reply that is read.
pub const PACKET_LEN: usize = HEADER_LEN + PAYLOAD_LEN;
/// The text repeated in the payload (keepalived repeats its own name).
pub const PAYLOAD_TEXT: &[u8] = b"lvsd ping check - ";

const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO: u8 = 8;
const ICMP6_ECHO: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;

/// The sequence number of the last echo sent, by any probe.
static SEQUENCE: AtomicU16 = AtomicU16::new(0);

/// Which kind of socket an attempt used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// `SOCK_DGRAM` ping socket (`net.ipv4.ping_group_range`).
    Ping,
    /// `SOCK_RAW` with `CAP_NET_RAW`.
    Raw,
}

impl SocketKind {
    fn name(self) -> &'static str {
        match self {
            SocketKind::Ping => "ping socket",
            SocketKind::Raw => "raw socket",
        }
    }
}

/// A verdict: (up?, reason).
pub type Outcome = (bool, Cow<'static, str>);

/// An echo under way: the socket it was sent from, and what the reply must
/// carry.
#[derive(Debug, Clone, Copy)]
pub struct Echo {
    /// The kind of socket.
    pub kind: SocketKind,
    /// What the reply must carry.
    pub expect: Expect,
}

/// Runs one `PING_CHECK` attempt on tokio (the engine runs the same steps
/// on its prober thread: [`start`], [`on_ready`], [`on_timeout`]).
pub async fn run(check: &PingCheck) -> Outcome {
    let (socket, echo) = match start(check) {
        Ok(started) => started,
        Err(e) => return (false, e.to_string().into()),
    };
    let socket = match super::probe::watch(socket, Interest::READABLE) {
        Ok(socket) => socket,
        Err(e) => return (false, format!("cannot set up the probe socket: {e}").into()),
    };
    let wait = async {
        loop {
            let mut guard = match socket.readable().await {
                Ok(guard) => guard,
                Err(e) => return (false, format!("waiting for the reply: {e}").into()),
            };
            match on_ready(socket.get_ref(), &echo) {
                Some(outcome) => return outcome,
                None => guard.clear_ready(),
            }
        }
    };
    match timeout(check.common.connect_timeout.duration(), wait).await {
        Ok(outcome) => outcome,
        Err(_) => on_timeout(check, &echo),
    }
}

/// Opens the socket and sends the echo request; then wait for it to turn
/// readable and ask [`on_ready`], for at most `connect_timeout`, then
/// [`on_timeout`].
pub fn start(check: &PingCheck) -> Result<(Socket, Echo), NotStarted> {
    let common = &check.common;
    let (socket, kind) = open(common.connect_ip, common.bindto(), common.bind_if())?;
    let echo = send(&socket, kind, check)?;
    Ok((socket, echo))
}

/// Sends an echo request with the next sequence number on `socket`, of
/// `kind` (an attempt begins); returns what its reply must carry.
pub fn send(socket: &Socket, kind: SocketKind, check: &PingCheck) -> Result<Echo, String> {
    let target = check.common.connect_ip;
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
    // The kernel sets a ping socket's identifier; a raw socket's is ours.
    let id = match kind {
        SocketKind::Ping => 0,
        SocketKind::Raw => rand::random::<u16>(),
    };
    let request = echo_request(target.is_ipv6(), id, seq);
    let to = SockAddr::from(SocketAddr::new(target, 0));
    match socket.send_to(&request, &to) {
        Ok(n) if n == request.len() => {}
        Ok(n) => return Err(format!("sent {n} of {} bytes", request.len())),
        Err(e) => return Err(format!("send: {e}")),
    }
    let expect = Expect {
        v6: target.is_ipv6(),
        id: (kind == SocketKind::Raw).then_some(id),
        seq,
    };
    Ok(Echo { kind, expect })
}

/// Reads what the readable socket holds: the verdict once this echo's
/// reply (or a failing answer) is read; `None` when nothing of ours was
/// there (wait again).
pub fn on_ready(socket: &Socket, echo: &Echo) -> Option<Outcome> {
    // A raw IPv4 socket hands over the IP header too (60 bytes at most).
    let mut buffer = [0u8; 60 + PACKET_LEN];
    loop {
        // SAFETY: u8 viewed as MaybeUninit<u8> (same layout, always valid);
        // recv only writes initialised bytes.
        let uninit =
            unsafe { std::slice::from_raw_parts_mut(buffer.as_mut_ptr().cast(), buffer.len()) };
        let n = match socket.recv(uninit) {
            Ok(n) => n.min(buffer.len()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Some((false, format!("reading the reply: {e}").into())),
        };
        match received(&buffer[..n], echo.kind, &echo.expect) {
            Verdict::NotOurs => continue,
            Verdict::Reply => {
                // Static text: a passing probe allocates nothing.
                let reason = match echo.kind {
                    SocketKind::Ping => "echo reply (ping socket)",
                    SocketKind::Raw => "echo reply (raw socket)",
                };
                return Some((true, reason.into()));
            }
            Verdict::Bad(reason) => return Some((false, reason.into())),
        }
    }
}

/// The verdict when no reply came within `connect_timeout`.
pub fn on_timeout(check: &PingCheck, echo: &Echo) -> Outcome {
    let limit = seconds(check.common.connect_timeout.duration());
    let reason = format!("no echo reply within {limit} ({})", echo.kind.name());
    (false, reason.into())
}

/// What a reply must carry.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// ICMPv6 rather than ICMP.
    pub v6: bool,
    /// The identifier, when lvsd chose it (raw socket); a ping socket only
    /// receives replies with its own.
    pub id: Option<u16>,
    /// The sequence number sent.
    pub seq: u16,
}

/// What one packet read from the socket means.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not an answer to this probe (a raw socket sees every echo reply).
    NotOurs,
    /// The echo reply to this probe.
    Reply,
    /// An answer that fails the check, and why.
    Bad(String),
}

/// Judges one ICMP message (header first, without the IP header).
pub fn judge(packet: &[u8], expect: &Expect) -> Verdict {
    if packet.len() < HEADER_LEN {
        return Verdict::Bad(format!("a reply of {} bytes", packet.len()));
    }
    let kind = packet[0];
    let id = u16::from_be_bytes([packet[4], packet[5]]);
    let seq = u16::from_be_bytes([packet[6], packet[7]]);
    if expect.id.is_some_and(|want| want != id) {
        return Verdict::NotOurs;
    }
    let reply_type = if expect.v6 {
        ICMP6_ECHO_REPLY
    } else {
        ICMP_ECHO_REPLY
    };
    if kind != reply_type {
        return Verdict::Bad(format!("ICMP type {kind} instead of an echo reply"));
    }
    if seq != expect.seq {
        return Verdict::Bad(format!(
            "echo reply with seq {seq}, expected {}",
            expect.seq
        ));
    }
    Verdict::Reply
}

/// Judges what one read from a socket of `kind` returned: a raw IPv4
/// socket's read starts with the IP header, which is skipped; then at most
/// one echo's worth ([`PACKET_LEN`], as keepalived reads) is judged.
pub fn received(read: &[u8], kind: SocketKind, expect: &Expect) -> Verdict {
    let packet = match kind {
        SocketKind::Raw if !expect.v6 => strip_ip_header(read),
        _ => read,
    };
    judge(&packet[..packet.len().min(PACKET_LEN)], expect)
}

/// The ICMP message inside an IPv4 packet (as a raw socket reads it).
fn strip_ip_header(packet: &[u8]) -> &[u8] {
    let header = packet.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
    packet.get(header..).unwrap_or_default()
}

/// An echo request: header, then [`PAYLOAD_TEXT`] repeated to
/// [`PAYLOAD_LEN`] bytes. The ICMP checksum is computed (a raw IPv4 socket
/// sends it as is; the kernel fills it for ping sockets and ICMPv6).
pub fn echo_request(v6: bool, id: u16, seq: u16) -> [u8; PACKET_LEN] {
    let mut packet = [0u8; PACKET_LEN];
    packet[0] = if v6 { ICMP6_ECHO } else { ICMP_ECHO };
    packet[4..6].copy_from_slice(&id.to_be_bytes());
    packet[6..8].copy_from_slice(&seq.to_be_bytes());
    for (byte, text) in packet[HEADER_LEN..]
        .iter_mut()
        .zip(PAYLOAD_TEXT.iter().cycle())
    {
        *byte = *text;
    }
    if !v6 {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// The Internet checksum (RFC 1071) of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Opens the echo socket (see the module docs for the order), bound as
/// `bindto` and `bind_if` say.
pub fn open(
    target: IpAddr,
    bindto: Option<IpAddr>,
    bind_if: Option<&str>,
) -> Result<(Socket, SocketKind), NotStarted> {
    open_as(
        target,
        bindto,
        bind_if,
        &[SocketKind::Ping, SocketKind::Raw],
    )
}

/// [`open`], trying only the `kinds` given, in order (tests use one).
pub fn open_as(
    target: IpAddr,
    bindto: Option<IpAddr>,
    bind_if: Option<&str>,
    kinds: &[SocketKind],
) -> Result<(Socket, SocketKind), NotStarted> {
    let (domain, protocol) = match target {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let mut denied = false;
    for &kind in kinds {
        let ty = match kind {
            SocketKind::Ping => Type::DGRAM,
            SocketKind::Raw => Type::RAW,
        };
        let socket = match Socket::new(domain, ty.nonblocking().cloexec(), Some(protocol)) {
            Ok(socket) => socket,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
                denied = true;
                continue;
            }
            Err(e) => {
                let reason = format!("cannot open an ICMP socket ({}): {e}", kind.name());
                return Err(NotStarted::new(reason, &e));
            }
        };
        let setup = |what: &str, e: io::Error| NotStarted::setup(what, &e);
        if kind == SocketKind::Raw {
            pass_echo_replies_only(&socket, target.is_ipv6())
                .map_err(|e| setup("ICMP filter", e))?;
        }
        if let Some(device) = bind_if {
            socket
                .bind_device(Some(device.as_bytes()))
                .map_err(|e| setup("bind_if (SO_BINDTODEVICE)", e))?;
        }
        if let Some(source) = bindto {
            socket
                .bind(&SocketAddr::new(source, 0).into())
                .map_err(|e| setup("bindto", e))?;
        }
        return Ok((socket, kind));
    }
    if denied {
        Err(no_permission().into())
    } else {
        Err(String::from("no ICMP socket kind to try").into())
    }
}

/// Why no ICMP socket could be opened, and the two ways out.
fn no_permission() -> String {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unreadable".into());
    // SAFETY: getgid cannot fail and touches no memory.
    let gid = unsafe { libc::getgid() };
    format!(
        "PING_CHECK cannot open an ICMP socket: lvsd's group (gid {gid}) is not in \
         net.ipv4.ping_group_range (\"{range}\") and lvsd lacks CAP_NET_RAW; \
         widen the sysctl (e.g. sysctl net.ipv4.ping_group_range=\"0 2147483647\") \
         or grant CAP_NET_RAW (lvsd never changes a sysctl itself)"
    )
}

/// Sets the kernel filter of a raw ICMP socket so that it receives echo
/// replies only (`ICMP_FILTER`, `ICMP6_FILTER`: a set bit blocks a type).
fn pass_echo_replies_only(socket: &Socket, v6: bool) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let rc = if v6 {
        let mut blocked = [u32::MAX; 8];
        let t = usize::from(ICMP6_ECHO_REPLY);
        blocked[t >> 5] &= !(1u32 << (t & 31));
        // SAFETY: a valid fd; a pointer to struct icmp6_filter's 8 words and
        // its exact length.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_ICMPV6,
                ICMP6_FILTER,
                blocked.as_ptr().cast(),
                std::mem::size_of_val(&blocked) as libc::socklen_t,
            )
        }
    } else {
        let blocked: u32 = !(1u32 << ICMP_ECHO_REPLY);
        // SAFETY: a valid fd; a pointer to a u32 (struct icmp_filter) and
        // its exact length.
        unsafe {
            libc::setsockopt(
                fd,
                SOL_RAW,
                ICMP_FILTER,
                (&blocked as *const u32).cast(),
                std::mem::size_of::<u32>() as libc::socklen_t,
            )
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `<linux/icmp.h>`: the raw socket option level and the filter option.
const SOL_RAW: libc::c_int = 255;
const ICMP_FILTER: libc::c_int = 1;
/// `<linux/icmpv6.h>`.
const ICMP6_FILTER: libc::c_int = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_request_is_136_bytes_as_keepalived_sends() {
        let p = echo_request(false, 0x1234, 0x0102);
        assert_eq!(p.len(), 136);
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(
            &p[4..8],
            &[0x12, 0x34, 0x01, 0x02],
            "id, seq in network order"
        );
        assert!(p[8..].starts_with(PAYLOAD_TEXT));
        assert_eq!(
            p[8 + PAYLOAD_TEXT.len()],
            PAYLOAD_TEXT[0],
            "the text repeats"
        );
        assert_eq!(checksum(&p), 0, "a valid checksum sums to zero");
        let p6 = echo_request(true, 0, 7);
        assert_eq!(
            (p6[0], &p6[2..4]),
            (128, &[0u8, 0][..]),
            "the kernel sums ICMPv6"
        );
    }

    fn reply(kind: u8, id: u16, seq: u16) -> Vec<u8> {
        let mut p = echo_request(false, id, seq).to_vec();
        p[0] = kind;
        p
    }

    #[test]
    fn only_an_echo_reply_with_the_last_seq_passes() {
        let expect = Expect {
            v6: false,
            id: None,
            seq: 9,
        };
        assert_eq!(judge(&reply(0, 1, 9), &expect), Verdict::Reply);
        let wrong_seq = judge(&reply(0, 1, 8), &expect);
        assert_eq!(
            wrong_seq,
            Verdict::Bad("echo reply with seq 8, expected 9".into())
        );
        assert!(matches!(judge(&reply(3, 1, 9), &expect), Verdict::Bad(_)));
        assert!(matches!(judge(&[0, 0, 0], &expect), Verdict::Bad(_)));
        let v6 = Expect { v6: true, ..expect };
        assert_eq!(judge(&reply(129, 1, 9), &v6), Verdict::Reply);
        assert!(matches!(judge(&reply(0, 1, 9), &v6), Verdict::Bad(_)));
    }

    #[test]
    fn a_raw_socket_skips_other_identifiers() {
        let expect = Expect {
            v6: false,
            id: Some(77),
            seq: 1,
        };
        assert_eq!(judge(&reply(0, 78, 1), &expect), Verdict::NotOurs);
        assert_eq!(judge(&reply(0, 77, 1), &expect), Verdict::Reply);
    }

    #[test]
    fn the_ip_header_is_stripped_by_its_length() {
        let mut packet = vec![0x46u8; 24]; // IHL 6: 24 bytes of header
        packet.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(strip_ip_header(&packet), &[0, 0, 0, 0]);
        assert_eq!(strip_ip_header(&[0x4f]), &[] as &[u8]);
    }
}
