//! `lvsd-synrec`: prints one line per TCP SYN that reaches a port, with the
//! time the kernel received it. A witness of health-check probes that does
//! not care which checker sent them.
//!
//! ```text
//! lvsd-synrec IFACE PORT
//! ip netns exec rs lvsd-synrec veth-rs 8081
//! ```
//!
//! It reads IPv4 packets from IFACE with an `AF_PACKET` socket, so it sees a
//! SYN whatever becomes of it afterwards: accepted by a listener, refused
//! with an RST because nothing listens, or dropped because the answer has
//! no route (`ip route add blackhole ...`). For each SYN (SYN set, ACK not)
//! whose destination port is PORT it prints:
//!
//! ```text
//! syn 1795234567.123456 10.201.1.1:43512
//! ```
//!
//! The first number is the kernel's receive timestamp (`SIOCGSTAMPNS`) in
//! seconds of `CLOCK_REALTIME`, with microseconds: the same clock as bash's
//! `$EPOCHREALTIME`, so a script can put its own events (a kill, a table
//! change) on the same time line. Then the sender's address and port: a
//! retransmitted SYN repeats the port of the connection attempt it belongs
//! to, so one probe is one distinct source port.
//!
//! On start it prints `recording IFACE PORT`. Each line is flushed at once;
//! it runs until killed. Needs `CAP_NET_RAW` (root). Linux only, std + libc,
//! blocking: it runs inside the test VM.

use std::io::Write;
use std::net::Ipv4Addr;

/// `ETH_P_IP`: the IPv4 ethertype, what the socket asks the kernel for.
const ETH_P_IP: u16 = 0x0800;
/// `SIOCGSTAMPNS`: the receive time of the last packet read from a socket.
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (iface, port) = match args.as_slice() {
        [iface, port] => match port.parse::<u16>() {
            Ok(port) => (iface.clone(), port),
            Err(e) => fail(&format!("bad port {port:?}: {e}")),
        },
        _ => fail("usage: lvsd-synrec IFACE PORT"),
    };
    let fd = match open_socket(&iface) {
        Ok(fd) => fd,
        Err(e) => fail(&format!("cannot read packets on {iface}: {e}")),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "recording {iface} {port}");
    let _ = out.flush();
    let mut buf = [0u8; 2048];
    loop {
        // SAFETY: recv writes at most buf.len() bytes into the buffer we own.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            fail(&format!("recv: {}", std::io::Error::last_os_error()));
        }
        let Some((from, from_port)) = syn_to(&buf[..n as usize], port) else {
            continue;
        };
        let (sec, usec) = received_at(fd);
        let _ = writeln!(out, "syn {sec}.{usec:06} {from}:{from_port}");
        let _ = out.flush();
    }
}

/// A packet socket bound to `iface` that receives IPv4 packets without their
/// link-layer header.
fn open_socket(iface: &str) -> std::io::Result<libc::c_int> {
    let name = std::ffi::CString::new(iface)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in name"))?;
    // SAFETY: plain libc calls on values we own; every result is checked.
    unsafe {
        let index = libc::if_nametoindex(name.as_ptr());
        if index == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let proto = ETH_P_IP.to_be();
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, libc::c_int::from(proto));
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = proto;
        addr.sll_ifindex = index as libc::c_int;
        let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        if libc::bind(fd, (&addr as *const libc::sockaddr_ll).cast(), len) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fd)
    }
}

/// The sender of `packet` (an IPv4 packet) when it is a TCP SYN to `port`.
fn syn_to(packet: &[u8], port: u16) -> Option<(Ipv4Addr, u16)> {
    let header_len = usize::from(*packet.first()? & 0x0f) * 4;
    if packet.first()? >> 4 != 4 || *packet.get(9)? != libc::IPPROTO_TCP as u8 {
        return None;
    }
    let from = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let tcp = packet.get(header_len..)?;
    let from_port = u16::from_be_bytes([*tcp.first()?, *tcp.get(1)?]);
    let to_port = u16::from_be_bytes([*tcp.get(2)?, *tcp.get(3)?]);
    let flags = *tcp.get(13)?;
    (to_port == port && flags & TCP_SYN != 0 && flags & TCP_ACK == 0).then_some((from, from_port))
}

/// When the kernel received the last packet read from `fd` (realtime
/// seconds and microseconds); the time of reading if the kernel cannot say.
fn received_at(fd: libc::c_int) -> (i64, i64) {
    // SAFETY: both calls write into the timespec we own.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        if libc::ioctl(fd, SIOCGSTAMPNS, &mut ts) != 0 {
            libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts);
        }
        (ts.tv_sec, ts.tv_nsec / 1000)
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("lvsd-synrec: {msg}");
    std::process::exit(2);
}
