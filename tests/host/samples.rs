//! Every sample config shipped with keepalived parses, with the virtual
//! server, real server and check counts keepalived would build, and
//! `lvsd -t` agrees with `keepalived -t` (recorded in
//! tests/data/keepalived-t by its record.sh) on the checker's part:
//! silent where keepalived is silent, a diagnostic on every line where
//! keepalived has one about global_defs, virtual servers or real servers.
//! keepalived's VRRP diagnostics are not lvsd's business.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use lvsd::config::{load_bytes, ConfigError, Diagnostic, LoadOptions, Loaded, Severity};

const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

/// (sample, virtual servers, real servers, checks): read off each file.
/// SMTP_CHECK (keepalived 2.2.7's check_smtp.c): every `host` block is a
/// checker of its own; the checker itself probes its real server too when
/// it sets a connection option or `connect_timeout` (the sample's do: 1 +
/// 3 + 1 + 3 + 1), else the first host takes its place.
const COUNTS: &[(&str, usize, usize, usize)] = &[
    ("keepalived.conf.HTTP_GET.port", 1, 1, 1),
    ("keepalived.conf.IPv6", 1, 1, 1),
    ("keepalived.conf.PING_CHECK", 1, 1, 1),
    ("keepalived.conf.SMTP_CHECK", 1, 3, 9),
    ("keepalived.conf.SSL_GET", 2, 2, 2),
    ("keepalived.conf.UDP_CHECK", 1, 1, 1),
    ("keepalived.conf.conditional_conf", 0, 0, 0),
    ("keepalived.conf.fwmark", 1, 2, 2),
    ("keepalived.conf.inhibit", 1, 1, 1),
    ("keepalived.conf.misc_check", 1, 1, 1),
    ("keepalived.conf.misc_check_arg", 1, 1, 1),
    ("keepalived.conf.quorum", 1, 10, 10),
    ("keepalived.conf.sample", 1, 1, 1),
    ("keepalived.conf.status_code", 1, 1, 1),
    ("keepalived.conf.track_interface", 0, 0, 0),
    ("keepalived.conf.virtual_server_group", 1, 2, 2),
    ("keepalived.conf.virtualhost", 1, 1, 1),
    ("keepalived.conf.vrrp", 0, 0, 0),
    ("keepalived.conf.vrrp.localcheck", 0, 0, 0),
    ("keepalived.conf.vrrp.lvs_syncd", 1, 1, 1),
    ("keepalived.conf.vrrp.routes", 0, 0, 0),
    ("keepalived.conf.vrrp.rules", 0, 0, 0),
    ("keepalived.conf.vrrp.scripts", 0, 0, 0),
    ("keepalived.conf.vrrp.static_ipaddress", 0, 0, 0),
    ("keepalived.conf.vrrp.sync", 0, 0, 0),
];

/// keepalived messages without a line number that concern the checker,
/// and what lvsd's matching diagnostic says.
const LINELESS: &[(&str, &str)] = &[(
    "protocol specified for fwmark",
    "`protocol` does not apply to a fwmark service",
)];

/// The samples directory, or `None` (with a note) when keepalived's
/// package is absent outside CI.
fn samples_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(SAMPLES);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{SAMPLES} is missing: install the keepalived package (.ci/setup does)"
    );
    eprintln!("skipped: {SAMPLES} is missing (install keepalived)");
    None
}

/// A sample's bytes, decompressing `.gz` with gzip.
fn read_sample(dir: &Path, name: &str) -> Vec<u8> {
    let plain = dir.join(name);
    if plain.exists() {
        return std::fs::read(plain).unwrap();
    }
    let gz = dir.join(format!("{name}.gz"));
    let out = Command::new("gzip").arg("-dc").arg(&gz).output().unwrap();
    assert!(out.status.success(), "gzip -dc {}", gz.display());
    out.stdout
}

/// The sample written to a temporary file (for the binary).
fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// What lvsd makes of a sample: its model and diagnostics, with `refused`
/// set while the sample holds a checker kind lvsd does not probe yet. Those
/// samples are refused by lvsd's rule (tests/host/unprobed_kinds.rs): this
/// panics if anything else is an error.
struct Read {
    /// The model; `None` when refused.
    loaded: Option<Loaded>,
    /// Every diagnostic but the refusals of unprobed kinds.
    diagnostics: Vec<Diagnostic>,
    /// The unprobed kinds' refusals.
    refused: Vec<Diagnostic>,
}

/// The rule's message (src/config/checks.rs).
const UNPROBED: &str = "lvsd does not probe ";

fn load(path: &Path, bytes: Vec<u8>) -> Read {
    let opts = LoadOptions {
        config_id: Some("lvsd-test".into()),
    };
    match load_bytes(path, bytes, &opts) {
        Ok(l) => Read {
            diagnostics: l.diagnostics.clone(),
            loaded: Some(l),
            refused: Vec::new(),
        },
        Err(ConfigError::Invalid(all)) => {
            let (refused, diagnostics): (Vec<_>, Vec<_>) = all
                .into_iter()
                .partition(|d| d.severity == Severity::Error && d.message.starts_with(UNPROBED));
            let errors: Vec<_> = diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .collect();
            assert!(
                !refused.is_empty() && errors.is_empty(),
                "{} does not parse: {errors:#?}",
                path.display()
            );
            Read {
                loaded: None,
                diagnostics,
                refused,
            }
        }
        Err(e) => panic!("{} does not parse:\n{e}", path.display()),
    }
}

/// Line ranges of the top-level blocks the checker reads.
fn checker_line_ranges(text: &str) -> Vec<(u32, u32)> {
    let mut ranges = Vec::new();
    let mut depth = 0i32;
    let mut start: Option<(u32, bool)> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i as u32 + 1;
        let line = raw.split(['#', '!']).next().unwrap_or("");
        if depth == 0 && start.is_none() {
            if let Some(word) = line.split_whitespace().next() {
                let ours = matches!(
                    word,
                    "global_defs" | "virtual_server" | "virtual_server_group" | "SSL"
                );
                start = Some((n, ours));
            }
        }
        for c in line.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
        }
        if depth <= 0 {
            if let Some((s, ours)) = start.take() {
                if ours {
                    ranges.push((s, n));
                }
            }
            depth = 0;
        }
    }
    ranges
}

/// keepalived's recorded diagnostics about the checker's part: the line
/// numbers, and the line-less messages.
fn keepalived_checker_diagnostics(name: &str, text: &str) -> (i32, BTreeSet<u32>, Vec<String>) {
    let recorded = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/keepalived-t")
        .join(format!("{name}.txt"));
    let recorded = std::fs::read_to_string(&recorded).unwrap();
    let mut lines = recorded.lines();
    let rc: i32 = lines
        .next()
        .unwrap()
        .trim_start_matches("rc=")
        .parse()
        .unwrap();
    let ranges = checker_line_ranges(text);
    let mut numbered = BTreeSet::new();
    let mut lineless = Vec::new();
    for l in lines {
        if let Some(at) = l.find("Line ") {
            let n: u32 = l[at + 5..].split(')').next().unwrap().parse().unwrap();
            if ranges.iter().any(|&(a, b)| (a..=b).contains(&n)) {
                numbered.insert(n);
            }
        } else if l.contains("irtual server") || l.contains("real server") {
            lineless.push(l.to_owned());
        }
    }
    (rc, numbered, lineless)
}

#[test]
fn every_sample_parses_with_keepalived_counts() {
    let Some(dir) = samples_dir() else { return };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".gz")
                .to_owned()
        })
        .filter(|n| n.starts_with("keepalived.conf."))
        .collect();
    names.sort();
    let listed: Vec<&str> = COUNTS.iter().map(|c| c.0).collect();
    assert_eq!(
        names, listed,
        "samples on this system differ from the table"
    );
    for &(name, vs, rs, checks) in COUNTS {
        let read = load(&dir.join(name), read_sample(&dir, name));
        // A sample refused for an unprobed kind is counted again when the
        // kind lands.
        let Some(loaded) = read.loaded else { continue };
        let c = &loaded.config;
        let got_rs: usize = c.virtual_servers.iter().map(|v| v.real_servers.len()).sum();
        let got_checks: usize = c
            .virtual_servers
            .iter()
            .flat_map(|v| &v.real_servers)
            .map(|r| r.checks.len())
            .sum();
        assert_eq!(
            (c.virtual_servers.len(), got_rs, got_checks),
            (vs, rs, checks),
            "{name}"
        );
    }
}

#[test]
fn config_test_agrees_with_keepalived_on_the_checker_part() {
    let Some(dir) = samples_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for &(name, ..) in COUNTS {
        let bytes = read_sample(&dir, name);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let (_, numbered, lineless) = keepalived_checker_diagnostics(name, &text);
        let path = write_temp(&tmp, name, &bytes);
        let read = load(&path, bytes);
        let ours: Vec<_> = read
            .diagnostics
            .iter()
            .filter(|d| d.severity >= Severity::Warning)
            .collect();
        for n in &numbered {
            assert!(
                ours.iter().any(|d| d.location.line == *n),
                "{name}: keepalived has a diagnostic on line {n}, lvsd none"
            );
        }
        for k in &lineless {
            let (_, ours_says) = LINELESS
                .iter()
                .find(|(theirs, _)| k.contains(theirs))
                .unwrap_or_else(|| panic!("{name}: no lvsd counterpart known for `{k}`"));
            assert!(
                ours.iter().any(|d| d.message.contains(ours_says)),
                "{name}: keepalived says `{k}`, lvsd does not"
            );
        }
        for d in &ours {
            let matched = numbered.contains(&d.location.line)
                || LINELESS
                    .iter()
                    .any(|(t, o)| d.message.contains(o) && lineless.iter().any(|k| k.contains(t)));
            assert!(matched, "{name}: lvsd says what keepalived does not: {d}");
        }
        let status = Command::new(env!("CARGO_BIN_EXE_lvsd"))
            .args(["-t", "-f"])
            .arg(&path)
            .output()
            .unwrap();
        let expected = if numbered.is_empty() && lineless.is_empty() && read.refused.is_empty() {
            0
        } else {
            5
        };
        assert_eq!(
            status.status.code(),
            Some(expected),
            "{name}: lvsd -t exit status"
        );
        if expected == 0 {
            assert!(
                status.stderr.is_empty(),
                "{name}: lvsd -t printed {:?}",
                String::from_utf8_lossy(&status.stderr)
            );
        }
    }
}

#[test]
fn recorded_keepalived_status_is_five_exactly_when_it_printed() {
    let Some(dir) = samples_dir() else { return };
    for &(name, ..) in COUNTS {
        let text = String::from_utf8_lossy(&read_sample(&dir, name)).into_owned();
        let (rc, ..) = keepalived_checker_diagnostics(name, &text);
        let recorded = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("tests/data/keepalived-t/{name}.txt")),
        )
        .unwrap();
        let printed = recorded.lines().count() > 1;
        assert_eq!(rc == 5, printed, "{name}");
    }
}
