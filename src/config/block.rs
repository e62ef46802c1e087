//! The block parser: tokens → a tree of statements, one top-level block at
//! a time.
//!
//! A statement is a keyword and its arguments on one line; a `{` after them
//! (on the same line, or alone at the start of the next one) opens its
//! block, and a `}` anywhere closes the innermost open block. Words after a
//! `{` or `}` on the same line begin a new statement, so
//! `real_server 10.0.0.9 80 { weight 3 }` is one block with one statement.
//! As in keepalived, a keyword unknown in a `virtual_server` or
//! `real_server` (a misspelled checker) opens no block: its `{` is ignored
//! and the `}` meant for it closes the enclosing block ([`Event::IgnoredOpen`]).
//!
//! The tree of a finished top-level statement is handed to a consumer and
//! its storage reused, so memory stays bounded by the largest top-level
//! block rather than the whole file.

use std::borrow::Cow;

use super::expand::LogicalLine;
use super::lexer::{lex_line, Span, TokKind};

/// A token with where it was read.
#[derive(Debug, Clone)]
pub struct Tok<'s> {
    /// The text (quotes removed).
    pub text: Cow<'s, str>,
    /// File index.
    pub file: u32,
    /// Line, 1-based.
    pub line: u32,
    /// Column, 1-based.
    pub col: u32,
}

/// "No node" in the tree's links.
pub const NONE: u32 = u32::MAX;

/// A statement: keyword, arguments, and maybe a block of statements.
#[derive(Debug, Clone)]
pub struct Node {
    /// Index of the keyword in [`Tree::toks`]; the arguments follow it.
    pub kw: u32,
    /// One past the last argument.
    pub args_end: u32,
    /// First statement of its block.
    pub first_child: u32,
    /// Last statement of its block (for appending).
    pub last_child: u32,
    /// Next statement in the same block.
    pub next: u32,
    /// Where its `{` is, if it has a block.
    pub open: Option<u32>,
    /// Whether that block was closed by a `}`.
    pub closed: bool,
}

/// The statements of one top-level block.
#[derive(Debug, Default)]
pub struct Tree<'s> {
    /// Every token, keyword then arguments, statement by statement.
    pub toks: Vec<Tok<'s>>,
    /// Every statement; index 0 is the top-level one.
    pub nodes: Vec<Node>,
    /// Whether the input ended with blocks of this tree still open (only
    /// the last tree can have them: any other was handed over once its
    /// blocks were all closed, or never opened).
    pub unclosed: bool,
}

impl<'s> Tree<'s> {
    /// A statement's keyword.
    pub fn keyword(&self, node: u32) -> &Tok<'s> {
        &self.toks[self.nodes[node as usize].kw as usize]
    }

    /// A statement's arguments.
    pub fn args(&self, node: u32) -> &[Tok<'s>] {
        let n = &self.nodes[node as usize];
        &self.toks[n.kw as usize + 1..n.args_end as usize]
    }

    /// A statement's keyword and arguments.
    pub fn statement(&self, node: u32) -> &[Tok<'s>] {
        let n = &self.nodes[node as usize];
        &self.toks[n.kw as usize..n.args_end as usize]
    }

    /// The statements in a statement's block.
    pub fn children(&self, node: u32) -> Children<'_, 's> {
        Children {
            tree: self,
            next: self.nodes[node as usize].first_child,
        }
    }

    /// Whether the statement has a block (`{ ... }`).
    pub fn has_block(&self, node: u32) -> bool {
        self.nodes[node as usize].open.is_some()
    }
}

/// Iterator over a block's statements.
pub struct Children<'t, 's> {
    tree: &'t Tree<'s>,
    next: u32,
}

impl Iterator for Children<'_, '_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.next == NONE {
            return None;
        }
        let n = self.next;
        self.next = self.tree.nodes[n as usize].next;
        Some(n)
    }
}

/// What the block parser tells its consumer.
pub enum Event<'t, 's> {
    /// A complete top-level statement (index 0 of the tree).
    Statement(&'t Tree<'s>),
    /// A `}` with no open block.
    StrayClose(Tok<'s>),
    /// A `{` with no statement to open.
    StrayOpen(Tok<'s>),
    /// A `{` after a keyword that cannot open a block where it is (a
    /// misspelled checker in a `real_server`): keepalived ignores such a
    /// `{` but not the `}` meant to close it, and so does this parser.
    IgnoredOpen {
        /// The `{`.
        open: Tok<'s>,
        /// The keyword before it.
        keyword: Tok<'s>,
        /// The keyword of the block the next `}` closes instead.
        parent: Tok<'s>,
    },
    /// A `}` with no open block, once a `{` was ignored: most likely the
    /// one that closed the block the ignored `{` sat in.
    UnbalancedClose(Tok<'s>),
}

/// Builds trees from logical lines.
pub struct BlockParser<'s> {
    tree: Tree<'s>,
    /// Open blocks, innermost last.
    stack: Vec<u32>,
    /// The statement whose arguments are being read (this line only).
    current: Option<u32>,
    /// The last statement read, which a `{` at the start of a line may open.
    last: Option<u32>,
    /// How many `{` were ignored (see [`Event::IgnoredOpen`]) and not yet
    /// matched by a `}` that closes nothing.
    ignored_opens: u32,
}

impl Default for BlockParser<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'s> BlockParser<'s> {
    /// An empty parser.
    pub fn new() -> Self {
        BlockParser {
            tree: Tree::default(),
            stack: Vec::new(),
            current: None,
            last: None,
            ignored_opens: 0,
        }
    }

    /// Read one logical line.
    pub fn push_line(&mut self, line: LogicalLine<'s>, sink: &mut dyn FnMut(Event<'_, 's>)) {
        let LogicalLine {
            file,
            line: line_no,
            col_offset,
            text,
        } = line;
        let mut first_on_line = true;
        let mut on_token = |kind: TokKind, text: Cow<'s, str>, offset: usize| {
            let tok = Tok {
                text,
                file,
                line: line_no,
                col: col_offset + offset as u32 + 1,
            };
            self.push_token(kind, tok, first_on_line, sink);
            first_on_line = false;
        };
        match text {
            Cow::Borrowed(s) => lex_line(s, &mut on_token),
            Cow::Owned(s) => lex_line(&s, |k, t, o| on_token(k, Cow::Owned(t.into_owned()), o)),
        }
        self.current = None;
    }

    /// Read one plain line, the one that starts at byte `start` of `text`
    /// (its file's text), already cut into `tokens` (offsets from `start`)
    /// by [`super::lexer::scan_plain_line`]: the same as [`Self::push_line`]
    /// on `LogicalLine { file, line, col_offset: 0, text: the line }`,
    /// without lexing it again. (The line is not cut out of `text` first:
    /// its words are, which is one check of their ends fewer a line.)
    #[inline]
    pub fn push_plain(
        &mut self,
        file: u32,
        line: u32,
        text: &'s str,
        start: usize,
        tokens: &[Span],
        sink: &mut dyn FnMut(Event<'_, 's>),
    ) {
        let mut first_on_line = true;
        for &span in tokens {
            let col = span.start as u32 + 1;
            // A brace's text is known without cutting it out of the line,
            // and a `}` needs its token only when it closes nothing.
            let text = match span.kind {
                TokKind::Close => {
                    let tok = || Tok {
                        text: Cow::Borrowed("}"),
                        file,
                        line,
                        col,
                    };
                    self.close(tok, sink);
                    first_on_line = false;
                    continue;
                }
                TokKind::Open => "{",
                TokKind::Word => match text.get(start + span.start..start + span.end) {
                    Some(word) => word,
                    None => continue,
                },
            };
            let tok = Tok {
                text: Cow::Borrowed(text),
                file,
                line,
                col,
            };
            self.push_token(span.kind, tok, first_on_line, sink);
            first_on_line = false;
        }
        self.current = None;
    }

    #[inline(always)]
    fn push_token(
        &mut self,
        kind: TokKind,
        tok: Tok<'s>,
        first_on_line: bool,
        sink: &mut dyn FnMut(Event<'_, 's>),
    ) {
        match kind {
            TokKind::Word => match self.current {
                Some(_) => {
                    self.tree.toks.push(tok);
                    if let Some(cur) = self.current {
                        self.tree.nodes[cur as usize].args_end += 1;
                    }
                }
                None => self.start_statement(tok, sink),
            },
            TokKind::Open => {
                let target = match self.current {
                    Some(c) => Some(c),
                    None if first_on_line => self
                        .last
                        .filter(|&l| self.tree.nodes[l as usize].open.is_none()),
                    None => None,
                };
                match target {
                    Some(node) if !self.may_open(node) => self.ignore_open(node, tok, sink),
                    Some(node) => {
                        let at = self.tree.toks.len() as u32;
                        self.tree.toks.push(tok);
                        self.tree.nodes[node as usize].open = Some(at);
                        self.stack.push(node);
                        self.current = None;
                        self.last = None;
                    }
                    None => sink(Event::StrayOpen(tok)),
                }
            }
            TokKind::Close => self.close(|| tok, sink),
        }
    }

    /// A `}` (made by `tok` if it closes nothing, for the diagnostic).
    #[inline(always)]
    fn close(&mut self, tok: impl FnOnce() -> Tok<'s>, sink: &mut dyn FnMut(Event<'_, 's>)) {
        self.current = None;
        self.last = None;
        match self.stack.pop() {
            Some(node) => {
                self.tree.nodes[node as usize].closed = true;
                if self.stack.is_empty() {
                    self.flush(sink);
                }
            }
            None if self.ignored_opens > 0 => {
                self.ignored_opens -= 1;
                sink(Event::UnbalancedClose(tok()));
            }
            None => sink(Event::StrayClose(tok())),
        }
    }

    /// Whether `node` may open a block where it is: keepalived's rule
    /// where lvsd knows the enclosing block's keywords (see
    /// [`super::keywords::opens_block`]), else yes.
    #[inline(always)]
    fn may_open(&self, node: u32) -> bool {
        let Some(&parent) = self.stack.last() else {
            return true;
        };
        let parent = &self.tree.keyword(parent).text;
        // Only `real_server` and `virtual_server` blocks are looked at (of
        // lengths 11 and 14: most blocks are ruled out without a compare).
        if !matches!(parent.len(), 11 | 14) {
            return true;
        }
        let kw = &self.tree.keyword(node).text;
        // Nearly every block of a big config, without a lookup.
        if kw == "TCP_CHECK" || (kw == "real_server" && parent.len() == 14) {
            return true;
        }
        super::keywords::opens_block(parent, kw).unwrap_or(true)
    }

    #[cold]
    #[inline(never)]
    fn ignore_open(&mut self, node: u32, open: Tok<'s>, sink: &mut dyn FnMut(Event<'_, 's>)) {
        self.ignored_opens += 1;
        self.current = None;
        self.last = None;
        let parent = self.stack.last().map_or(node, |&p| p);
        sink(Event::IgnoredOpen {
            open,
            keyword: self.tree.keyword(node).clone(),
            parent: self.tree.keyword(parent).clone(),
        });
    }

    #[inline(always)]
    fn start_statement(&mut self, tok: Tok<'s>, sink: &mut dyn FnMut(Event<'_, 's>)) {
        if self.stack.is_empty() {
            self.flush(sink);
        }
        let kw = self.tree.toks.len() as u32;
        self.tree.toks.push(tok);
        let id = self.tree.nodes.len() as u32;
        self.tree.nodes.push(Node {
            kw,
            args_end: kw + 1,
            first_child: NONE,
            last_child: NONE,
            next: NONE,
            open: None,
            closed: false,
        });
        if let Some(&parent) = self.stack.last() {
            let p = &mut self.tree.nodes[parent as usize];
            let prev = p.last_child;
            p.last_child = id;
            if prev == NONE {
                p.first_child = id;
            } else {
                self.tree.nodes[prev as usize].next = id;
            }
        }
        self.current = Some(id);
        self.last = Some(id);
    }

    /// Hand over the finished top-level statement, if any, and reset.
    #[inline(never)]
    fn flush(&mut self, sink: &mut dyn FnMut(Event<'_, 's>)) {
        if !self.tree.nodes.is_empty() {
            sink(Event::Statement(&self.tree));
            self.tree.nodes.clear();
            self.tree.toks.clear();
        }
        self.current = None;
        self.last = None;
    }

    /// End of input: hand over what is left. Unclosed blocks keep
    /// `closed == false` so the consumer can say where they opened.
    pub fn finish(mut self, sink: &mut dyn FnMut(Event<'_, 's>)) {
        self.tree.unclosed = !self.stack.is_empty();
        self.stack.clear();
        self.flush(sink);
    }
}
