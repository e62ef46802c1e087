//! lvsd end to end in a real kernel (one guest for the whole binary, see
//! `tests/vm`): lvsd runs as a process in the guest, its backends are
//! `lvsd-backend` processes in network namespaces `rs1`..`rs3` behind veth
//! pairs, and `ipvsadm -Sn` (an independent reader) checks the table.
//!
//! One test binary, so one guest boot; one file per concept under
//! `tests/kernel_daemon/`. A new end-to-end behaviour of the daemon goes in
//! the file of its concept, or in a new one listed here:
//!
//! - `scenario`: the scenario (`tests/data/daemon/scenario.conf`: 2 virtual
//!   servers x 3 real servers) written once, as steps with the table and
//!   the notify script calls each step must end with.
//! - `scenario_runs`: that scenario run by lvsd and by keepalived 2.2.7
//!   (`keepalived -C`) in the same boot: both must pass.
//! - `restart_reload`: `kill -9` and restart changes nothing, SIGHUP writes
//!   only the difference, a second lvsd refuses, a broken include is
//!   refused.
//! - `drift`: hand edits are undone, foreign services are left alone.
//! - `least_privilege`: lvsd as the packaged unit runs it (exactly
//!   `packaging/lvsd.service`'s `CapabilityBoundingSet`, no new
//!   privileges), and what each capability is for, shown by removing it.
//! - `kernel_settings`: `lvs_timeouts` reach the kernel; the sync daemon is
//!   left to the VRRP side.
//! - `ha_suspend`: probes only while the virtual address is local.
//! - `net_namespace`: the table and the probes in the namespace the config
//!   names, beside keepalived run there.
//! - `backends`, `watch`: the helpers they share (starting backends;
//!   reading the table and the logs).
//!
//! Needs qemu and the cached kernel (`bash .ci/setup`); skips without them
//! unless `CI=true`.

use lvsd_vm::{Guest, GuestSpec, SharedGuest};

#[path = "kernel_daemon/backends.rs"]
mod backends;
#[path = "kernel_daemon/drift.rs"]
mod drift;
#[path = "kernel_daemon/ha_suspend.rs"]
mod ha_suspend;
#[path = "kernel_daemon/kernel_settings.rs"]
mod kernel_settings;
#[path = "kernel_daemon/least_privilege.rs"]
mod least_privilege;
#[path = "kernel_daemon/net_namespace.rs"]
mod net_namespace;
#[path = "kernel_daemon/restart_reload.rs"]
mod restart_reload;
#[path = "kernel_daemon/scenario.rs"]
mod scenario;
#[path = "kernel_daemon/scenario_runs.rs"]
mod scenario_runs;
#[path = "kernel_daemon/watch.rs"]
mod watch;

static GUEST: SharedGuest = SharedGuest::new();

fn guest() -> Option<std::sync::MutexGuard<'static, Guest>> {
    let mut guest = GUEST.get(|| {
        lvsd_vm::with_lvsd!(GuestSpec::new("kernel_daemon").net_tools().keepalived())
            .tool("setpriv")
            .bytes(
                "/etc/lvsd-test/scenario.conf",
                include_str!("data/daemon/scenario.conf"),
                0o644,
            )
            .bytes(
                "/etc/lvsd-test/notify.sh",
                include_str!("data/daemon/notify.sh"),
                0o755,
            )
            .bytes(
                "/etc/lvsd-test/fifo-reader.sh",
                include_str!("data/daemon/fifo-reader.sh"),
                0o755,
            )
            .bytes(
                "/etc/lvsd-test/lib.sh",
                include_str!("data/daemon/lib.sh"),
                0o644,
            )
    })?;
    guest.run_ok(". /etc/lvsd-test/lib.sh; make_namespaces");
    Some(guest)
}
