//! One probe attempt of any supported check kind, bounded in time.
//!
//! The engine calls [`attempt`] whenever a probe is due and applies the
//! schedule rules to its [`ProbeResult`]. Kinds lvsd cannot probe yet are
//! recognised by [`is_supported`]; the engine reports those up without
//! probing (see `engine.rs`).

use std::time::Duration;

use tokio::time::{timeout, Instant};

use super::{http, misc, tcp, ProbeResult};
use crate::config::Check;

/// The outcome of one attempt: the result, and for a TCP success the open
/// connection, still to be closed (after the verdict is reported).
#[derive(Debug)]
pub struct Attempt {
    /// Pass or fail, and why.
    pub result: ProbeResult,
    /// The connection a successful TCP probe opened.
    pub connection: Option<tcp::Connection>,
}

/// Whether lvsd probes this kind of check (otherwise it is reported up).
pub fn is_supported(check: &Check) -> bool {
    match check {
        Check::Tcp(_) | Check::Misc(_) => true,
        Check::Http(http_check) => !http_check.tls,
        _ => false,
    }
}

/// What a check probes, for logs: `10.0.0.1:80`, `[2001:db8::1]:80`, or a
/// script's command line.
pub fn target(check: &Check) -> String {
    match check {
        Check::Misc(m) => m.path.clone(),
        other => {
            let c = other.common();
            std::net::SocketAddr::new(c.connect_ip, c.connect_port).to_string()
        }
    }
}

/// Runs one probe of `check`, never longer than its time limit.
pub async fn attempt(check: &Check) -> Attempt {
    let started = Instant::now();
    match check {
        Check::Tcp(tcp_check) => {
            let limit = tcp_check.common.connect_timeout;
            match timeout(limit, tcp::connect(&tcp_check.common)).await {
                Ok(Ok(connection)) => Attempt {
                    result: result(true, "connected".into(), started),
                    connection: Some(connection),
                },
                Ok(Err(e)) => failed(e.to_string(), started),
                Err(_) => failed(format!("no answer within {}", seconds(limit)), started),
            }
        }
        Check::Http(http_check) if !http_check.tls => {
            // Boxed, like misc: an HTTP exchange's state is kilobytes, and
            // without the box every attempt (TCP ones too) would be that size.
            let (ok, reason) = Box::pin(http::run(http_check)).await;
            Attempt {
                result: result(ok, reason, started),
                connection: None,
            }
        }
        Check::Misc(misc_check) => {
            let (ok, reason) = Box::pin(misc::run(misc_check)).await;
            Attempt {
                result: result(ok, reason, started),
                connection: None,
            }
        }
        other => Attempt {
            result: result(true, unsupported_reason(other), started),
            connection: None,
        },
    }
}

/// The reason reported for a check kind lvsd does not probe.
pub fn unsupported_reason(check: &Check) -> String {
    format!(
        "{} is not supported by lvsd yet: considered up without probing",
        check.keyword()
    )
}

fn failed(reason: String, started: Instant) -> Attempt {
    Attempt {
        result: result(false, reason, started),
        connection: None,
    }
}

fn result(ok: bool, reason: String, started: Instant) -> ProbeResult {
    ProbeResult {
        ok,
        reason,
        latency: started.elapsed(),
    }
}

/// `2 s`, `1.5 s`, `200 ms`: how a timeout is written in reasons.
pub fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}
