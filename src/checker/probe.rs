//! One probe attempt of the check kinds that run on tokio, bounded in time.
//!
//! `TCP_CHECK` attempts run on the engine's prober thread itself (see
//! `driver.rs` and `tcp.rs`): they are the bulk of all probes and need
//! nothing but a socket and epoll; so do `UDP_CHECK`, `PING_CHECK` and
//! `DNS_CHECK` (`datagram.rs`) and `HTTP_GET` (`driver/web.rs`, the
//! machine of `http.rs`, with its TLS layer for `SSL_GET`). The prober
//! hands the other kinds (`MISC_CHECK`, `SMTP_CHECK`) to tokio, which runs
//! [`attempt`] and sends the [`ProbeResult`] back. [`attempt`] runs every
//! kind but `TCP_CHECK`, for one-off probes and tests (an `HTTP_GET` or
//! `SSL_GET` through the same machine as the prober's, driven by tokio:
//! [`http::attempt`]). Kinds lvsd cannot probe yet
//! are recognised by [`is_supported`]: the config refuses them, and the
//! engine reports any that reach it down without probing.

use std::time::Duration;

use std::time::Instant;

use super::{dns, http, misc, ping, smtp, udp, ProbeResult};
use crate::config::Check;
use crate::script_policy::ScriptPolicy;

/// Whether lvsd probes this kind of check. The config refuses the kinds it
/// does not (see [`Check::is_probed`]); should one reach the engine anyway,
/// it is reported **down**, never up.
pub fn is_supported(check: &Check) -> bool {
    check.is_probed()
}

/// What a check probes, for logs: `10.0.0.1:80`, `[2001:db8::1]:80`, a
/// script's command line, or a tracked file's path.
pub fn target(check: &Check) -> String {
    match check {
        Check::Misc(m) => m.path.clone(),
        Check::File(f) => f.path.display().to_string(),
        Check::Ping(p) => p.common.connect_ip.to_string(),
        other => {
            let c = other.common();
            std::net::SocketAddr::new(c.connect_ip, c.connect_port).to_string()
        }
    }
}

/// Runs one probe of a check that runs on tokio, never longer than its
/// time limit, with the default [`ScriptPolicy`] (no `script_user`, no
/// `enable_script_security`). See [`attempt_with`].
pub async fn attempt(check: &Check) -> ProbeResult {
    attempt_with(check, &ScriptPolicy::default()).await
}

/// Runs one probe of an `HTTP_GET`, `MISC_CHECK`, `UDP_CHECK` or
/// `PING_CHECK` check, never longer than its time limit; a `MISC_CHECK` command runs under `policy`. `TCP_CHECK`
/// runs on the prober thread, not here, and unsupported kinds fail: both are
/// answered without probing.
pub async fn attempt_with(check: &Check, policy: &ScriptPolicy) -> ProbeResult {
    attempt_url(check, 0, policy).await
}

/// [`attempt_with`], for url number `url` of an `HTTP_GET` (one url per
/// attempt, as keepalived: the schedule says which).
pub async fn attempt_url(check: &Check, url: usize, policy: &ScriptPolicy) -> ProbeResult {
    let started = Instant::now();
    match check {
        Check::Http(http_check) => {
            let attempt = http::attempt(http_check, url).await;
            result(attempt.passed, attempt.reason, started)
        }
        Check::Misc(misc_check) => {
            let (ok, reason, weight) = misc::run(misc_check, policy).await;
            ProbeResult {
                weight: weight.map(super::WeightAsk::Set),
                ..result(ok, reason, started)
            }
        }
        Check::Smtp(smtp_check) => {
            let (ok, reason) = smtp::run(smtp_check).await;
            result(ok, reason, started)
        }
        Check::Dns(dns_check) => {
            let (ok, reason) = dns::run(dns_check).await;
            result(ok, reason, started)
        }
        Check::Udp(udp_check) => {
            let (ok, reason) = udp::run(udp_check).await;
            result(ok, reason, started)
        }
        Check::Ping(ping_check) => {
            let (ok, reason) = ping::run(ping_check).await;
            result(ok, reason, started)
        }
        Check::Tcp(_) => result(
            false,
            "TCP_CHECK is probed by the engine's prober thread",
            started,
        ),
        Check::File(_) => result(false, "FILE_CHECK is reported by the file watcher", started),
        Check::Bfd(_) => result(false, "BFD_CHECK is reported by its BFD session", started),
    }
}

/// The reason reported for a check kind lvsd does not probe.
pub fn unsupported_reason(check: &Check) -> String {
    format!("{} is not probed by lvsd: considered down", check.keyword())
}

pub(super) fn result(
    ok: bool,
    reason: impl Into<std::borrow::Cow<'static, str>>,
    started: Instant,
) -> ProbeResult {
    ProbeResult {
        ok,
        reason: reason.into(),
        latency: started.elapsed(),
        weight: None,
    }
}

/// Registers a probe's socket with tokio for `interest` (`UDP_CHECK`,
/// `PING_CHECK`); dropping the result closes the socket.
pub(super) fn watch(
    socket: socket2::Socket,
    interest: tokio::io::Interest,
) -> std::io::Result<tokio::io::unix::AsyncFd<socket2::Socket>> {
    // SAFETY: the Socket owns its fd, and the AsyncFd owns the Socket: the
    // fd stays open and the same until the AsyncFd (and its registration)
    // is dropped.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(socket, interest) }
        .map_err(|e| e.into_parts().1)
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
