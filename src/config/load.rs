//! `load`: the whole front end, file → [`Loaded`].
//!
//! sources (files and includes) → preprocessor (conditionals, parameters,
//! sequences) → lexer → block parser → typing pass, streaming: each
//! top-level block is typed as soon as it is complete.

use std::path::Path;

use super::block::{BlockParser, Event};
use super::diagnostic::{ConfigError, Diagnostic, Diagnostics};
use super::expand::{LineSink, LogicalLine, Preprocessor};
use super::lexer::Span;
use super::source::SourceLoader;
use super::typer::Typer;

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
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let bytes = std::fs::read(path).map_err(|why| ConfigError::Io {
        path: path.to_path_buf(),
        why,
    })?;
    load_bytes(path, bytes, opts)
}

/// Like [`load`], but the main file's content is `bytes` (named `path` in
/// diagnostics; its includes are read from disk relative to `path`). For
/// tests and fuzzing.
pub fn load_bytes(path: &Path, bytes: Vec<u8>, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let mut diagnostics = Diagnostics::default();
    let sources = SourceLoader::new(&mut diagnostics).load_bytes(path, bytes);
    let config_id = opts.config_id.clone().unwrap_or_else(default_config_id);
    let mut pre_diagnostics = Diagnostics::default();
    let mut typer = Typer::new(&sources, &mut diagnostics);
    let mut statements = 0usize;
    {
        let mut parser = BlockParser::new();
        let mut sink = |event: Event<'_, '_>| {
            match event {
            Event::Statement(tree) => {
                statements += 1;
                typer.top_level(tree)
            }
            Event::StrayClose(tok) => typer.error(
                &tok,
                "`}` closes no block (one `}` too many, or a `{` missing before)",
            ),
            Event::StrayOpen(tok) => {
                typer.error(&tok, "`{` opens no block: expected a keyword before it")
            }
            Event::IgnoredOpen { open, keyword, parent } => typer.warning(
                &open,
                format!(
                    "`{}` is unknown in `{}`, so its `{{` is ignored, as keepalived does: \
                     the `}}` meant for it closes `{}` instead, and what follows is read \
                     one block further out (a real server or virtual server written after \
                     it is lost, as with keepalived)",
                    keyword.text, parent.text, parent.text
                ),
            ),
            Event::UnbalancedClose(tok) => typer.warning(
                &tok,
                "`}` closes nothing: a `{` was ignored above (see there); keepalived ignores this `}` too",
            ),
        }
        };
        let mut pre = Preprocessor::new(&sources, config_id, &mut pre_diagnostics);
        pre.run(&mut Feed {
            parser: &mut parser,
            sink: &mut sink,
        });
        parser.finish(&mut sink);
    }
    super::cross_checks::run(&mut typer);
    // What the host says of the scripts, on the config as read.
    let quote = |at| sources.line_at(at);
    for d in crate::script_policy::check_config(&typer.config, &quote) {
        typer.diagnostics.push(d);
    }
    super::ssl::give_client_certificate(&mut typer.config);
    let config = std::mem::take(&mut typer.config);
    drop(typer);
    diagnostics.append(pre_diagnostics);
    let invalid = diagnostics.has_errors();
    // The main file first, then the others by name; by line and column
    // within a file. Two locations of one file (nearly always the case)
    // skip the comparison of names.
    let diagnostics = diagnostics.into_sorted(|a, b| {
        let (fa, fb) = (a.location.file, b.location.file);
        let files = if fa == fb {
            std::cmp::Ordering::Equal
        } else {
            (fa.path() != path, fa.path()).cmp(&(fb.path() != path, fb.path()))
        };
        files.then((a.location.line, a.location.col).cmp(&(b.location.line, b.location.col)))
    });
    if invalid {
        return Err(ConfigError::Invalid(diagnostics));
    }
    Ok(Loaded {
        config,
        diagnostics,
        unread_includes: sources.unread_includes,
        statements,
    })
}

/// The preprocessor's lines, fed to the block parser, whose events go to `sink`.
struct Feed<'p, 'e, 's> {
    parser: &'p mut BlockParser<'s>,
    sink: &'e mut dyn FnMut(Event<'_, 's>),
}

impl<'s> LineSink<'s> for Feed<'_, '_, 's> {
    fn logical_line(&mut self, line: LogicalLine<'s>) {
        self.parser.push_line(line, self.sink);
    }

    #[inline]
    fn plain_line(&mut self, file: u32, line: u32, text: &'s str, start: usize, tokens: &[Span]) {
        self.parser
            .push_plain(file, line, text, start, tokens, self.sink);
    }
}

/// keepalived's default config id: the host name up to its first dot.
fn default_config_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    name.trim().split('.').next().unwrap_or("").to_owned()
}
