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
//! - Not done yet: `user` (the command runs as lvsd's own user).

use std::process::Stdio;

use tokio::process::Command;
use tokio::time::timeout;

use super::probe::seconds;
use crate::config::MiscCheck;

/// Runs the check's command once: (up?, reason).
pub async fn run(check: &MiscCheck) -> (bool, String) {
    let mut words = check.path.split_whitespace();
    let Some(program) = words.next() else {
        return (false, "misc_path is empty".into());
    };
    let limit = check.timeout.unwrap_or(check.common.delay_loop.duration());
    let child = Command::new(program)
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
