//! Running `notify_up`, `notify_down`, `quorum_up` and `quorum_down`.
//!
//! A script runs on its own task with a timeout, so a failing or hanging
//! script never delays a probe. Its line is split into words (quotes group
//! words, as keepalived does) and executed directly; only a line that needs a
//! shell (a pipe, a redirection, `$`, `;`, `&&`...) goes through `/bin/sh -c`.
//! Who runs them, and when `enable_script_security` refuses one, is
//! [`crate::script_policy`]'s rule (here: `script_user`, else
//! `keepalived_script` if it exists, else lvsd's user).

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;

pub use crate::script_policy::{insecure_reason, ScriptPolicy};

/// How long a script may run before it is killed.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `line` needs a shell to mean what it says.
pub fn needs_shell(line: &str) -> bool {
    line.contains(['|', '&', ';', '<', '>', '$', '`', '*', '?', '(', ')'])
}

/// Split a command line into words: blanks separate, quotes group.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Start `line` on its own task; the outcome is logged.
pub fn spawn(line: String, event: &'static str, subject: String, policy: ScriptPolicy) {
    tokio::spawn(async move {
        match run(&line, &policy).await {
            Ok(status) if status.success() => {
                tracing::info!(script = ?line, event = %event, subject = %subject, "script ran")
            }
            Ok(status) => {
                tracing::warn!(script = ?line, event = %event, subject = %subject, %status, "script failed")
            }
            Err(e) => {
                tracing::error!(script = ?line, event = %event, subject = %subject, error = %e, "script not run")
            }
        }
    });
}

/// Run `line` to completion (or its timeout) under `policy`.
pub async fn run(line: &str, policy: &ScriptPolicy) -> Result<std::process::ExitStatus, String> {
    let words = split_words(line);
    let Some(program) = words.first() else {
        return Err("empty script line".into());
    };
    if let Some(refusal) = policy.refusal(policy.user, Path::new(program)) {
        return Err(refusal);
    }
    let mut cmd = if needs_shell(line) {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(line);
        c
    } else {
        let mut c = Command::new(program);
        c.args(&words[1..]);
        c
    };
    if let Some(ids) = policy.user {
        // As root, std also drops the supplementary groups before setuid.
        cmd.uid(ids.uid).gid(ids.gid);
    }
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| crate::capability::script_spawn_error(program, &e, policy.user.is_some()))?;
    match tokio::time::timeout(SCRIPT_TIMEOUT, child.wait()).await {
        Ok(status) => status.map_err(|e| e.to_string()),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!("killed after {} s", SCRIPT_TIMEOUT.as_secs()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_keepalived() {
        assert_eq!(
            split_words(r#"/bin/notify.sh UP "10.0.0.1:80 -> 192.0.2.1:80" 'a b'"#),
            vec!["/bin/notify.sh", "UP", "10.0.0.1:80 -> 192.0.2.1:80", "a b"]
        );
        assert!(!needs_shell("/bin/notify.sh UP 10.0.0.1"));
        assert!(needs_shell("/bin/echo up >> /tmp/log"));
    }

    #[tokio::test]
    async fn scripts_run_with_their_arguments_and_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let line = format!(
            "/bin/sh -c 'echo \"$0 $1\" > {}' first second",
            out.display()
        );
        let status = run(&line, &ScriptPolicy::default()).await.unwrap();
        assert!(status.success());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "first second\n");
        let status = run("/bin/false", &ScriptPolicy::default()).await.unwrap();
        assert!(!status.success());
        assert!(run("/nonexistent/script", &ScriptPolicy::default())
            .await
            .is_err());
    }
}
