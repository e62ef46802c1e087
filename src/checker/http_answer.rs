//! An `HTTP_GET` answer, judged as keepalived 2.2.7 judges it: pure logic
//! over bytes, no I/O (the fuzz target `http_answer` feeds it garbage).
//!
//! The answer is fed as it arrives ([`Answer::feed`]) and judged once the
//! server has closed ([`Answer::verdict`]); [`judge`] does both for a whole
//! answer. keepalived's rules, in the order it applies them:
//!
//! 1. **Header end**: the first `\r\n\r\n`, within the first
//!    [`HEAD_LIMIT`] bytes (keepalived's 4096-byte buffer less its NUL).
//!    Bare-LF headers, or headers longer than that, fail ("no data").
//! 2. **Status**: after the first space of the status line, exactly three
//!    digits and a space (`HTTP/1.1 200 OK`, `HTTP/1.1 200 `; not
//!    `HTTP/1.1 200`), within 100–599 and in the url's `status_code`s.
//! 3. **Digest**: MD5 of the body bytes (after the header end), no more than
//!    `Content-Length` if the header has one. The header name is matched
//!    case-sensitively (`content-length:` is not seen), and the value is
//!    read as C's `strtoul` reads it. No chunked decoding: a chunked body is
//!    hashed with its chunk-size lines, as keepalived does.
//! 4. **Regex**: the subject is the raw answer, status line and headers
//!    included; offsets count from the status line's first byte. The first
//!    match at or after `regex_min_offset` must start at or before
//!    `regex_max_offset`; `regex_no_match` inverts the result.
//!
//! Where lvsd differs (docs/differences.md): `Content-Length` is looked for
//! in the header only (keepalived also searches whatever body bytes came in
//! the same read); the regex sees the whole answer at once, up to
//! [`SUBJECT_LIMIT`] bytes (keepalived matches read by read, so its matches
//! span at most about 4 KB and its offsets depend on how reads fall).

use std::borrow::Cow;

use crate::config::Url;

/// The most header bytes keepalived can hold: `\r\n\r\n` must end within them.
pub const HEAD_LIMIT: usize = 4095;

/// The most of an answer kept for a `regex` (the rest is read and dropped).
pub const SUBJECT_LIMIT: usize = 1 << 20;

/// The most room an answer keeps for the next one (see [`Answer::restart`]).
const KEEP_ROOM: usize = 64 * 1024;

/// Why an answer fails its url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No `\r\n\r\n` within the first [`HEAD_LIMIT`] bytes.
    NoHeader {
        /// How many bytes came.
        received: u64,
    },
    /// The status line's code is unreadable (0) or not accepted.
    Status(u16),
    /// The body's MD5 differs from `digest`.
    Digest(String),
    /// The regex matched (`regex_no_match`) or did not.
    Regex {
        /// Whether it matched.
        matched: bool,
    },
}

impl Failure {
    /// The reason reported for this failure, in keepalived's words first.
    pub fn reason(&self) -> Cow<'static, str> {
        match self {
            Failure::NoHeader { received: 0 } => "Read, no data received".into(),
            Failure::NoHeader { received } => format!(
                "Read, no data received: no \\r\\n\\r\\n within the first {HEAD_LIMIT} bytes \
                 ({received} received)"
            )
            .into(),
            Failure::Status(0) => {
                "HTTP status code error: no status code in the status line".into()
            }
            Failure::Status(code) => format!("HTTP status code error: {code}").into(),
            Failure::Digest(got) => format!("MD5 digest error: {got}").into(),
            Failure::Regex { matched: true } => {
                "Regex match failed: it matched (regex_no_match)".into()
            }
            Failure::Regex { matched: false } => "Regex match failed: no match".into(),
        }
    }
}

/// An answer being received: the header until its end is found, then the
/// running digest and, for a regex, the subject.
pub struct Answer {
    /// The answer's first bytes: the header (at most [`HEAD_LIMIT`] until
    /// its end is found), then, for a regex, the body up to [`SUBJECT_LIMIT`].
    kept: Vec<u8>,
    /// Where the body starts, once the header's end is found.
    body_start: Option<usize>,
    /// Bytes received in all.
    received: u64,
    /// Body bytes received.
    body_len: u64,
    /// `Content-Length`, if the header has one keepalived would read.
    content_length: Option<u64>,
    status: u16,
    /// The MD5 of the body so far, when the url has a `digest`.
    md5: Option<md5::Context>,
    /// Whether the body is kept (the url has a `regex`).
    keep_body: bool,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("received", &self.received)
            .field("body_start", &self.body_start)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Answer {
    /// Ready for the answer to `url`.
    pub fn new(url: &Url) -> Answer {
        let mut answer = Answer {
            kept: Vec::with_capacity(1024),
            body_start: None,
            received: 0,
            body_len: 0,
            content_length: None,
            status: 0,
            md5: None,
            keep_body: false,
        };
        answer.restart(url);
        answer
    }

    /// Ready for the answer to `url` again, keeping the buffer's room (an
    /// exchange slot of the prober reuses its answer, attempt after attempt).
    pub fn restart(&mut self, url: &Url) {
        self.kept.clear();
        if self.kept.capacity() > KEEP_ROOM {
            // A long answer kept for a regex: its room is not held on to.
            self.kept = Vec::with_capacity(1024);
        }
        self.body_start = None;
        self.received = 0;
        self.body_len = 0;
        self.content_length = None;
        self.status = 0;
        self.md5 = url.digest.as_ref().map(|_| md5::Context::new());
        self.keep_body = url.regex.is_some();
    }

    /// How much room the answer holds for its bytes (tests).
    #[cfg(test)]
    pub(super) fn kept_room(&self) -> usize {
        self.kept.capacity()
    }

    /// Takes the next bytes of the answer.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.received += bytes.len() as u64;
        if self.body_start.is_some() {
            self.body(bytes);
            return;
        }
        // keepalived's buffer, once full without a header end, can never
        // find one: the rest is read and dropped.
        let take = bytes.len().min(HEAD_LIMIT - self.kept.len());
        let from = self.kept.len().saturating_sub(3);
        self.kept.extend_from_slice(&bytes[..take]);
        if let Some(at) = find(&self.kept[from..], b"\r\n\r\n") {
            let end = from + at + 4;
            self.body_start = Some(end);
            self.read_head(end);
            let early = self.kept.split_off(end);
            self.body(&early);
            self.body(&bytes[take..]);
        }
    }

    fn body(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(md5) = &mut self.md5 {
            let room = self
                .content_length
                .map_or(u64::MAX, |cl| cl.saturating_sub(self.body_len));
            let n = usize::try_from(room).map_or(bytes.len(), |room| room.min(bytes.len()));
            md5.consume(&bytes[..n]);
        }
        self.body_len += bytes.len() as u64;
        if self.keep_body {
            let room = SUBJECT_LIMIT.saturating_sub(self.kept.len());
            self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    /// Reads the status code and `Content-Length` from the header.
    fn read_head(&mut self, end: usize) {
        let head = &self.kept[..end];
        self.status = status_code(head);
        // keepalived's strstr stops at a NUL byte.
        let text = &head[..memchr::memchr(0, head).unwrap_or(head.len())];
        self.content_length =
            find(text, b"Content-Length:").and_then(|at| content_length(&text[at + 15..]));
    }

    /// The verdict once the server has closed the connection (the digest
    /// is taken: call [`Answer::restart`] before feeding it again).
    pub fn verdict(&mut self, url: &Url) -> Result<(), Failure> {
        if self.body_start.is_none() {
            return Err(Failure::NoHeader {
                received: self.received,
            });
        }
        let accepted = (100..=599).contains(&self.status)
            && url
                .status_codes
                .iter()
                .any(|&(low, high)| (low..=high).contains(&self.status));
        if !accepted {
            return Err(Failure::Status(self.status));
        }
        if let (Some(want), Some(md5)) = (&url.digest, self.md5.take()) {
            let got = hex(md5.finalize().0);
            if !got.eq_ignore_ascii_case(want.as_bytes()) {
                return Err(Failure::Digest(String::from_utf8_lossy(&got).into_owned()));
            }
        }
        if let Some(rx) = &url.regex {
            let matched = rx
                .regex
                .first_match_at(&self.kept, rx.min_offset)
                .is_some_and(|start| rx.max_offset.is_none_or(|max| start <= max));
            if matched == rx.no_match {
                return Err(Failure::Regex { matched });
            }
        }
        Ok(())
    }
}

/// Judges a complete answer to `url`.
pub fn judge(url: &Url, answer: &[u8]) -> Result<(), Failure> {
    let mut a = Answer::new(url);
    a.feed(answer);
    a.verdict(url)
}

/// The status code as keepalived reads it: after the first space (if it
/// comes before any `\r`), exactly three digits then a space; 0 otherwise.
fn status_code(head: &[u8]) -> u16 {
    let Some(space) = head.iter().position(|&b| b == b' ' || b == b'\r') else {
        return 0;
    };
    if head[space] != b' ' {
        return 0;
    }
    match head.get(space + 1..space + 5) {
        Some([a, b, c, b' ']) if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => 0,
    }
}

/// `Content-Length`'s value as C's `strtoul` reads it, accepted only if it
/// ends the line: blanks (newlines too) are skipped first, a sign is
/// allowed (a negative value wraps, i.e. no cap), and no digits at all give
/// 0 if the blanks ran to the end of the line.
fn content_length(after: &[u8]) -> Option<u64> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let start = after
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(after.len());
    let mut i = start;
    let negative = match after.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = after[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        // strtoul leaves `end` at the very start: the byte after the colon.
        return match after.first() {
            None | Some(b'\r' | b'\n') => Some(0),
            Some(_) => None,
        };
    }
    let mut value: u64 = 0;
    for &d in &after[i..i + digits] {
        value = value.saturating_mul(10).saturating_add(u64::from(d - b'0'));
    }
    match after.get(i + digits) {
        None | Some(b'\r' | b'\n') => Some(if negative {
            value.wrapping_neg()
        } else {
            value
        }),
        Some(_) => None,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// A digest as keepalived writes it: 32 lowercase hex digits.
fn hex(digest: [u8; 16]) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0; 32];
    for (pair, byte) in out.chunks_exact_mut(2).zip(digest) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
    out
}

/// One fuzz input (the `http_answer` fuzz target and the corpus replay
/// test): byte 0 picks the url's rules (digest, regex, offsets, status
/// codes), byte 1 the read size, the rest is the answer. Panics if the
/// verdict depends on how the answer was split into reads.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    use crate::config::{HttpRegex, UrlRegex};
    let (Some(&rules), Some(&piece)) = (data.first(), data.get(1)) else {
        return;
    };
    let answer = &data[2..];
    let mut url = Url::new("/");
    if rules & 1 != 0 {
        url.digest = Some("5d41402abc4b2a76b9719d911017c592".into());
    }
    if rules & 2 != 0 {
        url.regex = HttpRegex::compile(r"(?<=\n)ok\d*", &[], None)
            .ok()
            .map(|regex| UrlRegex {
                regex,
                no_match: rules & 4 != 0,
                min_offset: usize::from(rules >> 4),
                max_offset: (rules & 8 != 0).then_some(usize::from(rules)),
            });
    }
    if rules & 16 != 0 {
        url.status_codes = vec![(100, 199), (404, 404)];
    }
    let whole = judge(&url, answer);
    let mut split = Answer::new(&url);
    for chunk in answer.chunks(usize::from(piece).max(1)) {
        split.feed(chunk);
    }
    assert_eq!(
        split.verdict(&url),
        whole,
        "the verdict depends on the reads"
    );
}
