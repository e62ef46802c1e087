//! `lvsd-witness`: what a health checker did, seen from outside it — the
//! probes its backend received and the moments the real server entered or
//! left the IPVS table — on one clock, whichever checker it is.
//!
//! ```text
//! lvsd-witness syns IFACE PORT     # ip netns exec rs lvsd-witness syns veth-rs 8081
//! lvsd-witness udp IFACE PORT      # ip netns exec rs lvsd-witness udp veth-rs 53
//! lvsd-witness ipvs ADDR:PORT...   # lvsd-witness ipvs 10.200.1.2:8081
//! ```
//!
//! Times are seconds of `CLOCK_REALTIME` with microseconds: the same clock
//! as bash's `$EPOCHREALTIME`, so a script can put its own events (a kill)
//! on the same line. (Realtime, not monotonic, for that reason; the test
//! guest has no NTP to step it.) Every line is flushed at once; both modes
//! run until killed and start by printing `watching ...`.
//!
//! **syns** reads IPv4 packets arriving on IFACE with an `AF_PACKET`
//! socket, so it sees a SYN whatever becomes of it: accepted by a
//! listener, refused with an RST because nothing listens, or dropped
//! because the answer has no route (`ip route add blackhole ...`). For each
//! SYN (SYN set, ACK not) to PORT it prints the kernel's receive time
//! (`SIOCGSTAMPNS`) and the sender:
//!
//! ```text
//! syn 1795234567.123456 10.201.1.1:43512
//! ```
//!
//! A retransmitted SYN repeats the source port of its connection attempt,
//! so one probe is one distinct source port.
//!
//! **udp** is the same for UDP datagrams to PORT (a `DNS_CHECK`'s
//! queries): one line `udp TIME FROM:PORT` each.
//!
//! **ipvs** reads `/proc/net/ip_vs` every 5 ms (no process to start per
//! look, unlike `ipvsadm`) and prints whether ADDR:PORT (IPv4) is listed as
//! a real server with a weight above 0, once at start and at every change:
//!
//! ```text
//! present 1795234567.123456
//! absent 1795234569.130201
//! ```
//!
//! Given several real servers, it watches them all with one read and names
//! the one that changed: `absent 1795234569.130201 10.201.3.2:25`.
//!
//! **table** tells when the IPVS table is complete: it lists SERVICES
//! services of PER_SERVICE real servers each. Every 10 ms it asks the
//! kernel for the list of services with the old socket-option interface
//! (`IP_VS_SO_GET_SERVICES`), whose entries carry each service's number of
//! real servers (`num_dests`); generic netlink has no such count. A look
//! therefore costs one entry per service, whatever the number of real
//! servers: at 200 services of 100, a fraction of a millisecond of the test
//! guest's one CPU. Reading the real servers themselves (netlink, or the
//! 20,000 lines of `/proc/net/ip_vs`, 114 ms a read) would cost the CPU the
//! program being timed needs, and more so the faster it fills the table.
//! The interface lists IPv4 services only, so the mode counts only those.
//! It prints `complete` with the time of the look that found the table
//! complete, and exits:
//!
//! ```text
//! watching table 200 services of 100
//! complete 1795234567.123456
//! ```
//!
//! Needs root (`CAP_NET_RAW` for syns, `CAP_NET_ADMIN` for table). Linux only, std + libc, blocking:
//! it runs inside the test VM (see tests/kernel_timing.rs).

// Kept by clippy in CI (`.ci/run`, -D warnings); see Cargo.toml's [lints]
// for why these are here and not there.
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// `ETH_P_IP`: the IPv4 ethertype, what the packet socket asks for.
const ETH_P_IP: u16 = 0x0800;
/// `SIOCGSTAMPNS`: the receive time of the last packet read from a socket.
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;
/// How often the ipvs mode reads the table.
const IPVS_PERIOD: Duration = Duration::from_millis(5);
/// How often the table mode looks.
const TABLE_PERIOD: Duration = Duration::from_millis(10);
const USAGE: &str = "usage: lvsd-witness syns|udp IFACE PORT | lvsd-witness ipvs ADDR:PORT... \
                     | lvsd-witness table SERVICES PER_SERVICE";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["syns", iface, port] => match port.parse::<u16>() {
            Ok(port) => watch_syns(iface, port, Probe::Syn),
            Err(e) => fail(&format!("bad port {port:?}: {e}")),
        },
        ["udp", iface, port] => match port.parse::<u16>() {
            Ok(port) => watch_syns(iface, port, Probe::Udp),
            Err(e) => fail(&format!("bad port {port:?}: {e}")),
        },
        ["ipvs", targets @ ..] if !targets.is_empty() => {
            let parsed: Result<Vec<SocketAddrV4>, _> =
                targets.iter().map(|t| t.parse::<SocketAddrV4>()).collect();
            match parsed {
                Ok(targets) => watch_ipvs(&targets),
                Err(e) => fail(&format!(
                    "bad address in {targets:?} (want 1.2.3.4:80): {e}"
                )),
            }
        }
        ["table", services, per_service] => match (services.parse(), per_service.parse()) {
            (Ok(services), Ok(per_service)) => watch_table(services, per_service),
            _ => fail(USAGE),
        },
        _ => fail(USAGE),
    }
}

/// What the syns and udp modes count.
#[derive(Clone, Copy)]
enum Probe {
    /// A TCP SYN (a connection attempt).
    Syn,
    /// A UDP datagram.
    Udp,
}

/// The syns and udp modes: one line per SYN (or UDP datagram) to `port`
/// arriving on `iface`.
fn watch_syns(iface: &str, port: u16, what: Probe) -> ! {
    let fd = match open_packet_socket(iface) {
        Ok(fd) => fd,
        Err(e) => fail(&format!("cannot read packets on {iface}: {e}")),
    };
    let mut out = std::io::stdout().lock();
    let label = match what {
        Probe::Syn => "syn",
        Probe::Udp => "udp",
    };
    let _ = writeln!(out, "watching {label}s {iface} {port}");
    let _ = out.flush();
    let mut buf = [0u8; 2048];
    loop {
        // SAFETY: recv writes at most buf.len() bytes into the buffer we own.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            fail(&format!("recv: {e}"));
        }
        let packet = &buf[..n as usize];
        let seen = match what {
            Probe::Syn => syn_to(packet, port),
            Probe::Udp => udp_to(packet, port),
        };
        let Some((from, from_port)) = seen else {
            continue;
        };
        let _ = writeln!(out, "{label} {} {from}:{from_port}", stamp(received_at(fd)));
        let _ = out.flush();
    }
}

/// A packet socket bound to `iface` that receives IPv4 packets without their
/// link-layer header.
fn open_packet_socket(iface: &str) -> std::io::Result<libc::c_int> {
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
    let first = *packet.first()?;
    if first >> 4 != 4 || *packet.get(9)? != libc::IPPROTO_TCP as u8 {
        return None;
    }
    let from = Ipv4Addr::new(*packet.get(12)?, packet[13], packet[14], packet[15]);
    let tcp = packet.get(usize::from(first & 0x0f) * 4..)?;
    let from_port = u16::from_be_bytes([*tcp.first()?, *tcp.get(1)?]);
    let to_port = u16::from_be_bytes([*tcp.get(2)?, *tcp.get(3)?]);
    let flags = *tcp.get(13)?;
    (to_port == port && flags & TCP_SYN != 0 && flags & TCP_ACK == 0).then_some((from, from_port))
}

/// The sender of `packet` (an IPv4 packet) when it is a UDP datagram to `port`.
fn udp_to(packet: &[u8], port: u16) -> Option<(Ipv4Addr, u16)> {
    let first = *packet.first()?;
    if first >> 4 != 4 || *packet.get(9)? != libc::IPPROTO_UDP as u8 {
        return None;
    }
    let from = Ipv4Addr::new(*packet.get(12)?, packet[13], packet[14], packet[15]);
    let udp = packet.get(usize::from(first & 0x0f) * 4..)?;
    let from_port = u16::from_be_bytes([*udp.first()?, *udp.get(1)?]);
    let to_port = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    (to_port == port).then_some((from, from_port))
}

/// When the kernel received the last packet read from `fd`; the time of
/// reading if the kernel cannot say.
fn received_at(fd: libc::c_int) -> libc::timespec {
    // SAFETY: ioctl writes into the timespec we own.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        if libc::ioctl(fd, SIOCGSTAMPNS, &mut ts) != 0 {
            return now();
        }
        ts
    }
}

/// The ipvs mode: a line at start and at every change of `target`'s presence.
fn watch_ipvs(targets: &[SocketAddrV4]) -> ! {
    let keys: Vec<String> = targets.iter().map(|t| proc_key(*t)).collect();
    let mut out = std::io::stdout().lock();
    let list: Vec<String> = targets.iter().map(ToString::to_string).collect();
    let _ = writeln!(out, "watching ipvs {}", list.join(" "));
    let mut last: Vec<Option<bool>> = vec![None; targets.len()];
    loop {
        let table = match std::fs::read_to_string("/proc/net/ip_vs") {
            Ok(t) => t,
            Err(e) => fail(&format!("cannot read /proc/net/ip_vs: {e}")),
        };
        let at = now();
        for (i, key) in keys.iter().enumerate() {
            let present = listed_with_weight(&table, key);
            if last[i] != Some(present) {
                let word = if present { "present" } else { "absent" };
                // One target: `present T`; several: `present T ADDR:PORT`.
                let _ = match targets {
                    [_] => writeln!(out, "{word} {}", stamp(at)),
                    _ => writeln!(out, "{word} {} {}", stamp(at), targets[i]),
                };
                last[i] = Some(present);
            }
        }
        let _ = out.flush();
        std::thread::sleep(IPVS_PERIOD);
    }
}

/// The table mode: exits once `services` services of `per_service` real
/// servers each are listed.
fn watch_table(services: usize, per_service: usize) -> ! {
    let mut table = match ServiceCounts::open() {
        Ok(t) => t,
        Err(e) => fail(&format!(
            "cannot open a raw socket for IPVS's socket options: {e}"
        )),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "watching table {services} services of {per_service}");
    let _ = out.flush();
    loop {
        let full = match table.read() {
            Ok(counts) => counts.filter(|n| *n as usize >= per_service).count(),
            Err(e) => fail(&format!("cannot list the IPVS services: {e}")),
        };
        if full >= services {
            let _ = writeln!(out, "complete {}", stamp(now()));
            let _ = out.flush();
            std::process::exit(0);
        }
        std::thread::sleep(TABLE_PERIOD);
    }
}

/// The number of real servers of each IPv4 service, read with IPVS's
/// socket options (`linux/ip_vs.h`): `IP_VS_SO_GET_INFO` says how many
/// services there are, `IP_VS_SO_GET_SERVICES` lists them as
/// `struct ip_vs_get_services`: a `u32` count padded to 8 bytes, then
/// 104-byte `struct ip_vs_service_entry`s, `num_dests` at offset 44. The
/// kernel fills entries from the first and leaves the rest as they were
/// (zeroed here): an entry with protocol 0 is past the end.
struct ServiceCounts {
    fd: libc::c_int,
    buf: Vec<u8>,
}

const IP_VS_SO_GET_INFO: libc::c_int = 64 + 1024 + 64 + 1;
const IP_VS_SO_GET_SERVICES: libc::c_int = 64 + 1024 + 64 + 2;
/// `struct ip_vs_getinfo`: version, connection table size, services.
const GETINFO_LEN: usize = 12;
/// `struct ip_vs_get_services` before its entries.
const SERVICES_HEADER: usize = 8;
const ENTRY_LEN: usize = 104;
const ENTRY_NUM_DESTS: usize = 44;

impl ServiceCounts {
    fn open() -> std::io::Result<Self> {
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(ServiceCounts {
            fd,
            buf: Vec::new(),
        })
    }

    /// `getsockopt(IPPROTO_IP, cmd)` into the first `len` bytes of the
    /// buffer, which holds the request's input (the kernel reads it first).
    fn get(&mut self, cmd: libc::c_int, len: usize) -> std::io::Result<()> {
        let mut got = len as libc::socklen_t;
        // SAFETY: the buffer holds at least `len` bytes; the kernel writes
        // at most `got` of them.
        let rc = unsafe {
            libc::getsockopt(
                self.fd,
                libc::IPPROTO_IP,
                cmd,
                self.buf.as_mut_ptr().cast(),
                &mut got,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// The `num_dests` of each IPv4 service now in the table.
    fn read(&mut self) -> std::io::Result<impl Iterator<Item = u32> + '_> {
        self.buf.clear();
        self.buf.resize(GETINFO_LEN, 0);
        self.get(IP_VS_SO_GET_INFO, GETINFO_LEN)?;
        let services = u32_at(&self.buf, 8);
        let len = SERVICES_HEADER + services as usize * ENTRY_LEN;
        self.buf.clear();
        self.buf.resize(len, 0);
        self.buf[..4].copy_from_slice(&services.to_ne_bytes());
        self.get(IP_VS_SO_GET_SERVICES, len)?;
        Ok(num_dests(&self.buf))
    }
}

/// The `num_dests` of each entry of a `struct ip_vs_get_services`, up to
/// the first entry the kernel left zeroed.
fn num_dests(services: &[u8]) -> impl Iterator<Item = u32> + '_ {
    services
        .get(SERVICES_HEADER..)
        .unwrap_or_default()
        .chunks_exact(ENTRY_LEN)
        .take_while(|entry| entry[0] != 0 || entry[1] != 0)
        .map(|entry| u32_at(entry, ENTRY_NUM_DESTS))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_ne_bytes(word)
}

/// How `/proc/net/ip_vs` spells a real server: hex address and port,
/// `0AC90102:1F9A` for 10.201.1.2:8090.
fn proc_key(target: SocketAddrV4) -> String {
    format!("{:08X}:{:04X}", u32::from(*target.ip()), target.port())
}

/// Whether `/proc/net/ip_vs` text lists real server `key` with a weight above 0.
fn listed_with_weight(table: &str, key: &str) -> bool {
    table.lines().any(|line| {
        let mut words = line.split_whitespace();
        words.next() == Some("->")
            && words.next() == Some(key)
            && words.nth(1).and_then(|w| w.parse::<u32>().ok()) > Some(0)
    })
}

fn now() -> libc::timespec {
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts);
        ts
    }
}

/// `seconds.micros`, as bash's `$EPOCHREALTIME`.
fn stamp(ts: libc::timespec) -> String {
    format!("{}.{:06}", ts.tv_sec, ts.tv_nsec / 1000)
}

fn fail(msg: &str) -> ! {
    eprintln!("lvsd-witness: {msg}");
    std::process::exit(2);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 + TCP header from 10.201.1.1:43512 to port `to` with `flags`.
    fn packet(to: u16, flags: u8) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 201, 1, 1]);
        p[16..20].copy_from_slice(&[10, 201, 1, 2]);
        p[20..22].copy_from_slice(&43512u16.to_be_bytes());
        p[22..24].copy_from_slice(&to.to_be_bytes());
        p[33] = flags;
        p
    }

    #[test]
    fn only_a_syn_to_the_port_counts() {
        let from = Some((Ipv4Addr::new(10, 201, 1, 1), 43512));
        assert_eq!(syn_to(&packet(8090, TCP_SYN), 8090), from);
        assert_eq!(syn_to(&packet(8090, TCP_SYN | TCP_ACK), 8090), None);
        assert_eq!(syn_to(&packet(8090, TCP_ACK), 8090), None);
        assert_eq!(syn_to(&packet(8091, TCP_SYN), 8090), None);
        let mut udp = packet(8090, TCP_SYN);
        udp[9] = 17;
        assert_eq!(syn_to(&udp, 8090), None);
        assert_eq!(syn_to(&packet(8090, TCP_SYN)[..30], 8090), None);
        assert_eq!(syn_to(&[], 8090), None);
    }

    #[test]
    fn only_a_udp_datagram_to_the_port_counts() {
        let from = Some((Ipv4Addr::new(10, 201, 1, 1), 43512));
        let mut udp = packet(53, 0);
        udp[9] = 17;
        assert_eq!(udp_to(&udp, 53), from);
        assert_eq!(udp_to(&udp, 54), None);
        assert_eq!(udp_to(&packet(53, TCP_SYN), 53), None);
        assert_eq!(udp_to(&udp[..22], 53), None);
    }

    #[test]
    fn service_counts_are_read_up_to_the_first_unfilled_entry() {
        // Two entries as linux/ip_vs.h lays them out (TCP 10.10.0.1:80 with
        // 100 real servers, UDP with 7), then one the kernel did not fill.
        let mut buf = vec![0u8; SERVICES_HEADER + 3 * ENTRY_LEN];
        buf[..4].copy_from_slice(&3u32.to_ne_bytes());
        for (i, (protocol, dests)) in [(6u16, 100u32), (17, 7)].into_iter().enumerate() {
            let entry = &mut buf[SERVICES_HEADER + i * ENTRY_LEN..][..ENTRY_LEN];
            entry[..2].copy_from_slice(&protocol.to_ne_bytes());
            entry[4..8].copy_from_slice(&[10, 10, 0, 1]);
            entry[8..10].copy_from_slice(&80u16.to_be_bytes());
            entry[16..18].copy_from_slice(b"rr");
            entry[ENTRY_NUM_DESTS..][..4].copy_from_slice(&dests.to_ne_bytes());
        }
        assert_eq!(num_dests(&buf).collect::<Vec<_>>(), [100, 7]);
        assert_eq!(num_dests(&buf[..3]).count(), 0);
    }

    #[test]
    fn a_real_server_counts_when_listed_with_a_weight() {
        let table = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  0A0B0001:0050 rr
  -> 0AC90102:1F9A      Masq    1      0          0
  -> 0AC90202:1F9A      Masq    0      0          0
";
        let key = |a: &str| proc_key(a.parse().unwrap());
        assert_eq!(key("10.201.1.2:8090"), "0AC90102:1F9A");
        assert!(listed_with_weight(table, &key("10.201.1.2:8090")));
        assert!(!listed_with_weight(table, &key("10.201.2.2:8090")));
        assert!(!listed_with_weight(table, &key("10.201.3.2:8090")));
        assert!(!listed_with_weight(table, &key("10.11.0.1:80")));
    }
}
