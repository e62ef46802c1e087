//! The control protocol: one JSON object per line each way.
//!
//! A request names its command in `cmd` and may carry the protocol version
//! in `v` (1, the only one; absent means 1):
//!
//! ```json
//! {"v":1,"cmd":"drain","rs":"10.0.1.5:8080","vs":"10.0.0.1:80/tcp","timeout":60}
//! ```
//!
//! The answer is `{"ok":true,"result":…}` or
//! `{"ok":false,"kind":"refused","error":"…"}`. A line longer than
//! [`MAX_REQUEST`] bytes, bytes that are not JSON, an unknown command or an
//! unknown field are answered with an error (`kind` `too_long` or
//! `bad_request`); nothing a client sends can stop the daemon or keep it
//! waiting (see `server.rs` for the timeouts).

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest request line accepted, newline excluded. Requests are a few
/// hundred bytes; this leaves room and bounds what a client can make the
/// daemon hold.
pub const MAX_REQUEST: usize = 16 * 1024;

/// What `show` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShowWhat {
    /// Virtual servers: real servers up, quorum.
    Vs,
    /// Real servers: health, admin state, weights, connections.
    Rs,
    /// The distinct probes and their last verdicts.
    Probes,
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    /// Counts, the config, the last reload. (Variants without fields are
    /// written `{}` so that an unknown field is refused for them too.)
    Status {},
    /// A table of virtual servers, real servers or probes; `vs` narrows it.
    Show {
        /// Which table.
        what: ShowWhat,
        /// Only this virtual server (a selector, see `selector.rs`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vs: Option<String>,
    },
    /// Weight 0, then out of the table when its connections are gone or
    /// `timeout` seconds have passed.
    Drain {
        /// The real server (`IP` or `IP:PORT`).
        rs: String,
        /// Only in this virtual server (else in every one that lists it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vs: Option<String>,
        /// Seconds before it is deleted whatever its connections.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<u64>,
    },
    /// Out of the table as if its checks failed.
    Disable {
        /// The real server.
        rs: String,
        /// Only in this virtual server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vs: Option<String>,
    },
    /// Clear a drain or a disable.
    Enable {
        /// The real server.
        rs: String,
        /// Only in this virtual server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vs: Option<String>,
    },
    /// Set a weight override (`null`: back to the configured weight).
    Weight {
        /// The real server.
        rs: String,
        /// Only in this virtual server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vs: Option<String>,
        /// The weight, or `null` to clear the override.
        weight: Option<i32>,
    },
    /// Run the real server's checks once now and report (no state change).
    Check {
        /// The real server.
        rs: String,
        /// Only in this virtual server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vs: Option<String>,
    },
    /// Reload the config as SIGHUP does, answering with its diagnostics.
    Reload {},
}

impl Request {
    /// Whether the request changes anything (or runs checks, which may run
    /// scripts): those need the admin group.
    pub fn changes(&self) -> bool {
        !matches!(self, Request::Status {} | Request::Show { .. })
    }

    /// The command's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Status {} => "status",
            Request::Show { .. } => "show",
            Request::Drain { .. } => "drain",
            Request::Disable { .. } => "disable",
            Request::Enable { .. } => "enable",
            Request::Weight { .. } => "weight",
            Request::Check { .. } => "check",
            Request::Reload {} => "reload",
        }
    }
}

/// Why an answer is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not a request (not JSON, unknown command or field, wrong version).
    BadRequest,
    /// A line over [`MAX_REQUEST`].
    TooLong,
    /// The caller may not do this.
    Refused,
    /// The selector matches nothing.
    NotFound,
    /// It was tried and did not work (a refused reload).
    Failed,
    /// Too many connections, or no request within the time allowed.
    Busy,
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Whether it worked.
    pub ok: bool,
    /// What it returns (on success; a refused reload's diagnostics too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    /// Why not, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    /// A success carrying `result`.
    pub fn ok(result: impl Serialize) -> Response {
        match serde_json::to_value(result) {
            Ok(result) => Response {
                ok: true,
                result: Some(result),
                kind: None,
                error: None,
            },
            Err(e) => Response::error(ErrorKind::Failed, format!("cannot encode the answer: {e}")),
        }
    }

    /// An error.
    pub fn error(kind: ErrorKind, error: impl Into<String>) -> Response {
        Response {
            ok: false,
            result: None,
            kind: Some(kind),
            error: Some(error.into()),
        }
    }

    /// The answer as one line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"ok":false,"kind":"failed","error":"cannot encode the answer"}"#.to_vec()
        });
        line.push(b'\n');
        line
    }
}

/// A request line (without its newline) as a [`Request`], or why not.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| "a request is a JSON object, such as {\"cmd\":\"status\"}".to_string())?;
    match object.remove("v") {
        None => {}
        Some(v) if v == serde_json::json!(1) => {}
        Some(v) => {
            return Err(format!(
                "protocol version {v} is not known: this lvsd speaks 1"
            ))
        }
    }
    if !object.contains_key("cmd") {
        return Err("the request names no \"cmd\" (status, show, drain, disable, enable, weight, check, reload)".into());
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// What reading a line can end in besides a line.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// Longer than the limit (the rest is not read).
    #[error("request longer than {0} bytes")]
    TooLong(usize),
    /// The connection failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The next line from `reader`, without its newline, never holding more
/// than `max` bytes of it; `None` at end of input. A last line without a
/// newline counts as a line.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, LineError> {
    let mut line = Vec::new();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok((!line.is_empty()).then_some(line));
        }
        let (chunk, found) = match memchr(buf) {
            Some(i) => (&buf[..i], Some(i)),
            None => (buf, None),
        };
        if line.len() + chunk.len() > max {
            return Err(LineError::TooLong(max));
        }
        line.extend_from_slice(chunk);
        match found {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(Some(line));
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

fn memchr(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_or_without_a_version() {
        assert_eq!(
            parse_request(br#"{"cmd":"status"}"#),
            Ok(Request::Status {})
        );
        assert_eq!(
            parse_request(br#"{"v":1,"cmd":"reload"}"#),
            Ok(Request::Reload {})
        );
        assert_eq!(
            parse_request(br#"{"cmd":"drain","rs":"10.0.1.5:8080","timeout":60}"#),
            Ok(Request::Drain {
                rs: "10.0.1.5:8080".into(),
                vs: None,
                timeout: Some(60)
            })
        );
        assert_eq!(
            parse_request(br#"{"cmd":"weight","rs":"10.0.1.5","weight":null}"#),
            Ok(Request::Weight {
                rs: "10.0.1.5".into(),
                vs: None,
                weight: None
            })
        );
        assert_eq!(
            parse_request(br#"{"cmd":"show","what":"rs","vs":"10.0.0.1:80"}"#),
            Ok(Request::Show {
                what: ShowWhat::Rs,
                vs: Some("10.0.0.1:80".into())
            })
        );
    }

    #[test]
    fn what_is_not_a_request_says_why() {
        for (line, says) in [
            (&b"status"[..], "not a JSON object"),
            (b"[1]", "a request is a JSON object"),
            (b"{}", "names no \"cmd\""),
            (br#"{"v":2,"cmd":"status"}"#, "version 2"),
            (br#"{"cmd":"explode"}"#, "unknown variant"),
            (br#"{"cmd":"drain"}"#, "missing field `rs`"),
            (br#"{"cmd":"status","extra":1}"#, "unknown field"),
            (
                br#"{"cmd":"weight","rs":"x","weight":"heavy"}"#,
                "invalid type",
            ),
            (b"\xff\xfe", "not a JSON object"),
        ] {
            let e = parse_request(line).unwrap_err();
            assert!(e.contains(says), "{line:?}: {e}");
        }
    }

    #[test]
    fn only_reads_need_no_admin_group() {
        assert!(!Request::Status {}.changes());
        assert!(!Request::Show {
            what: ShowWhat::Vs,
            vs: None
        }
        .changes());
        assert!(Request::Reload {}.changes());
        assert!(Request::Check {
            rs: "x".into(),
            vs: None
        }
        .changes());
    }

    #[tokio::test]
    async fn lines_are_bounded() {
        let input = b"{\"cmd\":\"status\"}\nshort\n".to_vec();
        let mut r = tokio::io::BufReader::with_capacity(4, &input[..]);
        assert_eq!(
            read_line(&mut r, 100).await.unwrap().unwrap(),
            br#"{"cmd":"status"}"#
        );
        assert_eq!(read_line(&mut r, 100).await.unwrap().unwrap(), b"short");
        assert!(read_line(&mut r, 100).await.unwrap().is_none());
        let long = vec![b'x'; 1000];
        let mut r = tokio::io::BufReader::with_capacity(64, &long[..]);
        assert!(matches!(
            read_line(&mut r, 999).await,
            Err(LineError::TooLong(999))
        ));
        let mut r = tokio::io::BufReader::with_capacity(64, &long[..]);
        assert_eq!(read_line(&mut r, 1000).await.unwrap().unwrap().len(), 1000);
    }

    #[test]
    fn answers_are_one_line() {
        let line = Response::error(ErrorKind::Refused, "no\nway").to_line();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(line.ends_with(b"\n"));
    }
}
