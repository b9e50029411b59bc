//! The book's ports and this run's: commands rewritten to reach this run's servers, and output
//! rewritten back (with timings) so that it compares with the book.

use std::collections::HashMap;
use std::net::TcpListener;

/// The ports the book uses, each the default of some lesson.
pub const BOOK_PORTS: [u16; 3] = [7878, 8080, 9001];

/// The book's port of each lesson's server, and of the server each client talks to.
pub fn default_port(program: &str, lesson: &str, next: Option<&str>) -> Option<u16> {
    match (program, lesson) {
        (_, "http" | "ws" | "poll" | "long-poll" | "stream") => Some(8080),
        (_, "ws-echo") => Some(9001),
        ("client", "check") => next.and_then(|lesson| default_port("server", lesson, None)),
        ("client", "compare") | ("server", "lab") => None,
        // `cargo client sio` takes a URL, which the book writes out (and this run's port replaces).
        ("client", "sio") => None,
        _ => Some(7878),
    }
}

/// The command line with the book's ports replaced by this run's, and `--addr` added where the
/// book relies on a lesson's default address.
pub fn localise(command: &str, ports: &HashMap<u16, u16>) -> String {
    let mut text = command.to_string();
    for (book, real) in ports {
        for host in ["127.0.0.1", "localhost"] {
            text = text.replace(&format!("{host}:{book}"), &format!("{host}:{real}"));
            text = text.replace(&format!("{host} {book}"), &format!("{host} {real}"));
        }
        // redis-server takes its port as `--port N`.
        text = text.replace(&format!("--port {book}"), &format!("--port {real}"));
    }
    // Every `cargo server|client LESSON ...` segment of the line.
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("cargo ") {
        out.push_str(&rest[..at]);
        let segment_end = rest[at..].find(['|', ';', '&', '#']).map_or(rest.len(), |end| at + end);
        let segment = &rest[at..segment_end];
        let words: Vec<&str> = segment.split_whitespace().collect();
        let has_address = words
            .iter()
            .any(|w| ["--addr", "--bind", "--tcp", "--http", "--web"].iter().any(|flag| w.starts_with(flag)));
        let mut localised = segment.to_string();
        if let (Some(program), Some(lesson)) = (words.get(1), words.get(2)) {
            if !has_address {
                let port_of = |book: u16| ports.get(&book).copied().unwrap_or(book);
                let extra = match (*program, *lesson) {
                    ("server", "lab") | ("client", "compare") => {
                        format!(" --tcp 127.0.0.1:{} --http 127.0.0.1:{}", port_of(7878), port_of(8080))
                    }
                    _ => match default_port(program, lesson, words.get(3).copied()) {
                        Some(book) => format!(" --addr 127.0.0.1:{}", port_of(book)),
                        None => String::new(),
                    },
                };
                // After `cargo server LESSON` (or `cargo client check LESSON`), before the rest.
                let at = end_of_word(segment, if *lesson == "check" { 4 } else { 3 });
                localised = format!("{}{extra}{}", &segment[..at], &segment[at..]);
            }
        }
        out.push_str(&localised);
        rest = &rest[segment_end..];
    }
    out.push_str(rest);
    out
}

/// The byte offset where the `n`th whitespace-separated word of `text` ends.
pub fn end_of_word(text: &str, n: usize) -> usize {
    let mut words = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() && in_word {
            words += 1;
            if words == n {
                return i;
            }
        }
        in_word = !c.is_whitespace();
    }
    text.len()
}

/// A client's ephemeral port is any free number, so now and then it is one the book uses:
/// a client once connected from port 9002 (the ws-echo port plus one), which [`normalise`] must
/// leave alone. Where the book shows `:PORT` and that one port is the whole difference in the
/// line, the number is taken as the ephemeral port it is.
pub fn ephemeral_as_the_book_shows(actual: &str, expected: &str) -> String {
    if actual.lines().count() != expected.lines().count() {
        return actual.to_string();
    }
    let lines: Vec<String> = actual
        .lines()
        .zip(expected.lines())
        .map(|(line, book)| {
            if line == book || !book.contains(":PORT") {
                return line.to_string();
            }
            let bytes = line.as_bytes();
            for (colon, _) in line.match_indices(':') {
                let digits = bytes[colon + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
                if (4..=5).contains(&digits) {
                    let candidate = format!("{}:PORT{}", &line[..colon], &line[colon + 1 + digits..]);
                    if candidate == book {
                        return candidate;
                    }
                }
            }
            line.to_string()
        })
        .collect();
    let mut out = lines.join("\n");
    if actual.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Ports and timings differ on every run: both the book and the real output are normalised.
pub fn normalise(text: &str, ports: &HashMap<u16, u16>) -> String {
    let mut text = text.to_string();
    for (book, real) in ports {
        // A busy port's error suggests the next one.
        if !ports.values().any(|other| *other == real + 1) {
            text = text.replace(&format!(":{}", real + 1), &format!(":{}", book + 1));
        }
        text = text.replace(&format!(":{real}"), &format!(":{book}"));
        text = text.replace(&format!(" {real}\n"), &format!(" {book}\n"));
        // `nc HOST PORT`, as the chat server suggests.
        text = text.replace(&format!("127.0.0.1 {real}"), &format!("127.0.0.1 {book}"));
    }
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // host:port where the port is not one of the book's: a client's ephemeral port.
        if chars[i] == ':' && i > 0 && chars[i - 1].is_ascii_digit() {
            let digits: String = chars[i + 1..].iter().take_while(|c| c.is_ascii_digit()).collect();
            let book_port =
                BOOK_PORTS.iter().any(|p| p.to_string() == digits || (p + 1).to_string() == digits);
            if digits.len() >= 4 && !book_port && digits != "7979" {
                out.push_str(":PORT");
                i += 1 + digits.len();
                continue;
            }
        }
        // A number followed by a unit of time: timings vary.
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric()) {
            let number: String = chars[i..].iter().take_while(|c| c.is_ascii_digit() || **c == '.').collect();
            // Thirteen digits: a time in milliseconds since 1970, as the chat's JSON carries.
            if number.len() == 13 && !number.contains('.') {
                out.push_str("TIMESTAMP");
                i += number.len();
                continue;
            }
            let after: String = chars[i + number.len()..].iter().take(4).collect();
            let unit = ["ms", " ms", "µs", " µs", "s ", " s ", " s,", " s)", " s.", "s)", "s,"]
                .iter()
                .find(|unit| after.starts_with(**unit) || after == unit.trim_end());
            if let Some(unit) = unit {
                out.push_str("TIME");
                i += number.chars().count();
                let keep = unit.trim_start().trim_end_matches([' ', ',', ')', '.']);
                out.push_str(if unit.starts_with(' ') { " " } else { "" });
                out.push_str(keep);
                i += unit.trim_end_matches([' ', ',', ')', '.']).chars().count();
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// A free port for each of the book's ports, all different: each is held until all are found.
pub fn free_ports(book: &[u16]) -> HashMap<u16, u16> {
    let held: Vec<TcpListener> =
        book.iter().map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port on loopback")).collect();
    book.iter()
        .zip(&held)
        .map(|(port, listener)| (*port, listener.local_addr().expect("its address").port()))
        .collect()
}
