//! What comes back to a UDP_CHECK or a PING_CHECK, on arbitrary bytes: the
//! judgement of a UDP reply against a reply pattern and lengths, and of a
//! datagram read from an ICMP socket (ping or raw, IPv4 or IPv6), must
//! never panic.
//!
//! Input layout: byte 0 picks the kind and options; for UDP, byte 1 is the
//! pattern's length (n, mod 16), then n value bytes, n mask bytes, min and
//! max (2 bytes each, big endian), then the reply; for PING, bytes 1–4 are
//! the expected identifier and sequence number, then what was read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lvsd::checker::fuzz_input::udp_ping_reply(data));
