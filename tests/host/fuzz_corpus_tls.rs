//! Replays the checked-in corpus of the TLS fuzz target
//! (fuzz/corpus/tls_client: server flights recorded from `openssl s_server`,
//! TLS 1.2 and 1.3, RSA and EC, cut and mangled, and garbage) through
//! SSL_GET's client, as the target does: nothing may panic or hang.

use std::path::Path;
use std::time::{Duration, Instant};

#[tokio::test]
async fn tls_corpus_replays_without_panic_or_hang() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/tls_client");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fuzz/corpus/tls_client")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "the corpus has only {} inputs",
        files.len()
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let started = Instant::now();
        // No server here holds the keys: no handshake can succeed.
        let handshake = lvsd::checker::tls::exchange_with_bytes(&bytes).await;
        assert!(!handshake, "{}", f.display());
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{} took {:?}",
            f.display(),
            started.elapsed()
        );
    }
}
