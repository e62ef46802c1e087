//! The IPVS behaviour suite against the in-memory table. The same cases run
//! against the real kernel in `tests/kernel_ipvs.rs`.

use lvsd::ipvs::suite::{parse_cases, run_case, Outcome};
use lvsd::ipvs::MemoryTable;

const CASES: &str = include_str!("../data/ipvs_behaviour.txt");

#[test]
fn memory_table_passes_the_behaviour_suite() {
    let cases = parse_cases(CASES);
    assert!(cases.len() >= 10, "the suite has its cases");
    let mut failures = Vec::new();
    for case in &cases {
        let mut table = MemoryTable::new();
        let Outcome {
            results,
            table: saved,
        } = run_case(&mut table, case);
        if results != case.results || saved != case.table {
            failures.push(format!(
                "case `{}`:\n-- results\n{results}-- expected\n{}-- table\n{saved}-- expected\n{}",
                case.name, case.results, case.table
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
