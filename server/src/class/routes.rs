//! The class's pages and endpoints on the lab's web side (under the HTTP layer's Host and Origin
//! rules, like every other route):
//!
//! ```text
//! GET  /class            the scoreboard page         GET /class/state   the board, as JSON
//! GET  /class/page.js    its script                  GET /class/events  the board at each change (SSE)
//! POST /class/enroll     {"nick", "addr", "lesson"?}  POST /class/grade  "grade all" (the teacher's machine only)
//! ```

use std::io::Write;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Class;
use crate::http::{self, AfterResponse, Connection, Request};
use crate::lessons::http_chat::{
    error, json_body, method_not_allowed, respond_json, write_event, DEPARTURE_CHECK,
};

/// The scoreboard, in the binary like the lab's page.
pub const PAGE: &str = include_str!("../web/class.html");
/// Its script, apart from the page so that the page can forbid every inline script (see [`CSP`]).
pub const SCRIPT: &str = include_str!("../web/class.js");
/// The page runs only its own script, whatever a name or a server's bytes might hold: a second
/// wall behind writing them as text.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:";
/// How often an idle event stream sends a comment line, so proxies keep it open.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// True for the paths [`route`] answers: `/class` and everything under it.
pub fn serves(path: &str) -> bool {
    path == "/class" || path.starts_with("/class/")
}

/// Answers `/class` and `/class/...`; `class` is `None` when the lab is not in class mode.
pub fn route(connection: &mut Connection, request: Request, class: Option<&Class>) -> AfterResponse {
    let Some(class) = class else {
        let why = "class mode is off: the teacher starts the lab with --class LESSON (chapter 11)";
        return connection.refuse(http::NOT_FOUND, why, &[]);
    };
    let method = request.method.as_str();
    match (method, request.path()) {
        ("GET" | "HEAD", "/class" | "/class/") => {
            let headers = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "no-cache"),
                ("Content-Security-Policy", CSP),
            ];
            connection.respond(http::OK, &headers, PAGE.as_bytes())
        }
        ("GET" | "HEAD", "/class/page.js") => {
            let headers = [("Content-Type", "text/javascript; charset=utf-8"), ("Cache-Control", "no-cache")];
            connection.respond(http::OK, &headers, SCRIPT.as_bytes())
        }
        ("GET", "/class/state") => {
            let headers = [("Content-Type", "application/json"), ("Cache-Control", "no-cache")];
            connection.respond(http::OK, &headers, class.snapshot().as_bytes())
        }
        ("GET", "/class/events") => events(connection, class),
        ("POST", "/class/enroll") => enroll(connection, &request, class),
        ("POST", "/class/grade") => {
            if !class.is_teacher(connection.peer().ip()) {
                let why =
                    "only the teacher's machine grades everyone at once; your own server is graded on enroll";
                return error(connection, http::FORBIDDEN, why);
            }
            let queued = class.grade_all();
            respond_json(connection, http::OK, &json!({ "queued": queued }))
        }
        (_, "/class/events" | "/class/state") => method_not_allowed(connection, "GET"),
        (_, "/class/enroll" | "/class/grade") => method_not_allowed(connection, "POST"),
        (_, path) => {
            let why = format!("no such page: {path} (the scoreboard is /class)");
            error(connection, http::NOT_FOUND, &why)
        }
    }
}

/// `POST /class/enroll`: the answer is one line for the student, `{"ok"}` or `{"error"}`.
fn enroll(connection: &mut Connection, request: &Request, class: &Class) -> AfterResponse {
    let body = match json_body(request) {
        Ok(body) => body,
        Err((status, why)) => return error(connection, status, &why),
    };
    let field = |name: &str| body.get(name).and_then(Value::as_str);
    let (Some(nick), Some(addr)) = (field("nick"), field("addr")) else {
        return error(connection, http::BAD_REQUEST, r#"expected {"nick": "민지", "addr": "7979"}"#);
    };
    if let Some(lesson) = field("lesson").filter(|lesson| *lesson != class.lesson()) {
        let why = format!(
            "this class grades {}, not {lesson}: cargo client check {} --enroll ...",
            class.lesson(),
            class.lesson()
        );
        return error(connection, http::BAD_REQUEST, &why);
    }
    match class.enroll(nick, addr, connection.peer().ip()) {
        Ok(line) => respond_json(connection, http::OK, &json!({ "ok": line })),
        Err(why) => error(connection, http::BAD_REQUEST, &why),
    }
}

/// `GET /class/events`: Server-Sent Events, each the whole board (thirty rows are a few
/// kilobytes; a page that missed one needs nothing else to catch up).
fn events(connection: &mut Connection, class: &Class) -> AfterResponse {
    let feed = class.watch();
    let chunked = !connection.is_http10();
    // The head of chapter 5's stream: chunked, or (HTTP/1.0) ended by closing.
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n{}\r\n",
        if chunked { "Transfer-Encoding: chunked\r\n" } else { "Connection: close\r\n" }
    );
    let mut result = connection.stream().write_all(head.as_bytes());
    let mut quiet_since = Instant::now();
    while result.is_ok() {
        result = match feed.recv_timeout(DEPARTURE_CHECK) {
            Ok(board) => {
                quiet_since = Instant::now();
                write_event(connection.stream(), &format!("data: {board}\n\n"), chunked)
            }
            Err(RecvTimeoutError::Timeout) if connection.departed() || connection.stopping() => break,
            Err(RecvTimeoutError::Timeout) if quiet_since.elapsed() >= KEEPALIVE => {
                quiet_since = Instant::now();
                write_event(connection.stream(), ": keep-alive\n\n", chunked)
            }
            Err(RecvTimeoutError::Timeout) => Ok(()),
            // Let go: too far behind, or the lab is closing. The browser reconnects.
            Err(RecvTimeoutError::Disconnected) => break,
        };
    }
    if chunked {
        let _ = connection.stream().write_all(b"0\r\n\r\n");
    }
    AfterResponse::Close
}
