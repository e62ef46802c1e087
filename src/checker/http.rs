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
//! and no hand-off to another thread, as it drives `TCP_CHECK`; [`run`]
//! drives the same machine on tokio for one-off probes (`lvsd-ctl`, tests).
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
//! `SSL_GET` still runs on tokio ([`run`]): the TLS stream of `tls.rs`
//! carries the same request and [`Answer`] ([`exchange`]).
//!
//! The request's User-Agent is keepalived's, `KeepAliveClient`, so that a
//! backend's log filters written for keepalived's checks keep working.

use std::borrow::Cow;
use std::io::{self, Read as _};
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{SockRef, Socket};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
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
        };
        (false, why.into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The handshake is under way; nothing sent yet.
    Connecting,
    /// Part of the request is sent.
    Sending,
    /// The request is sent; reading the answer to its end.
    Receiving,
}

/// One `HTTP_GET` attempt as a state machine over a non-blocking socket
/// whose connect was started (`tcp::start`). Made once and restarted for
/// each attempt ([`Exchange::restart`]): its request and answer buffers are
/// reused.
#[derive(Debug)]
pub struct Exchange {
    stage: Stage,
    request: Vec<u8>,
    sent: usize,
    answer: Answer,
}

impl Exchange {
    /// An exchange for `url` of `check`.
    pub fn new(check: &HttpCheck, url: &Url) -> Exchange {
        let mut exchange = Exchange {
            stage: Stage::Connecting,
            request: Vec::new(),
            sent: 0,
            answer: Answer::new(url),
        };
        exchange.restart(check, url);
        exchange
    }

    /// Ready for a new attempt, for `url` of `check`.
    pub fn restart(&mut self, check: &HttpCheck, url: &Url) {
        self.stage = Stage::Connecting;
        self.request.clear();
        write_request(check, url, &mut self.request);
        self.sent = 0;
        self.answer.restart(url);
    }

    /// Whether the TCP handshake is over (what a timeout is reported as).
    pub fn connected(&self) -> bool {
        self.stage != Stage::Connecting
    }

    /// Makes what progress `socket` allows without blocking: sends the
    /// request once the handshake is over, then reads the answer into
    /// `buf` (scratch space) and feeds it to the judge until the server's
    /// end. `readable`: the socket was reported readable with this call
    /// (else, once the request is sent, nothing is read before it is).
    pub fn advance(&mut self, socket: &Socket, buf: &mut [u8], url: &Url, readable: bool) -> Step {
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

/// Probes url number `url` of the check once, on tokio, driving the same
/// [`Exchange`] as the prober (one-off probes; `SSL_GET` through `tls.rs`):
/// `Ok` with what passed, or why not. A check without urls passes
/// (keepalived drops such a checker, which leaves its real server up).
pub async fn run(check: &HttpCheck, url: usize) -> Result<Cow<'static, str>, Cow<'static, str>> {
    let Some(u) = url_of(check, url) else {
        return Ok("no url to check".into());
    };
    if check.tls {
        return run_tls(check, u).await;
    }
    let limit = check.common.connect_timeout.duration();
    let deadline = Instant::now() + limit;
    let socket = start(check).map_err(|e| e.to_string())?;
    let close = check.common.close;
    let fd = probe::watch(socket, Interest::READABLE | Interest::WRITABLE)
        .map_err(|e| format!("cannot set up the probe socket (register with the runtime): {e}"))?;
    let mut exchange = Exchange::new(check, u);
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
            Err(_) => {
                let connected = exchange.connected();
                break Outcome::Late { connected };
            }
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
    if !outcome.at_eof() && close == CloseMode::Graceful {
        tokio::spawn(close_politely(fd, DRAIN_BUDGET));
    }
    match outcome.verdict(u, limit) {
        (true, what) => Ok(what),
        (false, why) => Err(why),
    }
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

/// `SSL_GET`: the handshake shares the connect's deadline; whatever the
/// verdict, close_notify, our FIN and a read to the server's end follow,
/// without making the verdict wait.
async fn run_tls(check: &HttpCheck, u: &Url) -> Result<Cow<'static, str>, Cow<'static, str>> {
    let limit = check.common.connect_timeout.duration();
    let deadline = Instant::now() + limit;
    let connection = match timeout_at(deadline, tcp::connect(&check.common)).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => return Err(e.to_string().into()),
        Err(_) => return Err(format!("no answer within {}", seconds(limit)).into()),
    };
    let stream = connection.into_stream();
    if check.common.close == CloseMode::Reset {
        // If this fails the close is merely graceful; nothing to report.
        let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    }
    let mut stream = match tls::handshake(check, u, stream, deadline).await {
        Ok(stream) => stream,
        Err(e) => return Err(format!("{}: {e}", u.path).into()),
    };
    let mut request = Vec::new();
    write_request(check, u, &mut request);
    let outcome = timeout_at(deadline, exchange(&mut stream, &request, u)).await;
    tokio::spawn(tls::close(stream, limit));
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Late { connected: true },
    };
    match outcome.verdict(u, limit) {
        (true, what) => Ok(what),
        (false, why) => Err(why),
    }
}

/// Sends `request` and reads the answer until the server closes, over a
/// TLS stream (`SSL_GET`, on tokio): the same request and [`Answer`] as
/// the [`Exchange`] over plain TCP.
pub async fn exchange<S>(stream: &mut S, request: &[u8], url: &Url) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(e) = stream.write_all(request).await {
        return Outcome::Broken(format!("Cannot send get request: {e}").into());
    }
    let mut answer = Answer::new(url);
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => answer.feed(&buf[..n]),
            // A TLS server that closes without close_notify: keepalived
            // judges what came, and so does lvsd.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Outcome::Broken(format!("Read error: {e}").into()),
        }
    }
    Outcome::Answered(answer.verdict(url))
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
    use std::io::Write as _;
    let (version, connection) = match check.protocol {
        HttpProtocol::Http10 => ('0', ""),
        HttpProtocol::Http10Close => ('0', "Connection: close\r\n"),
        HttpProtocol::Http11 => ('1', "Connection: close\r\n"),
    };
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "GET {} HTTP/1.{version}\r\nUser-Agent: {USER_AGENT}\r\n{connection}Host: ",
        url.path
    );
    match url.virtualhost.as_ref().or(check.virtualhost.as_ref()) {
        Some(vhost) => out.extend_from_slice(vhost.as_bytes()),
        None => {
            let c = &check.common;
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
