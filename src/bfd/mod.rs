//! BFD (RFC 5880, asynchronous mode; RFC 5881, single hop): the sessions
//! that `bfd_instance` blocks describe, which `BFD_CHECK`s follow.
//!
//! - [`packet`]: the Control packet, read in place and written into a
//!   fixed buffer; the checks of RFC 5880 §6.8.6 that need no session.
//! - [`session`]: one session's state machine and timers, as pure code.
//! - [`fuzz_input`]: arbitrary bytes as received datagrams (fuzzing).
//! - [`socket`]: the sockets of RFC 5881: port 3784 with the received TTL,
//!   a source port in 49152–65535, TTL 255 sent.
//!
//! The thread that runs the sessions for `BFD_CHECK` is the checker's
//! (`checker/bfd_runner/`).

pub mod fuzz_input;
pub mod packet;
pub mod session;
pub mod socket;
