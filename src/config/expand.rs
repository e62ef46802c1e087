//! The preprocessor: keepalived's line-level language, run before any
//! keyword is looked at.
//!
//! For every line, in this order (keepalived.conf(5), "ADVANCED
//! CONFIGURATION"):
//! 1. comments (`#`, `!` outside quotes) are cut off;
//! 2. `@ID` / `@^ID`: the line is kept only if the config id matches
//!    (or, with `^`, does not);
//! 3. `$NAME=value` defines a parameter (a value ending in `\` starts a
//!    multi-line definition: following lines ending in `\` and the first one
//!    that does not; an empty or comment line ends it, and a line whose last
//!    byte is `\` goes on even after a comment, as keepalived reads them);
//! 4. `~SEQ(var, start, step, end)`, `~SEQx(...)` and `~LST(var, v1, ...)`
//!    repeat the rest of the line with `$var` set to each value;
//! 5. `$NAME` (followed by whitespace or the line's end) and `${NAME}` are
//!    replaced by their values; undefined names stay as written. The result
//!    goes through these steps again, line by line, since a value may hold
//!    conditionals, definitions and more parameters.
//!
//! A line that needs no work is passed on borrowed from the file's text, so
//! a large config without parameters costs no copying here. Most lines of a
//! large config hold no byte any step above looks for (`#`, `!`, quotes,
//! `$`, `@`, `~`, `\`, non-ASCII): one scan over such a *plain* line finds
//! its end and cuts it into tokens ([`scan_plain_line`]), and it goes to
//! the block parser without steps 1–5 or a second lexing pass.

use std::borrow::Cow;
use std::collections::HashMap;

use super::diagnostic::{Diagnostics, Severity};
use super::lexer::{scan_plain_line, Span};
use super::source::{strip_comment, Sources};
use super::values::{self, SeqSpec};

/// Expansion deeper than this (a parameter that names itself, say) is an error.
const MAX_DEPTH: u32 = 32;
/// A `~SEQ`/`~LST` producing more lines than this is an error, not a hang.
const MAX_REPEAT: u64 = 2_000_000;
/// Text made by substitution and sequences beyond this is an error: a few
/// lines can otherwise ask for gigabytes (`$A=$B $B`, `$B=$C $C`, ...).
const MAX_EXPANDED_BYTES: u64 = 32 << 20;

/// One line after preprocessing, ready for the lexer.
#[derive(Debug, Clone)]
pub struct LogicalLine<'s> {
    /// File index in [`Sources`].
    pub file: u32,
    /// Line number in that file (1-based).
    pub line: u32,
    /// Byte offset of `text` in the physical line (0 when `text` was rebuilt
    /// by substitution: columns are then those of the rebuilt text).
    pub col_offset: u32,
    /// The text to lex.
    pub text: Cow<'s, str>,
}

/// Where the preprocessor's output goes: the block parser, in the front end.
pub trait LineSink<'s> {
    /// A line the preprocessor worked on (or that the lexer must read in full).
    fn logical_line(&mut self, line: LogicalLine<'s>);
    /// A plain physical line (see [`scan_plain_line`]), the one that starts
    /// at byte `start` of `text` (its file's text), already cut into
    /// `tokens` (offsets from `start`); it is `LogicalLine { file, line,
    /// col_offset: 0, text: the line }`.
    fn plain_line(&mut self, file: u32, line: u32, text: &'s str, start: usize, tokens: &[Span]);
}

/// Runs the preprocessor over every file, in include order.
pub struct Preprocessor<'s, 'd> {
    sources: &'s Sources,
    config_id: String,
    vars: HashMap<String, String>,
    diagnostics: &'d mut Diagnostics,
    produced: u64,
    /// Bytes of text made by expansion so far.
    expanded_bytes: u64,
    /// Set once a limit was hit: the rest of the expansion is dropped.
    stopped: bool,
}

impl<'s, 'd> Preprocessor<'s, 'd> {
    /// A preprocessor for `sources`, selecting `@ID` lines by `config_id`.
    pub fn new(sources: &'s Sources, config_id: String, diagnostics: &'d mut Diagnostics) -> Self {
        Preprocessor {
            sources,
            config_id,
            vars: HashMap::new(),
            diagnostics,
            produced: 0,
            expanded_bytes: 0,
            stopped: false,
        }
    }

    /// Feed every line to `sink`, starting with the main file. (Generic, so
    /// that the plain-line path inlines the sink; the rare general path
    /// takes it as `dyn`.)
    pub fn run<S: LineSink<'s>>(&mut self, sink: &mut S) {
        if !self.sources.files.is_empty() {
            self.run_file(0, sink);
        }
    }

    fn run_file<S: LineSink<'s>>(&mut self, file: u32, sink: &mut S) {
        let sources = self.sources;
        let Some(source) = sources.files.get(file as usize) else {
            return;
        };
        let text: &'s str = &source.text;
        let bytes = text.as_bytes();
        let mut includes = source.includes.iter();
        // The line of the next `include` (none: a line number never reached).
        let mut next_include = includes.next();
        let mut spans: Vec<Span> = Vec::new();
        let mut pos = 0;
        let mut line_no = 0u32;
        while pos < bytes.len() {
            line_no += 1;
            let start = pos;
            if next_include.is_some_and(|(l, _)| *l == line_no) {
                let ids = next_include.map_or(&[][..], |(_, ids)| ids.as_slice());
                next_include = includes.next();
                next_line(text, &mut pos);
                for &id in ids {
                    self.run_file(id, sink);
                }
                continue;
            }
            // A plain line has no comment, conditional, definition, sequence
            // or parameter: steps 1–5 would hand it on unchanged.
            if let Some(end) = scan_plain_line(bytes, start, &mut spans) {
                pos = end + 1;
                if spans.is_empty() || self.stopped {
                    continue;
                }
                self.produced += 1;
                sink.plain_line(file, line_no, text, start, &spans);
                continue;
            }
            let Some(raw) = next_line(text, &mut pos) else {
                break;
            };
            let text = strip_comment(raw);
            if text.trim().is_empty() {
                continue;
            }
            if continues(raw) && is_multiline_definition(text) {
                let first_line = line_no;
                let mut joined = text.trim_end().trim_end_matches('\\').to_owned();
                let mut goes_on = true;
                while goes_on {
                    let Some(next) = next_line(source.text.as_str(), &mut pos) else {
                        break;
                    };
                    line_no += 1;
                    // As keepalived reads it: an empty line ends the
                    // definition, and so does a comment line, unless it
                    // ends in a backslash (`# note \`: it adds nothing).
                    goes_on = continues(next);
                    let part = strip_comment(next).trim().trim_end_matches('\\');
                    if !part.is_empty() {
                        joined.push('\n');
                        joined.push_str(part);
                    }
                }
                self.process(file, first_line, 0, Cow::Owned(joined), 0, sink);
                continue;
            }
            self.process(file, line_no, 0, Cow::Borrowed(text), 0, sink);
        }
    }

    /// Steps 2–5 for one line.
    fn process(
        &mut self,
        file: u32,
        line: u32,
        col_offset: u32,
        text: Cow<'s, str>,
        depth: u32,
        sink: &mut dyn LineSink<'s>,
    ) {
        if self.stopped {
            return;
        }
        if let Cow::Owned(t) = &text {
            self.expanded_bytes += t.len() as u64 + 1;
            if self.expanded_bytes > MAX_EXPANDED_BYTES {
                self.stopped = true;
                self.error(
                    file,
                    line,
                    col_offset + 1,
                    format!(
                        "expansion makes more than {} MB of text",
                        MAX_EXPANDED_BYTES >> 20
                    ),
                );
                return;
            }
        }
        if depth > MAX_DEPTH {
            self.error(
                file,
                line,
                col_offset + 1,
                "parameter expansion does not end (a parameter that refers to itself?)",
            );
            return;
        }
        let trimmed = text.trim_start();
        if trimmed.is_empty() {
            return;
        }
        let indent = (text.len() - trimmed.len()) as u32;
        // Step 2: conditional.
        if let Some(cond) = trimmed.strip_prefix('@') {
            let (negate, cond) = match cond.strip_prefix('^') {
                Some(rest) => (true, rest),
                None => (false, cond),
            };
            let id_end = cond.find(char::is_whitespace).unwrap_or(cond.len());
            let selected = (cond[..id_end] == *self.config_id) != negate;
            if !selected {
                return;
            }
            let skip = text.len() - cond.len() + id_end;
            let rest = slice_cow(text, skip);
            return self.process(file, line, col_offset + skip as u32, rest, depth, sink);
        }
        // Step 3: definition.
        if let Some((name, value)) = trimmed
            .starts_with('$')
            .then(|| values::definition(trimmed))
            .flatten()
        {
            let value = value.trim();
            let value = value.strip_prefix('\n').unwrap_or(value);
            self.vars.insert(name.to_owned(), value.to_owned());
            return;
        }
        // Step 4: ~SEQ / ~LST.
        if trimmed.starts_with("~SEQ") || trimmed.starts_with("~LST") {
            let col = col_offset + indent + 1;
            let head = self.seq_arguments(file, trimmed);
            match values::seq_spec(head.as_deref().unwrap_or(trimmed)) {
                Ok((rest, spec)) => {
                    let rest = rest.to_owned();
                    self.repeat(file, line, col, &spec, &rest, depth, sink);
                }
                Err(message) => self.error(file, line, col, message),
            }
            return;
        }
        // Step 5: substitution.
        match self.substitute(file, &text) {
            None => {
                self.produced += 1;
                sink.logical_line(LogicalLine {
                    file,
                    line,
                    col_offset,
                    text,
                });
            }
            Some(expanded) => {
                for piece in expanded.split('\n') {
                    self.process(file, line, 0, Cow::Owned(piece.to_owned()), depth + 1, sink);
                }
            }
        }
    }

    /// Run `rest` once per value of a `~SEQ`/`~LST` spec.
    #[allow(clippy::too_many_arguments)]
    fn repeat(
        &mut self,
        file: u32,
        line: u32,
        col: u32,
        spec: &SeqSpec,
        rest: &str,
        depth: u32,
        sink: &mut dyn LineSink<'s>,
    ) {
        if spec.rounds() > MAX_REPEAT || self.produced > MAX_REPEAT {
            self.stopped = true;
            self.error(
                file,
                line,
                col,
                format!("sequence produces more than {MAX_REPEAT} lines"),
            );
            return;
        }
        for row in spec.rows() {
            for (name, value) in spec.vars.iter().zip(row) {
                self.vars.insert(name.clone(), value);
            }
            self.process(file, line, 0, Cow::Owned(rest.to_owned()), depth + 1, sink);
            if self.stopped {
                return;
            }
            if self.produced > MAX_REPEAT {
                self.stopped = true;
                self.error(
                    file,
                    line,
                    col,
                    format!("sequences produce more than {MAX_REPEAT} lines"),
                );
                return;
            }
        }
    }

    /// Replace every defined `$NAME` / `${NAME}` once; `None` if nothing changed.
    fn substitute(&mut self, file: u32, text: &str) -> Option<String> {
        if !text.contains('$') {
            return None;
        }
        let mut out = String::with_capacity(text.len() + 16);
        let mut changed = false;
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            if out.len() as u64 > MAX_EXPANDED_BYTES {
                // Let process() report it: the result is over the limit.
                break;
            }
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some((name, used)) = values::braced_name(after) {
                if let Some(value) = self.lookup(file, name) {
                    out.push_str(&value);
                    changed = true;
                    rest = &after[used..];
                    continue;
                }
            } else if let Some(name) = values::bare_name(after) {
                let followed_ok = after[name.len()..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace);
                if followed_ok {
                    if let Some(value) = self.lookup(file, name) {
                        out.push_str(&value);
                        changed = true;
                        rest = &after[name.len()..];
                        continue;
                    }
                }
            }
            out.push('$');
            rest = after;
        }
        out.push_str(rest);
        changed.then_some(out)
    }

    /// `~SEQ(VAR, START, STEP, END) rest` with the parameters among START,
    /// STEP and END replaced (`~SEQ(i, $FIRST, 1, $LAST)`), as keepalived
    /// does before reading the numbers; `None` if there are none. A name
    /// ends at the first byte that cannot be part of it (`$LAST)`).
    fn seq_arguments(&self, file: u32, text: &str) -> Option<String> {
        let close = text.find(')')?;
        let (args, rest) = text.split_at(close);
        if !text.starts_with("~SEQ") || !args.contains('$') {
            return None;
        }
        let mut out = String::with_capacity(text.len() + 16);
        let mut pieces = args.split('$');
        out.push_str(pieces.next().unwrap_or(""));
        for piece in pieces {
            let (name, used) = match values::braced_name(piece) {
                Some((name, used)) => (name, used),
                None => match values::bare_name(piece) {
                    Some(name) => (name, name.len()),
                    None => ("", 0),
                },
            };
            match self.lookup(file, name).filter(|_| used > 0) {
                Some(value) => out.push_str(value.trim()),
                None => {
                    out.push('$');
                    out.push_str(&piece[..used]);
                }
            }
            out.push_str(&piece[used..]);
        }
        out.push_str(rest);
        Some(out)
    }

    /// A parameter's value, including keepalived's predefined ones.
    fn lookup(&self, file: u32, name: &str) -> Option<String> {
        if let Some(v) = self.vars.get(name) {
            return Some(v.clone());
        }
        match name {
            "_HASH" => Some("#".into()),
            "_BANG" => Some("!".into()),
            "_INSTANCE" => Some(self.config_id.clone()),
            "_PWD" => self
                .sources
                .files
                .get(file as usize)
                .and_then(|f| f.path.parent())
                .map(|p| p.display().to_string()),
            _ => values::random_spec(name).map(|(min, max)| {
                let v = if max > min {
                    rand::random_range(min..=max)
                } else {
                    min
                };
                v.to_string()
            }),
        }
    }

    fn error(&mut self, file: u32, line: u32, col: u32, message: impl Into<String>) {
        let d = self
            .sources
            .diagnostic(Severity::Error, file, line, col, message);
        self.diagnostics.push(d);
    }
}

/// Does this (comment-stripped) line start a multi-line `$NAME=` definition?
fn is_multiline_definition(text: &str) -> bool {
    let mut t = text.trim_start();
    if let Some(cond) = t.strip_prefix('@') {
        t = cond
            .trim_start_matches(|c: char| !c.is_whitespace())
            .trim_start();
    }
    values::definition(t).is_some()
}

/// Does a physical line of a multi-line definition go on in the next one?
/// As keepalived reads it: when the line without its comment ends in a
/// backslash, or when its very last byte is one (even inside a comment).
fn continues(raw: &str) -> bool {
    raw.ends_with('\\') || strip_comment(raw).trim_end().ends_with('\\')
}

/// `text[skip..]`, staying borrowed when `text` is.
fn slice_cow(text: Cow<'_, str>, skip: usize) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(&s[skip..]),
        Cow::Owned(s) => Cow::Owned(s[skip..].to_owned()),
    }
}

/// The line starting at `*pos` (without its `\n`, or `\r\n`, as
/// [`str::lines`] cuts it), moving `*pos` past it.
fn next_line<'t>(text: &'t str, pos: &mut usize) -> Option<&'t str> {
    let rest = text.get(*pos..).filter(|r| !r.is_empty())?;
    match rest.find('\n') {
        Some(i) => {
            *pos += i + 1;
            let line = &rest[..i];
            Some(line.strip_suffix('\r').unwrap_or(line))
        }
        None => {
            *pos = text.len();
            Some(rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lexer::{lex_line, TokKind};
    use crate::config::source::SourceLoader;

    /// Every token the preprocessor hands on: (line, col, kind, text, plain?).
    #[derive(Default)]
    struct Collect(Vec<(u32, u32, TokKind, String, bool)>);

    impl<'s> LineSink<'s> for Collect {
        fn logical_line(&mut self, line: LogicalLine<'s>) {
            lex_line(&line.text, |kind, text, offset| {
                let col = line.col_offset + offset as u32 + 1;
                self.0
                    .push((line.line, col, kind, text.into_owned(), false));
            });
        }

        fn plain_line(
            &mut self,
            _file: u32,
            line: u32,
            text: &'s str,
            start: usize,
            tokens: &[Span],
        ) {
            for t in tokens {
                let word = text[start + t.start..start + t.end].to_owned();
                self.0.push((line, t.start as u32 + 1, t.kind, word, true));
            }
        }
    }

    fn tokens(text: &str) -> Vec<(u32, u32, TokKind, String, bool)> {
        let mut diagnostics = Diagnostics::default();
        let sources = SourceLoader::new(&mut diagnostics).load_bytes(
            std::path::Path::new("/nonexistent-lvsd-test/keepalived.conf"),
            text.as_bytes().to_vec(),
        );
        let mut pre_diagnostics = Diagnostics::default();
        let mut sink = Collect::default();
        Preprocessor::new(&sources, "main".into(), &mut pre_diagnostics).run(&mut sink);
        assert!(pre_diagnostics.is_empty(), "{pre_diagnostics:?}");
        sink.0
    }

    fn word(line: u32, col: u32, text: &str, plain: bool) -> (u32, u32, TokKind, String, bool) {
        (line, col, TokKind::Word, text.to_owned(), plain)
    }

    #[test]
    fn trailing_comment_takes_the_general_path() {
        let t = tokens("delay_loop 10   # seconds {\nlb_algo rr ! x\n");
        assert_eq!(
            t,
            [
                word(1, 1, "delay_loop", false),
                word(1, 12, "10", false),
                word(2, 1, "lb_algo", false),
                word(2, 9, "rr", false),
            ]
        );
    }

    #[test]
    fn crlf_lines_are_plain_and_keep_their_columns() {
        let t = tokens("a  b\r\n\r\n {\r\n}");
        assert_eq!(
            t,
            [
                word(1, 1, "a", true),
                word(1, 4, "b", true),
                (3, 2, TokKind::Open, "{".into(), true),
                (4, 1, TokKind::Close, "}".into(), true),
            ]
        );
    }

    #[test]
    fn brace_glued_to_a_word_is_its_own_token() {
        let t = tokens("80{x}}\n");
        assert_eq!(
            t,
            [
                word(1, 1, "80", true),
                (1, 3, TokKind::Open, "{".into(), true),
                word(1, 4, "x", true),
                (1, 5, TokKind::Close, "}".into(), true),
                (1, 6, TokKind::Close, "}".into(), true),
            ]
        );
    }

    #[test]
    fn tabs_vertical_tabs_and_form_feeds_separate_words() {
        let t = tokens("\ta\tb\x0bc\x0cd\r\n\x0b\x0c\t \n e");
        assert_eq!(
            t,
            [
                word(1, 2, "a", true),
                word(1, 4, "b", true),
                word(1, 6, "c", true),
                word(1, 8, "d", true),
                word(3, 2, "e", true),
            ]
        );
    }

    #[test]
    fn undefined_parameter_stays_as_written() {
        let t = tokens("path $UNDEF/x ${NOPE}\n");
        assert_eq!(
            t,
            [
                word(1, 1, "path", false),
                word(1, 6, "$UNDEF/x", false),
                word(1, 15, "${NOPE}", false),
            ]
        );
    }

    #[test]
    fn at_sign_inside_a_word_is_not_a_conditional() {
        let t = tokens("user a@b\n@main x@y\n@other z\n");
        assert_eq!(
            t,
            [
                word(1, 1, "user", false),
                word(1, 6, "a@b", false),
                word(2, 7, "x@y", false),
            ]
        );
    }

    #[test]
    fn plain_and_general_lines_mix_with_definitions() {
        let t = tokens("$P=9\nport $P\nport 9\n~SEQ(i,1,1,2) n $i\n");
        assert_eq!(
            t,
            [
                word(2, 1, "port", false),
                word(2, 6, "9", false),
                word(3, 1, "port", true),
                word(3, 6, "9", true),
                // Columns of a repeated line are those of the text after
                // the `~SEQ(...)`, as before the plain-line path existed.
                word(4, 2, "n", false),
                word(4, 4, "1", false),
                word(4, 2, "n", false),
                word(4, 4, "2", false),
            ]
        );
    }

    #[test]
    fn non_ascii_and_quotes_take_the_general_path() {
        let t = tokens("name é\nname \"a b\"\n");
        assert_eq!(
            t,
            [
                word(1, 1, "name", false),
                word(1, 6, "é", false),
                word(2, 1, "name", false),
                word(2, 6, "a b", false),
            ]
        );
    }
}
