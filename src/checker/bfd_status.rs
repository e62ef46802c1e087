//! What the state dump shows of the BFD thread: each session, and the
//! packets dropped before any session saw them.

use std::net::IpAddr;
use std::time::Duration;

use crate::bfd::packet::{Diag, State};

/// One session as the state dump shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SessionStatus {
    /// The `bfd_instance`.
    pub name: String,
    /// Its neighbour.
    pub neighbor: IpAddr,
    /// bfd.SessionState.
    pub state: State,
    /// The peer's last state.
    pub remote_state: State,
    /// Why it last went down.
    pub diag: Diag,
    /// Our discriminator.
    pub local_disc: u32,
    /// The peer's (0 until heard).
    pub remote_disc: u32,
    /// The detection time in force (none until the peer was heard).
    pub detection_time: Option<Duration>,
    /// The transmit interval before jitter.
    pub tx_interval: Option<Duration>,
    /// Packets sent.
    pub sent: u64,
    /// Packets accepted.
    pub received: u64,
    /// Why it cannot run, if it cannot (its probes are down).
    pub fault: Option<String>,
}

/// Every session and the packets dropped before any session saw them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct BfdStatus {
    /// The sessions, in no particular order.
    pub sessions: Vec<SessionStatus>,
    /// Packets dropped.
    pub drops: Drops,
}

/// Packets dropped before any session saw them, by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Drops {
    /// Malformed, by [`crate::bfd::packet::Malformed::ALL`] order.
    pub malformed: [u64; 8],
    /// A TTL (hop limit) below the session's minimum (255 by default).
    pub wrong_ttl: u64,
    /// Your Discriminator (or, when 0, the source address) names no session.
    pub unknown_session: u64,
    /// Our own packets the kernel refused to send (a full send buffer...).
    pub send_refused: u64,
}
