//! Who may do what over the control socket, decided from the peer's
//! credentials as the kernel reports them (`SO_PEERCRED`, `SO_PEERGROUPS`),
//! never from anything the client says.
//!
//! Two levels, as HAProxy's `level user|admin` and seesaw's reader/admin:
//! reads (`status`, `show`) for root and members of the socket's group;
//! everything else (`drain`, `disable`, `enable`, `weight`, `check`,
//! `reload`) for root and members of the admin group (`--ctl-admin-group`;
//! none by default: root only). The socket's mode (0660) already keeps
//! everyone else out; this decision is the second lock, and the one that
//! tells a reader why a change was refused.

/// The process at the other end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its effective user id.
    pub uid: u32,
    /// Its effective group id.
    pub gid: u32,
    /// Its supplementary groups.
    pub groups: Vec<u32>,
    /// Its process id (for the log).
    pub pid: Option<i32>,
}

impl Peer {
    /// Whether it belongs to group `gid` (primary or supplementary).
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// A group, by name and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its name, for messages.
    pub name: String,
    /// Its id.
    pub gid: u32,
}

/// The groups that grant access.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The socket's group: may read.
    pub read: Option<Group>,
    /// `--ctl-admin-group`: may change.
    pub admin: Option<Group>,
}

/// Whether `peer` may make a request that reads (`changes` false) or
/// changes; if not, a message that says why and what to do.
pub fn decide(peer: &Peer, changes: bool, command: &str, policy: &Policy) -> Result<(), String> {
    if peer.uid == 0 {
        return Ok(());
    }
    let member = |g: &Option<Group>| g.as_ref().is_some_and(|g| peer.in_group(g.gid));
    if member(&policy.admin) || (!changes && member(&policy.read)) {
        return Ok(());
    }
    let who = format!("uid {} (gid {})", peer.uid, peer.gid);
    if changes {
        let how = match &policy.admin {
            Some(g) => format!("root or a member of group `{}`", g.name),
            None => "root (no --ctl-admin-group is configured)".to_string(),
        };
        Err(format!(
            "refused: `{command}` changes what lvsd does and needs {how}; you are {who}. \
             Run it as root (sudo lvsd ctl …), or ask for that group"
        ))
    } else {
        let how = match &policy.read {
            Some(g) => format!("root or a member of group `{}`", g.name),
            None => "root".to_string(),
        };
        Err(format!(
            "refused: `{command}` needs {how}; you are {who}. Run it as root, or ask to be added \
             to that group"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> Peer {
        Peer {
            uid,
            gid,
            groups: groups.to_vec(),
            pid: None,
        }
    }

    fn policy() -> Policy {
        Policy {
            read: Some(Group {
                name: "lvsd".into(),
                gid: 900,
            }),
            admin: Some(Group {
                name: "lvsadmin".into(),
                gid: 901,
            }),
        }
    }

    #[test]
    fn root_may_do_anything() {
        assert!(decide(&peer(0, 0, &[]), true, "drain", &Policy::default()).is_ok());
    }

    #[test]
    fn the_socket_group_reads_and_the_admin_group_changes() {
        let reader = peer(1000, 1000, &[900]);
        assert!(decide(&reader, false, "status", &policy()).is_ok());
        let e = decide(&reader, true, "drain", &policy()).unwrap_err();
        assert!(
            e.contains("`drain`") && e.contains("group `lvsadmin`") && e.contains("uid 1000"),
            "{e}"
        );
        let admin = peer(1001, 901, &[]);
        assert!(decide(&admin, true, "reload", &policy()).is_ok());
        assert!(
            decide(&admin, false, "show", &policy()).is_ok(),
            "admins read too"
        );
    }

    #[test]
    fn everyone_else_is_refused_with_the_reason() {
        let stranger = peer(1002, 1002, &[100]);
        let e = decide(&stranger, false, "status", &policy()).unwrap_err();
        assert!(e.contains("group `lvsd`"), "{e}");
        let e = decide(
            &peer(1000, 1000, &[900]),
            true,
            "weight",
            &Policy {
                admin: None,
                ..policy()
            },
        )
        .unwrap_err();
        assert!(e.contains("no --ctl-admin-group"), "{e}");
    }
}
