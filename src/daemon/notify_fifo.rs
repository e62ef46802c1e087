//! `notify_fifo` and `lvs_notify_fifo`: one line per state change, written
//! to a FIFO some other program reads, in keepalived's format (as
//! keepalived 2.2.7 writes them, watched in the guest):
//!
//! ```text
//! VS [10.10.0.1]:tcp:80 UP
//! RS [10.200.1.2]:tcp:8081 [10.10.0.1]:tcp:80 DOWN
//! ```
//!
//! A virtual server is `UP` when it gains its quorum (every one does at
//! start) and `DOWN` when it loses it; a real server on each change of its
//! health. With `*_script`, lvsd makes the FIFO if it is missing, runs the
//! script with the FIFO's path as its argument, and at stop ends the script
//! (SIGTERM) and removes the FIFO it made, as keepalived does.
//!
//! The FIFO is opened read-write and non-blocking, so a missing or slow
//! reader never stalls lvsd: a line that does not fit is dropped, and the
//! log says so.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use rustix::fs::{FileType, Mode};
use rustix::process::{kill_process, Pid, Signal};

use super::scripts::split_words;
use crate::config::{Config, NotifyFifo, VsAddress};
use crate::ipvs::Protocol;
use crate::reconcile::protocol_name;
use crate::reconcile::Transition;

/// The FIFOs of one config.
#[derive(Debug, Default)]
pub struct NotifyFifos {
    fifos: Vec<OpenFifo>,
    /// The configuration they were opened for (a reload that keeps it
    /// keeps them).
    wanted: Vec<NotifyFifo>,
}

#[derive(Debug)]
struct OpenFifo {
    path: PathBuf,
    file: File,
    reader: Option<std::process::Child>,
    /// lvsd made the FIFO: it removes it at the end.
    made: bool,
}

/// The FIFOs `config` names, `lvs_notify_fifo` and `notify_fifo`, once each.
fn wanted(config: &Config) -> Vec<NotifyFifo> {
    let mut out: Vec<NotifyFifo> = Vec::new();
    let g = &config.global;
    for fifo in [&g.lvs_notify_fifo, &g.notify_fifo].into_iter().flatten() {
        if !out.iter().any(|f| f.path == fifo.path) {
            out.push(fifo.clone());
        }
    }
    out
}

impl NotifyFifos {
    /// Open the FIFOs `config` names (none: nothing to do).
    pub fn open(config: &Config) -> NotifyFifos {
        let wanted = wanted(config);
        let fifos = wanted.iter().filter_map(|w| match open_one(w) {
            Ok(fifo) => Some(fifo),
            Err(e) => {
                tracing::error!(fifo = %w.path, error = %e, "cannot open the notify FIFO");
                None
            }
        });
        NotifyFifos {
            fifos: fifos.collect(),
            wanted,
        }
    }

    /// After a reload: the same FIFOs, or the new config's.
    pub fn reload(&mut self, config: &Config) {
        if wanted(config) != self.wanted {
            self.close();
            *self = NotifyFifos::open(config);
        }
    }

    /// Write one line per transition to every FIFO.
    pub fn write(&mut self, config: &Config, transitions: &[Transition]) {
        if self.fifos.is_empty() || transitions.is_empty() {
            return;
        }
        let mut text = String::new();
        for t in transitions {
            if let Some(line) = line(config, *t) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        for fifo in &mut self.fifos {
            if let Err(e) = fifo.file.write_all(text.as_bytes()) {
                tracing::warn!(fifo = %fifo.path.display(), error = %e, "notify FIFO: lines dropped (is its reader reading?)");
            }
        }
    }

    /// Stop the readers lvsd started and remove the FIFOs it made.
    pub fn close(&mut self) {
        for mut fifo in self.fifos.drain(..) {
            if let Some(reader) = &mut fifo.reader {
                // Our own child, not yet reaped: its pid cannot have been
                // reused.
                let pid = i32::try_from(reader.id()).ok().and_then(Pid::from_raw);
                if let Some(pid) = pid {
                    let _ = kill_process(pid, Signal::TERM);
                }
                let _ = reader.wait();
            }
            if fifo.made {
                let _ = std::fs::remove_file(&fifo.path);
            }
        }
    }
}

/// Make (with a script), open and start the reader of one FIFO.
fn open_one(wanted: &NotifyFifo) -> io::Result<OpenFifo> {
    let path = PathBuf::from(&wanted.path);
    let mut made = false;
    match std::fs::symlink_metadata(&path) {
        Ok(meta)
            if FileType::from_raw_mode(std::os::unix::fs::MetadataExt::mode(&meta))
                == FileType::Fifo => {}
        Ok(_) => return Err(io::Error::other("it exists and is not a FIFO")),
        Err(e) if e.kind() == io::ErrorKind::NotFound && wanted.script.is_some() => {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &path,
                FileType::Fifo,
                Mode::from_raw_mode(0o600),
                0,
            )?;
            made = true;
        }
        Err(e) => return Err(e),
    }
    // Read-write: never ENXIO for want of a reader, never blocks.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&path)?;
    let reader = match &wanted.script {
        Some(script) => {
            let words = split_words(script);
            let Some((program, args)) = words.split_first() else {
                return Err(io::Error::other("the FIFO script is empty"));
            };
            Some(
                std::process::Command::new(program)
                    .args(args)
                    .arg(&path)
                    .stdin(std::process::Stdio::null())
                    .spawn()?,
            )
        }
        None => None,
    };
    Ok(OpenFifo {
        path,
        file,
        reader,
        made,
    })
}

/// `[10.10.0.1]:tcp:80`, as keepalived names a service in its FIFO lines
/// and its `smtp_alert` mails.
pub(super) fn fifo_vs_name(address: &VsAddress, protocol: Protocol) -> String {
    let proto = protocol_name(protocol);
    match address {
        VsAddress::Addr { addr, port } => format!("[{addr}]:{proto}:{port}"),
        VsAddress::Fwmark(mark) => format!("FWM {mark}"),
        VsAddress::Group(name) => format!("[{name}]"),
    }
}

/// The FIFO line of one transition.
fn line(config: &Config, t: Transition) -> Option<String> {
    let state = |up: bool| if up { "UP" } else { "DOWN" };
    match t {
        Transition::VirtualServer { vs, up, .. } => {
            let vs = config.virtual_servers.get(vs)?;
            Some(format!(
                "VS {} {}",
                fifo_vs_name(&vs.address, vs.protocol),
                state(up)
            ))
        }
        Transition::RealServer { vs, rs, up } => {
            let v = config.virtual_servers.get(vs)?;
            let r = v.real_servers.get(rs)?;
            let rs_name = fifo_vs_name(
                &VsAddress::Addr {
                    addr: r.addr,
                    port: r.port,
                },
                v.protocol,
            );
            Some(format!(
                "RS {rs_name} {} {}",
                fifo_vs_name(&v.address, v.protocol),
                state(up)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_bytes, LoadOptions};
    use std::io::Read;

    #[test]
    fn lines_reach_the_fifo_in_keepalived_format() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("lvs.fifo");
        let text = format!(
            "global_defs {{\n lvs_notify_fifo {}\n}}\nvirtual_server 127.0.0.1 80 {{\n protocol TCP\n real_server 127.0.0.2 8080 {{\n }}\n}}\n",
            fifo.display()
        );
        let config = load_bytes(
            std::path::Path::new("k.conf"),
            text.into_bytes(),
            &LoadOptions::default(),
        )
        .unwrap()
        .config;
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let mut fifos = NotifyFifos::open(&config);
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        fifos.write(
            &config,
            &[
                Transition::VirtualServer {
                    vs: 0,
                    up: true,
                    live_weight: 1,
                    first: true,
                },
                Transition::RealServer {
                    vs: 0,
                    rs: 0,
                    up: false,
                },
            ],
        );
        let mut got = String::new();
        let _ = reader.read_to_string(&mut got);
        assert_eq!(
            got,
            "VS [127.0.0.1]:tcp:80 UP\nRS [127.0.0.2]:tcp:8080 [127.0.0.1]:tcp:80 DOWN\n"
        );
        fifos.close();
        assert!(fifo.exists(), "a FIFO lvsd did not make stays");
    }
}
