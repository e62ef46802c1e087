//! Watching what lvsd did: the table as `ipvsadm -Sn` (the independent
//! reader) prints it, and the lines of a background process's log.

use std::time::Duration;

use lvsd_vm::Guest;

/// `ipvsadm -Sn` with its lines sorted: the kernel lists real servers in
/// the order they were added, which differs between two programs that
/// re-add servers at different moments; the set of lines is the table.
pub fn canonical(table: &str) -> String {
    let mut lines: Vec<&str> = table.lines().filter(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Waits until `ipvsadm -Sn` shows `expected` (as [`canonical`]) and
/// returns the table it last saw.
pub fn wait_table(guest: &mut Guest, expected: &str, timeout: Duration) -> String {
    guest
        .write_file("/tmp/expected-table", canonical(expected).as_bytes())
        .unwrap();
    let _ = guest.wait_for(
        "[ \"$(ipvsadm -Sn | sort)\" = \"$(cat /tmp/expected-table)\" ]",
        timeout,
    );
    canonical(&guest.run_ok("ipvsadm -Sn"))
}

/// Waits until `pattern` (grep -E) matched at least `count` lines of NAME's log.
pub fn wait_log(guest: &mut Guest, name: &str, pattern: &str, count: usize) {
    let cond = format!(
        "[ $(grep -cE {} /run/bg/{name}.log) -ge {count} ]",
        lvsd_vm::shell_quote(pattern)
    );
    if let Err(e) = guest.wait_for(&cond, Duration::from_secs(20)) {
        let log = guest.log_of(name).unwrap_or_default();
        panic!("{e}\n{name} log:\n{log}");
    }
}
