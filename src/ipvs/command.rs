//! `lvsd ipvs list|save|restore`: the kernel's table in ipvsadm's formats.

use std::io::{Read, Write};

use super::format;
use super::restore::{self, RestoreLine};
use super::{IpvsError, IpvsTable, NetlinkTable, TableOp};

fn write_out(out: &mut dyn Write, text: &str) -> Result<(), IpvsError> {
    out.write_all(text.as_bytes())
        .map_err(|e| IpvsError::Io(e.to_string()))
}

/// `lvsd ipvs list`: the table as `ipvsadm -Ln` prints it.
pub fn list(out: &mut dyn Write) -> Result<(), IpvsError> {
    let mut table = NetlinkTable::open()?;
    let info = table.info()?;
    let dump = table.dump()?;
    write_out(out, &format::list(&dump, &info))
}

/// `lvsd ipvs list --json`: the dump as lvsd reads it, in the kernel's order.
pub fn list_json(out: &mut dyn Write) -> Result<(), IpvsError> {
    let dump = NetlinkTable::open()?.dump()?;
    let text = serde_json::to_string_pretty(&dump).map_err(|e| IpvsError::Io(e.to_string()))?;
    write_out(out, &(text + "\n"))
}

/// `lvsd ipvs save`: the table as `ipvsadm -Sn` prints it.
pub fn save(out: &mut dyn Write) -> Result<(), IpvsError> {
    let dump = NetlinkTable::open()?.dump()?;
    write_out(out, &format::save(&dump))
}

/// `lvsd ipvs restore`: apply `ipvsadm -Sn` lines (as `ipvsadm -R` does).
pub fn restore(input: &mut dyn Read) -> Result<(), IpvsError> {
    let mut table = NetlinkTable::open()?;
    restore_into(&mut table, input, None)
}

/// Parse restore lines from `input` and apply them to `table`, pipelined;
/// `-C` lines flush in place. Every change is tried, as `ipvsadm -R` does;
/// the first failure is returned with its line number. With `report`, one line per
/// change is written there: `Ok(())` or `Err(<error>)`.
pub fn restore_into(
    table: &mut dyn IpvsTable,
    input: &mut dyn Read,
    report: Option<&mut dyn Write>,
) -> Result<(), IpvsError> {
    let mut text = String::new();
    input
        .read_to_string(&mut text)
        .map_err(|e| IpvsError::Io(e.to_string()))?;
    let lines = restore::parse_numbered(&text).map_err(|e| IpvsError::Invalid(e.to_string()))?;
    let line_numbers: Vec<usize> = lines.iter().map(|(n, _)| *n).collect();
    let mut results: Vec<Result<(), IpvsError>> = Vec::with_capacity(lines.len());
    let mut batch: Vec<TableOp> = Vec::new();
    for (_, line) in lines {
        match line {
            RestoreLine::Op(op) => batch.push(op),
            RestoreLine::Flush => {
                results.extend(table.apply(&batch));
                batch.clear();
                results.push(table.flush());
            }
        }
    }
    results.extend(table.apply(&batch));
    if let Some(out) = report {
        let mut text = String::new();
        for r in &results {
            text.push_str(&format!("{r:?}\n"));
        }
        write_out(out, &text)?;
    }
    let failed = results.iter().filter(|r| r.is_err()).count();
    match results.into_iter().enumerate().find(|(_, r)| r.is_err()) {
        Some((i, Err(e))) => Err(IpvsError::Invalid(format!(
            "line {}: {e} ({failed} of {} changes failed)",
            line_numbers.get(i).copied().unwrap_or(0),
            line_numbers.len()
        ))),
        _ => Ok(()),
    }
}
