//! The TLS tests' servers: a certificate of their own and a listener marked as speaking TLS.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;

use common::tls::CertFiles;

use crate::support::{start_on, Running};

/// A fresh directory for one test's certificates.
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("tls-test-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A self-made localhost certificate, as `--tls` without `--cert` makes it.
pub fn localhost_cert(name: &str) -> CertFiles {
    let files = CertFiles::made_in(&temp_dir(name));
    assert!(files.make_if_absent().unwrap());
    files
}

/// Binds 127.0.0.1:0, marks it as speaking TLS with `files`, runs `run` on it.
pub fn sealed_server(
    files: &CertFiles,
    run: impl FnOnce(TcpListener, &common::Shutdown) -> std::io::Result<()> + Send + 'static,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    server::tls::serve_on(&listener, common::tls::server_config(files).unwrap()).unwrap();
    start_on(listener, run)
}
