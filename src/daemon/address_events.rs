//! Local address changes as the kernel announces them, for `ha_suspend`.
//!
//! A `NETLINK_ROUTE` socket joined to the IPv4 and IPv6 address groups
//! (`RTMGRP_IPV4_IFADDR`, `RTMGRP_IPV6_IFADDR`) receives a message whenever
//! an address of this network namespace is added or removed: when VRRP
//! moves a virtual address here or away, lvsd hears it at once and reads
//! the addresses again (`getifaddrs`), rather than polling them.
//!
//! The messages are not parsed: any of them means "read again", and so
//! does `ENOBUFS`, the kernel saying it dropped some because lvsd read too
//! slowly. Reading the whole list is a few microseconds, and it is the one
//! answer that is right whatever was lost.

use std::io;

use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A subscription to this namespace's address changes.
#[derive(Debug)]
pub struct AddressEvents {
    socket: AsyncFd<Socket>,
}

impl AddressEvents {
    /// Joins the address groups of the current network namespace (that of
    /// the calling thread: call it after any `net_namespace` switch).
    pub fn subscribe() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        let groups = (libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
        socket.bind(&SocketAddr::new(0, groups))?;
        socket.set_non_blocking(true)?;
        // SAFETY: the netlink Socket owns its fd, and the AsyncFd owns the
        // Socket: the fd stays open and the same until the AsyncFd (and its
        // registration) is dropped.
        let socket = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(AddressEvents { socket })
    }

    /// Waits until some address was added or removed (or announcements
    /// were lost), reading every announcement queued so far.
    pub async fn changed(&mut self) -> io::Result<()> {
        let mut buf = Vec::with_capacity(16 * 1024);
        loop {
            let mut ready = self.socket.readable().await?;
            let mut heard = false;
            loop {
                buf.clear();
                match ready.get_inner().recv(&mut buf, 0) {
                    Ok(_) => heard = true,
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => heard = true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            ready.clear_ready();
            if heard {
                return Ok(());
            }
        }
    }
}
