//! The host group: everything that runs on this machine without root or a
//! network beyond loopback, in one test binary (one link instead of one per
//! file). Each module is one area; its opening `//!` says what it proves.
//! A new test goes into the module of its area; a new area is a new file
//! here and a line below (`tests/README.md` says which group a test needs).
//!
//! The tests of all modules run at once on cargo's test threads: a test
//! owns nothing process-wide (no fixed port, path or address another
//! module could take; no `set_var`, rlimit or cwd change on this process).
//!
//! The config front end:
//! - `malformed`: bad configs give the right error at file:line:col
//! - `parity`: configs as operators write them, against `keepalived -t`
//! - `grammar`: grammar/keepalived.ebnf and the keyword tables agree
//! - `model`: the typed model, keepalived's defaults and inheritance
//! - `samples`: every sample config keepalived ships
//! - `preprocess`: parameters, conditionals, includes
//! - `bfd_config`: `bfd_instance` and `BFD_CHECK`
//! - `file_check_config`: `track_file` and `FILE_CHECK`
//! - `fuzz_corpus`: the checked-in config fuzz corpus replayed
//! - `fuzz_corpus_tls`: the checked-in TLS fuzz corpus replayed
//! - `unprobed_kinds`: no healthy verdict for a check lvsd does not run
//!
//! The table and the daemon:
//! - `ipvs_behaviour`: the in-memory table against the IPVS behaviour spec
//! - `daemon_dry_run`: the whole daemon in `--dry-run`
//! - `mistakes`: what an operator does wrong, one test each
//! - `ctl_dry_run`: `lvsd ctl` end to end
//! - `file_check`: FILE_CHECK end to end
//! - `metrics`: `--metrics-listen` end to end
//! - `keepalived_cli`: keepalived's command line given to lvsd
//!
//! The rest of the house:
//! - `backend`: the `lvsd-backend` helper binary
//! - `package`: the Debian package
//! - `module_maps`: every `mod.rs` maps its files
//!
//! Shared with other test binaries (folders under `tests/`):
//! - `checker_support`: `can_run` (skip, or fail under `CI=true`)
//! - `dry_run_support`: starting `lvsd --dry-run` and reading its output
//! - `metrics_support`: lvsd with metrics, and HTTP requests to them

#[path = "../checker_support/mod.rs"]
mod checker_support;
#[path = "../dry_run_support/mod.rs"]
mod dry_run_support;
#[path = "../metrics_support/mod.rs"]
mod metrics_support;

mod backend;
mod bfd_config;
mod ctl_dry_run;
mod daemon_dry_run;
mod file_check;
mod file_check_config;
mod fuzz_corpus;
mod fuzz_corpus_tls;
mod grammar;
mod ipvs_behaviour;
mod keepalived_cli;
mod malformed;
mod metrics;
mod mistakes;
mod model;
mod module_maps;
mod package;
mod parity;
mod preprocess;
mod samples;
mod unprobed_kinds;
