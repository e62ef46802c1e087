//! The file watcher: every `FILE_CHECK`'s file, watched with inotify on one
//! thread that sleeps until something changes.
//!
//! ```text
//!   Engine::set_probes ──(FILE_CHECK probes)──▶ watcher thread
//!                                               │ new file: watch its directory,
//!                                               │           read it, report
//!   inotify (the directory): close-after-write, │
//!   moved in ──▶ read the file ─────────────────┤
//!   deleted, moved away ──▶ value 0 ────────────┴─▶ verdict of every probe
//!                                                   of that file ─▶ HealthEvent
//! ```
//!
//! As keepalived does, the watch is on the file's **directory**
//! (`IN_CLOSE_WRITE | IN_DELETE | IN_MOVE`), and events are matched by
//! name: so a file that does not exist yet, or is replaced by a rename (the
//! safe way to write one), is followed. A write that never closes its file
//! is not seen. The path is resolved first (symbolic links and all), so a
//! link is followed to the file it names at start.
//!
//! No timer, no retry, no polling: between two changes the thread is
//! blocked in `epoll_wait` without a timeout. It exists only while the
//! config has a `FILE_CHECK`, and reads files off the prober thread, so a
//! slow file system never delays a probe.
//!
//! Probes are found by their slot in the [`ProbeTable`] (id and
//! generation), like the prober's attempts: a probe removed by a reload is
//! simply not found, and its results go nowhere.
//!
//! [`ProbeTable`]: super::probe_table::ProbeTable

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use mio::{Events, Interest, Poll, Token};
use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio::sync::mpsc::UnboundedSender;

use super::driver::{lock, log_change, Shared};
use super::file_check;
use super::schedule::Timing;
use super::side_thread::SideThread;
use super::{HealthEvent, ProbeResult, ProbeSpec};
use crate::config::Check;

/// A `FILE_CHECK` probe: its slot, its generation, its spec.
pub(super) type Watched = (u32, u32, Arc<ProbeSpec>);

const INOTIFY: Token = Token(0);
const WAKE: Token = Token(1);

/// What the engine tells the watcher.
enum Command {
    /// The `FILE_CHECK` probes now in the table: watch their files, report
    /// the new ones, forget the others.
    Probes(Vec<Watched>),
}

/// The engine's handle on the watcher thread. Dropping it stops the thread.
#[derive(Debug)]
pub(super) struct FileWatcher(SideThread<Command>);

impl FileWatcher {
    /// Starts the thread. Fails only if inotify or epoll cannot be had.
    pub(super) fn spawn(
        shared: Arc<Shared>,
        events: UnboundedSender<HealthEvent>,
    ) -> io::Result<FileWatcher> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        let poll = Poll::new()?;
        poll.registry().register(
            &mut mio::unix::SourceFd(&inotify.as_fd().as_raw_fd()),
            INOTIFY,
            Interest::READABLE,
        )?;
        let waker = mio::Waker::new(poll.registry(), WAKE)?;
        let thread = SideThread::spawn("lvsd-files", waker, move |commands| {
            Watcher {
                poll,
                inotify,
                shared,
                events,
                commands,
                files: Vec::new(),
            }
            .run()
        })?;
        Ok(FileWatcher(thread))
    }

    /// The `FILE_CHECK` probes are now `probes` (every one, not a change).
    pub(super) fn set(&self, probes: Vec<Watched>) {
        self.0.send(Command::Probes(probes));
    }
}

/// One tracked file and the probes that follow it.
struct Tracked {
    /// The path as configured: what probes name.
    path: PathBuf,
    /// The resolved directory and name, or why the directory cannot be watched.
    watch: Result<(WatchDescriptor, OsString), String>,
    /// Where it is read from (the resolved path).
    read_from: PathBuf,
    /// The latest value read.
    value: i64,
    probes: Vec<Watched>,
}

struct Watcher {
    poll: Poll,
    inotify: Inotify,
    shared: Arc<Shared>,
    events: UnboundedSender<HealthEvent>,
    commands: mpsc::Receiver<Command>,
    files: Vec<Tracked>,
}

/// FILE_CHECK and BFD_CHECK have no retries: one failure is down, one success up.
const AT_ONCE: Timing = Timing {
    delay_loop: Duration::ZERO,
    delay_before_retry: Duration::ZERO,
    retry: 0,
};

impl Watcher {
    fn run(&mut self) {
        let mut events = Events::with_capacity(8);
        loop {
            // No timeout: nothing happens here until a file or the engine says so.
            if let Err(e) = self.poll.poll(&mut events, None) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "file watcher: epoll_wait failed");
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
            loop {
                match self.commands.try_recv() {
                    Ok(Command::Probes(probes)) => self.set(probes),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            if events.iter().any(|e| e.token() == INOTIFY) {
                self.on_inotify();
            }
        }
    }

    /// Makes the watched probes exactly `probes`.
    fn set(&mut self, probes: Vec<Watched>) {
        let known = |p: &Watched| probes.iter().any(|q| q.0 == p.0 && q.1 == p.1);
        for file in &mut self.files {
            file.probes.retain(known);
        }
        let mut gone = Vec::new();
        self.files.retain(|f| {
            if f.probes.is_empty() {
                gone.extend(f.watch.as_ref().ok().map(|(wd, _)| *wd));
            }
            !f.probes.is_empty()
        });
        for wd in gone {
            // One watch per directory: keep it while another file uses it.
            let shared = self
                .files
                .iter()
                .any(|f| f.watch.as_ref().is_ok_and(|(w, _)| *w == wd));
            if !shared {
                let _ = self.inotify.rm_watch(wd);
            }
        }
        for probe in probes {
            let Check::File(check) = &*probe.2.check else {
                continue;
            };
            let at = match self.files.iter().position(|f| f.path == check.path) {
                Some(at) => at,
                None => {
                    self.files.push(self.track(&check.path));
                    self.files.len() - 1
                }
            };
            let file = &mut self.files[at];
            if file.probes.iter().any(|p| p.0 == probe.0 && p.1 == probe.1) {
                continue;
            }
            file.probes.push(probe.clone());
            let report = vec![probe];
            self.report(at, &report);
        }
    }

    /// Starts watching `path`'s directory and reads it.
    fn track(&self, path: &Path) -> Tracked {
        let resolved = resolve(path);
        let watch = resolved
            .as_ref()
            .map_err(ToString::to_string)
            .and_then(|(dir, name)| {
                let mask = AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_MOVED_TO;
                self.inotify
                    .add_watch(dir.as_path(), mask)
                    .map(|wd| (wd, name.clone()))
                    .map_err(|e| format!("cannot watch {}: {e}", dir.display()))
            });
        let read_from = match &resolved {
            Ok((dir, name)) => dir.join(name),
            Err(_) => path.to_path_buf(),
        };
        let value = file_check::read(&read_from).unwrap_or_else(|| {
            tracing::info!(file = %read_from.display(), "tracked file: number out of range, read as 0");
            0
        });
        tracing::debug!(file = %read_from.display(), value, "tracked file watched");
        Tracked {
            path: path.to_path_buf(),
            watch,
            read_from,
            value,
            probes: Vec::new(),
        }
    }

    /// Reads what inotify has, then re-reads (or zeroes) the files it names.
    fn on_inotify(&mut self) {
        let mut changed: Vec<(usize, Option<i64>)> = Vec::new();
        loop {
            let events = match self.inotify.read_events() {
                Ok(events) => events,
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "file watcher: inotify read failed");
                    break;
                }
            };
            for event in events {
                if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    // Events were lost: read every file again.
                    changed.extend((0..self.files.len()).map(|at| (at, None)));
                    continue;
                }
                if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                    // The directory went away (its files' deletions came
                    // first: they read 0). As in keepalived, a directory
                    // made again is not watched again until a reload.
                    for file in self.files.iter_mut() {
                        if file.watch.as_ref().is_ok_and(|(wd, _)| *wd == event.wd) {
                            tracing::warn!(file = %file.read_from.display(), "the directory of a tracked file was removed: it is no longer watched");
                            file.watch = Err("its directory was removed".into());
                        }
                    }
                    continue;
                }
                if event.mask.contains(AddWatchFlags::IN_ISDIR) {
                    continue;
                }
                let Some(name) = &event.name else { continue };
                let gone = event
                    .mask
                    .intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM);
                for (at, file) in self.files.iter().enumerate() {
                    if file
                        .watch
                        .as_ref()
                        .is_ok_and(|(wd, n)| *wd == event.wd && n == name)
                    {
                        // Deleted or moved away: the value is 0.
                        changed.push((at, gone.then_some(0)));
                    }
                }
            }
        }
        for (at, known) in changed {
            let file = &mut self.files[at];
            let Some(value) = known.or_else(|| file_check::read(&file.read_from)) else {
                tracing::info!(file = %file.read_from.display(), "tracked file: number out of range, ignored");
                continue;
            };
            if value == file.value {
                continue;
            }
            tracing::info!(file = %file.read_from.display(), value, "tracked file changed");
            file.value = value;
            let probes = file.probes.clone();
            self.report(at, &probes);
        }
    }

    /// Gives `probes` of file `at` the verdict of its value (or of its
    /// watch's failure).
    fn report(&self, at: usize, probes: &[Watched]) {
        let file = &self.files[at];
        report_at_once(&self.shared, &self.events, probes, |check| {
            let Check::File(check) = check else {
                return None;
            };
            Some(match &file.watch {
                Ok(_) => file_check::result(check, file.value),
                Err(why) => ProbeResult {
                    ok: false,
                    reason: why.clone().into(),
                    latency: Duration::ZERO,
                    weight: None,
                },
            })
        });
    }
}

/// Gives each of `probes` still in the table the result `judge` makes of
/// its check (none: skipped), with no retry (the event-driven kinds:
/// `FILE_CHECK`, `BFD_CHECK`), and sends the events.
pub(super) fn report_at_once(
    shared: &Shared,
    events: &UnboundedSender<HealthEvent>,
    probes: &[Watched],
    judge: impl Fn(&Check) -> Option<ProbeResult>,
) {
    let mut out = Vec::with_capacity(probes.len());
    {
        let mut table = lock(&shared.table);
        for (id, gen, spec) in probes {
            let Some(result) = judge(&spec.check) else {
                continue;
            };
            let Some(slot) = table.get_mut(*id, *gen) else {
                continue; // removed since
            };
            let step = slot.state.record(result.ok, &AT_ONCE);
            if step.changed {
                log_change(slot, &step, &result);
            }
            slot.probes_sent += 1;
            out.push(HealthEvent {
                probe: Arc::clone(&slot.spec),
                key: slot.key,
                up: step.up,
                changed: step.changed,
                result: result.clone(),
            });
            table.set_result(*id, result);
        }
    }
    for event in out {
        // The receiver is gone only while lvsd shuts down.
        let _ = events.send(event);
    }
}

/// The directory to watch and the name to match for `path`: the file
/// itself resolved if it exists (links followed), else its directory
/// resolved and the name as written.
fn resolve(path: &Path) -> io::Result<(PathBuf, OsString)> {
    let split = |p: &Path| -> io::Result<(PathBuf, OsString)> {
        match (p.parent(), p.file_name()) {
            (Some(dir), Some(name)) => Ok((dir.to_path_buf(), name.to_os_string())),
            _ => Err(io::Error::other(format!("{} names no file", p.display()))),
        }
    };
    match std::fs::canonicalize(path) {
        Ok(real) => split(&real),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let (dir, name) = split(path)?;
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            let dir = std::fs::canonicalize(&dir)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
            Ok((dir, name))
        }
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_resolves_to_its_real_directory_whether_or_not_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let (d, n) = resolve(&dir.path().join("absent")).unwrap();
        assert_eq!((d.as_path(), n.to_str()), (real.as_path(), Some("absent")));
        // A link is followed to the file it names.
        std::fs::create_dir(real.join("sub")).unwrap();
        std::fs::write(real.join("sub/target"), "1").unwrap();
        std::os::unix::fs::symlink(real.join("sub/target"), real.join("link")).unwrap();
        let (d, n) = resolve(&real.join("link")).unwrap();
        assert_eq!((d, n.to_str()), (real.join("sub"), Some("target")));
        assert!(resolve(&real.join("nowhere/file")).is_err());
    }
}
