//! The IPVS generic netlink message: a command and its attributes, as
//! `linux/ip_vs.h` describes them: a `genlmsghdr` (command, version 1)
//! followed by netlink attributes, some of which nest further attributes
//! (a service, a destination, a sync daemon, counters).
//!
//! [`super::wire`] writes messages; [`View`] reads the attributes of one
//! received (found by [`super::datagram`]), in place: the wire does not say
//! which attribute nests, so the schema in [`super::attrs`] opens a nested
//! one by making a [`View`] of its payload.

use crate::ipvs::IpvsError;

/// The family name the kernel registers (`IPVS_GENL_NAME`).
pub const IPVS_GENL_NAME: &str = "IPVS";
/// The protocol version (`IPVS_GENL_VERSION`).
pub const IPVS_GENL_VERSION: u8 = 1;

/// `IPVS_CMD_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum IpvsCommand {
    /// Add a service.
    NewService = 1,
    /// Modify a service.
    SetService = 2,
    /// Delete a service.
    DelService = 3,
    /// Get one service, or dump them all.
    GetService = 4,
    /// Add a destination.
    NewDest = 5,
    /// Modify a destination.
    SetDest = 6,
    /// Delete a destination.
    DelDest = 7,
    /// Dump the destinations of a service.
    GetDest = 8,
    /// Start a sync daemon.
    NewDaemon = 9,
    /// Stop a sync daemon.
    DelDaemon = 10,
    /// Dump the running sync daemons.
    GetDaemon = 11,
    /// Set the protocol timeouts.
    SetConfig = 12,
    /// Get the protocol timeouts.
    GetConfig = 13,
    /// Reply to `GetInfo`.
    SetInfo = 14,
    /// Get the version and connection table size.
    GetInfo = 15,
    /// Zero the counters.
    Zero = 16,
    /// Remove every service.
    Flush = 17,
}

/// The low 14 bits of an attribute's type; the top two are flags.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Attribute types a [`View`] keeps: every `IPVS_*_ATTR_*` is below this
/// (the largest, `IPVS_DEST_ATTR_TUN_FLAGS`, is 15). Types at or above it
/// are skipped, as unknown types are.
const VIEW_SLOTS: usize = 16;

/// A borrowed view of a run of attributes: each type's first payload, by
/// type, nothing copied and nothing allocated. Decoding a dump goes
/// through views, so a destination costs no allocation but its entry.
///
/// Each slot holds where its payload lies in the buffer: the end of the
/// payload and its length. An attribute's payload never ends at 0 (its
/// 4-byte header comes first), so an end of 0 marks an absent type; the
/// slots are small so that making a view, done three times a destination
/// in a dump, costs little (slices in options made it four times dearer).
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    buf: &'a [u8],
    slots: [(u32, u32); VIEW_SLOTS],
}

impl Default for View<'_> {
    fn default() -> Self {
        View {
            buf: &[],
            slots: [(0, 0); VIEW_SLOTS],
        }
    }
}

impl<'a> View<'a> {
    /// Split `buf` into attributes; a malformed length is an error.
    pub fn parse(buf: &'a [u8]) -> Result<Self, IpvsError> {
        let mut view = View {
            buf,
            slots: [(0, 0); VIEW_SLOTS],
        };
        let mut off = 0;
        while let Some(header) = buf.get(off..off + 4) {
            let len = u16::from_ne_bytes([header[0], header[1]]) as usize;
            let kind = u16::from_ne_bytes([header[2], header[3]]) & NLA_TYPE_MASK;
            let end = off + len;
            if len < 4 || end > buf.len() {
                return Err(IpvsError::Protocol(format!(
                    "attribute of length {len} at offset {off} overruns {} bytes",
                    buf.len()
                )));
            }
            if let Some(slot @ (0, _)) = view.slots.get_mut(kind as usize) {
                *slot = (end as u32, (len - 4) as u32);
            }
            off = (end + 3) & !3;
        }
        Ok(view)
    }

    /// The payload of the first attribute of this type.
    pub fn get(&self, kind: u16) -> Option<&'a [u8]> {
        match self.slots.get(kind as usize) {
            Some(&(end, len)) if end != 0 => {
                let (end, len) = (end as usize, len as usize);
                self.buf.get(end - len..end)
            }
            _ => None,
        }
    }

    /// An unsigned number of 1, 2, 4 or 8 bytes in host order.
    pub fn uint(&self, kind: u16) -> Option<u64> {
        let b = self.get(kind)?;
        Some(match b.len() {
            1 => b[0] as u64,
            2 => u16::from_ne_bytes([b[0], b[1]]) as u64,
            4 => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as u64,
            8 => u64::from_ne_bytes(b.try_into().ok()?),
            _ => return None,
        })
    }

    /// A big-endian `u16` (ports).
    pub fn be16(&self, kind: u16) -> Option<u16> {
        let b = self.get(kind)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }

    /// A NUL-terminated string.
    pub fn string(&self, kind: u16) -> Option<String> {
        let b = self.get(kind)?;
        let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
        Some(String::from_utf8_lossy(&b[..end]).into_owned())
    }
}
