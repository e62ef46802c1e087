//! `SSL_GET`'s transport: TLS (rustls, with ring) over the probe's TCP
//! connection, as a sync [`ClientConnection`] that `http.rs`'s
//! [`Exchange`] drives over the non-blocking socket
//! (`read_tls`, `process_new_packets`, `reader`, `writer`, `write_tls`):
//! one state machine for `HTTP_GET` and `SSL_GET`, on the prober thread
//! (`driver/web.rs`) and for one-off probes on tokio (`http::attempt`).
//! This file makes the connection ([`connection`]), moves its records
//! between it and the socket (`advance`, the exchange's step for
//! `SSL_GET`), and keeps what attempts share: the client configurations
//! and their sessions.
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
//! - **close_notify, then a FIN**, whatever the verdict: the exchange
//!   queues close_notify when it ends (`Exchange::finish`), then the socket
//!   is shut down for writing and read to the server's end before it is
//!   closed, so that the close sends no RST. keepalived 2.2.7 closes
//!   without close_notify.
//! - A server that closes the TCP connection without close_notify (many
//!   do) ends the answer like a close_notify would: the answer is judged as
//!   received, as keepalived does, instead of failing the check.
//! - The handshake shares `connect_timeout` with the TCP connect and the
//!   answer: one deadline for the whole exchange (keepalived re-arms its
//!   handshake with what is left of the connect's time).

use std::collections::HashMap;
use std::io::{self, Read as _};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, InconsistentKeys};

use super::http::{self, Exchange, Outcome, Stage, Step, Want};
use super::http_answer::Answer;
use socket2::Socket;

use super::tls_verify::{subject_public_key_info, AnyCertificate};
use crate::config::{CheckCommon, ClientCertificate, HttpCheck, HttpProtocol, Url};

/// Why a TLS connection could not be set up: its `Display` is the reason
/// reported.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The server name SNI would carry is not a DNS name.
    #[error("TLS server name {0:?} (SNI) is not a valid DNS name")]
    ServerName(String),
    /// The client configuration could not be made (a client certificate
    /// rustls refuses; the config has checked it, so not expected).
    #[error("TLS client setup: {0}")]
    Setup(rustls::Error),
}

/// A new TLS connection for one attempt of `url` of `check` (its
/// handshake not begun): the target's client configuration and sessions,
/// the server name by keepalived's rules.
pub fn connection(check: &HttpCheck, url: &Url) -> Result<ClientConnection, TlsError> {
    let target = SocketAddr::new(check.common.connect_ip, check.common.connect_port);
    let name = match check.tls_options.sni(url) {
        Some(sni) => ServerName::try_from(sni.to_owned())
            .map_err(|_| TlsError::ServerName(sni.to_owned()))?,
        // rustls sends no SNI for an address: the name only files the session.
        None => ServerName::IpAddress(target.ip().into()),
    };
    let client = check.tls_options.client.as_ref();
    let config = stores().config(target, client).map_err(TlsError::Setup)?;
    ClientConnection::new(config, name).map_err(TlsError::Setup)
}

/// What a finished handshake agreed on, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The TLS version.
    pub version: Option<rustls::ProtocolVersion>,
    /// Whether an earlier session was resumed (no full handshake).
    pub resumed: bool,
    /// The key exchange group (X25519 with nearly every server; see
    /// [`provider`]).
    pub key_exchange: Option<rustls::NamedGroup>,
}

/// What `conn`'s handshake agreed on; `None` while it is not finished.
pub fn summary(conn: &ClientConnection) -> Option<Summary> {
    if conn.is_handshaking() {
        return None;
    }
    Some(Summary {
        version: conn.protocol_version(),
        resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
        key_exchange: conn.negotiated_key_exchange_group().map(|g| g.name()),
    })
}

/// One exchange (handshake, request, answer, close) with a "server" that
/// sends `server_bytes` whatever lvsd says, over a socket pair, through the
/// same [`Exchange`] and tokio driver as a one-off `SSL_GET`: what the fuzz
/// target (`fuzz/fuzz_targets/tls_client.rs`) and its corpus replay run.
/// Whatever the bytes, this must end (within a second) and never panic.
/// Returns whether the handshake succeeded.
#[doc(hidden)]
pub async fn exchange_with_bytes(server_bytes: &[u8]) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok((client, server)) = std::os::unix::net::UnixStream::pair() else {
        return false;
    };
    let client = socket2::Socket::from(std::os::fd::OwnedFd::from(client));
    let server = server
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixStream::from_std(server));
    let (Ok(()), Ok(mut server)) = (client.set_nonblocking(true), server) else {
        return false;
    };
    let server = async move {
        let _ = server.write_all(server_bytes).await;
        let _ = server.shutdown().await;
        // Take whatever the client sends, so it never waits on a full pipe.
        let mut sink = [0u8; 4096];
        while let Ok(n) = server.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let check = HttpCheck {
        common: CheckCommon::new([192, 0, 2, 1].into(), 443),
        tls: true,
        urls: vec![Url::new("/")],
        virtualhost: None,
        protocol: HttpProtocol::Http10,
        fast_recovery: false,
        tls_options: Default::default(),
    };
    let client = async {
        let url = &check.urls[0];
        let Ok(mut exchange) = Exchange::new(&check, url) else {
            return false;
        };
        let limit = Duration::from_secs(1);
        let budget = Duration::from_millis(100);
        http::drive(
            client,
            &mut exchange,
            url,
            limit,
            check.common.close,
            budget,
        )
        .await;
        exchange.tls_summary().is_some()
    };
    tokio::join!(server, client).1
}

/// [`Exchange::advance`] for `SSL_GET`: rustls's records to and from the
/// socket, the answer out of the TLS layer and into the judge.
pub(super) fn advance(
    stage: &mut Stage,
    conn: &mut ClientConnection,
    answer: &mut Answer,
    socket: &Socket,
    buf: &mut [u8],
    url: &Url,
    mut readable: bool,
) -> Step {
    loop {
        while conn.wants_write() {
            // While the TCP handshake runs this fails with EAGAIN, or with
            // its error if it failed.
            match conn.write_tls(&mut NoSignal(socket)) {
                Ok(_) if *stage == Stage::Connecting => *stage = Stage::Handshaking,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait(Want::Write),
                Err(e) if *stage == Stage::Connecting => {
                    return Step::Done(Outcome::NotConnected(e))
                }
                Err(e) => {
                    let why = format!("Cannot send get request: {e}");
                    return Step::Done(Outcome::Broken(why.into()));
                }
            }
        }
        if !readable {
            return Step::Wait(Want::Read);
        }
        let eof = match conn.read_tls(&mut &*socket) {
            Ok(n) => n == 0,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Drained: what rustls has to send goes out, then wait.
                readable = false;
                continue;
            }
            Err(e) => return Step::Done(broken(*stage, e)),
        };
        if let Err(e) = conn.process_new_packets() {
            return Step::Done(broken(*stage, e));
        }
        if conn.is_handshaking() {
            if eof {
                let why = "the server closed the connection";
                return Step::Done(broken(*stage, why));
            }
            continue;
        }
        *stage = Stage::Receiving;
        loop {
            match conn.reader().read(buf) {
                Ok(0) => return Step::Done(Outcome::Answered(answer.verdict(url))),
                Ok(n) => answer.feed(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // A TLS server that closes without close_notify: keepalived
                // judges what came, and so does lvsd.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Step::Done(Outcome::Answered(answer.verdict(url)))
                }
                Err(e) => return Step::Done(broken(*stage, e)),
            }
        }
        if eof {
            return Step::Done(Outcome::Answered(answer.verdict(url)));
        }
    }
}

/// A TLS read that failed, in `stage`: the handshake's failure, or a read
/// error.
fn broken(stage: Stage, e: impl std::fmt::Display) -> Outcome {
    let why = match stage {
        Stage::Receiving => format!("Read error: {e}"),
        _ => format!("TLS handshake failed: {e}"),
    };
    Outcome::Broken(why.into())
}

/// Writes to a socket without raising SIGPIPE (`MSG_NOSIGNAL`), for
/// rustls's `write_tls`.
pub(super) struct NoSignal<'a>(pub(super) &'a Socket);

impl io::Write for NoSignal<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.send_with_flags(bytes, libc::MSG_NOSIGNAL)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
