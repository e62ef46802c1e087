//! # lvsd
//!
//! A health checker for Linux IPVS that reads the `keepalived.conf` operators
//! already have and replaces `keepalived -C`.
//!
//! The layers, each testable alone:
//!
//! - [`config`]: keepalived.conf → typed model, with file:line:col diagnostics.
//! - [`checker`]: the probe engine (one probe per distinct target and check).
//! - [`bfd`]: BFD (RFC 5880/5881): the packet and the session `BFD_CHECK` follows.
//! - [`reconcile`]: desired table = f(config, health), diffed against the kernel.
//! - [`ipvs`]: the IPVS table, over generic netlink or in memory.
//! - [`daemon`]: start, reload, drift repair, stop.
//! - [`control`]: the control socket and `lvsd ctl` (status, drain, reload…).
//! - [`metrics`]: Prometheus metrics, `/status` and `/healthz` over HTTP.
//! - [`script_policy`]: who runs scripts and checks, and which may not run.
//! - [`logging`]: syslog (journald) by default, the console with `-l`.
//! - [`script_audit`]: what `-t` says about the `MISC_CHECK` commands.
//! - [`capability`]: the capabilities lvsd uses, named when one is missing.

// Kept by clippy in CI (`.ci/run`, -D warnings); see Cargo.toml's [lints]
// for why these are here and not there.
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used)]

pub mod bfd;
pub mod capability;
pub mod checker;
pub mod config;
pub mod control;
pub mod daemon;
pub mod ipvs;
pub mod logging;
pub mod metrics;
pub mod reconcile;
pub mod script_audit;
pub mod script_policy;
