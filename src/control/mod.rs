//! The control socket and `lvsd ctl`: status, tables, drains, disables,
//! weight overrides, checks on demand and reloads that answer, over a Unix
//! socket (default `/run/lvsd/lvsd.sock`, mode 0660) with one JSON object
//! per line each way. `docs/control.md` is the operator's guide.
//!
//! Its files:
//!
//! - `protocol`: the request and answer objects, and bounded line reading.
//! - `selector`: naming virtual and real servers (`10.0.0.1:80/tcp`, `10.0.1.5:8080`).
//! - `peer`: the caller's uid, gid and groups, from the kernel.
//! - `auth`: who may read and who may change.
//! - `server`: the listener: bind, connection cap, timeouts, hand-off to the daemon.
//! - `view`: what each command answers, typed.
//! - `client`: `lvsd ctl`'s side of the socket.
//! - `render`: the answers as tables for people.
//!
//! The daemon's side (what each command does to the running lvsd) is
//! `src/daemon/event_loop/ctl.rs`; the admin state it changes is
//! `src/reconcile/admin.rs`.

pub mod auth;
pub mod client;
pub mod peer;
pub mod protocol;
pub mod render;
pub mod selector;
pub mod server;
pub mod view;
