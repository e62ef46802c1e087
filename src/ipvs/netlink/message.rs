//! The IPVS generic netlink message: a command and a tree of attributes.
//!
//! The wire format is the one `linux/ip_vs.h` describes: a `genlmsghdr`
//! (command, version 1) followed by netlink attributes, some of which nest
//! further attributes (a service, a destination, a sync daemon, counters).
//! [`IpvsMessage`] implements netlink-packet-generic's [`GenlFamily`] so the
//! crates add the `nlmsghdr` and `genlmsghdr` around it.
//!
//! Attributes are kept as a small tree of [`Attr`]: the wire knows nothing of
//! which attribute nests, so decoding leaves values as bytes and the schema in
//! [`super::attrs`] opens nested ones with [`Attr::nested`].

use netlink_packet_core::{
    DecodeError, Emitable, Nla, NlaBuffer, NlasIterator, Parseable, ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

/// The family name the kernel registers (`IPVS_GENL_NAME`).
pub const IPVS_GENL_NAME: &str = "IPVS";
/// The protocol version (`IPVS_GENL_VERSION`).
pub const IPVS_GENL_VERSION: u8 = 1;

/// The low 14 bits of an attribute's type; the top two are flags.
const NLA_TYPE_MASK: u16 = 0x3fff;

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

impl IpvsCommand {
    /// The command for its number.
    pub fn from_number(n: u8) -> Option<Self> {
        use IpvsCommand::*;
        const ALL: [IpvsCommand; 17] = [
            NewService, SetService, DelService, GetService, NewDest, SetDest, DelDest, GetDest,
            NewDaemon, DelDaemon, GetDaemon, SetConfig, GetConfig, SetInfo, GetInfo, Zero, Flush,
        ];
        ALL.iter().copied().find(|c| *c as u8 == n)
    }
}

/// A value carried by an attribute: raw bytes, or attributes nested inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    /// Bytes as they go on the wire.
    Bytes(Vec<u8>),
    /// Nested attributes.
    Nested(Vec<Attr>),
}

/// One netlink attribute (`struct nlattr` and its payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// Attribute type, without the nested / byte-order flag bits.
    pub kind: u16,
    /// Payload.
    pub value: AttrValue,
}

impl Attr {
    /// An attribute holding raw bytes.
    pub fn bytes(kind: u16, bytes: impl Into<Vec<u8>>) -> Self {
        Attr {
            kind,
            value: AttrValue::Bytes(bytes.into()),
        }
    }
    /// A `u8` attribute.
    pub fn u8(kind: u16, v: u8) -> Self {
        Self::bytes(kind, vec![v])
    }
    /// A `u16` attribute in host order.
    pub fn u16(kind: u16, v: u16) -> Self {
        Self::bytes(kind, v.to_ne_bytes())
    }
    /// A `u32` attribute in host order.
    pub fn u32(kind: u16, v: u32) -> Self {
        Self::bytes(kind, v.to_ne_bytes())
    }
    /// A NUL-terminated string attribute (`NLA_NUL_STRING`).
    pub fn string(kind: u16, s: &str) -> Self {
        let mut b = Vec::with_capacity(s.len() + 1);
        b.extend_from_slice(s.as_bytes());
        b.push(0);
        Self::bytes(kind, b)
    }
    /// An attribute nesting others.
    pub fn nested(kind: u16, attrs: Vec<Attr>) -> Self {
        Attr {
            kind,
            value: AttrValue::Nested(attrs),
        }
    }

    /// The payload bytes (empty for a nested attribute built locally).
    pub fn payload(&self) -> &[u8] {
        match &self.value {
            AttrValue::Bytes(b) => b,
            AttrValue::Nested(_) => &[],
        }
    }

    /// The attributes nested in this one: parsed from the bytes of a
    /// received attribute, or cloned from one built locally.
    pub fn children(&self) -> Result<Vec<Attr>, DecodeError> {
        match &self.value {
            AttrValue::Nested(v) => Ok(v.clone()),
            AttrValue::Bytes(b) => parse_attrs(b),
        }
    }
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        match &self.value {
            AttrValue::Bytes(b) => b.len(),
            AttrValue::Nested(v) => v.as_slice().buffer_len(),
        }
    }
    fn kind(&self) -> u16 {
        self.kind
    }
    fn emit_value(&self, buffer: &mut [u8]) {
        match &self.value {
            AttrValue::Bytes(b) => buffer[..b.len()].copy_from_slice(b),
            AttrValue::Nested(v) => v.as_slice().emit(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for Attr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        Ok(Attr::bytes(buf.kind() & NLA_TYPE_MASK, buf.value()))
    }
}

/// Parse a run of attributes.
pub fn parse_attrs(buf: &[u8]) -> Result<Vec<Attr>, DecodeError> {
    NlasIterator::new(buf)
        .map(|nla| nla.and_then(|nla| Attr::parse(&nla)))
        .collect()
}

/// One IPVS request or reply: the payload of a `GenlMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    /// What the message asks for or answers.
    pub cmd: IpvsCommand,
    /// Top-level attributes (`IPVS_CMD_ATTR_*`, or `IPVS_INFO_ATTR_*` in a
    /// `SetInfo` reply).
    pub attrs: Vec<Attr>,
}

impl IpvsMessage {
    /// A message with these attributes.
    pub fn new(cmd: IpvsCommand, attrs: Vec<Attr>) -> Self {
        IpvsMessage { cmd, attrs }
    }

    /// The first top-level attribute of this type.
    pub fn attr(&self, kind: u16) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.kind == kind)
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }
    fn command(&self) -> u8 {
        self.cmd as u8
    }
    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = IpvsCommand::from_number(header.cmd)
            .ok_or_else(|| DecodeError::from(format!("unknown IPVS command {}", header.cmd)))?;
        Ok(IpvsMessage {
            cmd,
            attrs: parse_attrs(buf)?,
        })
    }
}

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
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
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
                return Err(DecodeError::from(format!(
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

    /// Call `f` with a view of top-level attributes already decoded (their
    /// payloads laid out again, the way they travel). For single replies,
    /// not for dumps.
    pub fn over<R>(attrs: &[Attr], f: impl FnOnce(&View<'_>) -> R) -> R {
        let mut buf = Vec::new();
        for a in attrs {
            let payload = a.payload();
            buf.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
            buf.extend_from_slice(&a.kind.to_ne_bytes());
            buf.extend_from_slice(payload);
            buf.resize((buf.len() + 3) & !3, 0);
        }
        // What was just laid out always parses.
        f(&View::parse(&buf).unwrap_or_default())
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
