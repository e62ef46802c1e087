//! `HTTP_GET`: one URL per connection, judged as keepalived 2.2.7 judges it.
//!
//! One attempt checks one `url` (which one is the schedule's choice, see
//! `schedule/urls.rs`), on a connection made like `TCP_CHECK`'s (same source
//! options), as a state machine over a non-blocking socket ([`Exchange`]):
//!
//! 1. connect, then send the request keepalived sends ([`request`]);
//! 2. read the answer **until the server closes**: `Content-Length` does not
//!    end it, so a server that keeps the connection open fails, as in
//!    keepalived (`http_protocol 1.1` and `1.0C` ask for `Connection: close`);
//! 3. judge it ([`super::http_answer`]: header end, status, digest, regex).
//!
//! The machine does no waiting of its own: [`Exchange::advance`] makes what
//! progress the socket allows and says what it waits for next. The engine's
//! prober thread drives it from its epoll (`driver/web.rs`), with no task
//! and no hand-off to another thread, as it drives `TCP_CHECK`; [`attempt`]
//! drives the same machine on tokio for one-off probes (`lvsd-ctl`, tests).
//!
//! `SSL_GET` is the same machine with a TLS layer between it and the
//! socket: a rustls [`ClientConnection`] made by `tls.rs` (its handshake
//! rides on the first writes and reads; the request is queued in it before
//! the handshake ends), so both kinds have one driver and one close.
//!
//! The whole exchange (connect, request, answer) is bounded by
//! `connect_timeout`. keepalived bounds each read instead, so a server that
//! trickles its answer can hold it forever (its issue #1822); lvsd fails it.
//!
//! Every attempt ends politely, passing or failing: when the answer was
//! read to the server's end, nothing is left unread and the close is a
//! plain FIN; when the attempt broke off (timeout, read error), our FIN is
//! sent (`shutdown`), what the server still sends is read and dropped until
//! its FIN, then the socket is closed (at most [`DRAIN_BUDGET`] later): the
//! server never sees an RST. With `close_with_reset` the socket is reset
//! instead, as `TCP_CHECK` does.
//!
//! For `SSL_GET` close_notify goes out first ([`Exchange::finish`]), then
//! the FIN as above, whatever the verdict.
//!
//! The request's User-Agent is keepalived's, `KeepAliveClient`, so that a
//! backend's log filters written for keepalived's checks keep working.

use std::borrow::Cow;
use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use rustls::ClientConnection;
use socket2::{SockRef, Socket};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::{timeout_at, Instant};

use super::http_answer::{Answer, Failure};
use super::probe::{self, seconds};
use super::{tcp, tls};
use crate::config::{CloseMode, HttpCheck, HttpProtocol, Url};

/// How long a closing probe connection waits for the server's FIN after
/// sending its own, before it is closed anyway.
pub const DRAIN_BUDGET: Duration = Duration::from_secs(5);

/// The User-Agent of every request: keepalived's.
pub const USER_AGENT: &str = "KeepAliveClient";

/// The url an attempt of `check` probes: number `url`, else the first (a
/// check's urls never change under an attempt; `None`: it has none).
pub fn url_of(check: &HttpCheck, url: usize) -> Option<&Url> {
    check.urls.get(url).or_else(|| check.urls.first())
}

/// Opens an attempt's socket and starts its handshake (`tcp::start`: the
/// check's source options), made to reset on close with
/// `close_with_reset`.
pub fn start(check: &HttpCheck) -> Result<Socket, tcp::TcpProbeError> {
    let target = SocketAddr::new(check.common.connect_ip, check.common.connect_port);
    let socket = tcp::start(target, check.common.binding.as_deref())?;
    if check.common.close == CloseMode::Reset {
        // If this fails the close is merely graceful; nothing to report.
        let _ = SockRef::from(&socket).set_linger(Some(Duration::ZERO));
    }
    Ok(socket)
}

/// What an [`Exchange`] waits for before it can go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The socket to turn writable: the handshake's end, or room to send.
    Write,
    /// Something to read: the answer, or the server's end.
    Read,
}

/// What [`Exchange::advance`] came to.
#[derive(Debug)]
pub enum Step {
    /// Nothing more can be done until the socket is ready for this.
    Wait(Want),
    /// The exchange is over.
    Done(Outcome),
}

/// How an exchange ended.
#[derive(Debug)]
pub enum Outcome {
    /// The server's end was reached (nothing is left unread): the verdict
    /// on its answer.
    Answered(Result<(), Failure>),
    /// The TCP handshake failed (refused, unreachable…).
    NotConnected(io::Error),
    /// The request could not be sent, or a read failed: why.
    Broken(Cow<'static, str>),
    /// `connect_timeout` ran out.
    Late {
        /// Whether it ran out after the handshake (while sending or
        /// reading) rather than during it.
        connected: bool,
    },
    /// `connect_timeout` ran out during the TLS handshake (`SSL_GET`).
    HandshakeLate,
}

impl Outcome {
    /// Whether the answer was read to the server's end (the socket can be
    /// closed at once: a FIN); else it is closed politely (`close_politely`
    /// on tokio, the prober's closing sweep).
    pub fn at_eof(&self) -> bool {
        matches!(self, Outcome::Answered(_))
    }

    /// The verdict for url `url` (`limit`: its connect_timeout): passed, and
    /// what passed or why not, in keepalived's words where it has them.
    pub fn verdict(&self, url: &Url, limit: Duration) -> (bool, Cow<'static, str>) {
        let path = &url.path;
        let why = match self {
            Outcome::Answered(Ok(())) => return (true, "URL passed".into()),
            Outcome::Answered(Err(failure)) => format!("{path}: {}", failure.reason()),
            Outcome::NotConnected(e) => return (false, format!("connection failed: {e}").into()),
            Outcome::Broken(reason) => format!("{path}: {reason}"),
            Outcome::Late { connected: false } => format!("no answer within {}", seconds(limit)),
            Outcome::Late { connected: true } => {
                format!("{path}: no complete answer within {}", seconds(limit))
            }
            Outcome::HandshakeLate => {
                format!(
                    "{path}: TLS handshake not finished within {}",
                    seconds(limit)
                )
            }
        };
        (false, why.into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// The handshake is under way; nothing sent yet.
    Connecting,
    /// Connected; the TLS handshake is under way (`SSL_GET`).
    Handshaking,
    /// Part of the request is sent.
    Sending,
    /// The request is sent; reading the answer to its end.
    Receiving,
}

/// One `HTTP_GET` or `SSL_GET` attempt as a state machine over a
/// non-blocking socket whose connect was started (`tcp::start`). Made once
/// and restarted for each attempt ([`Exchange::restart`]): its request and
/// answer buffers are reused.
#[derive(Debug)]
pub struct Exchange {
    stage: Stage,
    request: Vec<u8>,
    sent: usize,
    answer: Answer,
    /// `SSL_GET`'s TLS layer: the request goes through it, the answer
    /// comes out of it.
    tls: Option<Box<ClientConnection>>,
}

impl Exchange {
    /// An exchange for `url` of `check`; fails when an `SSL_GET`'s TLS
    /// connection cannot be set up.
    pub fn new(check: &HttpCheck, url: &Url) -> Result<Exchange, tls::TlsError> {
        let mut exchange = Exchange {
            stage: Stage::Connecting,
            request: Vec::new(),
            sent: 0,
            answer: Answer::new(url),
            tls: None,
        };
        exchange.restart(check, url)?;
        Ok(exchange)
    }

    /// Ready for a new attempt, for `url` of `check`.
    pub fn restart(&mut self, check: &HttpCheck, url: &Url) -> Result<(), tls::TlsError> {
        self.stage = Stage::Connecting;
        self.request.clear();
        write_request(check, url, &mut self.request);
        self.sent = 0;
        self.answer.restart(url);
        self.tls = None;
        if check.tls {
            let mut conn = tls::connection(check, url)?;
            // Queued until the handshake is over; a Vec cannot fail.
            let _ = conn.writer().write_all(&self.request);
            self.tls = Some(Box::new(conn));
        }
        Ok(())
    }

    /// How running out of `connect_timeout` now is reported.
    pub fn late(&self) -> Outcome {
        match self.stage {
            Stage::Handshaking => Outcome::HandshakeLate,
            stage => Outcome::Late {
                connected: stage != Stage::Connecting,
            },
        }
    }

    /// What the TLS handshake agreed on, once it is over (`SSL_GET`).
    pub fn tls_summary(&self) -> Option<tls::Summary> {
        self.tls.as_deref().and_then(tls::summary)
    }

    /// Ends the attempt on `socket` after `outcome`: for `SSL_GET`,
    /// close_notify is sent (as far as the socket takes it at once).
    /// Returns whether the socket may now be closed at once (a FIN, nothing
    /// left unread); else it is to be closed politely (our FIN, then a read
    /// to the server's end).
    pub fn finish(&mut self, socket: &Socket, outcome: &Outcome) -> bool {
        let Some(conn) = self.tls.as_deref_mut() else {
            return outcome.at_eof();
        };
        conn.send_close_notify();
        while conn.wants_write() {
            if conn.write_tls(&mut tls::NoSignal(socket)).is_err() {
                break;
            }
        }
        false
    }

    /// Makes what progress `socket` allows without blocking: sends the
    /// request once the handshake is over, then reads the answer into
    /// `buf` (scratch space) and feeds it to the judge until the server's
    /// end. `readable`: the socket was reported readable with this call
    /// (else, once the request is sent, nothing is read before it is).
    pub fn advance(&mut self, socket: &Socket, buf: &mut [u8], url: &Url, readable: bool) -> Step {
        if let Some(conn) = self.tls.as_deref_mut() {
            let (stage, answer) = (&mut self.stage, &mut self.answer);
            return tls::advance(stage, conn, answer, socket, buf, url, readable);
        }
        while self.stage != Stage::Receiving {
            // While the handshake runs, send fails with EAGAIN, and with the
            // handshake's error (SO_ERROR) if it failed.
            match socket.send_with_flags(&self.request[self.sent..], libc::MSG_NOSIGNAL) {
                Ok(n) => {
                    self.sent += n;
                    self.stage = if self.sent == self.request.len() {
                        Stage::Receiving
                    } else {
                        Stage::Sending
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait(Want::Write),
                Err(e) if self.stage == Stage::Connecting => {
                    return Step::Done(Outcome::NotConnected(e))
                }
                Err(e) => {
                    let why = format!("Cannot send get request: {e}");
                    return Step::Done(Outcome::Broken(why.into()));
                }
            }
            if self.stage == Stage::Receiving && !readable {
                // The answer comes after the request: its arrival is an
                // event of its own.
                return Step::Wait(Want::Read);
            }
        }
        loop {
            match (&*socket).read(buf) {
                Ok(0) => return Step::Done(Outcome::Answered(self.answer.verdict(url))),
                Ok(n) => self.answer.feed(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait(Want::Read),
                Err(e) => return Step::Done(Outcome::Broken(format!("Read error: {e}").into())),
            }
        }
    }
}

/// How a one-off probe ([`attempt`]) went.
#[derive(Debug)]
pub struct Attempt {
    /// Whether the url passed.
    pub passed: bool,
    /// What passed, or why not.
    pub reason: Cow<'static, str>,
    /// What the TLS handshake agreed on, if one finished (`SSL_GET`).
    pub tls: Option<tls::Summary>,
}

/// Probes url number `url` of the check once, on tokio, driving the same
/// [`Exchange`] as the prober (one-off probes, `HTTP_GET` and `SSL_GET`).
/// A check without urls passes (keepalived drops such a checker, which
/// leaves its real server up).
pub async fn attempt(check: &HttpCheck, url: usize) -> Attempt {
    let fail = |reason: String| Attempt {
        passed: false,
        reason: reason.into(),
        tls: None,
    };
    let Some(u) = url_of(check, url) else {
        return Attempt {
            passed: true,
            reason: "no url to check".into(),
            tls: None,
        };
    };
    let mut exchange = match Exchange::new(check, u) {
        Ok(exchange) => exchange,
        Err(e) => return fail(format!("{}: {e}", u.path)),
    };
    let socket = match start(check) {
        Ok(socket) => socket,
        Err(e) => return fail(e.to_string()),
    };
    let limit = check.common.connect_timeout.duration();
    let close = check.common.close;
    let outcome = drive(socket, &mut exchange, u, limit, close, DRAIN_BUDGET).await;
    let (passed, reason) = outcome.verdict(u, limit);
    Attempt {
        passed,
        reason,
        tls: exchange.tls_summary(),
    }
}

/// Drives `exchange` over `socket` on tokio until it ends or `limit` runs
/// out, then ends the connection as the prober does: at once when nothing
/// is left unread, else politely (`close`, within `budget`), without
/// making the outcome wait.
pub(super) async fn drive(
    socket: Socket,
    exchange: &mut Exchange,
    u: &Url,
    limit: Duration,
    close: CloseMode,
    budget: Duration,
) -> Outcome {
    let deadline = Instant::now() + limit;
    let fd = match probe::watch(socket, Interest::READABLE | Interest::WRITABLE) {
        Ok(fd) => fd,
        Err(e) => {
            let why = format!("cannot set up the probe socket (register with the runtime): {e}");
            return Outcome::Broken(why.into());
        }
    };
    let mut buf = [0u8; 4096];
    let mut want = Want::Write;
    let outcome = loop {
        let interest = match want {
            Want::Write => Interest::WRITABLE,
            Want::Read => Interest::READABLE,
        };
        let mut guard = match timeout_at(deadline, fd.ready(interest)).await {
            Ok(Ok(guard)) => guard,
            Ok(Err(e)) => break Outcome::Broken(format!("Read error: {e}").into()),
            Err(_) => break exchange.late(),
        };
        let readable = guard.ready().is_readable();
        match exchange.advance(guard.get_inner(), &mut buf, u, readable) {
            Step::Done(outcome) => break outcome,
            Step::Wait(next) => {
                if next == want {
                    // Found not ready: wait for the next event.
                    guard.clear_ready();
                }
                want = next;
            }
        }
    };
    if !exchange.finish(fd.get_ref(), &outcome) && close == CloseMode::Graceful {
        tokio::spawn(close_politely(fd, budget));
    }
    outcome
}

/// Sends our FIN, then reads and drops what the server still sends until
/// its own end or `budget`, so that closing never leaves unread data, which
/// would make the kernel send an RST (the prober's closing sweep does the
/// same with `tcp::begin_close` and `tcp::drain`). Data arriving after
/// `budget` is reset by the kernel: waiting forever is not an option.
async fn close_politely(fd: AsyncFd<Socket>, budget: Duration) {
    if tcp::begin_close(fd.get_ref(), CloseMode::Graceful, false) {
        return;
    }
    let deadline = Instant::now() + budget;
    while let Ok(Ok(mut guard)) = timeout_at(deadline, fd.readable()).await {
        if tcp::drain(guard.get_inner()) {
            return;
        }
        guard.clear_ready();
    }
}

/// The request keepalived sends for `url`, byte for byte:
///
/// ```text
/// GET <path> HTTP/1.<0|1>\r\n
/// User-Agent: KeepAliveClient\r\n
/// [Connection: close\r\n]          (http_protocol 1.0C and 1.1)
/// Host: <host>\r\n
/// \r\n
/// ```
///
/// Host is the url's `virtualhost`, else the checker's, real server's or
/// virtual server's (resolved in [`HttpCheck::virtualhost`]), written as
/// is; else the address probed with its port, always: `10.0.0.1:80`,
/// `[2001:db8::1]:80`.
pub fn request(check: &HttpCheck, url: &Url) -> String {
    let mut bytes = Vec::new();
    write_request(check, url, &mut bytes);
    // Made of the config's strings and ASCII: always UTF-8.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Appends [`request`]'s bytes to `out` (an exchange's reused buffer).
pub fn write_request(check: &HttpCheck, url: &Url, out: &mut Vec<u8>) {
    let (version, connection): (&[u8], &[u8]) = match check.protocol {
        HttpProtocol::Http10 => (b"0", b""),
        HttpProtocol::Http10Close => (b"0", b"Connection: close\r\n"),
        HttpProtocol::Http11 => (b"1", b"Connection: close\r\n"),
    };
    // Pieces, not `write!`: this runs for every probe.
    let pieces: [&[u8]; 9] = [
        b"GET ",
        url.path.as_bytes(),
        b" HTTP/1.",
        version,
        b"\r\nUser-Agent: ",
        USER_AGENT.as_bytes(),
        b"\r\n",
        connection,
        b"Host: ",
    ];
    for piece in pieces {
        out.extend_from_slice(piece);
    }
    match url.virtualhost.as_ref().or(check.virtualhost.as_ref()) {
        Some(vhost) => out.extend_from_slice(vhost.as_bytes()),
        None => {
            let c = &check.common;
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{}", SocketAddr::new(c.connect_ip, c.connect_port));
        }
    }
    out.extend_from_slice(b"\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CheckCommon, Url};

    fn check(ip: &str, port: u16, protocol: HttpProtocol, vhost: Option<&str>) -> HttpCheck {
        HttpCheck {
            common: CheckCommon::new(ip.parse().unwrap(), port),
            tls: false,
            urls: vec![Url::new("/health?x=1")],
            virtualhost: vhost.map(String::from),
            protocol,
            fast_recovery: false,
            tls_options: Default::default(),
        }
    }

    #[test]
    fn request_bytes_for_each_protocol() {
        let c = check("10.0.0.1", 80, HttpProtocol::Http10, None);
        assert_eq!(
            request(&c, &c.urls[0]),
            "GET /health?x=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.1:80\r\n\r\n"
        );
        let c = check("10.0.0.1", 8080, HttpProtocol::Http10Close, None);
        assert_eq!(
            request(&c, &c.urls[0]),
            "GET /health?x=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\n\
             Connection: close\r\nHost: 10.0.0.1:8080\r\n\r\n"
        );
        let c = check("2001:db8::1", 443, HttpProtocol::Http11, None);
        assert_eq!(
            request(&c, &c.urls[0]),
            "GET /health?x=1 HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\n\
             Connection: close\r\nHost: [2001:db8::1]:443\r\n\r\n"
        );
    }

    #[test]
    fn host_is_the_urls_vhost_then_the_checkers_without_port() {
        let mut c = check(
            "2001:db8::1",
            80,
            HttpProtocol::Http11,
            Some("www.example.com"),
        );
        let r = request(&c, &c.urls[0]);
        assert!(r.contains("\r\nHost: www.example.com\r\n"), "{r}");
        c.urls[0].virtualhost = Some("url.example.com".into());
        let r = request(&c, &c.urls[0]);
        assert!(r.contains("\r\nHost: url.example.com\r\n"), "{r}");
    }
}
