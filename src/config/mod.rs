//! Reading keepalived.conf: a lexer that does keepalived's include,
//! conditional, `$VAR` and `~SEQ` expansion, a nom parser into the typed
//! [`model`], and diagnostics that name file:line:col.

pub mod model;

pub use model::*;
