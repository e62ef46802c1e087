//! `HTTP_GET` / `SSL_GET`: the `url { ... }` block and `http_protocol`.
//!
//! keepalived's rules, with lvsd's stricter handling where keepalived only
//! logs and goes on with a check that no longer checks what was written:
//!
//! - `path` is required: a url without one is an error (keepalived drops it).
//! - `status_code` takes codes `N` and ranges `N-M` with 100 ≤ N ≤ M ≤ 599;
//!   repeated lines add up; none at all means 200–299. A bad token is an
//!   error at its column (keepalived logs it and keeps the others).
//! - `digest` is exactly 32 hex digits, any case.
//! - `regex` is compiled at load time; one that does not compile is an error
//!   at its line (keepalived logs "Invalid regex" and then judges with
//!   freed memory). `regex_no_match`, `regex_options`, `regex_min_offset`,
//!   `regex_max_offset` and `regex_stack` without a `regex` are ignored with
//!   a warning, as keepalived ignores them; a `regex_min_offset` past
//!   `regex_max_offset` resets both, as in keepalived.

use super::block::Tree;
use super::http_regex::{decode_escapes, HttpRegex, RegexOption};
use super::keywords::UrlKw;
use super::typer::Typer;
use super::{values, HttpProtocol, Url, UrlRegex};

/// A url's regex settings while the block is read.
#[derive(Default)]
struct RegexReading {
    /// The pattern and the line it was on.
    pattern: Option<(String, u32)>,
    options: Vec<RegexOption>,
    no_match: bool,
    min_offset: Option<usize>,
    max_offset: Option<usize>,
    stack_max: Option<usize>,
    /// The first `regex_*` keyword, for the "without regex" warning.
    first_setting: Option<u32>,
}

impl Typer<'_> {
    /// `url { path ...; digest ...; status_code ...; ... }`.
    pub(super) fn url(&mut self, tree: &Tree<'_>, node: u32) -> Option<Url> {
        let mut u = Url::new("");
        u.status_codes.clear();
        let mut has_path = false;
        let mut rx = RegexReading::default();
        for child in tree.children(node) {
            let ckw = tree.keyword(child);
            let Some(kw) = UrlKw::from_name(&ckw.text) else {
                self.unknown(ckw, "in url");
                continue;
            };
            self.no_block(tree, child);
            if !matches!(
                kw,
                UrlKw::Path
                    | UrlKw::Digest
                    | UrlKw::StatusCode
                    | UrlKw::Virtualhost
                    | UrlKw::TlsCompliant
            ) {
                rx.first_setting.get_or_insert(child);
            }
            match kw {
                UrlKw::Path => {
                    if let Some(p) = self.string_arg(tree, child, "a path") {
                        u.path = p;
                        has_path = true;
                    }
                }
                UrlKw::Digest => {
                    u.digest = self.parsed(tree, child, 0, "an MD5 digest (32 hex digits)", |w| {
                        (w.len() == 32 && w.bytes().all(|b| b.is_ascii_hexdigit()))
                            .then(|| w.to_ascii_lowercase())
                    })
                }
                UrlKw::StatusCode => self.status_codes(tree, child, &mut u.status_codes),
                UrlKw::Virtualhost => u.virtualhost = self.string_arg(tree, child, "a host name"),
                // SSL_GET's (keepalived 2.2.8+): lvsd always ends with
                // close_notify (see checker/tls.rs), so it changes nothing.
                UrlKw::TlsCompliant => {
                    self.flag_arg(tree, child);
                }
                UrlKw::Regex
                | UrlKw::RegexNoMatch
                | UrlKw::RegexOptions
                | UrlKw::RegexStack
                | UrlKw::RegexMinOffset
                | UrlKw::RegexMaxOffset => self.regex_setting(tree, child, kw, &mut rx),
            }
        }
        if !has_path {
            self.error(tree.keyword(node), "`url` needs `path PATH`");
            return None;
        }
        if u.status_codes.is_empty() {
            u.status_codes.push((200, 299));
        }
        u.regex = self.url_regex(tree, rx);
        Some(u)
    }

    /// `status_code N|N-M ...`: each token adds to `codes`; a bad one is an
    /// error at its column.
    fn status_codes(&mut self, tree: &Tree<'_>, child: u32, codes: &mut Vec<(u16, u16)>) {
        if self
            .arg(tree, child, 0, "status codes or ranges (200, 200-299)")
            .is_some()
        {
            for t in tree.args(child) {
                if let Some(r) = self.value(
                    t,
                    "a status code or range within 100-599 (200, 200-299)",
                    values::status_range,
                ) {
                    codes.push(r);
                }
            }
        }
    }

    /// One of the `regex*` keywords of a url, read into `rx`; `url_regex`
    /// compiles them once the block is read.
    fn regex_setting(&mut self, tree: &Tree<'_>, child: u32, kw: UrlKw, rx: &mut RegexReading) {
        match kw {
            UrlKw::Regex => {
                self.max_args(tree, child, 1);
                if let Some(t) = self.arg(tree, child, 0, "a regular expression") {
                    // A quoted word was decoded by the lexer already.
                    let pattern = match &t.text {
                        std::borrow::Cow::Borrowed(raw) => decode_escapes(raw),
                        std::borrow::Cow::Owned(unquoted) => unquoted.clone(),
                    };
                    rx.pattern = Some((pattern, child));
                }
            }
            UrlKw::RegexNoMatch => rx.no_match = true,
            UrlKw::RegexOptions => {
                for t in tree.args(child) {
                    match RegexOption::from_name(&t.text) {
                        Ok(Some(o)) => rx.options.push(o),
                        Ok(None) => {
                            self.warning(t, format!("unknown regex option `{}`: ignored", t.text))
                        }
                        Err(why) => self.error(t, format!("`{}` is {why}", t.text)),
                    }
                }
            }
            UrlKw::RegexStack => {
                let start = self.parsed(tree, child, 0, "a start size", values::uint::<usize>);
                let max = self.parsed(tree, child, 1, "a maximum size", values::uint::<usize>);
                if let (Some(start), Some(max)) = (start, max) {
                    if start > max {
                        let t = &tree.args(child)[0];
                        self.error(t, "the start of `regex_stack` exceeds its maximum");
                    } else {
                        rx.stack_max = Some(max);
                    }
                }
            }
            UrlKw::RegexMinOffset => {
                rx.min_offset = self.uint_arg::<usize>(tree, child, "an offset")
            }
            UrlKw::RegexMaxOffset => {
                rx.max_offset = self.uint_arg::<usize>(tree, child, "an offset")
            }
            // The url's own keywords, read by `url`.
            UrlKw::Path
            | UrlKw::Digest
            | UrlKw::StatusCode
            | UrlKw::Virtualhost
            | UrlKw::TlsCompliant => {}
        }
    }

    /// Compiles a url's regex with its settings, or says why not.
    fn url_regex(&mut self, tree: &Tree<'_>, rx: RegexReading) -> Option<UrlRegex> {
        let Some((pattern, node)) = rx.pattern else {
            if let Some(first) = rx.first_setting {
                self.warning(
                    tree.keyword(first),
                    "regex parameters given without `regex`: ignored",
                );
            }
            return None;
        };
        let regex = match HttpRegex::compile(&pattern, &rx.options, rx.stack_max) {
            Ok(regex) => regex,
            Err(why) => {
                let at = tree.args(node).first().unwrap_or(tree.keyword(node));
                self.error(at, format!("invalid regex {pattern:?}: {why}"));
                return None;
            }
        };
        let (mut min_offset, mut max_offset) = (rx.min_offset.unwrap_or(0), rx.max_offset);
        if max_offset.is_some_and(|max| min_offset > max) {
            let at = tree.keyword(node);
            self.warning(
                at,
                "`regex_min_offset` is past `regex_max_offset`: both are ignored (as keepalived does)",
            );
            (min_offset, max_offset) = (0, None);
        }
        Some(UrlRegex {
            regex,
            no_match: rx.no_match,
            min_offset,
            max_offset,
        })
    }

    /// `http_protocol 1.0|1.0C|1.0c|1.1`.
    pub(super) fn http_protocol(&mut self, tree: &Tree<'_>, node: u32) -> Option<HttpProtocol> {
        self.parsed(tree, node, 0, "1.0, 1.0C or 1.1", |w| match w {
            "1.0" => Some(HttpProtocol::Http10),
            "1.0C" | "1.0c" => Some(HttpProtocol::Http10Close),
            "1.1" => Some(HttpProtocol::Http11),
            _ => None,
        })
    }
}
