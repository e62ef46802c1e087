//! The files a config is made of: the main file and everything it includes,
//! read once into memory so that every later stage can borrow from them.
//!
//! keepalived finds `include` lines before it looks at conditionals or
//! parameters (keepalived.conf(5) says so), so includes are resolved here, on
//! raw lines, before the preprocessor runs. A file is read as bytes: bytes
//! that are not UTF-8 are an error where they matter and harmless inside a
//! comment (they are replaced by U+FFFD there).

use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, Diagnostics, Severity};
use super::{FileName, Location};

/// One file of the config.
#[derive(Debug)]
pub struct SourceFile {
    /// The file as it was named (glob results are absolute or relative to
    /// the including file's directory, as keepalived resolves them).
    pub path: PathBuf,
    /// The same, interned: what every [`Location`] in this file names.
    pub name: FileName,
    /// Its text (invalid UTF-8 replaced).
    pub text: String,
    /// The `include` lines (line number) and the files each one read.
    pub includes: Vec<(u32, Vec<u32>)>,
    /// Byte offsets of line starts, built on the first diagnostic (a clean
    /// config never needs it).
    line_starts: std::cell::OnceCell<Vec<usize>>,
}

impl SourceFile {
    /// The first `max` bytes at most of line `line` (1-based), without its
    /// newline. Bounded, so that a thousand diagnostics on one 10 MB line
    /// cost a thousand short reads, not a thousand scans of the line.
    pub fn line_prefix(&self, line: u32, max: usize) -> Option<&str> {
        let starts = self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        });
        let start = *starts.get(line.checked_sub(1)? as usize)?;
        let rest = self.text.get(start..)?;
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let head = &rest[..end];
        let end = head.find('\n').unwrap_or(head.len());
        Some(head[..end].trim_end_matches('\r'))
    }
}

/// Every file of a config, indexed by the `u32` that tokens carry.
#[derive(Debug, Default)]
pub struct Sources {
    /// Files in the order they were first read; index 0 is the main file.
    pub files: Vec<SourceFile>,
    /// The `include` lines that read no file (see [`UnreadInclude`]).
    pub unread_includes: Vec<UnreadInclude>,
}

/// An `include` line that read no file: the file is missing or unreadable,
/// or the pattern matches nothing. keepalived goes on without it, and so
/// does a start; a reload refuses a config with one, since the running
/// config had what it named (see `daemon::config_guard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadInclude {
    /// The `include` line.
    pub location: Location,
    /// The file name or pattern, as written.
    pub pattern: String,
}

impl std::fmt::Display for UnreadInclude {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: `include {}` reads no file",
            self.location, self.pattern
        )
    }
}

impl Sources {
    /// The location of `(file, line, col)` for a diagnostic.
    pub fn location(&self, file: u32, line: u32, col: u32) -> Location {
        Location {
            file: self
                .files
                .get(file as usize)
                .map_or_else(FileName::default, |f| f.name),
            line,
            col,
        }
    }

    /// The source line `at` points into, for a caret (its first part if
    /// it is huge).
    pub fn line_at(&self, at: Location) -> Option<String> {
        let file = self.files.iter().find(|f| f.name == at.file)?;
        file.line_prefix(at.line, SHOWN_LINE).map(str::to_owned)
    }

    /// A diagnostic at `(file, line, col)`, with the source line for a caret.
    pub fn diagnostic(
        &self,
        severity: Severity,
        file: u32,
        line: u32,
        col: u32,
        message: impl Into<String>,
    ) -> Diagnostic {
        // A huge line is shown by its first part only.
        let source_line = self
            .files
            .get(file as usize)
            .and_then(|f| f.line_prefix(line, SHOWN_LINE))
            .map(str::to_owned);
        Diagnostic {
            severity,
            location: self.location(file, line, col),
            message: message.into(),
            source_line,
        }
    }
}

/// How much of a source line a diagnostic shows.
const SHOWN_LINE: usize = 200;

/// Include nesting deeper than this is refused (keepalived runs out of file
/// descriptors long before).
const MAX_INCLUDE_DEPTH: usize = 64;
/// More included files than this is refused (`include /*/*/*` is a mistake).
const MAX_FILES: usize = 10_000;
/// A file bigger than this is not a config (`/proc/kcore` says 128 TB).
const MAX_FILE_BYTES: u64 = 1 << 30;

/// Reads the main file and, recursively, what it includes.
pub struct SourceLoader<'d> {
    sources: Sources,
    diagnostics: &'d mut Diagnostics,
    /// Files being read, innermost last: a cycle is a file already here.
    stack: Vec<PathBuf>,
}

/// What `include` variant a line uses.
fn include_keyword(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    if !trimmed.starts_with("include") {
        return None;
    }
    let indent = line.len() - trimmed.len();
    let word_end = trimmed
        .find(|c: char| c.is_whitespace())
        .unwrap_or(trimmed.len());
    let word = &trimmed[..word_end];
    match word {
        "include" | "includer" | "includem" | "includew" | "includeb" | "includea" => {
            Some((indent, trimmed[word_end..].trim()))
        }
        _ => None,
    }
}

impl<'d> SourceLoader<'d> {
    /// A loader that reports into `diagnostics`.
    pub fn new(diagnostics: &'d mut Diagnostics) -> Self {
        SourceLoader {
            sources: Sources::default(),
            diagnostics,
            stack: Vec::new(),
        }
    }

    /// Use `bytes` as the main file's content, named `path` (its includes
    /// are still read from disk, relative to `path`'s directory).
    pub fn load_bytes(mut self, path: &Path, bytes: Vec<u8>) -> Sources {
        self.add_file(path.to_path_buf(), bytes);
        self.sources
    }

    /// Register a file read from disk and resolve its includes.
    fn add_file(&mut self, path: PathBuf, bytes: Vec<u8>) -> u32 {
        let id = self.sources.files.len() as u32;
        // No text holds a NUL byte: this is not a config, and thousands of
        // diagnostics about its "words" would only hide that.
        if let Some(at) = memchr_nul(&bytes) {
            self.add_binary_file(id, path, &bytes, at);
            return id;
        }
        let (text, bad_bytes) = decode(bytes);
        self.sources.files.push(SourceFile {
            name: FileName::intern(&path),
            path: path.clone(),
            text,
            includes: Vec::new(),
            line_starts: std::cell::OnceCell::new(),
        });
        for (line, col) in bad_bytes {
            self.report(
                Severity::Error,
                id,
                line,
                col,
                "bytes that are not UTF-8 (keepalived.conf is text; only comments may hold them)",
            );
        }
        self.stack.push(canonical(&path));
        let includes = self.resolve_includes(id, &path);
        self.stack.pop();
        self.sources.files[id as usize].includes = includes;
        id
    }

    /// Register file `id` at `path`, whose `bytes` hold a NUL byte at `at`:
    /// empty, with one error there (no source line: it would be binary too).
    fn add_binary_file(&mut self, id: u32, path: PathBuf, bytes: &[u8], at: usize) {
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        let line_start = bytes[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let col = String::from_utf8_lossy(&bytes[line_start..at])
            .chars()
            .count() as u32
            + 1;
        self.sources.files.push(SourceFile {
            name: FileName::intern(&path),
            path: path.clone(),
            text: String::new(),
            includes: Vec::new(),
            line_starts: std::cell::OnceCell::new(),
        });
        self.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            location: self.sources.location(id, line, col),
            message: format!(
                "`{}` looks like a binary file (a NUL byte here), not a config: \
                 nothing of it is read",
                path.display()
            ),
            source_line: None,
        });
    }

    /// Read the includes of file `id` (at `path`, on the include stack): per
    /// `include` line, its line and the files it brought in.
    fn resolve_includes(&mut self, id: u32, path: &Path) -> Vec<(u32, Vec<u32>)> {
        let mut includes = Vec::new();
        let text = &self.sources.files[id as usize].text;
        // One fast substring search spares a line walk of files without includes.
        let has_include = text.contains("include");
        let include_lines: Vec<(u32, usize, String)> = text
            .lines()
            .take(if has_include { usize::MAX } else { 0 })
            .enumerate()
            .filter_map(|(n, l)| {
                include_keyword(l).map(|(indent, rest)| (n as u32 + 1, indent, rest.to_owned()))
            })
            .collect();
        for (line, indent, rest) in include_lines {
            let col = indent as u32 + 1;
            let pattern = strip_comment(&rest).trim().trim_matches('"').to_owned();
            if pattern.is_empty() {
                self.report(
                    Severity::Error,
                    id,
                    line,
                    col,
                    "`include` needs a file name or pattern",
                );
                continue;
            }
            let ids = self.include(id, path, line, col, &pattern);
            includes.push((line, ids));
        }
        includes
    }

    /// Resolve one include pattern relative to the including file's directory.
    fn include(
        &mut self,
        from: u32,
        from_path: &Path,
        line: u32,
        col: u32,
        pattern: &str,
    ) -> Vec<u32> {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            from_path.parent().unwrap_or(Path::new("")).join(pattern)
        };
        let full_text = full.to_string_lossy().into_owned();
        let paths: Vec<PathBuf> = match glob::glob(&full_text) {
            Ok(paths) => paths.filter_map(Result::ok).collect(),
            Err(e) => {
                self.report(
                    Severity::Error,
                    from,
                    line,
                    col,
                    format!("bad include pattern `{pattern}`: {}", e.msg),
                );
                return Vec::new();
            }
        };
        let has_wildcard = pattern.contains(['*', '?', '[']);
        if paths.is_empty() && !has_wildcard {
            self.report(
                Severity::Warning,
                from,
                line,
                col,
                format!("included file `{pattern}` does not exist"),
            );
        } else if paths.is_empty() {
            // keepalived says nothing; `-t` stays as quiet (a note shows
            // with -D), the daemon's log says it.
            self.report(
                Severity::Info,
                from,
                line,
                col,
                format!("include pattern `{pattern}` matches no file"),
            );
        }
        let ids = self.read_included(from, line, col, paths);
        if ids.is_empty() {
            self.sources.unread_includes.push(UnreadInclude {
                location: self.sources.location(from, line, col),
                pattern: pattern.to_owned(),
            });
        }
        ids
    }

    /// Read the files an include pattern matched.
    fn read_included(&mut self, from: u32, line: u32, col: u32, paths: Vec<PathBuf>) -> Vec<u32> {
        let mut ids = Vec::new();
        for p in paths {
            if !p.is_file() {
                // Directories, devices and fifos are not config files.
                continue;
            }
            let canon = canonical(&p);
            if self.stack.contains(&canon) {
                self.report(
                    Severity::Error,
                    from,
                    line,
                    col,
                    format!(
                        "include cycle: `{}` includes itself (directly or through other files)",
                        p.display()
                    ),
                );
                continue;
            }
            if self.stack.len() >= MAX_INCLUDE_DEPTH {
                self.report(
                    Severity::Error,
                    from,
                    line,
                    col,
                    format!("includes nested deeper than {MAX_INCLUDE_DEPTH} files"),
                );
                continue;
            }
            if self.sources.files.len() >= MAX_FILES {
                self.report(
                    Severity::Error,
                    from,
                    line,
                    col,
                    format!("more than {MAX_FILES} included files"),
                );
                return ids;
            }
            if std::fs::metadata(&p).map_or(true, |m| m.len() > MAX_FILE_BYTES) {
                self.report(
                    Severity::Warning,
                    from,
                    line,
                    col,
                    format!(
                        "`{}` is too big or unreadable to be a config: skipped",
                        p.display()
                    ),
                );
                continue;
            }
            match std::fs::read(&p) {
                Ok(bytes) => ids.push(self.add_file(p, bytes)),
                Err(e) => self.report(
                    Severity::Warning,
                    from,
                    line,
                    col,
                    format!("cannot read included file `{}`: {e}", p.display()),
                ),
            }
        }
        ids
    }

    fn report(
        &mut self,
        severity: Severity,
        file: u32,
        line: u32,
        col: u32,
        message: impl Into<String>,
    ) {
        let d = self.sources.diagnostic(severity, file, line, col, message);
        self.diagnostics.push(d);
    }
}

/// The part of a line before its comment (`#` or `!` outside quotes).
pub fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    // Most lines have no quote and no comment character at all.
    let Some(first) = bytes
        .iter()
        .position(|&b| matches!(b, b'#' | b'!' | b'"' | b'\''))
    else {
        return line;
    };
    let mut quote: Option<u8> = None;
    let mut i = first;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) if b == b'\\' => i += 1,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'#' || b == b'!' => return &line[..i],
            None => {}
        }
        i += 1;
    }
    line
}

/// A path's canonical form for cycle detection (the path itself if it cannot be resolved).
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Where the first NUL byte is.
fn memchr_nul(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == 0)
}

/// Text from bytes, and where bytes that are not UTF-8 sit outside a comment
/// (line, column), one position a line. Linear in the input: lines are
/// counted on from the previous bad byte, and the rest of a line that
/// already has one is skipped.
fn decode(bytes: Vec<u8>) -> (String, Vec<(u32, u32)>) {
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => return (text, Vec::new()),
        Err(e) => e.into_bytes(),
    };
    let mut bad = Vec::new();
    let mut offset = 0usize;
    // Lines counted up to `counted`; `line_start` is where line `line_no` starts.
    let (mut counted, mut line_no, mut line_start) = (0usize, 1u32, 0usize);
    while offset < bytes.len() {
        let err = match std::str::from_utf8(&bytes[offset..]) {
            Ok(_) => break,
            Err(err) => err,
        };
        let at = offset + err.valid_up_to();
        for (i, &b) in bytes[counted..at].iter().enumerate() {
            if b == b'\n' {
                line_no += 1;
                line_start = counted + i + 1;
            }
        }
        counted = at;
        let before = String::from_utf8_lossy(&bytes[line_start..at]);
        let in_comment = strip_comment(&before).len() < before.len();
        if !in_comment {
            bad.push((line_no, before.chars().count() as u32 + 1));
        }
        // One position a line, and the rest of a comment is comment: go on
        // from the line's end.
        match bytes[at..].iter().position(|&b| b == b'\n') {
            Some(n) => offset = at + n,
            None => break,
        }
    }
    (String::from_utf8_lossy(&bytes).into_owned(), bad)
}
