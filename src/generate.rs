//! `lvsd generate man|completions DIR` (hidden): the man pages and shell
//! completions the Debian package ships, made from the same clap definition
//! that parses the command line, so an option added there appears in
//! lvsd(8) and in the completions without a hand edit (as `rg --generate`
//! does for ripgrep).
//!
//! - `man`: `lvsd.8` is clap_mangen's NAME, SYNOPSIS, DESCRIPTION, OPTIONS
//!   and SUBCOMMANDS with the hand-written roff of `packaging/man/` woven in
//!   (more DESCRIPTION; SIGNALS, FILES, EXIT STATUS, ENVIRONMENT, EXAMPLES,
//!   SEE ALSO after the options). Every visible subcommand, at any depth,
//!   gets its own page (`lvsd-ipvs.8`, `lvsd-ipvs-list.8`, ... and
//!   `lvsd-ctl.8` once it exists). `lvsd.conf.5` is hand-written and copied.
//! - `completions`: bash, zsh and fish scripts, named as Debian's shells
//!   look them up (`lvsd`, `_lvsd`, `lvsd.fish`).
//!
//! Called by `packaging/build-deb`; the tests render each page with
//! `man --warnings`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap_complete::Shell;
use clap_mangen::Man;

/// What `lvsd generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// Man pages (roff, not compressed).
    Man,
    /// Shell completions for bash, zsh and fish.
    Completions,
}

/// More of lvsd(8)'s DESCRIPTION, after clap's one-line `about`.
const DESCRIPTION: &str = include_str!("../packaging/man/lvsd.8.description");
/// lvsd(8)'s sections after OPTIONS: SIGNALS, FILES, EXIT STATUS, ...
const SECTIONS: &str = include_str!("../packaging/man/lvsd.8.sections");
/// lvsd.conf(5), hand-written.
const CONF_PAGE: &str = include_str!("../packaging/man/lvsd.conf.5");

/// `lvsd generate man|completions DIR` in `args` (the whole command line),
/// or None when the command line is something else. Not part of the clap
/// definition, so no page or completion shows it.
pub fn requested(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Option<(What, PathBuf)>, String> {
    let args: Vec<_> = args.into_iter().skip(1).collect();
    if args.first().is_none_or(|a| a != "generate") {
        return Ok(None);
    }
    match &args[1..] {
        [what, dir] if what == "man" => Ok(Some((What::Man, dir.into()))),
        [what, dir] if what == "completions" => Ok(Some((What::Completions, dir.into()))),
        _ => Err("usage: lvsd generate man|completions DIR".into()),
    }
}

/// Write `what` for `cmd` (lvsd's whole command line) into `dir`.
pub fn run(what: What, dir: &Path, cmd: clap::Command) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    match what {
        What::Man => man_pages(dir, cmd),
        What::Completions => completions(dir, cmd),
    }
}

fn page(cmd: clap::Command) -> Man {
    Man::new(cmd)
        .section("8")
        .manual("System Administration")
        .source(format!("lvsd {}", env!("CARGO_PKG_VERSION")))
}

fn man_pages(dir: &Path, mut cmd: clap::Command) -> std::io::Result<()> {
    cmd = cmd.disable_help_subcommand(true);
    // Gives every subcommand its display name (`lvsd-ipvs`), as clap_mangen's
    // own generate_to does.
    cmd.build();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        subcommand_pages(dir, sub.clone())?;
    }
    let man = page(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    out.write_all(DESCRIPTION.as_bytes())?;
    man.render_options_section(&mut out)?;
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }
    out.write_all(SECTIONS.as_bytes())?;
    std::fs::write(dir.join("lvsd.8"), out)?;
    std::fs::write(dir.join("lvsd.conf.5"), CONF_PAGE)
}

/// A page for `cmd` and one for each of its visible subcommands.
fn subcommand_pages(dir: &Path, cmd: clap::Command) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        subcommand_pages(dir, sub.clone())?;
    }
    let man = page(cmd);
    let mut out = Vec::new();
    man.render(&mut out)?;
    // Every page points back at the daemon's, where FILES and SIGNALS are.
    out.write_all(b".SH \"SEE ALSO\"\n\\fBlvsd\\fR(8)\n")?;
    std::fs::write(dir.join(man.get_filename()), out)
}

fn completions(dir: &Path, mut cmd: clap::Command) -> std::io::Result<()> {
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd, "lvsd", dir)?;
    }
    // clap_complete names the bash script `lvsd.bash`; bash-completion
    // looks for the command's own name.
    std::fs::rename(dir.join("lvsd.bash"), dir.join("lvsd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<std::ffi::OsString> {
        words.iter().map(Into::into).collect()
    }

    #[test]
    fn only_generate_as_the_first_word_is_taken() {
        assert_eq!(requested(args(&["lvsd", "-f", "generate"])), Ok(None));
        assert_eq!(requested(args(&["lvsd"])), Ok(None));
        assert_eq!(
            requested(args(&["lvsd", "generate", "man", "out"])),
            Ok(Some((What::Man, PathBuf::from("out"))))
        );
        assert_eq!(
            requested(args(&["lvsd", "generate", "completions", "out"])),
            Ok(Some((What::Completions, PathBuf::from("out"))))
        );
        assert!(requested(args(&["lvsd", "generate", "html", "out"])).is_err());
    }

    #[test]
    fn a_page_per_visible_subcommand_with_the_daemons_sections() {
        let cmd = clap::Command::new("lvsd")
            .arg(clap::arg!(--"keep-table" "Leave the table"))
            .subcommand(
                clap::Command::new("ipvs")
                    .about("The table")
                    .subcommand(clap::Command::new("list").about("List it")),
            )
            .subcommand(clap::Command::new("secret").hide(true));
        let dir = tempfile::tempdir().unwrap();
        run(What::Man, dir.path(), cmd).unwrap();
        let mut pages: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        pages.sort();
        assert_eq!(
            pages,
            ["lvsd-ipvs-list.8", "lvsd-ipvs.8", "lvsd.8", "lvsd.conf.5"]
        );
        let main = std::fs::read_to_string(dir.path().join("lvsd.8")).unwrap();
        assert!(main.contains("keep\\-table"), "{main}");
        for section in [
            ".SH SIGNALS",
            ".SH FILES",
            ".SH \"EXIT STATUS\"",
            ".SH EXAMPLES",
        ] {
            assert!(main.contains(section), "{section}");
        }
    }
}
