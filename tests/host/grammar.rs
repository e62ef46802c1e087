//! grammar/keepalived.ebnf and the parser's keyword tables must agree: each
//! keyword-list rule of the grammar holds exactly the spellings of one table
//! in `lvsd::config::keywords`, in the same order.

use lvsd::config::keywords as kw;

/// (grammar rule, parser table).
const RULES: &[(&str, &[&str])] = &[
    ("top_keyword", kw::TOP_KEYWORDS),
    ("skipped_block", kw::SKIPPED_BLOCKS),
    ("global_keyword", kw::GLOBAL_KEYWORDS),
    ("global_other_keyword", kw::GLOBAL_OTHER_KEYWORDS),
    ("vs_keyword", kw::VS_KEYWORDS),
    ("inherit_keyword", kw::INHERIT_KEYWORDS),
    ("rs_keyword", kw::RS_KEYWORDS),
    ("check_keyword", kw::CHECK_KEYWORDS),
    ("common_keyword", kw::COMMON_KEYWORDS),
    ("specific_keyword", kw::SPECIFIC_KEYWORDS),
    ("url_keyword", kw::URL_KEYWORDS),
    ("ssl_keyword", kw::SSL_KEYWORDS),
    ("track_file_keyword", kw::TRACK_FILE_KEYWORDS),
    ("bfd_instance_keyword", kw::BFD_INSTANCE_KEYWORDS),
];

fn grammar() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("grammar/keepalived.ebnf");
    std::fs::read_to_string(path).expect("grammar/keepalived.ebnf")
}

/// The quoted alternatives of rule `name` (`name = "a" | "b" ;`).
fn rule_words(grammar: &str, name: &str) -> Vec<String> {
    let start = grammar
        .lines()
        .position(|l| l.trim_end() == format!("{name} ="))
        .unwrap_or_else(|| panic!("rule `{name}` missing from the grammar"));
    let mut words = Vec::new();
    for line in grammar.lines().skip(start + 1) {
        let body = line.trim();
        for part in body.trim_end_matches(';').split('|') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let word = part.strip_prefix('"').and_then(|p| p.strip_suffix('"'));
            words.push(
                word.unwrap_or_else(|| panic!("rule `{name}`: `{part}` is not a quoted keyword"))
                    .to_owned(),
            );
        }
        if body.ends_with(';') {
            return words;
        }
    }
    panic!("rule `{name}` has no `;`");
}

#[test]
fn grammar_keyword_lists_match_the_parser_tables() {
    let g = grammar();
    for (rule, table) in RULES {
        let words = rule_words(&g, rule);
        assert_eq!(
            words, *table,
            "grammar rule `{rule}` and the parser's table differ"
        );
    }
}

#[test]
fn every_keyword_list_rule_of_the_grammar_is_checked() {
    let g = grammar();
    let section = g
        .split("(* ---------- Keyword lists")
        .nth(1)
        .expect("keyword list section");
    let rules: Vec<&str> = section
        .lines()
        .filter_map(|l| l.trim_end().strip_suffix(" ="))
        .collect();
    let checked: Vec<&str> = RULES.iter().map(|r| r.0).collect();
    assert_eq!(rules, checked);
}
