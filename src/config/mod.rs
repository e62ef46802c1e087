//! Reading keepalived.conf: a lexer that does keepalived's include,
//! conditional, `$VAR` and `~SEQ` expansion, a nom parser into the typed
//! [`model`], and diagnostics that name file:line:col.

pub mod diagnostic;
pub mod model;

pub use diagnostic::{load, ConfigError, Diagnostic, LoadOptions, Loaded, Severity};
pub use model::*;
