//! BFD (RFC 5880, asynchronous mode; RFC 5881, single hop): the sessions
//! that `bfd_instance` blocks describe, which `BFD_CHECK`s follow.
//!
//! - [`packet`]: the Control packet, read in place and written into a
//!   fixed buffer; the checks of RFC 5880 §6.8.6 that need no session.
//! - [`session`]: one session's state machine and timers, as pure code.
//! - `session_tests`: its tests, on a fake clock.

pub mod packet;
pub mod session;
