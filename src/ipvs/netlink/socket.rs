//! The generic netlink socket under the IPVS client: opening it (in a given
//! network namespace if asked), sizing its buffers, resolving the family id,
//! and framing messages with sequence numbers.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

use super::datagram::{Frame, Messages};
use super::message::{parse_attrs, IpvsCommand, IpvsMessage, IPVS_GENL_NAME};
use super::wire;
use crate::ipvs::{IpvsError, TableOp};

/// Receive buffer handed to `recv`: large enough for any dump part the
/// kernel builds (it caps them at 32 KiB) and for runs of acks.
const RECV_CHUNK: usize = 256 * 1024;
/// Socket buffer sizes asked for (`SO_RCVBUFFORCE` / `SO_SNDBUFFORCE` as
/// root, capped by `rmem_max`/`wmem_max` otherwise).
const SOCKET_BUFFER: libc::c_int = 8 * 1024 * 1024;

/// One request to send.
pub enum Request<'a> {
    /// A message built as an attribute tree.
    Message(IpvsMessage),
    /// A table change, written straight into the buffer.
    Op(&'a TableOp),
}

/// One decoded message as the client sees it.
pub enum Reply {
    /// An IPVS message (a reply or one part of a dump).
    Message(IpvsMessage),
    /// An ack: `Ok` or the kernel's errno (positive).
    Ack(Result<(), i32>),
    /// The end of a dump (`NLMSG_DONE`), with its errno if it failed.
    Done(Result<(), i32>),
}

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

fn set_int_opt(fd: i32, opt: libc::c_int, value: libc::c_int) -> bool {
    // SAFETY: setsockopt reads exactly size_of::<c_int>() bytes from `value`.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
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
        let fd = socket.as_raw_fd();
        if !set_int_opt(fd, libc::SO_RCVBUFFORCE, SOCKET_BUFFER) {
            set_int_opt(fd, libc::SO_RCVBUF, SOCKET_BUFFER);
        }
        if !set_int_opt(fd, libc::SO_SNDBUFFORCE, SOCKET_BUFFER) {
            set_int_opt(fd, libc::SO_SNDBUF, SOCKET_BUFFER);
        }
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
            // SAFETY: setns on a valid namespace fd affects only this thread.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io(std::io::Error::last_os_error()));
            }
            IpvsSocket::open()
        })
        .join()
        .map_err(|_| IpvsError::Io("namespace thread panicked".into()))?
    }

    fn resolve_family(&mut self) -> Result<u16, IpvsError> {
        let mut genl = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(IPVS_GENL_NAME.to_string())],
        });
        genl.finalize();
        let mut nl = NetlinkMessage::from(genl);
        nl.header.flags = NLM_F_REQUEST;
        self.seq += 1;
        nl.header.sequence_number = self.seq;
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(io)?;
        let n = self.recv()?;
        let msg = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&self.rx[..n])
            .map_err(|e| IpvsError::Protocol(e.to_string()))?;
        match msg.payload {
            NetlinkPayload::InnerMessage(m) => m
                .payload
                .nlas
                .iter()
                .find_map(|a| match a {
                    GenlCtrlAttrs::FamilyId(id) => Some(*id),
                    _ => None,
                })
                .ok_or_else(|| IpvsError::Protocol("no family id in reply".into())),
            NetlinkPayload::Error(e) => match e.code.map(|c| -c.get()) {
                Some(libc::ENOENT) => Err(IpvsError::NotAvailable),
                Some(errno) => Err(errno_error(errno)),
                None => Err(IpvsError::Protocol("ack without family".into())),
            },
            _ => Err(IpvsError::Protocol("unexpected reply to GETFAMILY".into())),
        }
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

    /// Frame `msg` with the next sequence number into `out`; returns it.
    /// `ack` asks for an ack, `dump` for a dump.
    pub fn encode(&mut self, msg: IpvsMessage, ack: bool, dump: bool, out: &mut Vec<u8>) -> u32 {
        let header = self.next_header(ack, dump);
        let mut genl = GenlMessage::from_payload(msg);
        genl.set_resolved_family_id(header.family);
        let mut nl = NetlinkMessage::from(genl);
        nl.header.flags = header.flags;
        nl.header.sequence_number = header.seq;
        nl.finalize();
        let start = out.len();
        out.resize(start + nl.buffer_len(), 0);
        nl.serialize(&mut out[start..]);
        header.seq
    }

    /// Frame one request (a message, or a table change written in place;
    /// see [`super::wire`]) with the next sequence number into `out`;
    /// returns it.
    pub fn encode_request(&mut self, request: Request<'_>, ack: bool, out: &mut Vec<u8>) -> u32 {
        match request {
            Request::Message(msg) => self.encode(msg, ack, false, out),
            Request::Op(op) => {
                let header = self.next_header(ack, false);
                wire::write_op(op, header, out);
                header.seq
            }
        }
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

    /// Receive one datagram and decode every message in it, with its
    /// sequence number.
    pub fn receive(&mut self) -> Result<Vec<(u32, Reply)>, IpvsError> {
        let mut out = Vec::new();
        for frame in self.receive_frames()? {
            let (seq, frame) = frame?;
            out.push((
                seq,
                match frame {
                    Frame::Message(cmd, attrs) => Reply::Message(IpvsMessage {
                        cmd: IpvsCommand::from_number(cmd).ok_or_else(|| {
                            IpvsError::Protocol(format!("unknown IPVS command {cmd}"))
                        })?,
                        attrs: parse_attrs(attrs)
                            .map_err(|e| IpvsError::Protocol(e.to_string()))?,
                    }),
                    Frame::Ack(r) => Reply::Ack(r),
                    Frame::Done(r) => Reply::Done(r),
                },
            ));
        }
        Ok(out)
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
