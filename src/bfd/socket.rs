//! The sockets of single-hop BFD (RFC 5881): per address family, one
//! receiving socket on UDP port 3784 and one sending socket, from a port
//! in 49152–65535, each packet with its session's source address and TTL
//! (hop limit, 255 by default) in control messages.
//!
//! The receiving sockets ask the kernel for each datagram's TTL or hop
//! limit (`IP_RECVTTL`, `IPV6_RECVHOPLIMIT`), so a packet that did not come
//! from the link itself (GTSM, RFC 5881 §5) is dropped, and for the time it
//! arrived (`SO_TIMESTAMPNS`), which a detection time counts from however
//! late the socket is read ([`arrival`]). Datagrams are read up to
//! [`BATCH`] a system call (`recvmmsg`) into a [`Batch`] made once:
//! receiving allocates nothing.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{
    recvmmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage,
};
use rustix::net::sockopt::{set_ip_mtu_discover, Ipv4PathMtuDiscovery};
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
    /// When the kernel took it in (`CLOCK_REALTIME`, since the epoch), if
    /// it said.
    pub stamp: Option<Duration>,
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
    }
    ask_ttl_and_arrival(&s, v6)?;
    // Room for a stall: 1,000 sessions at 50 ms send 20,000 datagrams a
    // second, and a 24-byte datagram takes ~1 KiB of buffer; the default
    // (208 KiB) overflows after ~10 ms of a thread kept off the CPU, and
    // lost packets are false Downs in the making. Beyond rmem_max as root
    // (SO_RCVBUFFORCE), else as far as rmem_max allows.
    if setsockopt(&s.as_fd(), sockopt::RcvBufForce, &RECEIVE_BUFFER).is_err() {
        let _ = setsockopt(&s.as_fd(), sockopt::RcvBuf, &RECEIVE_BUFFER);
    }
    s.bind(&SocketAddr::new(any, CONTROL_PORT).into())?;
    Ok(s.into())
}

/// Has the kernel give each datagram's TTL (hop limit) and arrival time.
fn ask_ttl_and_arrival(s: &Socket, v6: bool) -> io::Result<()> {
    match v6 {
        true => setsockopt(&s.as_fd(), sockopt::Ipv6RecvHopLimit, &true)?,
        false => setsockopt(&s.as_fd(), sockopt::Ipv4RecvTtl, &true)?,
    }
    setsockopt(&s.as_fd(), sockopt::ReceiveTimestampns, &true)?;
    Ok(())
}

/// The receive buffer asked for: ~4,000 datagrams, 200 ms of 1,000
/// sessions at 50 ms.
const RECEIVE_BUFFER: usize = 4 << 20;

/// How many datagrams one `recvmmsg` reads at most: what 1,000 sessions at
/// 50 ms send in 2 ms (40) fits in one call.
pub const BATCH: usize = 64;

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
            stamp: None,
        };
        Batch {
            headers: MultiHeaders::preallocate(
                BATCH,
                Some(nix::cmsg_space!(libc::c_int, libc::timespec)),
            ),
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
    let (mut ttl, mut stamp) = (None, None);
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::Ipv4Ttl(t) => ttl = u8::try_from(t).ok(),
                ControlMessageOwned::Ipv6HopLimit(h) => ttl = u8::try_from(h).ok(),
                ControlMessageOwned::ScmTimestampns(t) => stamp = Some(Duration::from(t)),
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
        stamp,
    }
}

/// The clocks read once after a batch is read: what a datagram's kernel
/// time stamp (wall clock) is turned into an [`Instant`] with.
#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    /// The wall clock, since the epoch.
    pub wall: Duration,
    /// The monotonic clock at (about) the same moment.
    pub now: Instant,
    /// When the socket's previous read began: no datagram read now can
    /// have arrived before it.
    pub since: Instant,
}

impl Clocks {
    /// The clocks now, for datagrams that arrived after `since`.
    pub fn read(since: Instant) -> Clocks {
        Clocks {
            wall: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            now: Instant::now(),
            since,
        }
    }
}

/// When a datagram arrived, on the monotonic clock: its kernel time stamp
/// moved by the wall clock's distance to `now`. A stamp that cannot be
/// (none, in the future, before the previous read began: the wall clock
/// was stepped) gives `now`, the latest it can have arrived, so that a
/// detection time is never counted from too early. (The kernel switches
/// stamping on for the host a moment after the first socket asks, and
/// stamps what came in before then when it is read: those first datagrams
/// count from their read, as they did before stamps were asked for.)
pub fn arrival(stamp: Option<Duration>, clocks: Clocks) -> Instant {
    stamp
        .and_then(|s| clocks.wall.checked_sub(s))
        .and_then(|age| clocks.now.checked_sub(age))
        .filter(|at| *at >= clocks.since)
        .unwrap_or(clocks.now)
}

/// How many packets one `sendmmsg` sends at most.
pub const SEND_BATCH: usize = 64;

/// Room for the control messages of one packet: its source address
/// (`IP_PKTINFO` or `IPV6_PKTINFO`) and its TTL or hop limit.
const CMSG_ROOM: usize = 96;

/// The sending socket of one address family: every session of that
/// family sends from it, from one port of 49152–65535 (RFC 5881 asks one
/// port a session, not one session a port), each packet with its own
/// source address and TTL in control messages; packets wait in a
/// [`SendBatch`] and go out many a system call.
pub fn shared_sender(v6: bool) -> io::Result<UdpSocket> {
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
    } else {
        // Don't Fragment (a 24-byte packet never needs it): the kernel then
        // gives an unconnected socket's packets IP ID 0 instead of hashing
        // one out for each (RFC 6864 allows it for atomic datagrams);
        // that hash was ~9 % of the BFD thread's time at 1,000 sessions.
        set_ip_mtu_discover(&s, Ipv4PathMtuDiscovery::DO)?;
    }
    let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    let first = rand::random_range(0..span);
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    for i in 0..span.min(64) {
        let port = *SOURCE_PORTS.start() + ((first + i) % span) as u16;
        match s.bind(&SocketAddr::new(any, port).into()) {
            Ok(()) => return Ok(s.into()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Packets waiting to be sent from a [`shared_sender`], made once: sending
/// allocates nothing.
pub struct SendBatch {
    packets: Box<[[u8; LEN]; SEND_BATCH]>,
    to: Box<[libc::sockaddr_storage; SEND_BATCH]>,
    to_len: [libc::socklen_t; SEND_BATCH],
    cmsgs: Box<[[u64; CMSG_ROOM / 8]; SEND_BATCH]>,
    cmsg_len: [usize; SEND_BATCH],
    len: usize,
}

use crate::bfd::packet::LEN;

impl Default for SendBatch {
    fn default() -> SendBatch {
        // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
        let zero: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        SendBatch {
            packets: Box::new([[0; LEN]; SEND_BATCH]),
            to: Box::new([zero; SEND_BATCH]),
            to_len: [0; SEND_BATCH],
            cmsgs: Box::new([[0; CMSG_ROOM / 8]; SEND_BATCH]),
            cmsg_len: [0; SEND_BATCH],
            len: 0,
        }
    }
}

impl SendBatch {
    /// Whether no packet waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the batch is full (send it before adding more).
    pub fn is_full(&self) -> bool {
        self.len == SEND_BATCH
    }

    /// Adds a packet to `to`:3784 from `from` (else the kernel's choice)
    /// with TTL (hop limit) `ttl`. The batch must not be full.
    pub fn push(&mut self, packet: &[u8; LEN], to: IpAddr, from: Option<IpAddr>, ttl: u8) {
        let i = self.len;
        if i == SEND_BATCH {
            return;
        }
        self.packets[i] = *packet;
        let dest: socket2::SockAddr = SocketAddr::new(to, CONTROL_PORT).into();
        // SAFETY: a SockAddr's storage is a valid sockaddr of `len` bytes,
        // and `len` never exceeds sockaddr_storage.
        unsafe {
            std::ptr::copy_nonoverlapping(
                dest.as_ptr().cast::<u8>(),
                (&mut self.to[i] as *mut libc::sockaddr_storage).cast::<u8>(),
                dest.len() as usize,
            );
        }
        self.to_len[i] = dest.len();
        self.cmsg_len[i] = write_cmsgs(&mut self.cmsgs[i], from, ttl, to.is_ipv6());
        self.len += 1;
    }

    /// Sends every waiting packet from `socket`, as many a system call as
    /// it takes; a packet the kernel refuses (an address not ours) is
    /// dropped and the rest go on. Returns how many were refused.
    pub fn flush(&mut self, socket: &UdpSocket) -> usize {
        let mut iovs: [libc::iovec; SEND_BATCH] = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; SEND_BATCH];
        // SAFETY: mmsghdr is plain old data; all zeroes is a valid value.
        let mut msgs: [libc::mmsghdr; SEND_BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..self.len {
            iovs[i] = libc::iovec {
                iov_base: self.packets[i].as_mut_ptr().cast(),
                iov_len: LEN,
            };
            let h = &mut msgs[i].msg_hdr;
            h.msg_name = (&mut self.to[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = self.to_len[i];
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
            if self.cmsg_len[i] > 0 {
                h.msg_control = self.cmsgs[i].as_mut_ptr().cast();
                h.msg_controllen = self.cmsg_len[i] as _;
            }
        }
        let mut at = 0;
        let mut refused = 0;
        while at < self.len {
            // SAFETY: msgs[at..len] point into this batch's boxed arrays and
            // `iovs`, all alive and unmoved for the duration of the call.
            let sent = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    msgs[at..].as_mut_ptr(),
                    (self.len - at) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if sent > 0 {
                at += sent as usize;
            } else {
                // The first one was refused: skip it, send the rest.
                tracing::trace!(error = %io::Error::last_os_error(), "BFD: a packet was refused");
                at += 1;
                refused += 1;
            }
        }
        self.len = 0;
        refused
    }
}

/// Writes the control messages of one packet into `buf` (its source
/// address if given, then its TTL or hop limit), one after the other as
/// `CMSG_NXTHDR` would place them; their length.
fn write_cmsgs(buf: &mut [u64; CMSG_ROOM / 8], from: Option<IpAddr>, ttl: u8, v6: bool) -> usize {
    let base = buf.as_mut_ptr().cast::<u8>();
    let mut used = 0usize;
    // Writes one control message at `used`.
    let mut put = |level: libc::c_int, kind: libc::c_int, data: &[u8]| {
        // SAFETY: `base` is `buf`, CMSG_ROOM bytes, 8-byte aligned; `used`
        // is a sum of CMSG_SPACE values (aligned), and the messages of one
        // packet (pktinfo ≤ 20 bytes, an int) take at most
        // 2 × CMSG_SPACE(20) < CMSG_ROOM bytes.
        unsafe {
            let size = data.len() as u32;
            let c = base.add(used).cast::<libc::cmsghdr>();
            (*c).cmsg_level = level;
            (*c).cmsg_type = kind;
            (*c).cmsg_len = libc::CMSG_LEN(size) as _;
            std::ptr::copy_nonoverlapping(data.as_ptr(), libc::CMSG_DATA(c), data.len());
            used += libc::CMSG_SPACE(size) as usize;
        }
    };
    match (from, v6) {
        (Some(IpAddr::V4(a)), false) => {
            // struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
            let mut info = [0u8; 12];
            info[4..8].copy_from_slice(&a.octets());
            put(libc::IPPROTO_IP, libc::IP_PKTINFO, &info);
        }
        (Some(IpAddr::V6(a)), true) => {
            // struct in6_pktinfo { in6_addr addr; unsigned ifindex; }
            let mut info = [0u8; 20];
            info[..16].copy_from_slice(&a.octets());
            put(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &info);
        }
        _ => {}
    }
    let ttl = libc::c_int::from(ttl).to_ne_bytes();
    match v6 {
        false => put(libc::IPPROTO_IP, libc::IP_TTL, &ttl),
        true => put(libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, &ttl),
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The control messages of one packet, read back as the kernel walks
    /// them (CMSG_FIRSTHDR / CMSG_NXTHDR): (level, type, data).
    fn walk(buf: &mut [u64; CMSG_ROOM / 8], len: usize) -> Vec<(i32, i32, Vec<u8>)> {
        // SAFETY: msghdr is plain old data; all zeroes is a valid value.
        let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
        h.msg_control = buf.as_mut_ptr().cast();
        h.msg_controllen = len as _;
        let mut out = Vec::new();
        // SAFETY: `h` describes `len` bytes of `buf`, which write_cmsgs
        // filled with well-formed messages; the macros stay within it.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&h);
            while !c.is_null() {
                let data_len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = std::slice::from_raw_parts(libc::CMSG_DATA(c), data_len).to_vec();
                out.push(((*c).cmsg_level, (*c).cmsg_type, data));
                c = libc::CMSG_NXTHDR(&h, c);
            }
        }
        out
    }

    #[test]
    fn a_datagram_is_read_with_its_ttl_and_when_it_arrived() {
        let rx = Socket::new(Domain::IPV4, Type::DGRAM.nonblocking(), None).unwrap();
        ask_ttl_and_arrival(&rx, false).unwrap();
        rx.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let rx: UdpSocket = rx.into();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.set_ttl(200).unwrap();
        let mut batch = Batch::default();
        // The kernel turns receive time stamps on for the whole host a
        // moment after the first socket asks (a deferred switch), and
        // stamps a datagram that came in before that when it is read
        // (which `arrival` takes as it would no stamp). Unless another
        // socket on the host has them on already, a first datagram shows
        // that; the test's is the second.
        tx.send_to(&[0; 24], rx.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(receive_batch(&rx, &mut batch).unwrap(), 1);
        let before = Instant::now();
        tx.send_to(&[1; 24], rx.local_addr().unwrap()).unwrap();
        // Read 30 ms late, as a busy or polled thread would.
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(receive_batch(&rx, &mut batch).unwrap(), 1);
        let (bytes, d) = batch.get(0);
        assert_eq!((bytes.len(), d.ttl), (24, Some(200)));
        let at = arrival(d.stamp, Clocks::read(before));
        let read = Instant::now();
        // When it arrived, not when it was read (a few ms of clock
        // conversion error allowed).
        assert!(at >= before, "{:?} before it was sent", before - at);
        assert!(read - at >= Duration::from_millis(25), "{:?}", read - at);
    }

    #[test]
    fn an_arrival_that_cannot_be_is_taken_as_now() {
        let now = Instant::now();
        let since = now - Duration::from_millis(10);
        let wall = Duration::from_secs(1_000_000);
        let clocks = Clocks { wall, now, since };
        let ms = Duration::from_millis;
        // 3 ms ago.
        assert_eq!(arrival(Some(wall - ms(3)), clocks), now - ms(3));
        // No stamp; from the future; from before the previous read (the
        // wall clock was stepped back): now, never earlier.
        assert_eq!(arrival(None, clocks), now);
        assert_eq!(arrival(Some(wall + ms(1)), clocks), now);
        assert_eq!(arrival(Some(wall - ms(11)), clocks), now);
    }

    #[test]
    fn the_ipv4_sender_sets_dont_fragment() {
        let s = shared_sender(false).unwrap();
        let mode = rustix::net::sockopt::ip_mtu_discover(&s).unwrap();
        // DO, not the default WANT: only then does the kernel skip the IP ID.
        assert_eq!(mode, Ipv4PathMtuDiscovery::DO);
    }

    #[test]
    fn a_packet_carries_its_source_and_ttl_as_the_kernel_reads_them() {
        let mut buf = [0u64; CMSG_ROOM / 8];
        let len = write_cmsgs(&mut buf, Some("192.0.2.1".parse().unwrap()), 255, false);
        let got = walk(&mut buf, len);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0, got[0].1), (libc::IPPROTO_IP, libc::IP_PKTINFO));
        assert_eq!(&got[0].2[4..8], &[192, 0, 2, 1], "ipi_spec_dst");
        assert_eq!((got[1].0, got[1].1), (libc::IPPROTO_IP, libc::IP_TTL));
        assert_eq!(got[1].2, 255i32.to_ne_bytes());

        let mut buf = [0u64; CMSG_ROOM / 8];
        let len = write_cmsgs(&mut buf, Some("2001:db8::1".parse().unwrap()), 64, true);
        let got = walk(&mut buf, len);
        assert_eq!(
            (got[0].0, got[0].1),
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
        );
        assert_eq!(
            got[0].2[..16],
            "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(
            (got[1].0, got[1].1),
            (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT)
        );
        assert_eq!(got[1].2, 64i32.to_ne_bytes());

        // No source: the TTL alone.
        let mut buf = [0u64; CMSG_ROOM / 8];
        let len = write_cmsgs(&mut buf, None, 255, false);
        assert_eq!(walk(&mut buf, len).len(), 1);
    }
}
