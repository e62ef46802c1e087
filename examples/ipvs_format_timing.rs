fn main() {
    use lvsd::ipvs::{restore::*, IpvsTable, MemoryTable};
    let lines = lvsd::ipvs::suite::mixed_restore_lines(200, 100);
    let mut t = MemoryTable::new();
    for l in parse(&lines).unwrap() {
        if let RestoreLine::Op(op) = l {
            t.apply_one(&op).unwrap();
        }
    }
    let d = t.dump().unwrap();
    let s = std::time::Instant::now();
    let out = lvsd::ipvs::format::save(&d);
    eprintln!("save {} bytes in {:?}", out.len(), s.elapsed());
    let s = std::time::Instant::now();
    let msgs: Vec<_> = d
        .iter()
        .flat_map(|e| {
            e.dests.iter().map(move |x| {
                lvsd::ipvs::netlink::client::op_message(&lvsd::ipvs::TableOp::AddDest(
                    e.service.key,
                    x.dest,
                ))
            })
        })
        .collect();
    eprintln!("built {} in {:?}", msgs.len(), s.elapsed());
    let s = std::time::Instant::now();
    let mut n = 0;
    for m in &msgs {
        let e = lvsd::ipvs::netlink::attrs::parse_dest(&m.attrs, lvsd::ipvs::Family::Inet).unwrap();
        n += e.dest.weight;
    }
    eprintln!("parsed in {:?} {n}", s.elapsed());
}
