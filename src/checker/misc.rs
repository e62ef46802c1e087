//! `MISC_CHECK`: run a command; its exit status is the verdict.
//!
//! - `misc_path` is split on whitespace into program and arguments and run
//!   directly (no shell), like keepalived does. Write `sh -c '…'` logic into
//!   a script if you need a shell.
//! - `misc_timeout` (default: `delay_loop`) bounds the run; on expiry the
//!   process is killed and the probe fails.
//! - Exit 0 is up, anything else down. With `misc_dynamic`, keepalived reads
//!   1 as down and 2–255 as up with weight `code - 2`: lvsd reports those up
//!   and says the weight in the reason, but does not change weights yet.
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
    let own = check.user.as_deref();
    policy.run_as(own.map(|(user, group)| (user.as_str(), group.as_deref())))
}

/// Runs the check's command once under `policy`: (up?, reason).
pub async fn run(check: &MiscCheck, policy: &ScriptPolicy) -> (bool, String) {
    let mut words = check.path.split_whitespace();
    let Some(program) = words.next() else {
        return (false, "misc_path is empty".into());
    };
    let ids = match run_as(check, policy) {
        Ok(ids) => ids,
        Err(e) => return (false, format!("MISC_CHECK user: {e}")),
    };
    if let Some(refusal) = policy.refusal(ids, Path::new(program)) {
        return (false, refusal);
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
        Err(e) => return (false, format!("cannot run {program}: {e}")),
    };
    let status = match timeout(limit, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return (false, format!("waiting for {program}: {e}")),
        Err(_) => {
            // kill_on_drop would do it too; this also reaps it promptly.
            let _ = child.kill().await;
            return (false, format!("timed out after {}", seconds(limit)));
        }
    };
    match (status.code(), check.dynamic) {
        (Some(0), _) => (true, "exit status 0".into()),
        (Some(code @ 2..=255), true) => (
            true,
            format!("exit status {code}: up, weight {} (not applied)", code - 2),
        ),
        (Some(code), _) => (false, format!("exit status {code}")),
        (None, _) => (false, format!("killed by a signal ({status})")),
    }
}
