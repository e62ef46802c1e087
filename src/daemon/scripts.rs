//! Running `notify_up`, `notify_down`, `quorum_up` and `quorum_down`.
//!
//! A script runs on its own task with a timeout, so a failing or hanging
//! script never delays a probe. Its line is split into words (quotes group
//! words, as keepalived does) and executed directly; only a line that needs a
//! shell (a pipe, a redirection, `$`, `;`, `&&`...) goes through `/bin/sh -c`.
//! Scripts run as `script_user` when set, and `enable_script_security`
//! refuses, when running as root, a script that a non-root user could change.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use tokio::process::Command;

/// How long a script may run before it is killed.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Who runs scripts, and how strictly they are checked.
#[derive(Debug, Clone, Default)]
pub struct ScriptPolicy {
    /// uid/gid from `script_user`, or None for this process's own.
    pub user: Option<(u32, u32)>,
    /// `enable_script_security`.
    pub secure: bool,
}

impl ScriptPolicy {
    /// The policy `global_defs` asks for; an unknown user is an error.
    pub fn from_config(global: &crate::config::GlobalDefs) -> Result<Self, String> {
        let user = match &global.script_user {
            Some((user, group)) => Some(lookup_user(user, group.as_deref())?),
            None => None,
        };
        Ok(ScriptPolicy {
            user,
            secure: global.enable_script_security,
        })
    }
}

fn lookup_user(user: &str, group: Option<&str>) -> Result<(u32, u32), String> {
    let name = CString::new(user).map_err(|_| format!("bad user name {user:?}"))?;
    // SAFETY: getpwnam returns a pointer to static storage or null; we copy
    // the two ids out at once, on the one thread that looks users up.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(format!("script_user: no user {user:?}"));
    }
    // SAFETY: checked non-null above.
    let (uid, mut gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    if let Some(group) = group {
        let gname = CString::new(group).map_err(|_| format!("bad group name {group:?}"))?;
        // SAFETY: as above, for getgrnam.
        let gr = unsafe { libc::getgrnam(gname.as_ptr()) };
        if gr.is_null() {
            return Err(format!("script_user: no group {group:?}"));
        }
        // SAFETY: checked non-null above.
        gid = unsafe { (*gr).gr_gid };
    }
    Ok((uid, gid))
}

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

/// Why a script may not run under `enable_script_security`: it, or a
/// directory above it, is writable by someone other than root.
pub fn insecure_reason(program: &Path) -> Option<String> {
    let mut path = Some(program);
    while let Some(p) = path {
        if let Ok(meta) = std::fs::metadata(p) {
            let mode = meta.mode();
            let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
            if meta.uid() != 0
                || (mode & 0o002 != 0 && !sticky_dir)
                || (mode & 0o020 != 0 && meta.gid() != 0)
            {
                return Some(format!("{} is writable by a non-root user", p.display()));
            }
        }
        path = p.parent();
    }
    None
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
    let running_as_root = policy.user.map(|(uid, _)| uid == 0).unwrap_or_else(|| {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    });
    if policy.secure && running_as_root {
        if let Some(reason) = insecure_reason(Path::new(program)) {
            return Err(format!("enable_script_security: {reason}"));
        }
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
    if let Some((uid, gid)) = policy.user {
        cmd.uid(uid).gid(gid);
    }
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("{program}: {e}"))?;
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

    #[test]
    fn world_writable_scripts_are_insecure() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(insecure_reason(&script).is_some());
    }
}
