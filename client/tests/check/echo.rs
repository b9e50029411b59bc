//! Wrong echo servers (chapter 2's exercise), each the mistake a hint names.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use client::check::{echo, hint};

use super::{covers, first_only, one_at_a_time, threaded};

/// Echoes until the client closes: the right loop, for the wrong servers to start from.
fn echo_until_closed(mut stream: TcpStream, mut each: impl FnMut(usize) -> bool) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        if stream.write_all(&buf[..n]).is_err() || !each(n) {
            return;
        }
    }
}

#[test]
fn every_echo_failure_has_a_wrong_server_that_trips_it() {
    let mut servers: Vec<(String, &[&str])> = Vec::new();

    // Reads and never writes.
    let silent = threaded(|mut stream| while let Ok(1..) = stream.read(&mut [0u8; 4096]) {});
    servers.push((silent, &[echo::NO_ECHO]));

    // Reads everything first: waits for an end of input that an interactive client never sends.
    let to_the_end = threaded(|mut stream| {
        let mut all = Vec::new();
        if stream.read_to_end(&mut all).is_ok() {
            let _ = stream.write_all(&all);
        }
    });
    servers.push((to_the_end, &[echo::READS_TO_END]));

    // Echoes lines, with Windows line ends.
    let crlf = threaded(|stream| {
        let mut out = stream.try_clone().unwrap();
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let _ = write!(out, "{line}\r\n");
        }
    });
    servers.push((crlf, &[echo::CHANGED]));

    // The most common first bug: no `Ok(0) => break`, one client at a time. (It sleeps instead
    // of spinning, and gives up after a while, to spare the machine that runs the tests.)
    let spins = one_at_a_time(|stream| {
        let mut buf = [0u8; 4096];
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            match stream.read(&mut buf) {
                Ok(0) => thread::sleep(Duration::from_millis(5)),
                Ok(n) => drop(stream.write_all(&buf[..n])),
                Err(_) => break,
            }
        }
        true
    });
    servers.push((spins, &[echo::READ_ZERO]));

    // Answers one read, then closes: fine for a short line, not for pieces or a big message.
    let one_read = threaded(|stream| echo_until_closed(stream, |_| false));
    servers.push((one_read, &[echo::ONE_READ, echo::CUT_SHORT]));

    // Stops reading once 64 KiB have come (waiting for a newline that is still far away).
    let stops_reading = threaded(|stream| {
        let mut total = 0;
        echo_until_closed(stream, |n| {
            total += n;
            total < 64 * 1024 || {
                thread::sleep(Duration::from_secs(12));
                false
            }
        })
    });
    servers.push((stops_reading, &[echo::STOPPED_READING]));

    // No loop around accept(): one client, then the program ends.
    let no_loop = first_only(|stream| echo_until_closed(stream, |_| true));
    servers.push((no_loop, &[echo::NEXT]));

    // `?` on every read and write in the accept loop: a client that resets ends the server.
    let dies_on_reset = one_at_a_time(|stream| {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) if stream.write_all(&buf[..n]).is_ok() => {}
                _ => return false,
            }
        }
    });
    servers.push((dies_on_reset, &[echo::VANISHED]));

    // A fixed 64 KiB buffer that overflows: the server crashes on the big message.
    let crashes = one_at_a_time(|stream| {
        let mut total = 0;
        let mut crashed = false;
        echo_until_closed(stream.try_clone().unwrap(), |n| {
            total += n;
            crashed = total > 64 * 1024;
            !crashed
        });
        !crashed
    });
    servers.push((crashes, &[echo::CUT_SHORT, hint::GONE]));

    // One byte a second.
    servers.push((super::hostile::trickle(), &[hint::TOO_SLOW]));

    covers("echo", &super::trips_each("echo", &servers));
}
