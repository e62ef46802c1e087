//! `UDP_CHECK`: one datagram to the target, and keepalived's judgement of
//! what comes back (or does not).
//!
//! The probe (on the engine's prober thread, see `datagram.rs`; [`run`]
//! does the same on tokio for one-off probes):
//!
//! 1. A UDP socket with `IP_RECVERR` (`IPV6_RECVERR`), so that ICMP errors
//!    about our datagram are queued on it; `fwmark`, `bind_if`, `bindto`
//!    and `bind_port` as for `TCP_CHECK`; `connect()` to the target; one
//!    `send()` of the `payload` (default: [`DEFAULT_PAYLOAD`]). Any error in
//!    these steps, a short send included, fails the check.
//! 2. Wait, at most `connect_timeout`, for whichever comes first:
//!    - an ICMP error: read from the error queue (`MSG_ERRQUEUE`). A
//!      **destination unreachable** of any code (port, host, network,
//!      administratively prohibited…) fails; any other ICMP error (time
//!      exceeded…) passes, as in keepalived;
//!    - a datagram: judged by [`judge`];
//!    - nothing: **silence passes** unless `require_reply` is set. That is
//!      keepalived's documented meaning (its issue #2477): without a
//!      required reply, only an ICMP unreachable can fail the check, so a
//!      host or firewall that drops silently looks healthy.
//!
//! UDP has no connection to end, so there is nothing to send on close. On
//! the prober the socket is kept for the next attempt after a pass (one
//! [`send`] then), and closed after a failure (`datagram.rs`). The retry
//! rules are `TCP_CHECK`'s (keepalived's `udp_epilog` is its `tcp_epilog`):
//! see `schedule.rs`.

use std::borrow::Cow;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};
use socket2::Socket;
use tokio::io::Interest;
use tokio::time::timeout;

use super::probe::seconds;
use super::tcp::{self, NotStarted};
use crate::config::{ReplyPattern, UdpCheck};

/// What lvsd sends without `payload`: the 32 bytes keepalived sends.
pub const DEFAULT_PAYLOAD: &[u8; 32] = b"keepalived check - keepalived ch";

/// What the probe heard back within `connect_timeout`.
#[derive(Debug)]
pub enum Heard<'a> {
    /// Nothing at all.
    Silence,
    /// An ICMP error about our datagram: (is it "destination unreachable",
    /// ICMP type, code, who sent it).
    Icmp {
        /// Type 3 (ICMP) or 1 (ICMPv6): destination unreachable.
        unreachable: bool,
        /// The ICMP type.
        kind: u8,
        /// The ICMP code.
        code: u8,
    },
    /// An error queued on the socket that is not an ICMP error, or that
    /// could not be read: passes, as in keepalived.
    OtherError,
    /// A datagram (truncated to the buffer: see [`reply_buffer_len`]).
    Reply(&'a [u8]),
    /// Reading failed.
    Error(io::Error),
}

/// A verdict: (up?, reason).
pub type Verdict = (bool, Cow<'static, str>);

/// Runs one `UDP_CHECK` attempt on tokio (the engine runs the same steps
/// on its prober thread: [`start`], [`on_ready`], [`on_timeout`]).
pub async fn run(check: &UdpCheck) -> Verdict {
    let socket = match start(check) {
        Ok(socket) => socket,
        Err(e) => return (false, e.to_string().into()),
    };
    let socket = match super::probe::watch(socket, Interest::READABLE | Interest::ERROR) {
        Ok(socket) => socket,
        Err(e) => return (false, format!("cannot set up the probe socket: {e}").into()),
    };
    let limit = check.common.connect_timeout.duration();
    let listen = async {
        loop {
            let mut guard = match socket.ready(Interest::READABLE | Interest::ERROR).await {
                Ok(guard) => guard,
                Err(e) => return judge(check, Heard::Error(e)),
            };
            match on_ready(socket.get_ref(), check, guard.ready().is_error()) {
                Some(verdict) => return verdict,
                None => guard.clear_ready(),
            }
        }
    };
    match timeout(limit, listen).await {
        Ok(verdict) => verdict,
        Err(_) => on_timeout(check),
    }
}

/// Opens the socket (with `IP_RECVERR`), connects it and sends the
/// payload; then wait for it to turn readable (or report an error) and ask
/// [`on_ready`], for at most `connect_timeout`, then [`on_timeout`].
pub fn start(check: &UdpCheck) -> Result<Socket, NotStarted> {
    let socket = open(check)?;
    send(&socket, check)?;
    Ok(socket)
}

/// The probe socket: `IP_RECVERR`, the check's source options, connected
/// to the target.
pub fn open(check: &UdpCheck) -> Result<Socket, NotStarted> {
    let (socket, target) = tcp::prepare_udp(&check.common)?;
    let recverr = match target {
        SocketAddr::V4(_) => setsockopt(&socket, sockopt::Ipv4RecvErr, &true),
        SocketAddr::V6(_) => setsockopt(&socket, sockopt::Ipv6RecvErr, &true),
    };
    recverr.map_err(|e| format!("cannot set up the probe socket (IP_RECVERR): {e}"))?;
    socket
        .connect(&target.into())
        .map_err(|e| format!("connect: {e}"))?;
    Ok(socket)
}

/// Sends the payload on the connected socket: an attempt begins.
pub fn send(socket: &Socket, check: &UdpCheck) -> Result<(), String> {
    let payload = check.payload.as_deref().unwrap_or(DEFAULT_PAYLOAD);
    match socket.send(payload) {
        Ok(n) if n == payload.len() => Ok(()),
        Ok(n) => Err(format!("sent {n} of {} bytes", payload.len())),
        Err(e) => Err(format!("send: {e}")),
    }
}

/// The verdict once the socket is readable, or reported an error
/// (`error`: `EPOLLERR`); `None` when there was nothing to read after all
/// (wait again).
pub fn on_ready(socket: &Socket, check: &UdpCheck, error: bool) -> Option<Verdict> {
    if error {
        match read_error_queue(socket) {
            Ok(Some(heard)) => return Some(judge(check, heard)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // Not from ICMP, or unreadable: keepalived passes the check.
            Ok(None) | Err(_) => return Some(judge(check, Heard::OtherError)),
        }
    }
    // Nearly every reply fits on the stack (`max_reply_length` is 255 by
    // default): no allocation per probe.
    let mut small = [0u8; 512];
    let mut large = Vec::new();
    let len = reply_buffer_len(check);
    let buffer: &mut [u8] = if len <= small.len() {
        &mut small[..len]
    } else {
        large.resize(len, 0);
        &mut large
    };
    // SAFETY: a u8 buffer viewed as MaybeUninit<u8>: every u8 is a valid
    // MaybeUninit, and recv only writes initialised bytes into it.
    let uninit =
        unsafe { std::slice::from_raw_parts_mut(buffer.as_mut_ptr().cast(), buffer.len()) };
    let read = loop {
        match socket.recv(uninit) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            read => break read,
        }
    };
    match read {
        Ok(n) => Some(judge(check, Heard::Reply(&buffer[..n.min(buffer.len())]))),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(e) => Some(judge(check, Heard::Error(e))),
    }
}

/// The verdict when nothing came back within `connect_timeout`: silence.
pub fn on_timeout(check: &UdpCheck) -> Verdict {
    let limit = seconds(check.common.connect_timeout.duration());
    match judge(check, Heard::Silence) {
        (true, _) => (true, format!("no answer within {limit}").into()),
        (false, _) => (false, format!("no reply within {limit}").into()),
    }
}

/// How much of a reply is read: with a reply pattern, one byte more than
/// `max_reply_length` (so a longer reply shows as too long); else one byte,
/// as any datagram passes.
pub fn reply_buffer_len(check: &UdpCheck) -> usize {
    match &check.require_reply {
        Some(pattern) if !pattern.value.is_empty() => usize::from(check.max_reply_length) + 1,
        _ => 1,
    }
}

/// The first ICMP error queued on the socket, if any.
fn read_error_queue(socket: &Socket) -> io::Result<Option<Heard<'static>>> {
    let mut data = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut data)];
    let mut control = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    for cmsg in msg.cmsgs().map_err(io::Error::from)? {
        let (err, unreachable_type) = match cmsg {
            ControlMessageOwned::Ipv4RecvErr(err, _) => (err, ICMP_DEST_UNREACH),
            ControlMessageOwned::Ipv6RecvErr(err, _) => (err, ICMP6_DST_UNREACH),
            _ => continue,
        };
        let from_icmp =
            err.ee_origin == libc::SO_EE_ORIGIN_ICMP || err.ee_origin == libc::SO_EE_ORIGIN_ICMP6;
        if !from_icmp {
            continue;
        }
        return Ok(Some(Heard::Icmp {
            unreachable: err.ee_type == unreachable_type,
            kind: err.ee_type,
            code: err.ee_code,
        }));
    }
    Ok(None)
}

/// Reads and drops the first error queued on the socket
/// (`MSG_ERRQUEUE`); `WouldBlock` when none is.
pub fn discard_error(socket: &Socket) -> io::Result<()> {
    read_error_queue(socket).map(drop)
}

/// ICMP "destination unreachable".
const ICMP_DEST_UNREACH: u8 = 3;
/// ICMPv6 "destination unreachable".
const ICMP6_DST_UNREACH: u8 = 1;

/// keepalived's verdict on what was heard: (up?, reason).
pub fn judge(check: &UdpCheck, heard: Heard<'_>) -> Verdict {
    match heard {
        Heard::Silence => match check.require_reply {
            None => (
                true,
                "no answer (silence passes without require_reply)".into(),
            ),
            Some(_) => (false, "no reply".into()),
        },
        Heard::Icmp {
            unreachable: true,
            kind,
            code,
        } => (
            false,
            format!("ICMP destination unreachable (type {kind} code {code})").into(),
        ),
        Heard::Icmp { kind, code, .. } => (
            true,
            format!("ICMP type {kind} code {code} (only unreachable fails)").into(),
        ),
        Heard::OtherError => (true, "a socket error other than ICMP unreachable".into()),
        Heard::Error(e) => (false, format!("reading the reply: {e}").into()),
        Heard::Reply(reply) => match &check.require_reply {
            Some(pattern) if !pattern.value.is_empty() => judge_reply(check, pattern, reply),
            _ => (true, "a reply".into()),
        },
    }
}

/// A reply against `require_reply HEX`: its length within
/// `min_reply_length..=max_reply_length`, then its first bytes equal to
/// the pattern's under the mask. Only as many bytes as both have are
/// compared: a reply shorter than the pattern need only match its own
/// length (an empty reply passes when `min_reply_length` is 0), as in
/// keepalived.
fn judge_reply(check: &UdpCheck, pattern: &ReplyPattern, reply: &[u8]) -> Verdict {
    let (min, max) = (
        usize::from(check.min_reply_length),
        usize::from(check.max_reply_length),
    );
    if reply.len() < min {
        return (
            false,
            format!("reply of {} bytes, shorter than {min}", reply.len()).into(),
        );
    }
    if reply.len() > max {
        return (false, format!("reply longer than {max} bytes").into());
    }
    let differs = reply
        .iter()
        .zip(pattern.value.iter().zip(&pattern.mask))
        .position(|(got, (want, mask))| (got ^ want) & mask != 0);
    match differs {
        None => (true, "the expected reply".into()),
        Some(at) => (
            false,
            format!(
                "reply byte {at} is {:02x}, expected {:02x} (mask {:02x})",
                reply[at], pattern.value[at], pattern.mask[at]
            )
            .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckCommon;

    fn check(require_reply: Option<(&[u8], &[u8])>, min: u16, max: u16) -> UdpCheck {
        UdpCheck {
            common: CheckCommon::new("127.0.0.1".parse().unwrap(), 53),
            payload: None,
            require_reply: require_reply.map(|(value, mask)| ReplyPattern {
                value: value.to_vec(),
                mask: mask.to_vec(),
            }),
            min_reply_length: min,
            max_reply_length: max,
        }
    }

    #[test]
    fn the_default_payload_is_keepalived_s_32_bytes() {
        assert_eq!(DEFAULT_PAYLOAD.len(), 32);
        assert!(DEFAULT_PAYLOAD.starts_with(b"keepalived check - "));
    }

    #[test]
    fn silence_passes_unless_a_reply_is_required() {
        assert!(judge(&check(None, 0, 255), Heard::Silence).0);
        assert!(!judge(&check(Some((b"", b"")), 0, 255), Heard::Silence).0);
        assert!(!judge(&check(Some((b"\x01", b"\xff")), 0, 255), Heard::Silence).0);
    }

    #[test]
    fn only_destination_unreachable_fails() {
        let c = check(None, 0, 255);
        let unreachable = |kind, code| Heard::Icmp {
            unreachable: true,
            kind,
            code,
        };
        // Port unreachable, host unreachable, admin prohibited: all fail.
        for code in [3, 1, 13] {
            assert!(!judge(&c, unreachable(3, code)).0, "code {code}");
        }
        let time_exceeded = Heard::Icmp {
            unreachable: false,
            kind: 11,
            code: 0,
        };
        assert!(judge(&c, time_exceeded).0);
        assert!(judge(&c, Heard::OtherError).0);
        assert!(!judge(&c, Heard::Error(io::ErrorKind::Other.into())).0);
    }

    #[test]
    fn any_datagram_passes_without_a_reply_pattern() {
        // Lengths are not checked without HEX, as in keepalived 2.2.7.
        assert!(judge(&check(None, 0, 255), Heard::Reply(b"")).0);
        assert!(judge(&check(Some((b"", b"")), 10, 20), Heard::Reply(b"x")).0);
    }

    #[test]
    fn the_reply_is_compared_under_the_mask_over_the_common_prefix() {
        let c = check(Some((b"\x10\xab", b"\xf0\xff")), 0, 8);
        assert!(judge(&c, Heard::Reply(b"\x1f\xab")).0, "x nibble");
        assert!(judge(&c, Heard::Reply(b"\x13\xab\x00\x00")).0, "longer");
        let (ok, reason) = judge(&c, Heard::Reply(b"\x20\xab"));
        assert!(!ok && reason.contains("byte 0"), "{reason}");
        // Shorter than the pattern: only its own bytes are compared.
        assert!(judge(&c, Heard::Reply(b"\x11")).0);
        assert!(judge(&c, Heard::Reply(b"")).0, "empty, min 0");
        assert!(!judge(&c, Heard::Reply(b"\x10\xaa")).0);
    }

    #[test]
    fn lengths_are_checked_with_a_reply_pattern() {
        let c = check(Some((b"\x01", b"\xff")), 2, 4);
        assert!(!judge(&c, Heard::Reply(b"\x01")).0, "short");
        assert!(judge(&c, Heard::Reply(b"\x01\x02")).0);
        let (ok, reason) = judge(&c, Heard::Reply(b"\x01\x02\x03\x04\x05"));
        assert!(!ok && reason.contains("longer than 4"), "{reason}");
        assert_eq!(reply_buffer_len(&c), 5);
        assert_eq!(reply_buffer_len(&check(None, 0, 255)), 1);
    }
}
