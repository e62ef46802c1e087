//! The kernel's IPVS table over generic netlink (`linux/ip_vs.h`).
//!
//! One codec: [`wire`] is the only writer and [`datagram`] with
//! [`message::View`] the only reader, for every request and reply of the
//! family (the controller's `GETFAMILY` too).
//!
//! - [`message`]: the IPVS commands, and [`message::View`], a received
//!   message's attributes read in place.
//! - [`attrs`]: the attribute schema: numbers, wire forms, the model read
//!   back from a [`message::View`].
//! - [`wire`]: every request written straight into the send buffer (table
//!   changes, the bulk of a start's requests, through a fixed-size block).
//! - [`datagram`]: the netlink messages of a received datagram, in place.
//! - [`socket`]: the socket, family resolution, sequence numbers.
//! - [`client`]: [`NetlinkTable`], pipelined changes, requests and dumps.
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
