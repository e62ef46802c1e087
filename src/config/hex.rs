//! Hex strings as keepalived reads them: `UDP_CHECK`'s `payload HEX` and
//! `require_reply HEX`.
//!
//! The words after the keyword are read as one string of hex digits, with
//! spaces between words. Digits pair up into bytes, two by two, and a digit
//! left alone before a space (or at the end) is a byte of its own. So
//! keepalived.conf(5)'s example `Ab12f 3 456 546443123` reads as
//! `AB 12 0F 03 45 06 54 64 43 12 03`.
//!
//! In `require_reply`, `x` or `X` stands for any nibble: the reply pattern
//! is a value and a mask, and a byte of the reply matches when it equals the
//! value in the bits the mask keeps (`1x` matches `10` to `1F`).
//!
//! Anything else than a hex digit (or a wildcard where allowed) is an error
//! at its own column, as is an empty string.

/// Where a hex string went wrong: the word (index among the arguments) and
/// the byte offset of the character in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HexError {
    /// Which word.
    pub word: usize,
    /// Byte offset of the bad character in that word.
    pub offset: usize,
}

/// Bytes read from a hex string, with the mask of the bits that count
/// (all ones unless wildcards were allowed and used).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HexBytes {
    /// The bytes (a wildcard nibble reads as 0).
    pub value: Vec<u8>,
    /// Per byte, the bits that must match.
    pub mask: Vec<u8>,
}

/// Reads `words` (the arguments after the keyword) as keepalived's
/// `read_hex_str` does; `wildcards` allows `x`/`X` nibbles. `Ok` always holds
/// at least one byte: no words at all is `Err` at word 0, offset 0.
pub fn read(words: &[&str], wildcards: bool) -> Result<HexBytes, HexError> {
    let mut out = HexBytes::default();
    for (w, word) in words.iter().enumerate() {
        // (value, mask) of the high nibble read so far in this word.
        let mut high: Option<(u8, u8)> = None;
        for (offset, c) in word.char_indices() {
            if c == ' ' || c == '\t' {
                // A quoted argument may hold spaces: they separate too.
                flush(&mut high, &mut out);
                continue;
            }
            let nibble = match c {
                'x' | 'X' if wildcards => (0, 0),
                _ => match c.to_digit(16) {
                    // A hex digit is below 16.
                    Some(d) => (d as u8, 0xf),
                    None => return Err(HexError { word: w, offset }),
                },
            };
            match high.take() {
                None => high = Some(nibble),
                Some((v, m)) => {
                    out.value.push(v << 4 | nibble.0);
                    out.mask.push(m << 4 | nibble.1);
                }
            }
        }
        flush(&mut high, &mut out);
    }
    if out.value.is_empty() {
        return Err(HexError { word: 0, offset: 0 });
    }
    Ok(out)
}

/// A lone digit before a space is a byte: its high nibble is 0.
fn flush(high: &mut Option<(u8, u8)>, out: &mut HexBytes) {
    if let Some((v, m)) = high.take() {
        out.value.push(v);
        out.mask.push(0xf0 | m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str, wildcards: bool) -> Result<HexBytes, HexError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        read(&words, wildcards)
    }

    #[test]
    fn the_man_page_example() {
        let got = bytes("Ab12f 3 456 546443123", false).unwrap();
        assert_eq!(
            got.value,
            [0xAB, 0x12, 0x0F, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03]
        );
        assert!(got.mask.iter().all(|&m| m == 0xff));
    }

    #[test]
    fn wildcards_are_nibbles_of_the_mask() {
        let got = bytes("1x X2 xx x", true).unwrap();
        assert_eq!(got.value, [0x10, 0x02, 0x00, 0x00]);
        assert_eq!(got.mask, [0xf0, 0x0f, 0x00, 0xf0]);
    }

    #[test]
    fn errors_name_the_word_and_the_character() {
        assert_eq!(
            bytes("0102 03g4", false),
            Err(HexError { word: 1, offset: 2 })
        );
        // A wildcard is an error where none is allowed (payload).
        assert_eq!(bytes("1x", false), Err(HexError { word: 0, offset: 1 }));
        assert_eq!(bytes("", false), Err(HexError { word: 0, offset: 0 }));
        assert_eq!(bytes("0x10", true).unwrap().value, [0x00, 0x10]);
        // One quoted argument with spaces reads like separate words.
        assert_eq!(
            read(&["Ab12f 3"], false).unwrap().value,
            [0xAB, 0x12, 0x0F, 0x03]
        );
        assert_eq!(read(&["1 2z"], false), Err(HexError { word: 0, offset: 3 }));
    }
}
