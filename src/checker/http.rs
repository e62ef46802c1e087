//! `HTTP_GET` (plain HTTP): fetch every `url`, check its status and digest.
//!
//! What lvsd does, per URL, on a connection made like `TCP_CHECK`'s (same
//! source options):
//!
//! - sends `GET <path> HTTP/1.0` with `Host:` (the URL's `virtualhost`, else
//!   the checker's, else the target address) and `Connection: close`;
//! - reads the whole answer until the server closes (so our close never
//!   resets), at most [`MAX_BODY`] bytes of body;
//! - passes when the status is in `status_code` (default: any 2xx) and, if
//!   `digest` is set, the MD5 of the body matches (hex, any case).
//!
//! The probe passes when every URL passes. The whole fetch of one URL is
//! bounded by `connect_timeout`. `SSL_GET` is the same over TLS (`tls.rs`).
//! Not done yet: `regex` (ignored).

use std::fmt::Write as _;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use super::probe::seconds;
use super::{tcp, tls};
use crate::config::{HttpCheck, Url};

/// The most of a body lvsd reads (and hashes); past it the URL fails.
pub const MAX_BODY: usize = 1 << 20;

/// Fetches every URL of the check: (up?, reason).
pub async fn run(check: &HttpCheck) -> (bool, String) {
    let limit = check.common.connect_timeout.duration();
    for url in &check.urls {
        let verdict = match timeout(limit, fetch(check, url)).await {
            Ok(verdict) => verdict,
            Err(_) => Err(format!("no complete answer within {}", seconds(limit))),
        };
        if let Err(reason) = verdict {
            return (false, format!("{}: {reason}", url.path));
        }
    }
    (true, format!("{} URL(s) passed", check.urls.len()))
}

/// One URL: Ok if it passes, else why not.
async fn fetch(check: &HttpCheck, url: &Url) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + check.common.connect_timeout.duration();
    let connection = tcp::connect(&check.common)
        .await
        .map_err(|e| e.to_string())?;
    let stream = connection.into_stream();
    if !check.tls {
        let mut stream = stream;
        return judge(url, &exchange(check, url, &mut stream).await?);
    }
    let mut stream = tls::handshake(check, url, stream, deadline)
        .await
        .map_err(|e| e.to_string())?;
    let answer = exchange(check, url, &mut stream).await;
    // close_notify and FIN whatever the verdict, without making it wait.
    tokio::spawn(tls::close(stream, check.common.connect_timeout.duration()));
    judge(url, &answer?)
}

/// Sends the request of `url` and reads the whole answer.
async fn exchange<S>(check: &HttpCheck, url: &Url, stream: &mut S) -> Result<Vec<u8>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = request(check, url);
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut answer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
        if answer.len() > MAX_BODY + 64 * 1024 {
            return Err(format!("answer longer than {MAX_BODY} bytes"));
        }
    }
    Ok(answer)
}

fn request(check: &HttpCheck, url: &Url) -> String {
    let common = &check.common;
    let host = match url.virtualhost.as_ref().or(check.virtualhost.as_ref()) {
        Some(host) => host.clone(),
        None => std::net::SocketAddr::new(common.connect_ip, common.connect_port).to_string(),
    };
    format!(
        "GET {} HTTP/1.0\r\nUser-Agent: lvsd\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        url.path
    )
}

/// Checks a complete answer (head and body) against the URL's rules.
fn judge(url: &Url, answer: &[u8]) -> Result<(), String> {
    let head_end = find(answer, b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| find(answer, b"\n\n").map(|i| i + 2))
        .ok_or("no complete HTTP header")?;
    let status_line = answer[..head_end]
        .split(|b| *b == b'\n')
        .next()
        .unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line);
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .filter(|_| status_line.starts_with("HTTP/"))
        .ok_or_else(|| format!("bad status line {:?}", status_line.trim_end()))?;
    let accepted = if url.status_codes.is_empty() {
        (200..=299).contains(&status)
    } else {
        url.status_codes
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&status))
    };
    if !accepted {
        return Err(format!("status {status}"));
    }
    if let Some(want) = &url.digest {
        let body = &answer[head_end..];
        let got = md5::compute(body);
        let mut hex = String::with_capacity(32);
        for byte in got.0 {
            let _ = write!(hex, "{byte:02x}");
        }
        if !hex.eq_ignore_ascii_case(want.trim()) {
            return Err(format!("digest {hex}, expected {want}"));
        }
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(codes: Vec<(u16, u16)>, digest: Option<&str>) -> Url {
        Url {
            path: "/health".into(),
            digest: digest.map(String::from),
            status_codes: codes,
            virtualhost: None,
            regex: None,
        }
    }

    #[test]
    fn status_codes_default_to_2xx() {
        let ok = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(judge(&url(vec![], None), ok), Ok(()));
        let moved = b"HTTP/1.1 301 Moved\r\nLocation: /\r\n\r\n";
        assert_eq!(judge(&url(vec![], None), moved), Err("status 301".into()));
        assert_eq!(judge(&url(vec![(300, 399)], None), moved), Ok(()));
    }

    #[test]
    fn digest_is_the_md5_of_the_body() {
        // md5("hello") = 5d41402abc4b2a76b9719d911017c592
        let answer = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let good = url(vec![], Some("5D41402ABC4B2A76B9719D911017C592"));
        assert_eq!(judge(&good, answer), Ok(()));
        let bad = url(vec![], Some("00000000000000000000000000000000"));
        assert!(judge(&bad, answer).unwrap_err().starts_with("digest 5d41"));
    }

    #[test]
    fn garbage_is_a_clear_failure() {
        assert!(judge(&url(vec![], None), b"SSH-2.0-OpenSSH\r\n").is_err());
        let err = judge(&url(vec![], None), b"hello\r\n\r\n").unwrap_err();
        assert!(err.starts_with("bad status line"), "{err}");
    }
}
