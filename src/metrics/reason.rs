//! Why a check failed, as a fixed set of label values.
//!
//! A probe's result carries its reason as free text for people ("connection
//! failed: Connection refused (os error 111)", "/health: HTTP status code
//! error: 503"). A label must not take free text (every distinct string would
//! be a new series), so `lvsd_check_failures_total` maps each reason onto one
//! of the values below. The mapping reads the text the checkers write
//! (`src/checker/*.rs`); the tests here hold one real reason of each checker,
//! so a reworded reason that would fall into `other` is noticed.
//!
//! | value | what failed | checkers |
//! |---|---|---|
//! | `timeout` | nothing (or not all) came within `connect_timeout` / the script's timeout | all with a timeout |
//! | `refused` | the connection was refused (RST to the SYN) | TCP-based |
//! | `reset` | the connection was reset or broke during the exchange | TCP-based |
//! | `unreachable` | no route, host or port unreachable (ICMP) | all network |
//! | `bad_status` | `HTTP_GET`/`SSL_GET`: a status code not accepted | http, ssl |
//! | `regex` | the body did (not) match `regex` | http, ssl |
//! | `digest` | the body's MD5 differs from `digest` | http, ssl |
//! | `tls` | the TLS handshake failed | ssl |
//! | `dns` | `DNS_CHECK`: an answer with an error RCODE | dns |
//! | `bad_reply` | a reply that is not the expected one (SMTP code, UDP payload, echo, HTTP header) | smtp, udp, ping, http |
//! | `no_reply` | the peer closed or sent nothing | http, smtp, udp |
//! | `script_exit` | `MISC_CHECK`: a non-zero exit status | misc |
//! | `script_signal` | `MISC_CHECK`: the script was killed by a signal | misc |
//! | `file` | `FILE_CHECK`: the file holds 0 (or is unreadable) | file |
//! | `local_error` | lvsd could not run the check (socket setup, script not runnable, kind not probed) | all |
//! | `other` | anything else | — |

use prometheus_client::encoding::EncodeLabelValue;

use super::kind::CheckKind;

/// A failure reason, as the `reason` label writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum FailureReason {
    /// Nothing within the timeout.
    timeout,
    /// Connection refused.
    refused,
    /// Connection reset or broken.
    reset,
    /// No route, host or port unreachable.
    unreachable,
    /// An HTTP status not accepted.
    bad_status,
    /// The regex did (not) match.
    regex,
    /// The MD5 digest differs.
    digest,
    /// The TLS handshake failed.
    tls,
    /// A DNS answer with an error RCODE.
    dns,
    /// A reply that is not the expected one.
    bad_reply,
    /// Nothing came back, or the peer closed.
    no_reply,
    /// A script's non-zero exit.
    script_exit,
    /// A script killed by a signal.
    script_signal,
    /// A tracked file holding 0.
    file,
    /// lvsd could not run the check.
    local_error,
    /// Anything else.
    other,
}

impl FailureReason {
    /// How many values there are (for per-reason arrays).
    pub const COUNT: usize = 16;

    /// Every value, in the order of their discriminants.
    pub const ALL: [FailureReason; Self::COUNT] = [
        FailureReason::timeout,
        FailureReason::refused,
        FailureReason::reset,
        FailureReason::unreachable,
        FailureReason::bad_status,
        FailureReason::regex,
        FailureReason::digest,
        FailureReason::tls,
        FailureReason::dns,
        FailureReason::bad_reply,
        FailureReason::no_reply,
        FailureReason::script_exit,
        FailureReason::script_signal,
        FailureReason::file,
        FailureReason::local_error,
        FailureReason::other,
    ];

    /// The value for a failed result of a `kind` check whose reason is
    /// `text`. Allocation-free: a few substring searches in a short string.
    pub fn classify(kind: CheckKind, text: &str) -> FailureReason {
        let has = |needle: &str| contains_ignore_case(text, needle);
        match kind {
            CheckKind::file => return FailureReason::file,
            CheckKind::misc => {
                return if has("timed out") {
                    FailureReason::timeout
                } else if has("killed by a signal") {
                    FailureReason::script_signal
                } else if has("exit status") {
                    FailureReason::script_exit
                } else {
                    FailureReason::local_error
                };
            }
            _ => {}
        }
        if has("cannot ") || has("not probed") || has("no url to check") {
            FailureReason::local_error
        } else if has("(rcode ") {
            FailureReason::dns
        } else if has("within") || has("timed out") {
            FailureReason::timeout
        } else if has("refused") {
            FailureReason::refused
        } else if has("reset") || has("broken pipe") {
            FailureReason::reset
        } else if has("unreachable") || has("no route") {
            FailureReason::unreachable
        } else if has("http status code error") {
            FailureReason::bad_status
        } else if has("regex match failed") {
            FailureReason::regex
        } else if has("digest error") {
            FailureReason::digest
        } else if has("tls") {
            FailureReason::tls
        } else if has("no data received") || has("no reply") || has("no answer") {
            FailureReason::no_reply
        } else if has("expected")
            || has("reply")
            || has("shorter than")
            || has("longer than")
            || has("echo")
        {
            FailureReason::bad_reply
        } else {
            FailureReason::other
        }
    }
}

/// Whether `hay` contains `needle` (ASCII lower case), ignoring ASCII case.
fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    hay.windows(needle.len()).any(|w| {
        w.iter()
            .zip(needle)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
}

#[cfg(test)]
mod tests {
    use super::CheckKind as K;
    use super::FailureReason as R;

    /// Real reasons, as the checkers write them.
    #[test]
    fn every_checker_s_reasons_map_onto_a_fixed_value() {
        let cases: &[(K, &str, R)] = &[
            (
                K::tcp,
                "connection failed: Connection refused (os error 111)",
                R::refused,
            ),
            (K::tcp, "no answer within 2 s", R::timeout),
            (
                K::tcp,
                "connection failed: No route to host (os error 113)",
                R::unreachable,
            ),
            (
                K::tcp,
                "connection failed: Network is unreachable (os error 101)",
                R::unreachable,
            ),
            (
                K::tcp,
                "cannot set up the probe socket (bind): Address in use",
                R::local_error,
            ),
            (
                K::http,
                "/health: HTTP status code error: 503",
                R::bad_status,
            ),
            (
                K::http,
                "/: MD5 digest error: 5d41402abc4b2a76b9719d911017c592",
                R::digest,
            ),
            (K::http, "/: Regex match failed: no match", R::regex),
            (K::http, "/: Read, no data received", R::no_reply),
            (
                K::http,
                "/: Read error: Connection reset by peer (os error 104)",
                R::reset,
            ),
            (K::http, "no answer within 1.5 s", R::timeout),
            (
                K::ssl,
                "/: TLS handshake failed: received corrupt message",
                R::tls,
            ),
            (
                K::ssl,
                "/: TLS handshake not finished within 3 s",
                R::timeout,
            ),
            (K::smtp, "expected 220, got \"554 go away\"", R::bad_reply),
            (K::smtp, "no reply line within 2 s", R::timeout),
            (K::dns, "answered SERVFAIL (rcode 2)", R::dns),
            (K::dns, "answered REFUSED (rcode 5)", R::dns),
            (
                K::udp,
                "ICMP destination unreachable (type 3 code 3)",
                R::unreachable,
            ),
            (K::udp, "no reply within 1 s", R::timeout),
            (K::udp, "reply longer than 4 bytes", R::bad_reply),
            (
                K::ping,
                "no echo reply within 1 s (ping socket)",
                R::timeout,
            ),
            (K::ping, "echo reply with seq 8, expected 9", R::bad_reply),
            (K::misc, "exit status 1", R::script_exit),
            (K::misc, "killed by a signal (signal: 9)", R::script_signal),
            (K::misc, "timed out after 2 s", R::timeout),
            (
                K::misc,
                "cannot run /bin/nope: No such file or directory",
                R::local_error,
            ),
            (K::file, "/run/w holds 0", R::file),
            (K::bfd, "BFD_CHECK is not probed by lvsd", R::local_error),
            (K::tcp, "something new", R::other),
        ];
        for (kind, text, want) in cases {
            assert_eq!(R::classify(*kind, text), *want, "{kind:?} {text:?}");
        }
    }

    #[test]
    fn all_lists_every_value_in_discriminant_order() {
        for (i, r) in R::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
