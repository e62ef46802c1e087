//! 10,000 loopback targets in a network namespace of the benchmark's own:
//! 100 ports × 100 addresses (127.1.0.1–100), served by 100 wildcard
//! listeners and an epoll thread that accepts and closes (on another core,
//! so the prober's core does only probing).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Raises the open-file limit so that 10,000 listeners and the probes fit.
pub fn raise_nofile(want: u64) {
    let limit = libc::rlimit {
        rlim_cur: want,
        rlim_max: want,
    };
    // SAFETY: a valid rlimit struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid out pointer.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) };
        current.rlim_cur = current.rlim_max;
        // SAFETY: as above.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &current) };
    }
}

/// The listeners and the thread that serves them.
pub struct Targets {
    pub addrs: Vec<SocketAddr>,
    pub accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Targets {
    /// `ports` × `hosts` targets.
    pub fn start(ports: u16, hosts: u8) -> Targets {
        let listeners: Vec<TcpListener> = (0..ports)
            .map(|i| {
                let l = listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 20_000 + i));
                l.set_nonblocking(true).unwrap();
                l
            })
            .collect();
        let addrs = (1..=hosts)
            .flat_map(|h| {
                listeners.iter().map(move |l| {
                    let port = l.local_addr().unwrap().port();
                    SocketAddr::new(Ipv4Addr::new(127, 1, 0, h).into(), port)
                })
            })
            .collect();
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (accepted, stop) = (Arc::clone(&accepted), Arc::clone(&stop));
            std::thread::spawn(move || {
                crate::pin_to(crate::OTHER_CPU);
                serve(listeners, &accepted, &stop)
            })
        };
        Targets {
            addrs,
            accepted,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A listener with a deep accept queue.
fn listen(addr: SocketAddrV4) -> TcpListener {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    socket.bind(&addr.into()).expect("bind listener");
    socket.listen(4096).expect("listen");
    socket.into()
}

/// Moves the whole process (it must have no other thread yet) into a new
/// network namespace with only `lo`, up: the benchmark's sockets, TIME_WAITs
/// and wildcard listeners stay out of the host's way.
pub fn own_network_namespace() -> std::io::Result<()> {
    // SAFETY: plain syscalls.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let status = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other("ip link set lo up failed"));
    }
    Ok(())
}

fn serve(listeners: Vec<TcpListener>, accepted: &AtomicU64, stop: &AtomicBool) {
    // SAFETY: plain epoll calls on fds this function owns.
    unsafe {
        let epoll = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        for l in &listeners {
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: l.as_raw_fd() as u64,
            };
            libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, l.as_raw_fd(), &mut ev);
        }
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        while !stop.load(Ordering::Relaxed) {
            let n = libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, 100);
            for ev in events.iter().take(n.max(0) as usize) {
                let fd = ev.u64 as RawFd;
                loop {
                    let conn = libc::accept4(
                        fd,
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_CLOEXEC,
                    );
                    if conn < 0 {
                        break;
                    }
                    accepted.fetch_add(1, Ordering::Relaxed);
                    libc::close(conn);
                }
            }
        }
        libc::close(epoll);
    }
}
