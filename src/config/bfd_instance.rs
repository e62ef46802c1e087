//! The global `bfd_instance NAME { ... }` block and the `BFD_CHECK` that
//! names one, with keepalived 2.2.7's ranges and defaults:
//!
//! ```text
//! bfd_instance NAME {               # NAME: at most 31 characters
//!     neighbor_ip IP                # required (also `neighbour_ip`); one instance a neighbour
//!     source_ip IP                  # same family as the neighbour
//!     min_rx MS                     # ≥ 1 ms, up to 3 decimals; default 10
//!     min_tx MS                     # ≥ 1 ms, up to 3 decimals; default 10
//!     idle_tx MS                    # ≥ 1000 ms, the slow rate while not Up; default 1000
//!     multiplier N                  # 1..255, default 5
//!     passive                       # wait for the neighbour to speak first
//!     ttl N                         # (also `hoplimit`) 1..255, sent; default 255
//!     max_hops N                    # -1..255: the received TTL may be this much lower
//!                                   #   than `ttl`; default 0; 255 (or -1) checks nothing
//!     weight N, vrrp, checker       # who hears of the session (VRRP's weight)
//! }
//! ```
//!
//! keepalived 2.2.7 knows neither `multihop` nor echo mode: both are
//! unknown keywords there, and here they are named at their line and
//! ignored (the session is single-hop, RFC 5881).
//!
//! A `BFD_CHECK { name NAME; alpha }` names an instance defined **before**
//! it (keepalived looks the name up as it reads the check); the check
//! carries the instance's settings, so two checks of one instance are one
//! probe and a changed instance is a new probe.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use super::block::{Tok, Tree};
use super::typer::Typer;
use super::{values, CheckCommon, Location, Timer};

/// keepalived's longest instance name (its buffer holds 32 bytes with the NUL).
pub const BFD_NAME_MAX: usize = 31;

/// A global `bfd_instance`: one BFD session to a neighbour.
///
/// Compares and hashes as the session it runs: every field but `location`
/// (a reload after its lines moved keeps the session).
#[derive(Debug, Clone, Serialize)]
pub struct BfdInstance {
    /// The name `BFD_CHECK { name NAME }` uses.
    pub name: String,
    /// `neighbor_ip`: the peer.
    pub neighbor: IpAddr,
    /// `source_ip`: the local address (else the kernel chooses).
    pub source: Option<IpAddr>,
    /// `min_rx`: Required Min RX Interval (default 10 ms).
    #[serde(serialize_with = "super::timer::seconds::serialize")]
    pub min_rx: Duration,
    /// `min_tx`: Desired Min TX Interval while Up (default 10 ms).
    #[serde(serialize_with = "super::timer::seconds::serialize")]
    pub min_tx: Duration,
    /// `idle_tx`: Desired Min TX Interval while not Up (default 1 s).
    #[serde(serialize_with = "super::timer::seconds::serialize")]
    pub idle_tx: Duration,
    /// `multiplier`: Detect Mult (default 5).
    pub multiplier: u8,
    /// `passive`: send nothing until the neighbour has spoken.
    pub passive: bool,
    /// `ttl`/`hoplimit`: the TTL or hop limit sent (default 255).
    pub ttl: u8,
    /// `max_hops`: how much lower than `ttl` a received TTL may be; `None`
    /// (255 or -1) checks nothing.
    pub max_hops: Option<u8>,
    /// Whether its events go to the checker (`checker`, or neither
    /// `checker` nor `vrrp` written).
    pub to_checker: bool,
    /// Where the block starts.
    pub location: Location,
}

impl BfdInstance {
    /// Every field but `location`, for `==` and hashing. Listed without
    /// `..`, so a new field cannot be left out.
    #[allow(clippy::type_complexity)]
    fn identity(
        &self,
    ) -> (
        &str,
        &IpAddr,
        &Option<IpAddr>,
        &Duration,
        &Duration,
        &Duration,
        u8,
        bool,
        u8,
        &Option<u8>,
        bool,
    ) {
        let BfdInstance {
            name,
            neighbor,
            source,
            min_rx,
            min_tx,
            idle_tx,
            multiplier,
            passive,
            ttl,
            max_hops,
            to_checker,
            location: _,
        } = self;
        (
            name,
            neighbor,
            source,
            min_rx,
            min_tx,
            idle_tx,
            *multiplier,
            *passive,
            *ttl,
            max_hops,
            *to_checker,
        )
    }
}

impl PartialEq for BfdInstance {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for BfdInstance {}

impl std::hash::Hash for BfdInstance {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity().hash(state)
    }
}

impl BfdInstance {
    /// The lowest TTL (hop limit) a received packet may carry, if any
    /// (GTSM, RFC 5881 §5: 255 with the defaults).
    pub fn min_received_ttl(&self) -> Option<u8> {
        self.max_hops.map(|hops| self.ttl.saturating_sub(hops))
    }
}

/// `BFD_CHECK`: the real server is up exactly while the named session is Up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct BfdCheck {
    /// Only `location` and `alpha` mean anything: BFD_CHECK takes no
    /// connection or timing keyword.
    pub common: CheckCommon,
    /// The instance it names, as defined.
    pub instance: BfdInstance,
}

/// What a `bfd_instance` keyword is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kw {
    Neighbor,
    Source,
    MinRx,
    MinTx,
    IdleTx,
    Multiplier,
    Passive,
    Ttl,
    MaxHops,
    Weight,
    Vrrp,
    Checker,
}

impl Kw {
    fn from_name(word: &str) -> Option<Kw> {
        Some(match word {
            "neighbor_ip" | "neighbour_ip" => Kw::Neighbor,
            "source_ip" => Kw::Source,
            "min_rx" => Kw::MinRx,
            "min_tx" => Kw::MinTx,
            "idle_tx" => Kw::IdleTx,
            "multiplier" => Kw::Multiplier,
            "passive" => Kw::Passive,
            "ttl" | "hoplimit" => Kw::Ttl,
            "max_hops" => Kw::MaxHops,
            "weight" => Kw::Weight,
            "vrrp" => Kw::Vrrp,
            "checker" => Kw::Checker,
            _ => return None,
        })
    }
}

/// Every spelling of a `bfd_instance` keyword (for the grammar's test).
pub const BFD_INSTANCE_KEYWORDS: &[&str] = &[
    "neighbor_ip",
    "neighbour_ip",
    "source_ip",
    "min_rx",
    "min_tx",
    "idle_tx",
    "multiplier",
    "passive",
    "ttl",
    "hoplimit",
    "max_hops",
    "weight",
    "vrrp",
    "checker",
];

/// Milliseconds with at most three decimals (keepalived's `min_rx`...), as
/// a duration; `None` if malformed.
fn millis(word: &str) -> Option<Duration> {
    let decimals = word.split_once('.').map_or(0, |(_, f)| f.len());
    if decimals > 3 || word.starts_with('.') || word.ends_with('.') {
        return None;
    }
    // A timer reads seconds with microsecond resolution: read the
    // milliseconds as if seconds, then scale.
    let t = values::timer(word)?;
    Some(Duration::from_micros(t.as_micros() / 1000))
}

/// What a `bfd_instance`'s statements said beyond its settings: the
/// neighbour and source (with where the source was written), its `vrrp`
/// and `checker` flags, and whether everything required read cleanly.
struct BfdStatements<'s> {
    neighbor: Option<IpAddr>,
    source: Option<(IpAddr, Tok<'s>)>,
    vrrp: bool,
    checker: bool,
    ok: bool,
}

impl Typer<'_> {
    /// Type a `bfd_instance` block at node `node`: its name, its
    /// statements, then the checks that need all of them (a neighbour, one
    /// family, one instance per name and per neighbour).
    pub fn bfd_instance(&mut self, tree: &Tree<'_>, node: u32) {
        let kw = tree.keyword(node).clone();
        self.max_args(tree, node, 1);
        let Some(name_tok) = self.arg(tree, node, 0, "a name").cloned() else {
            return;
        };
        let name = name_tok.text.to_string();
        let mut read = BfdStatements {
            neighbor: None,
            source: None,
            vrrp: false,
            checker: false,
            ok: true,
        };
        if name.len() > BFD_NAME_MAX {
            self.error(
                &name_tok,
                format!("a bfd_instance name has at most {BFD_NAME_MAX} characters"),
            );
            read.ok = false;
        }
        let mut b = BfdInstance {
            name: name.clone(),
            neighbor: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            source: None,
            min_rx: Duration::from_millis(10),
            min_tx: Duration::from_millis(10),
            idle_tx: Duration::from_millis(1000),
            multiplier: 5,
            passive: false,
            ttl: 255,
            max_hops: Some(0),
            to_checker: true,
            location: self.loc(&kw),
        };
        for child in tree.children(node) {
            self.bfd_statement(tree, child, &mut b, &mut read);
        }
        b.to_checker = read.checker || !read.vrrp;
        let Some(neighbor) = read.neighbor else {
            if read.ok {
                self.error(&kw, format!("bfd_instance `{name}` needs `neighbor_ip IP`"));
            }
            return;
        };
        b.neighbor = neighbor;
        if let Some((ip, at)) = read.source {
            if ip.is_ipv4() != neighbor.is_ipv4() {
                self.error(
                    &at,
                    format!("source_ip {ip} and neighbor_ip {neighbor} are not of the same family"),
                );
                read.ok = false;
            }
            b.source = Some(ip);
        }
        if read.ok && self.bfd_is_new(&kw, &b) {
            self.config.bfd_instances.push(b);
        }
    }

    /// One statement of a `bfd_instance`, into `b` or `read`.
    fn bfd_statement<'s>(
        &mut self,
        tree: &Tree<'s>,
        child: u32,
        b: &mut BfdInstance,
        read: &mut BfdStatements<'s>,
    ) {
        let ckw = tree.keyword(child).clone();
        let Some(which) = Kw::from_name(&ckw.text) else {
            match ckw.text.as_ref() {
                "multihop" | "echo" | "echo_rx_interval" | "echo_mode" => self.warning(
                    &ckw,
                    format!(
                        "`{}` is not in keepalived 2.2.7 (an unknown keyword there) nor in \
                         lvsd: ignored, the session is single-hop asynchronous BFD (RFC 5881)",
                        ckw.text
                    ),
                ),
                _ => self.unknown(&ckw, "in bfd_instance"),
            }
            return;
        };
        self.no_block(tree, child);
        let flag = matches!(which, Kw::Passive | Kw::Vrrp | Kw::Checker);
        self.max_args(tree, child, if flag { 0 } else { 1 });
        let ms = |this: &mut Self, min: u64, what: &str| {
            let expected = format!("{what} in milliseconds, {min} to 4294967, up to 3 decimals");
            this.parsed(tree, child, 0, &expected, |w| {
                millis(w).filter(|d| (min * 1000..=4_294_967_000).contains(&(d.as_micros() as u64)))
            })
        };
        match which {
            Kw::Neighbor => match self.ip_arg(tree, child) {
                Some(ip) => read.neighbor = Some(ip),
                None => read.ok = false,
            },
            Kw::Source => match self.ip_arg(tree, child) {
                Some(ip) => read.source = Some((ip, ckw)),
                None => read.ok = false,
            },
            Kw::MinRx => b.min_rx = ms(self, 1, "an interval").unwrap_or(b.min_rx),
            Kw::MinTx => b.min_tx = ms(self, 1, "an interval").unwrap_or(b.min_tx),
            Kw::IdleTx => b.idle_tx = ms(self, 1000, "an interval").unwrap_or(b.idle_tx),
            Kw::Multiplier => {
                b.multiplier = self
                    .parsed(tree, child, 0, "a multiplier (1-255)", |w| {
                        values::uint::<u8>(w).filter(|&m| m >= 1)
                    })
                    .unwrap_or(b.multiplier)
            }
            Kw::Passive => b.passive = true,
            Kw::Ttl => {
                b.ttl = self
                    .parsed(tree, child, 0, "a TTL or hop limit (1-255)", |w| {
                        values::uint::<u8>(w).filter(|&t| t >= 1)
                    })
                    .unwrap_or(b.ttl)
            }
            Kw::MaxHops => {
                if let Some(h) = self.parsed(tree, child, 0, "a hop count (-1-255)", |w| {
                    values::int(w).filter(|h| (-1..=255).contains(h))
                }) {
                    b.max_hops = u8::try_from(h).ok().filter(|&h| h != 255);
                }
            }
            Kw::Weight => {
                self.parsed(tree, child, 0, "a weight (-253..253)", |w| {
                    values::int(w).filter(|w| (-253..=253).contains(w))
                });
                self.info(&ckw, "`weight` is VRRP's: the checker does not use it");
            }
            Kw::Vrrp => read.vrrp = true,
            Kw::Checker => read.checker = true,
        }
    }

    /// Whether `b` is the first instance of its name and of its neighbour
    /// (else an error at `kw`: one session a neighbour).
    fn bfd_is_new(&mut self, kw: &Tok<'_>, b: &BfdInstance) -> bool {
        let (name, neighbor) = (&b.name, b.neighbor);
        if self.config.bfd_instances.iter().any(|i| i.name == *name) {
            self.error(
                kw,
                format!("bfd_instance `{name}` is defined again: this one is ignored"),
            );
            return false;
        }
        if let Some(other) = self
            .config
            .bfd_instances
            .iter()
            .find(|i| i.neighbor == neighbor)
        {
            let other = other.name.clone();
            self.error(
                kw,
                format!(
                    "bfd_instance `{name}`: bfd_instance `{other}` has neighbor {neighbor} \
                     already (one session a neighbour): this one is ignored"
                ),
            );
            return false;
        }
        true
    }

    /// A `BFD_CHECK`'s `name`: the instance defined before it, or an error
    /// at the name.
    pub fn bfd_check_instance(&mut self, tree: &Tree<'_>, node: u32) -> Option<BfdInstance> {
        self.max_args(tree, node, 1);
        let t = self.arg(tree, node, 0, "a bfd_instance name")?;
        let found = self
            .config
            .bfd_instances
            .iter()
            .find(|i| i.name == t.text)
            .cloned();
        match found {
            Some(i) if i.to_checker => Some(i),
            Some(_) => {
                self.error(
                    t,
                    format!(
                        "bfd_instance `{}` has `vrrp` and not `checker`: its session \
                         never reports to a BFD_CHECK",
                        t.text
                    ),
                );
                None
            }
            None => {
                self.error(
                    t,
                    format!(
                        "no bfd_instance `{}` is defined before this BFD_CHECK \
                         (a `bfd_instance {} {{ neighbor_ip IP }}` block must come first)",
                        t.text, t.text
                    ),
                );
                None
            }
        }
    }
}

/// The settings of a `BFD_CHECK` in the model: nothing of the real server,
/// so checks of one instance from many real servers are one probe.
pub fn bfd_check(location: Location, alpha: bool, instance: BfdInstance) -> BfdCheck {
    let unspecified = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
    BfdCheck {
        common: CheckCommon {
            location,
            warmup: Timer::from_secs(0),
            retry: 0,
            alpha,
            ..CheckCommon::new(unspecified, 0)
        },
        instance,
    }
}

#[cfg(test)]
mod tests {
    use super::millis;
    use std::time::Duration;

    #[test]
    fn milliseconds_take_up_to_three_decimals() {
        assert_eq!(millis("10"), Some(Duration::from_millis(10)));
        assert_eq!(millis("3.5"), Some(Duration::from_micros(3500)));
        assert_eq!(millis("1.234"), Some(Duration::from_micros(1234)));
        assert_eq!(millis("1.2345"), None);
        assert_eq!(millis("x"), None);
        assert_eq!(millis("1."), None);
    }
}
