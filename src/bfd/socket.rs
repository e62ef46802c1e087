//! The sockets of single-hop BFD (RFC 5881): one receiving socket per
//! address family on UDP port 3784, and one sending socket per session,
//! from a port in 49152–65535, with TTL (hop limit) 255.
//!
//! The receiving sockets ask the kernel for each datagram's TTL or hop
//! limit (`IP_RECVTTL`, `IPV6_RECVHOPLIMIT`), so a packet that did not come
//! from the link itself (GTSM, RFC 5881 §5) is dropped. Datagrams are read
//! up to [`BATCH`] a system call (`recvmmsg`) into a [`Batch`] made once:
//! receiving allocates nothing.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{
    recvmmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage,
};
use socket2::{Domain, Protocol, Socket, Type};

/// UDP port of single-hop BFD Control packets (RFC 5881 §4).
pub const CONTROL_PORT: u16 = 3784;
/// The source ports a session may use (RFC 5881 §4).
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// One received datagram: its length in the caller's buffer, its source,
/// and its TTL (hop limit) if the kernel said.
#[derive(Debug, Clone, Copy)]
pub struct Datagram {
    /// Bytes read.
    pub len: usize,
    /// The sender.
    pub from: IpAddr,
    /// The IP TTL or IPv6 hop limit it arrived with.
    pub ttl: Option<u8>,
}

/// The receiving socket of one address family, on port 3784.
pub fn listen(v6: bool) -> io::Result<UdpSocket> {
    let (domain, any) = match v6 {
        false => (Domain::IPV4, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        true => (Domain::IPV6, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
    };
    let s = Socket::new(
        domain,
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )?;
    if v6 {
        s.set_only_v6(true)?;
        setsockopt(&s.as_fd(), sockopt::Ipv6RecvHopLimit, &true)?;
    } else {
        setsockopt(&s.as_fd(), sockopt::Ipv4RecvTtl, &true)?;
    }
    s.bind(&SocketAddr::new(any, CONTROL_PORT).into())?;
    Ok(s.into())
}

/// A session's sending socket: from `source` (or the kernel's choice) and
/// a port in 49152–65535, to `neighbor`:3784, with TTL (hop limit) `ttl`.
pub fn sender(neighbor: IpAddr, source: Option<IpAddr>, ttl: u8) -> io::Result<UdpSocket> {
    let domain = match neighbor {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    };
    let s = Socket::new(
        domain,
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )?;
    match neighbor {
        IpAddr::V4(_) => s.set_ttl_v4(u32::from(ttl))?,
        IpAddr::V6(_) => s.set_unicast_hops_v6(u32::from(ttl))?,
    }
    let local = source.unwrap_or(match neighbor {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    // A random port of the range, then the next ones, until one is free.
    let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    let first = rand::random_range(0..span);
    let mut last = None;
    for i in 0..span.min(64) {
        let port = *SOURCE_PORTS.start() + ((first + i) % span) as u16;
        match s.bind(&SocketAddr::new(local, port).into()) {
            Ok(()) => {
                last = None;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    if let Some(e) = last {
        return Err(e);
    }
    s.connect(&SocketAddr::new(neighbor, CONTROL_PORT).into())?;
    Ok(s.into())
}

/// How many datagrams one `recvmmsg` reads at most.
pub const BATCH: usize = 32;

/// The longest datagram read whole (a Control packet with the longest
/// authentication section is 24 + 28 bytes).
const DATAGRAM: usize = 128;

/// Buffers for reading up to [`BATCH`] datagrams in one system call, made
/// once: reading allocates nothing.
pub struct Batch {
    headers: MultiHeaders<SockaddrStorage>,
    bufs: Box<[[u8; DATAGRAM]; BATCH]>,
    meta: [Datagram; BATCH],
}

impl Default for Batch {
    fn default() -> Batch {
        let none = Datagram {
            len: 0,
            from: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ttl: None,
        };
        Batch {
            headers: MultiHeaders::preallocate(BATCH, Some(nix::cmsg_space!(libc::c_int))),
            bufs: Box::new([[0; DATAGRAM]; BATCH]),
            meta: [none; BATCH],
        }
    }
}

impl Batch {
    /// Datagram `i` of the last read: its bytes and where it came from.
    pub fn get(&self, i: usize) -> (&[u8], Datagram) {
        let d = self.meta[i];
        (&self.bufs[i][..d.len.min(DATAGRAM)], d)
    }
}

/// Reads the datagrams waiting on a receiving socket into `batch` (at most
/// [`BATCH`], in one system call); how many (0: nothing was waiting).
pub fn receive_batch(socket: &UdpSocket, batch: &mut Batch) -> io::Result<usize> {
    let Batch {
        headers,
        bufs,
        meta,
    } = batch;
    let mut iovs: [[io::IoSliceMut<'_>; 1]; BATCH] =
        bufs.each_mut().map(|b| [io::IoSliceMut::new(b)]);
    let results = match recvmmsg(
        socket.as_raw_fd(),
        headers,
        iovs.iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    ) {
        Ok(r) => r,
        Err(nix::errno::Errno::EAGAIN) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut n = 0;
    for msg in results {
        meta[n] = describe(&msg);
        n += 1;
    }
    Ok(n)
}

/// A received message's length, source and TTL.
fn describe(msg: &nix::sys::socket::RecvMsg<'_, '_, SockaddrStorage>) -> Datagram {
    let from = msg.address.and_then(|a| {
        a.as_sockaddr_in()
            .map(|v4| IpAddr::V4(v4.ip()))
            .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
    });
    let mut ttl = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::Ipv4Ttl(t) => ttl = u8::try_from(t).ok(),
                ControlMessageOwned::Ipv6HopLimit(h) => ttl = u8::try_from(h).ok(),
                _ => {}
            }
        }
    }
    Datagram {
        // A datagram without a source is not ours to judge: it reads as
        // empty, and is counted as malformed.
        len: if from.is_some() { msg.bytes } else { 0 },
        from: from.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ttl,
    }
}
