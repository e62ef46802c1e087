//! The credentials of the process at the other end of a Unix socket, from
//! the kernel: `SO_PEERCRED` (uid, gid, pid) and `SO_PEERGROUPS` (its
//! supplementary groups, Linux 4.13+), both as they were when it connected.

use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

use super::auth::Peer;

/// The peer of `socket`.
pub fn of(socket: &impl AsFd) -> std::io::Result<Peer> {
    let cred = getsockopt(socket, PeerCredentials)?;
    Ok(Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        groups: groups(socket.as_fd().as_raw_fd()),
        pid: (cred.pid() > 0).then_some(cred.pid()),
    })
}

/// The peer's supplementary groups (none if the kernel cannot say). Raw
/// `getsockopt`: neither nix nor rustix reads `SO_PEERGROUPS`.
fn groups(fd: i32) -> Vec<u32> {
    let mut groups = vec![0 as libc::gid_t; 64];
    loop {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: the buffer is valid for writes of `len` bytes; the kernel
        // writes at most that and sets `len` to what it wrote (or needs).
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(n);
            return groups;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ERANGE) && n > groups.len() && n <= 65_536 {
            groups.resize(n, 0);
            continue;
        }
        return Vec::new();
    }
}
