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
        let Some(case) = cases.last_mut() else { continue };
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

/// Run a case on an empty `table`: the result lines and the final table.
pub fn run_case(table: &mut dyn IpvsTable, case: &Case) -> (String, String) {
    let mut report = Vec::new();
    let _ = restore_into(table, &mut case.ops.as_bytes(), Some(&mut report));
    let saved = table.dump().map(|d| format::save(&d)).unwrap_or_default();
    (String::from_utf8_lossy(&report).into_owned(), saved)
}
