//! Reading keepalived.conf: a lexer that does keepalived's include,
//! conditional, `$VAR` and `~SEQ` expansion, a nom parser into the typed
//! [`model`], and diagnostics that name file:line:col.
//!
//! - `load.rs`: the pipeline, file → [`Loaded`]; `source.rs`: files and
//!   includes; `expand.rs`: the preprocessor; `lexer.rs`: words and braces;
//!   `block.rs`: statements and blocks; `location.rs`, [`diagnostic`].
//! - The typing pass: `typer.rs` (its state and helpers), `global_defs.rs`,
//!   `virtual_server.rs`, `real_server.rs`, `checks.rs`, `inherit.rs`,
//!   `timer.rs`, `values.rs` (value parsers), [`keywords`] (the tables),
//!   `check_memo.rs` and `check_list.rs` (a big config's checkers, cheaply);
//!   `cross_checks.rs`: what needs the whole config (group references and
//!   ports, who runs scripts).

mod block;
mod check_list;
mod check_memo;
mod checks;
mod cross_checks;
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
mod timer;
mod typer;
mod values;
mod virtual_server;

pub use diagnostic::{load, load_bytes, ConfigError, Diagnostic, LoadOptions, Loaded, Severity};
pub use model::*;
