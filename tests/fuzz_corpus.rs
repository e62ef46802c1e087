//! Replays the checked-in fuzz corpus (fuzz/corpus/front_end) through the
//! whole config front end, as the fuzz target does: nothing may panic.

use std::path::Path;

use lvsd::config::{load_bytes, LoadOptions};

#[test]
fn fuzz_corpus_replays_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/front_end");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fuzz/corpus/front_end")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "the corpus has only {} inputs",
        files.len()
    );
    let path = Path::new("/nonexistent-lvsd-fuzz/keepalived.conf");
    let opts = LoadOptions {
        config_id: Some("main".into()),
    };
    let mut errors = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        if load_bytes(path, bytes, &opts).is_err() {
            errors += 1;
        }
    }
    // The corpus is mostly mutated garbage: most inputs are rejected, and
    // the keepalived samples in it are accepted.
    assert!(
        errors > 0 && errors < files.len(),
        "{errors} of {} rejected",
        files.len()
    );
}

/// Replays fuzz/corpus/http_answer through the HTTP answer parser, as the
/// `http_answer` fuzz target does: nothing panics, and the verdict does not
/// depend on how the answer is split into reads.
#[test]
fn http_answer_corpus_replays_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/http_answer");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fuzz/corpus/http_answer")
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        files.len() >= 60,
        "the corpus has only {} inputs",
        files.len()
    );
    for f in &files {
        lvsd::checker::http_answer::fuzz_one(&std::fs::read(f).unwrap());
    }
}
