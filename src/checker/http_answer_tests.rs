//! The judgement of HTTP answers, row by row of keepalived's rules (the
//! notes' keepalived-checkers.md §2.4 and §2.5).

use super::http_answer::{judge, Answer, Failure, HEAD_LIMIT};
use crate::config::{HttpRegex, RegexOption, Url, UrlRegex};

/// md5("hello").
const HELLO_MD5: &str = "5d41402abc4b2a76b9719d911017c592";

fn url() -> Url {
    Url::new("/")
}

fn with_codes(codes: &[(u16, u16)]) -> Url {
    Url {
        status_codes: codes.to_vec(),
        ..url()
    }
}

fn with_digest(digest: &str) -> Url {
    Url {
        digest: Some(digest.into()),
        ..url()
    }
}

fn with_regex(pattern: &str, no_match: bool, min: usize, max: Option<usize>) -> Url {
    let regex = HttpRegex::compile(pattern, &[], None).unwrap();
    Url {
        regex: Some(UrlRegex {
            regex,
            no_match,
            min_offset: min,
            max_offset: max,
        }),
        ..url()
    }
}

#[test]
fn status_classes_against_the_default_200_299() {
    for (line, ok) in [
        ("HTTP/1.1 100 Continue", false),
        ("HTTP/1.1 200 OK", true),
        ("HTTP/1.0 204 No Content", true),
        ("HTTP/1.1 299 Whatever", true),
        ("HTTP/1.1 301 Moved", false),
        ("HTTP/1.1 404 Not Found", false),
        ("HTTP/1.1 503 Busy", false),
    ] {
        let answer = format!("{line}\r\nServer: x\r\n\r\nbody");
        assert_eq!(judge(&url(), answer.as_bytes()).is_ok(), ok, "{line}");
    }
}

#[test]
fn status_codes_and_ranges_are_accepted_as_listed() {
    let u = with_codes(&[(301, 302), (404, 404)]);
    assert_eq!(judge(&u, b"HTTP/1.1 404 NF\r\n\r\n"), Ok(()));
    assert_eq!(judge(&u, b"HTTP/1.1 302 F\r\n\r\n"), Ok(()));
    assert_eq!(
        judge(&u, b"HTTP/1.1 200 OK\r\n\r\n"),
        Err(Failure::Status(200))
    );
}

#[test]
fn the_status_line_is_read_strictly() {
    let u = with_codes(&[(100, 599)]);
    // No reason phrase and no space after the code: status 0.
    assert_eq!(judge(&u, b"HTTP/1.1 200\r\n\r\n"), Err(Failure::Status(0)));
    // A space after the code is enough.
    assert_eq!(judge(&u, b"HTTP/1.1 200 \r\n\r\n"), Ok(()));
    // Two digits, four digits, letters, a leading space: 0.
    for line in [
        "HTTP/1.1 20 OK",
        "HTTP/1.1 2000 OK",
        "HTTP/1.1 2x0 OK",
        "HTTP/1.1  200 OK",
    ] {
        let answer = format!("{line}\r\n\r\n");
        assert_eq!(
            judge(&u, answer.as_bytes()),
            Err(Failure::Status(0)),
            "{line}"
        );
    }
    // No space before the line's end: 0, even if one follows later.
    assert_eq!(
        judge(&u, b"HTTP/1.1\r\nX: 200 OK\r\n\r\n"),
        Err(Failure::Status(0))
    );
    // Anything before the first space is not checked.
    assert_eq!(judge(&u, b"ICY 200 OK\r\n\r\n"), Ok(()));
    // Out of 100-599, even if listed by hand: 600 cannot be configured.
    assert_eq!(
        judge(&u, b"HTTP/1.1 099 X\r\n\r\n"),
        Err(Failure::Status(99))
    );
    assert_eq!(
        judge(&u, b"HTTP/1.1 600 X\r\n\r\n"),
        Err(Failure::Status(600))
    );
}

#[test]
fn the_header_must_end_with_crlf_crlf_within_4095_bytes() {
    // Bare LF headers are never recognised.
    let bare = b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi";
    assert_eq!(judge(&url(), bare), Err(Failure::NoHeader { received: 37 }));
    assert_eq!(judge(&url(), b""), Err(Failure::NoHeader { received: 0 }));
    // The end exactly at the limit is found; one byte later is not.
    for (pad, ok) in [(HEAD_LIMIT - 4, true), (HEAD_LIMIT - 3, false)] {
        let mut a = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        a.resize(pad, b'x');
        a.extend_from_slice(b"\r\n\r\nbody");
        assert_eq!(judge(&url(), &a).is_ok(), ok, "header end at {}", pad + 4);
    }
    // Split across reads, even inside the "\r\n\r\n".
    let u = with_digest(HELLO_MD5);
    let mut a = Answer::new(&u);
    for part in [&b"HTTP/1.1 200 OK\r"[..], b"\n\r", b"\nhel", b"lo"] {
        a.feed(part);
    }
    assert_eq!(a.verdict(&u), Ok(()));
}

#[test]
fn digest_is_the_md5_of_the_body_capped_by_content_length() {
    let u = with_digest(HELLO_MD5);
    assert_eq!(judge(&u, b"HTTP/1.0 200 OK\r\n\r\nhello"), Ok(()));
    // Any case in the config (typing lowers it; the judge compares either).
    let upper = with_digest(&HELLO_MD5.to_ascii_uppercase());
    assert_eq!(judge(&upper, b"HTTP/1.0 200 OK\r\n\r\nhello"), Ok(()));
    // A mismatch names the digest of what came, as keepalived writes one.
    let other = with_digest("0123456789abcdef0123456789abcdef");
    assert_eq!(
        judge(&other, b"HTTP/1.0 200 OK\r\n\r\nhello"),
        Err(Failure::Digest(HELLO_MD5.to_string()))
    );
    // Content-Length caps what is hashed.
    assert_eq!(
        judge(
            &u,
            b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello, world"
        ),
        Ok(())
    );
    // ...but only spelt exactly so: lowercase is not seen.
    let lower = b"HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\nhello, world";
    assert!(matches!(judge(&u, lower), Err(Failure::Digest(_))));
    // A value with trailing garbage is ignored as keepalived ignores it.
    let junk = b"HTTP/1.0 200 OK\r\nContent-Length: 5x\r\n\r\nhello, world";
    assert!(matches!(judge(&u, junk), Err(Failure::Digest(_))));
    // A Content-Length larger than the body: what came is hashed.
    assert_eq!(
        judge(&u, b"HTTP/1.0 200 OK\r\nContent-Length: 99\r\n\r\nhello"),
        Ok(())
    );
    // Content-Length: with nothing on its line counts as 0 (strtoul).
    let empty_md5 = with_digest("d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(
        judge(
            &empty_md5,
            b"HTTP/1.0 200 OK\r\nContent-Length:\r\n\r\nhello"
        ),
        Ok(())
    );
    // The status is checked first.
    assert_eq!(
        judge(&u, b"HTTP/1.0 500 E\r\n\r\nhello"),
        Err(Failure::Status(500))
    );
}

#[test]
fn chunked_bodies_are_hashed_raw() {
    // keepalived hashes the chunk-size lines too (the notes: tested).
    let raw = "5\r\nhello\r\n0\r\n\r\n";
    let digest = format!("{:x}", md5::compute(raw));
    let u = with_digest(&digest);
    let answer = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{raw}");
    assert_eq!(judge(&u, answer.as_bytes()), Ok(()));
    assert!(judge(&with_digest(HELLO_MD5), answer.as_bytes()).is_err());
}

#[test]
fn regex_subject_is_the_raw_answer_headers_included() {
    let answer = b"HTTP/1.1 200 OK\r\nX-State: ready\r\n\r\n<p>all good</p>";
    assert_eq!(
        judge(&with_regex("all good", false, 0, None), answer),
        Ok(())
    );
    assert_eq!(
        judge(&with_regex("X-State: ready", false, 0, None), answer),
        Ok(())
    );
    assert_eq!(
        judge(&with_regex("broken", false, 0, None), answer),
        Err(Failure::Regex { matched: false })
    );
    // regex_no_match inverts.
    assert_eq!(judge(&with_regex("broken", true, 0, None), answer), Ok(()));
    assert_eq!(
        judge(&with_regex("good", true, 0, None), answer),
        Err(Failure::Regex { matched: true })
    );
    // Defaults: case-sensitive, `.` does not cross a newline.
    assert!(judge(&with_regex("ALL GOOD", false, 0, None), answer).is_err());
    assert!(judge(&with_regex("ready.*good", false, 0, None), answer).is_err());
    // The status is checked before the regex.
    let error = b"HTTP/1.1 500 E\r\n\r\nall good";
    assert_eq!(
        judge(&with_regex("all good", false, 0, None), error),
        Err(Failure::Status(500))
    );
}

#[test]
fn regex_offsets_count_from_the_status_line() {
    // "HTTP/1.0 200 OK\r\n\r\n" is 19 bytes: the body starts at 19.
    let answer = b"HTTP/1.0 200 OK\r\n\r\nabc OK";
    // "OK" first matches at 13 (the status line), then at 23.
    assert_eq!(judge(&with_regex("OK", false, 0, Some(13)), answer), Ok(()));
    assert_eq!(judge(&with_regex("OK", false, 14, None), answer), Ok(()));
    // From 14 the first match is at 23: past a max of 22.
    assert!(judge(&with_regex("OK", false, 14, Some(22)), answer).is_err());
    assert_eq!(
        judge(&with_regex("OK", false, 14, Some(23)), answer),
        Ok(())
    );
    // The minimum bounds where a match starts; lookbehind sees before it.
    assert_eq!(
        judge(&with_regex("(?<=c )OK", false, 23, None), answer),
        Ok(())
    );
    // An offset past the end: no match.
    assert!(judge(&with_regex("OK", false, 1000, None), answer).is_err());
}

#[test]
fn regex_options_apply() {
    let answer = b"HTTP/1.0 200 OK\r\n\r\nAll\nGood";
    let compile = |p: &str, o: &[RegexOption]| Url {
        regex: Some(UrlRegex {
            regex: HttpRegex::compile(p, o, None).unwrap(),
            no_match: false,
            min_offset: 0,
            max_offset: None,
        }),
        ..url()
    };
    assert!(judge(&compile("all", &[]), answer).is_err());
    assert_eq!(
        judge(&compile("all", &[RegexOption::Caseless]), answer),
        Ok(())
    );
    assert_eq!(
        judge(&compile("All.Good", &[RegexOption::Dotall]), answer),
        Ok(())
    );
    assert_eq!(
        judge(&compile("^Good$", &[RegexOption::Multiline]), answer),
        Ok(())
    );
}

#[test]
fn reasons_name_keepalived_s_words() {
    assert_eq!(
        Failure::NoHeader { received: 0 }.reason(),
        "Read, no data received"
    );
    assert!(Failure::Status(404).reason().contains("404"));
    assert!(Failure::Digest("ab".into())
        .reason()
        .starts_with("MD5 digest error"));
    assert!(Failure::Regex { matched: false }
        .reason()
        .starts_with("Regex match failed"));
}

#[test]
fn a_restarted_answer_judges_the_next_alone_and_gives_back_a_long_ones_room() {
    // As the prober reuses an exchange slot's answer, attempt after attempt.
    let long = with_regex("needle", false, 0, None);
    let mut a = Answer::new(&long);
    let mut answer = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    answer.resize(300_000, b'x');
    answer.extend_from_slice(b"needle");
    a.feed(&answer);
    assert_eq!(a.verdict(&long), Ok(()));
    let u = with_digest(HELLO_MD5);
    a.restart(&u);
    assert!(a.kept_room() <= 64 * 1024, "{}", a.kept_room());
    a.feed(b"HTTP/1.1 200 OK\r\n\r\nhello");
    assert_eq!(a.verdict(&u), Ok(()));
    a.restart(&u);
    a.feed(b"HTTP/1.1 200 OK\r\n\r\nhellx");
    assert!(matches!(a.verdict(&u), Err(Failure::Digest(_))));
    // Nothing of an earlier answer is left: no header end yet.
    a.restart(&url());
    a.feed(b"HTTP/1.1 200 OK\r\n");
    assert_eq!(a.verdict(&url()), Err(Failure::NoHeader { received: 17 }));
}
