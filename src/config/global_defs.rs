//! `global_defs { ... }`: every keyword keepalived 2.2 knows is accepted;
//! the checker's own ones are typed into [`GlobalDefs`].

use super::block::Tree;
use super::keywords::{GlobalKw, GLOBAL_OTHER_KEYWORDS};
use super::typer::Typer;
use super::{values, FlushOnStop, LvsTimeouts, SyncDaemon};

/// Checker duties keepalived has that lvsd does not do (yet): each is a
/// warning at its line, never silence (they are in
/// [`GLOBAL_OTHER_KEYWORDS`] too).
const NOT_DONE: &[(&str, &str)] = &[(
    "enable_snmp_checker",
    "lvsd has no SNMP agent, so the checker's MIB is not served; \
         --metrics-listen serves Prometheus metrics and /status (JSON), and \
         `lvsd ctl status` shows the state",
)];

impl Typer<'_> {
    /// Type a `global_defs` block.
    pub fn global_defs(&mut self, tree: &Tree<'_>, node: u32) {
        for child in tree.children(node) {
            self.global_statement(tree, child);
        }
        self.fifo_needs_a_path(tree, node);
    }

    /// One statement of `global_defs`: typed, known and skipped, or unknown.
    fn global_statement(&mut self, tree: &Tree<'_>, child: u32) {
        let kw = tree.keyword(child).clone();
        // Listed with the keywords lvsd does not type (they were).
        match kw.text.as_ref() {
            "net_namespace" => return self.net_namespace(tree, child),
            "notify_fifo" | "lvs_notify_fifo" | "notify_fifo_script" | "lvs_notify_fifo_script" => {
                return self.notify_fifo(tree, child)
            }
            _ => {}
        }
        let Some(which) = GlobalKw::from_name(&kw.text) else {
            if let Some((_, why)) = NOT_DONE.iter().find(|(k, _)| *k == kw.text) {
                self.warning(&kw, format!("`{}`: {why}", kw.text));
            } else if !GLOBAL_OTHER_KEYWORDS.contains(&kw.text.as_ref()) {
                self.unknown(&kw, "in global_defs");
            }
            return;
        };
        if which != GlobalKw::NotificationEmail {
            self.no_block(tree, child);
        }
        let g = &mut self.config.global;
        match which {
            GlobalKw::RouterId => {
                if let Some(id) = self.string_arg(tree, child, "a name") {
                    self.config.global.router_id = Some(id);
                }
            }
            GlobalKw::LvsId => {
                self.warning(&kw, "`lvs_id` is keepalived 1.x's name for `router_id`; keepalived 2.2 ignores it, lvsd reads it as `router_id`");
                if let Some(id) = self.string_arg(tree, child, "a name") {
                    self.config.global.router_id.get_or_insert(id);
                }
            }
            GlobalKw::LvsFlush => g.lvs_flush = true,
            GlobalKw::LvsFlushOnstop | GlobalKw::LvsFlushOnStop => {
                self.lvs_flush_onstop(tree, child)
            }
            GlobalKw::LvsTimeouts => self.lvs_timeouts(tree, child),
            GlobalKw::LvsSyncDaemon => self.lvs_sync_daemon(tree, child),
            GlobalKw::ScriptUser => {
                if let Some(account) = self.account(tree, child) {
                    self.config.global.script_user = Some(account);
                }
            }
            GlobalKw::EnableScriptSecurity => g.enable_script_security = true,
            GlobalKw::CheckerLogAllFailures => {
                if let Some(v) = self.flag_arg(tree, child) {
                    self.config.global.checker_log_all_failures = v;
                }
            }
            GlobalKw::NotificationEmail => self.notification_email(tree, child),
            GlobalKw::SmtpConnectTimeout => {
                if let Some(v) = self.uint_arg::<u32>(tree, child, "a number of seconds") {
                    self.config
                        .global
                        .notification
                        .push((kw.text.to_string(), v.to_string()));
                }
            }
            GlobalKw::BfdPriority => {
                let nice = self.parsed(tree, child, 0, "a nice value, -20 to 19", |w| {
                    values::int(w)
                        .filter(|n| (-20..=19).contains(n))
                        .and_then(|n| i8::try_from(n).ok())
                });
                if nice.is_some() {
                    self.config.global.bfd_scheduling.nice = nice;
                }
            }
            GlobalKw::BfdRtPriority => {
                let rt = self.parsed(tree, child, 0, "a real-time priority, 1 to 99", |w| {
                    values::uint::<u8>(w).filter(|p| (1..=99).contains(p))
                });
                if rt.is_some() {
                    self.config.global.bfd_scheduling.rt_priority = rt;
                }
            }
            GlobalKw::NotificationEmailFrom
            | GlobalKw::SmtpServer
            | GlobalKw::SmtpHeloName
            | GlobalKw::SmtpAlert
            | GlobalKw::SmtpAlertChecker
            | GlobalKw::NoEmailFaults
            | GlobalKw::NoCheckerEmails => self.notification_setting(tree, child),
        }
    }

    /// A mail setting kept as written (`smtp_server`, `notification_email_from`,
    /// ...): its keyword and its words.
    fn notification_setting(&mut self, tree: &Tree<'_>, child: u32) {
        let value = tree
            .args(child)
            .iter()
            .map(|t| t.text.as_ref())
            .collect::<Vec<_>>()
            .join(" ");
        let kw = tree.keyword(child).text.to_string();
        self.config.global.notification.push((kw, value));
    }

    /// `lvs_flush_onstop [VS|RS]`: what lvsd removes at stop.
    fn lvs_flush_onstop(&mut self, tree: &Tree<'_>, child: u32) {
        let mode = match tree.args(child).first().map(|t| t.text.as_ref()) {
            None => Some(FlushOnStop::All),
            Some("VS") => Some(FlushOnStop::VirtualServers),
            Some("RS") => Some(FlushOnStop::RealServers),
            Some(_) => {
                let t = tree.args(child)[0].clone();
                self.error(
                    &t,
                    format!("expected nothing, `VS` or `RS`, found `{}`", t.text),
                );
                None
            }
        };
        self.config.global.lvs_flush_onstop = mode.or(self.config.global.lvs_flush_onstop);
    }

    /// `notification_email { ... }` (or its addresses on its own line):
    /// each address a notification setting of its own.
    fn notification_email(&mut self, tree: &Tree<'_>, child: u32) {
        let mut addresses: Vec<String> = tree
            .args(child)
            .iter()
            .map(|t| t.text.to_string())
            .collect();
        for addr in tree.children(child) {
            addresses.push(tree.keyword(addr).text.to_string());
            addresses.extend(tree.args(addr).iter().map(|t| t.text.to_string()));
        }
        for a in addresses {
            self.config
                .global
                .notification
                .push(("notification_email".into(), a));
        }
    }

    /// A `[lvs_]notify_fifo_script` without its `[lvs_]notify_fifo` has no
    /// FIFO to read: a warning, and nothing is run.
    fn fifo_needs_a_path(&mut self, tree: &Tree<'_>, node: u32) {
        let kw = tree.keyword(node).clone();
        for lvs in [false, true] {
            let g = &mut self.config.global;
            let slot = if lvs {
                &mut g.lvs_notify_fifo
            } else {
                &mut g.notify_fifo
            };
            if slot.as_ref().is_some_and(|f| f.path.is_empty()) {
                *slot = None;
                let name = if lvs {
                    "lvs_notify_fifo"
                } else {
                    "notify_fifo"
                };
                self.warning(&kw, format!("`{name}_script` without `{name}`: there is no FIFO for it to read; ignored"));
            }
        }
    }

    /// `net_namespace NAME`, in `global_defs` or at top level, as keepalived
    /// takes it: lvsd runs in `/run/netns/NAME`.
    pub fn net_namespace(&mut self, tree: &Tree<'_>, node: u32) {
        self.no_block(tree, node);
        if let Some(name) = self.string_arg(tree, node, "a network namespace name") {
            self.config.global.net_namespace = Some(name);
        }
    }

    /// `[lvs_]notify_fifo FILE [USER [GROUP]]` and
    /// `[lvs_]notify_fifo_script COMMAND`: where the checker's state changes
    /// are written, one line each, and what reads them.
    fn notify_fifo(&mut self, tree: &Tree<'_>, node: u32) {
        self.no_block(tree, node);
        let kw = tree.keyword(node).clone();
        let lvs = kw.text.starts_with("lvs_");
        let is_script = kw.text.ends_with("_script");
        let what = if is_script {
            "a command"
        } else {
            "a file name"
        };
        let Some(first) = self.string_arg(tree, node, what) else {
            return;
        };
        let g = &mut self.config.global;
        let fifo = if lvs {
            &mut g.lvs_notify_fifo
        } else {
            &mut g.notify_fifo
        }
        .get_or_insert_default();
        if is_script {
            let words: Vec<&str> = tree.args(node).iter().map(|t| t.text.as_ref()).collect();
            fifo.script = Some(words.join(" "));
        } else {
            // USER and GROUP own the FIFO in keepalived; lvsd's is root's, 0600.
            fifo.path = first;
        }
    }

    /// `lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]`.
    fn lvs_timeouts(&mut self, tree: &Tree<'_>, node: u32) {
        let mut t = LvsTimeouts::default();
        let args = tree.args(node).to_vec();
        if args.is_empty() {
            let kw = tree.keyword(node).clone();
            self.error(
                &kw,
                "`lvs_timeouts` needs at least one of `tcp SECS`, `tcpfin SECS`, `udp SECS`",
            );
            return;
        }
        let mut i = 0;
        while i < args.len() {
            let slot = match args[i].text.as_ref() {
                "tcp" => &mut t.tcp,
                "tcpfin" => &mut t.tcpfin,
                "udp" => &mut t.udp,
                other => {
                    let other = other.to_owned();
                    self.error(
                        &args[i],
                        format!("expected `tcp`, `tcpfin` or `udp`, found `{other}`"),
                    );
                    return;
                }
            };
            let Some(v) = args.get(i + 1) else {
                self.error(
                    &args[i],
                    format!("`{}` needs a number of seconds", args[i].text),
                );
                return;
            };
            match values::uint::<u32>(&v.text) {
                Some(secs) => *slot = secs,
                None => {
                    self.error(
                        v,
                        format!("expected a number of seconds, found `{}`", v.text),
                    );
                    return;
                }
            }
            i += 2;
        }
        self.config.global.lvs_timeouts = Some(t);
    }

    /// `lvs_sync_daemon IFACE [inst] INSTANCE [id N] [maxlen N] [port N] [ttl N] [group IP]`.
    fn lvs_sync_daemon(&mut self, tree: &Tree<'_>, node: u32) {
        let args = tree.args(node).to_vec();
        let Some(interface) = self
            .arg(tree, node, 0, "an interface and a VRRP instance")
            .map(|t| t.text.to_string())
        else {
            return;
        };
        let mut i = 1;
        if args.get(i).is_some_and(|t| t.text == "inst") {
            i += 1;
        }
        let Some(instance) = args.get(i).map(|t| t.text.to_string()) else {
            let at = args
                .last()
                .cloned()
                .unwrap_or_else(|| tree.keyword(node).clone());
            self.error(
                &at,
                "`lvs_sync_daemon` needs a VRRP instance name after the interface",
            );
            return;
        };
        i += 1;
        let mut d = SyncDaemon {
            interface,
            instance,
            sync_id: 0,
            maxlen: None,
            port: None,
            ttl: None,
            group: None,
        };
        while i < args.len() {
            let key = args[i].clone();
            let Some(v) = args.get(i + 1).cloned() else {
                self.error(&key, format!("`{}` needs a value", key.text));
                return;
            };
            let ok = match key.text.as_ref() {
                "id" => self
                    .value(&v, "a sync id (0-255)", values::uint::<u8>)
                    .map(|x| d.sync_id = x),
                "maxlen" => self
                    .value(&v, "a length (1-65507)", values::uint::<u16>)
                    .map(|x| d.maxlen = Some(x)),
                "port" => self
                    .value(&v, "a port", values::uint::<u16>)
                    .map(|x| d.port = Some(x)),
                "ttl" => self
                    .value(&v, "a TTL (1-255)", values::uint::<u8>)
                    .map(|x| d.ttl = Some(x)),
                "group" => self
                    .value(&v, "a multicast address", values::ip)
                    .map(|x| d.group = Some(x)),
                other => {
                    let other = other.to_owned();
                    self.error(
                        &key,
                        format!("expected id, maxlen, port, ttl or group, found `{other}`"),
                    );
                    None
                }
            };
            if ok.is_none() {
                return;
            }
            i += 2;
        }
        self.config.global.lvs_sync_daemon = Some(d);
    }
}
