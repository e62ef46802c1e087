//! DNS_CHECK's judgement of a received datagram on arbitrary bytes (the
//! first two bytes are the id the query had), and its query builder on
//! arbitrary names that pass the config's checks: nothing may panic, only
//! our own answers decide, and a query is never longer than a valid name
//! allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsd::checker::dns::{judge, query, Answer};
use lvsd::config::{dns_name, CheckCommon, DnsCheck, DnsType};

fuzz_target!(|data: &[u8]| {
    let Some((id, datagram)) = data.split_first_chunk::<2>() else {
        return;
    };
    let id = u16::from_be_bytes(*id);
    match judge(id, datagram) {
        Answer::Up | Answer::Down(_) => {
            assert!(datagram.len() >= 12 && datagram[..2] == id.to_be_bytes());
            assert!(datagram[2] & 0x80 != 0);
        }
        Answer::Ignored(_) => {}
    }
    if let Ok(text) = std::str::from_utf8(datagram) {
        if let Ok(name) = dns_name(text) {
            let check = DnsCheck {
                common: CheckCommon::new([127, 0, 0, 1].into(), 53),
                query_type: DnsType::Soa,
                name,
            };
            let q = query(id, &check);
            assert!(q.len() <= 12 + 255 + 4, "{} bytes", q.len());
        }
    }
});
