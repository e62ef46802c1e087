//! What the BFD benchmark (`tests/bfd_bench.rs`) is built from:
//!
//! - [`pair`]: two network namespaces joined by a veth, one address pair a
//!   session, and the keepalived.conf of either side.
//! - [`usage`]: a process's or a thread's CPU and wake-ups, from `/proc`.
//! - [`capture`]: the arrival of each peer's last packet, as the kernel
//!   stamped it (what a detection time is counted from).
//! - [`lag`]: the TCP checks' schedule lag, from lvsd's metrics.
//! - [`late`]: the BFD thread's late wake-ups, from lvsd's warnings.
//! - [`floor`]: the same packets sent and received by a minimal C program
//!   (`bench/floor/bfd_floor.c`): the kernel's share, which no BFD can shed.

#![allow(dead_code)]

pub mod capture;
pub mod floor;
pub mod lag;
pub mod late;
pub mod pair;
pub mod usage;
