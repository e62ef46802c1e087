//! The IPVS table: its model, the [`IpvsTable`] trait, and two implementations
//! of it — the kernel's, over generic netlink, and an in-memory one with the
//! kernel's semantics for tests and `--dry-run`.
//!
//! - [`model`]: the identity and attribute structs of a table (services,
//!   destinations), mirroring `linux/ip_vs.h` in Rust terms.
//! - [`netlink`]: the kernel's table over generic netlink.
//! - [`memory`]: the in-memory table with the kernel's identity rules and errors.
//! - [`settings`]: IPVS settings outside the table (timeouts, sync daemons).
//! - [`format`](mod@format): a table rendered exactly as `ipvsadm -Sn` / `-Ln` print it.
//! - [`restore`]: `ipvsadm -Sn` / `-R` lines parsed into table changes.
//! - [`command`]: `lvsd ipvs list|save|restore`.
//! - [`suite`]: the behaviour suite's case format, run against both tables.
//! - `format_tests`, `restore_tests`: their unit tests.

pub mod command;
pub mod format;
pub mod memory;
pub mod model;
pub mod netlink;
pub mod restore;
pub mod settings;
pub mod suite;

use thiserror::Error;

pub use memory::MemoryTable;
pub use model::*;
pub use netlink::NetlinkTable;

/// Why a table operation failed. The kernel's errno values map onto these.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IpvsError {
    /// `EEXIST`: the service or destination is already there.
    #[error("already exists")]
    Exists,
    /// `ESRCH`: no such service.
    #[error("no such service")]
    NoService,
    /// `ENOENT`: no such destination (or scheduler / persistence engine).
    #[error("no such destination")]
    NoDestination,
    /// `EPERM` / `EACCES`: not allowed (needs CAP_NET_ADMIN).
    #[error("permission denied (lvsd needs CAP_NET_ADMIN)")]
    Permission,
    /// The kernel has no IPVS (no `IPVS` generic netlink family).
    #[error("this kernel has no IPVS (the ip_vs module is not loaded); use --dry-run to run against an in-memory table")]
    NotAvailable,
    /// Any other errno from the kernel.
    #[error("kernel error: {0}")]
    Errno(i32),
    /// A malformed or unexpected netlink message.
    #[error("netlink: {0}")]
    Protocol(String),
    /// Bad input, such as an unparsable `ipvsadm -R` line.
    #[error("{0}")]
    Invalid(String),
    /// The socket itself failed.
    #[error("netlink socket: {0}")]
    Io(String),
}

/// A table of virtual services, as the kernel keeps it.
///
/// Every method is synchronous: the kernel answers netlink requests at once,
/// and a blocking call is far simpler to reason about than an async one.
pub trait IpvsTable {
    /// The whole table: every service with its destinations.
    fn dump(&mut self) -> Result<Vec<ServiceEntry>, IpvsError>;

    /// Read the services `wanted` picks, one at a time with their
    /// destinations, and hand each to `visit`, in the kernel's order. Only
    /// one service's destinations are held at a time, and the destinations
    /// of services not wanted are not read at all: a drift check reads
    /// lvsd's own services and compares as it goes. A visit is for
    /// settings: implementations may leave the destinations' traffic
    /// counters at zero.
    fn visit(
        &mut self,
        wanted: &dyn Fn(&ServiceKey) -> bool,
        visit: &mut dyn FnMut(&ServiceEntry),
    ) -> Result<(), IpvsError> {
        for entry in self.dump()? {
            if wanted(&entry.service.key) {
                visit(&entry);
            }
        }
        Ok(())
    }

    /// Apply one change.
    fn apply_one(&mut self, op: &TableOp) -> Result<(), IpvsError>;

    /// Apply a batch of changes, in order, returning one result per change.
    /// Implementations may pipeline; a failure does not stop later changes.
    fn apply(&mut self, ops: &[TableOp]) -> Vec<Result<(), IpvsError>> {
        ops.iter().map(|op| self.apply_one(op)).collect()
    }

    /// Remove every service (`ipvsadm -C`).
    fn flush(&mut self) -> Result<(), IpvsError>;

    /// Set protocol timeouts (`lvs_timeouts`); zero fields stay as they are.
    /// Tables without such settings (in memory) accept and ignore it.
    fn set_timeouts(&mut self, _timeouts: &settings::Timeouts) -> Result<(), IpvsError> {
        Ok(())
    }

    /// Start a connection sync daemon (`lvs_sync_daemon`). Tables without
    /// sync daemons (in memory) accept and ignore it.
    fn start_sync_daemon(&mut self, _daemon: &settings::SyncDaemon) -> Result<(), IpvsError> {
        Ok(())
    }

    /// Stop the connection sync daemon in `state` (`ipvsadm --stop-daemon`).
    /// Tables without sync daemons (in memory) accept and ignore it.
    fn stop_sync_daemon(&mut self, _state: settings::SyncState) -> Result<(), IpvsError> {
        Ok(())
    }
}
