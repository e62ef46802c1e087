//! The typing pass: block trees → the typed [`Config`], with keepalived's
//! defaults, and diagnostics for what cannot be understood.
//!
//! This file has the pass's state and the helpers every block uses (reading
//! an argument as a number, a timer, an address...); the blocks themselves
//! are in `global_defs.rs`, `track_file.rs`, `bfd_instance.rs`, `virtual_server.rs`,
//! `real_server.rs`, `checks.rs` and `ssl.rs`.

use std::net::IpAddr;
use std::sync::Arc;

use super::block::{Tok, Tree};
use super::check_memo::CheckMemo;
use super::diagnostic::{Diagnostics, Severity};
use super::keywords::{TopKw, SKIPPED_BLOCKS};
use super::source::Sources;
use super::{values, Account, Check, Config, Location, Timer};

/// State of the typing pass.
pub struct Typer<'a> {
    /// The files, for locations and source lines.
    pub sources: &'a Sources,
    /// Where diagnostics go.
    pub diagnostics: &'a mut Diagnostics,
    /// The model being built.
    pub config: Config,
    /// Where a real server's checkers are gathered before they are stored
    /// (kept between real servers, so gathering allocates nothing).
    pub check_scratch: Vec<Arc<Check>>,
    /// The last `TCP_CHECK` block's reading, for the next one written alike.
    pub check_memo: CheckMemo,
    /// The `virtualhost` of the virtual server being typed (an `SSL_GET`'s
    /// last choice of server name, which skips the real server's).
    pub vs_virtualhost: Option<String>,
}

impl<'a> Typer<'a> {
    /// A pass writing into `diagnostics`.
    pub fn new(sources: &'a Sources, diagnostics: &'a mut Diagnostics) -> Self {
        Typer {
            sources,
            diagnostics,
            config: Config::default(),
            check_scratch: Vec::new(),
            check_memo: CheckMemo::default(),
            vs_virtualhost: None,
        }
    }

    /// Type one top-level statement (node 0 of `tree`).
    pub fn top_level(&mut self, tree: &Tree<'_>) {
        self.check_memo.forget();
        if tree.unclosed {
            self.check_closed(tree);
        }
        let kw = tree.keyword(0);
        match TopKw::from_name(&kw.text) {
            Some(TopKw::GlobalDefs) => {
                if self.need_block(tree, 0) {
                    self.global_defs(tree, 0);
                }
            }
            Some(TopKw::VirtualServer) => {
                if self.need_block(tree, 0) {
                    self.virtual_server(tree, 0);
                }
            }
            Some(TopKw::VirtualServerGroup) => {
                if self.need_block(tree, 0) {
                    self.virtual_server_group(tree, 0);
                }
            }
            Some(TopKw::Ssl) => {
                if self.need_block(tree, 0) {
                    self.ssl_block(tree, 0);
                }
            }
            Some(TopKw::TrackFile | TopKw::VrrpTrackFile) => {
                if self.need_block(tree, 0) {
                    self.track_file(tree, 0);
                }
            }
            Some(TopKw::BfdInstance) => {
                if self.need_block(tree, 0) {
                    self.bfd_instance(tree, 0);
                }
            }
            None if SKIPPED_BLOCKS.contains(&kw.text.as_ref()) => {
                self.info(
                    kw,
                    format!("`{}` is not the checker's: block skipped", kw.text),
                );
            }
            None if kw.text == "net_namespace" => self.net_namespace(tree, 0),
            None => self.unknown(kw, "at top level"),
        }
    }

    /// Every block in the tree must have been closed; say where the
    /// outermost unclosed one opened if not. (Only the tree the input ended
    /// in can have one: see [`Tree::unclosed`].)
    ///
    /// A `}` closes the innermost open block, so the unclosed blocks form a
    /// chain from the top-level statement inwards; statements are numbered
    /// in reading order, so the outermost is the first unclosed node. One
    /// pass over the nodes, whatever the nesting depth.
    fn check_closed(&mut self, tree: &Tree<'_>) {
        let unclosed = tree
            .nodes
            .iter()
            .enumerate()
            .find_map(|(n, info)| match info.open {
                Some(open) if !info.closed => Some((n as u32, open)),
                _ => None,
            });
        if let Some((n, open)) = unclosed {
            let kw = &tree.keyword(n).text;
            let tok = &tree.toks[open as usize];
            self.error(
                tok,
                format!("block `{kw}` opened here is never closed: expected `}}` before the end of the config"),
            );
        }
    }

    /// A block keyword without `{ ... }` is an error.
    pub fn need_block(&mut self, tree: &Tree<'_>, node: u32) -> bool {
        tree.has_block(node) || self.missing_block(tree, node)
    }

    #[cold]
    #[inline(never)]
    fn missing_block(&mut self, tree: &Tree<'_>, node: u32) -> bool {
        let kw = tree.keyword(node);
        let last = tree.args(node).last().unwrap_or(kw);
        self.error(
            last,
            format!("`{}` needs a block: expected `{{` after it", kw.text),
        );
        false
    }

    /// A keyword that is not a block must not have one.
    #[inline]
    pub fn no_block(&mut self, tree: &Tree<'_>, node: u32) {
        if let Some(open) = tree.nodes[node as usize].open {
            self.ignored_block(tree, node, open);
        }
    }

    #[cold]
    #[inline(never)]
    fn ignored_block(&mut self, tree: &Tree<'_>, node: u32, open: u32) {
        let tok = &tree.toks[open as usize];
        let kw = &tree.keyword(node).text;
        self.warning(
            tok,
            format!("`{kw}` takes no block: its `{{ ... }}` is ignored"),
        );
    }

    /// The location of a token.
    pub fn loc(&self, tok: &Tok<'_>) -> Location {
        self.sources.location(tok.file, tok.line, tok.col)
    }

    fn report(&mut self, severity: Severity, tok: &Tok<'_>, message: String) {
        let d = self
            .sources
            .diagnostic(severity, tok.file, tok.line, tok.col, message);
        self.diagnostics.push(d);
    }

    /// An error at `tok`.
    pub fn error(&mut self, tok: &Tok<'_>, message: impl Into<String>) {
        self.report(Severity::Error, tok, message.into());
    }

    /// A warning at `tok`.
    pub fn warning(&mut self, tok: &Tok<'_>, message: impl Into<String>) {
        self.report(Severity::Warning, tok, message.into());
    }

    /// An informational note at `tok`.
    pub fn info(&mut self, tok: &Tok<'_>, message: impl Into<String>) {
        self.report(Severity::Info, tok, message.into());
    }

    /// An unknown keyword: a warning, as keepalived does, and parsing goes on.
    pub fn unknown(&mut self, kw: &Tok<'_>, place: &str) {
        let hint = parameter_hint(&kw.text);
        self.warning(
            kw,
            format!("unknown keyword `{}` {place}{hint}: ignored", kw.text),
        );
    }

    /// Argument `i`, or an error naming what was expected.
    #[inline]
    pub fn arg<'t, 's>(
        &mut self,
        tree: &'t Tree<'s>,
        node: u32,
        i: usize,
        expected: &str,
    ) -> Option<&'t Tok<'s>> {
        let a = tree.args(node).get(i);
        if a.is_none() {
            self.missing_arg(tree, node, expected);
        }
        a
    }

    #[cold]
    #[inline(never)]
    fn missing_arg(&mut self, tree: &Tree<'_>, node: u32, expected: &str) {
        let kw = tree.keyword(node);
        let at = tree.args(node).last().unwrap_or(kw);
        self.error(at, format!("`{}` needs {expected}", kw.text));
    }

    /// Parse `tok` with `parse`, or an error: "expected {expected}, found ...".
    #[inline]
    pub fn value<T>(
        &mut self,
        tok: &Tok<'_>,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let v = parse(&tok.text);
        if v.is_none() {
            self.malformed(tok, expected);
        }
        v
    }

    #[cold]
    #[inline(never)]
    fn malformed(&mut self, tok: &Tok<'_>, expected: &str) {
        let hint = parameter_hint(&tok.text);
        self.error(
            tok,
            format!("expected {expected}, found `{}`{hint}", tok.text),
        );
    }

    /// Argument `i` parsed, with errors for missing or malformed.
    #[inline]
    pub fn parsed<T>(
        &mut self,
        tree: &Tree<'_>,
        node: u32,
        i: usize,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let tok = self.arg(tree, node, i, expected)?;
        self.value(tok, expected, parse)
    }

    /// First argument as an unsigned integer.
    pub fn uint_arg<T: TryFrom<u64>>(
        &mut self,
        tree: &Tree<'_>,
        node: u32,
        expected: &str,
    ) -> Option<T> {
        self.parsed(tree, node, 0, expected, values::uint::<T>)
    }

    /// First argument as a timer (seconds).
    pub fn timer_arg(&mut self, tree: &Tree<'_>, node: u32) -> Option<Timer> {
        self.parsed(
            tree,
            node,
            0,
            "a time in seconds (e.g. 3 or 2.5)",
            values::timer,
        )
    }

    /// First argument as an IP address.
    pub fn ip_arg(&mut self, tree: &Tree<'_>, node: u32) -> Option<IpAddr> {
        self.parsed(tree, node, 0, "an IP address", values::ip)
    }

    /// First argument as a port.
    pub fn port_arg(&mut self, tree: &Tree<'_>, node: u32) -> Option<u16> {
        self.parsed(tree, node, 0, "a port (0-65535)", values::uint::<u16>)
    }

    /// First argument as a string.
    pub fn string_arg(&mut self, tree: &Tree<'_>, node: u32, expected: &str) -> Option<String> {
        self.arg(tree, node, 0, expected)
            .map(|t| t.text.to_string())
    }

    /// `USER [GROUP]` (`script_user`, a MISC_CHECK's `user`), with where
    /// each name is written. Whether they exist is asked after the parse
    /// ([`crate::script_policy::check_config`]), not here.
    pub fn account(&mut self, tree: &Tree<'_>, node: u32) -> Option<Account> {
        let user = self.arg(tree, node, 0, "a user name")?;
        let (user, user_at) = (user.text.to_string(), self.loc(user));
        let group = tree.args(node).get(1);
        Some(Account {
            user,
            group: group.map(|t| t.text.to_string()),
            user_at,
            group_at: group.map(|t| self.loc(t)),
        })
    }

    /// An optional `<BOOL>` argument (absent = true).
    pub fn flag_arg(&mut self, tree: &Tree<'_>, node: u32) -> Option<bool> {
        match tree.args(node).first() {
            None => Some(true),
            Some(t) => self.value(t, "on|off|true|false|yes|no", values::boolean),
        }
    }

    /// Extra arguments beyond `max` are warned about.
    #[inline]
    pub fn max_args(&mut self, tree: &Tree<'_>, node: u32, max: usize) {
        if tree.args(node).len() > max {
            self.too_many_args(tree, node, max);
        }
    }

    #[cold]
    #[inline(never)]
    fn too_many_args(&mut self, tree: &Tree<'_>, node: u32, max: usize) {
        let extra = &tree.args(node)[max];
        let kw = &tree.keyword(node).text;
        self.warning(
            extra,
            format!(
                "`{kw}` takes {max} value(s): `{}` and what follows is ignored",
                extra.text
            ),
        );
    }
}

/// A word still holding a `$` most likely names a parameter that was never
/// defined: the hint diagnostics add for it.
pub fn parameter_hint(word: &str) -> &'static str {
    if word.contains('$') {
        " (an undefined $PARAMETER?)"
    } else {
        ""
    }
}
