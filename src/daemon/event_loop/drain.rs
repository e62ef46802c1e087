//! The daemon's side of draining and admin state: every `--drain-poll`
//! while a drain runs, read the kernel's connection counts and let the
//! reconciler end the drains that are over (see
//! [`crate::reconcile::drain`]); and keep `admin-state.json` in the run
//! directory in step, so a restart resumes drains with their deadlines,
//! and disables and weight overrides stay.
//!
//! The file is written like the state dump (a fresh file renamed over the
//! old one, never through a link; mode 0600) and only when the admin state
//! changed. A file that cannot be read at start is logged and set aside:
//! lvsd then starts with no admin state, which never leaves a healthy real
//! server at weight 0.

use std::path::{Path, PathBuf};

use super::{with_table, Daemon};
use crate::daemon::run_dir;
use crate::reconcile::admin::{now_ms, AdminState, Persisted};
use crate::reconcile::drain::DrainEnd;

/// The admin state file in `run_dir`.
pub fn admin_file(run_dir: &Path) -> PathBuf {
    run_dir.join("admin-state.json")
}

/// The admin state saved at `path` (none if there is no file, or it cannot
/// be read: said in the log).
pub fn load(path: &Path) -> AdminState {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return AdminState::default(),
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "cannot read the admin state; starting without it");
            return AdminState::default();
        }
    };
    match serde_json::from_slice::<Persisted>(&text) {
        Ok(p) if p.version == 1 => {
            let state = AdminState::from_persisted(p);
            if !state.is_empty() {
                tracing::info!(file = %path.display(), entries = state.iter().count(), "admin state read back (drains resume with their deadlines)");
            }
            state
        }
        Ok(p) => {
            tracing::error!(file = %path.display(), version = p.version, "admin state of an unknown version; starting without it");
            AdminState::default()
        }
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "admin state unreadable; starting without it");
            AdminState::default()
        }
    }
}

impl Daemon {
    /// Write the admin state down if it changed since it was last written.
    pub(super) fn save_admin(&mut self) {
        let now = self.reconciler.admin().persisted();
        if self.saved_admin.as_ref() == Some(&now) {
            return;
        }
        let path = admin_file(&self.opts.run_dir);
        let written = serde_json::to_vec_pretty(&now)
            .map_err(std::io::Error::other)
            .and_then(|text| run_dir::write_privately(&path, &text));
        match written {
            Ok(()) => self.saved_admin = Some(now),
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "cannot write the admin state")
            }
        }
    }

    /// One drain poll: end the drains that are over, and delete them.
    pub(super) async fn poll_drains(&mut self) {
        if !self.reconciler.draining() {
            return;
        }
        let dump = match with_table(&self.table, |t| t.dump()).await {
            Ok(dump) => dump,
            Err(e) => {
                tracing::error!(error = %e, "drain: cannot read the IPVS table");
                return;
            }
        };
        let ended = self.reconciler.finish_drains(&dump, now_ms());
        drop(dump);
        if ended.is_empty() {
            return;
        }
        for e in &ended {
            self.count_drain(&e.end);
            match e.end {
                DrainEnd::TimedOut(left) => tracing::warn!(
                    vs = %e.vs, rs = %e.rs, took_s = e.took_ms / 1000,
                    active = left.active, inactive = left.inactive, persistent = left.persistent,
                    "drain timed out with connections left; deleting"
                ),
                end => tracing::info!(
                    vs = %e.vs, rs = %e.rs, took_s = e.took_ms / 1000, result = end.word(),
                    "drain ended"
                ),
            }
        }
        self.reconcile().await;
        self.save_admin();
    }
}
