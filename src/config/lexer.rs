//! The lexer: one logical line → words and braces, each with its column.
//!
//! Words are separated by whitespace; `{` and `}` are tokens wherever they
//! stand (`80{` is `80` and `{`), except in `${NAME}` which stays part of its
//! word. Quoted parts (`"..."` or `'...'`) join the word they touch, keep
//! their whitespace, and lose their quotes; inside them shell-like escapes
//! (`\n`, `\t`, `\x41`, `\101`, `\"`...) are decoded. A word without quotes is
//! borrowed from the line, not copied.
//!
//! [`scan_plain_line`] is the fast path the preprocessor uses for lines with
//! nothing in them but words, braces and whitespace: a byte-class table,
//! one pass, no allocation.

use std::borrow::Cow;

use nom::branch::alt;
use nom::bytes::complete::{is_not, take_while, take_while1};
use nom::character::complete::char;
use nom::combinator::{map, opt, recognize};
use nom::multi::many1_count;
use nom::sequence::{delimited, pair, preceded};
use nom::IResult;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokKind {
    /// A word (keyword or value).
    Word,
    /// `{`.
    Open,
    /// `}`.
    Close,
}

/// Whitespace as C's `isspace` has it (keepalived is C): space, \t, \n,
/// \v, \f, \r.
fn is_space(c: char) -> bool {
    c.is_ascii() && matches!(class_of(c as u8), class::SPACE | class::NEWLINE)
}

/// A character of a bare word: not whitespace, a brace, a quote or `$`
/// (every non-ASCII character is one).
fn in_bare_word(c: char) -> bool {
    !c.is_ascii() || matches!(class_of(c as u8), class::WORD | class::MARK)
}

/// A quoted part, without its quotes; an unterminated quote runs to the end.
fn quoted(input: &str) -> IResult<&str, &str> {
    alt((
        recognize(delimited(char('"'), opt(escaped_body('"')), opt(char('"')))),
        recognize(delimited(
            char('\''),
            opt(escaped_body('\'')),
            opt(char('\'')),
        )),
    ))(input)
}

/// The body of a quoted string: anything up to the closing quote, a
/// backslash escaping the next character.
fn escaped_body(quote: char) -> impl FnMut(&str) -> IResult<&str, &str> {
    move |input: &str| {
        let mut chars = input.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                if i == 0 {
                    return Err(nom::Err::Error(nom::error::Error::new(
                        input,
                        nom::error::ErrorKind::TakeUntil,
                    )));
                }
                return Ok((&input[i..], &input[..i]));
            }
            if c == '\\' {
                chars.next();
            }
        }
        Ok((&input[input.len()..], input))
    }
}

/// `${...}`: kept whole inside a word.
fn dollar_brace(input: &str) -> IResult<&str, &str> {
    recognize(pair(
        char('$'),
        delimited(char('{'), is_not("}"), char('}')),
    ))(input)
}

/// Unquoted characters: not whitespace, brace or quote.
fn bare(input: &str) -> IResult<&str, &str> {
    take_while1(in_bare_word)(input)
}

/// A word: quoted and unquoted parts with no whitespace between.
fn word(input: &str) -> IResult<&str, &str> {
    recognize(many1_count(alt((
        dollar_brace,
        quoted,
        bare,
        recognize(char('$')),
    ))))(input)
}

/// One token, after optional whitespace.
fn token(input: &str) -> IResult<&str, (TokKind, &str)> {
    preceded(
        take_while(is_space),
        alt((
            map(char('{'), |_| (TokKind::Open, "{")),
            map(char('}'), |_| (TokKind::Close, "}")),
            map(word, |w| (TokKind::Word, w)),
        )),
    )(input)
}

/// Split `line` into tokens: `emit(kind, text, byte offset)`.
///
/// Plain words (no quote, no `$`) and braces are cut by a byte scan, the
/// common case in large configs; anything else goes through the nom
/// [`token`] grammar.
pub fn lex_line<'t>(line: &'t str, mut emit: impl FnMut(TokKind, Cow<'t, str>, usize)) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match class_of(b) {
            class::SPACE | class::NEWLINE => {
                i += 1;
                continue;
            }
            class::BRACE => {
                let (kind, text) = match b {
                    b'{' => (TokKind::Open, "{"),
                    _ => (TokKind::Close, "}"),
                };
                emit(kind, Cow::Borrowed(text), i);
                i += 1;
                continue;
            }
            _ => {}
        }
        // Marks are word bytes here (the preprocessor has seen them); a
        // quote, `$` or a non-ASCII byte needs the full grammar.
        let start = i;
        while i < bytes.len() && matches!(class_of(bytes[i]), class::WORD | class::MARK) {
            i += 1;
        }
        let plain_end = i > start
            && (i == bytes.len()
                || matches!(
                    class_of(bytes[i]),
                    class::SPACE | class::NEWLINE | class::BRACE
                ));
        if plain_end {
            emit(TokKind::Word, Cow::Borrowed(&line[start..i]), start);
            continue;
        }
        // Quotes, `${...}` or non-ASCII: the full grammar.
        match token(&line[start..]) {
            Ok((after, (kind, text))) => {
                let text = if kind == TokKind::Word && text.contains(['"', '\'']) {
                    Cow::Owned(unquote(text))
                } else {
                    Cow::Borrowed(text)
                };
                emit(kind, text, start);
                let next = line.len() - after.len();
                if next <= start {
                    // No progress would loop forever; cannot happen with
                    // the grammar above, but bytes are adversarial.
                    return;
                }
                i = next;
            }
            Err(_) => return,
        }
    }
}

/// What a byte is to the lexer: [`CLASS`] is the one table every path
/// asks (through [`class_of`]), the plain-line scanner, [`lex_line`]'s byte
/// scan and the nom grammar's characters alike.
mod class {
    /// Part of a word.
    pub const WORD: u8 = 0;
    /// C `isspace` other than `\n`: space, \t, \v, \f, \r.
    pub const SPACE: u8 = 1;
    /// `\n`: the physical line ends.
    pub const NEWLINE: u8 = 2;
    /// `{` or `}`: a token of its own.
    pub const BRACE: u8 = 3;
    /// A mark of the preprocessor: comments `#` `!`, `@` (conditionals),
    /// `~` (sequences), `\` (multi-line definitions). Once the
    /// preprocessor has read a line, part of a word.
    pub const MARK: u8 = 4;
    /// A byte only the full grammar reads: quotes, `$` (parameters, also
    /// the preprocessor's) and every non-ASCII byte.
    pub const GRAMMAR: u8 = 5;
}

/// The class of every byte (see [`class`]).
static CLASS: [u8; 256] = {
    let mut table = [class::WORD; 256];
    let mut b = 0x80;
    while b < 256 {
        table[b] = class::GRAMMAR;
        b += 1;
    }
    table[b' ' as usize] = class::SPACE;
    table[b'\t' as usize] = class::SPACE;
    table[0x0b] = class::SPACE;
    table[0x0c] = class::SPACE;
    table[b'\r' as usize] = class::SPACE;
    table[b'\n' as usize] = class::NEWLINE;
    table[b'{' as usize] = class::BRACE;
    table[b'}' as usize] = class::BRACE;
    let marks = *b"#!@~\\";
    let mut k = 0;
    while k < marks.len() {
        table[marks[k] as usize] = class::MARK;
        k += 1;
    }
    let grammar = *b"\"'$";
    let mut k = 0;
    while k < grammar.len() {
        table[grammar[k] as usize] = class::GRAMMAR;
        k += 1;
    }
    table
};

/// What `b` is to the lexer (one of [`class`]).
#[inline(always)]
fn class_of(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

/// A token of a plain line: what it is and its byte range within the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Word, `{` or `}`.
    pub kind: TokKind,
    /// Offset of its first byte.
    pub start: usize,
    /// Offset one past its last byte.
    pub end: usize,
}

/// The fast path for the lines that make up nearly all of a large config.
///
/// Scans the physical line that starts at `bytes[start]` in one pass. If it
/// holds only words, braces and whitespace (no byte of class `MARK` or
/// `GRAMMAR`), the preprocessor has nothing to do with it and this scan is
/// its whole lexing: returns where the line ends (the index of its `\n`, or
/// `bytes.len()`), with `spans` holding its tokens, offsets relative to
/// `start`. Otherwise returns `None` (and `spans` holds junk): the line
/// takes the general path.
#[inline(always)]
pub fn scan_plain_line(bytes: &[u8], start: usize, spans: &mut Vec<Span>) -> Option<usize> {
    spans.clear();
    let n = bytes.len();
    let mut i = skip_indentation(bytes, start);
    loop {
        // Indentation and the gaps between words are runs of spaces: a
        // direct comparison is cheaper than the class table.
        while i < n && bytes[i] == b' ' {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else {
            return Some(n);
        };
        let token_start = i;
        i += 1;
        let kind = match class_of(b) {
            class::WORD => {
                i = word_end(bytes, i);
                TokKind::Word
            }
            class::BRACE if b == b'{' => TokKind::Open,
            class::BRACE => TokKind::Close,
            class::SPACE => continue,
            class::NEWLINE => return Some(token_start),
            _ => return None,
        };
        spans.push(Span {
            kind,
            start: token_start - start,
            end: i - start,
        });
    }
}

/// Eight spaces, as one little-endian word.
const EIGHT_SPACES: u64 = u64::from_le_bytes(*b"        ");

/// The first index at or after `i` that is not a space, eight bytes at a
/// time while eight are left: a line's indentation is the longest run of
/// spaces in it, and a byte-wise loop costs several instructions a byte.
fn skip_indentation(bytes: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = i
        .checked_add(8)
        .and_then(|end| bytes.get(i..end))
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
    {
        // Lanes that differ from a space are set; the lowest is the first.
        let other = u64::from_le_bytes(chunk) ^ EIGHT_SPACES;
        if other != 0 {
            return i + (other.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

/// One past the end of the plain word whose bytes continue at `i`: four
/// bytes a round while four are left, which spares most of the loop's own
/// bookkeeping (words are mostly several bytes long).
fn word_end(bytes: &[u8], mut i: usize) -> usize {
    let is_word = |b: u8| class_of(b) == class::WORD;
    while let Some(&[a, b, c, d]) = i.checked_add(4).and_then(|end| bytes.get(i..end)) {
        if !is_word(a) {
            return i;
        }
        if !is_word(b) {
            return i + 1;
        }
        if !is_word(c) {
            return i + 2;
        }
        if !is_word(d) {
            return i + 3;
        }
        i += 4;
    }
    while i < bytes.len() && is_word(bytes[i]) {
        i += 1;
    }
    i
}

/// A word with its quotes removed and escapes inside quotes decoded.
pub fn unquote(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut quote: Option<char> = None;
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c == '"' || c == '\'' => quote = Some(c),
            None => out.push(c),
            Some(q) if c == q => quote = None,
            Some(_) if c == '\\' => decode_escape(&mut chars, &mut out),
            Some(_) => out.push(c),
        }
    }
    out
}

/// One escape after a backslash: `\n`, `\x41`, `\101`, `\cC`, `\C`.
fn decode_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    let Some(c) = chars.next() else {
        out.push('\\');
        return;
    };
    let simple = match c {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'E' => Some('\x1b'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        _ => None,
    };
    if let Some(s) = simple {
        out.push(s);
        return;
    }
    match c {
        'x' => {
            let mut v: u32 = 0;
            let mut any = false;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(16)) {
                v = (v * 16 + d) & 0xff;
                any = true;
                chars.next();
            }
            if any {
                out.push(char::from(v as u8));
            } else {
                out.push('x');
            }
        }
        '0'..='7' => {
            let mut v = c.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match chars.peek().and_then(|d| d.to_digit(8)) {
                    Some(d) => {
                        v = v * 8 + d;
                        chars.next();
                    }
                    None => break,
                }
            }
            out.push(char::from((v & 0xff) as u8));
        }
        'c' => match chars.next() {
            Some(k) => out.push(char::from((k as u32 & 0x1f) as u8)),
            None => out.push('c'),
        },
        other => out.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(line: &str) -> Vec<(TokKind, String, usize)> {
        let mut v = Vec::new();
        lex_line(line, |k, t, o| v.push((k, t.into_owned(), o)));
        v
    }

    /// `line` read by the nom grammar alone, token after token.
    fn by_grammar(line: &str) -> Vec<(TokKind, String, usize)> {
        let mut v = Vec::new();
        let mut rest = line;
        while let Ok((after, (kind, text))) = token(rest) {
            let at = line.len() - after.len() - text.len();
            let text = match kind == TokKind::Word && text.contains(['"', '\'']) {
                true => unquote(text),
                false => text.to_string(),
            };
            v.push((kind, text, at));
            if after.len() == rest.len() {
                break;
            }
            rest = after;
        }
        v
    }

    #[test]
    fn the_byte_scan_reads_every_character_as_the_grammar_does() {
        // Every ASCII byte and some non-ASCII characters, inside, before and
        // after words, next to braces and quotes.
        let chars = (0u8..0x80)
            .map(char::from)
            .chain(['é', '\u{85}', '\u{a0}', '→']);
        for c in chars {
            for line in [
                format!("a{c}b {c} c{c}"),
                format!("{{{c}}} x{c}{{y}}{c}"),
                format!("\"q{c}\"{c}w '{c}' ${{V{c}}}"),
            ] {
                assert_eq!(lex(&line), by_grammar(&line), "{line:?}");
            }
        }
    }

    #[test]
    fn spaces_are_c_isspace() {
        for b in 0u8..0x80 {
            let c_isspace = b.is_ascii_whitespace() || b == 0x0b;
            assert_eq!(is_space(char::from(b)), c_isspace, "{b:#04x}");
        }
        assert!(!is_space('\u{85}') && !is_space('\u{a0}'));
    }

    #[test]
    fn braces_split_words() {
        let t = lex("real_server 1.2.3.4 80{ weight 3 }}");
        let words: Vec<&str> = t.iter().map(|x| x.1.as_str()).collect();
        assert_eq!(
            words,
            ["real_server", "1.2.3.4", "80", "{", "weight", "3", "}", "}"]
        );
        assert_eq!(t[2].2, 20);
        assert_eq!(t[3].0, TokKind::Open);
    }

    #[test]
    fn quotes_join_and_keep_spaces() {
        let t = lex(r#"misc_path "/bin/check a" 'x y'z abcd" efg "h"#);
        let words: Vec<&str> = t.iter().map(|x| x.1.as_str()).collect();
        assert_eq!(words, ["misc_path", "/bin/check a", "x yz", "abcd efg h"]);
    }

    #[test]
    fn escapes_inside_quotes() {
        assert_eq!(unquote(r#""a\tb\x41\101\"c""#), "a\tbAA\"c");
    }

    #[test]
    fn unterminated_quote_with_trailing_backslash() {
        let t = lex("path \"abc\\");
        assert_eq!(t[1].1, "abc\\");
    }

    #[test]
    fn unicode_whitespace_and_words() {
        let t = lex("path /é\u{a0}x {");
        assert_eq!(t[1].1, "/é\u{a0}x");
        assert_eq!(t[2].0, TokKind::Open);
    }

    #[test]
    fn vertical_tab_and_form_feed_separate_words() {
        let t = lex("a\x0bb\x0cc\x0b");
        let words: Vec<&str> = t.iter().map(|x| x.1.as_str()).collect();
        assert_eq!(words, ["a", "b", "c"]);
    }

    #[test]
    fn plain_scan_stops_at_the_newline() {
        let text = b"x {\n  real_server 10.0.0.1 80{\nnext";
        let mut spans = Vec::new();
        assert_eq!(scan_plain_line(text, 0, &mut spans), Some(3));
        assert_eq!(spans.len(), 2);
        assert_eq!(scan_plain_line(text, 4, &mut spans), Some(30));
        let got: Vec<(TokKind, usize, usize)> =
            spans.iter().map(|s| (s.kind, s.start, s.end)).collect();
        assert_eq!(
            got,
            [
                (TokKind::Word, 2, 13),
                (TokKind::Word, 14, 22),
                (TokKind::Word, 23, 25),
                (TokKind::Open, 25, 26),
            ]
        );
        assert_eq!(scan_plain_line(text, 31, &mut spans), Some(text.len()));
        assert_eq!(spans.len(), 1);
    }

    #[test]
    fn plain_scan_refuses_what_the_preprocessor_must_see() {
        let mut spans = Vec::new();
        for line in [
            "a #c",
            "a !c",
            "a \"b\"",
            "a 'b'",
            "a $B",
            "@id a",
            "~SEQ(i,1,1,2)",
            "a \\",
            "a é",
        ] {
            assert_eq!(
                scan_plain_line(line.as_bytes(), 0, &mut spans),
                None,
                "{line}"
            );
        }
        assert_eq!(scan_plain_line(b" \t\x0b\x0c\r", 0, &mut spans), Some(5));
        assert!(spans.is_empty());
    }

    #[test]
    fn dollar_brace_stays_in_word() {
        let t = lex("path ${UNDEFINED}/x a${B}c $");
        assert_eq!(t[1].1, "${UNDEFINED}/x");
        assert_eq!(t[2].1, "a${B}c");
        assert_eq!(t[3].1, "$");
    }
}
