//! Tables for people: what `lvsd ctl` prints without `--json`.

use std::fmt::Write as _;

use super::view;

/// One row per item of `list` (its cells from `row`), as aligned columns
/// under `header`.
fn table<T>(header: &[&str], list: &[T], row: impl Fn(&T) -> Vec<String>) -> String {
    let rows: Vec<Vec<String>> = list.iter().map(row).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            let _ = write!(text, "{cell:<w$}  ", w = widths[i]);
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in &rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// A value, or `-` for none.
fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// `status`.
pub fn status(s: &view::Status) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lvsd {} (pid {}), config {}",
        s.version, s.pid, s.config_file
    );
    match &s.last_reload {
        None => out.push_str("last reload: none since start\n"),
        Some(r) if r.ok => {
            let _ = writeln!(out, "last reload: applied ({})", r.message);
        }
        Some(r) => {
            let _ = writeln!(
                out,
                "last reload: REFUSED, the previous config runs: {}",
                r.message
            );
        }
    }
    let _ = writeln!(
        out,
        "virtual servers: {}   real servers: {} ({} up, {} down)",
        s.virtual_servers,
        s.real_servers,
        s.real_servers_up,
        s.real_servers.saturating_sub(s.real_servers_up)
    );
    let _ = writeln!(
        out,
        "admin: {} draining, {} drained, {} disabled, {} weight overrides (drain timeout {} s)",
        s.draining, s.drained, s.disabled, s.weight_overrides, s.drain_timeout_s
    );
    let lag = opt(s.probe_lag_p99_ms.map(|ms| format!("{ms:.1} ms")));
    let _ = writeln!(
        out,
        "probes: {} ({} up), schedule lag p99 {lag}   table writes since start: {}",
        s.probes, s.probes_up, s.writes_total
    );
    let sysctls: Vec<String> = s
        .sysctls
        .iter()
        .map(|(k, v)| format!("{k}={}", opt(*v)))
        .collect();
    let _ = writeln!(out, "sysctl: {}", sysctls.join(" "));
    if let Some(daemons) = &s.sync_daemons {
        let running = match daemons.is_empty() {
            true => "none runs".to_string(),
            false => daemons.join(", "),
        };
        let _ = writeln!(out, "sync daemon (run by VRRP): {running}");
    }
    out
}

/// `show vs`.
pub fn virtual_servers(list: &[view::VirtualServer]) -> String {
    table(
        &["VIRTUAL SERVER", "SCHED", "UP", "ADMIN", "QUORUM"],
        list,
        |v| {
            vec![
                v.vs.clone(),
                v.scheduler.clone(),
                format!("{}/{}", v.up, v.real_servers),
                v.admin.to_string(),
                if v.quorum { "up" } else { "DOWN" }.into(),
            ]
        },
    )
}

/// `show rs`.
pub fn real_servers(list: &[view::RealServer]) -> String {
    table(
        &[
            "VIRTUAL SERVER",
            "REAL SERVER",
            "HEALTH",
            "ADMIN",
            "WEIGHT",
            "KERNEL",
            "ACTIVE",
            "INACT",
            "PERSIST",
            "DRAIN LEFT",
        ],
        list,
        |r| {
            let weight = match (r.weight_override, r.config_weight) {
                (Some(o), _) => format!("{o}*"),
                (None, w) => opt(w),
            };
            vec![
                r.vs.clone(),
                r.rs.clone(),
                match r.up {
                    Some(true) => "up".into(),
                    Some(false) => "DOWN".into(),
                    None => "removed".into(),
                },
                r.admin.clone(),
                weight,
                opt(r.kernel_weight),
                r.active.to_string(),
                r.inactive.to_string(),
                r.persistent.to_string(),
                opt(r.drain_left_s.map(|s| format!("{s}s"))),
            ]
        },
    )
}

/// `show probes`.
pub fn probes(list: &[view::Probe]) -> String {
    table(
        &["CHECK", "TARGET", "STATE", "FAILS", "RS", "LATENCY", "LAST"],
        list,
        |p| {
            vec![
                p.check.clone(),
                p.target.clone(),
                if p.up { "up" } else { "DOWN" }.into(),
                p.failures.to_string(),
                p.real_servers.to_string(),
                opt(p.latency_ms.map(|ms| format!("{ms:.1}ms"))),
                opt(p.last.clone()),
            ]
        },
    )
}

/// `drain`, `disable`, `enable`, `weight`.
pub fn changed(list: &[view::Changed]) -> String {
    table(&["VIRTUAL SERVER", "REAL SERVER", "ADMIN", ""], list, |c| {
        vec![
            c.vs.clone(),
            c.rs.clone(),
            c.admin.clone(),
            if c.changed { "changed" } else { "unchanged" }.into(),
        ]
    })
}

/// `check`.
pub fn checks(list: &[view::CheckRun]) -> String {
    table(
        &[
            "VIRTUAL SERVER",
            "REAL SERVER",
            "CHECK",
            "RESULT",
            "TOOK",
            "REASON",
        ],
        list,
        |c| {
            vec![
                c.vs.clone(),
                c.rs.clone(),
                c.check.clone(),
                if c.ok { "ok" } else { "FAILED" }.into(),
                format!("{:.1}ms", c.latency_ms),
                c.reason.clone(),
            ]
        },
    )
}

/// `reload`.
pub fn reload(r: &view::Reload) -> String {
    let mut out = String::new();
    for d in &r.diagnostics {
        out.push_str(d);
        out.push('\n');
    }
    if r.ok {
        let _ = writeln!(out, "{}", r.message);
    } else {
        let _ = writeln!(
            out,
            "reload REFUSED, the previous config runs: {}",
            r.message
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let t = table(&["A", "LONG"], &["wide cell"], |a| {
            vec![a.to_string(), "x".into()]
        });
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0].find("LONG"), lines[1].find('x'));
    }
}
