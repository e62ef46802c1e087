//! What a config must have before lvsd runs it: the mistakes that parse
//! cleanly but would empty the table.
//!
//! A config can be valid and still not be the one the operator meant:
//!
//! - an `include` that reads no file (the file was moved away, a `conf.d/`
//!   directory was emptied): keepalived goes on without it. At start lvsd
//!   does too (the log says so); on a **reload** the running config had
//!   what it named, so applying the rest would remove those services on a
//!   half-read config. The reload is refused.
//! - a config that asks for **no service at all** (an empty file, the wrong
//!   file): at start lvsd would have nothing to check; on a reload every
//!   service lvsd runs would be removed at once. Both are refused unless the
//!   operator said so with `--allow-empty-config` (stopping lvsd is the
//!   other explicit way to take its services out of the table).
//!
//! A refusal is logged with its cause and sent to systemd as `STATUS=`.

use std::fmt;

use super::DaemonOptions;
use crate::config::{Config, Loaded, UnreadInclude};
use crate::reconcile::desired::service_keys;

/// Why a config that parsed is not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A reload whose `include` lines read no file.
    UnreadIncludes(Vec<UnreadInclude>),
    /// The file holds nothing but blanks and comments.
    EmptyFile(String),
    /// The config asks for no IPVS service.
    NoService(String),
    /// A reload would move lvsd to another network namespace.
    NamespaceChanged {
        /// The namespace lvsd runs in (None: the one it was started in).
        running: Option<String>,
        /// The one the new config names.
        wanted: Option<String>,
    },
    /// A reload would remove every service lvsd runs.
    WouldRemoveAll {
        /// The config file.
        path: String,
        /// How many services lvsd runs now.
        services: usize,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::UnreadIncludes(unread) => {
                if let Some(first) = unread.first() {
                    write!(f, "{first} (missing, unreadable, or matching nothing)")?;
                }
                if unread.len() > 1 {
                    write!(f, ", and {} more include(s) like it", unread.len() - 1)?;
                }
                write!(f, "; every file the config names must be read")
            }
            Refusal::EmptyFile(path) => write!(
                f,
                "{path} is empty (nothing but blanks and comments); \
                 --allow-empty-config runs it anyway"
            ),
            Refusal::NoService(path) => write!(
                f,
                "{path} defines no virtual_server with a real server: lvsd would \
                 check nothing; --allow-empty-config runs it anyway"
            ),
            Refusal::NamespaceChanged { running, wanted } => {
                let name = |n: &Option<String>| match n {
                    Some(n) => format!("`{n}`"),
                    None => "none".to_owned(),
                };
                write!(
                    f,
                    "net_namespace changes from {} to {}: lvsd enters a namespace \
                     only at start; restart it to move",
                    name(running),
                    name(wanted)
                )
            }
            Refusal::WouldRemoveAll { path, services } => write!(
                f,
                "{path} defines no virtual_server with a real server: the reload would remove all \
                 {services} services lvsd runs; start lvsd with --allow-empty-config \
                 to allow this (or stop lvsd to remove them)"
            ),
        }
    }
}

/// Whether `config` asks for at least one IPVS service.
fn has_service(config: &Config) -> bool {
    config
        .virtual_servers
        .iter()
        .any(|vs| !service_keys(config, vs).is_empty())
}

/// The checks at start: a config with no service is refused unless
/// allowed, and one whose include reads no file with `-e` (`all_config`).
pub fn at_start(loaded: &Loaded, opts: &DaemonOptions) -> Result<(), Refusal> {
    if opts.all_config && !loaded.unread_includes.is_empty() {
        return Err(Refusal::UnreadIncludes(loaded.unread_includes.clone()));
    }
    if opts.allow_empty_config || has_service(&loaded.config) {
        return Ok(());
    }
    let path = opts.config.display().to_string();
    Err(if loaded.statements == 0 {
        Refusal::EmptyFile(path)
    } else {
        Refusal::NoService(path)
    })
}

/// The checks on a reload, while lvsd runs `running` services of the
/// config `now`: every include must read a file, the network namespace
/// stays (unless `-s` chose it), and a config that empties the table must
/// be allowed.
pub fn at_reload(
    loaded: &Loaded,
    opts: &DaemonOptions,
    now: &Config,
    running: usize,
) -> Result<(), Refusal> {
    if !loaded.unread_includes.is_empty() {
        return Err(Refusal::UnreadIncludes(loaded.unread_includes.clone()));
    }
    let wanted = &loaded.config.global.net_namespace;
    if opts.namespace.is_none() && *wanted != now.global.net_namespace {
        return Err(Refusal::NamespaceChanged {
            running: now.global.net_namespace.clone(),
            wanted: wanted.clone(),
        });
    }
    let (path, allow_empty) = (&opts.config, opts.allow_empty_config);
    if allow_empty || running == 0 || has_service(&loaded.config) {
        return Ok(());
    }
    Err(Refusal::WouldRemoveAll {
        path: path.display().to_string(),
        services: running,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_bytes, LoadOptions};

    fn loaded(text: &str) -> Loaded {
        load_bytes(
            std::path::Path::new("/nonexistent/k.conf"),
            text.as_bytes().to_vec(),
            &LoadOptions::default(),
        )
        .unwrap()
    }

    const ONE_VS: &str =
        "virtual_server 127.0.0.1 80 {\n protocol TCP\n real_server 127.0.0.2 80 {\n }\n}\n";

    fn start_opts(allow_empty_config: bool, all_config: bool) -> DaemonOptions {
        DaemonOptions {
            config: "k.conf".into(),
            allow_empty_config,
            all_config,
            ..DaemonOptions::default()
        }
    }

    #[test]
    fn an_empty_file_is_refused_at_start_unless_allowed() {
        let empty = loaded("# nothing\n\n");
        assert!(matches!(
            at_start(&empty, &start_opts(false, false)),
            Err(Refusal::EmptyFile(_))
        ));
        assert!(at_start(&empty, &start_opts(true, false)).is_ok());
        let vrrp_only = loaded("global_defs {\n router_id x\n}\n");
        assert!(matches!(
            at_start(&vrrp_only, &start_opts(false, false)),
            Err(Refusal::NoService(_))
        ));
        assert!(at_start(&loaded(ONE_VS), &start_opts(false, false)).is_ok());
    }

    #[test]
    fn a_reload_that_empties_the_table_is_refused_unless_allowed() {
        let empty = loaded("");
        let now = loaded(ONE_VS).config;
        let refused = at_reload(&empty, &start_opts(false, false), &now, 3).unwrap_err();
        assert!(
            refused.to_string().contains("remove all 3 services"),
            "{refused}"
        );
        assert!(at_reload(&empty, &start_opts(true, false), &now, 3).is_ok());
        assert!(at_reload(&empty, &start_opts(false, false), &now, 0).is_ok());
        assert!(at_reload(&loaded(ONE_VS), &start_opts(false, false), &now, 3).is_ok());
    }

    #[test]
    fn a_reload_cannot_move_lvsd_to_another_namespace() {
        let now = loaded(&format!("net_namespace blue\n{ONE_VS}")).config;
        let moved = loaded(&format!(
            "global_defs {{\n net_namespace green\n}}\n{ONE_VS}"
        ));
        let refused = at_reload(&moved, &start_opts(false, false), &now, 1).unwrap_err();
        assert!(
            refused.to_string().contains("from `blue` to `green`"),
            "{refused}"
        );
        // -s chose the namespace: the config's does not matter.
        let mut opts = start_opts(false, false);
        opts.namespace = Some("red".into());
        assert!(at_reload(&moved, &opts, &now, 1).is_ok());
        let same = loaded(&format!("net_namespace blue\n{ONE_VS}"));
        assert!(at_reload(&same, &start_opts(false, false), &now, 1).is_ok());
    }

    #[test]
    fn a_reload_with_an_include_that_reads_nothing_is_refused() {
        let text = format!("include /nonexistent/conf.d/*.conf\n{ONE_VS}");
        let with_glob = loaded(&text);
        let now = loaded(ONE_VS).config;
        let refused = at_reload(&with_glob, &start_opts(true, false), &now, 1).unwrap_err();
        let said = refused.to_string();
        assert!(
            said.contains("k.conf:1:1") && said.contains("include /nonexistent/conf.d/*.conf"),
            "{said}"
        );
        assert!(at_start(&with_glob, &start_opts(false, false)).is_ok());
        // -e: every include must read a file at start too.
        assert!(matches!(
            at_start(&with_glob, &start_opts(false, true)),
            Err(Refusal::UnreadIncludes(_))
        ));
    }
}
