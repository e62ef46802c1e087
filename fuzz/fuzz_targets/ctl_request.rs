//! A control socket request line: `parse_request` must never panic, and
//! whatever it accepts must read back the same after being written out
//! (what `lvsd ctl` sends is what the daemon reads).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsd::control::protocol::{parse_request, MAX_REQUEST};

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(MAX_REQUEST)];
    if let Ok(request) = parse_request(data) {
        let line = serde_json::to_vec(&request).expect("a request always encodes");
        assert_eq!(parse_request(&line).as_ref(), Ok(&request), "{data:?}");
    }
});
