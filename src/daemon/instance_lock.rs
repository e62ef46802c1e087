//! One lvsd per IPVS table: a lock taken at start, held until exit.
//!
//! Two checkers on one table undo each other's changes, so a second lvsd
//! must refuse to start, and say which process runs already. IPVS tables
//! are per network namespace, so the lock is too: it is an `flock(2)` on
//! `ipvs-<netns>.lock` in the runtime directory (`/run/lvsd`), where
//! `<netns>` is the inode number of `/proc/self/ns/net`, the namespace's
//! identity. The holder writes its pid into the file; a second lvsd that
//! finds the lock taken reads that pid and names it.
//!
//! Why a lock file and not an abstract unix socket (which is per network
//! namespace by nature and also vanishes with its process): any local user
//! can bind an abstract name first and so keep lvsd from ever starting,
//! while `/run/lvsd` is root's alone. `flock` locks are released by the
//! kernel when the process dies, even after `kill -9`, so a stale file is
//! harmless: the file is never removed (removing a lock file races with a
//! process about to lock it), only relocked.
//!
//! `--dry-run` takes no lock: it has no kernel table.

use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode, OFlags};

/// The lock, held while this value lives.
#[derive(Debug)]
pub struct InstanceLock {
    _file: std::fs::File,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "another lvsd ({holder}) already runs on this IPVS table (network namespace \
         {netns}); lock {path}"
    )]
    Held {
        /// "pid N", as the lock file says.
        holder: String,
        /// The namespace's inode number.
        netns: u64,
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot take the instance lock {path}: {why}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why (in the message, so not a `source` too).
        why: io::Error,
    },
}

/// The lock file of this process's network namespace in `dir`, and the
/// namespace's inode number.
pub fn lock_path(dir: &Path) -> io::Result<(PathBuf, u64)> {
    let netns = std::fs::metadata("/proc/self/ns/net")?.ino();
    Ok((dir.join(format!("ipvs-{netns}.lock")), netns))
}

/// Take the lock for this network namespace's table, in `dir` (created if
/// missing), and write this process's id into it.
pub fn take(dir: &Path) -> Result<InstanceLock, LockError> {
    let io_error = |path: &Path, why: io::Error| LockError::Io {
        path: path.to_path_buf(),
        why,
    };
    let (path, netns) = lock_path(dir).map_err(|e| io_error(dir, e))?;
    super::run_dir::ensure_dir(dir).map_err(|e| io_error(dir, e))?;
    let fd = rustix::fs::open(
        &path,
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .map_err(|e| io_error(&path, e.into()))?;
    let mut file = std::fs::File::from(fd);
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!("pid {pid}"),
                Err(_) => "pid not written yet".to_owned(),
            };
            return Err(LockError::Held {
                holder,
                netns,
                path,
            });
        }
        Err(e) => return Err(io_error(&path, e.into())),
    }
    let written = (|| {
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())
    })();
    written.map_err(|e| io_error(&path, e))?;
    Ok(InstanceLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_first_holder_and_a_dropped_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let first = take(dir.path()).unwrap();
        // flock locks belong to the open file: a second open in this
        // process conflicts as another process's would.
        let err = take(dir.path()).unwrap_err().to_string();
        let pid = std::process::id();
        assert!(
            err.contains(&format!("another lvsd (pid {pid}) already runs")),
            "{err}"
        );
        drop(first);
        let again = take(dir.path());
        assert!(again.is_ok(), "{again:?}");
    }

    #[test]
    fn a_symlink_at_the_lock_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let (path, _) = lock_path(dir.path()).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(take(dir.path()).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }
}
