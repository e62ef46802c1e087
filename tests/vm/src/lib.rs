//! # lvsd-vm: a real IPVS kernel for lvsd's tests
//!
//! The host kernel has no IPVS, so tests that must see the real kernel's
//! table boot Debian's cloud kernel under qemu (TCG) with a busybox
//! initramfs, and drive it with shell scripts:
//!
//! ```no_run
//! use lvsd_vm::{require_guest, GuestSpec};
//!
//! #[test]
//! fn ipvs_reads_back() {
//!     let mut guest = require_guest!(GuestSpec::new("ipvs-reads-back").net_tools());
//!     guest.run_ok("ipvsadm -A -t 10.1.1.1:80 -s rr");
//!     assert_eq!(guest.run_ok("ipvsadm -Sn"), "-A -t 10.1.1.1:80 -s rr\n");
//! }
//! ```
//!
//! - [`Kernel`]: the cached kernel package (`tests/vm/fetch-kernel`).
//! - [`GuestSpec`]: memory, vCPUs, modules, files and host binaries to copy.
//! - [`Guest`]: boot, `run` scripts (many per boot), `write_file`,
//!   `shutdown`; daemons: `spawn`, `wait_for`, `signal`, `stop`, `log_of`.
//! - [`boot_or_skip`] / [`require_guest!`] / [`SharedGuest`]: the project's
//!   fail-or-skip rule, the same way in every test.
//!
//! Everything lands under the cargo target folder: the kernel in
//! `target/vm-cache/`, one transcript per guest in `target/vm-logs/NAME.log`.

mod background;
mod base64;
mod cpio;
mod guest;
mod kernel;
mod spec;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

pub use background::shell_quote;
pub use guest::{CmdOutput, Guest, BOOT_TIMEOUT, RUN_TIMEOUT};
pub use kernel::{Kernel, DEFAULT_MODULES};
pub use spec::GuestSpec;

/// Why a guest could not be had or used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VmError {
    /// Something the harness needs is missing (qemu, the kernel, a host
    /// program): the test skips, or fails when `CI=true`.
    #[error("VM unavailable: {0}")]
    Unavailable(String),
    /// The guest misbehaved (did not boot, died, garbled the channel).
    #[error("VM failed: {0}")]
    Failed(String),
    /// A script or the boot took longer than allowed.
    #[error("VM timeout: {0}")]
    Timeout(String),
}

/// `spec` with lvsd's two binaries at `/usr/local/bin/lvsd` and
/// `/usr/local/bin/lvsd-backend`. A macro, because only the calling test
/// crate knows where cargo built them (`CARGO_BIN_EXE_*`).
#[macro_export]
macro_rules! with_lvsd {
    ($spec:expr) => {
        $spec
            .binary_at(env!("CARGO_BIN_EXE_lvsd"), "/usr/local/bin/lvsd")
            .binary_at(
                env!("CARGO_BIN_EXE_lvsd-backend"),
                "/usr/local/bin/lvsd-backend",
            )
    };
}

/// The cargo target folder: `$CARGO_TARGET_DIR`, else the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

/// Where the kernel and initramfs images are kept (`$LVSD_VM_CACHE`, else `target/vm-cache`).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("LVSD_VM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("vm-cache"))
}

/// Where guest transcripts are written: `target/vm-logs`.
pub fn logs_dir() -> PathBuf {
    target_dir().join("vm-logs")
}

/// True when running under CI (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The project's rule for a test that cannot get what it needs: under CI it
/// fails with `reason`; elsewhere it prints `skipped: reason` and the caller
/// returns. Usable by any test (not root, no netns...), not only VM ones.
pub fn skip_or_fail(reason: &str) {
    if in_ci() {
        panic!("CI=true and this test cannot run: {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// Boots `spec`, applying [`skip_or_fail`] when the VM is
/// [`VmError::Unavailable`]; panics on any other failure.
pub fn boot_or_skip(spec: GuestSpec) -> Option<Guest> {
    match Guest::boot(spec) {
        Ok(guest) => Some(guest),
        Err(VmError::Unavailable(reason)) => {
            skip_or_fail(&reason);
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// `let mut guest = require_guest!(spec);` — boots or returns from the test
/// (skip) per [`boot_or_skip`].
#[macro_export]
macro_rules! require_guest {
    ($spec:expr) => {
        match $crate::boot_or_skip($spec) {
            Some(guest) => guest,
            None => return,
        }
    };
}

/// One guest shared by all tests of a test binary (one boot instead of
/// one per test). Tests take turns through a mutex:
///
/// ```no_run
/// use lvsd_vm::{GuestSpec, SharedGuest};
/// static GUEST: SharedGuest = SharedGuest::new();
///
/// #[test]
/// fn something() {
///     let Some(mut guest) = GUEST.get(|| GuestSpec::new("my-tests").net_tools()) else { return };
///     guest.run_ok("ipvsadm -C");
/// }
/// ```
///
/// The first call boots (later calls reuse the outcome: a boot failure
/// fails every test, a skip skips every test). A test that panics while
/// holding the guest does not poison it for the others. qemu ends with the
/// test process.
pub struct SharedGuest {
    cell: OnceLock<Result<Mutex<Guest>, VmError>>,
}

impl SharedGuest {
    pub const fn new() -> SharedGuest {
        SharedGuest {
            cell: OnceLock::new(),
        }
    }

    /// The shared guest, booting it from `spec()` on first use; `None` means
    /// "skip this test" (the reason was printed).
    pub fn get(&self, spec: impl FnOnce() -> GuestSpec) -> Option<MutexGuard<'_, Guest>> {
        match self
            .cell
            .get_or_init(|| Guest::boot(spec()).map(Mutex::new))
        {
            Ok(guest) => Some(
                guest
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            ),
            Err(VmError::Unavailable(reason)) => {
                skip_or_fail(reason);
                None
            }
            Err(e) => panic!("{e}"),
        }
    }
}

impl Default for SharedGuest {
    fn default() -> Self {
        Self::new()
    }
}
