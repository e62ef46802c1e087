//! `UDP_CHECK`'s own keywords: `payload`, `require_reply`,
//! `min_reply_length`, `max_reply_length`, typed as keepalived reads them.
//!
//! - `payload HEX`: the datagram sent (see [`hex`](super::hex)); without
//!   it the probe sends keepalived's fixed 32 bytes.
//! - `require_reply [HEX]`: a reply is required; with HEX, it must start
//!   like HEX (`x` nibbles match anything).
//! - `min_reply_length N` / `max_reply_length N` (0–65535, default 0 and
//!   255): the reply's length, checked only when a reply HEX is given (as
//!   keepalived 2.2.7 does). `min > max` could never pass: an error.

use super::block::{Tok, Tree};
use super::hex::{self, HexError};
use super::keywords::SpecificKw;
use super::typer::Typer;
use super::{CheckCommon, ReplyPattern, UdpCheck};

/// keepalived's default `max_reply_length`.
pub const DEFAULT_MAX_REPLY_LENGTH: u16 = 255;

/// What a `UDP_CHECK` block said, before resolution.
#[derive(Debug, Default)]
pub struct UdpReading {
    payload: Option<Vec<u8>>,
    require_reply: Option<ReplyPattern>,
    min_reply_length: Option<u16>,
    max_reply_length: Option<u16>,
}

impl UdpReading {
    /// The check, with keepalived's defaults for what was not said.
    pub fn into_check(self, common: CheckCommon) -> UdpCheck {
        UdpCheck {
            common,
            payload: self.payload,
            require_reply: self.require_reply,
            min_reply_length: self.min_reply_length.unwrap_or(0),
            max_reply_length: self.max_reply_length.unwrap_or(DEFAULT_MAX_REPLY_LENGTH),
        }
    }
}

impl Typer<'_> {
    /// Reads one of `UDP_CHECK`'s own keywords (`node`, spelled `kw`).
    pub fn udp_keyword(&mut self, tree: &Tree<'_>, node: u32, kw: SpecificKw, r: &mut UdpReading) {
        match kw {
            SpecificKw::Payload => {
                if self.arg(tree, node, 0, "hex bytes (e.g. 0a1b2c)").is_some() {
                    if let Some(bytes) = self.hex_args(tree, node, false) {
                        r.payload = Some(bytes.value);
                    }
                }
            }
            SpecificKw::RequireReply => {
                let pattern = if tree.args(node).is_empty() {
                    Some(ReplyPattern {
                        value: Vec::new(),
                        mask: Vec::new(),
                    })
                } else {
                    self.hex_args(tree, node, true).map(|b| ReplyPattern {
                        value: b.value,
                        mask: b.mask,
                    })
                };
                if pattern.is_some() {
                    r.require_reply = pattern;
                }
            }
            SpecificKw::MinReplyLength => {
                let v = self.uint_arg::<u16>(tree, node, "a length (0-65535)");
                r.min_reply_length = v.or(r.min_reply_length);
            }
            SpecificKw::MaxReplyLength => {
                let v = self.uint_arg::<u16>(tree, node, "a length (0-65535)");
                r.max_reply_length = v.or(r.max_reply_length);
            }
            _ => self.unknown(tree.keyword(node), "in UDP_CHECK"),
        }
    }

    /// The end of a `UDP_CHECK` block (`node`): `min_reply_length` above
    /// `max_reply_length` is an error at the one written last.
    pub fn udp_finish(&mut self, tree: &Tree<'_>, node: u32, r: &UdpReading) {
        let min = r.min_reply_length.unwrap_or(0);
        let max = r.max_reply_length.unwrap_or(DEFAULT_MAX_REPLY_LENGTH);
        if min <= max {
            return;
        }
        let last = tree
            .children(node)
            .filter(|&c| {
                let text = &tree.keyword(c).text;
                text == "min_reply_length" || text == "max_reply_length"
            })
            .last();
        if let Some(last) = last {
            self.error(
                tree.keyword(last),
                format!(
                    "min_reply_length {min} is above max_reply_length {max}: \
                     the check could never pass"
                ),
            );
        }
    }

    /// The arguments of `node` read as one hex string; an error at the
    /// column of the first bad character.
    fn hex_args(&mut self, tree: &Tree<'_>, node: u32, wildcards: bool) -> Option<hex::HexBytes> {
        let args = tree.args(node);
        let words: Vec<&str> = args.iter().map(|t| t.text.as_ref()).collect();
        match hex::read(&words, wildcards) {
            Ok(bytes) => Some(bytes),
            Err(HexError { word, offset }) => {
                let expected = if wildcards {
                    "hex digits or x wildcards (e.g. 0a1x)"
                } else {
                    "hex digits (e.g. 0a1b2c)"
                };
                let at = args.get(word).unwrap_or(tree.keyword(node));
                let found = at.text[offset..].chars().next();
                let col = at.col + u32::try_from(offset).unwrap_or(0);
                let tok = Tok { col, ..at.clone() };
                let message = match found {
                    Some(c) => format!("expected {expected}, found `{c}`"),
                    None => format!("expected {expected}, found nothing"),
                };
                self.error(&tok, message);
                None
            }
        }
    }
}
