//! Reading keepalived.conf: a lexer that does keepalived's include,
//! conditional, `$VAR` and `~SEQ` expansion, a nom parser into the typed
//! [`model`], and diagnostics that name file:line:col.

mod block;
mod check_list;
mod check_memo;
mod checks;
pub mod diagnostic;
mod expand;
mod global_defs;
mod inherit;
pub mod keywords;
mod lexer;
mod load;
mod location;
pub mod model;
mod real_server;
mod source;
mod ssl;
mod timer;
mod typer;
mod values;
mod virtual_server;

pub use diagnostic::{load, load_bytes, ConfigError, Diagnostic, LoadOptions, Loaded, Severity};
pub use model::*;
