//! Diagnostics: what was wrong with a config, where, and what was expected.

use std::fmt;

use thiserror::Error;

use super::Location;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Severity {
    /// Worth knowing, not a problem (a skipped VRRP block).
    Info,
    /// keepalived would go on, and so does lvsd (an unknown keyword).
    Warning,
    /// The config cannot mean anything.
    Error,
}

/// One message about a config, with where it applies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// How bad.
    pub severity: Severity,
    /// Where.
    pub location: Location,
    /// What is wrong and what was expected.
    pub message: String,
    /// The source line, for a caret display.
    pub source_line: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}: {level}: {}", self.location, escaped(&self.message))?;
        if let Some(line) = &self.source_line {
            // The caret under the column, tabs kept so it lines up; a column
            // past the (possibly shortened) line gets no caret.
            let col = self.location.col.max(1) as usize;
            let pad: String = line
                .chars()
                .take(col - 1)
                .map(|c| match c {
                    '\t' => "\t".to_owned(),
                    c if hidden(c) => " ".repeat(shown(c).chars().count()),
                    _ => " ".to_owned(),
                })
                .collect();
            write!(f, "\n  | {}", escaped(line))?;
            if col <= line.chars().count() + 1 {
                write!(f, "\n  | {pad}^")?;
            }
        }
        Ok(())
    }
}

/// Whether `c` must not reach a terminal as it is: control characters
/// (other than tab) and the bidirectional overrides that can make text read
/// other than it is (U+202A-U+202E, U+2066-U+2069).
fn hidden(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// How `c` is shown: itself, or escaped as `\x1b` or `\u{202e}`.
fn shown(c: char) -> String {
    match (hidden(c), c as u32) {
        (false, _) => c.to_string(),
        (true, n) if n < 0x80 => format!("\\x{n:02x}"),
        (true, n) => format!("\\u{{{n:x}}}"),
    }
}

/// `text` with hidden characters escaped (borrowed when there are none).
fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.chars().map(shown).collect())
}

/// The diagnostics of one read, capped: the first [`Diagnostics::KEEP`]
/// are kept, the rest only counted, so a broken input (2,000,000 stray
/// `}`) costs neither gigabytes nor a screenful per line. What was dropped
/// is summed up in one last diagnostic ("... and K more").
#[derive(Debug, Default)]
pub struct Diagnostics {
    kept: Vec<Diagnostic>,
    /// How many were dropped, the first of them, and the worst severity.
    dropped: usize,
    first_dropped: Option<Location>,
    worst_dropped: Option<Severity>,
}

impl Diagnostics {
    /// How many diagnostics a read keeps.
    pub const KEEP: usize = 1000;

    /// Add `d`, or count it once the cap is reached.
    pub fn push(&mut self, d: Diagnostic) {
        if self.kept.len() < Self::KEEP {
            self.kept.push(d);
            return;
        }
        self.dropped += 1;
        self.first_dropped.get_or_insert(d.location);
        self.worst_dropped = self.worst_dropped.max(Some(d.severity));
    }

    /// Whether another diagnostic would be kept (it is worth building its
    /// source line).
    pub fn has_room(&self) -> bool {
        self.kept.len() < Self::KEEP
    }

    /// Every diagnostic pushed so far, dropped ones included.
    pub fn len(&self) -> usize {
        self.kept.len() + self.dropped
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether any diagnostic pushed, dropped or not, is an error.
    pub fn has_errors(&self) -> bool {
        self.worst_dropped == Some(Severity::Error)
            || self.kept.iter().any(|d| d.severity == Severity::Error)
    }

    /// Add everything `other` holds.
    pub fn append(&mut self, other: Diagnostics) {
        for d in other.kept {
            self.push(d);
        }
        self.dropped += other.dropped;
        if self.first_dropped.is_none() {
            self.first_dropped = other.first_dropped;
        }
        self.worst_dropped = self.worst_dropped.max(other.worst_dropped);
    }

    /// The diagnostics kept, sorted by `order`, then the count of those
    /// dropped.
    pub fn into_sorted(
        mut self,
        order: impl FnMut(&Diagnostic, &Diagnostic) -> std::cmp::Ordering,
    ) -> Vec<Diagnostic> {
        self.kept.sort_by(order);
        if let (Some(location), Some(severity)) = (self.first_dropped, self.worst_dropped) {
            self.kept.push(Diagnostic {
                severity,
                location,
                message: format!(
                    "... and {} more diagnostics, not shown (the first {} are above)",
                    self.dropped,
                    Self::KEEP
                ),
                source_line: None,
            });
        }
        self.kept
    }
}

impl std::ops::Deref for Diagnostics {
    type Target = [Diagnostic];
    /// The diagnostics kept.
    fn deref(&self) -> &[Diagnostic] {
        &self.kept
    }
}

/// A config that could not be read at all.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The errors that made the config unusable (at least one).
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    /// The top-level file could not be read.
    #[error("cannot read {path}: {why}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why (said in the message, so not a `source` as well: the
        /// binary's edge would print it twice).
        why: std::io::Error,
    },
}
