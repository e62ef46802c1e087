//! Reading keepalived.conf: the files (with their includes) → keepalived's
//! line-level preprocessor → words → a tree of blocks → the typed
//! [`model`], with diagnostics that name file:line:col.
//!
//! The front end, in the order a config passes through it:
//!
//! - `load`: the whole front end, file → [`Loaded`].
//! - `source`: the main file and its includes (globs too), read into memory once.
//! - `expand`: the preprocessor: `@ID` conditionals, `$VAR` parameters, `~SEQ`.
//! - `lexer`: one logical line → words and braces, each with its column.
//! - `block`: words → a tree of statements, one top-level block at a time.
//! - `typer`: the typing pass, block tree → [`Config`], with keepalived's defaults.
//! - `global_defs`: `global_defs { }`, the checker's own keywords typed.
//! - `virtual_server`: `virtual_server` and `virtual_server_group`.
//! - `real_server`: `real_server IP [PORT] { }`.
//! - `track_file`: the global `track_file` blocks FILE_CHECK names.
//! - `bfd_instance`: the global `bfd_instance` blocks BFD_CHECK names.
//! - `smtp_dns`: SMTP_CHECK's and DNS_CHECK's own settings (DNS names and types).
//! - `hex`: HEX arguments (`payload`, `require_reply`) as keepalived reads them.
//! - `udp_keywords`: UDP_CHECK's own settings.
//! - `url`: HTTP_GET's `url { }` blocks and `http_protocol`.
//! - `http_regex`: a url's `regex`, as keepalived reads it and PCRE2 compiles it.
//! - `ssl`: the global `SSL { }` block, SSL_GET's client certificate.
//! - `checks`: the checker blocks (TCP_CHECK, HTTP_GET, MISC_CHECK, ...), read.
//! - `check_build`: a checker block's reading made into its checks.
//! - `check_list`: the checks of one real server, small for the common one.
//! - `check_memo`: the last TCP_CHECK's reading, reused when written the same way.
//! - `inherit`: settings that flow virtual server → real server → checker.
//! - `cross_checks`: what needs the whole config (group references and
//!   ports), once it is read.
//!
//! The parser never looks at the host: once the config is read, `load`
//! asks [`crate::script_policy::check_config`] whether the users and
//! scripts it names exist on this host, and adds what it says.
//! - [`keywords`]: every keyword lvsd knows, block by block, as data.
//! - `values`: small nom grammars for values (numbers, timers, addresses, ranges).
//! - `timer`: a `<TIMER>` setting in eight bytes.
//! - `location`: where something was read (file:line:col), in 12 bytes.
//! - [`diagnostic`]: what was wrong, where, and what was expected.
//! - [`model`]: the typed, resolved model.

mod bfd_instance;
mod block;
mod check_build;
mod check_list;
mod check_memo;
mod checks;
mod cross_checks;
pub mod diagnostic;
mod expand;
mod global_defs;
mod hex;
mod http_regex;
mod inherit;
pub mod keywords;
mod lexer;
mod load;
mod location;
pub mod model;
mod real_server;
mod smtp_dns;
mod source;
mod ssl;
mod timer;
mod track_file;
mod typer;
mod udp_keywords;
mod url;
pub(crate) mod values;
mod virtual_server;

pub use diagnostic::{ConfigError, Diagnostic, Severity};
pub use load::{load, load_bytes, LoadOptions, Loaded};
pub use model::*;
pub use source::UnreadInclude;
pub use timer::seconds;
