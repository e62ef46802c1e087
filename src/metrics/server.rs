//! The read-only HTTP listener (`--metrics-listen ADDR`): `GET /metrics`,
//! `GET /status`, `GET /healthz`, `GET /readyz`, on the daemon's tokio runtime.
//!
//! The listener holds no state of the daemon's: each request becomes a
//! [`Request`] to the event loop, which answers with what it has now (a
//! [`Snapshot`] for `/metrics`, the SIGUSR1 state dump as JSON for
//! `/status`, a [`Health`] for `/healthz`, a line for `/readyz`). A loop
//! that does not answer within [`LOOP_ANSWER`] gets a 503 saying so.
//!
//! The one thing the listener knows by itself is whether lvsd has started
//! ([`Started`]): while the first table is written the loop does not turn
//! yet, and `/readyz` says "starting" at once instead of waiting for it.
//!
//! Bounded on every side: at most [`MAX_CONNECTIONS`] connections (more are
//! closed at once), request heads of at most [`MAX_HEAD`] bytes read within
//! [`HEAD_TIMEOUT`], a connection lives at most [`CONNECTION_LIFETIME`]
//! (and [`GRACE`] to finish the request under way),
//! only `GET`/`HEAD` of the four paths, request bodies never read.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::health::{Health, LOOP_ANSWER};
use super::snapshot::{Format, Pieces, Snapshot};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// The most a request head may take (hyper's smallest buffer).
pub const MAX_HEAD: usize = 8192;
/// How long a client has to send a request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may stay open (keep-alive included); then the
/// request under way may finish within [`GRACE`], and it is closed.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// See [`CONNECTION_LIFETIME`].
pub const GRACE: Duration = Duration::from_secs(10);

/// What the listener asks of the event loop.
#[derive(Debug)]
pub enum Request {
    /// `/metrics`, in this format.
    Metrics(Format, oneshot::Sender<Snapshot>),
    /// `/status`: the state dump as JSON.
    Status(oneshot::Sender<Vec<u8>>),
    /// `/healthz`.
    Health(oneshot::Sender<Health>),
    /// `/readyz`, once started: how far the first verdicts are.
    Ready(oneshot::Sender<String>),
}

/// Whether lvsd has started: its first table is written and it told systemd
/// `READY=1`. Set once by the daemon, read by `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct Started(Arc<std::sync::atomic::AtomicBool>);

impl Started {
    /// The daemon has started.
    pub fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether it has.
    pub fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Binds `addr` (at start, so a bad address stops lvsd with the reason).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `listener` until the daemon's runtime ends; requests go to `loop_tx`.
pub async fn serve(listener: TcpListener, loop_tx: mpsc::Sender<Request>, started: Started) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and the like: wait a little instead of spinning.
                tracing::warn!(error = %e, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(%peer, "metrics listener: too many connections, closing");
            continue;
        };
        let loop_tx = loop_tx.clone();
        let started = started.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let loop_tx = loop_tx.clone();
                let started = started.clone();
                async move { Ok::<_, Infallible>(answer(req, &loop_tx, &started).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = tokio::time::sleep(CONNECTION_LIFETIME) => {
                    // Finish the request under way (a scrape cut short
                    // would be a failed scrape), then close.
                    connection.as_mut().graceful_shutdown();
                    tokio::time::timeout(GRACE, connection.as_mut())
                        .await
                        .unwrap_or(Ok(()))
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "metrics listener: connection ended");
            }
            drop(slot);
        });
    }
}

/// The answer to one request.
async fn answer(
    req: hyper::Request<Incoming>,
    loop_tx: &mpsc::Sender<Request>,
    started: &Started,
) -> Response<ScrapeBody> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
    }
    match req.uri().path() {
        "/metrics" => {
            let accept = req.headers().get(hyper::header::ACCEPT);
            let format = Format::for_accept(accept.and_then(|a| a.to_str().ok()));
            match ask(loop_tx, |tx| Request::Metrics(format, tx)).await {
                Ok(snapshot) => {
                    let mut response =
                        Response::new(ScrapeBody::Pieces(Box::new(Pieces::new(snapshot))));
                    response.headers_mut().insert(
                        CONTENT_TYPE,
                        HeaderValue::from_static(format.content_type()),
                    );
                    response
                }
                Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, why),
            }
        }
        "/status" => match ask(loop_tx, Request::Status).await {
            Ok(json) => {
                let mut response = Response::new(ScrapeBody::Whole(Some(Bytes::from(json))));
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, why),
        },
        "/healthz" => match ask(loop_tx, Request::Health).await {
            Ok(Ok(fine)) => text(StatusCode::OK, fine + "\n"),
            Ok(Err(why)) | Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, why + "\n"),
        },
        "/readyz" if !started.get() => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: the IPVS table is not written yet\n".into(),
        ),
        "/readyz" => match ask(loop_tx, Request::Ready).await {
            Ok(ready) => text(StatusCode::OK, ready + "\n"),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, why + "\n"),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: lvsd serves /metrics, /status, /healthz and /readyz\n".into(),
        ),
    }
}

/// Sends a request to the event loop and waits for its answer.
async fn ask<T>(
    loop_tx: &mpsc::Sender<Request>,
    request: impl FnOnce(oneshot::Sender<T>) -> Request,
) -> Result<T, String> {
    let (tx, rx) = oneshot::channel();
    let stalled = || {
        format!(
            "the event loop did not answer within {} s",
            LOOP_ANSWER.as_secs()
        )
    };
    let asked = async {
        loop_tx
            .send(request(tx))
            .await
            .map_err(|_| "lvsd is stopping".to_owned())?;
        rx.await.map_err(|_| "lvsd is stopping".to_owned())
    };
    tokio::time::timeout(LOOP_ANSWER, asked)
        .await
        .unwrap_or_else(|_| Err(stalled()))
}

fn text(status: StatusCode, body: String) -> Response<ScrapeBody> {
    let mut response = Response::new(ScrapeBody::Whole(Some(Bytes::from(body))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A response body: a whole text, or a scrape encoded piece by piece as
/// the client reads it.
#[derive(Debug)]
pub enum ScrapeBody {
    /// Sent at once.
    Whole(Option<Bytes>),
    /// Encoded as sent (see `snapshot.rs`).
    Pieces(Box<Pieces>),
}

impl Body for ScrapeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = match self.get_mut() {
            ScrapeBody::Whole(bytes) => bytes.take(),
            ScrapeBody::Pieces(pieces) => pieces.next().map(Bytes::from),
        };
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }
}
