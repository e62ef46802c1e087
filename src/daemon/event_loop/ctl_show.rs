//! The control socket's reads: `status`, `show vs`, `show rs`, `show
//! probes`. `status` reads only what lvsd holds (no kernel dump), so it
//! stays cheap at any size; `show rs` reads the kernel's table once for the
//! weights and connection counts.

use std::collections::HashMap;

use super::{with_table, Daemon};
use crate::checker::probe;
use crate::control::selector::VsSelector;
use crate::control::view;
use crate::ipvs::{DestEntry, DestKey, ServiceKey};
use crate::reconcile::admin::{now_ms, RsAdmin};
use crate::reconcile::{describe_vs, drain, rs_name, vs_ident};

/// The kernel's destinations, by service and destination: `show rs` reads
/// each one's weight and connection counts.
type InKernel<'d> = HashMap<(ServiceKey, DestKey), &'d DestEntry>;

/// The IPVS sysctls that decide how a drain behaves (see docs/control.md).
const SYSCTLS: [&str; 3] = [
    "expire_nodest_conn",
    "expire_quiescent_template",
    "conn_reuse_mode",
];

fn sysctl(name: &str) -> Option<i64> {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/vs/{name}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Daemon {
    /// `status`.
    pub(super) fn status_view(&self) -> view::Status {
        let r = &self.reconciler;
        let config = r.config();
        let mut real_servers = 0;
        let mut up = 0;
        for (v, vs) in config.virtual_servers.iter().enumerate() {
            real_servers += vs.real_servers.len();
            up += (0..vs.real_servers.len())
                .filter(|&i| r.rs_healthy(v, i))
                .count();
        }
        let mut s = view::Status {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            config_file: self.opts.config.display().to_string(),
            last_reload: self.last_reload.clone(),
            virtual_servers: config.virtual_servers.len(),
            real_servers,
            real_servers_up: up,
            probes: r.probe_count(),
            probes_up: r.probes_up(),
            probe_lag_p99_ms: self
                .engine
                .lag()
                .quantile(0.99)
                .map(|d| d.as_secs_f64() * 1000.0),
            writes_total: self.writes_total,
            drain_timeout_s: self.opts.drain_timeout.as_secs(),
            sysctls: SYSCTLS.iter().map(|n| (n.to_string(), sysctl(n))).collect(),
            sync_daemons: self.sync.wanted().then(|| {
                self.sync
                    .running()
                    .iter()
                    .map(super::super::sync_daemon::describe)
                    .collect()
            }),
            ..Default::default()
        };
        for (_, _, a) in r.admin().iter() {
            match a.word() {
                "draining" => s.draining += 1,
                "drained" => s.drained += 1,
                "disabled" => s.disabled += 1,
                _ => {}
            }
            s.weight_overrides += usize::from(a.weight.is_some());
        }
        s
    }

    /// `show vs`.
    pub(super) fn vs_views(&self, filter: Option<&VsSelector>) -> Vec<view::VirtualServer> {
        let r = &self.reconciler;
        r.config()
            .virtual_servers
            .iter()
            .enumerate()
            .filter(|(_, vs)| filter.is_none_or(|f| f.matches(vs)))
            .map(|(v, vs)| view::VirtualServer {
                vs: describe_vs(vs),
                scheduler: vs.scheduler.clone(),
                real_servers: vs.real_servers.len(),
                up: (0..vs.real_servers.len())
                    .filter(|&i| r.rs_healthy(v, i))
                    .count(),
                admin: r.admin().of_vs(&vs_ident(vs)).map_or(0, |m| m.len()),
                quorum: r.has_quorum(vs),
            })
            .collect()
    }

    /// `show rs`: every real server of the virtual servers `filter` names,
    /// with what the kernel says of it; and the removed ones still draining.
    pub(super) async fn rs_views(&self, filter: Option<&VsSelector>) -> Vec<view::RealServer> {
        let dump = with_table(&self.table, |t| t.dump())
            .await
            .unwrap_or_default();
        let mut kernel = InKernel::new();
        for s in &dump {
            for d in &s.dests {
                kernel.insert((s.service.key, d.dest.key), d);
            }
        }
        let now = now_ms();
        let mut out = self.configured_rs_views(filter, &kernel, now);
        if filter.is_none() {
            self.orphan_rs_views(&kernel, now, &mut out);
        }
        out
    }

    /// `show rs`'s rows for the configured virtual servers `filter` names:
    /// their real servers, then those a reload removed that still drain.
    fn configured_rs_views(
        &self,
        filter: Option<&VsSelector>,
        kernel: &InKernel<'_>,
        now: u64,
    ) -> Vec<view::RealServer> {
        let r = &self.reconciler;
        let mut out = Vec::new();
        for (v, vs) in r.config().virtual_servers.iter().enumerate() {
            if filter.is_some_and(|f| !f.matches(vs)) {
                continue;
            }
            let name = describe_vs(vs);
            let admin = r.admin().of_vs(&vs_ident(vs));
            let keys = r.service_keys(v);
            let row = |key: DestKey, up: Option<bool>, weight: Option<i32>, a: Option<&RsAdmin>| {
                let found = keys.iter().find_map(|k| kernel.get(&(*k, key)));
                view::RealServer {
                    vs: name.clone(),
                    rs: rs_name(key.addr, key.port),
                    up,
                    admin: a.map_or("ready", RsAdmin::word).to_string(),
                    config_weight: weight,
                    weight_override: a.and_then(|a| a.weight),
                    kernel_weight: found.map(|f| f.dest.weight),
                    active: found.map_or(0, |f| f.counts.active),
                    inactive: found.map_or(0, |f| f.counts.inactive),
                    persistent: found.map_or(0, |f| f.counts.persistent),
                    drain_left_s: a
                        .and_then(|a| a.drain)
                        .filter(|d| !d.done)
                        .map(|d| d.deadline_ms.saturating_sub(now).div_ceil(1000)),
                }
            };
            for (i, rs) in vs.real_servers.iter().enumerate() {
                let key = DestKey {
                    addr: rs.addr,
                    port: rs.port,
                };
                let a = admin.and_then(|m| m.get(&key));
                out.push(row(key, Some(r.rs_healthy(v, i)), Some(rs.weight), a));
            }
            for (key, a) in admin.into_iter().flatten() {
                if a.drain.is_some_and(|d| d.removed.is_some()) {
                    out.push(row(*key, None, None, Some(a)));
                }
            }
        }
        out
    }

    /// `show rs`'s rows for the real servers of virtual servers a reload
    /// removed, still draining, added to `out`.
    fn orphan_rs_views(&self, kernel: &InKernel<'_>, now: u64, out: &mut Vec<view::RealServer>) {
        let r = &self.reconciler;
        let configured: std::collections::HashSet<_> =
            r.config().virtual_servers.iter().map(vs_ident).collect();
        for (ident, key, a) in r.admin().iter() {
            if configured.contains(ident) || a.drain.is_none_or(|d| d.done) {
                continue;
            }
            let found = drain::orphan_key(ident, key).and_then(|k| kernel.get(&(k, *key)));
            out.push(view::RealServer {
                vs: drain::orphan_name(ident),
                rs: rs_name(key.addr, key.port),
                up: None,
                admin: a.word().to_string(),
                config_weight: None,
                weight_override: a.weight,
                kernel_weight: found.map(|f| f.dest.weight),
                active: found.map_or(0, |f| f.counts.active),
                inactive: found.map_or(0, |f| f.counts.inactive),
                persistent: found.map_or(0, |f| f.counts.persistent),
                drain_left_s: a
                    .drain
                    .map(|d| d.deadline_ms.saturating_sub(now).div_ceil(1000)),
            });
        }
    }

    /// `show probes`.
    pub(super) fn probe_views(&self) -> Vec<view::Probe> {
        let fanout = self.reconciler.probe_fanout_by_spec();
        let mut out: Vec<view::Probe> = self
            .engine
            .states()
            .into_iter()
            .map(|p| view::Probe {
                check: p.spec.check.keyword().to_string(),
                target: probe::target(&p.spec.check),
                up: p.up,
                failures: p.consecutive_failures,
                probes_sent: p.probes_sent,
                real_servers: fanout.get(&p.spec).copied().unwrap_or(0),
                last: p.last.as_ref().map(|l| l.reason.to_string()),
                latency_ms: p.last.as_ref().map(|l| l.latency.as_secs_f64() * 1000.0),
            })
            .collect();
        out.sort_by(|a, b| (&a.target, &a.check).cmp(&(&b.target, &b.check)));
        out
    }
}
