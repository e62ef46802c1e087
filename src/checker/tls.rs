//! `SSL_GET`'s transport: TLS (rustls, with ring) over the probe's TCP
//! connection. The HTTP exchange on top is `http.rs`'s, the same as
//! `HTTP_GET`'s: this file turns a connected stream into a [`TlsStream`]
//! and back into a polite close.
//!
//! ## As keepalived does
//!
//! - **The server's certificate is not verified**: self-signed, expired or
//!   issued for another name, it passes (keepalived never calls OpenSSL's
//!   verification). The handshake itself is still checked: the server must
//!   prove it holds the key of the certificate it sent (its handshake
//!   signature is verified), and the TLS record layer is authenticated as
//!   always. See `tls_verify.rs`.
//! - TLS 1.3 and TLS 1.2 (rustls has nothing older; keepalived on OpenSSL 3
//!   refuses TLS 1.1 servers too).
//! - No server name (SNI) unless `enable_sni` or `sni_name`; then
//!   `sni_name`, the URL's `virtualhost`, the checker's, the virtual
//!   server's, in that order ([`crate::config::TlsOptions::sni`]).
//! - The global `SSL { certificate key }` block's certificate is presented
//!   when the server asks for one (read by the config; see `config/ssl.rs`).
//!
//! ## Beyond keepalived
//!
//! - **Resumption per target.** keepalived makes a full handshake for every
//!   check. lvsd keeps the sessions (TLS 1.3 tickets, TLS 1.2 session ids
//!   and tickets) the server hands out, one store per target address and
//!   client certificate ([`SessionStores`]), so a backend pays one full
//!   handshake per session lifetime instead of one per check. Per target,
//!   not per name: ten real servers behind one `virtualhost` would
//!   otherwise take turns throwing each other's sessions away. Without SNI
//!   the session is filed under the target's IP address (a name rustls
//!   never sends).
//! - **close_notify, then a FIN.** [`TlsStream::poll_shutdown`] (what
//!   `AsyncWriteExt::shutdown` calls) sends close_notify and then shuts the
//!   TCP connection down for writing, whatever the verdict was; reading to
//!   the end afterwards ([`close`]) lets the socket be closed without an
//!   RST. keepalived 2.2.7 closes without close_notify.
//! - A server that closes the TCP connection without close_notify (many
//!   do) ends the answer like a close_notify would: the answer is judged as
//!   received, as keepalived does, instead of failing the check.
//! - The handshake shares `connect_timeout` with the TCP connect: one
//!   deadline for both (keepalived too re-arms its handshake with what is
//!   left of the connect's time).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, HandshakeKind, InconsistentKeys};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_rustls::TlsConnector;

use super::probe::seconds;
use super::tls_verify::{subject_public_key_info, AnyCertificate};
use crate::config::{ClientCertificate, HttpCheck, Url};

/// Why a TLS handshake failed: its `Display` is the reason reported.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The server name SNI would carry is not a DNS name.
    #[error("TLS server name {0:?} (SNI) is not a valid DNS name")]
    ServerName(String),
    /// The client configuration could not be made (a client certificate
    /// rustls refuses; the config has checked it, so not expected).
    #[error("TLS client setup: {0}")]
    Setup(rustls::Error),
    /// The handshake failed: the server refused, sent garbage, closed…
    #[error("TLS handshake failed: {0}")]
    Handshake(io::Error),
    /// The handshake did not finish before the deadline.
    #[error("TLS handshake not finished within {}", seconds(*.0))]
    Timeout(Duration),
}

/// A TLS connection of a probe, over `IO` (a `TcpStream` in lvsd, an
/// in-memory pipe in tests and the fuzzer).
///
/// Reads end at close_notify, or at the TCP end of the stream if the server
/// closes without one. Shutting it down sends close_notify, then the TCP FIN.
#[derive(Debug)]
pub struct TlsStream<IO> {
    inner: tokio_rustls::client::TlsStream<IO>,
}

impl<IO> TlsStream<IO> {
    /// Whether this connection resumed an earlier session (no full handshake).
    pub fn resumed(&self) -> bool {
        self.inner.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed)
    }

    /// The TLS version agreed on, for logs and tests.
    pub fn version(&self) -> Option<rustls::ProtocolVersion> {
        self.inner.get_ref().1.protocol_version()
    }

    /// The key exchange group agreed on (X25519 with nearly every server;
    /// see [`provider`]), for tests.
    pub fn key_exchange(&self) -> Option<rustls::NamedGroup> {
        self.inner
            .get_ref()
            .1
            .negotiated_key_exchange_group()
            .map(|g| g.name())
    }
}

/// Makes the TLS handshake of one URL of `check` over `io`, a connection to
/// the check's target, finishing by `deadline` (the TCP connect's own, so
/// that both share `connect_timeout`).
pub async fn handshake<IO>(
    check: &HttpCheck,
    url: &Url,
    io: IO,
    deadline: tokio::time::Instant,
) -> Result<TlsStream<IO>, TlsError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let target = SocketAddr::new(check.common.connect_ip, check.common.connect_port);
    let name = match check.tls_options.sni(url) {
        Some(sni) => ServerName::try_from(sni.to_owned())
            .map_err(|_| TlsError::ServerName(sni.to_owned()))?,
        // rustls sends no SNI for an address: the name only files the session.
        None => ServerName::IpAddress(target.ip().into()),
    };
    let client = check.tls_options.client.as_ref();
    let limit = check.common.connect_timeout.duration();
    connect(target, name, client, io, deadline, limit).await
}

/// The handshake with `target` under `name`, presenting `client`.
async fn connect<IO>(
    target: SocketAddr,
    name: ServerName<'static>,
    client: Option<&Arc<ClientCertificate>>,
    io: IO,
    deadline: tokio::time::Instant,
    limit: Duration,
) -> Result<TlsStream<IO>, TlsError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let config = stores().config(target, client).map_err(TlsError::Setup)?;
    let connect = TlsConnector::from(config).connect(name, io).into_fallible();
    match tokio::time::timeout_at(deadline, connect).await {
        Ok(Ok(inner)) => Ok(TlsStream { inner }),
        Ok(Err((e, mut io))) => {
            // A refused handshake closes politely too: our FIN, then the
            // server's alert and FIN read, so the close sends no RST.
            let polite = async {
                let _ = io.shutdown().await;
                let mut sink = [0u8; 2048];
                while let Ok(n) = io.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout_at(deadline, polite).await;
            Err(TlsError::Handshake(e))
        }
        Err(_) => Err(TlsError::Timeout(limit)),
    }
}

/// One exchange (handshake, request, answer, close) with a "server" that
/// sends `server_bytes` whatever lvsd says, over an in-memory pipe: what
/// the fuzz target (`fuzz/fuzz_targets/tls_client.rs`) and its corpus
/// replay run. Whatever the bytes, this must end (within a second) and
/// never panic. Returns whether the handshake succeeded.
#[doc(hidden)]
pub async fn exchange_with_bytes(server_bytes: &[u8]) -> bool {
    let (client_io, mut server_io) = tokio::io::duplex(1 << 16);
    let server = async move {
        let _ = server_io.write_all(server_bytes).await;
        let _ = server_io.shutdown().await;
        // Take whatever the client sends, so it never waits on a full pipe.
        let mut sink = [0u8; 4096];
        while let Ok(n) = server_io.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let client = async {
        let target = SocketAddr::from(([192, 0, 2, 1], 443));
        let name = ServerName::IpAddress(target.ip().into());
        let limit = Duration::from_secs(1);
        let deadline = tokio::time::Instant::now() + limit;
        let Ok(mut tls) = connect(target, name, None, client_io, deadline, limit).await else {
            return false;
        };
        let talk = async {
            tls.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
            let mut answer = Vec::new();
            tls.read_to_end(&mut answer).await
        };
        let _ = tokio::time::timeout_at(deadline, talk).await;
        close(tls, Duration::from_millis(100)).await;
        true
    };
    tokio::join!(server, client).1
}

/// Ends a probe's TLS connection politely: close_notify, the TCP FIN, then
/// whatever the server still sends is read and dropped until its end of
/// stream (within `budget`), so that closing the socket sends no RST.
pub async fn close<IO>(mut stream: TlsStream<IO>, budget: Duration)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let polite = async {
        // Errors here mean the connection is gone already: nothing to do.
        let _ = stream.shutdown().await;
        let (mut io, _) = stream.inner.into_inner();
        let mut sink = [0u8; 2048];
        while let Ok(n) = io.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(budget, polite).await;
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            // The server closed TCP without close_notify: the end of the
            // answer all the same (keepalived judges what it got too).
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// close_notify, then the TCP FIN (`shutdown(SHUT_WR)`).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The process's session stores: one client configuration per target and
/// client certificate, each with its own session store.
fn stores() -> &'static SessionStores {
    static STORES: OnceLock<SessionStores> = OnceLock::new();
    STORES.get_or_init(SessionStores::default)
}

/// How many sessions (TLS 1.3 tickets) one target keeps: rustls files them
/// by server name, up to 8 a name, so this is 4 names a target (a URL's
/// own `virtualhost` is another name).
const SESSIONS_PER_TARGET: usize = 32;

/// A target not probed for this long loses its sessions (when the stores
/// are pruned): its check is gone, or it will make one full handshake.
const STALE: Duration = Duration::from_secs(3600);

/// The client configurations, one per (target, client certificate), each
/// with its session store. Entries of targets no longer probed are dropped
/// when the map has grown past twice its size at the last pruning.
#[derive(Debug, Default)]
pub struct SessionStores {
    map: Mutex<StoreMap>,
}

#[derive(Debug, Default)]
struct StoreMap {
    entries: HashMap<StoreKey, Entry>,
    /// Prune when the map grows past this many entries.
    prune_at: usize,
}

type StoreKey = (SocketAddr, Option<Arc<ClientCertificate>>);

#[derive(Debug)]
struct Entry {
    config: Arc<ClientConfig>,
    last_used: Instant,
}

impl SessionStores {
    /// The client configuration for `target` presenting `client`, made on
    /// first use.
    pub fn config(
        &self,
        target: SocketAddr,
        client: Option<&Arc<ClientCertificate>>,
    ) -> Result<Arc<ClientConfig>, rustls::Error> {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (target, client.cloned());
        if let Some(entry) = map.entries.get_mut(&key) {
            entry.last_used = now;
            return Ok(Arc::clone(&entry.config));
        }
        let config = Arc::new(client_config(client.map(|c| &**c))?);
        map.prune(now);
        map.entries.insert(
            key,
            Entry {
                config: Arc::clone(&config),
                last_used: now,
            },
        );
        Ok(config)
    }

    /// How many targets have a store (tests).
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }

    /// Whether no target has a store yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl StoreMap {
    fn prune(&mut self, now: Instant) {
        if self.entries.len() < self.prune_at.max(1024) {
            return;
        }
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.last_used) < STALE);
        self.prune_at = self.entries.len() * 2;
    }
}

/// A client configuration: any server certificate, TLS 1.3 and 1.2, the
/// client certificate if there is one, and a session store of its own.
fn client_config(client: Option<&ClientCertificate>) -> Result<ClientConfig, rustls::Error> {
    let provider = provider();
    let verifier = Arc::new(AnyCertificate::new(&provider));
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client {
        Some(c) => {
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified_key(c)?)))
        }
        None => builder.with_no_client_auth(),
    };
    config.resumption =
        Resumption::store(Arc::new(ClientSessionMemoryCache::new(SESSIONS_PER_TARGET)));
    Ok(config)
}

/// The client certificate and its key, ready to sign with: the key must be
/// one rustls can use, and the certificate's own. A certificate rustls
/// cannot read itself (an X.509 v1 certificate, which `openssl x509 -req`
/// still makes) is sent as it is: the server judges it, as it would
/// keepalived's.
pub fn certified_key(client: &ClientCertificate) -> Result<CertifiedKey, rustls::Error> {
    let key = provider()
        .key_provider
        .load_private_key(client.private_key())?;
    let own = client
        .chain
        .first()
        .and_then(|c| subject_public_key_info(c));
    match (key.public_key(), own) {
        (Some(key), Some(cert)) if key.as_ref() != cert => {
            Err(InconsistentKeys::KeyMismatch.into())
        }
        _ => Ok(CertifiedKey::new(client.chain.clone(), key)),
    }
}

/// The cryptography lvsd's TLS uses: ring, which builds with Debian's
/// toolchain alone (aws-lc-rs would bring post-quantum key exchange, and a
/// C build of its own). Made once.
///
/// Key exchange X25519 first, then P-256, then P-384, as OpenSSL offers
/// them (so keepalived too). rustls's ring provider puts P-384 first, and
/// the first is the key share every ClientHello carries, resumed ones too
/// (TLS 1.3 resumes with a fresh key exchange): ring's P-384 is generic
/// code, and it was half of lvsd's CPU per `SSL_GET` probe (host profile,
/// `bench/ssl.sh`'s shape).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    let make = || {
        // Deprecated only for lacking post-quantum key exchange, which
        // keepalived's checks do not have either.
        #[allow(deprecated)]
        let mut provider = rustls::crypto::ring::default_provider();
        use rustls::crypto::ring::kx_group::{SECP256R1, SECP384R1, X25519};
        provider.kx_groups = vec![X25519, SECP256R1, SECP384R1];
        Arc::new(provider)
    };
    Arc::clone(PROVIDER.get_or_init(make))
}
