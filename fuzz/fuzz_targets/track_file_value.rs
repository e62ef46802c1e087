//! A tracked file's content, as FILE_CHECK reads it: `parse` must never
//! panic and must agree with the C library's `strtol(buf, NULL, 0)` and
//! keepalived's range check on the bytes keepalived would read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsd::checker::file_check::{c_strtol, parse, READ_LIMIT};

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(READ_LIMIT)];
    assert_eq!(parse(data), c_strtol(data), "{data:?}");
});
