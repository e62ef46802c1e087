//! Received BFD datagrams, on arbitrary bytes: the parser must never panic,
//! what it accepts must write back to the same packet, and a session fed a
//! run of such datagrams must never panic nor break its state machine's
//! rules. The input layout is `lvsd::bfd::fuzz_input`'s.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lvsd::bfd::fuzz_input::datagrams(data);
});
