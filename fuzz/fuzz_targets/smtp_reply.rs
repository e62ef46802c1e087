//! SMTP_CHECK's reading of a server's reply on arbitrary bytes: the first
//! line and its code must never panic, and a code is only ever three
//! digits at the start of the line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsd::checker::smtp::{expect_code, first_line, reply_code, Line};

fuzz_target!(|data: &[u8]| {
    if let Line::Complete(line) = first_line(data) {
        assert!(line.len() < data.len() && !line.contains(&b'\n'));
        if let Some(code) = reply_code(line) {
            assert!(code < 1000 && line[..3].iter().all(u8::is_ascii_digit));
        }
        let _ = expect_code(line, 220);
    }
});
