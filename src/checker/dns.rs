//! `DNS_CHECK`: one query over UDP, judged on the answer's RCODE alone.
//!
//! The query is the one keepalived 2.2.7 sends (check_dns.c), byte for byte
//! but for its random id ([`query`]):
//!
//! ```text
//!   id (random)  flags 0x0100 (RD only)  qdcount 1  an/ns/ar 0   12 bytes
//!   QNAME (labels of `name`; the root by default)  QTYPE (`type`, SOA)  QCLASS IN
//! ```
//!
//! No EDNS, no TCP fallback (TC is ignored). The answer ([`judge`]):
//!
//! - datagrams shorter than 12 bytes, with another id, or that are not
//!   responses (QR = 0) are ignored: the probe keeps waiting;
//! - the first response with our id decides: RCODE 0 (NOERROR) is up,
//!   whatever it holds (NODATA included), any other RCODE (NXDOMAIN,
//!   SERVFAIL, REFUSED...) is down;
//! - an error on the socket (an ICMP port unreachable makes `recv` fail
//!   with ECONNREFUSED) is down, and so is silence.
//!
//! One `connect_timeout` covers the send and the wait for the answer. The
//! engine runs the attempt on its prober thread like `UDP_CHECK`'s (see
//! `datagram.rs`): [`start`] sends, [`on_ready`] reads, [`on_timeout`]
//! ends it, and after a pass the next attempt is one [`send`] on the same
//! socket; [`run`] does the same on tokio for one-off probes.
//! keepalived 2.2.7 reads datagrams of 8 to 11 bytes as answers; lvsd
//! ignores them, as keepalived does since 2.4.0.

use std::borrow::Cow;
use std::io;
use std::mem::MaybeUninit;

use socket2::Socket;
use tokio::io::Interest;
use tokio::time::timeout;

use super::probe::seconds;
use super::tcp::{self, NotStarted};
use crate::config::DnsCheck;

/// The most of an answer read (keepalived's buffer); the header is all
/// that is judged.
pub const MAX_ANSWER: usize = 768;

/// The longest query: the header, a name of 255 bytes (the config checks
/// that bound) with its root label, type and class.
const MAX_QUERY: usize = 12 + 256 + 4;

/// The query for `check`, with `id`.
pub fn query(id: u16, check: &DnsCheck) -> Vec<u8> {
    let mut buffer = [0u8; MAX_QUERY];
    let len = query_into(id, check, &mut buffer);
    buffer[..len].to_vec()
}

/// Writes the query for `check`, with `id`, into `buffer` (no allocation
/// per probe); returns its length.
fn query_into(id: u16, check: &DnsCheck, buffer: &mut [u8; MAX_QUERY]) -> usize {
    let mut q = Writer { buffer, len: 0 };
    q.put(&id.to_be_bytes());
    q.put(&[0x01, 0x00]); // RD
    q.put(&[0, 1, 0, 0, 0, 0, 0, 0]); // qd 1, an 0, ns 0, ar 0
                                      // The config checked the labels (1-63 bytes, 255 in all).
    for label in check.name.split('.').filter(|l| !l.is_empty()) {
        q.put(&[label.len() as u8]);
        q.put(label.as_bytes());
    }
    q.put(&[0]);
    q.put(&check.query_type.code().to_be_bytes());
    q.put(&1u16.to_be_bytes()); // IN
    q.len
}

/// Appends to a fixed buffer; what would not fit is cut (a name the
/// config let through is never that long).
struct Writer<'a> {
    buffer: &'a mut [u8; MAX_QUERY],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let room = &mut self.buffer[self.len..];
        let n = bytes.len().min(room.len());
        room[..n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }
}

/// What one received datagram says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Not an answer to our query: keep waiting.
    Ignored(&'static str),
    /// Our answer, with RCODE 0.
    Up,
    /// Our answer, with this RCODE.
    Down(u8),
}

/// Judges one datagram received for the query with `id`.
pub fn judge(id: u16, datagram: &[u8]) -> Answer {
    let Some(header) = datagram.get(..12) else {
        return Answer::Ignored("shorter than a DNS header");
    };
    if u16::from_be_bytes([header[0], header[1]]) != id {
        return Answer::Ignored("another id");
    }
    if header[2] & 0x80 == 0 {
        return Answer::Ignored("not a response (QR = 0)");
    }
    match header[3] & 0x0f {
        0 => Answer::Up,
        rcode => Answer::Down(rcode),
    }
}

/// RCODE names for reasons (RFC 1035, RFC 2136).
fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => "unassigned",
    }
}

/// A verdict: (up?, reason).
pub type Verdict = (bool, Cow<'static, str>);

/// Runs one `DNS_CHECK` attempt on tokio (the engine runs the same steps
/// on its prober thread: [`start`], [`on_ready`], [`on_timeout`]).
pub async fn run(check: &DnsCheck) -> Verdict {
    let (socket, id) = match start(check) {
        Ok(started) => started,
        Err(e) => return (false, e.to_string().into()),
    };
    let socket = match super::probe::watch(socket, Interest::READABLE | Interest::ERROR) {
        Ok(socket) => socket,
        Err(e) => return (false, format!("cannot set up the probe socket: {e}").into()),
    };
    let listen = async {
        loop {
            let mut guard = match socket.ready(Interest::READABLE | Interest::ERROR).await {
                Ok(guard) => guard,
                Err(e) => return (false, format!("reading the answer: {e}").into()),
            };
            match on_ready(socket.get_ref(), id) {
                Some(verdict) => return verdict,
                None => guard.clear_ready(),
            }
        }
    };
    match timeout(check.common.connect_timeout.duration(), listen).await {
        Ok(verdict) => verdict,
        Err(_) => on_timeout(check),
    }
}

/// Opens the socket, connects it and sends the query; returns the socket
/// and the query's id. Then wait for it to turn readable (or report an
/// error) and ask [`on_ready`], for at most `connect_timeout`, then
/// [`on_timeout`].
pub fn start(check: &DnsCheck) -> Result<(Socket, u16), NotStarted> {
    let socket = open(check)?;
    let id = send(&socket, check)?;
    Ok((socket, id))
}

/// The probe socket: the check's source options, connected to the target.
pub fn open(check: &DnsCheck) -> Result<Socket, NotStarted> {
    let (socket, target) = tcp::prepare_udp(&check.common)?;
    socket
        .connect(&target.into())
        .map_err(|e| format!("connect: {e}"))?;
    Ok(socket)
}

/// Sends a query with a new random id on the connected socket (an attempt
/// begins); returns the id.
pub fn send(socket: &Socket, check: &DnsCheck) -> Result<u16, String> {
    let id = rand::random::<u16>();
    let mut buffer = [0u8; MAX_QUERY];
    let len = query_into(id, check, &mut buffer);
    let q = &buffer[..len];
    match socket.send(q) {
        Ok(n) if n == q.len() => Ok(id),
        Ok(_) => Err("the query was not sent whole".into()),
        Err(e) => Err(format!("sending the query: {e}")),
    }
}

/// Reads what the socket holds: the verdict once our answer (or an error:
/// an ICMP port unreachable makes `recv` fail with ECONNREFUSED) is there,
/// `None` when only datagrams that are not our answer came (wait again).
pub fn on_ready(socket: &Socket, id: u16) -> Option<Verdict> {
    let mut buf = [MaybeUninit::<u8>::uninit(); MAX_ANSWER];
    loop {
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) => return Some((false, format!("reading the answer: {e}").into())),
        };
        // SAFETY: recv initialised the first n bytes of buf (n ≤ its length).
        let datagram = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        match judge(id, datagram) {
            Answer::Ignored(_) => continue,
            Answer::Up => return Some((true, "NOERROR".into())),
            Answer::Down(rcode) => {
                let reason = format!("answered {} (rcode {rcode})", rcode_name(rcode));
                return Some((false, reason.into()));
            }
        }
    }
}

/// The verdict when no answer came within `connect_timeout`.
pub fn on_timeout(check: &DnsCheck) -> Verdict {
    let limit = seconds(check.common.connect_timeout.duration());
    (false, format!("no answer within {limit}").into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CheckCommon, DnsType};

    fn check(query_type: DnsType, name: &str) -> DnsCheck {
        DnsCheck {
            common: CheckCommon::new("127.0.0.1".parse().unwrap(), 53),
            query_type,
            name: name.into(),
        }
    }

    #[test]
    fn the_query_is_keepalived_s() {
        // The default: SOA of the root.
        assert_eq!(
            query(0xbeef, &check(DnsType::Soa, "")),
            [0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1]
        );
        let q = query(0x0102, &check(DnsType::Mx, "Mail.example.org"));
        let mut want = vec![1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(b"\x04Mail\x07example\x03org\x00");
        want.extend_from_slice(&[0, 15, 0, 1]);
        assert_eq!(q, want);
    }

    #[test]
    fn answers_are_judged_on_id_qr_and_rcode() {
        let header = |id: u16, b2: u8, b3: u8| {
            let mut h = id.to_be_bytes().to_vec();
            h.extend_from_slice(&[b2, b3, 0, 1, 0, 0, 0, 0, 0, 0]);
            h
        };
        assert_eq!(judge(7, &header(7, 0x81, 0x80)), Answer::Up);
        // NODATA (no answer records) is still NOERROR: up.
        assert_eq!(judge(7, &header(7, 0x85, 0x00)), Answer::Up);
        assert_eq!(judge(7, &header(7, 0x81, 0x83)), Answer::Down(3));
        assert_eq!(judge(7, &header(7, 0x81, 0x85)), Answer::Down(5));
        assert_eq!(judge(7, &header(7, 0x81, 0x82)), Answer::Down(2));
        assert!(matches!(
            judge(7, &header(8, 0x81, 0x80)),
            Answer::Ignored(_)
        ));
        assert!(matches!(
            judge(7, &header(7, 0x01, 0x80)),
            Answer::Ignored(_)
        ));
        assert!(matches!(
            judge(7, &header(7, 0x81, 0x80)[..11]),
            Answer::Ignored(_)
        ));
        assert!(matches!(judge(7, &[]), Answer::Ignored(_)));
    }
}
