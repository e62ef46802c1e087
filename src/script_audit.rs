//! What `lvsd -t` (and the log at start) says about the `MISC_CHECK`
//! commands a config would run: the problems `keepalived -t` reports, and
//! one it does not. A validation step after the parse, owned here rather
//! than by the parser, since it looks at the host (users, files, modes).
//!
//! | case | keepalived 2.2.7 | lvsd |
//! |---|---|---|
//! | `enable_script_security`, no `script_user`, no `keepalived_script` user | "Unable to set default user for misc script ... - removing" | a warning at the check: it would run as root |
//! | a root run of a script others can change, `enable_script_security` | the check is not run | a warning at the check: it is refused, so it fails |
//! | the same without `enable_script_security` | "SECURITY VIOLATION - ... There are insecure scripts" | a warning at the check |
//! | the command does not exist or cannot be executed | nothing | a note at the check (`-D` shows notes) |

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::{Check, Config, Diagnostic, Severity};
use crate::script_policy::{insecure_reason, runs_as_root, ScriptPolicy};

/// The diagnostics about `config`'s `MISC_CHECK` commands, one check (by
/// its location) once.
pub fn audit(config: &Config) -> Vec<Diagnostic> {
    // An unusable script_user stops the daemon at start with its own error.
    let Ok(policy) = ScriptPolicy::from_config(&config.global) else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut said = Vec::new();
    let checks = config
        .virtual_servers
        .iter()
        .flat_map(|vs| &vs.real_servers)
        .flat_map(|rs| rs.checks.iter());
    for check in checks {
        let Check::Misc(misc) = check.as_ref() else {
            continue;
        };
        if !seen.insert(misc.common.location) {
            continue;
        }
        let Some(program) = misc.path.split_whitespace().next() else {
            continue;
        };
        let mut say = |severity, message: String| {
            said.push(Diagnostic {
                severity,
                location: misc.common.location,
                message,
                source_line: None,
            })
        };
        if !is_executable(Path::new(program)) {
            say(
                Severity::Info,
                format!("MISC_CHECK `{program}` does not exist or cannot be executed: the check fails until it can"),
            );
        }
        let own = misc.user.as_deref();
        // An unknown own user was said at its line already.
        let Ok(run_as) = policy.run_as(own) else {
            continue;
        };
        if !runs_as_root(run_as) {
            continue;
        }
        let insecure = insecure_reason(Path::new(program));
        match (policy.secure, insecure) {
            (true, Some(reason)) => say(
                Severity::Warning,
                format!("MISC_CHECK `{program}` would run as root, but {reason}: enable_script_security refuses it, so the check fails"),
            ),
            (true, None) if own.is_none() && policy.user.is_none() => say(
                Severity::Warning,
                format!("MISC_CHECK `{program}` runs as root: enable_script_security is set, but neither `script_user` nor a `keepalived_script` user exists (keepalived removes this check)"),
            ),
            (false, Some(reason)) => say(
                Severity::Warning,
                format!("MISC_CHECK `{program}` runs as root and {reason}: whoever can change it gains root; set enable_script_security (keepalived: SECURITY VIOLATION)"),
            ),
            _ => {}
        }
    }
    said
}

/// Whether `program` is a file someone may execute. A bare name is looked
/// up in `$PATH`, as the command is run.
fn is_executable(program: &Path) -> bool {
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 {
        return runnable(program);
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| runnable(&dir.join(program))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_bytes, LoadOptions};

    fn audit_of(global: &str, script: &str) -> Vec<String> {
        let text = format!(
            "global_defs {{\n{global}\n}}\nvirtual_server 127.0.0.1 80 {{\n protocol TCP\n real_server 127.0.0.2 80 {{\n  MISC_CHECK {{\n   misc_path \"{script} arg\"\n  }}\n }}\n}}\n"
        );
        let loaded = load_bytes(
            Path::new("k.conf"),
            text.into_bytes(),
            &LoadOptions::default(),
        )
        .unwrap();
        audit(&loaded.config)
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn a_missing_command_is_a_note_at_its_check() {
        let said = audit_of("", "/nonexistent/check.sh");
        assert!(
            said.iter().any(|d| d.starts_with(
                "k.conf:7:3: info: MISC_CHECK `/nonexistent/check.sh` does not exist"
            )),
            "{said:?}"
        );
    }

    #[test]
    fn a_script_others_can_change_run_as_root_is_a_warning() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: the audit speaks of root runs, and this test runs as a user");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("check.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o777)).unwrap();
        let script = script.display().to_string();
        let secure = audit_of("enable_script_security\nscript_user root", &script);
        assert!(
            secure
                .iter()
                .any(|d| d.contains("warning: MISC_CHECK") && d.contains("refuses it")),
            "{secure:?}"
        );
        let open = audit_of("", &script);
        assert!(
            open.iter().any(|d| d.contains("SECURITY VIOLATION")),
            "{open:?}"
        );
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let fine = audit_of("enable_script_security\nscript_user root", &script);
        assert_eq!(fine, Vec::<String>::new());
    }
}
