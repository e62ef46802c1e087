//! The typed settings of `SMTP_CHECK` and `DNS_CHECK`, and the checks on
//! their values that keepalived leaves out (a DNS name's label lengths).
//!
//! ```text
//! SMTP_CHECK {                       DNS_CHECK {
//!     helo_name mail.example.org         type MX          # default SOA
//!     connect_timeout 3                  name example.org # default: the root
//!     host { connect_ip 10.0.0.7 }   }
//! }
//! ```
//!
//! An `SMTP_CHECK` with `host` blocks is several checks (see
//! `checks.rs`); each is one [`SmtpCheck`] with its own connection.

use serde::Serialize;

use super::CheckCommon;

/// keepalived's default `helo_name`.
pub const DEFAULT_HELO_NAME: &str = "smtpchecker.keepalived.org";

/// `SMTP_CHECK` (or one of its `host` blocks).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SmtpCheck {
    /// Common settings: the connection is the checker's own, or its `host`'s.
    pub common: CheckCommon,
    /// `helo_name` (default [`DEFAULT_HELO_NAME`]): sent as `HELO <name>`.
    pub helo_name: String,
}

/// The record types `DNS_CHECK` can ask for (keepalived's list).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub enum DnsType {
    /// `A` (1).
    A,
    /// `NS` (2).
    Ns,
    /// `CNAME` (5).
    Cname,
    /// `SOA` (6), keepalived's default.
    #[default]
    Soa,
    /// `MX` (15).
    Mx,
    /// `TXT` (16).
    Txt,
    /// `AAAA` (28).
    Aaaa,
    /// `RRSIG` (46).
    Rrsig,
    /// `DNSKEY` (48).
    Dnskey,
}

impl DnsType {
    /// Every type with its spelling and its code on the wire.
    const ALL: [(DnsType, &'static str, u16); 9] = [
        (DnsType::A, "A", 1),
        (DnsType::Ns, "NS", 2),
        (DnsType::Cname, "CNAME", 5),
        (DnsType::Soa, "SOA", 6),
        (DnsType::Mx, "MX", 15),
        (DnsType::Txt, "TXT", 16),
        (DnsType::Aaaa, "AAAA", 28),
        (DnsType::Rrsig, "RRSIG", 46),
        (DnsType::Dnskey, "DNSKEY", 48),
    ];

    /// The type spelled `word`, in any case (`mx` is `MX`), as keepalived reads it.
    pub fn from_name(word: &str) -> Option<DnsType> {
        Self::ALL
            .iter()
            .find(|(_, name, _)| name.eq_ignore_ascii_case(word))
            .map(|(t, _, _)| *t)
    }

    /// The spellings, for messages.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::ALL.iter().map(|(_, name, _)| *name)
    }

    /// The QTYPE code sent on the wire.
    pub fn code(self) -> u16 {
        Self::ALL
            .iter()
            .find(|(t, _, _)| *t == self)
            .map_or(6, |(_, _, code)| *code)
    }
}

/// `DNS_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DnsCheck {
    /// Common settings (keepalived's DNS defaults: `retry` 3,
    /// `delay_before_retry` = `delay_loop`).
    pub common: CheckCommon,
    /// `type` (default SOA).
    pub query_type: DnsType,
    /// `name`, as written without a final dot; empty for the root (the
    /// default, also written `.`).
    pub name: String,
}

/// Why a `name` is not a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsNameError {
    /// `a..b`, `.a`: keepalived refuses these too.
    #[error("an empty label (`..` or a leading `.`)")]
    EmptyLabel,
    /// A label of more than 63 bytes (RFC 1035 2.3.4).
    #[error("the label `{0}` is longer than 63 bytes")]
    LongLabel(String),
    /// More than 255 bytes on the wire (RFC 1035 2.3.4).
    #[error("the name is {0} bytes on the wire, more than 255")]
    LongName(usize),
}

/// `name` as `DNS_CHECK` keeps it: the root (`""` or `.`) is `""`, a final
/// dot is dropped (`example.org.` is `example.org`); every label must be
/// 1–63 bytes and the whole name at most 255 bytes on the wire.
pub fn dns_name(word: &str) -> Result<String, DnsNameError> {
    if word.is_empty() || word == "." {
        return Ok(String::new());
    }
    let name = word.strip_suffix('.').unwrap_or(word);
    let mut wire = 1; // the root's zero byte
    for label in name.split('.') {
        if label.is_empty() {
            return Err(DnsNameError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(DnsNameError::LongLabel(label.into()));
        }
        wire += 1 + label.len();
    }
    if wire > 255 {
        return Err(DnsNameError::LongName(wire));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_case_insensitive_with_keepalived_codes() {
        assert_eq!(DnsType::from_name("mx"), Some(DnsType::Mx));
        assert_eq!(DnsType::from_name("Dnskey").map(DnsType::code), Some(48));
        assert_eq!(DnsType::from_name("PTR"), None);
        assert_eq!(DnsType::default().code(), 6);
        let codes: Vec<u16> = DnsType::ALL.iter().map(|t| t.0.code()).collect();
        assert_eq!(codes, [1, 2, 5, 6, 15, 16, 28, 46, 48]);
    }

    #[test]
    fn names_are_checked_like_rfc_1035() {
        assert_eq!(dns_name(""), Ok(String::new()));
        assert_eq!(dns_name("."), Ok(String::new()));
        assert_eq!(dns_name("Example.ORG."), Ok("Example.ORG".into()));
        assert_eq!(dns_name("a..b"), Err(DnsNameError::EmptyLabel));
        assert_eq!(dns_name(".a"), Err(DnsNameError::EmptyLabel));
        assert_eq!(dns_name(".."), Err(DnsNameError::EmptyLabel));
        let l63 = "x".repeat(63);
        assert!(dns_name(&l63).is_ok());
        assert!(matches!(
            dns_name(&format!("{l63}y.org")),
            Err(DnsNameError::LongLabel(_))
        ));
        // 4 labels of 63: 4 * 64 + 1 = 257 bytes on the wire.
        let long = [l63.as_str(); 4].join(".");
        assert_eq!(dns_name(&long), Err(DnsNameError::LongName(257)));
        // 3 * 64 + 62 + 1 = 255: the longest allowed.
        let max = format!("{l63}.{l63}.{l63}.{}", "x".repeat(61));
        assert!(dns_name(&max).is_ok(), "{}", max.len());
    }
}
