//! `UDP_CHECK`, `PING_CHECK` and `DNS_CHECK` attempts on the prober thread.
//!
//! Like a `TCP_CHECK` attempt, a datagram attempt is one non-blocking
//! socket in the prober's epoll (`driver.rs`), registered once for reading
//! (`EPOLLONESHOT`; an ICMP error arrives as `EPOLLERR`), bounded by a
//! `connect_timeout` timer: no task, no cross-thread hand-off. Measured in
//! the guest (`bench/udp_ping.sh`), handing them to tokio instead cost 2.2×
//! (UDP) and 1.4× (PING) keepalived's CPU per probe, from the wake-ups
//! between the prober and tokio. The steps themselves are
//! [`udp`](super::udp)'s and [`ping`](super::ping)'s, which also run them
//! on tokio for one-off probes ([`probe::attempt`](super::probe::attempt)).

use std::borrow::Cow;

use socket2::Socket;

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
/// datagram sent) or why it could not start (a failure).
pub(super) fn start(check: &Check) -> Option<Result<(Socket, Datagram), String>> {
    match check {
        Check::Udp(c) => Some(udp::start(c).map(|socket| (socket, Datagram::Udp))),
        Check::Ping(c) => Some(ping::start(c).map(|(socket, echo)| (socket, Datagram::Echo(echo)))),
        Check::Dns(c) => Some(dns::start(c).map(|(socket, id)| (socket, Datagram::Dns(id)))),
        _ => None,
    }
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
