//! What comes back to a UDP_CHECK or a PING_CHECK, on arbitrary bytes: the
//! judgement of a UDP reply against a reply pattern and lengths, and of a
//! datagram read from an ICMP socket (ping or raw, IPv4 or IPv6), must
//! never panic. The input layout is `lvsd::checker::fuzz_input`'s.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lvsd::checker::fuzz_input::udp_ping_reply(data);
});
