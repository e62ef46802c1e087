//! The IPVS behaviour suite's case format, shared by the in-memory tests and
//! the kernel tests so that both tables are held to the same expectations.
//!
//! A case file holds cases headed `=== name`, each with three sections:
//! `ops:` (ipvsadm -R lines), `results:` (one `Ok(())` / `Err(..)` per
//! change, as `lvsd ipvs restore --report` prints them) and `table:` (the
//! final table as `ipvsadm -Sn` prints it). `#` lines outside sections are
//! comments.

use super::command::restore_into;
use super::{format, IpvsTable};

/// One behaviour case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// What the case shows.
    pub name: String,
    /// ipvsadm -R lines, newline-terminated.
    pub ops: String,
    /// Expected result lines, newline-terminated.
    pub results: String,
    /// Expected `ipvsadm -Sn` output.
    pub table: String,
}

/// Parse a case file.
pub fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let mut section = "";
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("=== ") {
            cases.push(Case {
                name: name.to_string(),
                ops: String::new(),
                results: String::new(),
                table: String::new(),
            });
            section = "";
            continue;
        }
        let Some(case) = cases.last_mut() else {
            continue;
        };
        match line {
            "ops:" | "results:" | "table:" => section = line,
            "" => {}
            _ => {
                let target = match section {
                    "ops:" => &mut case.ops,
                    "results:" => &mut case.results,
                    "table:" => &mut case.table,
                    _ => continue,
                };
                target.push_str(line);
                target.push('\n');
            }
        }
    }
    cases
}

/// What running a case gave, to compare with the [`Case`]'s fields of the
/// same names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The result lines, one an operation.
    pub results: String,
    /// The final table, in `ipvsadm -Sn` form.
    pub table: String,
}

/// Run a case on an empty `table`.
pub fn run_case(table: &mut dyn IpvsTable, case: &Case) -> Outcome {
    let mut report = Vec::new();
    let _ = restore_into(table, &mut case.ops.as_bytes(), Some(&mut report));
    Outcome {
        results: String::from_utf8_lossy(&report).into_owned(),
        table: table.dump().map(|d| format::save(&d)).unwrap_or_default(),
    }
}

/// A restore file for a table of `services` services, mixing every kind
/// lvsd handles (TCP/UDP/SCTP, IPv4/IPv6, fwmark v4/v6, persistence with
/// netmasks, scheduler flags, one-packet scheduling, masq/route/tunnel
/// destinations with GUE/GRE/IPIP and mixed families, thresholds), each
/// with `dests` destinations. Used by the kernel tests and the benchmark.
pub fn mixed_restore_lines(services: usize, dests: usize) -> String {
    let mut out = String::new();
    for i in 0..services {
        let (hi, lo) = (i / 250, i % 250 + 1);
        let v4 = format!("10.{hi}.{lo}.1");
        let v6 = format!("[2001:db8:{hi:x}:{lo:x}::1]");
        let port = 1000 + i;
        let (svc, head) = match i % 10 {
            0 => (format!("-t {v4}:{port}"), "-s rr".to_string()),
            1 => (
                format!("-u {v4}:{port}"),
                "-s wlc -p 120 -M 255.255.255.0 -o --pe sip".into(),
            ),
            2 => (
                format!("-t {v6}:{port}"),
                "-s sh -b sh-fallback,sh-port".into(),
            ),
            3 => (format!("-f {}", 100 + i), "-s mh -b mh-port".into()),
            4 => (format!("-f {} -6", 100 + i), "-s lc -p 30 -M 64".into()),
            5 => (format!("--sctp-service {v4}:{port}"), "-s wrr".into()),
            6 => (format!("-t {v4}:{port}"), "-s wlc -p".into()),
            7 => (format!("-u {v6}:{port}"), "-s rr".into()),
            8 => (format!("-t {v4}:{port}"), "-s dh -b flag-3".into()),
            _ => (format!("--sctp-service {v6}:{port}"), "-s sed".into()),
        };
        out.push_str(&format!("-A {svc} {head}\n"));
        for j in 0..dests {
            let (dh, dl) = (j / 250, j % 250 + 1);
            let d4 = format!("172.{}.{dh}.{dl}", 16 + i % 16);
            let d6 = format!("[2001:db8:ffff:{i:x}::{:x}]", j + 1);
            let w = j % 5;
            let dest = match i % 10 {
                0 => format!("-r {d4}:{} -m -w {w}", 8000 + j % 3),
                1 => format!("-r {d4}:53 -m -w {w} -x 1000 -y 100"),
                2 => format!("-r {d6}:{port} -g -w {w}"),
                3 => format!("-r {d4}:0 -g -w {w}"),
                4 => format!("-r {d6}:443 -m -w {w}"),
                5 => format!("-r {d4} -g -w {w} -x 50 -y 5"),
                6 => format!(
                    "-r {d4} -i -w {w} --tun-type gue --tun-port {} --tun-csum",
                    6000 + j
                ),
                7 => format!("-r {d6}:{port} -i -w {w} --tun-type gre --tun-csum"),
                8 => format!("-r {d6}:{port} -i -w {w}"),
                _ => format!("-r {d6}:{port} -i -w {w} --tun-type gre --tun-nocsum"),
            };
            out.push_str(&format!("-a {svc} {dest}\n"));
        }
    }
    out
}
