//! Table changes written straight into the send buffer.
//!
//! A start or a big reload sends tens of thousands of requests, nearly all
//! of them "add this destination". Built as a tree of [`super::message::Attr`]
//! and serialized by the netlink crates, each one cost about 11,000
//! instructions and twenty allocations, more than reading its line of the
//! config. Here a request is written in place, header then attributes, with
//! no allocation at all: the same bytes (`tests.rs` checks them against
//! `linux/ip_vs.h`'s layout), a few hundred instructions.
//!
//! ```text
//!   nlmsghdr   len u32 | type u16 (the IPVS family) | flags u16 | seq u32 | pid u32
//!   genlmsghdr cmd u8  | version u8 (1)             | reserved u16
//!   attributes len u16 | type u16 | payload | padding to 4 bytes
//! ```
//!
//! A nested attribute is written with its length left open and patched
//! once its children are in.

use super::attrs::{cmd, dest, fwd_number, inet_addr_bytes, netmask_bytes, svc};
use super::attrs::{tunnel_type_number, wire_flags};
use super::message::{Attr, IpvsCommand, IPVS_GENL_VERSION};
use crate::ipvs::{DestKey, Destination, Family, Service, ServiceKey, TableOp};

/// The netlink header fields of one request.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// The IPVS generic netlink family's id (the message type).
    pub family: u16,
    /// `NLM_F_*`.
    pub flags: u16,
    /// Sequence number.
    pub seq: u32,
}

/// Append `op` as one complete request to `out`.
pub fn write_op(op: &TableOp, header: Header, out: &mut Vec<u8>) {
    use IpvsCommand::*;
    let start = begin(
        out,
        header,
        match op {
            TableOp::AddService(_) => NewService,
            TableOp::UpdateService(_) => SetService,
            TableOp::RemoveService(_) => DelService,
            TableOp::AddDest(..) => NewDest,
            TableOp::UpdateDest(..) => SetDest,
            TableOp::RemoveDest(..) => DelDest,
        },
    );
    match op {
        TableOp::AddService(s) | TableOp::UpdateService(s) => {
            nested(out, cmd::SERVICE, |out| service(out, s))
        }
        TableOp::RemoveService(key) => nested(out, cmd::SERVICE, |out| service_key(out, key)),
        TableOp::AddDest(key, d) | TableOp::UpdateDest(key, d) => {
            nested(out, cmd::SERVICE, |out| service_key(out, key));
            nested(out, cmd::DEST, |out| destination(out, d));
        }
        TableOp::RemoveDest(key, d) => {
            nested(out, cmd::SERVICE, |out| service_key(out, key));
            nested(out, cmd::DEST, |out| dest_key(out, d));
        }
    }
    patch_len32(out, start);
}

/// A service's identity as one attribute tree node (for `GET_SERVICE` and
/// `GET_DEST`, which go through [`super::message::IpvsMessage`]).
pub fn service_key_attr(key: &ServiceKey) -> Attr {
    let mut bytes = Vec::with_capacity(40);
    service_key(&mut bytes, key);
    Attr::bytes(cmd::SERVICE, bytes)
}

/// The two headers, with the message length left to patch; where it starts.
fn begin(out: &mut Vec<u8>, header: Header, command: IpvsCommand) -> usize {
    let start = out.len();
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&header.family.to_ne_bytes());
    out.extend_from_slice(&header.flags.to_ne_bytes());
    out.extend_from_slice(&header.seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[command as u8, IPVS_GENL_VERSION, 0, 0]);
    start
}

/// Set the `u32` length at `start` to the bytes written since.
fn patch_len32(out: &mut [u8], start: usize) {
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// One attribute with its payload, padded to 4 bytes.
fn put(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    pad(out);
}

/// A NUL-terminated string attribute.
fn put_string(out: &mut Vec<u8>, kind: u16, s: &str) {
    out.extend_from_slice(&((4 + s.len() + 1) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    pad(out);
}

fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

/// An attribute nesting what `children` writes.
fn nested(out: &mut Vec<u8>, kind: u16, children: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&0u16.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    children(out);
    let len = (out.len() - start) as u16;
    out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

/// The attributes that identify a service.
fn service_key(out: &mut Vec<u8>, key: &ServiceKey) {
    match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            put(out, svc::AF, &Family::of(addr).number().to_ne_bytes());
            put(out, svc::PROTOCOL, &protocol.number().to_ne_bytes());
            put(out, svc::ADDR, &inet_addr_bytes(addr));
            put(out, svc::PORT, &port.to_be_bytes());
        }
        ServiceKey::Fwmark { family, mark } => {
            put(out, svc::AF, &family.number().to_ne_bytes());
            put(out, svc::FWMARK, &mark.to_ne_bytes());
        }
    }
}

/// A whole service (`NEW_SERVICE` / `SET_SERVICE`).
fn service(out: &mut Vec<u8>, s: &Service) {
    service_key(out, &s.key);
    put_string(out, svc::SCHED_NAME, &s.scheduler);
    if let Some(pe) = &s.pe_name {
        put_string(out, svc::PE_NAME, pe);
    }
    let mut flags = [0u8; 8];
    flags[..4].copy_from_slice(&wire_flags(s).to_ne_bytes());
    flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    put(out, svc::FLAGS, &flags);
    put(out, svc::TIMEOUT, &s.timeout.to_ne_bytes());
    put(out, svc::NETMASK, &netmask_bytes(s.key.family(), s.netmask));
}

/// The attributes that identify a destination.
fn dest_key(out: &mut Vec<u8>, key: &DestKey) {
    put(
        out,
        dest::ADDR_FAMILY,
        &Family::of(&key.addr).number().to_ne_bytes(),
    );
    put(out, dest::ADDR, &inet_addr_bytes(&key.addr));
    put(out, dest::PORT, &key.port.to_be_bytes());
}

/// A whole destination (`NEW_DEST` / `SET_DEST`).
fn destination(out: &mut Vec<u8>, d: &Destination) {
    dest_key(out, &d.key);
    put(out, dest::FWD_METHOD, &fwd_number(d.fwd).to_ne_bytes());
    put(out, dest::WEIGHT, &(d.weight as u32).to_ne_bytes());
    put(out, dest::TUN_TYPE, &[tunnel_type_number(d.tunnel.kind)]);
    put(out, dest::TUN_PORT, &d.tunnel.port.to_be_bytes());
    put(out, dest::TUN_FLAGS, &d.tunnel.flags.to_ne_bytes());
    put(out, dest::U_THRESH, &d.u_threshold.to_ne_bytes());
    put(out, dest::L_THRESH, &d.l_threshold.to_ne_bytes());
}
