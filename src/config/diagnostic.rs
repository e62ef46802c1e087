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
        write!(f, "{}: {level}: {}", self.location, self.message)?;
        if let Some(line) = &self.source_line {
            // The caret under the column, tabs kept so it lines up; a column
            // past the (possibly shortened) line gets no caret.
            let col = self.location.col.max(1) as usize;
            let pad: String = line
                .chars()
                .take(col - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n  | {line}")?;
            if col <= line.chars().count() + 1 {
                write!(f, "\n  | {pad}^")?;
            }
        }
        Ok(())
    }
}

/// A config that could not be read at all.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The errors that made the config unusable (at least one).
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    /// The top-level file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What a successful read produced: the model and whatever needed saying.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The resolved model.
    pub config: super::Config,
    /// Warnings and informational notes, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// The `include` lines that read no file (each also has a diagnostic).
    pub unread_includes: Vec<super::UnreadInclude>,
    /// How many top-level statements the config holds: 0 for a file that
    /// is empty or only comments.
    pub statements: usize,
}

/// Options that change how a config reads.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-i/--config-id`: selects `@ID` conditional lines.
    pub config_id: Option<String>,
}

/// Read and validate a config file with its includes, as keepalived reads
/// it: `Ok` with warnings and notes, or `Err` with every diagnostic when at
/// least one is an error.
pub fn load(path: &std::path::Path, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    super::load::load(path, opts)
}

/// Like [`load`], but the main file's content is `bytes` (named `path` in
/// diagnostics; its includes are read from disk relative to `path`). For
/// tests and fuzzing.
pub fn load_bytes(
    path: &std::path::Path,
    bytes: Vec<u8>,
    opts: &LoadOptions,
) -> Result<Loaded, ConfigError> {
    super::load::load_bytes(path, bytes, opts)
}
