//! The `check` label: which kind of checker a series counts.

use prometheus_client::encoding::EncodeLabelValue;

use crate::config::Check;

/// A checker kind, as the `check` label writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum CheckKind {
    /// `TCP_CHECK`.
    tcp,
    /// `HTTP_GET`.
    http,
    /// `SSL_GET`.
    ssl,
    /// `MISC_CHECK`.
    misc,
    /// `SMTP_CHECK`.
    smtp,
    /// `DNS_CHECK`.
    dns,
    /// `UDP_CHECK`.
    udp,
    /// `PING_CHECK`.
    ping,
    /// `FILE_CHECK`.
    file,
    /// `BFD_CHECK`.
    bfd,
}

impl CheckKind {
    /// Every kind, in the order of [`CheckKind::index`].
    pub const ALL: [CheckKind; 10] = [
        CheckKind::tcp,
        CheckKind::http,
        CheckKind::ssl,
        CheckKind::misc,
        CheckKind::smtp,
        CheckKind::dns,
        CheckKind::udp,
        CheckKind::ping,
        CheckKind::file,
        CheckKind::bfd,
    ];

    /// The kind of a check.
    pub fn of(check: &Check) -> CheckKind {
        match check {
            Check::Tcp(_) => CheckKind::tcp,
            Check::Http(h) if h.tls => CheckKind::ssl,
            Check::Http(_) => CheckKind::http,
            Check::Misc(_) => CheckKind::misc,
            Check::Smtp(_) => CheckKind::smtp,
            Check::Dns(_) => CheckKind::dns,
            Check::Udp(_) => CheckKind::udp,
            Check::Ping(_) => CheckKind::ping,
            Check::File(_) => CheckKind::file,
            Check::Bfd(_) => CheckKind::bfd,
        }
    }

    /// Its place in [`CheckKind::ALL`] (for per-kind arrays).
    pub fn index(self) -> usize {
        self as usize
    }
}
