//! What the loop reads back from the kernel on its own schedule: lvsd's
//! services, to undo changes made by hand (drift repair, every
//! `--drift-interval`), and the connection sync daemons `lvs_sync_daemon`
//! names, which the VRRP side runs (see [`super::super::sync_daemon`]).

use super::{with_table, Daemon};
use crate::daemon::sync_daemon;
use crate::reconcile::drift;

impl Daemon {
    /// Read lvsd's services back from the kernel and undo whatever was
    /// changed by hand (see [`crate::reconcile::drift`]). Returns how long
    /// reading and comparing took (not the repair), which paces the checks
    /// (see [`super::drift_pace`]).
    pub(super) async fn repair_drift(&mut self) -> std::time::Duration {
        let started = std::time::Instant::now();
        let expected = self.reconciler.drift_basis();
        let found = with_table(&self.table, move |t| drift::find(t, &expected)).await;
        let took = started.elapsed();
        let drift = match found {
            Ok(drift) => drift,
            Err(e) => {
                tracing::error!(error = %e, "drift check: cannot read the IPVS table");
                return took;
            }
        };
        tracing::debug!(
            took_ms = took.as_millis() as u64,
            services = drift.changed.len(),
            "drift checked"
        );
        self.count_drift(drift.changed.len());
        if !drift.is_empty() {
            tracing::warn!(
                services = drift.changed.len(),
                "drift: the IPVS table was changed outside lvsd; putting it back"
            );
        }
        self.reconciler.absorb_drift(drift);
        let plan = self.reconciler.plan();
        self.run_scripts(&plan);
        let before = self.writes_total;
        self.apply(plan.changes).await;
        if self.writes_total > before {
            tracing::info!(
                changes = self.writes_total - before,
                writes_total = self.writes_total,
                "drift repaired"
            );
        }
        took
    }

    /// `lvs_sync_daemon`: read the kernel's sync daemons, log what changed
    /// (see [`sync_daemon`]).
    pub(super) async fn watch_sync_daemons(&mut self) {
        match with_table(&self.table, |t| t.sync_daemons()).await {
            Ok(running) => {
                let notices = self.sync.observe(running, std::time::Instant::now());
                sync_daemon::log(&notices);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the sync daemons"),
        }
    }
}
