//! The control socket's listener: bind it safely, accept a bounded number
//! of connections, read bounded request lines with a timeout, check who
//! asks, hand each request to the daemon's event loop and write its answer.
//!
//! The socket is made by lvsd, owned by root, group [`Options::group`],
//! mode 0660. A stale socket left by a killed lvsd is replaced; a live one
//! (another lvsd answering there) is an error at start, and a file that is
//! not a socket is never removed.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::auth::{self, Group, Policy};
use super::protocol::{self, ErrorKind, LineError, Request, Response, MAX_REQUEST};

/// At most this many connections are served at once; more are told so and closed.
pub const MAX_CONNECTIONS: usize = 16;
/// A connection that sends no complete request for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// An answer that cannot be written within this long is dropped with its connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The daemon answers within this long, or the client is told it is busy
/// (a reload of a very large config, or checks that run up to their
/// `connect_timeout`, take the longest).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// How the socket is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Where.
    pub path: PathBuf,
    /// `--ctl-group`: the socket's group (reads); `None` = root's.
    pub group: Option<String>,
    /// `--ctl-admin-group`: who may change things besides root.
    pub admin_group: Option<String>,
}

/// A request for the daemon, with where to send its answer.
#[derive(Debug)]
pub struct Job {
    /// What is asked (already authorised).
    pub request: Request,
    /// The answer goes here.
    pub reply: oneshot::Sender<Response>,
}

/// Why the socket cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A group named by an option does not exist.
    #[error("{option}: no group `{name}` on this system")]
    NoGroup {
        /// The option.
        option: &'static str,
        /// The name.
        name: String,
    },
    /// Another lvsd answers at the path.
    #[error("{0}: another lvsd answers on this control socket; give this one its own --ctl-socket (or --ctl-socket none)")]
    InUse(PathBuf),
    /// Something that is not a socket is at the path.
    #[error("{0}: exists and is not a socket; lvsd will not remove it")]
    NotASocket(PathBuf),
    /// The OS refused.
    #[error("control socket {path}: {why}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why (in the message, so not a `source` too).
        why: std::io::Error,
    },
}

/// Removes the socket when lvsd stops.
#[derive(Debug)]
pub struct Bound {
    path: PathBuf,
}

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn group(option: &'static str, name: &Option<String>) -> Result<Option<Group>, ControlError> {
    let Some(name) = name else { return Ok(None) };
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(Some(Group {
            name: name.clone(),
            gid: g.gid.as_raw(),
        })),
        _ => Err(ControlError::NoGroup {
            option,
            name: name.clone(),
        }),
    }
}

/// Bind the socket as [`Options`] say and serve it on the current tokio
/// runtime; requests arrive on the returned receiver.
pub fn start(opts: &Options) -> Result<(mpsc::Receiver<Job>, Bound), ControlError> {
    let policy = Policy {
        read: group("--ctl-group", &opts.group)?,
        admin: group("--ctl-admin-group", &opts.admin_group)?,
    };
    let io = |why| ControlError::Io {
        path: opts.path.clone(),
        why,
    };
    clear_stale(&opts.path)?;
    if let Some(dir) = opts.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::daemon::run_dir::ensure_dir(dir).map_err(io)?;
    }
    let listener = UnixListener::bind(&opts.path).map_err(io)?;
    let bound = Bound {
        path: opts.path.clone(),
    };
    // Bound with the umask's mode (0755 or stricter under lvsd's usual
    // umask: nobody else can connect yet), then given its group and 0660.
    let gid = policy.read.as_ref().map(|g| g.gid);
    std::os::unix::fs::chown(&opts.path, None, gid).map_err(io)?;
    std::fs::set_permissions(&opts.path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
    tracing::info!(
        socket = %opts.path.display(),
        group = policy.read.as_ref().map_or("-", |g| g.name.as_str()),
        admin_group = policy.admin.as_ref().map_or("-", |g| g.name.as_str()),
        "control socket ready"
    );
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(accept_loop(listener, Arc::new(policy), tx));
    Ok((rx, bound))
}

/// A socket left at `path` by an lvsd that died is removed; a live one
/// or anything that is not a socket is an error.
fn clear_stale(path: &Path) -> Result<(), ControlError> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(ControlError::NotASocket(path.to_path_buf()));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(ControlError::InUse(path.to_path_buf()));
    }
    std::fs::remove_file(path).map_err(|why| ControlError::Io {
        path: path.to_path_buf(),
        why,
    })
}

async fn accept_loop(listener: UnixListener, policy: Arc<Policy>, jobs: mpsc::Sender<Job>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, mostly: wait rather than spin.
                tracing::warn!(error = %e, "control socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tokio::spawn(async move {
                let busy = Response::error(
                    ErrorKind::Busy,
                    format!("too many control connections (at most {MAX_CONNECTIONS}); try again"),
                );
                let mut stream = stream;
                let _ =
                    tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&busy.to_line())).await;
            });
            continue;
        };
        let policy = Arc::clone(&policy);
        let jobs = jobs.clone();
        tokio::spawn(async move {
            serve(stream, &policy, &jobs).await;
            drop(slot);
        });
    }
}

/// One connection: requests and answers in turn until the client closes,
/// goes quiet for [`IDLE_TIMEOUT`], or sends what cannot be a request line.
async fn serve(stream: UnixStream, policy: &Policy, jobs: &mpsc::Sender<Job>) {
    let peer = match super::peer::of(&stream) {
        Ok(peer) => peer,
        Err(e) => {
            tracing::warn!(error = %e, "control socket: cannot read the peer's credentials");
            return;
        }
    };
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let (answer, last) =
            match tokio::time::timeout(IDLE_TIMEOUT, protocol::read_line(&mut read, MAX_REQUEST))
                .await
            {
                Err(_) => (
                    Response::error(
                        ErrorKind::Busy,
                        format!("no request within {} s", IDLE_TIMEOUT.as_secs()),
                    ),
                    true,
                ),
                Ok(Ok(None)) | Ok(Err(LineError::Io(_))) => return,
                Ok(Err(e @ LineError::TooLong(_))) => {
                    (Response::error(ErrorKind::TooLong, e.to_string()), true)
                }
                Ok(Ok(Some(line))) if line.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(Ok(Some(line))) => (answer(&line, &peer, policy, jobs).await, false),
            };
        let written = tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&answer.to_line())).await;
        if last || !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
}

/// The answer to one request line.
async fn answer(
    line: &[u8],
    peer: &auth::Peer,
    policy: &Policy,
    jobs: &mpsc::Sender<Job>,
) -> Response {
    let request = match protocol::parse_request(line) {
        Ok(r) => r,
        Err(why) => return Response::error(ErrorKind::BadRequest, why),
    };
    if let Err(why) = auth::decide(peer, request.changes(), request.name(), policy) {
        tracing::warn!(uid = peer.uid, pid = ?peer.pid, command = request.name(), "control: refused");
        return Response::error(ErrorKind::Refused, why);
    }
    if request.changes() {
        tracing::info!(uid = peer.uid, pid = ?peer.pid, request = ?request, "control: request");
    }
    let (reply, answer) = oneshot::channel();
    if jobs.send(Job { request, reply }).await.is_err() {
        return Response::error(ErrorKind::Busy, "lvsd is stopping");
    }
    match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => Response::error(ErrorKind::Busy, "lvsd is stopping"),
        Err(_) => Response::error(ErrorKind::Busy, "lvsd did not answer in time"),
    }
}
