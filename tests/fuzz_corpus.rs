//! Replays the checked-in fuzz corpora as their fuzz targets do:
//! fuzz/corpus/front_end through the whole config front end (nothing may
//! panic), fuzz/corpus/track_file_value through FILE_CHECK's number reader
//! (the C library's `strtol` must agree).

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
        let started = std::time::Instant::now();
        if load_bytes(path, bytes, &opts).is_err() {
            errors += 1;
        }
        // The fuzzer's budget (docs/config.md): a slow input is a failure.
        let took = started.elapsed();
        assert!(took.as_secs() < 2, "{} took {took:?}", f.display());
    }
    // The corpus is mostly mutated garbage: most inputs are rejected, and
    // the keepalived samples in it are accepted.
    assert!(
        errors > 0 && errors < files.len(),
        "{errors} of {} rejected",
        files.len()
    );
}

/// Replays fuzz/corpus/track_file_value (the FILE_CHECK number reader's
/// corpus) as its fuzz target does: the same number as the C library's
/// `strtol(buf, NULL, 0)` with keepalived's range check.
#[test]
fn track_file_value_corpus_agrees_with_strtol() {
    use lvsd::checker::file_check::{c_strtol, parse, READ_LIMIT};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/track_file_value");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fuzz/corpus/track_file_value")
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        files.len() >= 10,
        "the corpus has only {} inputs",
        files.len()
    );
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let data = &data[..data.len().min(READ_LIMIT)];
        assert_eq!(parse(data), c_strtol(data), "{}", f.display());
    }
}
