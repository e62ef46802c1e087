//! What `SSL_GET` checks of a server's certificate: only that the server
//! holds its key.
//!
//! keepalived never verifies the certificate (OpenSSL's default for a
//! client, `SSL_VERIFY_NONE`): self-signed, expired, issued for another
//! name or by nobody known, any certificate passes, and so it does here
//! ([`AnyCertificate`]). What rustls still needs is the certificate's
//! public key, to check the handshake's signature: without that check the
//! connection would not be authenticated even to the certificate's key.
//!
//! The key is read from the certificate's `subjectPublicKeyInfo`
//! ([`subject_public_key_info`]) with a plain DER walk rather than a full
//! parse: webpki, rustls' parser, refuses X.509 v1 certificates, which
//! OpenSSL 3.0's `openssl x509 -req` still makes and keepalived accepts.

use pkcs8::der::asn1::AnyRef;
use pkcs8::der::{Decode, Header, Reader, SliceReader, Tag, Tagged};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, PeerMisbehaved, SignatureScheme};

/// keepalived's stance on server certificates: any will do, as long as the
/// handshake is signed with its key.
#[derive(Debug)]
pub struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyCertificate {
    /// A verifier checking signatures with `provider`'s algorithms.
    pub fn new(provider: &CryptoProvider) -> Self {
        AnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        }
    }

    /// Checks a TLS 1.2 signature with the certificate's key, trying each
    /// algorithm its scheme may mean (ECDSA schemes name no curve there).
    fn verify_tls12(
        &self,
        message: &[u8],
        spki: &SubjectPublicKeyInfoDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let candidates = self
            .algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map(|(_, algs)| *algs)
            .ok_or(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme)?;
        let key = webpki::RawPublicKeyEntity::try_from(spki)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        candidates
            .iter()
            .find(|alg| {
                key.verify_signature(**alg, message, dss.signature())
                    .is_ok()
            })
            .map(|_| HandshakeSignatureValid::assertion())
            .ok_or(Error::InvalidCertificate(CertificateError::BadSignature))
    }
}

/// The certificate's public key, whatever its version.
fn key_of<'a>(cert: &'a CertificateDer<'_>) -> Result<SubjectPublicKeyInfoDer<'a>, Error> {
    subject_public_key_info(cert)
        .map(SubjectPublicKeyInfoDer::from)
        .ok_or(Error::InvalidCertificate(CertificateError::BadEncoding))
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.verify_tls12(message, &key_of(cert)?, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &key_of(cert)?,
            dss,
            &self.algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The `subjectPublicKeyInfo` of an X.509 certificate of any version, as
/// DER; `None` if `cert` is not shaped like a certificate.
///
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version
/// OPTIONAL, serialNumber, signature, issuer, validity, subject,
/// subjectPublicKeyInfo, ... }, ... }`: the seventh field of the first.
pub fn subject_public_key_info(cert: &[u8]) -> Option<&[u8]> {
    let mut reader = SliceReader::new(cert).ok()?;
    for _ in 0..2 {
        // Into Certificate, then into tbsCertificate.
        let header = Header::decode(&mut reader).ok()?;
        if header.tag() != Tag::Sequence {
            return None;
        }
    }
    let mut field = 0;
    loop {
        let start = usize::try_from(reader.position()).ok()?;
        let any = AnyRef::decode(&mut reader).ok()?;
        let end = usize::try_from(reader.position()).ok()?;
        if field == 0 && any.tag().is_context_specific() {
            continue; // [0] version: absent in v1.
        }
        field += 1;
        if field == 6 {
            return (any.tag() == Tag::Sequence)
                .then(|| cert.get(start..end))
                .flatten();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_has_no_public_key() {
        assert_eq!(subject_public_key_info(b""), None);
        assert_eq!(subject_public_key_info(b"\x30\x03\x30\x01\x00"), None);
        assert_eq!(subject_public_key_info(&[0x30, 0x80]), None);
    }
}
