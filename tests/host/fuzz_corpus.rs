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

/// The inputs of fuzz/corpus/`target`, sorted (at least `min` of them).
fn corpus(target: &str, min: usize) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= min, "{target}: only {} inputs", files.len());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// fuzz/corpus/bfd_packet as the fuzz target runs it: nothing panics,
/// the session keeps its rules, and the handshakes in it are accepted.
#[test]
fn bfd_packet_corpus_replays() {
    let accepted: usize = corpus("bfd_packet", 4)
        .iter()
        .map(|data| lvsd::bfd::fuzz_input::datagrams(data))
        .sum();
    assert!(accepted >= 8, "only {accepted} datagrams accepted");
}

/// fuzz/corpus/smtp_reply through SMTP_CHECK's reply reading, as the fuzz
/// target does: nothing panics, a code is three digits at the line's start.
#[test]
fn smtp_reply_corpus_replays() {
    use lvsd::checker::smtp::{expect_code, first_line, reply_code, Line};
    let mut passed = 0;
    for data in corpus("smtp_reply", 10) {
        if let Line::Complete(line) = first_line(&data) {
            if let Some(code) = reply_code(line) {
                assert!(code < 1000 && line[..3].iter().all(u8::is_ascii_digit));
            }
            passed += usize::from(expect_code(line, 220).is_ok());
        }
    }
    assert!(passed > 0, "no input is a good banner");
}

/// fuzz/corpus/dns_answer through DNS_CHECK's judgement (the first two
/// bytes are the query's id) and query builder, as the fuzz target does.
#[test]
fn dns_answer_corpus_replays() {
    use lvsd::checker::dns::{judge, query, Answer};
    use lvsd::config::{dns_name, CheckCommon, DnsCheck, DnsType};
    let (mut up, mut down, mut ignored) = (0, 0, 0);
    for data in corpus("dns_answer", 10) {
        let Some((id, datagram)) = data.split_first_chunk::<2>() else {
            continue;
        };
        let id = u16::from_be_bytes(*id);
        match judge(id, datagram) {
            Answer::Up => up += 1,
            Answer::Down(_) => down += 1,
            Answer::Ignored(_) => ignored += 1,
        }
        if let Ok(Ok(name)) = std::str::from_utf8(datagram).map(dns_name) {
            let check = DnsCheck {
                common: CheckCommon::new([127, 0, 0, 1].into(), 53),
                query_type: DnsType::Soa,
                name,
            };
            assert!(query(id, &check).len() <= 12 + 255 + 4);
        }
    }
    assert!(
        up > 0 && down > 0 && ignored > 0,
        "{up} up, {down} down, {ignored} ignored"
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

/// Replays fuzz/corpus/ctl_request through the control socket's request
/// parser, as the `ctl_request` fuzz target does: nothing panics, what is
/// accepted reads back the same once written out, and the seeds (one per
/// command, and a few refusals) are there.
#[test]
fn ctl_request_corpus_replays_and_round_trips() {
    use lvsd::control::protocol::{parse_request, MAX_REQUEST};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ctl_request");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fuzz/corpus/ctl_request")
        .map(|e| e.unwrap().path())
        .collect();
    let (mut accepted, mut refused) = (0, 0);
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let data = &data[..data.len().min(MAX_REQUEST)];
        match parse_request(data) {
            Ok(request) => {
                accepted += 1;
                let line = serde_json::to_vec(&request).unwrap();
                assert_eq!(
                    parse_request(&line).as_ref(),
                    Ok(&request),
                    "{}",
                    f.display()
                );
            }
            Err(_) => refused += 1,
        }
    }
    assert!(
        accepted >= 10 && refused >= 2,
        "{accepted} accepted, {refused} refused"
    );
}
