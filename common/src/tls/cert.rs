//! The server's certificate: given (`--cert`, `--key`), or made once per user and kept.
//!
//! A certificate says "this public key belongs to these names", signed by someone. A public
//! server's is signed by a certificate authority that browsers already trust; the one made here
//! is *self-signed* (it vouches for itself), so a client trusts it only when it is handed the
//! file (`--ca`, `curl --cacert`, `openssl s_client -CAfile`). It names `localhost` as a DNS name
//! and `127.0.0.1` and `::1` as IP addresses: Python's `ssl` and curl check an address against
//! the certificate's IP entries, never against a DNS name spelled like an address.
//!
//! Made once, kept: the next start shows the same certificate, so a client's `--ca` stays
//! right. Two servers started at once must not replace each other's file (the first one's
//! clients would stop trusting it): the pair is written into a fresh directory and renamed into
//! place, which fails when the place is taken, and then the server that lost uses the winner's.

use std::fs;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Environment variable that moves the per-user directory (tests use a temporary one).
pub const DIR_VAR: &str = "SOCKET_STEPS_TLS_DIR";

/// A certificate file and its private key file, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    /// Where the self-made certificate lives: `$SOCKET_STEPS_TLS_DIR`, or a per-user data
    /// directory (`~/.local/share/socket-steps/tls` on Linux), then `localhost/`.
    pub fn made_here() -> Option<CertFiles> {
        Some(CertFiles::made_in(&base_dir()?))
    }

    /// The self-made pair's place under `base` (a test's temporary directory).
    pub fn made_in(base: &Path) -> CertFiles {
        let dir = base.join("localhost");
        CertFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") }
    }

    /// Makes the pair in its place unless it is there already: true when this call made it.
    pub fn make_if_absent(&self) -> Result<bool, String> {
        if self.cert.exists() {
            return Ok(false);
        }
        make_once(self)
    }

    /// The self-made certificate, made now if there is none yet. Says which happened.
    pub fn made_here_or_make() -> Result<(CertFiles, bool), String> {
        let files = CertFiles::made_here()
            .ok_or("no home directory to keep a certificate in: give --cert FILE --key FILE (or set SOCKET_STEPS_TLS_DIR)")?;
        let made = files.make_if_absent()?;
        Ok((files, made))
    }

    /// The certificate chain and key, read and checked.
    pub fn load(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        let chain = read_certificates(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| format!("cannot read a private key from {}: {e}", self.key.display()))?;
        Ok((chain, key))
    }
}

/// Every certificate in a PEM file (a chain, or the certificates a client trusts).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no certificate (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The SHA-256 of a certificate as `AB:CD:…`, the way browsers and `openssl x509 -fingerprint
/// -sha256` show it: compare it by eye with what the client saw.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn base_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(DIR_VAR) {
        return Some(PathBuf::from(dir));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("LOCALAPPDATA").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/share")))?;
    Some(data.join("socket-steps").join("tls"))
}

/// Makes the pair in a fresh directory and renames it into place. Returns false when another
/// server got there first (its pair stays, and is the one to use).
fn make_once(files: &CertFiles) -> Result<bool, String> {
    let place = files.cert.parent().ok_or("the certificate's path has no directory")?;
    let parent = place.parent().ok_or("the certificate's directory has no parent")?;
    fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let fresh = parent.join(format!(".new-{}-{}", std::process::id(), unique()));
    fs::create_dir(&fresh).map_err(|e| format!("cannot create {}: {e}", fresh.display()))?;
    let written = write_pair(&fresh);
    let result = written.and_then(|()| match fs::rename(&fresh, place) {
        Ok(()) => Ok(true),
        // Taken since we looked: another server made its pair first.
        Err(_) if files.cert.exists() => Ok(false),
        Err(e) => Err(format!("cannot move the new certificate to {}: {e}", place.display())),
    });
    let _ = fs::remove_dir_all(&fresh);
    result
}

fn write_pair(dir: &Path) -> Result<(), String> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
    let mut params =
        rcgen::CertificateParams::new(names).map_err(|e| format!("bad certificate names: {e}"))?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "socket-steps on localhost");
    let cert = params.self_signed(&key).map_err(|e| format!("cannot make a certificate: {e}"))?;
    write_private(&dir.join("key.pem"), key.serialize_pem().as_bytes())?;
    fs::write(dir.join("cert.pem"), cert.pem()).map_err(|e| format!("cannot write the certificate: {e}"))
}

/// Written readable by its owner only: whoever reads a key can pose as the server.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut file, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_servers_making_the_certificate_at_once_end_with_one_pair_both_use() {
        let dir = std::env::temp_dir().join(format!("tls-cert-test-{}-{}", std::process::id(), unique()));
        let files = CertFiles { cert: dir.join("localhost/cert.pem"), key: dir.join("localhost/key.pem") };
        let racers: Vec<_> = (0..4)
            .map(|_| {
                let files = files.clone();
                std::thread::spawn(move || make_once(&files))
            })
            .collect();
        let made: Vec<bool> = racers.into_iter().map(|r| r.join().unwrap().unwrap()).collect();
        assert_eq!(made.iter().filter(|&&m| m).count(), 1, "exactly one wrote the pair: {made:?}");
        let first = fs::read(&files.cert).unwrap();
        assert!(!make_once(&files).unwrap(), "a later start makes nothing");
        assert_eq!(fs::read(&files.cert).unwrap(), first, "and the file is unchanged");
        let (chain, _key) = files.load().unwrap();
        assert_eq!(chain.len(), 1);
        let left: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("localhost")], "no temporary directory left");
        fs::remove_dir_all(&dir).unwrap();
    }
}
