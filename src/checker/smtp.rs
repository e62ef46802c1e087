//! `SMTP_CHECK`: the short dialog keepalived holds with a mail server.
//!
//! On a TCP connection made like `TCP_CHECK`'s (same source options, bounded
//! by `connect_timeout`):
//!
//! ```text
//!   server: 220 mx.example.org ESMTP          banner: must be 220
//!   lvsd:   HELO smtpchecker.keepalived.org   (helo_name)
//!   server: 250 mx.example.org                must be 250
//!   lvsd:   QUIT
//!   server: 221 bye                           any line at all
//! ```
//!
//! What is judged, as keepalived 2.2.7 does (check_smtp.c):
//!
//! - A reply is one line: the bytes up to the first `\n` of what one read
//!   gathered; further lines that came with it are dropped, never read as
//!   the next reply. So a multi-line banner (`220-...`) fails: its first
//!   line is not `220 `.
//! - The code is strict ([`reply_code`]): exactly three digits, then the
//!   end of the line or a space. `220\r` (no text, but a CR) fails, as in
//!   keepalived; `220` alone (a bare `\n` ending) passes.
//! - The answer to QUIT is not checked: any line passes; the end of the
//!   stream before one fails.
//! - Each step (connect, each read of a line, each write) has its own
//!   `connect_timeout`. keepalived restarts the timeout at every read, so a
//!   server trickling a line byte by byte can stretch a step without end;
//!   lvsd bounds the whole step.
//! - A line over [`MAX_LINE`] bytes fails (keepalived wraps its 512-byte
//!   buffer and reads on); a NUL byte before the newline fails (keepalived's
//!   C string ends there and it never sees the newline: it fails later, at
//!   the timeout).
//!
//! The connection always ends with our FIN, never an RST
//! ([`tcp::close_stream`]): after the answer to QUIT the backend's own FIN
//! is awaited and everything is read; on a failure our FIN tells the server
//! we are gone, and what it still sends is read until its FIN.
//!
//! Failures are counted per `delay_loop` cycle, not in a row
//! ([`super::schedule::RetryRule::PerCycle`]).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::probe::seconds;
use super::tcp;
use crate::config::SmtpCheck;

/// The longest reply line read (keepalived's buffer is 512 bytes with its NUL).
pub const MAX_LINE: usize = 511;

/// What one read of a reply made of the bytes gathered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// No newline yet: read on.
    Partial,
    /// The first line, without its `\n` (a `\r` before it is kept).
    Complete(&'a [u8]),
    /// A NUL byte before the first newline.
    Nul,
    /// [`MAX_LINE`] bytes and no newline.
    TooLong,
}

/// The first line of `gathered`, as keepalived finds it.
pub fn first_line(gathered: &[u8]) -> Line<'_> {
    let end = gathered.iter().position(|&b| b == b'\n' || b == 0);
    match end {
        Some(i) if gathered[i] == 0 => Line::Nul,
        Some(i) => Line::Complete(&gathered[..i]),
        None if gathered.len() >= MAX_LINE => Line::TooLong,
        None => Line::Partial,
    }
}

/// The reply code of a line, as keepalived reads it: exactly three digits
/// followed by the end of the line or a space; anything else has none.
pub fn reply_code(line: &[u8]) -> Option<u16> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !matches!(line.get(3), None | Some(b' ')) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0')))
}

/// Whether `line` is a reply with code `want`; else why not (for reasons).
pub fn expect_code(line: &[u8], want: u16) -> Result<(), String> {
    match reply_code(line) {
        Some(code) if code == want => Ok(()),
        _ => Err(format!("expected {want}, got {}", shown(line))),
    }
}

/// A reply line as reasons quote it: at most 80 characters, escaped.
fn shown(line: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(&line[..line.len().min(80)]).into();
    format!("{text:?}")
}

/// Runs the dialog once: (up?, reason).
pub async fn run(check: &SmtpCheck) -> (bool, String) {
    let step = check.common.connect_timeout.duration();
    let connection = match timeout(step, tcp::connect(&check.common)).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => return (false, e.to_string()),
        Err(_) => return (false, format!("no connection within {}", seconds(step))),
    };
    let mut stream = connection.into_stream();
    let verdict = dialog(&mut stream, check, step).await;
    // The close runs on its own: the verdict does not wait for the
    // backend's FIN. It is bounded by connect_timeout, well before the next
    // attempt of this check.
    tokio::spawn(tcp::close_stream(stream, check.common.close, step));
    match verdict {
        Ok(()) => (true, "SMTP dialog completed".into()),
        Err(reason) => (false, reason),
    }
}

/// Banner, HELO, QUIT: Ok if the server answered as it should.
async fn dialog(stream: &mut TcpStream, check: &SmtpCheck, step: Duration) -> Result<(), String> {
    let mut buf = [0u8; MAX_LINE];
    let banner = read_line(stream, &mut buf, step)
        .await
        .map_err(|e| format!("banner: {e}"))?;
    expect_code(banner, 220).map_err(|e| format!("bad greeting banner: {e}"))?;
    let helo = format!("HELO {}\r\n", check.helo_name);
    write(stream, helo.as_bytes(), step)
        .await
        .map_err(|e| format!("HELO: {e}"))?;
    let answer = read_line(stream, &mut buf, step)
        .await
        .map_err(|e| format!("after HELO: {e}"))?;
    expect_code(answer, 250).map_err(|e| format!("bad HELO response: {e}"))?;
    write(stream, b"QUIT\r\n", step)
        .await
        .map_err(|e| format!("QUIT: {e}"))?;
    read_line(stream, &mut buf, step)
        .await
        .map_err(|e| format!("after QUIT: {e}"))?;
    Ok(())
}

/// Reads one reply line into `buf` within `step`; what followed it in the
/// same reads is dropped.
async fn read_line<'b>(
    stream: &mut TcpStream,
    buf: &'b mut [u8; MAX_LINE],
    step: Duration,
) -> Result<&'b [u8], String> {
    let gather = async {
        let mut len = 0;
        loop {
            match first_line(&buf[..len]) {
                Line::Complete(_) => return Ok(len),
                Line::Nul => return Err("a NUL byte in the reply".to_string()),
                Line::TooLong => return Err(format!("a reply line over {MAX_LINE} bytes")),
                Line::Partial => {}
            }
            match stream.read(&mut buf[len..]).await {
                Ok(0) => return Err("the server closed the connection".to_string()),
                Ok(n) => len += n,
                Err(e) => return Err(format!("reading: {e}")),
            }
        }
    };
    let len = match timeout(step, gather).await {
        Ok(gathered) => gathered?,
        Err(_) => return Err(format!("no reply line within {}", seconds(step))),
    };
    match first_line(&buf[..len]) {
        Line::Complete(line) => Ok(line),
        _ => Err("no reply line".into()),
    }
}

/// Writes `bytes` within `step`.
async fn write(stream: &mut TcpStream, bytes: &[u8], step: Duration) -> Result<(), String> {
    match timeout(step, stream.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("writing: {e}")),
        Err(_) => Err(format!("could not write within {}", seconds(step))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_three_digits_then_the_end_or_a_space() {
        assert_eq!(reply_code(b"220 mx.example.org ESMTP"), Some(220));
        assert_eq!(reply_code(b"220"), Some(220));
        assert_eq!(reply_code(b"250 "), Some(250));
        // keepalived's strtoul + "exactly 3 characters, then NUL or space".
        for bad in [
            &b"220-mx.example.org"[..],
            b"220\r",
            b"2200 x",
            b" 220 x",
            b"+220 x",
            b"22 x",
            b"abc x",
            b"",
            b"22",
        ] {
            assert_eq!(reply_code(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(reply_code(b"022 x"), Some(22));
    }

    #[test]
    fn a_reply_is_the_first_line_only() {
        assert_eq!(
            first_line(b"220 a\r\n250 b\r\n"),
            Line::Complete(b"220 a\r")
        );
        assert_eq!(first_line(b"220 a"), Line::Partial);
        assert_eq!(first_line(b""), Line::Partial);
        assert_eq!(first_line(b"220\n"), Line::Complete(b"220"));
        assert_eq!(first_line(b"220 a\0b\n"), Line::Nul);
        assert_eq!(first_line(&[b'x'; MAX_LINE]), Line::TooLong);
        assert_eq!(first_line(&[b'x'; MAX_LINE - 1]), Line::Partial);
    }

    #[test]
    fn judgement_names_what_was_seen() {
        assert_eq!(expect_code(b"220 hi\r", 220), Ok(()));
        assert_eq!(
            expect_code(b"220-hi\r", 220),
            Err("expected 220, got \"220-hi\\r\"".into())
        );
        assert!(expect_code(b"554 no\r", 250).is_err());
        // A CR right after the code is not a space: keepalived fails it too.
        assert!(expect_code(b"250\r", 250).is_err());
    }
}
