//! The global `SSL { password ca certificate key }` block: the client
//! certificate every `SSL_GET` presents.
//!
//! keepalived builds one TLS context for all its `SSL_GET` checks from this
//! block, and its checker process exits when a file cannot be loaded. lvsd
//! reads the files when the config is loaded, so the same failures are
//! errors at the line that names the file (and a reload that brings one in
//! is refused, the running config going on):
//!
//! - `certificate FILE`: a PEM chain, the client's own certificate first;
//! - `key FILE`: its PEM private key: PKCS#8 (`PRIVATE KEY`), PKCS#1
//!   (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`), or encrypted PKCS#8
//!   (`ENCRYPTED PRIVATE KEY`, what `openssl genpkey -aes256` and
//!   `openssl pkcs8 -topk8` write) decrypted with `password`. The older
//!   OpenSSL-only encryption (`Proc-Type: 4,ENCRYPTED` headers) is refused
//!   with the command that converts it;
//! - `ca FILE`: PEM certificates. keepalived loads them and never uses them
//!   (it never verifies the server); lvsd checks they can be read, no more;
//! - `password`: the key's passphrase.
//!
//! The key must be one rustls can sign with, and match the certificate.
//! `certificate` without `key` (or the reverse) is an error: keepalived
//! would silently present no certificate. A second `SSL` block replaces the
//! first, as in keepalived. Relative file names are relative to the working
//! directory, as keepalived opens them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::block::Tree;
use super::keywords::SslKw;
use super::typer::Typer;
use super::{Check, ClientCertificate, Config, KeyFormat};

/// Gives the config's client certificate to every `SSL_GET` (the `SSL`
/// block may come after them, or twice: the last one counts).
pub fn give_client_certificate(config: &mut Config) {
    let Some(client) = config.client_certificate.clone() else {
        return;
    };
    let real_servers = config
        .virtual_servers
        .iter_mut()
        .flat_map(|vs| vs.real_servers.iter_mut());
    for rs in real_servers {
        for check in rs.checks.iter_mut() {
            if matches!(&**check, Check::Http(h) if h.tls) {
                if let Check::Http(h) = Arc::make_mut(check) {
                    h.tls_options.client = Some(Arc::clone(&client));
                }
            }
        }
    }
}

impl Typer<'_> {
    /// The top-level `SSL { ... }`: its files read now, its client
    /// certificate kept in the config.
    pub fn ssl_block(&mut self, tree: &Tree<'_>, node: u32) {
        let mut password = None;
        let mut files: [Option<(u32, PathBuf)>; 3] = [None, None, None];
        for child in tree.children(node) {
            let kw = tree.keyword(child);
            let Some(which) = SslKw::from_name(&kw.text) else {
                self.unknown(kw, "in SSL");
                continue;
            };
            self.no_block(tree, child);
            self.max_args(tree, child, 1);
            let Some(value) = self.string_arg(tree, child, "a value") else {
                continue;
            };
            match which {
                SslKw::Password => password = Some(value),
                SslKw::Ca => files[0] = Some((child, value.into())),
                SslKw::Certificate => files[1] = Some((child, value.into())),
                SslKw::Key => files[2] = Some((child, value.into())),
            }
        }
        let [ca, certificate, key] = files;
        if let Some((at, path)) = &ca {
            if let Err(e) = read_certificates(path) {
                self.error(&tree.args(*at)[0], e);
            }
        }
        self.config.client_certificate = match (certificate, key) {
            (Some((cert_at, cert_path)), Some((key_at, key_path))) => {
                let chain = read_certificates(&cert_path)
                    .map_err(|e| self.error(&tree.args(cert_at)[0], e))
                    .ok();
                let key = read_key(&key_path, password.as_deref())
                    .map_err(|e| self.error(&tree.args(key_at)[0], e))
                    .ok();
                match (chain, key) {
                    (Some(chain), Some((key_der, key_format))) => {
                        let client = ClientCertificate {
                            certificate_file: cert_path,
                            key_file: key_path,
                            chain,
                            key_der,
                            key_format,
                        };
                        match usable(&client) {
                            Ok(()) => Some(Arc::new(client)),
                            Err(e) => {
                                self.error(&tree.args(key_at)[0], e);
                                None
                            }
                        }
                    }
                    _ => None,
                }
            }
            (Some((at, _)), None) => {
                let kw = tree.keyword(at);
                self.error(kw, "`certificate` needs `key FILE` in the same SSL block (keepalived would present no certificate)");
                None
            }
            (None, Some((at, _))) => {
                let kw = tree.keyword(at);
                self.error(kw, "`key` needs `certificate FILE` in the same SSL block");
                None
            }
            (None, None) => None,
        };
    }
}

/// The PEM certificates of `path`, at least one.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{}: no `BEGIN CERTIFICATE` in it: expected a PEM certificate",
            path.display()
        ));
    }
    Ok(chain)
}

/// The PEM private key of `path`, decrypted with `password` if it is
/// encrypted: its DER and form.
fn read_key(path: &Path, password: Option<&str>) -> Result<(Vec<u8>, KeyFormat), String> {
    let bytes = read(path)?;
    let name = path.display();
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "{name}: a key in OpenSSL's legacy encrypted form (Proc-Type: 4,ENCRYPTED) is not supported: \
             convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in {name} -out NEW.pem` and use NEW.pem with `password`"
        ));
    }
    const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    if let Some(start) = text.find(BEGIN) {
        let Some(password) = password else {
            return Err(format!(
                "{name}: the key is encrypted: `password` is needed in the SSL block"
            ));
        };
        let end = text[start..]
            .find(END)
            .map(|i| start + i + END.len())
            .ok_or_else(|| format!("{name}: `{BEGIN}` without its `{END}`"))?;
        let (_, document) = pkcs8::der::SecretDocument::from_pem(&text[start..end])
            .map_err(|e| format!("{name}: not a PEM encrypted key: {e}"))?;
        let encrypted = pkcs8::EncryptedPrivateKeyInfoRef::try_from(document.as_bytes())
            .map_err(|e| format!("{name}: not an encrypted PKCS#8 key: {e}"))?;
        let decrypted = encrypted.decrypt(password.as_bytes()).map_err(|e| {
            format!("{name}: cannot decrypt the key with `password` (wrong password, or an unsupported cipher): {e}")
        })?;
        return Ok((decrypted.as_bytes().to_vec(), KeyFormat::Pkcs8));
    }
    let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        format!("{name}: no PEM private key in it (PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY): {e}")
    })?;
    let format = match &key {
        PrivateKeyDer::Pkcs1(_) => KeyFormat::Pkcs1,
        PrivateKeyDer::Sec1(_) => KeyFormat::Sec1,
        _ => KeyFormat::Pkcs8,
    };
    Ok((key.secret_der().to_vec(), format))
}

/// Whether rustls can sign with the key, and the key is the certificate's.
fn usable(client: &ClientCertificate) -> Result<(), String> {
    crate::checker::tls::certified_key(client)
        .map(drop)
        .map_err(|e| {
            format!(
                "{}: the key cannot be used with certificate {}: {e}",
                client.key_file.display(),
                client.certificate_file.display()
            )
        })
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
