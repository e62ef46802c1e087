//! What every test that starts `lvsd --dry-run` shares: starting it, reading
//! what it prints, signalling it, and killing it when the test ends.
//!
//! In a dry run lvsd keeps its table in memory and prints each change as an
//! `ipvsadm` line on stdout (`-a -t 10.0.0.1:80 -r 127.0.0.1:8080 -m -w 3`);
//! its log goes to stderr. A test starts it with [`dry_run`] (or
//! [`dry_run_in`] inside a network namespace the test made), chooses what to
//! capture, and then waits on [`Lines`]:
//!
//! ```ignore
//! let lvsd = dry_run(&config).start();
//! let added = lvsd.out.next_starting("-a ", "127.0.0.1:8080");
//! lvsd.signal(libc::SIGHUP);
//! ```
//!
//! Defaults, which every such test wants: drift repair off
//! (`--drift-interval 0`), no state file (`--state-file /dev/null`),
//! `LVSD_LOG=warn`, stdout captured, stderr dropped.
//!
//! A wait gives up after [`PATIENCE`] (or the limit a test names) and panics
//! listing the lines it saw, so a failure says what lvsd did instead.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a wait lasts unless a test names its own limit.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A process killed (and reaped) when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where lvsd's log (stderr) goes.
enum Log {
    /// Dropped.
    Null,
    /// On [`Lvsd::log`].
    Apart,
    /// On [`Lvsd::out`], among the table changes.
    Merged,
    /// The test's own stderr.
    Inherit,
}

/// How to start `lvsd --dry-run`: [`dry_run`], then options, then
/// [`DryRun::start`].
pub struct DryRun {
    command: Command,
    config: PathBuf,
    state_file: PathBuf,
    capture_out: bool,
    log: Log,
}

/// `lvsd --dry-run -f config` with the defaults above.
pub fn dry_run(config: &Path) -> DryRun {
    DryRun::new(Command::new(env!("CARGO_BIN_EXE_lvsd")), config)
}

/// As [`dry_run`], inside the network namespace `ns` (`ip netns exec`, which
/// execs lvsd: the child's pid is lvsd's).
pub fn dry_run_in(ns: &str, config: &Path) -> DryRun {
    dry_run_bin_in(OsStr::new(env!("CARGO_BIN_EXE_lvsd")), ns, config)
}

/// As [`dry_run_in`], with another lvsd binary (a bench comparing two
/// builds on the same machine and load).
pub fn dry_run_bin_in(lvsd: &OsStr, ns: &str, config: &Path) -> DryRun {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).arg(lvsd);
    DryRun::new(command, config)
}

impl DryRun {
    fn new(mut command: Command, config: &Path) -> DryRun {
        command
            .args(["--dry-run", "--drift-interval", "0"])
            .env("LVSD_LOG", "warn")
            .stdin(Stdio::null());
        DryRun {
            command,
            config: config.to_owned(),
            state_file: PathBuf::from("/dev/null"),
            capture_out: true,
            log: Log::Null,
        }
    }

    /// More arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> DryRun {
        self.command.args(args);
        self
    }

    /// An environment variable for lvsd.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> DryRun {
        self.command.env(key, value);
        self
    }

    /// lvsd may open at most `files` files (its soft and hard limit). A
    /// test run as root starts it as `nobody`, who cannot raise them (root
    /// could: lvsd raises its hard limit to what its probes need when it
    /// may), so the config must be readable by all.
    pub fn open_files(mut self, files: u64) -> DryRun {
        use nix::sys::resource::{setrlimit, Resource};
        use nix::unistd::{geteuid, setgid, setgroups, setuid, Gid, Uid};
        use std::os::unix::process::CommandExt;
        const NOBODY: u32 = 65534;
        let limit = move || {
            setrlimit(Resource::RLIMIT_NOFILE, files, files)?;
            if geteuid().is_root() {
                setgroups(&[])?;
                setgid(Gid::from_raw(NOBODY))?;
                setuid(Uid::from_raw(NOBODY))?;
            }
            Ok::<(), nix::Error>(())
        };
        // SAFETY: the closure runs in the forked child before exec; it
        // only makes system calls that are async-signal-safe (setrlimit,
        // setgroups, setgid, setuid) and allocates nothing.
        unsafe {
            self.command
                .pre_exec(move || limit().map_err(std::io::Error::from))
        };
        self
    }

    /// The state dump (SIGUSR1) written to `path`.
    pub fn state_file(mut self, path: &Path) -> DryRun {
        self.state_file = path.to_owned();
        self
    }

    /// The table changes not read: stdout goes nowhere.
    pub fn quiet(mut self) -> DryRun {
        self.capture_out = false;
        self
    }

    /// The log at `level` on [`Lvsd::log`].
    pub fn log(self, level: &str) -> DryRun {
        self.logging(level, Log::Apart)
    }

    /// The log at `level` on [`Lvsd::out`], among the table changes.
    pub fn log_merged(self, level: &str) -> DryRun {
        self.logging(level, Log::Merged)
    }

    /// The log at `level` on the test's own stderr (to watch a bench).
    pub fn log_shown(self, level: &str) -> DryRun {
        self.logging(level, Log::Inherit)
    }

    fn logging(mut self, level: &str, log: Log) -> DryRun {
        self.command.env("LVSD_LOG", level);
        self.log = log;
        self
    }

    /// Starts lvsd (it is killed when the [`Lvsd`] is dropped).
    pub fn start(mut self) -> Lvsd {
        let piped = |yes: bool| if yes { Stdio::piped() } else { Stdio::null() };
        let mut child = self
            .command
            .arg("--state-file")
            .arg(&self.state_file)
            .arg("-f")
            .arg(&self.config)
            .stdout(piped(self.capture_out))
            .stderr(match self.log {
                Log::Null => Stdio::null(),
                Log::Inherit => Stdio::inherit(),
                Log::Apart | Log::Merged => Stdio::piped(),
            })
            .spawn()
            .expect("lvsd starts");
        let (out_tx, out) = mpsc::channel();
        let (log_tx, log) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            read_lines(stdout, out_tx.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            match self.log {
                Log::Merged => read_lines(stderr, out_tx),
                _ => read_lines(stderr, log_tx),
            }
        }
        Lvsd {
            process: Killed(child),
            out: Lines(out),
            log: Lines(log),
        }
    }
}

/// Sends each line of `reader`, with when it arrived, until the receiver
/// is gone.
fn read_lines(reader: impl std::io::Read + Send + 'static, tx: mpsc::Sender<(Instant, String)>) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
}

/// A running `lvsd --dry-run`.
pub struct Lvsd {
    pub process: Killed,
    /// Its table changes (and its log, if merged).
    pub out: Lines,
    /// Its log, if asked for with [`DryRun::log`].
    pub log: Lines,
}

impl Lvsd {
    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }

    /// Sends `signal` (`libc::SIGHUP`, ...) to lvsd.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid, which is not reaped
        // before `self.process` is dropped, so it cannot name another process.
        let sent = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        assert_eq!(sent, 0, "kill({}, {signal})", self.pid());
    }
}

/// The lines of one of lvsd's outputs, as they arrive.
pub struct Lines(mpsc::Receiver<(Instant, String)>);

impl Lines {
    /// The next line within `limit` (and when it came), or `None`.
    pub fn recv(&self, limit: Duration) -> Option<(Instant, String)> {
        self.0.recv_timeout(limit).ok()
    }

    /// The first line within `limit` for which `wanted` holds (and when it
    /// came); every line on the way is shown to `wanted`. Panics naming
    /// `what` and listing the lines seen if none comes.
    pub fn next_where(
        &self,
        what: &str,
        limit: Duration,
        mut wanted: impl FnMut(&str) -> bool,
    ) -> (Instant, String) {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok((at, line)) if wanted(&line) => return (at, line),
                Ok((_, line)) => seen.push(line),
                Err(e) => panic!("no {what} within {limit:?} ({e}); seen: {seen:#?}"),
            }
        }
    }

    /// The next line that starts with `prefix` and contains `has`.
    pub fn next_starting(&self, prefix: &str, has: &str) -> String {
        let what = format!("`{prefix}…{has}` line");
        self.next_where(&what, PATIENCE, |l| {
            l.starts_with(prefix) && l.contains(has)
        })
        .1
    }

    /// When the next line containing `needle` came, within `limit`.
    pub fn next_containing(&self, needle: &str, limit: Duration) -> Instant {
        self.next_where(&format!("`{needle}`"), limit, |l| l.contains(needle))
            .0
    }

    /// When the line `want` came.
    pub fn exactly(&self, want: &str) -> Instant {
        self.next_where(&format!("`{want}`"), PATIENCE, |l| l == want)
            .0
    }

    /// When the last of the lines `want` came; they may come in any order.
    pub fn all_of(&self, want: &[String]) -> Instant {
        let deadline = Instant::now() + PATIENCE;
        let mut missing: Vec<&String> = want.iter().collect();
        let mut last = Instant::now();
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, line) = self.next_where(&format!("{missing:?}"), left, |l| {
                missing.iter().any(|m| *m == l)
            });
            if let Some(i) = missing.iter().position(|m| **m == line) {
                missing.swap_remove(i);
            }
            last = at;
        }
        last
    }

    /// Every line that arrives within `wait`.
    pub fn within(&self, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        while let Some((_, line)) = self.recv(deadline.saturating_duration_since(Instant::now())) {
            out.push(line);
        }
        out
    }

    /// Every line until none came for `gap`.
    pub fn until_quiet(&self, gap: Duration) -> Vec<String> {
        let mut out = Vec::new();
        while let Some((_, line)) = self.recv(gap) {
            out.push(line);
        }
        out
    }

    /// Drops the lines that have already arrived.
    pub fn skip_arrived(&self) {
        while self.0.try_recv().is_ok() {}
    }
}
