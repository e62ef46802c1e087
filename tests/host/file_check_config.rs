//! `track_file` blocks and `FILE_CHECK` as lvsd types them: keepalived
//! 2.2.7's keywords, defaults and ranges, and an error (file:line:col)
//! for what keepalived would refuse or drop.

use std::path::{Path, PathBuf};

use lvsd::config::{load_bytes, Check, Config, ConfigError, Diagnostic, LoadOptions, Severity};

fn load(path: &Path, text: &str) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
    let opts = LoadOptions {
        config_id: Some("main".into()),
    };
    match load_bytes(path, text.as_bytes().to_vec(), &opts) {
        Ok(l) => Ok((l.config, l.diagnostics)),
        Err(ConfigError::Invalid(d)) => Err(d),
        Err(e) => panic!("unexpected {e}"),
    }
}

/// A track_file block `t` for `dir/value` with `body` (lines 2.., so the
/// block ends on line 3 + body lines), then a virtual server whose real
/// server has `check` (a FILE_CHECK block) from line `first_check_line`.
fn config(dir: &Path, body: &str, check: &str) -> String {
    format!(
        "track_file t {{\n file {}\n{body}\n}}\nvirtual_server 127.0.0.1 80 {{\n protocol TCP\n real_server 127.0.0.2 80 {{\n weight 10\n{check}\n }}\n}}\n",
        dir.join("value").display()
    )
}

fn file_check(c: &Config) -> &lvsd::config::FileCheck {
    match &*c.virtual_servers[0].real_servers[0].checks[0] {
        Check::File(f) => f,
        other => panic!("not a FILE_CHECK: {other:?}"),
    }
}

fn dir() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let conf = d.path().join("keepalived.conf");
    (d, conf)
}

#[test]
fn defaults_come_from_the_track_file_and_the_check_may_override_them() {
    let (d, conf) = dir();
    // No weight anywhere: the track_file's default, 1.
    let (c, diags) = load(
        &conf,
        &config(d.path(), "", " FILE_CHECK {\n track_file t\n }"),
    )
    .unwrap();
    // Only the virtual server's own defaults are worth a word.
    let about_us =
        |d: &&Diagnostic| d.severity >= Severity::Warning && !d.message.contains("no `lb_");
    assert!(!diags.iter().any(|d| about_us(&d)), "{diags:?}");
    assert_eq!(c.track_files.len(), 1);
    let t = &c.track_files[0];
    assert_eq!(
        (t.name.as_str(), t.weight, t.reverse, t.init),
        ("t", 1, false, None)
    );
    let f = file_check(&c);
    assert_eq!(
        (f.track_file.as_str(), f.weight, f.reverse),
        ("t", 1, false)
    );
    assert_eq!(f.path, d.path().join("value"));
    // The track_file's weight and reverse, when the check has none.
    let (c, _) = load(
        &conf,
        &config(
            d.path(),
            " weight -254 reverse\n init_file 7 overwrite",
            " FILE_CHECK {\n track_file t\n }",
        ),
    )
    .unwrap();
    let init = c.track_files[0].init.unwrap();
    assert_eq!((init.value, init.overwrite), (7, true));
    assert_eq!(
        (file_check(&c).weight, file_check(&c).reverse),
        (-254, true)
    );
    // The check's own, even 0 (keepalived 2.2.7 tells "none" from 0).
    let (c, _) = load(
        &conf,
        &config(
            d.path(),
            " weight 5 reverse",
            " FILE_CHECK {\n track_file t\n weight 0\n }",
        ),
    )
    .unwrap();
    assert_eq!((file_check(&c).weight, file_check(&c).reverse), (0, false));
    let (c, _) = load(
        &conf,
        &config(
            d.path(),
            "",
            " FILE_CHECK {\n track_file t\n weight -2147483647 reverse\n }",
        ),
    )
    .unwrap();
    assert_eq!(
        (file_check(&c).weight, file_check(&c).reverse),
        (-2147483647, true)
    );
    // The deprecated name is the same block.
    let text = config(d.path(), " weight 3", " FILE_CHECK {\n track_file t\n }").replacen(
        "track_file t {",
        "vrrp_track_file t {",
        1,
    );
    let (c, diags) = load(&conf, &text).unwrap();
    assert_eq!(file_check(&c).weight, 3);
    assert!(
        diags.iter().any(|d| d.message.contains("deprecated")),
        "{diags:?}"
    );
}

#[test]
fn two_real_servers_checking_one_file_alike_share_a_probe() {
    let (d, conf) = dir();
    let text = format!(
        "track_file t {{\n file {}\n}}\nvirtual_server 127.0.0.1 80 {{\n protocol TCP\n real_server 127.0.0.2 80 {{\n FILE_CHECK {{\n track_file t\n }}\n }}\n real_server 127.0.0.3 80 {{\n FILE_CHECK {{\n track_file t\n }}\n }}\n}}\n",
        d.path().join("v").display()
    );
    let (c, _) = load(&conf, &text).unwrap();
    let rs = &c.virtual_servers[0].real_servers;
    assert_eq!(*rs[0].checks[0], *rs[1].checks[0]);
}

/// (name, track_file body, FILE_CHECK block, severity, line, col, text).
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Severity,
    u32,
    u32,
    &'static str,
);

#[test]
fn what_keepalived_refuses_is_an_error_where_it_is() {
    use Severity::{Error, Warning};
    let cases: &[Case] = &[
        (
            "no track_file in the check",
            "",
            " FILE_CHECK {\n }",
            Error,
            9,
            2,
            "FILE_CHECK needs `track_file NAME`",
        ),
        (
            "unknown track_file",
            "",
            " FILE_CHECK {\n track_file nope\n }",
            Error,
            10,
            13,
            "no track_file `nope` is defined before this FILE_CHECK",
        ),
        (
            "check weight out of range",
            "",
            " FILE_CHECK {\n track_file t\n weight 2147483648\n }",
            Error,
            11,
            9,
            "a weight (-2147483647..2147483647)",
        ),
        (
            "check weight option",
            "",
            " FILE_CHECK {\n track_file t\n weight 2 sideways\n }",
            Error,
            11,
            11,
            "`reverse` or `noreverse`",
        ),
        (
            "dynamic is not a keyword",
            "",
            " FILE_CHECK {\n track_file t\n dynamic\n }",
            Warning,
            11,
            2,
            "unknown keyword `dynamic`",
        ),
        (
            "timing keywords are not FILE_CHECK's",
            "",
            " FILE_CHECK {\n track_file t\n delay_loop 3\n }",
            Warning,
            11,
            2,
            "unknown keyword `delay_loop`",
        ),
        (
            "track_file weight out of range",
            " weight 255",
            " FILE_CHECK {\n track_file t\n }",
            Error,
            3,
            9,
            "a weight (-254..254)",
        ),
        (
            "noreverse is the check's only",
            " weight 2 noreverse",
            " FILE_CHECK {\n track_file t\n }",
            Error,
            3,
            11,
            "`reverse`",
        ),
        (
            "init_file garbage",
            " init_file seven",
            " FILE_CHECK {\n track_file t\n }",
            Error,
            3,
            12,
            "an integer or `overwrite`",
        ),
        (
            "init_file beyond the sensible range",
            " init_file 300",
            " FILE_CHECK {\n track_file t\n }",
            Warning,
            3,
            12,
            "outside the sensible range",
        ),
        (
            "unknown track_file keyword",
            " colour blue",
            " FILE_CHECK {\n track_file t\n }",
            Warning,
            3,
            2,
            "unknown keyword `colour`",
        ),
    ];
    let (d, conf) = dir();
    let mut failures = Vec::new();
    for (name, body, check, severity, line, col, text) in cases {
        let result = load(&conf, &config(d.path(), body, check));
        let (ok, diags) = match result {
            Ok((_, diags)) => (true, diags),
            Err(diags) => (false, diags),
        };
        let found = diags.iter().any(|d| {
            d.severity == *severity
                && (d.location.line, d.location.col) == (*line, *col)
                && *d.location.file == *conf
                && d.message.contains(text)
        });
        if ok != (*severity != Error) || !found {
            failures.push(format!(
                "{name}: ok={ok}, want {severity:?} at {line}:{col} {text:?}: {diags:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_track_file_must_have_a_file_in_an_existing_directory_and_come_first() {
    let (d, conf) = dir();
    let check = "virtual_server 127.0.0.1 80 {\n protocol TCP\n real_server 127.0.0.2 80 {\n FILE_CHECK {\n track_file t\n }\n }\n}\n";
    // No file.
    let diags = load(&conf, &format!("track_file t {{\n weight 2\n}}\n{check}")).unwrap_err();
    assert!(
        diags
            .iter()
            .any(|d| (d.location.line, d.location.col) == (1, 1)
                && d.message.contains("needs `file PATH`")),
        "{diags:#?}"
    );
    // A directory that does not exist.
    let missing = d.path().join("absent/value");
    let diags = load(
        &conf,
        &format!("track_file t {{\n file {}\n}}\n{check}", missing.display()),
    )
    .unwrap_err();
    assert!(
        diags
            .iter()
            .any(|d| (d.location.line, d.location.col) == (2, 7)
                && d.message.contains("does not exist")),
        "{diags:#?}"
    );
    // Defined after the check that names it: keepalived does not find it either.
    let diags = load(
        &conf,
        &format!(
            "{check}track_file t {{\n file {}\n}}\n",
            d.path().join("v").display()
        ),
    )
    .unwrap_err();
    assert!(
        diags
            .iter()
            .any(|d| (d.location.line, d.location.col) == (5, 13)
                && d.message.contains("defined before")),
        "{diags:#?}"
    );
    // `init_file overwrite` of something that is not a regular file.
    let diags = load(
        &conf,
        &format!(
            "track_file t {{\n file {}\n init_file overwrite\n}}\n{check}",
            d.path().display()
        ),
    )
    .unwrap_err();
    assert!(
        diags
            .iter()
            .any(|d| (d.location.line, d.location.col) == (3, 2)
                && d.message.contains("not a regular file")),
        "{diags:#?}"
    );
    // A file that does not exist yet is fine: it reads as 0 until it does.
    let (c, _) = load(
        &conf,
        &format!(
            "track_file t {{\n file {}\n}}\n{check}",
            d.path().join("later").display()
        ),
    )
    .unwrap();
    assert_eq!(c.track_files.len(), 1);
}
