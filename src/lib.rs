//! # lvsd
//!
//! A health checker for Linux IPVS that reads the `keepalived.conf` operators
//! already have and replaces `keepalived -C`.
//!
//! The layers, each testable alone:
//!
//! - [`config`]: keepalived.conf → typed model, with file:line:col diagnostics.
//! - [`checker`]: the probe engine (one probe per distinct target and check).
//! - [`reconcile`]: desired table = f(config, health), diffed against the kernel.
//! - [`ipvs`]: the IPVS table, over generic netlink or in memory.
//! - [`daemon`]: start, reload, drift repair, stop.
//! - [`metrics`]: Prometheus metrics, `/status` and `/healthz` over HTTP.
//! - [`script_policy`]: who runs scripts and checks, and which may not run.
//! - [`fx_hash`]: the fast hasher of lvsd's own maps.
//! - [`logging`]: syslog (journald) by default, the console with `-l`.
//! - [`script_audit`]: what `-t` says about the `MISC_CHECK` commands.

pub mod checker;
pub mod config;
pub mod daemon;
pub mod fx_hash;
pub mod ipvs;
pub mod logging;
pub mod metrics;
pub mod reconcile;
pub mod script_audit;
pub mod script_policy;
