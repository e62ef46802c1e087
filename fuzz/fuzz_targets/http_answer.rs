//! The HTTP answer parser on arbitrary bytes, fed in arbitrary pieces: it
//! must never panic, and the verdict must not depend on how the answer was
//! split into reads (see `lvsd::checker::http_answer::fuzz_one`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lvsd::checker::http_answer::fuzz_one(data);
});
