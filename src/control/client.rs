//! The client side: one request, one answer, over the control socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::protocol::{Request, Response};

/// The longest answer read (a `show rs` of 100,000 real servers is ~25 MB).
pub const MAX_ANSWER: u64 = 256 << 20;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket cannot be reached.
    #[error("cannot connect to {path}: {why} (is lvsd running? --socket names another path; permission denied means you are not in the socket's group)")]
    Connect {
        /// The socket.
        path: String,
        /// Why (in the message, so not a `source` too).
        why: std::io::Error,
    },
    /// The exchange failed.
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    /// The answer is not one.
    #[error("lvsd's answer cannot be read: {0}")]
    Answer(String),
}

/// Send `request` to the daemon at `path`, wait up to `timeout` for the answer.
pub fn call(path: &Path, request: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let mut stream = UnixStream::connect(path).map_err(|why| ClientError::Connect {
        path: path.display().to_string(),
        why,
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(request).map_err(|e| ClientError::Answer(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut answer = Vec::new();
    BufReader::new(stream.take(MAX_ANSWER)).read_until(b'\n', &mut answer)?;
    if answer.is_empty() {
        return Err(ClientError::Answer(
            "lvsd closed the connection without answering".into(),
        ));
    }
    serde_json::from_slice(&answer).map_err(|e| ClientError::Answer(e.to_string()))
}
