//! The rule: lvsd never reports a real server healthy for a check it does
//! not perform. Every checker kind the lexer knows is probed now
//! (`BFD_CHECK` was the last); the safety net stays:
//!
//! - `CheckKw::is_probed` is the one list: a kind it refuses is an error at
//!   its block (`config/checks.rs`), so `lvsd -t` names it, a start fails
//!   and a reload is refused; this test fails as soon as a kind the lexer
//!   knows is not probed, so a new kind comes with its probe or with its
//!   refusal tested here again;
//! - the engine reports a probe of a kind it does not probe **down**, with
//!   one warning and no probe: `checker::engine`'s unit test
//!   `unsupported_kinds_are_down_with_one_warning_and_no_probe`.

use lvsd::config::keywords::{CheckKw, CHECK_KEYWORDS};

#[test]
fn every_kind_the_lexer_knows_is_probed() {
    let unprobed: Vec<&str> = CHECK_KEYWORDS
        .iter()
        .copied()
        .filter(|name| !CheckKw::from_name(name).is_some_and(CheckKw::is_probed))
        .collect();
    assert!(
        unprobed.is_empty(),
        "kinds lvsd does not probe: {unprobed:?} (test their refusal here: \
         lvsd -t names them at file:line:col, a start fails, a reload is refused)"
    );
    assert_eq!(CheckKw::probed_names().len(), CHECK_KEYWORDS.len());
}

#[test]
fn a_bfd_check_is_accepted_where_it_was_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepalived.conf");
    std::fs::write(
        &path,
        "bfd_instance b {\n neighbor_ip 192.0.2.9\n}\n\
         virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n\
          real_server 192.0.2.9 80 {\n BFD_CHECK {\n name b\n }\n }\n}\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .arg("-t")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "lvsd -t refused BFD_CHECK:\n{stderr}");
    assert!(!stderr.contains("does not probe"), "{stderr}");
}
