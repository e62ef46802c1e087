//! The one writer of IPVS requests: every request lvsd sends, table
//! changes, reads and settings alike, is written here straight into the
//! send buffer (the reader is [`super::datagram`] and [`super::message::View`]).
//!
//! A start or a big reload sends tens of thousands of requests, nearly all
//! of them "add this destination". Built as a tree of attributes and
//! serialized by the netlink crates, each one cost about 11,000
//! instructions and twenty allocations, more than reading its line of the
//! config. Here a request is written in place, header then attributes, with
//! no allocation at all: the same bytes (`tests.rs` checks them against
//! `linux/ip_vs.h`'s layout).
//!
//! ```text
//!   nlmsghdr   len u32 | type u16 (the IPVS family) | flags u16 | seq u32 | pid u32
//!   genlmsghdr cmd u8  | version u8 (1)             | reserved u16
//!   attributes len u16 | type u16 | payload | padding to 4 bytes
//! ```
//!
//! A nested attribute is written with its length left open and patched
//! once its children are in.
//!
//! Two ways in, one layout:
//!
//! - [`Writer`] appends to the buffer attribute by attribute: `put`,
//!   `put_str`, `nest(kind, |w| …)`. Any request can be written this way;
//!   services (their scheduler's and persistence engine's names have any
//!   length), reads and settings are.
//! - A `Block` is the fast path for what has a bounded size (no strings: at
//!   most 164 bytes, a destination request). The buffer grows by that
//!   much, zeroed, at once, the request is laid out there with constant
//!   offsets the compiler works out at build time, then the buffer is cut
//!   to what was written: about 150 instructions a destination instead of
//!   a thousand for attribute-by-attribute appends, each checking the
//!   buffer's room. A [`Writer`] uses blocks too, for a service's key and
//!   settings.

use super::attrs::{cmd, daemon, dest, fwd_number, inet_addr_bytes, netmask_bytes, svc};
use super::attrs::{tunnel_type_number, wire_flags};
use super::message::{IpvsCommand, IPVS_GENL_VERSION};
use crate::ipvs::settings::{SyncDaemon, SyncState, Timeouts};
use crate::ipvs::{DestKey, Destination, Family, Service, ServiceKey, TableOp};

/// The netlink header fields of one request.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// The generic netlink family's id (the message type).
    pub family: u16,
    /// `NLM_F_*`.
    pub flags: u16,
    /// Sequence number.
    pub seq: u32,
}

/// Every request lvsd sends to the IPVS family.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    /// A table change.
    Op(&'a TableOp),
    /// Every service (a dump).
    Services,
    /// One service.
    Service(&'a ServiceKey),
    /// The destinations of a service (a dump).
    Dests(&'a ServiceKey),
    /// The running sync daemons (a dump).
    Daemons,
    /// The version and connection table size.
    Info,
    /// The protocol timeouts.
    Timeouts,
    /// Set the protocol timeouts (zero ones stay as they are).
    SetTimeouts(&'a Timeouts),
    /// Start a sync daemon.
    StartDaemon(&'a SyncDaemon),
    /// Stop the sync daemon in this role.
    StopDaemon(SyncState),
    /// Zero every counter.
    Zero,
    /// Remove every service.
    Flush,
}

/// The largest request without strings: headers (20), a service key (48)
/// and a whole destination (96).
pub(super) const BLOCK: usize = 164;

/// Append `request` as one complete message to `out`.
pub fn write_request(request: &Request<'_>, header: Header, out: &mut Vec<u8>) {
    use IpvsCommand::*;
    match *request {
        Request::Op(op) => write_op(op, header, out),
        Request::Services => message(out, header, GetService as u8, |_| {}),
        Request::Service(key) => message(out, header, GetService as u8, |w| {
            w.nest(cmd::SERVICE, |w| w.block(|b| b.service_key(key)))
        }),
        Request::Dests(key) => message(out, header, GetDest as u8, |w| {
            w.nest(cmd::SERVICE, |w| w.block(|b| b.service_key(key)))
        }),
        Request::Daemons => message(out, header, GetDaemon as u8, |_| {}),
        Request::Info => message(out, header, GetInfo as u8, |_| {}),
        Request::Timeouts => message(out, header, GetConfig as u8, |_| {}),
        Request::SetTimeouts(t) => message(out, header, SetConfig as u8, |w| timeouts(w, t)),
        Request::StartDaemon(d) => message(out, header, NewDaemon as u8, |w| {
            w.nest(cmd::DAEMON, |w| sync_daemon(w, d))
        }),
        Request::StopDaemon(state) => message(out, header, DelDaemon as u8, |w| {
            w.nest(cmd::DAEMON, |w| {
                w.put(daemon::STATE, &state.number().to_ne_bytes())
            })
        }),
        Request::Zero => message(out, header, Zero as u8, |_| {}),
        Request::Flush => message(out, header, Flush as u8, |_| {}),
    }
}

/// Append `op` as one complete request to `out`.
pub fn write_op(op: &TableOp, header: Header, out: &mut Vec<u8>) {
    use IpvsCommand::*;
    let command = match op {
        TableOp::AddService(_) => NewService,
        TableOp::UpdateService(_) => SetService,
        TableOp::RemoveService(_) => DelService,
        TableOp::AddDest(..) => NewDest,
        TableOp::UpdateDest(..) => SetDest,
        TableOp::RemoveDest(..) => DelDest,
    };
    match op {
        TableOp::AddService(s) | TableOp::UpdateService(s) => {
            message(out, header, command as u8, |w| {
                w.nest(cmd::SERVICE, |w| service(w, s))
            })
        }
        TableOp::RemoveService(key) => in_place(out, |block| {
            block.headers(header, command as u8);
            block.service_key_nested(key);
            block.patch_len32();
        }),
        TableOp::AddDest(key, d) | TableOp::UpdateDest(key, d) => {
            dest_request(out, header, command, key, |block| block.destination(d))
        }
        TableOp::RemoveDest(key, d) => {
            dest_request(out, header, command, key, |block| block.dest_key(d))
        }
    }
}

/// Append one message of generic netlink command `command` to `out`: the
/// headers, then what `body` writes, then its length patched in.
pub(super) fn message(
    out: &mut Vec<u8>,
    header: Header,
    command: u8,
    body: impl FnOnce(&mut Writer<'_>),
) {
    let start = out.len();
    in_place(out, |block| block.headers(header, command));
    body(&mut Writer { out });
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// Append a request about one destination of service `key`: what `dest`
/// writes (the whole destination, or only its key) nested in
/// `IPVS_CMD_ATTR_DEST`.
#[inline(always)]
fn dest_request(
    out: &mut Vec<u8>,
    header: Header,
    command: IpvsCommand,
    key: &ServiceKey,
    dest: impl FnOnce(&mut Block<'_>),
) {
    in_place(out, |block| {
        block.headers(header, command as u8);
        block.service_key_nested(key);
        let nest = block.open(cmd::DEST);
        dest(block);
        block.close(nest);
        block.patch_len32();
    })
}

/// Append to `out` what `write` lays out in a [`Block`]: the block is the
/// end of `out` itself, zeroed, then cut to what was written (no copy).
fn in_place(out: &mut Vec<u8>, write: impl FnOnce(&mut Block<'_>)) {
    let start = out.len();
    out.resize(start + BLOCK, 0);
    let mut len = 0;
    // The slice is BLOCK bytes long, just made so: the chunk is always there.
    if let Some(bytes) = out[start..].first_chunk_mut::<BLOCK>() {
        let mut block = Block { bytes, len: 0 };
        write(&mut block);
        len = block.len;
    }
    out.truncate(start + len);
}

/// Attributes appended one by one to a request being written.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    /// One attribute with its payload, padded to 4 bytes.
    pub fn put(&mut self, kind: u16, payload: &[u8]) {
        self.out
            .extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        self.out.extend_from_slice(&kind.to_ne_bytes());
        self.out.extend_from_slice(payload);
        self.out.resize(self.out.len().next_multiple_of(4), 0);
    }

    /// A NUL-terminated string attribute (`NLA_NUL_STRING`).
    pub fn put_str(&mut self, kind: u16, s: &str) {
        self.out
            .extend_from_slice(&((4 + s.len() + 1) as u16).to_ne_bytes());
        self.out.extend_from_slice(&kind.to_ne_bytes());
        self.out.extend_from_slice(s.as_bytes());
        self.out.push(0);
        self.out.resize(self.out.len().next_multiple_of(4), 0);
    }

    /// A nested attribute holding what `children` writes.
    pub fn nest(&mut self, kind: u16, children: impl FnOnce(&mut Writer<'_>)) {
        let start = self.out.len();
        // The header, its length patched once the children are in.
        self.out.extend_from_slice(&[0, 0]);
        self.out.extend_from_slice(&kind.to_ne_bytes());
        children(self);
        let len = (self.out.len() - start) as u16;
        self.out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// Bounded attributes laid out in place (see the module's doc).
    fn block(&mut self, write: impl FnOnce(&mut Block<'_>)) {
        in_place(self.out, write)
    }
}

/// A whole service (`NEW_SERVICE` / `SET_SERVICE`): its key and settings
/// in blocks, its names between them.
fn service(w: &mut Writer<'_>, s: &Service) {
    w.block(|block| block.service_key(&s.key));
    w.put_str(svc::SCHED_NAME, &s.scheduler);
    if let Some(pe) = &s.pe_name {
        w.put_str(svc::PE_NAME, pe);
    }
    w.block(|block| block.service_settings(s));
}

/// The attributes of `SET_CONFIG`; zero values are left out (unchanged).
fn timeouts(w: &mut Writer<'_>, t: &Timeouts) {
    for (kind, v) in [
        (cmd::TIMEOUT_TCP, t.tcp),
        (cmd::TIMEOUT_TCP_FIN, t.tcp_fin),
        (cmd::TIMEOUT_UDP, t.udp),
    ] {
        if v != 0 {
            w.put(kind, &v.to_ne_bytes());
        }
    }
}

/// A sync daemon's attributes (`NEW_DAEMON`); zero values are left to the
/// kernel's defaults.
fn sync_daemon(w: &mut Writer<'_>, d: &SyncDaemon) {
    w.put(daemon::STATE, &d.state.number().to_ne_bytes());
    w.put_str(daemon::MCAST_IFN, &d.mcast_ifn);
    w.put(daemon::SYNC_ID, &d.syncid.to_ne_bytes());
    if d.sync_maxlen != 0 {
        w.put(daemon::SYNC_MAXLEN, &d.sync_maxlen.to_ne_bytes());
    }
    match d.mcast_group {
        Some(std::net::IpAddr::V4(g)) => w.put(daemon::MCAST_GROUP, &g.octets()),
        Some(std::net::IpAddr::V6(g)) => w.put(daemon::MCAST_GROUP6, &g.octets()),
        None => {}
    }
    if d.mcast_port != 0 {
        w.put(daemon::MCAST_PORT, &d.mcast_port.to_ne_bytes());
    }
    if d.mcast_ttl != 0 {
        w.put(daemon::MCAST_TTL, &[d.mcast_ttl]);
    }
}

/// Attributes laid out at a cursor in a fixed-size, zeroed array: padding
/// is already zero, and with every size known the compiler turns each
/// write into a plain store. Only bounded attributes go in (no strings), so
/// [`BLOCK`] bytes always suffice.
struct Block<'a> {
    bytes: &'a mut [u8; BLOCK],
    /// Bytes written so far.
    len: usize,
}

impl Block<'_> {
    /// `data` at the cursor, which moves past it and `skip` bytes more.
    /// Its size is a constant, so the copy is a store or two.
    #[inline(always)]
    fn write<const N: usize>(&mut self, data: [u8; N], skip: usize) {
        let at = self.len;
        self.bytes[at..at + N].copy_from_slice(&data);
        self.len = at + N + skip;
    }

    /// The two headers, with the message length left to patch (at 0).
    #[inline(always)]
    fn headers(&mut self, header: Header, command: u8) {
        self.write(0u32.to_ne_bytes(), 0);
        self.write(header.family.to_ne_bytes(), 0);
        self.write(header.flags.to_ne_bytes(), 0);
        self.write(header.seq.to_ne_bytes(), 0);
        self.write(0u32.to_ne_bytes(), 0);
        self.write([command, IPVS_GENL_VERSION, 0, 0], 0);
    }

    /// Set the message's `u32` length to the bytes written.
    fn patch_len32(&mut self) {
        let len = self.len as u32;
        self.bytes[..4].copy_from_slice(&len.to_ne_bytes());
    }

    /// One attribute with its payload, padded to 4 bytes.
    #[inline(always)]
    fn put<const N: usize>(&mut self, kind: u16, payload: [u8; N]) {
        let len = 4 + N;
        self.write((len as u16).to_ne_bytes(), 0);
        self.write(kind.to_ne_bytes(), 0);
        self.write(payload, len.next_multiple_of(4) - len);
    }

    /// Start a nested attribute; where it starts, for [`Block::close`].
    #[inline(always)]
    fn open(&mut self, kind: u16) -> usize {
        let start = self.len;
        self.write(0u16.to_ne_bytes(), 0);
        self.write(kind.to_ne_bytes(), 0);
        start
    }

    /// End the nested attribute begun at `start`: patch its length.
    #[inline(always)]
    fn close(&mut self, start: usize) {
        let len = (self.len - start) as u16;
        self.bytes[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// The attributes that identify a service: its family, then its
    /// protocol, address and port, or its firewall mark.
    #[inline(always)]
    fn service_key(&mut self, key: &ServiceKey) {
        self.put(svc::AF, key.family().number().to_ne_bytes());
        match *key {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => {
                self.put(svc::PROTOCOL, protocol.number().to_ne_bytes());
                self.put(svc::ADDR, inet_addr_bytes(&addr));
                self.put(svc::PORT, port.to_be_bytes());
            }
            ServiceKey::Fwmark { mark, .. } => self.put(svc::FWMARK, mark.to_ne_bytes()),
        }
    }

    /// The service's identity nested in its `IPVS_CMD_ATTR_SERVICE`.
    #[inline(always)]
    fn service_key_nested(&mut self, key: &ServiceKey) {
        let nest = self.open(cmd::SERVICE);
        self.service_key(key);
        self.close(nest);
    }

    /// The attributes that identify a destination.
    #[inline(always)]
    fn dest_key(&mut self, key: &DestKey) {
        self.put(
            dest::ADDR_FAMILY,
            Family::of(&key.addr).number().to_ne_bytes(),
        );
        self.put(dest::ADDR, inet_addr_bytes(&key.addr));
        self.put(dest::PORT, key.port.to_be_bytes());
    }

    /// A whole destination (`NEW_DEST` / `SET_DEST`).
    fn destination(&mut self, d: &Destination) {
        self.dest_key(&d.key);
        self.put(dest::FWD_METHOD, fwd_number(d.fwd).to_ne_bytes());
        self.put(dest::WEIGHT, (d.weight as u32).to_ne_bytes());
        self.put(dest::TUN_TYPE, [tunnel_type_number(d.tunnel.kind)]);
        self.put(dest::TUN_PORT, d.tunnel.port.to_be_bytes());
        self.put(dest::TUN_FLAGS, d.tunnel.flags.to_ne_bytes());
        self.put(dest::U_THRESH, d.u_threshold.to_ne_bytes());
        self.put(dest::L_THRESH, d.l_threshold.to_ne_bytes());
    }

    /// A service's settings after its names: flags, timeout, netmask.
    fn service_settings(&mut self, s: &Service) {
        let mut flags = [0u8; 8];
        flags[..4].copy_from_slice(&wire_flags(s).to_ne_bytes());
        flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
        self.put(svc::FLAGS, flags);
        self.put(svc::TIMEOUT, s.timeout.to_ne_bytes());
        self.put(svc::NETMASK, netmask_bytes(s.key.family(), s.netmask));
    }
}
