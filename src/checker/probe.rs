//! One probe attempt of the check kinds that run on tokio, bounded in time.
//!
//! `TCP_CHECK` attempts run on the engine's prober thread itself (see
//! `driver.rs` and `tcp.rs`): they are the bulk of all probes and need
//! nothing but a socket and epoll. The prober hands the other kinds
//! (`HTTP_GET`, `SSL_GET`, `MISC_CHECK`) to tokio, which runs [`attempt`] and sends the
//! [`ProbeResult`] back. Kinds lvsd cannot probe yet are recognised by
//! [`is_supported`]: the config refuses them, and the engine reports any
//! that reach it down without probing.

use std::time::Duration;

use std::time::Instant;

use super::{http, misc, ProbeResult};
use crate::config::Check;
use crate::script_policy::ScriptPolicy;

/// Whether lvsd probes this kind of check. The config refuses the kinds it
/// does not (see [`Check::is_probed`]); should one reach the engine anyway,
/// it is reported **down**, never up.
pub fn is_supported(check: &Check) -> bool {
    check.is_probed()
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

/// Runs one probe of an `HTTP_GET` or `MISC_CHECK` check, never longer than
/// its time limit, with the default [`ScriptPolicy`] (no `script_user`, no
/// `enable_script_security`). See [`attempt_with`].
pub async fn attempt(check: &Check) -> ProbeResult {
    attempt_with(check, &ScriptPolicy::default()).await
}

/// Runs one probe of an `HTTP_GET` or `MISC_CHECK` check, never longer than
/// its time limit; a `MISC_CHECK` command runs under `policy`. `TCP_CHECK`
/// runs on the prober thread, not here, and unsupported kinds fail: both are
/// answered without probing.
pub async fn attempt_with(check: &Check, policy: &ScriptPolicy) -> ProbeResult {
    let started = Instant::now();
    match check {
        Check::Http(http_check) => {
            let (ok, reason) = http::run(http_check).await;
            result(ok, reason, started)
        }
        Check::Misc(misc_check) => {
            let (ok, reason, weight) = misc::run(misc_check, policy).await;
            ProbeResult {
                weight,
                ..result(ok, reason, started)
            }
        }
        Check::Tcp(_) => result(
            false,
            "TCP_CHECK is probed by the engine's prober thread",
            started,
        ),
        other => result(false, unsupported_reason(other), started),
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
