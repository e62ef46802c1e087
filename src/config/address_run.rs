//! [`AddressRun`]: reading a run of IPv4 addresses that differ only in
//! their last octet (`10.128.0.1`, `10.128.0.2`, ...), as the real servers
//! of a virtual server usually are, without reading the first three octets
//! again each time.
//!
//! It remembers the text of the last dotted quad up to its last dot and
//! the three octets that text reads as. An address written with the same
//! text before its last dot is those three octets and its own last one,
//! which is all that is left to read; anything else is read in full by
//! [`values::ip`], which gives the same answer for every word: the shortcut
//! only skips reading text that was read before.

use std::net::{IpAddr, Ipv4Addr};

use super::values;

/// The longest text before the last dot of a dotted quad: `255.255.255.`.
const MAX_PREFIX: usize = 12;

/// The first three octets of the last dotted quad read, with their text.
#[derive(Debug, Default, Clone, Copy)]
pub struct AddressRun {
    /// The text up to and including the last dot; `len` bytes of it are
    /// used (0: nothing remembered).
    prefix: [u8; MAX_PREFIX],
    len: usize,
    /// What that text reads as.
    octets: [u8; 3],
}

impl AddressRun {
    /// `word` as an IP address: the answer of [`values::ip`].
    #[inline]
    pub fn ip(&mut self, word: &str) -> Option<IpAddr> {
        let bytes = word.as_bytes();
        let n = self.len;
        if n > 0 && bytes.len() > n && bytes[..n] == self.prefix[..n] {
            if let Some(last) = octet(&bytes[n..]) {
                let [a, b, c] = self.octets;
                return Some(IpAddr::V4(Ipv4Addr::new(a, b, c, last)));
            }
        }
        let addr = values::ip(word);
        self.remember(bytes, addr);
        addr
    }

    /// Remember the first three octets of `bytes` if it read as the IPv4
    /// address `addr` and is written with digits and dots only (a dotted
    /// quad, then: four octets and three dots).
    fn remember(&mut self, bytes: &[u8], addr: Option<IpAddr>) {
        self.len = 0;
        let Some(IpAddr::V4(addr)) = addr else {
            return;
        };
        if !bytes.iter().all(|&b| b.is_ascii_digit() || b == b'.') {
            return;
        }
        let Some(last_dot) = bytes.iter().rposition(|&b| b == b'.') else {
            return;
        };
        let Some(prefix) = bytes.get(..=last_dot).filter(|p| p.len() <= MAX_PREFIX) else {
            return;
        };
        self.prefix[..prefix.len()].copy_from_slice(prefix);
        self.len = prefix.len();
        let [a, b, c, _] = addr.octets();
        self.octets = [a, b, c];
    }
}

/// One octet as a dotted quad's last part: one to three digits, no
/// leading zero, at most 255.
fn octet(text: &[u8]) -> Option<u8> {
    let digit = |b: u8| b.is_ascii_digit().then(|| b - b'0');
    match *text {
        [a] => digit(a),
        [a, b] if a != b'0' => Some(digit(a)? * 10 + digit(b)?),
        [a, b, c] if a != b'0' => {
            let v = u32::from(digit(a)?) * 100 + u32::from(digit(b)?) * 10 + u32::from(digit(c)?);
            u8::try_from(v).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever comes before, every word reads as `values::ip` reads it.
    #[test]
    fn reads_every_word_as_the_full_parser() {
        let words = [
            "10.128.0.1",
            "10.128.0.2",
            "10.128.0.255",
            "10.128.0.256",
            "10.128.0.01",
            "10.128.0.0",
            "10.128.0.00",
            "10.128.0.",
            "10.128.0.1x",
            "10.128.0.1.2",
            "10.128.0.1000",
            "10.128.0.99",
            "10.128.1.1",
            "10.128.1.100",
            "::1",
            "10.128.1.7",
            "1.2.3.4",
            "1.2.3.45",
            "1.2.3.456",
            "1.2.3.-4",
            "255.255.255.255",
            "255.255.255.1",
            "fe80::1.2.3.4",
            "1.2.3.4",
            "1.2.3.",
            "1.2.3.4",
            "",
            "1.2.3.4",
            "1.2.3.9",
        ];
        let mut run = AddressRun::default();
        for w in words {
            assert_eq!(run.ip(w), values::ip(w), "{w:?}");
        }
        // Every last part after a remembered prefix.
        let mut run = AddressRun::default();
        for n in 0..1200 {
            for tail in [format!("{n}"), format!("{n:02}"), format!("{n:03}")] {
                let w = format!("192.168.10.{tail}");
                assert_eq!(run.ip(&w), values::ip(&w), "{w:?}");
            }
        }
    }
}
