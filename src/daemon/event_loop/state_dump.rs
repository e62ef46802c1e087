//! SIGUSR1's state dump (also `/status` and `lvsd ctl status`'s source):
//! the config in force, every real server's health, every probe's state
//! and last verdict, the schedule, the kernel's table and sync daemons.

use super::{with_table, Daemon};
use crate::daemon::state::{self, ProbeDump, StateDump};

impl Daemon {
    /// SIGUSR1: the full state as JSON to the state file, a summary to the log.
    pub(super) async fn dump_state(&self) {
        let dump = self.state_dump().await;
        let up = dump.real_servers.iter().filter(|r| r.up).count();
        match state::write(&self.opts.state_file, &dump) {
            Ok(()) => tracing::info!(
                file = %self.opts.state_file.display(),
                virtual_servers = dump.config.virtual_servers.len(),
                real_servers = dump.real_servers.len(),
                up,
                probes = dump.probes.len(),
                "state written"
            ),
            Err(e) => {
                tracing::error!(file = %self.opts.state_file.display(), error = %e, "cannot write the state")
            }
        }
    }

    /// The state dump (SIGUSR1's file, `/status`), with the kernel's table
    /// and sync daemons as read now.
    pub(super) async fn state_dump(&self) -> StateDump<'_> {
        let (table, sync_daemons) = with_table(&self.table, |t| {
            (
                t.dump().unwrap_or_default(),
                t.sync_daemons().unwrap_or_default(),
            )
        })
        .await;
        let fanout = self.reconciler.probe_fanout_by_spec();
        let probes: Vec<ProbeDump> = self
            .engine
            .states()
            .into_iter()
            .map(|state| ProbeDump {
                real_servers: fanout.get(&state.spec).copied().unwrap_or(0),
                state,
            })
            .collect();
        let real_servers = self.reconciler.real_server_states();
        StateDump {
            version: env!("CARGO_PKG_VERSION"),
            writes_total: self.writes_total,
            config: self.reconciler.config(),
            real_servers,
            probes,
            table,
            bfd: self.engine.bfd_status(),
            sync_daemons,
            schedule: self.engine.lag().summary(),
        }
    }
}
