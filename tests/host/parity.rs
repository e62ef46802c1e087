//! keepalived.conf as operators write it: parity with `keepalived -t`.
//!
//! Each row of [`ROWS`] is one class of difference found between lvsd and
//! keepalived 2.2.7 on real configs, shown by a small config of our own in
//! `tests/data/keepalived-t/parity/NAME.conf`, with what `keepalived -t`
//! said about it recorded beside it (`NAME.txt`, by `record.sh` there).
//! For every row:
//!
//! - **what runs**: the model lvsd builds, rendered as the table it would
//!   ask for ([`table`]), equals the row's `runs`, written from what
//!   keepalived does with the config (its parser's rules; the classes that
//!   change the table are also run under both programs in the guest by
//!   `tests/kernel_samples.rs`);
//! - **what is said**: every line keepalived reports has an lvsd warning or
//!   error on that line (or on the line the row's `moved` names, where lvsd
//!   points at a better place), each keepalived message without a line has
//!   its lvsd counterpart ([`LINELESS`]), and lvsd reports no other line
//!   than those and the row's `ours_only` (lvsd's own better warnings);
//! - **the exit status** of `lvsd -t` is 0 exactly when keepalived's is.
//!
//! A new class is one more config, one `record.sh` run and one more row.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use lvsd::config::{
    load, Check, Config, ConfigError, Diagnostic, LoadOptions, Severity, VsAddress,
};

/// One class: its config's name, the table lvsd must build (`None`: the
/// config is refused, as lvsd's daemon would refuse it), keepalived's lines
/// that lvsd reports on another line (keepalived's, lvsd's), and lines only
/// lvsd reports.
struct Row {
    name: &'static str,
    runs: Option<&'static [&'static str]>,
    moved: &'static [(u32, u32)],
    ours_only: &'static [u32],
    /// keepalived's lines lvsd deliberately says nothing about (each a
    /// row of docs/differences.md).
    theirs_only: &'static [u32],
}

/// The table of the configs with one service and one real server, NAT.
const ONE_SERVER: &[&str] = &[
    "VS [192.0.2.1]:80 Tcp rr p0 q1 h0",
    "  RS 198.51.100.1:80 Masq w1 Tcp:80",
];

const ROWS: &[Row] = &[
    // bfd_instance values out of keepalived's ranges, `multihop` (unknown
    // in 2.2.7), a second instance for one neighbour (keepalived names the
    // block's end, lvsd its start) and a BFD_CHECK naming no instance:
    // keepalived drops them, lvsd refuses the config.
    // Every bfd_instance keyword keepalived 2.2.7 knows, and BFD_CHECKs
    // (one with `alpha`) of one instance: accepted by both.
    Row {
        name: "bfd_check",
        runs: Some(&[
            "VS [192.0.2.1]:80 Tcp rr p0 q1 h0",
            "  RS 198.51.100.1:80 Masq w1 Other:0 retry0 alpha",
            "  RS 198.51.100.2:80 Masq w1 Other:0 retry0",
        ]),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    // One real server with two BFD_CHECKs of one instance: keepalived
    // names the second's `name` line, lvsd its block.
    Row {
        name: "bfd_check_twice",
        runs: None,
        moved: &[(13, 12)],
        ours_only: &[],
        theirs_only: &[],
    },
    Row {
        name: "bfd_instance",
        runs: None,
        moved: &[(9, 7)],
        ours_only: &[],
        theirs_only: &[],
    },
    // `alpha 1`, `alpha no`, `inhibit_on_failure no` in a virtual_server:
    // on (lvsd says so); `alpha 1`, `inhibit_on_failure ON` in a
    // real_server: ignored.
    Row {
        name: "alpha_argument",
        runs: Some(&[
            "VS [192.0.2.1]:80 Tcp rr p0 q1 h0 alpha",
            "  RS 198.51.100.1:80 Masq w1 Tcp:80 alpha",
            "VS [192.0.2.2]:80 Tcp rr p0 q1 h0 alpha",
            "  RS 198.51.100.1:80 Masq w1 inhibit Tcp:80 alpha",
            "VS [192.0.2.3]:80 Tcp rr p0 q1 h0",
            "  RS 198.51.100.1:80 Masq w1 Tcp:80",
            "  RS 198.51.100.2:80 Masq w1 Tcp:80 alpha",
        ]),
        moved: &[],
        ours_only: &[9, 21, 22],
        theirs_only: &[],
    },
    // ~SEQ(n, $FIRST, $STEP, $LAST): three group entries.
    Row {
        name: "seq_variables",
        runs: Some(&[
            "GROUP web 192.0.2.1:80 192.0.2.2:80 192.0.2.3:80",
            "VS group web Tcp rr p0 q1 h0",
            "  RS 198.51.100.1:80 Masq w1 Tcp:80",
        ]),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    // Comment lines inside a multi-line definition.
    Row {
        name: "multiline_definition",
        runs: Some(&[
            "VS [192.0.2.1]:80 Tcp rr p0 q1 h0",
            "  RS 198.51.100.1:80 Masq w1 Tcp:8080",
        ]),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    // A definition ended by an empty line.
    Row {
        name: "multiline_empty_end",
        runs: Some(&[
            "VS [192.0.2.1]:80 Tcp rr p0 q1 h0",
            "  RS 198.51.100.1:80 Masq w2 inhibit Tcp:80",
        ]),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    // A real_server block in a definition, repeated by ~SEQ with ${i}.
    Row {
        name: "seq_real_server_block",
        runs: Some(&[
            "VS [192.0.2.1]:80 Tcp rr p0 q1 h0",
            "  RS 198.51.100.1:80 Masq w1 Tcp:80",
            "  RS 198.51.100.2:80 Masq w2 Tcp:80",
            "  RS 198.51.100.3:80 Masq w3 Tcp:80",
        ]),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    // `lb_kind dr`: NAT.
    Row {
        name: "lb_kind_lower_case",
        runs: Some(ONE_SERVER),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    // `TCP_CHEKC {`: its `}` closes the real_server, the next one the
    // virtual server; the second real server is read at top level and
    // lost (lvsd skips that block whole: one warning for keepalived's
    // one a line).
    Row {
        name: "misspelled_checker",
        runs: Some(&[
            "VS [192.0.2.1]:80 Tcp rr p0 q1 h0",
            "  RS 198.51.100.1:80 Masq w1",
            "VS [192.0.2.2]:80 Tcp rr p0 q1 h0",
            "  RS 198.51.100.3:80 Masq w1 Tcp:80",
        ]),
        moved: &[(14, 13), (15, 13), (16, 13), (17, 13)],
        ours_only: &[],
        theirs_only: &[],
    },
    // A script_user that does not exist: keepalived drops the MISC_CHECK
    // (reported at its `}`), lvsd refuses the config.
    Row {
        name: "script_user_missing",
        runs: None,
        moved: &[(13, 11)],
        ours_only: &[],
        theirs_only: &[],
    },
    Row {
        name: "nb_get_retry",
        runs: Some(&[
            "VS [192.0.2.1]:80 Tcp rr p0 q1 h0",
            "  RS 198.51.100.1:80 Masq w1 Http:80 retry4",
        ]),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    Row {
        name: "quorum",
        runs: Some(&[
            "VS [192.0.2.1]:80 Tcp rr p0 q5 h0",
            "  RS 198.51.100.1:80 Masq w2 Tcp:80",
            "  RS 198.51.100.2:80 Masq w3 Tcp:80",
            "VS [192.0.2.2]:80 Tcp rr p0 q1 h0",
            "  RS 198.51.100.1:80 Masq w1 Tcp:80",
            "VS [192.0.2.3]:80 Tcp rr p0 q2 h1",
            "  RS 198.51.100.1:80 Masq w1 Tcp:80",
            "  RS 198.51.100.2:80 Masq w1 Tcp:80",
        ]),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    Row {
        name: "persistence_timeout_zero",
        runs: Some(ONE_SERVER),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    Row {
        name: "unknown_scheduler",
        runs: Some(&[
            "VS [192.0.2.1]:80 Tcp wlc p0 q1 h0",
            "  RS 198.51.100.1:80 Masq w1 Tcp:80",
            "VS [192.0.2.2]:80 Tcp wlc p0 q1 h0",
            "  RS 198.51.100.1:80 Masq w1 Tcp:80",
        ]),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    // TUN resets a real server's and a sorry server's port (the check
    // still probes the port written); port 0 is the service's; a fwmark
    // service's DR real and sorry servers lose their port; a service
    // without a port becomes persistent.
    Row {
        name: "ports",
        runs: Some(&[
            "VS [192.0.2.1]:80 Tcp rr p0 q1 h0 sorry 198.51.100.9:80 Tunnel",
            "  RS 198.51.100.1:80 Tunnel w1 Tcp:8080",
            "VS [192.0.2.2]:80 Tcp rr p0 q1 h0",
            "  RS 198.51.100.1:80 Masq w1 Tcp:80",
            "VS fwmark 7 Tcp rr p0 q1 h0 sorry 198.51.100.9:0 Route",
            "  RS 198.51.100.1:0 Route w1 Tcp:80",
            "VS [192.0.2.3]:0 Tcp rr p360 q1 h0",
            "  RS 198.51.100.1:80 Masq w1 Tcp:80",
        ]),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    Row {
        name: "group_ports",
        runs: Some(&[
            "GROUP web 192.0.2.1:80 192.0.2.2:443",
            "VS group web Tcp rr p0 q1 h0 sorry 198.51.100.9:8080 Route",
            "  RS 198.51.100.1:80 Route w1 Tcp:80",
        ]),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    // keepalived reports at the real server's `}`, lvsd at its address.
    Row {
        name: "address_family",
        runs: Some(ONE_SERVER),
        moved: &[(11, 7)],
        ours_only: &[],
        theirs_only: &[],
    },
    // A sorry server and no real server: the virtual server is ignored.
    Row {
        name: "sorry_server_only",
        runs: Some(&[]),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    // A script that exists, without enable_script_security.
    Row {
        name: "scripts_without_security",
        runs: Some(ONE_SERVER),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    // enable_script_security without script_user: keepalived's default
    // script user must exist (this host has no keepalived_script).
    Row {
        name: "script_default_user_missing",
        runs: Some(ONE_SERVER),
        moved: &[],
        ours_only: &[],
        theirs_only: &[],
    },
    // Debian's keepalived 2.2.7 is built without namespace support and
    // calls it unknown; lvsd runs in that namespace (docs/differences.md).
    Row {
        name: "net_namespace",
        runs: Some(ONE_SERVER),
        moved: &[],
        ours_only: &[],
        theirs_only: &[3],
    },
];

/// keepalived messages without a line, and what lvsd's counterpart says
/// (the first entry whose text keepalived's message holds is used).
const LINELESS: &[(&str, &str)] = &[
    ("no forwarding method set", "no `lb_kind`/`lvs_method` set"),
    ("no scheduler set", "no `lb_algo`/`lvs_sched` set"),
    (
        "exceeds total weight",
        "exceeds the real servers' total weight",
    ),
    (
        "sorry server has port specified - port will be ignored",
        "and sorry server",
    ),
    (
        "sorry server ports don't match",
        "its forwarding cannot change the port",
    ),
    (
        "sorry server has port specified",
        "its forwarding cannot change the port",
    ),
    ("ports don't match - resetting", "which only NAT can do"),
    ("has port specified - clearing", "which only NAT can do"),
    ("zero port only valid for persistent", "needs persistence"),
    ("ports don't match", "virtual_server_group `web` entry"),
    ("SECURITY VIOLATION", "without `enable_script_security`"),
    ("hysteresis", "is not below quorum"),
    ("has no real servers", "has no real servers: ignored"),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keepalived-t/parity")
}

/// keepalived's recorded exit status, its numbered lines and its lineless messages.
fn recorded(name: &str) -> (i32, BTreeSet<u32>, Vec<String>) {
    let text = std::fs::read_to_string(dir().join(format!("{name}.txt"))).unwrap();
    let mut lines = text.lines();
    let rc = lines
        .next()
        .unwrap()
        .trim_start_matches("rc=")
        .parse()
        .unwrap();
    let mut numbered = BTreeSet::new();
    let mut lineless = Vec::new();
    for l in lines {
        match l.find("Line ") {
            Some(at) => {
                let n = l[at + 5..].split(')').next().unwrap().parse().unwrap();
                numbered.insert(n);
            }
            None => lineless.push(l.to_owned()),
        }
    }
    (rc, numbered, lineless)
}

/// The table a config asks for, one line a service, real server and group.
fn table(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for g in &c.groups {
        let entries: Vec<String> = g
            .entries
            .iter()
            .map(|e| match e {
                lvsd::config::GroupEntry::Addr { first, last, port } if first == last => {
                    format!("{first}:{port}")
                }
                lvsd::config::GroupEntry::Addr { first, last, port } => {
                    format!("{first}-{last}:{port}")
                }
                lvsd::config::GroupEntry::Fwmark(m) => format!("fwmark {m}"),
            })
            .collect();
        out.push(format!("GROUP {} {}", g.name, entries.join(" ")));
    }
    for vs in &c.virtual_servers {
        let name = match &vs.address {
            VsAddress::Addr { addr, port } => format!("[{addr}]:{port}"),
            VsAddress::Fwmark(m) => format!("fwmark {m}"),
            VsAddress::Group(g) => format!("group {g}"),
        };
        let mut line = format!(
            "VS {name} {:?} {} p{} q{} h{}",
            vs.protocol, vs.scheduler, vs.persistence_timeout, vs.quorum, vs.hysteresis
        );
        if vs.alpha {
            line.push_str(" alpha");
        }
        if let Some(s) = &vs.sorry_server {
            line.push_str(&format!(" sorry {}:{} {:?}", s.addr, s.port, s.method));
        }
        out.push(line);
        for rs in &vs.real_servers {
            let mut line = format!(
                "  RS {}:{} {:?} w{}",
                rs.addr, rs.port, rs.method, rs.weight
            );
            if rs.inhibit_on_failure {
                line.push_str(" inhibit");
            }
            for check in rs.checks.iter() {
                let kind = match &**check {
                    Check::Tcp(_) => "Tcp",
                    Check::Http(_) => "Http",
                    Check::Misc(_) => "Misc",
                    _ => "Other",
                };
                let common = check.common();
                line.push_str(&format!(" {kind}:{}", common.connect_port));
                if common.retry != 1 {
                    line.push_str(&format!(" retry{}", common.retry));
                }
                if common.alpha {
                    line.push_str(" alpha");
                }
            }
            out.push(line);
        }
    }
    out
}

/// lvsd's warnings and errors, and its model if it loaded.
fn ours(path: &Path) -> (Option<Config>, Vec<Diagnostic>) {
    let opts = LoadOptions {
        config_id: Some("lvsd-test".into()),
    };
    let (config, all) = match load(path, &opts) {
        Ok(l) => (Some(l.config), l.diagnostics),
        Err(ConfigError::Invalid(d)) => (None, d),
        Err(e) => panic!("{}: {e}", path.display()),
    };
    let said = all
        .into_iter()
        .filter(|d| d.severity >= Severity::Warning)
        .collect();
    (config, said)
}

#[test]
fn every_config_here_has_a_row() {
    let mut confs: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".conf").map(str::to_owned)
        })
        .collect();
    confs.sort();
    let mut rows: Vec<String> = ROWS.iter().map(|r| r.name.to_owned()).collect();
    rows.sort();
    assert_eq!(confs, rows);
}

#[test]
fn lvsd_runs_what_keepalived_runs_and_says_what_it_says() {
    let mut failures = Vec::new();
    for row in ROWS {
        if let Err(why) = check_row(row) {
            failures.push(format!("{}: {why}", row.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn check_row(row: &Row) -> Result<(), String> {
    let path = dir().join(format!("{}.conf", row.name));
    let (rc, numbered, lineless) = recorded(row.name);
    let (config, said) = ours(&path);
    let got = config.as_ref().map(table);
    let want = row
        .runs
        .map(|r| r.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    if got != want {
        return Err(format!("runs {got:#?}, expected {want:#?}"));
    }
    let ours_line = |n: u32| {
        row.moved
            .iter()
            .find(|(theirs, _)| *theirs == n)
            .map_or(n, |&(_, o)| o)
    };
    let lines: BTreeSet<u32> = said.iter().map(|d| d.location.line).collect();
    let show = || said.iter().map(|d| format!("{d}\n")).collect::<String>();
    for &n in &numbered {
        if !lines.contains(&ours_line(n)) && !row.theirs_only.contains(&n) {
            return Err(format!(
                "keepalived reports line {n}, lvsd does not:\n{}",
                show()
            ));
        }
    }
    for k in &lineless {
        let (_, counterpart) = LINELESS
            .iter()
            .find(|(theirs, _)| k.contains(theirs))
            .ok_or_else(|| format!("no lvsd counterpart known for `{k}`"))?;
        if !said.iter().any(|d| d.message.contains(counterpart)) {
            return Err(format!(
                "keepalived says `{k}`, lvsd nothing like it:\n{}",
                show()
            ));
        }
    }
    let theirs: BTreeSet<u32> = numbered.iter().map(|&n| ours_line(n)).collect();
    for d in &said {
        let n = d.location.line;
        let lineless_counterpart = LINELESS
            .iter()
            .any(|(t, o)| d.message.contains(o) && lineless.iter().any(|k| k.contains(t)));
        if !theirs.contains(&n) && !row.ours_only.contains(&n) && !lineless_counterpart {
            return Err(format!("lvsd reports what keepalived does not: {d}"));
        }
    }
    let status = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-t", "-f"])
        .arg(&path)
        .output()
        .map_err(|e| e.to_string())?;
    let clean = status.status.code() == Some(0);
    if clean != (rc == 0) && row.ours_only.is_empty() && row.theirs_only.is_empty() {
        return Err(format!(
            "lvsd -t exit status {:?}, keepalived's {rc}",
            status.status.code()
        ));
    }
    Ok(())
}
