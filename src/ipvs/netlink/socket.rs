//! The generic netlink socket under the IPVS client: opening it (in a given
//! network namespace if asked), sizing its buffers, resolving the family id,
//! and numbering requests. Requests are written by [`super::wire`] and
//! replies read by [`super::datagram`], the family's lookup (`GETFAMILY`
//! to the generic netlink controller) included.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use super::datagram::{Frame, Messages};
use super::message::{View, IPVS_GENL_NAME};
use super::wire::{self, Request};
use crate::ipvs::IpvsError;

/// Receive buffer handed to `recv`: large enough for any dump part the
/// kernel builds (it caps them at 32 KiB) and for runs of acks.
const RECV_CHUNK: usize = 256 * 1024;
/// Socket buffer sizes asked for (`SO_RCVBUFFORCE` / `SO_SNDBUFFORCE` as
/// root, capped by `rmem_max`/`wmem_max` otherwise).
const SOCKET_BUFFER: usize = 8 * 1024 * 1024;

/// `NLM_F_REQUEST`, `NLM_F_ACK`, `NLM_F_DUMP` (`linux/netlink.h`).
const NLM_F_REQUEST: u16 = libc::NLM_F_REQUEST as u16;
const NLM_F_ACK: u16 = libc::NLM_F_ACK as u16;
const NLM_F_DUMP: u16 = libc::NLM_F_DUMP as u16;

/// A generic netlink socket bound to the IPVS family.
pub struct IpvsSocket {
    socket: Socket,
    family: u16,
    seq: u32,
    rx: Vec<u8>,
    /// How many bytes of acks the receive buffer can hold.
    pub rcvbuf: usize,
}

fn io(e: std::io::Error) -> IpvsError {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => IpvsError::Permission,
        _ => IpvsError::Io(e.to_string()),
    }
}

/// Ask for [`SOCKET_BUFFER`] each way: past `rmem_max`/`wmem_max` where
/// allowed (root), else as far as they let. Best effort: a smaller buffer
/// only makes the pipelined windows shorter.
fn size_buffers(socket: &Socket) {
    use nix::sys::socket::{setsockopt, sockopt};
    if setsockopt(socket, sockopt::RcvBufForce, &SOCKET_BUFFER).is_err() {
        let _ = setsockopt(socket, sockopt::RcvBuf, &SOCKET_BUFFER);
    }
    if setsockopt(socket, sockopt::SndBufForce, &SOCKET_BUFFER).is_err() {
        let _ = setsockopt(socket, sockopt::SndBuf, &SOCKET_BUFFER);
    }
}

impl IpvsSocket {
    /// Open a socket in the calling thread's network namespace and resolve
    /// the `IPVS` family (`NotAvailable` when the kernel has none).
    pub fn open() -> Result<Self, IpvsError> {
        let mut socket = Socket::new(NETLINK_GENERIC).map_err(io)?;
        socket.bind_auto().map_err(io)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        // Acks then carry only the request's header, not the whole request.
        let _ = socket.set_cap_ack(true);
        size_buffers(&socket);
        let rcvbuf = socket.get_rx_buf_sz().unwrap_or(212_992);
        let mut s = IpvsSocket {
            socket,
            family: 0,
            seq: 0,
            rx: Vec::with_capacity(RECV_CHUNK),
            rcvbuf,
        };
        s.family = s.resolve_family()?;
        Ok(s)
    }

    /// Open a socket inside the network namespace at `netns` (for example
    /// `/run/netns/NAME` or `/proc/PID/ns/net`). The socket is created on a
    /// short-lived thread that joins the namespace, so the caller's thread
    /// stays where it is; a netlink socket keeps the namespace it was born in.
    pub fn open_in_netns(netns: &Path) -> Result<Self, IpvsError> {
        let file = File::open(netns).map_err(io)?;
        std::thread::spawn(move || {
            // Only this thread moves (as `daemon::netns` moves the main one).
            move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))
                .map_err(|e| io(e.into()))?;
            IpvsSocket::open()
        })
        .join()
        .map_err(|_| IpvsError::Io("namespace thread panicked".into()))?
    }

    /// The IPVS family's id, asked of the generic netlink controller
    /// (`CTRL_CMD_GETFAMILY`); `NotAvailable` when the kernel has none.
    fn resolve_family(&mut self) -> Result<u16, IpvsError> {
        const CTRL: u16 = libc::GENL_ID_CTRL as u16;
        self.seq = self.seq.wrapping_add(1);
        let header = wire::Header {
            family: CTRL,
            flags: NLM_F_REQUEST,
            seq: self.seq,
        };
        let mut buf = Vec::new();
        wire::message(&mut buf, header, libc::CTRL_CMD_GETFAMILY as u8, |w| {
            w.put_str(libc::CTRL_ATTR_FAMILY_NAME as u16, IPVS_GENL_NAME)
        });
        self.send(&buf)?;
        let n = self.recv()?;
        for frame in Messages::new(&self.rx[..n], CTRL) {
            match frame? {
                (seq, _) if seq != header.seq => {}
                (_, Frame::Message(_, attrs)) => {
                    return View::parse(attrs)?
                        .uint(libc::CTRL_ATTR_FAMILY_ID as u16)
                        .map(|id| id as u16)
                        .ok_or_else(|| IpvsError::Protocol("no family id in reply".into()));
                }
                (_, Frame::Ack(Err(libc::ENOENT))) => return Err(IpvsError::NotAvailable),
                (_, Frame::Ack(Err(errno)) | Frame::Done(Err(errno))) => {
                    return Err(errno_error(errno))
                }
                (_, Frame::Ack(Ok(())) | Frame::Done(Ok(()))) => {
                    return Err(IpvsError::Protocol("ack without family".into()))
                }
            }
        }
        Err(IpvsError::Protocol("no reply to GETFAMILY".into()))
    }

    /// The next request's netlink header: the next sequence number, and
    /// flags asking for an ack (`ack`) or a dump (`dump`).
    fn next_header(&mut self, ack: bool, dump: bool) -> wire::Header {
        let mut flags = NLM_F_REQUEST;
        if ack {
            flags |= NLM_F_ACK;
        }
        if dump {
            flags |= NLM_F_DUMP;
        }
        self.seq = self.seq.wrapping_add(1);
        wire::Header {
            family: self.family,
            flags,
            seq: self.seq,
        }
    }

    /// Write `request` with the next sequence number into `out`; returns
    /// the number. `ack` asks for an ack, `dump` for a dump.
    pub fn encode(
        &mut self,
        request: &Request<'_>,
        ack: bool,
        dump: bool,
        out: &mut Vec<u8>,
    ) -> u32 {
        let header = self.next_header(ack, dump);
        wire::write_request(request, header, out);
        header.seq
    }

    /// Send framed messages in one datagram.
    pub fn send(&self, buf: &[u8]) -> Result<(), IpvsError> {
        self.socket.send(buf, 0).map_err(io)?;
        Ok(())
    }

    fn recv(&mut self) -> Result<usize, IpvsError> {
        self.rx.clear();
        if self.rx.capacity() < RECV_CHUNK {
            self.rx.reserve(RECV_CHUNK);
        }
        let n = self.socket.recv(&mut self.rx, 0).map_err(io)?;
        if n > self.rx.len() {
            return Err(IpvsError::Protocol(format!(
                "netlink message of {n} bytes truncated"
            )));
        }
        Ok(n)
    }

    /// Receive one datagram; its messages are read in place (see
    /// [`super::datagram`]).
    pub fn receive_frames(&mut self) -> Result<Messages<'_>, IpvsError> {
        let n = self.recv()?;
        Ok(Messages::new(&self.rx[..n], self.family))
    }
}

/// The typed error for a kernel errno (positive).
pub fn errno_error(errno: i32) -> IpvsError {
    match errno {
        libc::EEXIST => IpvsError::Exists,
        libc::ESRCH => IpvsError::NoService,
        libc::ENOENT => IpvsError::NoDestination,
        libc::EPERM | libc::EACCES => IpvsError::Permission,
        other => IpvsError::Errno(other),
    }
}
