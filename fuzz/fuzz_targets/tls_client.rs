//! SSL_GET's client side against a server sending arbitrary bytes (over a
//! socket pair, through the exchange the prober runs): the handshake, the
//! request, the answer and the close must never panic nor hang (each run
//! is bounded to a second).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(lvsd::checker::tls::exchange_with_bytes(data));
});
