//! The client's side of `--tls`: whom to trust, and the connection sealed at connect.
//!
//! A client trusts a server's certificate only when it can check it against one it already
//! holds: `--ca FILE`. Without `--ca`, it looks for the certificate a `--tls` server made on this
//! machine (the two-terminal flow of the lessons) and says which file it trusts. Nothing here
//! accepts any certificate: a client that did would talk to whoever answers, sealed or not.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use log::info;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::cert::{read_certificates, CertFiles};
use super::{fingerprint, Session};
use crate::trace::{Layer, Traced};

/// How every connection of this process is sealed, when `--tls` was given.
static CLIENT: OnceLock<ClientTls> = OnceLock::new();

/// A client's TLS settings: the certificates it trusts, from one file.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    ca: PathBuf,
}

impl ClientTls {
    /// Trusts the certificates in `ca`; without it, the one a `--tls` server made here.
    pub fn new(ca: Option<&Path>) -> Result<ClientTls, String> {
        let ca = match ca {
            Some(ca) => ca.to_path_buf(),
            None => {
                let made = CertFiles::made_here().map(|files| files.cert).filter(|cert| cert.exists());
                let cert = made.ok_or(
                    "--tls needs a certificate to trust: give --ca FILE (the file the server printed), \
                     or start a server with --tls on this machine first so there is one",
                )?;
                info!("trusting {} (the certificate a --tls server made on this machine; --ca FILE to choose another)", cert.display());
                cert
            }
        };
        let trusted = read_certificates(&ca)?;
        let mut roots = RootCertStore::empty();
        for cert in &trusted {
            roots
                .add(cert.clone())
                .map_err(|e| format!("{} cannot be trusted as a certificate: {e}", ca.display()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("cannot use {}: {e}", ca.display()))?;
        let trusted = trusted.iter().map(|cert| fingerprint(cert)).collect();
        let verifier = Arc::new(Explained { webpki, trusted, ca: ca.clone() });
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous() // only to wrap the standard check with our explanation; see `Explained`
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        if let Some(log) = super::keylog() {
            config.key_log = log;
        }
        Ok(ClientTls { config: Arc::new(config), ca })
    }

    /// Seals `stream`, a connection to `addr`: the handshake runs now, so a certificate that
    /// is not trusted is reported here, before the lesson says a word.
    pub fn seal(&self, stream: TcpStream, addr: &str, layer: Layer) -> Result<Traced<TcpStream>, String> {
        let host = host_of(addr);
        let name = ServerName::try_from(host.clone())
            .map_err(|e| format!("{host:?} cannot name a TLS server: {e}"))?;
        let connection =
            ClientConnection::new(self.config.clone(), name).map_err(|e| format!("cannot start TLS: {e}"))?;
        let socket = stream.try_clone().map_err(|e| format!("cannot clone the socket: {e}"))?;
        let traced = Traced::with_tls(stream, layer, Session::client(socket, connection));
        traced.tls_handshake(Instant::now()).map_err(|e| format!("TLS with {addr} failed: {e}"))?;
        if let Some(session) = traced.tls() {
            let seen = session.peer_certificate().map(|der| fingerprint(&der)).unwrap_or_default();
            info!(
                "TLS with {addr}: {}; certificate SHA-256 {seen}, trusted through {}",
                session.summary(),
                self.ca.display()
            );
        }
        Ok(traced)
    }
}

/// `--tls` for every connection this process makes through [`connect`].
pub fn enable(tls: ClientTls) {
    let _ = CLIENT.set(tls);
}

/// Whether [`enable`] was called: a lesson then writes `https://` and `wss://` in what it prints.
pub fn enabled() -> bool {
    CLIENT.get().is_some()
}

/// `common::net::connect`, then TLS when `--tls` was given, then `--trace` as `layer`.
pub fn connect(addr: &str, lesson: &str, layer: Layer) -> Result<Traced<TcpStream>, String> {
    let stream = crate::net::connect(addr, lesson)?;
    match CLIENT.get() {
        Some(tls) => tls.seal(stream, addr, layer),
        None => Ok(Traced::new(stream, layer)),
    }
}

/// `localhost:8443` → `localhost`; `[::1]:8443` → `::1`: the name the certificate must carry.
pub fn host_of(addr: &str) -> String {
    let host =
        addr.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']').to_string()
}

/// The standard check (webpki: the chain, the name, the dates), with its failure told in full:
/// which certificate the server showed, and which the client trusts.
#[derive(Debug)]
struct Explained {
    webpki: Arc<WebPkiServerVerifier>,
    trusted: Vec<String>,
    ca: PathBuf,
}

#[derive(Debug)]
struct Untrusted(String);

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Untrusted {}

impl ServerCertVerifier for Explained {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict =
            self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        let Err(rustls::Error::InvalidCertificate(why)) = verdict else { return verdict };
        let name = server_name.to_str();
        let reason = match &why {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                "is not signed by one you trust".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("does not name {name:?} (connect with a name it carries, such as localhost)")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "has expired".into(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "is not valid yet (check this machine's clock)".into()
            }
            other => format!("was refused ({other:?})"),
        };
        let hint = match why {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                ": is --ca the file this server printed?"
            }
            _ => "",
        };
        let message = format!(
            "the server's certificate (SHA-256 {}) {reason}; you trust {} (SHA-256 {}){hint}",
            fingerprint(end_entity),
            self.ca.display(),
            self.trusted.join(", ")
        );
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
            Untrusted(message),
        )))))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_name_checked_is_the_host_without_its_port() {
        assert_eq!(host_of("localhost:8443"), "localhost");
        assert_eq!(host_of("127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(host_of("[::1]:8443"), "::1");
        assert_eq!(host_of("example.org"), "example.org");
    }
}
