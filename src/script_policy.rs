//! Who runs a script, and whether it may run at all.
//!
//! keepalived runs every script it starts (`MISC_CHECK` commands, notify and
//! quorum scripts) under one rule, which lvsd follows:
//!
//! ```text
//!   the check's own `user USER [GROUP]`     (MISC_CHECK only)
//!     else global_defs `script_user USER [GROUP]`
//!       else the user `keepalived_script`, if it exists
//!         else lvsd's own user
//! ```
//!
//! Without a group, the user's primary group is used. With
//! `enable_script_security`, a script that would run as **root** is refused
//! when the script, or any directory above it, could be changed by someone
//! other than root: running it would hand root to that someone. Scripts run
//! as another user are not checked (they cannot gain more than that user has).
//!
//! [`check_config`] says, after the parse, what this host makes of the
//! scripts a config would run (the parser itself never looks at the host):
//! a `script_user` or a MISC_CHECK's `user` that does not exist, and the
//! security warnings `keepalived -t` gives.
//!
//! Users and groups are looked up with `getpwnam_r`/`getgrnam_r` (through
//! nix), which are safe to call from any thread, so a probe on a tokio task
//! may resolve its own `user` (the plain `getpwnam` shares one static buffer
//! between threads).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::{Group, User};

use crate::config::{Account, Check, Config, Diagnostic, Location, Severity};

/// A user or group that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// No such user in the password database.
    #[error("no user {0:?}")]
    NoUser(String),
    /// No such group in the group database.
    #[error("no group {0:?}")]
    NoGroup(String),
    /// A name that cannot be a C string (it holds a NUL byte).
    #[error("bad name {0:?}")]
    BadName(String),
    /// The lookup itself failed (NSS unreachable, I/O error...).
    #[error("cannot look up {name:?}: {reason}")]
    Lookup {
        /// The user or group name.
        name: String,
        /// The system's error.
        reason: String,
    },
}

/// The ids a script runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    /// User id.
    pub uid: u32,
    /// Group id (supplementary groups are dropped when lvsd is root).
    pub gid: u32,
}

/// The global part of the rule: `script_user` and `enable_script_security`.
///
/// Small and `Copy`: every script run carries its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptPolicy {
    /// uid/gid from `script_user` (else `keepalived_script`, if it exists),
    /// or None for this process's own.
    pub user: Option<RunAs>,
    /// `enable_script_security`.
    pub secure: bool,
}

impl ScriptPolicy {
    /// The policy `global_defs` asks for; an unknown user is an error.
    /// Without `script_user`, scripts run as [`DEFAULT_SCRIPT_USER`] when
    /// that user exists, as keepalived's do, else as lvsd's own user.
    pub fn from_config(global: &crate::config::GlobalDefs) -> Result<Self, String> {
        Self::from_config_with(global, lookup_user)
    }

    /// [`ScriptPolicy::from_config`] with the account lookup given (tests
    /// cannot create a `keepalived_script` user on the machine).
    fn from_config_with(
        global: &crate::config::GlobalDefs,
        lookup: impl Fn(&str, Option<&str>) -> Result<RunAs, AccountError>,
    ) -> Result<Self, String> {
        let user = match &global.script_user {
            Some(account) => {
                let (user, group) = account.names();
                Some(lookup(user, group).map_err(|e| format!("script_user: {e}"))?)
            }
            // Only a missing user means "none": a lookup that fails (NSS
            // unreachable) must not silently leave scripts to run as root.
            None => match lookup(DEFAULT_SCRIPT_USER, None) {
                Ok(ids) => Some(ids),
                Err(AccountError::NoUser(_)) => None,
                Err(e) => return Err(format!("the default script user: {e}")),
            },
        };
        Ok(ScriptPolicy {
            user,
            secure: global.enable_script_security,
        })
    }

    /// Who runs a script whose own setting is `own` (a `MISC_CHECK`'s
    /// `user USER [GROUP]`): that user if given, else `script_user`, else
    /// None (this process's own user).
    pub fn run_as(&self, own: Option<&Account>) -> Result<Option<RunAs>, AccountError> {
        match own {
            Some(account) => lookup_account(account).map(Some),
            None => Ok(self.user),
        }
    }

    /// Why `program` may not run as `run_as` (None: this process's user)
    /// under this policy, or None if it may.
    pub fn refusal(&self, run_as: Option<RunAs>, program: &Path) -> Option<String> {
        if !self.secure || !runs_as_root(run_as) {
            return None;
        }
        insecure_reason(program).map(|reason| format!("enable_script_security: {reason}"))
    }
}

/// The user keepalived runs scripts as when `script_user` is not set, if
/// it exists (keepalived.conf(5)); lvsd does the same.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// Whether a script run as `run_as` (None: this process's user) is root.
pub fn runs_as_root(run_as: Option<RunAs>) -> bool {
    match run_as {
        Some(ids) => ids.uid == 0,
        None => rustix::process::geteuid().is_root(),
    }
}

/// Why a script may not run as root under `enable_script_security`: it, or a
/// directory above it, is writable by someone other than root. A directory
/// with the sticky bit (like `/tmp`) is fine: others may add files there but
/// not replace root's.
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

/// The ids of `user`, with `group`'s id instead of the user's primary group
/// when given.
pub fn lookup_user(user: &str, group: Option<&str>) -> Result<RunAs, AccountError> {
    let (uid, mut gid) = passwd_ids(user)?.ok_or_else(|| AccountError::NoUser(user.into()))?;
    if let Some(group) = group {
        gid = group_id(group)?.ok_or_else(|| AccountError::NoGroup(group.into()))?;
    }
    Ok(RunAs { uid, gid })
}

/// [`lookup_user`] of an account written in the config.
fn lookup_account(account: &Account) -> Result<RunAs, AccountError> {
    let (user, group) = account.names();
    lookup_user(user, group)
}

/// Where an account's error is said: at the group when it is the group
/// that is missing, else at the user.
fn account_error_at(account: &Account, e: &AccountError) -> Location {
    match (e, account.group_at) {
        (AccountError::NoGroup(_), Some(at)) => at,
        _ => account.user_at,
    }
}

/// What this host makes of the scripts `config` would run, said after the
/// parse: an unknown `script_user` (an error: no script could run), an
/// unknown MISC_CHECK `user`, a MISC_CHECK keepalived would drop for want
/// of its script user, and `keepalived -t`'s security warnings.
///
/// `quote` gives a location's source line: said at a word, a diagnostic
/// shows its line with a caret; the security warnings, which are about
/// every script, do not.
pub fn check_config(
    config: &Config,
    quote: &dyn Fn(Location) -> Option<String>,
) -> Vec<Diagnostic> {
    let mut said = Vec::new();
    let mut at_word = |severity, location, message| {
        said.push(Diagnostic {
            severity,
            location,
            message,
            source_line: quote(location),
        })
    };
    // A `script_user` must exist: lvsd could run no script (it refuses the
    // config, as its daemon would), where keepalived runs on without every
    // MISC_CHECK that has no `user` of its own.
    let script_user = config.global.script_user.as_ref();
    let missing = script_user.and_then(|a| lookup_account(a).err().map(|e| (a, e)));
    if let Some((account, e)) = &missing {
        at_word(Severity::Error, account_error_at(account, e), format!("script_user: {e}: no script could run (keepalived would drop every MISC_CHECK without its own `user`, leaving its real server unchecked)"));
    }
    // notify and quorum scripts, and the MISC_CHECKs without a user of their own.
    let mut scripts: Vec<(&str, Location)> = Vec::new();
    for vs in &config.virtual_servers {
        for s in [&vs.quorum_up, &vs.quorum_down].into_iter().flatten() {
            scripts.push((&s.command, s.location));
        }
        for rs in &vs.real_servers {
            for s in [&rs.notify_up, &rs.notify_down].into_iter().flatten() {
                scripts.push((&s.command, s.location));
            }
            for check in rs.checks.iter() {
                let Check::Misc(m) = &**check else {
                    continue;
                };
                match (&m.user, &missing) {
                    (Some(own), _) => {
                        if let Err(e) = lookup_account(own) {
                            at_word(
                                Severity::Warning,
                                account_error_at(own, &e),
                                format!("MISC_CHECK user: {e}: the check fails until it exists"),
                            );
                        }
                    }
                    (None, Some((_, why))) => at_word(
                        Severity::Warning,
                        m.common.location,
                        format!(
                            "this MISC_CHECK would run as script_user ({why}): keepalived drops it"
                        ),
                    ),
                    (None, None) => {}
                }
                if m.user.is_none() {
                    scripts.push((&m.path, m.common.location));
                }
            }
        }
    }
    scripts.sort_by_key(|(_, l)| (l.line, l.col));
    if let Some(warning) = security_warning(config, &scripts) {
        said.push(warning);
    }
    said
}

/// What `keepalived -t` says about scripts, said at the first of `scripts`:
/// without `enable_script_security`, that scripts run without it
/// (keepalived's "SECURITY VIOLATION", given once any script exists); with
/// it but without `script_user`, that the default script user
/// `keepalived_script` does not exist, so scripts run as lvsd's own user.
fn security_warning(config: &Config, scripts: &[(&str, Location)]) -> Option<Diagnostic> {
    let global = &config.global;
    let (location, message) = if !global.enable_script_security {
        let programs: Vec<(PathBuf, Location)> = scripts
            .iter()
            .filter_map(|(command, at)| program(command).map(|p| (p, *at)))
            .collect();
        let (first, at) = programs.first()?;
        let insecure = programs
            .iter()
            .find_map(|(p, _)| insecure_reason(p))
            .map(|why| format!("; {why}"))
            .unwrap_or_default();
        (*at, format!("`{}` and any other script run without `enable_script_security` in global_defs (keepalived reports a SECURITY VIOLATION){insecure}", first.display()))
    } else if global.script_user.is_none() {
        let (_, at) = scripts.first()?;
        let Err(AccountError::NoUser(_)) = lookup_user(DEFAULT_SCRIPT_USER, None) else {
            return None;
        };
        (*at, format!("no `script_user` and no user {DEFAULT_SCRIPT_USER}: scripts run as lvsd's own user (keepalived says it cannot set its default script user)"))
    } else {
        return None;
    };
    Some(Diagnostic {
        severity: Severity::Warning,
        location,
        message,
        source_line: None,
    })
}

/// The program a script line runs, if it exists (found in `PATH` when
/// the name has no `/`, as a shell would).
fn program(command: &str) -> Option<PathBuf> {
    let words = crate::daemon::scripts::split_words(command);
    let name = Path::new(words.first()?);
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A name that can be looked up: one without a NUL byte.
fn c_name(name: &str) -> Result<&str, AccountError> {
    match name.contains('\0') {
        true => Err(AccountError::BadName(name.into())),
        false => Ok(name),
    }
}

/// What a `get*nam_r` lookup's error means: besides "found none", these
/// errors too may mean "not found" (getpwnam_r(3)); the rest are failures.
fn not_found_or<T>(name: &str, e: Errno) -> Result<Option<T>, AccountError> {
    match e {
        Errno::ENOENT | Errno::ESRCH | Errno::EBADF | Errno::EPERM => Ok(None),
        e => Err(AccountError::Lookup {
            name: name.into(),
            reason: std::io::Error::from(e).to_string(),
        }),
    }
}

fn passwd_ids(name: &str) -> Result<Option<(u32, u32)>, AccountError> {
    match User::from_name(c_name(name)?) {
        Ok(found) => Ok(found.map(|u| (u.uid.as_raw(), u.gid.as_raw()))),
        Err(e) => not_found_or(name, e),
    }
}

fn group_id(name: &str) -> Result<Option<u32>, AccountError> {
    match Group::from_name(c_name(name)?) {
        Ok(found) => Ok(found.map(|g| g.gid.as_raw())),
        Err(e) => not_found_or(name, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOBODY: u32 = 65534;

    fn account(user: &str, group: Option<&str>) -> Account {
        Account {
            user: user.into(),
            group: group.map(Into::into),
            user_at: Location::default(),
            group_at: None,
        }
    }

    #[test]
    fn users_and_groups_resolve() {
        let root = lookup_user("root", None).unwrap();
        assert_eq!(root, RunAs { uid: 0, gid: 0 });
        let nobody_in_root = lookup_user("nobody", Some("root")).unwrap();
        assert_eq!(
            nobody_in_root,
            RunAs {
                uid: NOBODY,
                gid: 0
            }
        );
        assert_eq!(
            lookup_user("no-such-user-lvsd", None),
            Err(AccountError::NoUser("no-such-user-lvsd".into()))
        );
        assert_eq!(
            lookup_user("root", Some("no-such-group-lvsd"))
                .unwrap_err()
                .to_string(),
            r#"no group "no-such-group-lvsd""#
        );
        assert!(matches!(
            lookup_user("a\0b", None),
            Err(AccountError::BadName(_))
        ));
    }

    #[test]
    fn a_checks_user_beats_script_user_and_neither_means_our_own() {
        let global = ScriptPolicy {
            user: Some(RunAs { uid: 0, gid: 0 }),
            secure: false,
        };
        let own = global
            .run_as(Some(&account("nobody", None)))
            .unwrap()
            .unwrap();
        assert_eq!(own.uid, NOBODY);
        assert_eq!(global.run_as(None).unwrap(), Some(RunAs { uid: 0, gid: 0 }));
        assert_eq!(ScriptPolicy::default().run_as(None).unwrap(), None);
        assert_eq!(
            global
                .run_as(Some(&account("x-lvsd-none", None)))
                .unwrap_err()
                .to_string(),
            r#"no user "x-lvsd-none""#
        );
    }

    #[test]
    fn script_user_comes_from_global_defs() {
        let mut global = crate::config::GlobalDefs {
            script_user: Some(account("nobody", Some("root"))),
            enable_script_security: true,
            ..Default::default()
        };
        let policy = ScriptPolicy::from_config(&global).unwrap();
        assert_eq!(
            policy.user,
            Some(RunAs {
                uid: NOBODY,
                gid: 0
            })
        );
        assert!(policy.secure);
        global.script_user = Some(account("x-lvsd-none", None));
        assert_eq!(
            ScriptPolicy::from_config(&global).unwrap_err(),
            r#"script_user: no user "x-lvsd-none""#
        );
    }

    #[test]
    fn without_script_user_keepalived_script_runs_scripts_if_it_exists() {
        let global = crate::config::GlobalDefs::default();
        let ids = RunAs { uid: 990, gid: 991 };
        let exists = |user: &str, _: Option<&str>| match user {
            DEFAULT_SCRIPT_USER => Ok(ids),
            other => Err(AccountError::NoUser(other.into())),
        };
        let missing = |user: &str, _: Option<&str>| Err(AccountError::NoUser(user.into()));
        let broken = |user: &str, _: Option<&str>| {
            Err(AccountError::Lookup {
                name: user.into(),
                reason: "NSS down".into(),
            })
        };
        assert_eq!(
            ScriptPolicy::from_config_with(&global, exists)
                .unwrap()
                .user,
            Some(ids)
        );
        assert_eq!(
            ScriptPolicy::from_config_with(&global, missing)
                .unwrap()
                .user,
            None
        );
        assert_eq!(
            ScriptPolicy::from_config_with(&global, broken).unwrap_err(),
            r#"the default script user: cannot look up "keepalived_script": NSS down"#
        );
        // script_user set: the default is not looked at.
        let named = crate::config::GlobalDefs {
            script_user: Some(account("nobody", None)),
            ..Default::default()
        };
        let nobody = RunAs {
            uid: NOBODY,
            gid: NOBODY,
        };
        let only_nobody = |user: &str, _: Option<&str>| match user {
            "nobody" => Ok(nobody),
            other => panic!("looked up {other}"),
        };
        assert_eq!(
            ScriptPolicy::from_config_with(&named, only_nobody)
                .unwrap()
                .user,
            Some(nobody)
        );
        // And on this machine, whichever way its accounts are.
        let here = lookup_user(DEFAULT_SCRIPT_USER, None).ok();
        assert_eq!(ScriptPolicy::from_config(&global).unwrap().user, here);
    }

    #[test]
    fn a_missing_script_user_is_said_wherever_global_defs_is_written() {
        // keepalived asks about scripts once the whole config is read, so a
        // MISC_CHECK above global_defs is dropped too.
        let text = "virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 198.51.100.1 80 {\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n }\n}\nglobal_defs {\n script_user root no-such-group-lvsd\n}\n";
        let path = Path::new("above.conf");
        let opts = crate::config::LoadOptions::default();
        let Err(crate::config::ConfigError::Invalid(said)) =
            crate::config::load_bytes(path, text.into(), &opts)
        else {
            panic!("a missing script_user must refuse the config");
        };
        let at = |d: &Diagnostic| (d.severity, d.location.line, d.location.col);
        let dropped = said
            .iter()
            .find(|d| {
                d.message
                    .starts_with("this MISC_CHECK would run as script_user")
            })
            .expect("the MISC_CHECK above global_defs is warned about");
        assert_eq!(at(dropped), (Severity::Warning, 4, 3));
        assert_eq!(dropped.source_line.as_deref(), Some("  MISC_CHECK {"));
        let refused = said.iter().find(|d| d.severity == Severity::Error).unwrap();
        // At the group, the name that is missing, with its line quoted.
        assert_eq!(at(refused), (Severity::Error, 10, 19), "{refused}");
        assert_eq!(
            refused.source_line.as_deref(),
            Some(" script_user root no-such-group-lvsd")
        );
    }

    #[test]
    fn only_root_runs_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(insecure_reason(&script).is_some());
        let secure = ScriptPolicy {
            user: None,
            secure: true,
        };
        let root = Some(RunAs { uid: 0, gid: 0 });
        let nobody = Some(RunAs {
            uid: NOBODY,
            gid: NOBODY,
        });
        let refused = secure.refusal(root, &script).unwrap();
        assert!(refused.starts_with("enable_script_security: "), "{refused}");
        assert_eq!(secure.refusal(nobody, &script), None);
        assert_eq!(ScriptPolicy::default().refusal(root, &script), None);
    }
}
