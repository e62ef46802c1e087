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
    /// `ENOENT` on a destination: no such destination.
    #[error("no such destination")]
    NoDestination,
    /// `ENOENT` on a service add or update: the kernel has no scheduler of
    /// that name, or (when one is asked for) no such persistence engine.
    #[error("{}", no_scheduler_message(scheduler, persistence_engine.as_deref()))]
    NoScheduler {
        /// The service's scheduler (`lb_algo`).
        scheduler: String,
        /// The service's persistence engine (`persistence_engine`), if any.
        persistence_engine: Option<String>,
    },
    /// `EPERM` / `EACCES`: not allowed. The message names the capability
    /// missing (`CAP_NET_ADMIN`) and how to grant it (see [`crate::capability`]).
    #[error("{}", crate::capability::ipvs_denied())]
    Permission,
    /// The kernel has no IPVS (no `IPVS` generic netlink family).
    #[error("this kernel has no IPVS (the ip_vs module is not loaded); use --dry-run to run against an in-memory table")]
    NotAvailable,
    /// Any other errno from the kernel, printed with its name
    /// ("Invalid argument (os error 22)").
    #[error("kernel error: {}", std::io::Error::from_raw_os_error(*.0))]
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

/// The message of [`IpvsError::NoScheduler`], with the fix.
fn no_scheduler_message(scheduler: &str, persistence_engine: Option<&str>) -> String {
    match persistence_engine {
        None => format!(
            "the kernel has no scheduler `{scheduler}`: fix `lb_algo`, or load its module \
             (`modprobe ip_vs_{scheduler}`)"
        ),
        Some(pe) => format!(
            "the kernel has no scheduler `{scheduler}` or no persistence engine `{pe}`: fix \
             `lb_algo` / `persistence_engine`, or load their modules (`modprobe \
             ip_vs_{scheduler}`, `modprobe ip_vs_pe_{pe}`)"
        ),
    }
}

impl IpvsError {
    /// This error as the answer to `op`: the kernel says `ENOENT` both for
    /// a missing destination and for a service whose scheduler or
    /// persistence engine it does not have; on a service add or update it
    /// is the latter.
    pub fn for_op(self, op: &TableOp) -> IpvsError {
        match (self, op) {
            (IpvsError::NoDestination, TableOp::AddService(s) | TableOp::UpdateService(s)) => {
                IpvsError::no_scheduler(s)
            }
            (other, _) => other,
        }
    }

    /// The kernel's refusal of service `s`'s scheduler or persistence engine.
    pub fn no_scheduler(s: &Service) -> IpvsError {
        IpvsError::NoScheduler {
            scheduler: s.scheduler.clone(),
            persistence_engine: s.pe_name.clone(),
        }
    }
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

    /// The connection sync daemons running now (`ipvsadm -L --daemon`,
    /// `IPVS_CMD_GET_DAEMON`): at most one master and one backup. Tables
    /// without sync daemons report none.
    fn sync_daemons(&mut self) -> Result<Vec<settings::SyncDaemon>, IpvsError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_the_kernel_meant_and_the_fix() {
        let errno = IpvsError::Errno(libc::EINVAL).to_string();
        assert!(errno.contains("Invalid argument"), "{errno}");
        let service = Service {
            key: ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.0.1".parse().unwrap(),
                port: 80,
            },
            scheduler: "wrrr".into(),
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask: u32::MAX,
            pe_name: None,
        };
        let add = TableOp::AddService(service.clone());
        let refused = IpvsError::NoDestination.for_op(&add);
        assert_eq!(refused, IpvsError::no_scheduler(&service));
        let said = refused.to_string();
        assert!(said.contains("no scheduler `wrrr`"), "{said}");
        assert!(said.contains("modprobe ip_vs_wrrr"), "{said}");
        // On a destination, ENOENT is what it says.
        let remove = TableOp::RemoveDest(
            service.key,
            DestKey {
                addr: "10.0.1.1".parse().unwrap(),
                port: 80,
            },
        );
        assert_eq!(
            IpvsError::NoDestination.for_op(&remove),
            IpvsError::NoDestination
        );
    }
}
