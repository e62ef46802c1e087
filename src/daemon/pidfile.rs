//! The pid file: written at start (a new file renamed into place, never
//! through a link), removed at stop.

use std::io;
use std::path::{Path, PathBuf};

/// A pid file that is removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Write this process's id to `path`. A file left by a process that is
    /// gone (after `kill -9`) is replaced; one of a live lvsd is an error.
    pub fn create(path: &Path) -> io::Result<Self> {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                let alive = pid != std::process::id() as i32
                    && Path::new(&format!("/proc/{pid}/cmdline")).exists()
                    && std::fs::read(format!("/proc/{pid}/cmdline"))
                        .map(|c| String::from_utf8_lossy(&c).contains("lvsd"))
                        .unwrap_or(false);
                if alive {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} names a running lvsd (pid {pid})", path.display()),
                    ));
                }
            }
        }
        // Never through a link planted at the name (see `run_dir`).
        let pid = format!("{}\n", std::process::id());
        super::run_dir::write_new(path, pid.as_bytes(), 0o644)?;
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_then_removed_and_stale_files_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lvsd.pid");
        std::fs::write(&path, "999999999\n").unwrap();
        {
            let _pid = PidFile::create(&path).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.trim(), std::process::id().to_string());
        }
        assert!(!path.exists());
    }

    #[test]
    fn a_link_planted_at_the_pid_file_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.path().join("lvsd.pid");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let _pid = PidFile::create(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
    }
}
