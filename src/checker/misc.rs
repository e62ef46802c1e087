//! `MISC_CHECK`: run a command; its exit status is the verdict.
//!
//! - `misc_path` is split on whitespace into program and arguments and run
//!   directly (no shell), like keepalived does. Write `sh -c '…'` logic into
//!   a script if you need a shell.
//! - `misc_timeout` (default: `delay_loop`) bounds the run; on expiry the
//!   process is killed and the probe fails.
//! - Exit 0 is up, anything else down. With `misc_dynamic`, as in
//!   keepalived, 0 is up with the weight unchanged, 1 down, and 2–255 up
//!   with weight `code - 2`: the result carries that weight
//!   ([`crate::checker::ProbeResult::weight`]) and the reconciler gives it
//!   to every real server the check serves, until another one comes.
//! - The command runs as the check's `user USER [GROUP]`, else as
//!   `script_user`, else as `keepalived_script` if that user exists, else
//!   as lvsd's own user; with `enable_script_security`, a command that would
//!   run as root from a path others can write is refused (see
//!   [`crate::script_policy`]). A refused command, or an unknown user or
//!   group, is a failed probe whose reason says why; the user is looked up
//!   at each run, so an account created later is picked up (the config load
//!   already warns, at the `user` line, when it is missing).

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;
use tokio::time::timeout;

use super::probe::seconds;
use crate::config::MiscCheck;
use crate::script_policy::{AccountError, RunAs, ScriptPolicy};

/// Who runs the check's command under `policy`: its own `user` first.
pub fn run_as(check: &MiscCheck, policy: &ScriptPolicy) -> Result<Option<RunAs>, AccountError> {
    policy.run_as(check.user.as_deref())
}

/// Runs the check's command once under `policy`: (up?, reason, the weight
/// asked for with `misc_dynamic`).
pub async fn run(check: &MiscCheck, policy: &ScriptPolicy) -> (bool, String, Option<u32>) {
    // Quotes group words, as keepalived splits misc_path:
    // `/bin/sh -c 'test -e /run/ok'` is three words.
    let words = crate::daemon::scripts::split_words(&check.path);
    let mut words = words.iter();
    let Some(program) = words.next() else {
        return (false, "misc_path is empty".into(), None);
    };
    let ids = match run_as(check, policy) {
        Ok(ids) => ids,
        Err(e) => return (false, format!("MISC_CHECK user: {e}"), None),
    };
    if let Some(refusal) = policy.refusal(ids, Path::new(program)) {
        return (false, refusal, None);
    }
    let limit = check.timeout.unwrap_or(check.common.delay_loop.duration());
    let mut command = Command::new(program);
    if let Some(ids) = ids {
        // As root, std also drops the supplementary groups before setuid.
        command.uid(ids.uid).gid(ids.gid);
    }
    let child = command
        .args(words)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            let why = crate::capability::script_spawn_error(program, &e, ids.is_some());
            return (false, why, None);
        }
    };
    let status = match timeout(limit, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return (false, format!("waiting for {program}: {e}"), None),
        Err(_) => {
            // kill_on_drop would do it too; this also reaps it promptly.
            let _ = child.kill().await;
            return (false, format!("timed out after {}", seconds(limit)), None);
        }
    };
    let (up, reason, weight) = verdict(status.code(), check.dynamic);
    (
        up,
        reason.unwrap_or_else(|| format!("killed by a signal ({status})")),
        weight,
    )
}

/// What an exit status means: (up?, reason, the weight asked for). With
/// `misc_dynamic`, keepalived reads 0 as up with the weight unchanged, 1 as
/// down, and 2–255 as up with weight status − 2. `None` as the status (a
/// signal) is down, with no reason here (the caller names the signal).
fn verdict(code: Option<i32>, dynamic: bool) -> (bool, Option<String>, Option<u32>) {
    match (code, dynamic) {
        (Some(0), _) => (true, Some("exit status 0".into()), None),
        (Some(code @ 2..=255), true) => {
            let weight = code as u32 - 2;
            (
                true,
                Some(format!("exit status {code}: weight {weight}")),
                Some(weight),
            )
        }
        (Some(code), _) => (false, Some(format!("exit status {code}")), None),
        (None, _) => (false, None, None),
    }
}
