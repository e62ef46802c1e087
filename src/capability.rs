//! The Linux capabilities lvsd uses, and what it says when one is missing.
//!
//! lvsd runs as root, but the packaged unit (`packaging/lvsd.service`)
//! bounds it to five capabilities, and a container or a hand-made
//! `setpriv`/`capsh` line may give it fewer. The kernel then answers with a
//! bare `EPERM`; these messages turn that into the capability, what needs
//! it, and how to grant it:
//!
//! | capability | needed for |
//! |---|---|
//! | `CAP_NET_ADMIN` | every IPVS netlink request (`GENL_ADMIN_PERM`), `lvs_sync_daemon`, `fwmark` |
//! | `CAP_NET_RAW` | PING_CHECK's raw socket, when lvsd's group is outside `net.ipv4.ping_group_range` |
//! | `CAP_SETUID`, `CAP_SETGID` | scripts run as `script_user` / `keepalived_script` / a MISC_CHECK's `user` |
//! | `CAP_KILL` | stopping such a script when its timeout passes |
//!
//! The process's sets are read from `/proc/self/status` when a message is
//! made (they do not change while lvsd runs).

use std::fmt::Write;

/// A capability lvsd may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// `CAP_KILL` (5).
    Kill,
    /// `CAP_SETGID` (6).
    SetGid,
    /// `CAP_SETUID` (7).
    SetUid,
    /// `CAP_NET_ADMIN` (12).
    NetAdmin,
    /// `CAP_NET_RAW` (13).
    NetRaw,
}

impl Cap {
    /// Its number (`linux/capability.h`).
    pub fn number(self) -> u32 {
        match self {
            Cap::Kill => 5,
            Cap::SetGid => 6,
            Cap::SetUid => 7,
            Cap::NetAdmin => 12,
            Cap::NetRaw => 13,
        }
    }

    /// Its name, as systemd and capabilities(7) spell it.
    pub fn name(self) -> &'static str {
        NAMES[self.number() as usize]
    }
}

/// capabilities(7)'s names, by number.
const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// This process's effective capability set (`CapEff:` of
/// `/proc/self/status`), or None if it cannot be read.
pub fn effective() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    effective_in(&status)
}

/// `CapEff:` of a `/proc/PID/status` text.
fn effective_in(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

/// The names of the capabilities in `set`, space-separated ("none" if empty).
pub fn names(set: u64) -> String {
    let mut out = String::new();
    for (n, name) in NAMES.iter().enumerate() {
        if set & (1 << n) != 0 {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(name);
        }
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}

/// What to say when the kernel refused something that needs `caps`
/// (`what`: "every IPVS request"), for this process.
pub fn denied(caps: &[Cap], what: &str) -> String {
    denied_with(effective(), caps, what)
}

/// [`denied`] for a process whose effective set is `effective`.
fn denied_with(effective: Option<u64>, caps: &[Cap], what: &str) -> String {
    let missing: Vec<Cap> = match effective {
        Some(set) => caps
            .iter()
            .copied()
            .filter(|c| set & (1 << c.number()) == 0)
            .collect(),
        None => caps.to_vec(),
    };
    let list = |caps: &[Cap]| caps.iter().map(|c| c.name()).collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    if missing.is_empty() {
        // It has them: something else refused (a user namespace that does
        // not own this network namespace, an LSM).
        let _ = write!(
            out,
            "permission denied although lvsd has {} ({what} needs it): the network namespace \
             may belong to another user namespace (a container), or an LSM (AppArmor, \
             SELinux) refused it",
            list(caps)
        );
        return out;
    }
    let _ = write!(
        out,
        "permission denied: lvsd lacks {}, which {what} needs",
        list(&missing)
    );
    if let Some(set) = effective {
        let _ = write!(out, " (it has: {})", names(set));
    }
    // setpriv's spelling: lower case, no `cap_`.
    let setpriv: Vec<String> = missing
        .iter()
        .map(|c| format!("+{}", c.name()[4..].to_ascii_lowercase()))
        .collect();
    let _ = write!(
        out,
        "; grant it: run lvsd as root with {} in its bounding set (systemd: \
         CapabilityBoundingSet={}, as lvsd.service has; with User=, AmbientCapabilities= too; \
         by hand: keep {} in setpriv's --bounding-set)",
        list(&missing),
        list(&missing),
        setpriv.join(",")
    );
    out
}

/// The message of an IPVS request the kernel refused with `EPERM`.
pub fn ipvs_denied() -> String {
    denied(&[Cap::NetAdmin], "every IPVS request")
}

/// A script that could not start as user `uid` (`e` from spawn): when the
/// kernel said `EPERM`, which capability was missing.
pub fn script_spawn_error(program: &str, e: &std::io::Error, as_other_user: bool) -> String {
    if as_other_user && e.raw_os_error() == Some(libc::EPERM) {
        let why = denied(
            &[Cap::SetUid, Cap::SetGid],
            "running a script as script_user",
        );
        return format!("cannot run {program}: {why}");
    }
    format!("cannot run {program}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_ADMIN: u64 = 1 << 12;
    const NET_RAW: u64 = 1 << 13;

    #[test]
    fn effective_is_read_from_proc_status() {
        let status = "Name:\tlvsd\nCapInh:\t0000000000000000\nCapPrm:\t0000000000003000\n\
                      CapEff:\t0000000000003000\nCapBnd:\t0000000000003000\n";
        assert_eq!(effective_in(status), Some(NET_ADMIN | NET_RAW));
        assert_eq!(names(NET_ADMIN | NET_RAW), "CAP_NET_ADMIN CAP_NET_RAW");
        assert_eq!(names(0), "none");
        assert!(
            effective().is_some(),
            "this process has a /proc/self/status"
        );
    }

    #[test]
    fn a_missing_capability_is_named_with_how_to_grant_it() {
        let said = denied_with(Some(NET_RAW), &[Cap::NetAdmin], "every IPVS request");
        assert!(
            said.contains("lvsd lacks CAP_NET_ADMIN, which every IPVS request needs"),
            "{said}"
        );
        assert!(said.contains("(it has: CAP_NET_RAW)"), "{said}");
        assert!(
            said.contains("CapabilityBoundingSet=CAP_NET_ADMIN"),
            "{said}"
        );
        assert!(said.contains("keep +net_admin in setpriv"), "{said}");
        // Only what is missing is named as missing.
        let said = denied_with(Some(1 << 7), &[Cap::SetUid, Cap::SetGid], "a script");
        assert!(said.contains("lacks CAP_SETGID,"), "{said}");
        // Present, yet refused: not a capability lvsd can be given.
        let said = denied_with(Some(NET_ADMIN), &[Cap::NetAdmin], "every IPVS request");
        assert!(said.contains("although lvsd has CAP_NET_ADMIN"), "{said}");
    }

    #[test]
    fn a_script_refused_by_setuid_names_the_capability() {
        let eperm = std::io::Error::from_raw_os_error(libc::EPERM);
        let said = script_spawn_error("/bin/true", &eperm, true);
        assert!(said.starts_with("cannot run /bin/true: "), "{said}");
        let enoent = std::io::Error::from_raw_os_error(libc::ENOENT);
        let said = script_spawn_error("/bin/x", &enoent, true);
        assert!(said.contains("No such file"), "{said}");
        assert!(!said.contains("CAP_"), "{said}");
    }
}
