//! The whole config front end on arbitrary bytes: sources, preprocessor,
//! lexer, block parser and typing pass must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A directory with nothing in it, so relative includes find nothing.
    let path = std::path::Path::new("/nonexistent-lvsd-fuzz/keepalived.conf");
    let opts = lvsd::config::LoadOptions { config_id: Some("main".into()) };
    let _ = lvsd::config::load_bytes(path, data.to_vec(), &opts);
});
