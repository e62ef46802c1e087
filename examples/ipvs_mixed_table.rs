//! Print a mixed IPVS table as `ipvsadm -R` lines:
//! `cargo run --example ipvs_mixed_table -- SERVICES DESTS_PER_SERVICE`.

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let (services, dests) = match (args.next(), args.next()) {
        (Some(Ok(s)), Some(Ok(d))) => (s, d),
        _ => {
            eprintln!("usage: ipvs_mixed_table SERVICES DESTS_PER_SERVICE");
            std::process::exit(2);
        }
    };
    print!(
        "{}",
        lvsd::ipvs::suite::mixed_restore_lines(services, dests)
    );
}
