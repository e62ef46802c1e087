//! `UDP_CHECK`, `PING_CHECK` and `DNS_CHECK` attempts on the prober thread.
//!
//! Like a `TCP_CHECK` attempt, a datagram attempt is one non-blocking
//! socket in the prober's epoll (`driver.rs`), registered for reading (an
//! ICMP error arrives as `EPOLLERR`), bounded by a `connect_timeout`
//! timer: no task, no cross-thread hand-off. Measured in the guest
//! (`bench/udp_ping.sh`), handing them to tokio instead cost 2.2× (UDP) and
//! 1.4× (PING) keepalived's CPU per probe, from the wake-ups between the
//! prober and tokio. The steps themselves are [`udp`](super::udp)'s,
//! [`dns`](super::dns)'s and [`ping`](super::ping)'s, which also run them on
//! tokio for one-off probes ([`probe::attempt`](super::probe::attempt)).
//!
//! ## A socket kept across successes
//!
//! After a passing attempt the socket is **kept** for the probe's next one
//! ([`keeps`]): that attempt is one `send` ([`resend`]) and one `recv`, not
//! `socket`, `setsockopt`, `connect`, `send`, `epoll_ctl`, `recv` and
//! `close`. A kept socket stays in the epoll (level-triggered), so whatever
//! comes to it between attempts (a duplicate reply, a late ICMP error) is
//! read and dropped at once ([`drain`]) and never taken for the next
//! attempt's answer. Any failure closes the socket and the next attempt
//! opens a new one, as keepalived 2.3.0+ does with its ping socket: a reply
//! that comes after its attempt timed out can never answer a later one, and
//! a route or source address that changed is looked up afresh. Only sockets
//! that hear their own target alone are kept: a connected UDP socket
//! (`UDP_CHECK`, `DNS_CHECK`) and a ping socket; a raw ICMP socket sees
//! every echo reply the host receives, so a kept one per target would read
//! each reply once per target, and it is closed after every attempt.
//!
//! On a kept ping socket the reply is read right after the echo is sent
//! ([`answered_in_send`]): the kernel answers an echo itself, often within
//! the send, and then the attempt ends in the same round, with no timer
//! and no second wake-up of the prober. When it is not there yet, the
//! attempt waits in the epoll as any other.

use std::borrow::Cow;

use socket2::Socket;

use super::tcp::NotStarted;
use super::{dns, ping, udp};
use crate::config::Check;

/// What an attempt under way is waiting for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Datagram {
    /// A UDP reply, an ICMP error, or silence.
    Udp,
    /// The reply to this echo.
    Echo(ping::Echo),
    /// The answer to the DNS query with this id.
    Dns(u16),
}

/// A verdict: (up?, reason).
pub(super) type Verdict = (bool, Cow<'static, str>);

/// Starts an attempt of `check` if it is a datagram kind: its socket (the
/// datagram sent) or why it could not start (a failure, or a local
/// shortage of files or memory: see [`NotStarted::is_local_shortage`]).
pub(super) fn start(check: &Check) -> Option<Result<(Socket, Datagram), NotStarted>> {
    match check {
        Check::Udp(c) => Some(udp::start(c).map(|socket| (socket, Datagram::Udp))),
        Check::Ping(c) => Some(ping::start(c).map(|(socket, echo)| (socket, Datagram::Echo(echo)))),
        Check::Dns(c) => Some(dns::start(c).map(|(socket, id)| (socket, Datagram::Dns(id)))),
        _ => None,
    }
}

/// Whether an attempt's socket is kept for the probe's next attempt: after
/// a pass (`ok`), for a socket that hears only its target (see the module
/// docs).
pub(super) fn keeps(datagram: Datagram, ok: bool) -> bool {
    ok && match datagram {
        Datagram::Udp | Datagram::Dns(_) => true,
        Datagram::Echo(echo) => echo.kind == ping::SocketKind::Ping,
    }
}

/// Whether the answer to the datagram just sent may be waiting already when
/// the send returns, so that reading at once saves the prober a wake-up: an
/// echo. The kernel answers one itself, and on a local path (loopback, a
/// veth) it does so within the send, in the same softirq; on the host every
/// echo to a loopback address was answered so. A UDP or DNS answer comes
/// from a process that must be woken first: reading at once would mostly
/// cost a `recv` for nothing.
pub(super) fn answered_in_send(datagram: Datagram) -> bool {
    matches!(datagram, Datagram::Echo(_))
}

/// Starts the next attempt of `check` on its kept `socket`, which the
/// last attempt (`last`) used: the datagram sent, or why not (the caller
/// then closes the socket and starts afresh).
pub(super) fn resend(last: Datagram, socket: &Socket, check: &Check) -> Result<Datagram, String> {
    match (last, check) {
        (Datagram::Udp, Check::Udp(c)) => udp::send(socket, c).map(|()| Datagram::Udp),
        (Datagram::Echo(echo), Check::Ping(c)) => {
            ping::send(socket, echo.kind, c).map(Datagram::Echo)
        }
        (Datagram::Dns(_), Check::Dns(c)) => dns::send(socket, c).map(Datagram::Dns),
        _ => Err(mismatch().1.into_owned()),
    }
}

/// How many datagrams or errors [`drain`] reads from an idle kept socket
/// at most; a socket flooded past that is closed.
const DRAIN_LIMIT: usize = 16;

/// A kept socket turned readable between attempts: reads and drops what
/// came (datagrams, queued errors). False when the socket is not worth
/// keeping any more (flooded, or broken): close it.
pub(super) fn drain(socket: &Socket) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    for _ in 0..DRAIN_LIMIT {
        match socket.recv(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // A datagram, or a pending error (sk_err, which recv returns
            // and clears): dropped.
            _ => continue,
        }
        // The error queue (IP_RECVERR) is emptied by reading it.
        match udp::discard_error(socket) {
            Ok(()) => continue,
            // Nothing queued (or no queue to read): drained.
            Err(_) => return true,
        }
    }
    false
}

/// The socket is readable (or, with `error`, reported an error): the
/// verdict, or `None` to wait again.
pub(super) fn on_ready(
    datagram: Datagram,
    socket: &Socket,
    check: &Check,
    error: bool,
) -> Option<Verdict> {
    match (datagram, check) {
        (Datagram::Udp, Check::Udp(c)) => udp::on_ready(socket, c, error),
        (Datagram::Echo(echo), Check::Ping(_)) => ping::on_ready(socket, &echo),
        (Datagram::Dns(id), Check::Dns(_)) => dns::on_ready(socket, id),
        _ => Some(mismatch()),
    }
}

/// Nothing came within `connect_timeout`: the verdict.
pub(super) fn on_timeout(datagram: Datagram, check: &Check) -> Verdict {
    match (datagram, check) {
        (Datagram::Udp, Check::Udp(c)) => udp::on_timeout(c),
        (Datagram::Echo(echo), Check::Ping(c)) => ping::on_timeout(c, &echo),
        (Datagram::Dns(_), Check::Dns(c)) => dns::on_timeout(c),
        _ => mismatch(),
    }
}

/// A probe's check never changes while an attempt runs (a changed check is
/// another probe); should it, the attempt fails.
fn mismatch() -> Verdict {
    (false, "the check changed during the attempt".into())
}
