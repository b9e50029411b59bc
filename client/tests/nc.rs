//! `cargo client nc`: lines out, bytes in, control characters shown rather than obeyed, and the
//! end of input half-closes.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::thread;

use server::lessons::echo;

fn nc(addr: &str, stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["nc", addr])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn lines_go_out_and_the_end_of_input_half_closes() {
    // The echo server closes its side once it has read the end of our input: nc then ends too.
    let server = support::start(echo::run);
    let out = nc(&server.addr.to_string(), "hello\n안녕\n".as_bytes());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "hello\n안녕\n");
}

#[test]
fn what_arrives_cannot_drive_the_terminal() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"\x1b[2Jcleared?\x07\r\ncaf\xe9 \xed\x95\x9c\n").unwrap();
        // After our FIN, the rest: read to the end of the client's input, then close.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    });
    let out = nc(&addr, b"");
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "\\x1b[2Jcleared?\\x07\\r\ncaf\\xe9 한\n");
}

#[test]
fn nobody_listening_is_one_line() {
    let nobody = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let out = nc(&nobody, b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("error: no server at {nobody}: is the server running, and is that its address?\n")
    );
}
