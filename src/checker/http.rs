//! `HTTP_GET`: one URL per connection, judged as keepalived 2.2.7 judges it.
//!
//! One attempt checks one `url` (which one is the schedule's choice, see
//! `schedule/urls.rs`), on a connection made like `TCP_CHECK`'s (same source
//! options):
//!
//! 1. connect, then send the request keepalived sends ([`request`]) in one
//!    write;
//! 2. read the answer **until the server closes**: `Content-Length` does not
//!    end it, so a server that keeps the connection open fails, as in
//!    keepalived (`http_protocol 1.1` and `1.0C` ask for `Connection: close`);
//! 3. judge it ([`super::http_answer`]: header end, status, digest, regex).
//!
//! The whole exchange (connect, request, answer) is bounded by
//! `connect_timeout`. keepalived bounds each read instead, so a server that
//! trickles its answer can hold it forever (its issue #1822); lvsd fails it.
//!
//! Every attempt ends politely, passing or failing: when the answer was
//! read to the server's end, nothing is left unread and the close is a
//! plain FIN; when the attempt broke off (timeout, read error), our FIN is
//! sent (`shutdown`), what the server still sends is read and dropped until
//! its FIN, then the socket is closed ([`close_politely`], in the
//! background, at most [`DRAIN_BUDGET`]): the server never sees an RST.
//! With `close_with_reset` the socket is reset instead, as `TCP_CHECK` does.
//!
//! The exchange is generic over the stream ([`exchange`]): `SSL_GET` runs
//! the same code over a TLS stream made from the TCP one in [`run`].
//!
//! The request's User-Agent is keepalived's, `KeepAliveClient`, so that a
//! backend's log filters written for keepalived's checks keep working.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use super::http_answer::Answer;
use super::probe::seconds;
use super::{tcp, tls};
use crate::config::{CloseMode, HttpCheck, HttpProtocol, Url};

/// How long a closing probe connection waits for the server's FIN after
/// sending its own, before it is closed anyway.
pub const DRAIN_BUDGET: Duration = Duration::from_secs(5);

/// The User-Agent of every request: keepalived's.
pub const USER_AGENT: &str = "KeepAliveClient";

/// Probes url number `url` of the check: `Ok` with what passed, or why not.
/// A check without urls passes (keepalived drops such a checker, which
/// leaves its real server up).
pub async fn run(check: &HttpCheck, url: usize) -> Result<Cow<'static, str>, Cow<'static, str>> {
    let Some(u) = check.urls.get(url).or_else(|| check.urls.first()) else {
        return Ok("no url to check".into());
    };
    let limit = check.common.connect_timeout.duration();
    let deadline = Instant::now() + limit;
    let late = || {
        Cow::Owned(format!(
            "{}: no complete answer within {}",
            u.path,
            seconds(limit)
        ))
    };
    let connection = match timeout_at(deadline, tcp::connect(&check.common)).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => return Err(e.to_string().into()),
        Err(_) => return Err(format!("no answer within {}", seconds(limit)).into()),
    };
    let mut stream = connection.into_stream();
    let close = check.common.close;
    if close == CloseMode::Reset {
        // If this fails the close is merely graceful; nothing to report.
        let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    }
    let request = request(check, u);
    let outcome = if check.tls {
        // SSL_GET: the handshake shares the connect's deadline; whatever
        // the verdict, close_notify, our FIN and a read to the server's
        // end follow, without making the verdict wait.
        let mut stream = match tls::handshake(check, u, stream, deadline).await {
            Ok(stream) => stream,
            Err(e) => return Err(format!("{}: {e}", u.path).into()),
        };
        let outcome = timeout_at(deadline, exchange(&mut stream, request.as_bytes(), u)).await;
        tokio::spawn(tls::close(stream, limit));
        outcome
    } else {
        let outcome = timeout_at(deadline, exchange(&mut stream, request.as_bytes(), u)).await;
        // Read to the server's end: nothing is left unread, and the close
        // is a plain one (a FIN). Else the polite close reads what is
        // still coming.
        let at_eof = matches!(outcome, Ok(Ok(_)));
        finish(stream, close, at_eof);
        outcome
    };
    match outcome {
        Ok(Ok(Ok(()))) => Ok("URL passed".into()),
        Ok(Ok(Err(reason)) | Err(reason)) => Err(format!("{}: {reason}", u.path).into()),
        Err(_) => Err(late()),
    }
}

/// Sends `request` and reads the answer until the server closes; works over
/// any stream: TCP for `HTTP_GET`, TLS for `SSL_GET`. `Ok` holds the
/// verdict on the answer (the server's end was reached); `Err` says why the
/// exchange broke off before (the send or a read failed).
pub async fn exchange<S>(
    stream: &mut S,
    request: &[u8],
    url: &Url,
) -> Result<Result<(), Cow<'static, str>>, Cow<'static, str>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("Cannot send get request: {e}"))?;
    let mut answer = Answer::new(url);
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => answer.feed(&buf[..n]),
            // A TLS server that closes without close_notify: keepalived
            // judges what came, and so does lvsd.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("Read error: {e}").into()),
        }
    }
    Ok(answer.verdict(url).map_err(|f| f.reason()))
}

/// Closes a probe's stream: reset at once with `close_with_reset` (its
/// `SO_LINGER` 0 is set); dropped at once when the server's end was read
/// (`at_eof`: nothing unread, so the close is a FIN); else
/// [`close_politely`], in the background.
fn finish<S>(stream: S, close: CloseMode, at_eof: bool)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if close == CloseMode::Reset || at_eof {
        drop(stream);
    } else {
        tokio::spawn(close_politely(stream, DRAIN_BUDGET));
    }
}

/// Sends our end of the stream (FIN; for TLS, close_notify first), then
/// reads and drops what the server still sends until its own end or
/// `budget`, so that closing never leaves unread data, which would make the
/// kernel send an RST. Data arriving after `budget` is reset by the kernel:
/// waiting forever is not an option.
pub async fn close_politely<S>(mut stream: S, budget: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = Instant::now() + budget;
    let _ = timeout_at(deadline, stream.shutdown()).await;
    let mut sink = [0u8; 2048];
    while let Ok(Ok(n)) = timeout_at(deadline, stream.read(&mut sink)).await {
        if n == 0 {
            break;
        }
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
    let (version, connection) = match check.protocol {
        HttpProtocol::Http10 => ('0', ""),
        HttpProtocol::Http10Close => ('0', "Connection: close\r\n"),
        HttpProtocol::Http11 => ('1', "Connection: close\r\n"),
    };
    let host: Cow<'_, str> = match url.virtualhost.as_ref().or(check.virtualhost.as_ref()) {
        Some(vhost) => vhost.into(),
        None => {
            let c = &check.common;
            SocketAddr::new(c.connect_ip, c.connect_port)
                .to_string()
                .into()
        }
    };
    format!(
        "GET {} HTTP/1.{version}\r\nUser-Agent: {USER_AGENT}\r\n{connection}Host: {host}\r\n\r\n",
        url.path
    )
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
