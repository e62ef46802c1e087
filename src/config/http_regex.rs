//! An `HTTP_GET` url's `regex`, as keepalived reads it and PCRE2 compiles it.
//!
//! keepalived reads the pattern with its "quoted escaped" word splitter, so
//! shell-like escapes are decoded whether or not the pattern is quoted:
//! `\n \r \t \a \b \E \f \v`, `\nnn` (octal), `\xHH`, `\cC`, and any other
//! `\C` is plain `C`. A PCRE escape therefore needs a doubled backslash in
//! keepalived.conf (`regex "\\d+"`). lvsd's lexer already decodes escapes
//! inside quotes with these rules; [`decode_escapes`] does the rest for an
//! unquoted pattern.
//!
//! The pattern is compiled at load time with the libpcre2 library (the
//! `pcre2` crate): a pattern that does not compile is an error at its line,
//! never a check that silently passes. keepalived passes `regex_options` as
//! PCRE2 compile flags; the crate offers a few of them as builder flags and
//! lvsd writes the others as PCRE2's own in-pattern settings (`(?U)`,
//! `(*UCP)`...), which mean the same. The few flags that have no such
//! spelling are refused at their column (see [`RegexOption`]).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Serialize, Serializer};

/// One `regex_options` name, as keepalived spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum RegexOption {
    /// `caseless` (builder flag).
    Caseless,
    /// `dotall` (builder flag).
    Dotall,
    /// `extended` (builder flag).
    Extended,
    /// `multiline` (builder flag).
    Multiline,
    /// `utf` (builder flag).
    Utf,
    /// `ucp`: `(*UCP)`.
    Ucp,
    /// `ungreedy`: `(?U)`.
    Ungreedy,
    /// `dupnames`: `(?J)`.
    Dupnames,
    /// `no_auto_capture`: `(?n)`.
    NoAutoCapture,
    /// `no_auto_possess`: `(*NO_AUTO_POSSESS)`.
    NoAutoPossess,
    /// `no_dotstar_anchor`: `(*NO_DOTSTAR_ANCHOR)`.
    NoDotstarAnchor,
    /// `no_start_optimize`: `(*NO_START_OPT)`.
    NoStartOptimize,
    /// `auto_callout`, `never_ucp`, `never_utf`, `use_offset_limit`: no
    /// effect on what a check matches (no callout is installed, no offset
    /// limit is set, and the locks only forbid in-pattern settings).
    NoEffect,
}

impl RegexOption {
    /// The option keepalived names `name`: `Ok(None)` for a name keepalived
    /// does not know (it ignores those silently; lvsd warns), `Err` for
    /// one lvsd cannot apply through the `pcre2` crate.
    pub fn from_name(name: &str) -> Result<Option<RegexOption>, &'static str> {
        use RegexOption as O;
        Ok(Some(match name {
            "caseless" => O::Caseless,
            "dotall" => O::Dotall,
            "extended" => O::Extended,
            "multiline" => O::Multiline,
            "utf" => O::Utf,
            "ucp" => O::Ucp,
            "ungreedy" => O::Ungreedy,
            "dupnames" => O::Dupnames,
            "no_auto_capture" => O::NoAutoCapture,
            "no_auto_possess" => O::NoAutoPossess,
            "no_dotstar_anchor" => O::NoDotstarAnchor,
            "no_start_optimize" => O::NoStartOptimize,
            "auto_callout" | "never_ucp" | "never_utf" | "use_offset_limit" => O::NoEffect,
            "allow_empty_class"
            | "alt_bsux"
            | "dollar_endonly"
            | "firstline"
            | "match_unset_backref"
            | "never_backslash_c"
            | "alt_circumflex"
            | "alt_verbnames" => {
                return Err("a PCRE2 option lvsd cannot set (it has no in-pattern spelling)")
            }
            _ => return Ok(None),
        }))
    }

    /// The in-pattern spelling, for the options that are not builder flags.
    fn prefix(self) -> &'static str {
        match self {
            RegexOption::Ucp => "(*UCP)",
            RegexOption::NoAutoPossess => "(*NO_AUTO_POSSESS)",
            RegexOption::NoDotstarAnchor => "(*NO_DOTSTAR_ANCHOR)",
            RegexOption::NoStartOptimize => "(*NO_START_OPT)",
            RegexOption::Ungreedy => "(?U)",
            RegexOption::Dupnames => "(?J)",
            RegexOption::NoAutoCapture => "(?n)",
            _ => "",
        }
    }
}

/// A compiled `regex`: compared, hashed and shown by its source (pattern
/// and options), so a check holding one stays a plain value.
#[derive(Clone)]
pub struct HttpRegex {
    /// The pattern after keepalived's escape decoding.
    pattern: String,
    options: Vec<RegexOption>,
    /// `regex_stack`'s maximum, if set (the JIT stack size).
    stack_max: Option<usize>,
    compiled: Arc<pcre2::bytes::Regex>,
}

impl HttpRegex {
    /// Compiles `pattern` (already escape-decoded) with `options`; the
    /// error is PCRE2's message with the offset it names.
    pub fn compile(
        pattern: &str,
        options: &[RegexOption],
        stack_max: Option<usize>,
    ) -> Result<HttpRegex, String> {
        let mut builder = pcre2::bytes::RegexBuilder::new();
        for option in options {
            match option {
                RegexOption::Caseless => drop(builder.caseless(true)),
                RegexOption::Dotall => drop(builder.dotall(true)),
                RegexOption::Extended => drop(builder.extended(true)),
                RegexOption::Multiline => drop(builder.multi_line(true)),
                RegexOption::Utf => drop(builder.utf(true)),
                _ => {}
            }
        }
        // `(*...)` settings must come first, `(?x)` ones after them.
        let (verbs, flags): (Vec<_>, Vec<_>) = options
            .iter()
            .map(|o| o.prefix())
            .filter(|p| !p.is_empty())
            .partition(|p| p.starts_with("(*"));
        let source = verbs.concat() + &flags.concat() + pattern;
        builder.jit_if_available(true);
        if let Some(max) = stack_max {
            builder.max_jit_stack_size(Some(max));
        }
        let compiled = builder.build(&source).map_err(|e| e.to_string())?;
        Ok(HttpRegex {
            pattern: pattern.to_string(),
            options: options.to_vec(),
            stack_max,
            compiled: Arc::new(compiled),
        })
    }

    /// The pattern as configured (escapes decoded).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Where the first match at or after `start` begins, if any. A PCRE2
    /// matching error (e.g. a resource limit) counts as no match, as in
    /// keepalived.
    pub fn first_match_at(&self, subject: &[u8], start: usize) -> Option<usize> {
        if start > subject.len() {
            return None;
        }
        match self.compiled.find_at(subject, start) {
            Ok(Some(m)) => Some(m.start()),
            Ok(None) | Err(_) => None,
        }
    }
}

impl PartialEq for HttpRegex {
    fn eq(&self, other: &Self) -> bool {
        (&self.pattern, &self.options, self.stack_max)
            == (&other.pattern, &other.options, other.stack_max)
    }
}

impl Eq for HttpRegex {}

impl Hash for HttpRegex {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (&self.pattern, &self.options, self.stack_max).hash(state);
    }
}

impl fmt::Debug for HttpRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRegex")
            .field("pattern", &self.pattern)
            .field("options", &self.options)
            .field("stack_max", &self.stack_max)
            .finish()
    }
}

impl Serialize for HttpRegex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("HttpRegex", 3)?;
        s.serialize_field("pattern", &self.pattern)?;
        s.serialize_field("options", &self.options)?;
        s.serialize_field("stack_max", &self.stack_max)?;
        s.end()
    }
}

/// keepalived's escape decoding of an unquoted word (see the module doc).
/// A byte above 0x7f written as an escape (`\xff`, `\377`) becomes the
/// character of that code point, as lvsd's lexer does inside quotes.
pub fn decode_escapes(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            // keepalived drops a pattern ending in a lone backslash; PCRE2
            // refuses one too, so keep it and let the compile say so.
            out.push('\\');
            break;
        };
        let byte = |v: u32| char::from((v & 0xff) as u8);
        match e {
            'x' if chars.peek().is_some_and(char::is_ascii_hexdigit) => {
                let mut v = 0u32;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(16)) {
                    v = (v << 4 | d) & 0xff;
                    chars.next();
                }
                out.push(byte(v));
            }
            'c' if chars.peek().is_some() => {
                let k = chars.next().map_or(0, u32::from);
                out.push(byte(k & 0x1f));
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(byte(v));
            }
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'E' => out.push('\x1b'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_keepalived_decodes_them() {
        // A single backslash escape is eaten: `\d` is `d`, `\.` is `.`.
        assert_eq!(decode_escapes(r"\d+\.html"), "d+.html");
        // A doubled one reaches PCRE2 as one backslash.
        assert_eq!(decode_escapes(r"\\d+"), r"\d+");
        assert_eq!(decode_escapes(r"a\tb\x41\101\cA\n"), "a\tbAA\x01\n");
        assert_eq!(decode_escapes(r"\xg"), "xg");
    }

    #[test]
    fn options_and_errors() {
        let r = HttpRegex::compile("hello", &[RegexOption::Caseless], None).unwrap();
        assert_eq!(r.first_match_at(b"say HELLO", 0), Some(4));
        assert_eq!(r.first_match_at(b"say HELLO", 5), None);
        let ungreedy = HttpRegex::compile("a+", &[RegexOption::Ungreedy], None).unwrap();
        assert_eq!(ungreedy.first_match_at(b"baaa", 0), Some(1));
        let ucp = HttpRegex::compile(r"\w", &[RegexOption::Ucp, RegexOption::Ungreedy], None);
        assert!(ucp.is_ok(), "{ucp:?}");
        let err = HttpRegex::compile("a(b", &[], None).unwrap_err();
        assert!(err.contains("missing closing parenthesis"), "{err}");
        assert_eq!(RegexOption::from_name("nonsense"), Ok(None));
        assert!(RegexOption::from_name("firstline").is_err());
    }
}
