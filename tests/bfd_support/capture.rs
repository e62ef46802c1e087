//! The arrival time of the last BFD packet from each peer, as the kernel
//! stamped it, seen from inside a network namespace (an `AF_PACKET`
//! socket in a thread that entered it): what a detection time is counted
//! from, so that the error of a detection can be told apart from when the
//! peer happened to send last.

use std::collections::HashMap;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A capture under way.
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<HashMap<Ipv4Addr, Instant>>,
}

/// Starts capturing the IPv4 BFD Control packets (UDP to 3784) that reach
/// namespace `ns`.
pub fn start(ns: &str) -> Capture {
    let stop = Arc::new(AtomicBool::new(false));
    let path = format!("/var/run/netns/{ns}");
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let f = File::open(&path).expect("the namespace");
        // SAFETY: setns(2) on this thread only, with a namespace fd we hold.
        let entered = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(entered, 0, "setns {path}");
        let proto = (libc::ETH_P_IP as u16).to_be() as libc::c_int;
        // SAFETY: socket(2); the fd is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                proto,
            )
        };
        assert!(fd >= 0, "AF_PACKET socket");
        // SAFETY: a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let on: libc::c_int = 1;
        let room: libc::c_int = 16 << 20;
        let tick = libc::timeval {
            tv_sec: 0,
            tv_usec: 50_000,
        };
        // SAFETY: setsockopt(2) with values that outlive the calls and
        // their true sizes.
        unsafe {
            let set = |name, v: *const libc::c_void, len: usize| {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    name,
                    v,
                    len as libc::socklen_t,
                )
            };
            set(libc::SO_TIMESTAMPNS, (&on as *const libc::c_int).cast(), 4);
            set(
                libc::SO_RCVBUFFORCE,
                (&room as *const libc::c_int).cast(),
                4,
            );
            set(
                libc::SO_RCVTIMEO,
                (&tick as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>(),
            );
        }
        // The kernel stamps in CLOCK_REALTIME; Instants are CLOCK_MONOTONIC.
        let (wall, mono) = (SystemTime::now(), Instant::now());
        let _ = ready_tx.send(());
        let mut last = HashMap::new();
        let mut buf = [0u8; 128];
        let mut cmsg = [0u64; 16];
        while !flag.load(Ordering::Relaxed) {
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: msghdr is plain old data; all zeroes is valid.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cmsg.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&cmsg) as _;
            // SAFETY: msg points at buffers alive for the call.
            let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) };
            if n < 28 {
                continue;
            }
            let ihl = usize::from(buf[0] & 0x0f) * 4;
            if buf[9] != 17
                || (n as usize) < ihl + 8
                || buf[ihl + 2..ihl + 4] != 3784u16.to_be_bytes()
            {
                continue;
            }
            let from = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
            // SAFETY: walking the control messages recvmsg just wrote.
            let stamp = unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                let mut stamp = None;
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET
                        && (*c).cmsg_type == libc::SCM_TIMESTAMPNS
                    {
                        let ts =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                        stamp = Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
                stamp
            };
            let Some(stamp) = stamp else { continue };
            let since = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
            let at = match stamp.checked_sub(since) {
                Some(after) => mono + after,
                None => mono - (since - stamp),
            };
            last.insert(from, at);
        }
        last
    });
    let _ = ready.recv_timeout(Duration::from_secs(5));
    Capture { stop, thread }
}

impl Capture {
    /// Stops; the last arrival from each source.
    pub fn finish(self) -> HashMap<Ipv4Addr, Instant> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the capture thread")
    }
}
