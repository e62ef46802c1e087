//! The kernel's IPVS table over generic netlink (`linux/ip_vs.h`).
//!
//! - [`message`]: the wire message (command + attribute tree), implementing
//!   netlink-packet-generic's `GenlFamily`.
//! - [`attrs`]: the attribute schema, model structs ↔ attributes.
//! - [`socket`]: the socket, family resolution, framing.
//! - [`datagram`]: received messages read in place.
//! - [`client`]: [`NetlinkTable`], pipelined changes and dumps.
//! - [`wire`]: table changes written straight into the send buffer (the
//!   bulk of a start's requests).
//! - `tests`: the wire format, byte for byte as `linux/ip_vs.h` lays it out.

pub mod attrs;
pub mod client;
pub mod datagram;
pub mod message;
pub mod socket;
pub mod wire;

pub use client::NetlinkTable;

#[cfg(test)]
mod tests;
