//! `cargo client check LESSON --enroll http://TEACHER:8080 --nick NAME`: hands your server to
//! the teacher's lab (in class mode, chapter 11), which grades it from the teacher's machine,
//! then prints what the lab measured, line for line as `check` does.
//!
//! The lab connects to your server over the network: a server listening on 127.0.0.1 is out of
//! its reach, so start yours with `--addr 0.0.0.0:PORT` (or on your network address).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::lessons::http::{read_head, MAX_RESPONSE};

/// How long to wait for the lab's first grading of your server (it grades a few at a time, and
/// a class of thirty may enroll in the same minute).
pub const WAIT: Duration = Duration::from_secs(120);
/// How long one request to the lab may take.
pub const REQUEST_TIME: Duration = Duration::from_secs(10);

/// Enrolls `nick`'s server at `addr` for `lesson` with the lab at `url`, and prints the lab's
/// line, then its verdicts as they come. `Ok(true)` when every check passed.
pub fn run(url: &str, lesson: &str, nick: &str, addr: &str, out: &mut impl Write) -> Result<bool, String> {
    let lab = authority(url)?;
    let write = |out: &mut dyn Write, line: &str| writeln!(out, "{line}").map_err(|e| e.to_string());
    let host = addr.rsplit_once(':').map_or("", |(host, _)| host);
    let local = |h: &str| matches!(h, "127.0.0.1" | "localhost" | "[::1]");
    if local(host) && !local(lab.rsplit_once(':').map_or(&lab, |(h, _)| h)) {
        write(
            out,
            &format!(
                "note: a server on {addr} listens on this machine only; the lab reaches it if you start it \
                 with --addr 0.0.0.0:{}",
                addr.rsplit_once(':').map_or("PORT", |(_, port)| port)
            ),
        )?;
    }
    let body = json!({ "lesson": lesson, "nick": nick, "addr": addr });
    let (status, answer) = request(&lab, "POST", "/class/enroll", Some(&body))?;
    let said = |key: &str| {
        answer.get(key).and_then(Value::as_str).map(|s| common::protocol::sanitize(s).into_owned())
    };
    match (status, said("ok"), said("error")) {
        (200, Some(line), _) => write(out, &line)?,
        (_, _, Some(why)) => return Err(format!("the lab refused: {why}")),
        (404, ..) => {
            return Err(format!("the lab at {lab} is not in class mode: ask your teacher for its address"))
        }
        (status, ..) => {
            return Err(format!("the lab at {lab} answered {status}: is {url} the teacher's lab?"))
        }
    }
    write(out, &format!("the lab grades your server; the class: http://{lab}/class"))?;
    // The board's event stream, as the page reads it: one connection, each change as it comes.
    let mut board = open_events(&lab)?;
    let deadline = Instant::now() + WAIT;
    loop {
        let Some(board) = next_board(&mut board, deadline)? else {
            return Err(format!(
                "the lab has not graded your server within {WAIT:?}: see http://{lab}/class"
            ));
        };
        let row = board["students"].as_array().and_then(|rows| rows.iter().find(|r| r["nick"] == nick));
        if let Some(row) = row.filter(|r| r["stage"] == "done" && !r["graded"].is_null()) {
            return print_row(row, &board["checks"], lesson, out);
        }
    }
}

/// `GET /class/events`, past the response head.
fn open_events(lab: &str) -> Result<BufReader<TcpStream>, String> {
    let stream = common::net::connect(lab, "lab --class")?;
    let failed = |e: std::io::Error| format!("talking to the lab at {lab}: {}", common::net::describe(&e));
    stream.set_read_timeout(Some(REQUEST_TIME)).map_err(failed)?;
    (&stream)
        .write_all(format!("GET /class/events HTTP/1.1\r\nHost: {lab}\r\n\r\n").as_bytes())
        .map_err(failed)?;
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader)?;
    if head.status != 200 {
        return Err(format!("the lab at {lab} answered {} to its event stream", head.status));
    }
    Ok(reader)
}

/// The next board of the stream (its `data:` lines; the chunk sizes and keep-alive comments
/// around them are skipped), or `None` once `deadline` has passed. A line is read within
/// [`MAX_RESPONSE`] bytes: the lab is a peer like any other.
fn next_board(events: &mut BufReader<TcpStream>, deadline: Instant) -> Result<Option<Value>, String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        events.get_ref().set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        let mut line = Vec::new();
        match events.by_ref().take(MAX_RESPONSE as u64).read_until(b'\n', &mut line) {
            Ok(0) => return Err("the lab closed the event stream: is it still running?".into()),
            Ok(_) => {}
            Err(e) if common::net::is_timeout(&e) => return Ok(None),
            Err(e) => return Err(format!("reading the lab's events: {}", common::net::describe(&e))),
        }
        if let Some(json) = line.strip_prefix(b"data: ") {
            return serde_json::from_slice(json)
                .map(Some)
                .map_err(|e| format!("the lab sent a board that is not JSON: {e}"));
        }
    }
}

/// The lab's verdicts as `check` prints its own. They are the lab's words about your server's
/// bytes: printed sanitized, like anything a peer sends.
fn print_row(row: &Value, checks: &Value, lesson: &str, out: &mut impl Write) -> Result<bool, String> {
    let text = |v: &Value| common::protocol::sanitize(v.as_str().unwrap_or_default()).into_owned();
    if !row["error"].is_null() {
        writeln!(out, "the lab could not grade your server: {}", text(&row["error"]))
            .map_err(|e| e.to_string())?;
        return Ok(false);
    }
    let (mut passed, mut failed) = (0, 0);
    let names = checks.as_array().cloned().unwrap_or_default();
    for (i, cell) in row["cells"].as_array().into_iter().flatten().enumerate() {
        let name = names.get(i).map(text).unwrap_or_default();
        let line = match cell["outcome"].as_str() {
            Some("PASS") => {
                passed += 1;
                format!("PASS {lesson}: {name}")
            }
            Some("FAIL") => {
                failed += 1;
                format!("FAIL {lesson}: {} — {}", text(&cell["what"]), text(&cell["hint"]))
            }
            _ => format!("SKIP {lesson}: {name} — {}", text(&cell["hint"])),
        };
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    writeln!(out, "the lab measured: {passed} passed, {failed} failed").map_err(|e| e.to_string())?;
    Ok(failed == 0 && passed > 0)
}

/// `http://HOST:PORT/...` → `HOST:PORT` (port 80 when none is given).
fn authority(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!(
            "--enroll takes the lab's address as the teacher's page shows it, http://HOST:PORT (got {url:?})"
        )
    })?;
    let authority = rest.split('/').next().unwrap_or_default();
    match authority {
        "" => Err(format!("no host in {url:?}: --enroll http://HOST:PORT")),
        a if a.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok()) => Ok(a.to_string()),
        a => Ok(format!("{a}:80")),
    }
}

/// One request on its own connection; the status and the JSON answer (`Null` if not JSON).
fn request(lab: &str, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
    let stream = common::net::connect(lab, "lab --class")?;
    let failed = |e: std::io::Error| format!("talking to the lab at {lab}: {}", common::net::describe(&e));
    stream.set_read_timeout(Some(REQUEST_TIME)).map_err(failed)?;
    stream.set_write_timeout(Some(REQUEST_TIME)).map_err(failed)?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {lab}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    (&stream).write_all(request.as_bytes()).map_err(failed)?;
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader)?;
    let length = head.length.unwrap_or(0).min(MAX_RESPONSE);
    let mut answer = Vec::new();
    reader.take(length as u64).read_to_end(&mut answer).map_err(failed)?;
    Ok((head.status, serde_json::from_slice(&answer).unwrap_or(Value::Null)))
}

#[cfg(test)]
mod tests {
    use super::authority;

    #[test]
    fn the_labs_address_is_taken_from_its_url() {
        assert_eq!(authority("http://192.168.1.20:8080").unwrap(), "192.168.1.20:8080");
        assert_eq!(authority("http://192.168.1.20:8080/class").unwrap(), "192.168.1.20:8080");
        assert_eq!(authority("http://lab.school").unwrap(), "lab.school:80");
        assert!(authority("https://lab.school").is_err());
        assert!(authority("192.168.1.20:8080").is_err());
    }
}
