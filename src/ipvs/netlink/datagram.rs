//! Walking a received datagram's netlink messages in place.
//!
//! A datagram from the kernel holds one or more netlink messages, each a
//! 16-byte `nlmsghdr` (length, type, flags, sequence number, port id)
//! followed by its payload, padded to 4 bytes:
//!
//! - type `NLMSG_ERROR` (2): an `int` errno, negative, or 0 for an ack;
//! - type `NLMSG_DONE` (3): the end of a dump, with an `int` status;
//! - the IPVS family's id: a 4-byte `genlmsghdr` (command, version,
//!   reserved) and then the attributes.
//!
//! [`Messages`] yields each one as a [`Frame`] that borrows its bytes from
//! the receive buffer: reading a dump of 100,000 destinations this way
//! copies and allocates nothing but the entries it builds.

use crate::ipvs::IpvsError;

/// `NLMSG_ERROR`.
const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
const NLMSG_DONE: u16 = 3;
/// `sizeof(struct nlmsghdr)`.
const HEADER: usize = 16;
/// `sizeof(struct genlmsghdr)`.
const GENL_HEADER: usize = 4;

/// One netlink message of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// An IPVS message: its command (`IPVS_CMD_*`) and the bytes of its
    /// top-level attributes.
    Message(u8, &'a [u8]),
    /// An ack: `Ok`, or the kernel's errno (positive).
    Ack(Result<(), i32>),
    /// The end of a dump, with its errno if it failed.
    Done(Result<(), i32>),
}

/// The messages of one datagram, in order, with their sequence numbers.
/// Messages of other types (`NLMSG_NOOP`, other families) are skipped; a
/// length that overruns the datagram ends the walk with an error.
pub struct Messages<'a> {
    buf: &'a [u8],
    family: u16,
    off: usize,
}

impl<'a> Messages<'a> {
    /// The messages in `buf`, where IPVS messages have type `family`.
    pub fn new(buf: &'a [u8], family: u16) -> Self {
        Messages {
            buf,
            family,
            off: 0,
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The status `int` after the header: `Ok` for 0, else the errno (positive).
/// A message too short to hold one reads as 0 (some `NLMSG_DONE` carry none).
fn status(body: &[u8]) -> Result<(), i32> {
    if body.len() < 4 {
        return Ok(());
    }
    match u32_at(body, 0) as i32 {
        0 => Ok(()),
        code => Err(code.saturating_neg()),
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<(u32, Frame<'a>), IpvsError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.buf.get(self.off..)?;
            if rest.len() < HEADER {
                return None;
            }
            let len = u32_at(rest, 0) as usize;
            if len < HEADER || len > rest.len() {
                self.off = self.buf.len();
                return Some(Err(IpvsError::Protocol(format!(
                    "netlink message of {len} bytes in {} left of the datagram",
                    rest.len()
                ))));
            }
            self.off += (len + 3) & !3;
            let kind = u16_at(rest, 4);
            let seq = u32_at(rest, 8);
            let body = &rest[HEADER..len];
            let frame = match kind {
                NLMSG_ERROR => Frame::Ack(status(body)),
                NLMSG_DONE => Frame::Done(status(body)),
                k if k == self.family && body.len() >= GENL_HEADER => {
                    Frame::Message(body[0], &body[GENL_HEADER..])
                }
                _ => continue,
            };
            return Some(Ok((seq, frame)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A netlink message of type `kind`, sequence `seq`, payload `body`.
    fn message(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let len = (HEADER + body.len()) as u32;
        let mut m = Vec::new();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn frames_of_a_datagram_in_order() {
        let mut d = message(40, 7, &[8, 1, 0, 0, 0xaa, 0xbb]);
        d.extend(message(NLMSG_ERROR, 8, &0i32.to_ne_bytes()));
        d.extend(message(NLMSG_ERROR, 9, &(-17i32).to_ne_bytes()));
        d.extend(message(1, 10, &[])); // NLMSG_NOOP: skipped
        d.extend(message(NLMSG_DONE, 11, &(-3i32).to_ne_bytes()));
        d.extend(message(NLMSG_DONE, 12, &[]));
        let frames: Vec<_> = Messages::new(&d, 40).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            frames,
            vec![
                (7, Frame::Message(8, &[0xaa, 0xbb][..])),
                (8, Frame::Ack(Ok(()))),
                (9, Frame::Ack(Err(17))),
                (11, Frame::Done(Err(3))),
                (12, Frame::Done(Ok(()))),
            ]
        );
    }

    #[test]
    fn a_length_past_the_end_is_an_error_not_a_panic() {
        let mut d = message(40, 1, &[8, 1, 0, 0]);
        d[0] = 200;
        let got: Vec<_> = Messages::new(&d, 40).collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err());
        let mut d = message(40, 1, &[8, 1, 0, 0]);
        d[0] = 3;
        assert!(Messages::new(&d, 40).next().unwrap().is_err());
        assert!(Messages::new(&d[..10], 40).next().is_none());
    }
}
