//! Arbitrary bytes as what comes back to a `UDP_CHECK` or a `PING_CHECK`:
//! the one entry the fuzz target (`fuzz/fuzz_targets/udp_ping_reply.rs`)
//! and the replay of its checked-in corpus (`tests/checker/udp_ping.rs`)
//! share. The judgements must never panic, whatever the bytes.
//!
//! Layout: byte 0 picks the kind (bit 0: PING) and options (bit 1: IPv6,
//! bit 2: raw socket, bit 3: `require_reply` set); for UDP, byte 1 is the
//! pattern's length n (mod 16), then n value bytes, n mask bytes, min and
//! max reply lengths (2 bytes each, big endian), then the reply; for PING,
//! bytes 1–4 are the expected identifier and sequence number, then what
//! the socket read.

use super::ping::{self, Expect, SocketKind};
use super::udp::{self, Heard};
use crate::config::{CheckCommon, ReplyPattern, UdpCheck};

/// Judges `data` as described in the module docs; returns whether it passed.
pub fn udp_ping_reply(data: &[u8]) -> bool {
    let Some((&flags, rest)) = data.split_first() else {
        return false;
    };
    if flags & 1 == 1 {
        let (head, read) = rest.split_at(rest.len().min(4));
        let mut word = [0u8; 4];
        word[..head.len()].copy_from_slice(head);
        let expect = Expect {
            v6: flags & 2 != 0,
            id: (flags & 4 != 0).then(|| u16::from_be_bytes([word[0], word[1]])),
            seq: u16::from_be_bytes([word[2], word[3]]),
        };
        let kind = if flags & 4 != 0 {
            SocketKind::Raw
        } else {
            SocketKind::Ping
        };
        return ping::received(read, kind, &expect) == ping::Verdict::Reply;
    }
    let n = usize::from(rest.first().copied().unwrap_or(0) % 16);
    let rest = rest.get(1..).unwrap_or_default();
    let take = |from: &[u8], k: usize| -> Vec<u8> { from.iter().copied().take(k).collect() };
    let value = take(rest, n);
    let mask = take(rest.get(n..).unwrap_or_default(), n);
    let lengths = take(rest.get(2 * n..).unwrap_or_default(), 4);
    let reply = rest.get(2 * n + 4..).unwrap_or_default();
    let length = |i: usize| {
        u16::from_be_bytes([
            *lengths.get(i).unwrap_or(&0),
            *lengths.get(i + 1).unwrap_or(&255),
        ])
    };
    let check = UdpCheck {
        common: CheckCommon::new(std::net::Ipv4Addr::LOCALHOST.into(), 53),
        payload: None,
        require_reply: (flags & 8 != 0).then(|| ReplyPattern {
            mask: mask
                .iter()
                .chain(std::iter::repeat(&0xff))
                .take(value.len())
                .copied()
                .collect(),
            value,
        }),
        min_reply_length: length(0),
        max_reply_length: length(2),
    };
    let reply = &reply[..reply.len().min(udp::reply_buffer_len(&check))];
    udp::judge(&check, Heard::Reply(reply)).0
}
