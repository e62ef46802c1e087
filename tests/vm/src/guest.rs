//! [`Guest`]: one running qemu VM and its command channel.
//!
//! qemu runs under TCG (KVM does not work on these machines) with no
//! network device. Two channels:
//! - `ttyS0`, the console: kernel and `/init` messages, appended to the log
//!   `target/vm-logs/NAME.log` together with every command and its output;
//! - a virtio-serial port named `lvsd-vm.cmd`, the command channel, a unix
//!   socket on the host (a serial port was 50 times slower): scripts go in
//!   and their output comes back base64-encoded between `@@LVSD-VM` marker
//!   lines tagged with a per-command id (see `init.sh`), so neither console
//!   noise nor echo nor a late answer to a timed-out command can mix in.
//!
//! qemu is started by a tiny `sh` wrapper that holds a pipe from this
//! process and kills qemu when that pipe closes, so even a guest kept in a
//! `static` (never dropped) dies with the test process.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{base64, cache_dir, logs_dir, GuestSpec, Kernel, VmError};

/// The guest's `/init` (busybox sh).
pub(crate) const INIT: &str = include_str!("init.sh");

/// Runs qemu (`$0 "$@"`), then waits for its own stdin to close and kills qemu.
const WRAPPER: &str =
    r#""$0" "$@" </dev/null & q=$!; exec >/dev/null 2>&1; read -r _; kill $q; wait $q"#;

/// Default time a script may run ([`Guest::run`]).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Default time from qemu start to the guest's first prompt
/// (env `LVSD_VM_BOOT_TIMEOUT` in seconds overrides).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// What a script printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdOutput {
    pub stdout: String,
    pub stderr: String,
    /// The shell's exit status (137 if the guest killed it at its timeout).
    pub status: i32,
}

impl CmdOutput {
    /// True when the script exited 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

impl std::fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {}\n--- stdout\n{}--- stderr\n{}---",
            self.status, self.stdout, self.stderr
        )
    }
}

/// A running guest. Dropping it kills qemu; [`Guest::shutdown`] powers off cleanly.
pub struct Guest {
    name: String,
    log_path: PathBuf,
    log: Arc<Mutex<File>>,
    tail: Arc<Mutex<VecDeque<String>>>,
    wrapper: Child,
    channel: UnixStream,
    lines: Receiver<String>,
    qemu_gone: Arc<AtomicBool>,
    next_id: u64,
    boot_time: Duration,
    broken: Option<String>,
}

impl Guest {
    /// Builds the initramfs, starts qemu (`$LVSD_VM_QEMU`, else
    /// `qemu-system-x86_64` from PATH) and waits until `/init` serves
    /// commands. [`VmError::Unavailable`] when qemu, the kernel or a file to
    /// copy is missing; [`VmError::Failed`] when the guest does not come up.
    pub fn boot(spec: GuestSpec) -> Result<Guest, VmError> {
        let started = Instant::now();
        let qemu = match std::env::var_os("LVSD_VM_QEMU") {
            Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
            None => which("qemu-system-x86_64"),
        }
        .ok_or_else(|| {
            VmError::Unavailable("qemu-system-x86_64 not found (install qemu-system-x86)".into())
        })?;
        let kernel = Kernel::ensure()?;
        let scratch = cache_dir().join("initrd");
        std::fs::create_dir_all(&scratch).map_err(|e| io_unavailable(&scratch, e))?;
        std::fs::create_dir_all(logs_dir()).map_err(|e| io_unavailable(&logs_dir(), e))?;
        let initrd = scratch.join(format!("{}.cpio", spec.name));
        let mut image = spec.build(&kernel, &scratch)?.to_newc();
        if spec.gzip_initrd {
            image = gzip(&image).map_err(|e| VmError::Unavailable(format!("gzip -1: {e}")))?;
        }
        std::fs::write(&initrd, image).map_err(|e| io_unavailable(&initrd, e))?;

        static SEQ: AtomicU64 = AtomicU64::new(0);
        let socket = std::env::temp_dir().join(format!(
            "lvsd-vm-{}-{}.sock",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_file(&socket);
        let log_path = logs_dir().join(format!("{}.log", spec.name));
        let log = File::create(&log_path).map_err(|e| io_unavailable(&log_path, e))?;
        let log = Arc::new(Mutex::new(log));
        eprintln!(
            "lvsd-vm: booting guest {:?}, log: {}",
            spec.name,
            log_path.display()
        );

        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(WRAPPER)
            .arg(&qemu)
            .args([
                "-accel",
                "tcg",
                "-cpu",
                "max",
                "-nodefaults",
                "-no-user-config",
            ])
            .args(["-display", "none", "-no-reboot", "-nic", "none"])
            .args([
                "-m",
                &spec.memory_mb.to_string(),
                "-smp",
                &spec.cpus.to_string(),
            ])
            .arg("-kernel")
            .arg(&kernel.vmlinuz)
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", "console=ttyS0 quiet panic=-1"])
            .args(["-serial", "stdio", "-chardev"])
            .arg(format!(
                "socket,id=cmd,path={},server=on,wait=on",
                socket.display()
            ))
            .args(["-device", "virtio-serial-pci,id=vs"])
            .args([
                "-device",
                "virtserialport,bus=vs.0,chardev=cmd,name=lvsd-vm.cmd",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| VmError::Unavailable(format!("cannot start {}: {e}", qemu.display())))?;

        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let qemu_gone = Arc::new(AtomicBool::new(false));
        let out_done = copy_to_log(wrapper.stdout.take(), "", &log, &tail);
        let err_done = copy_to_log(wrapper.stderr.take(), "qemu: ", &log, &tail);
        {
            let gone = Arc::clone(&qemu_gone);
            std::thread::spawn(move || {
                let _ = out_done.recv();
                let _ = err_done.recv();
                gone.store(true, Ordering::SeqCst);
            });
        }

        let mut guest = Guest {
            name: spec.name.clone(),
            log_path,
            log,
            tail,
            wrapper,
            channel: connect(&socket, &qemu_gone)?,
            lines: mpsc::channel().1,
            qemu_gone,
            next_id: 1,
            boot_time: Duration::ZERO,
            broken: None,
        };
        let _ = std::fs::remove_file(&socket);
        let reader = guest
            .channel
            .try_clone()
            .map_err(|e| guest.failed(&format!("socket: {e}")))?;
        guest.lines = spawn_line_reader(reader);

        let boot_timeout = std::env::var("LVSD_VM_BOOT_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(BOOT_TIMEOUT);
        let ready = guest.expect_line(
            |l| l.starts_with("@@LVSD-VM READY"),
            started + boot_timeout,
            "boot",
        )?;
        if let Some(failed) = ready.split_once(" FAILED ") {
            return Err(guest.failed(&format!("kernel modules failed to load: {}", failed.1)));
        }
        guest.boot_time = started.elapsed();
        guest.note(&format!("==== booted in {:.2?}\n", guest.boot_time));
        Ok(guest)
    }

    /// Time from `boot` being called to the guest serving commands.
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// The name given in its [`GuestSpec`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The transcript: console, commands and their output.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Runs `script` with bash in the guest (cwd `/`, stdin `/dev/null`) and
    /// waits for it, at most [`RUN_TIMEOUT`]. Background jobs (`&`) keep
    /// running after it returns; redirect their output to a file.
    pub fn run(&mut self, script: &str) -> Result<CmdOutput, VmError> {
        self.run_timeout(script, RUN_TIMEOUT)
    }

    /// [`Guest::run`] with its own time limit. At the limit the guest kills
    /// the script and [`VmError::Timeout`] is returned; the guest stays usable.
    pub fn run_timeout(&mut self, script: &str, timeout: Duration) -> Result<CmdOutput, VmError> {
        if let Some(why) = &self.broken {
            return Err(VmError::Failed(why.clone()));
        }
        let id = self.next_id;
        self.next_id += 1;
        let secs = timeout.as_secs().max(1) + u64::from(timeout.subsec_nanos() > 0);
        let body = base64::encode(script.as_bytes());
        self.note(&format!("==== run #{id} (timeout {secs}s)\n{script}\n"));
        let started = Instant::now();
        let header = format!("RUN {id} {} {secs}\n", body.len());
        if let Err(e) = self
            .channel
            .write_all(header.as_bytes())
            .and_then(|_| self.channel.write_all(body.as_bytes()))
        {
            return Err(self.broke(&format!("writing to the guest: {e}")));
        }
        // The guest kills the script at `secs`; allow time to send its output back.
        let deadline = started + Duration::from_secs(secs + 30);
        let (out_tag, err_tag, exit_tag) = (
            format!("@@LVSD-VM OUT {id}"),
            format!("@@LVSD-VM ERR {id}"),
            format!("@@LVSD-VM EXIT {id} "),
        );
        self.expect_line(|l| l == out_tag, deadline, "a command")?;
        let mut parts = [String::new(), String::new()];
        let mut part = 0;
        let status = loop {
            let line = self.next_line(deadline, "a command")?;
            if line == err_tag {
                part = 1;
            } else if let Some(rc) = line.strip_prefix(&exit_tag) {
                break rc.trim().parse::<i32>().unwrap_or(-1);
            } else {
                parts[part].push_str(&line);
                parts[part].push('\n');
            }
        };
        let decode =
            |s: &str| String::from_utf8_lossy(&base64::decode(s).unwrap_or_default()).into_owned();
        let out = CmdOutput {
            stdout: decode(&parts[0]),
            stderr: decode(&parts[1]),
            status,
        };
        self.note(&format!(
            "==== run #{id} took {:.2?}, {out}\n",
            started.elapsed()
        ));
        if status == 137 && started.elapsed() >= Duration::from_secs(secs) {
            return Err(VmError::Timeout(format!(
                "guest {}: script killed after {secs}s (log: {})\n{script}\n{out}",
                self.name,
                self.log_path.display()
            )));
        }
        Ok(out)
    }

    /// Runs `script` and returns its stdout; panics (with the script, its
    /// output and the log path) unless it exits 0. For tests.
    pub fn run_ok(&mut self, script: &str) -> String {
        match self.run(script) {
            Ok(out) if out.success() => out.stdout,
            Ok(out) => panic!(
                "guest {}: script failed\n{script}\n{out}\nlog: {}",
                self.name,
                self.log_path.display()
            ),
            Err(e) => panic!("{e}"),
        }
    }

    /// Writes `data` to `path` in the guest (parents created), over the channel.
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), VmError> {
        let quoted = crate::shell_quote(path);
        let script = format!(
            "mkdir -p \"$(dirname {quoted})\" && base64 -d > {quoted} <<'@@LVSD-VM-EOF'\n{}@@LVSD-VM-EOF\n",
            base64::encode(data)
        );
        let out = self.run(&script)?;
        if out.success() {
            Ok(())
        } else {
            Err(VmError::Failed(format!(
                "writing {path} in the guest: {out}"
            )))
        }
    }

    /// Powers the guest off and waits for qemu to exit.
    pub fn shutdown(mut self) -> Result<(), VmError> {
        let _ = self.channel.write_all(b"POWEROFF\n");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.qemu_gone.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.qemu_gone.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(self.failed("did not power off within 20 s"))
        }
    }

    /// Waits for a line `want` accepts, skipping others.
    fn expect_line(
        &mut self,
        want: impl Fn(&str) -> bool,
        deadline: Instant,
        doing: &str,
    ) -> Result<String, VmError> {
        loop {
            let line = self.next_line(deadline, doing)?;
            if want(&line) {
                return Ok(line);
            }
        }
    }

    fn next_line(&mut self, deadline: Instant, doing: &str) -> Result<String, VmError> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => Err(
                match self.broke(&format!("no answer while waiting for {doing}")) {
                    VmError::Failed(m) => VmError::Timeout(m),
                    other => other,
                },
            ),
            Err(RecvTimeoutError::Disconnected) => {
                Err(self.broke(&format!("qemu exited while waiting for {doing}")))
            }
        }
    }

    /// Marks the guest unusable and returns the error to report.
    fn broke(&mut self, what: &str) -> VmError {
        let err = self.failed(what);
        if let VmError::Failed(m) = &err {
            self.broken = Some(m.clone());
        }
        err
    }

    /// An error naming the guest, the log and the console's last lines.
    fn failed(&self, what: &str) -> VmError {
        let tail: Vec<String> = self
            .tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        VmError::Failed(format!(
            "guest {}: {what}\nlog: {}\nlast console lines:\n{}",
            self.name,
            self.log_path.display(),
            tail.join("\n")
        ))
    }

    fn note(&self, text: &str) {
        if let Ok(mut f) = self.log.lock() {
            let _ = f.write_all(text.as_bytes());
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "lvsd-vm: guest {:?} log: {}",
                self.name,
                self.log_path.display()
            );
        }
        drop(self.wrapper.stdin.take()); // the wrapper kills qemu
        let _ = self.wrapper.wait();
    }
}

/// `gzip -1` of `data`.
fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut child = Command::new("gzip")
        .arg("-1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or(std::io::ErrorKind::BrokenPipe)?;
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| std::io::ErrorKind::BrokenPipe)??;
    Ok(out.stdout)
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn io_unavailable(path: &Path, e: std::io::Error) -> VmError {
    VmError::Unavailable(format!("{}: {e}", path.display()))
}

/// Connects to qemu's command socket (qemu waits for us before booting).
fn connect(socket: &Path, qemu_gone: &AtomicBool) -> Result<UnixStream, VmError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match UnixStream::connect(socket) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() > deadline || qemu_gone.load(Ordering::SeqCst) => {
                return Err(VmError::Failed(format!(
                    "qemu did not open {}: {e}",
                    socket.display()
                )))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Appends each line of `from` to the log and the tail; the receiver
/// disconnects at EOF.
fn copy_to_log(
    from: Option<impl Read + Send + 'static>,
    prefix: &'static str,
    log: &Arc<Mutex<File>>,
    tail: &Arc<Mutex<VecDeque<String>>>,
) -> Receiver<()> {
    let (done, rx) = mpsc::channel();
    let (log, tail) = (Arc::clone(log), Arc::clone(tail));
    std::thread::spawn(move || {
        let Some(from) = from else { return };
        for line in BufReader::new(from).split(b'\n').map_while(Result::ok) {
            let line = format!(
                "{prefix}{}",
                String::from_utf8_lossy(&line).trim_end_matches('\r')
            );
            if let Ok(mut f) = log.lock() {
                let _ = writeln!(f, "{line}");
            }
            if let Ok(mut t) = tail.lock() {
                t.push_back(line);
                if t.len() > 40 {
                    t.pop_front();
                }
            }
        }
        drop(done);
    });
    rx
}

fn spawn_line_reader(from: UnixStream) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).split(b'\n').map_while(Result::ok) {
            if tx
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                return;
            }
        }
    });
    rx
}
