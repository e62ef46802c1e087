//! The BFD Control packet (RFC 5880 §4.1), read in place and written into a
//! fixed buffer: no allocation either way.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! ```
//!
//! [`Control::parse`] applies the checks of §6.8.6 that need no session
//! (version, length, detect mult, multipoint, my discriminator, your
//! discriminator zero only while Down/AdminDown) and refuses a packet with
//! the A bit: lvsd's sessions use no authentication, so §6.8.6 says such a
//! packet is discarded. Each refusal is a [`Malformed`] reason, which the
//! sessions count. Anything past the 24 mandatory bytes that `Length`
//! covers (an authentication section) is never read.

use std::fmt;
use std::time::Duration;

/// The mandatory section's length.
pub const LEN: usize = 24;

/// A session state as it travels in the `Sta` field (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum State {
    /// 0: administratively down.
    AdminDown,
    /// 1.
    Down,
    /// 2.
    Init,
    /// 3.
    Up,
}

impl State {
    fn from_bits(bits: u8) -> State {
        match bits & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// The diagnostic codes of RFC 5880 §4.1 that lvsd sends or names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Diag {
    /// 0: no diagnostic.
    None,
    /// 1: Control Detection Time Expired.
    DetectionExpired,
    /// 3: Neighbor Signaled Session Down.
    NeighborDown,
    /// 7: Administratively Down.
    AdminDown,
    /// Any other code, as received.
    Other(u8),
}

impl Diag {
    fn from_bits(bits: u8) -> Diag {
        match bits & 0x1f {
            0 => Diag::None,
            1 => Diag::DetectionExpired,
            3 => Diag::NeighborDown,
            7 => Diag::AdminDown,
            n => Diag::Other(n),
        }
    }

    fn bits(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::DetectionExpired => 1,
            Diag::NeighborDown => 3,
            Diag::AdminDown => 7,
            Diag::Other(n) => n & 0x1f,
        }
    }
}

/// The mandatory section of a Control packet, as fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    /// `Diag`.
    pub diag: Diag,
    /// `Sta`.
    pub state: State,
    /// `P`: Poll.
    pub poll: bool,
    /// `F`: Final.
    pub fin: bool,
    /// `C`: Control Plane Independent.
    pub cpi: bool,
    /// `D`: Demand.
    pub demand: bool,
    /// `Detect Mult` (never 0 in a parsed packet).
    pub detect_mult: u8,
    /// `My Discriminator` (never 0 in a parsed packet).
    pub my_disc: u32,
    /// `Your Discriminator`.
    pub your_disc: u32,
    /// `Desired Min TX Interval`, in microseconds.
    pub desired_min_tx: u32,
    /// `Required Min RX Interval`, in microseconds.
    pub required_min_rx: u32,
    /// `Required Min Echo RX Interval`, in microseconds.
    pub required_min_echo_rx: u32,
}

/// Why a received datagram is not a packet a session may act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Malformed {
    /// Shorter than the mandatory section, or than its `Length`.
    Short,
    /// `Vers` is not 1.
    Version,
    /// `Length` below 24.
    Length,
    /// `Detect Mult` is 0.
    DetectMult,
    /// The `M` (multipoint) bit is set.
    Multipoint,
    /// `My Discriminator` is 0.
    MyDiscriminator,
    /// `Your Discriminator` is 0 while the sender is Init or Up.
    YourDiscriminator,
    /// The `A` bit: authentication, which lvsd's sessions do not use.
    Authenticated,
}

impl Malformed {
    /// Every reason, for counters.
    pub const ALL: [Malformed; 8] = [
        Malformed::Short,
        Malformed::Version,
        Malformed::Length,
        Malformed::DetectMult,
        Malformed::Multipoint,
        Malformed::MyDiscriminator,
        Malformed::YourDiscriminator,
        Malformed::Authenticated,
    ];

    /// Its index in [`Malformed::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short name, for logs and the state dump.
    pub fn name(self) -> &'static str {
        match self {
            Malformed::Short => "short",
            Malformed::Version => "version",
            Malformed::Length => "length",
            Malformed::DetectMult => "detect_mult",
            Malformed::Multipoint => "multipoint",
            Malformed::MyDiscriminator => "my_discriminator",
            Malformed::YourDiscriminator => "your_discriminator",
            Malformed::Authenticated => "authenticated",
        }
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Control {
    /// Reads one received datagram (the UDP payload), with the checks of
    /// RFC 5880 §6.8.6 that need no session. Never reads past `datagram`,
    /// never panics, allocates nothing.
    pub fn parse(datagram: &[u8]) -> Result<Control, Malformed> {
        let Some(b) = datagram.get(..LEN) else {
            return Err(Malformed::Short);
        };
        if b[0] >> 5 != 1 {
            return Err(Malformed::Version);
        }
        let flags = b[1];
        let length = usize::from(b[3]);
        if length < LEN {
            return Err(Malformed::Length);
        }
        if length > datagram.len() {
            return Err(Malformed::Short);
        }
        if flags & 0x04 != 0 {
            // A: the minimum length with authentication is 26; either way
            // lvsd has no key, and §6.8.6 discards it.
            return Err(Malformed::Authenticated);
        }
        if b[2] == 0 {
            return Err(Malformed::DetectMult);
        }
        if flags & 0x01 != 0 {
            return Err(Malformed::Multipoint);
        }
        let state = State::from_bits(flags >> 6);
        let my_disc = be32(b, 4);
        if my_disc == 0 {
            return Err(Malformed::MyDiscriminator);
        }
        let your_disc = be32(b, 8);
        if your_disc == 0 && matches!(state, State::Init | State::Up) {
            return Err(Malformed::YourDiscriminator);
        }
        Ok(Control {
            diag: Diag::from_bits(b[0]),
            state,
            poll: flags & 0x20 != 0,
            fin: flags & 0x10 != 0,
            cpi: flags & 0x08 != 0,
            demand: flags & 0x02 != 0,
            detect_mult: b[2],
            my_disc,
            your_disc,
            desired_min_tx: be32(b, 12),
            required_min_rx: be32(b, 16),
            required_min_echo_rx: be32(b, 20),
        })
    }

    /// The packet's 24 bytes (version 1, no authentication).
    pub fn write(&self, out: &mut [u8; LEN]) {
        out[0] = (1 << 5) | self.diag.bits();
        out[1] = (self.state.bits() << 6)
            | (u8::from(self.poll) << 5)
            | (u8::from(self.fin) << 4)
            | (u8::from(self.cpi) << 3)
            | (u8::from(self.demand) << 1);
        out[2] = self.detect_mult;
        out[3] = LEN as u8;
        out[4..8].copy_from_slice(&self.my_disc.to_be_bytes());
        out[8..12].copy_from_slice(&self.your_disc.to_be_bytes());
        out[12..16].copy_from_slice(&self.desired_min_tx.to_be_bytes());
        out[16..20].copy_from_slice(&self.required_min_rx.to_be_bytes());
        out[20..24].copy_from_slice(&self.required_min_echo_rx.to_be_bytes());
    }
}

/// An interval in microseconds as it travels (saturating at `u32::MAX`).
pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Control {
        Control {
            diag: Diag::DetectionExpired,
            state: State::Up,
            poll: true,
            fin: false,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_disc: 0x0102_0304,
            your_disc: 7,
            desired_min_tx: 50_000,
            required_min_rx: 10_000,
            required_min_echo_rx: 0,
        }
    }

    #[test]
    fn a_packet_reads_back_as_written() {
        let mut buf = [0u8; LEN];
        sample().write(&mut buf);
        assert_eq!(buf[0], 0x21, "version 1, diag 1");
        assert_eq!(buf[1], 0xe0, "Up, Poll");
        assert_eq!(buf[3], 24);
        assert_eq!(Control::parse(&buf), Ok(sample()));
    }

    /// Each check of RFC 5880 §6.8.6 that needs no session, broken one at a time.
    #[test]
    fn each_rule_of_6_8_6_refuses_its_packet() {
        let mut good = [0u8; LEN];
        sample().write(&mut good);
        let broken = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.to_vec();
            f(&mut b);
            Control::parse(&b)
        };
        assert_eq!(broken(&|b| b.truncate(23)), Err(Malformed::Short));
        assert_eq!(broken(&|b| b[0] = 0x41), Err(Malformed::Version));
        assert_eq!(broken(&|b| b[0] = 0x01), Err(Malformed::Version));
        assert_eq!(broken(&|b| b[3] = 23), Err(Malformed::Length));
        assert_eq!(broken(&|b| b[3] = 25), Err(Malformed::Short));
        assert_eq!(broken(&|b| b[2] = 0), Err(Malformed::DetectMult));
        assert_eq!(broken(&|b| b[1] |= 0x01), Err(Malformed::Multipoint));
        assert_eq!(broken(&|b| b[1] |= 0x04), Err(Malformed::Authenticated));
        assert_eq!(
            broken(&|b| b[4..8].fill(0)),
            Err(Malformed::MyDiscriminator)
        );
        assert_eq!(
            broken(&|b| b[8..12].fill(0)),
            Err(Malformed::YourDiscriminator)
        );
        // Your Discriminator 0 is fine while the sender is Down.
        let down = broken(&|b| {
            b[8..12].fill(0);
            b[1] = (1 << 6) | (b[1] & 0x3f);
        });
        assert!(matches!(down, Ok(c) if c.state == State::Down && c.your_disc == 0));
        // A longer datagram whose Length says 24: the rest is not read.
        assert_eq!(broken(&|b| b.extend_from_slice(&[9; 8])), Ok(sample()));
    }
}
