//! Settings that flow down: virtual server → real server → checker.
//!
//! keepalived.conf(5): "the virtual server setting is the default for real
//! servers, and the real server setting is the default for checkers". Each
//! level starts from a copy of its parent's [`Inherited`] and overrides what
//! it sets; the checker then fills what is still unset with keepalived's
//! defaults for its type.

use super::block::Tree;
use super::keywords::InheritKw;
use super::typer::Typer;
use super::Timer;

/// The inheritable settings, as far as they were set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inherited {
    /// `delay_loop`.
    pub delay_loop: Option<Timer>,
    /// `connect_timeout`.
    pub connect_timeout: Option<Timer>,
    /// `retry` (or `nb_get_retry`).
    pub retry: Option<u32>,
    /// `delay_before_retry`.
    pub delay_before_retry: Option<Timer>,
    /// `warmup`.
    pub warmup: Option<Timer>,
    /// `alpha`.
    pub alpha: Option<bool>,
    /// `inhibit_on_failure`.
    pub inhibit_on_failure: Option<bool>,
    /// `virtualhost`.
    pub virtualhost: Option<String>,
}

impl Inherited {
    /// A copy with `virtualhost` unset (which a checker resolves itself),
    /// so copying allocates nothing.
    pub fn without_virtualhost(&self) -> Inherited {
        Inherited {
            virtualhost: None,
            ..*self
        }
    }
}

/// keepalived's `delay_loop` default.
pub const DEFAULT_DELAY_LOOP: Timer = Timer::from_secs(60);
/// keepalived's `connect_timeout` default.
pub const DEFAULT_CONNECT_TIMEOUT: Timer = Timer::from_secs(5);

impl Typer<'_> {
    /// `alpha` / `inhibit_on_failure [BOOL]` in a real server or checker,
    /// read as keepalived reads it: on without a value; a value other than
    /// on|off|true|false|yes|no (lower case) is a warning and the keyword
    /// is ignored.
    fn lenient_flag(&mut self, tree: &Tree<'_>, node: u32) -> Option<bool> {
        let Some(value) = tree.args(node).first() else {
            return Some(true);
        };
        match value.text.as_ref() {
            "on" | "true" | "yes" => Some(true),
            "off" | "false" | "no" => Some(false),
            other => {
                let kw = &tree.keyword(node).text;
                self.warning(value, format!("expected on|off|true|false|yes|no (lower case), found `{other}`: `{kw}` is ignored, as keepalived does"));
                None
            }
        }
    }

    /// Apply one inheritable keyword to `into`.
    pub fn inherit_keyword(
        &mut self,
        tree: &Tree<'_>,
        node: u32,
        kw: InheritKw,
        into: &mut Inherited,
    ) {
        self.no_block(tree, node);
        self.max_args(tree, node, 1);
        match kw {
            InheritKw::DelayLoop => {
                if let Some(v) = self.timer_arg(tree, node) {
                    if v.as_micros() == 0 {
                        let t = &tree.args(node)[0];
                        self.error(t, "`delay_loop` must be more than 0 seconds");
                    } else {
                        into.delay_loop = Some(v);
                    }
                }
            }
            InheritKw::ConnectTimeout => {
                if let Some(v) = self.timer_arg(tree, node) {
                    into.connect_timeout = Some(v);
                }
            }
            InheritKw::Retry => {
                if let Some(v) = self.uint_arg::<u32>(tree, node, "a number of retries") {
                    into.retry = Some(v);
                }
            }
            InheritKw::DelayBeforeRetry => {
                if let Some(v) = self.timer_arg(tree, node) {
                    into.delay_before_retry = Some(v);
                }
            }
            InheritKw::Warmup => {
                if let Some(v) = self.timer_arg(tree, node) {
                    into.warmup = Some(v);
                }
            }
            InheritKw::Alpha => {
                if let Some(v) = self.lenient_flag(tree, node) {
                    into.alpha = Some(v);
                }
            }
            InheritKw::InhibitOnFailure => {
                if let Some(v) = self.lenient_flag(tree, node) {
                    into.inhibit_on_failure = Some(v);
                }
            }
            InheritKw::Virtualhost => {
                if let Some(v) = self.string_arg(tree, node, "a host name") {
                    into.virtualhost = Some(v);
                }
            }
        }
    }
}
