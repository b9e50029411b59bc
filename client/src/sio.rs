//! `cargo client sio URL`: a Socket.IO client on blocking sockets, the way socket.io-client
//! connects, one step at a time:
//!
//! ```text
//! 1. GET  /socket.io/?EIO=4&transport=polling          <- 0{"sid":...,"upgrades":["websocket"],...}
//! 2. POST 40/chat,{"name":...,"room":...}             the namespace CONNECT, with the auth payload
//! 3. GET                                               <- 40/chat,{"sid":...}: connected
//! 4. WebSocket ...&transport=websocket&sid=S: 2probe <- 3probe, then 5: the session moves over
//! 5. 42/chat,["joined",{}], then one ["text",{"msg":LINE}] per line typed; pings answered
//! ```
//!
//! `--transport polling` stays at step 3 and polls; `--transport websocket` starts at step 4
//! without a sid (a WebSocket-only session). Events are shown as the chat client shows the lab's
//! lines: `message` as `nick: text`, `status` as `* msg`.

mod polling;
mod websocket;

use std::io::{BufRead, Write};
use std::time::Duration;

use common::sio::{self as packet, Kind, Packet};
use log::info;
use serde_json::{json, Value};

use crate::lessons::chat::render;

/// The namespace this client connects to unless the URL names one: the lab's chat.
pub const NAMESPACE: &str = "/chat";
/// How long the server may take to answer a request that is not a waiting poll.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Which transport to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// Polling first, then the upgrade to WebSocket (socket.io-client's default)
    Auto,
    Polling,
    Websocket,
}

/// What the client was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// `http://HOST:PORT`, optionally with the namespace as its path (`/chat`).
    pub url: String,
    pub transport: Transport,
    pub name: Option<String>,
    pub room: Option<String>,
}

/// Where the server is and which namespace to join, from `http://host:port/nsp`.
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("{url:?}: a Socket.IO URL starts with http:// (for example http://127.0.0.1:8080/chat)")
    })?;
    let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
    let nsp = match path.trim_end_matches('/') {
        "" => NAMESPACE.to_string(),
        path => format!("/{path}"),
    };
    if addr.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    Ok((addr.to_string(), nsp))
}

/// The session as the open packet describes it.
pub struct Open {
    pub sid: String,
    pub upgrades: bool,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
}

/// Reads the open packet (`0{...}`).
pub fn parse_open(text: &str) -> Result<Open, String> {
    let json =
        text.strip_prefix(packet::OPEN).ok_or_else(|| format!("expected the open packet, got {text:?}"))?;
    let open: Value =
        serde_json::from_str(json).map_err(|e| format!("an open packet that is not JSON: {e}"))?;
    let ms = |name: &str| {
        open[name].as_u64().map(Duration::from_millis).ok_or(format!("the open packet has no {name}"))
    };
    Ok(Open {
        sid: open["sid"].as_str().ok_or("the open packet has no sid")?.to_string(),
        upgrades: open["upgrades"].as_array().is_some_and(|u| u.iter().any(|t| t == "websocket")),
        ping_interval: ms("pingInterval")?,
        ping_timeout: ms("pingTimeout")?,
    })
}

/// The CONNECT this client sends: the namespace, and the name and room as the auth payload.
pub fn connect_packet(nsp: &str, options: &Options) -> String {
    let mut auth = json!({});
    if let Some(name) = &options.name {
        auth["name"] = json!(name);
    }
    if let Some(room) = &options.room {
        auth["room"] = json!(room);
    }
    packet::encode(Kind::Connect, nsp, None, Some(&auth))
}

/// An event this client emits, as Engine.IO message text.
pub fn emit(nsp: &str, name: &str, data: Value) -> String {
    packet::encode(Kind::Event, nsp, None, Some(&json!([name, data])))
}

/// What one packet from the server means to the client.
pub enum Heard {
    /// Lines to show.
    Show(Vec<String>),
    /// An Engine.IO ping: answer with this pong.
    Ping(String),
    /// The namespace is connected.
    Connected,
    /// The session or the namespace ended, with this reason.
    End(String),
    Nothing,
}

/// Follows one Engine.IO packet from the server. `me` tracks our nickname, as the chat client does.
pub fn hear(nsp: &str, text: &str, me: &mut String) -> Heard {
    let mut chars = text.chars();
    let kind = chars.next();
    let data = chars.as_str();
    match kind {
        Some(packet::PING) => Heard::Ping(format!("{}{data}", packet::PONG)),
        Some(packet::CLOSE) => Heard::End("the server closed the session".into()),
        Some(packet::MESSAGE) => match Packet::parse(data) {
            Ok(p) if p.nsp != nsp => Heard::Nothing,
            Ok(Packet { kind: Kind::Connect, .. }) => Heard::Connected,
            Ok(Packet { kind: Kind::Disconnect, .. }) => Heard::End("the server ended our membership".into()),
            Ok(Packet { kind: Kind::ConnectError, data, .. }) => {
                let why =
                    data.as_ref().and_then(|d| d.get("message").or(Some(d)).cloned()).unwrap_or_default();
                Heard::End(format!("the server refused the namespace {nsp}: {why}"))
            }
            Ok(Packet { kind: Kind::Event, data: Some(Value::Array(args)), .. }) => {
                Heard::Show(show(&args).into_iter().map(|line| render(&line, me)).collect())
            }
            Ok(_) => Heard::Nothing,
            Err(why) => {
                Heard::Show(vec![format!("! the server sent a packet this client cannot read: {why}")])
            }
        },
        _ => Heard::Nothing,
    }
}

/// An event as the lab's lines: `message` {nick, text} as `nick: text`, `status` as a notice.
fn show(args: &[Value]) -> Vec<String> {
    let (name, data) = (args.first().and_then(Value::as_str).unwrap_or_default(), args.get(1));
    let field = |key: &str| data.and_then(|d| d.get(key)).and_then(Value::as_str);
    let msg = field("msg").unwrap_or_default();
    match name {
        "message" => match (field("nick"), field("text")) {
            (Some(nick), Some(text)) => vec![format!("{nick}: {text}")],
            _ => vec![format!("* {msg}")],
        },
        "status" if data.and_then(|d| d.get("error")).is_some() => vec![format!("! {msg}")],
        "status" => vec![format!("* {msg}")],
        other => vec![format!("* event {other}: {}", data.map(Value::to_string).unwrap_or_default())],
    }
}

/// Connects as `options` says and chats: every line of `input` is emitted as `text`, every
/// event printed to `output`, until the input ends (`/quit`) or the server ends the session.
pub fn run(
    options: &Options,
    input: impl BufRead + Send + 'static,
    output: &mut impl Write,
) -> Result<(), String> {
    let (addr, nsp) = parse_url(&options.url)?;
    let ended = match options.transport {
        Transport::Websocket => websocket::run(&addr, &nsp, None, options, input, output)?,
        Transport::Polling | Transport::Auto => {
            let mut session = polling::Session::open(&addr)?;
            info!(
                "polling: session {} open, pinged every {:?}",
                session.open.sid, session.open.ping_interval
            );
            session.send(&[connect_packet(&nsp, options)])?;
            let mut me = String::new();
            let early = session.until_connected(&nsp, &mut me, output)?;
            if options.transport == Transport::Auto && session.open.upgrades {
                info!("connected to {nsp} over polling; upgrading to WebSocket");
                websocket::run(&addr, &nsp, Some((session, early)), options, input, output)?
            } else {
                info!("connected to {nsp} over polling");
                session.run(&nsp, &mut me, early, input, output)?
            }
        }
    };
    info!("{ended}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_the_address_and_the_namespace() {
        assert_eq!(parse_url("http://127.0.0.1:8080").unwrap(), ("127.0.0.1:8080".into(), "/chat".into()));
        assert_eq!(parse_url("http://h:1/admin/").unwrap(), ("h:1".into(), "/admin".into()));
        assert!(parse_url("ws://h:1").is_err() && parse_url("http:///chat").is_err());
    }

    #[test]
    fn events_show_as_the_labs_lines() {
        let mut me = "민지".to_string();
        let message = r#"42/chat,["message",{"msg":"철수: 안녕","nick":"철수","text":"안녕"}]"#;
        assert!(matches!(hear("/chat", message, &mut me), Heard::Show(lines) if lines == ["철수: 안녕"]));
        let mine = r#"42/chat,["message",{"nick":"민지","text":"hi"}]"#;
        assert!(matches!(hear("/chat", mine, &mut me), Heard::Show(lines) if lines == ["[you] hi"]));
        let refused = r#"42/chat,["status",{"msg":"no","error":true}]"#;
        assert!(matches!(hear("/chat", refused, &mut me), Heard::Show(lines) if lines == ["! no"]));
        assert!(matches!(hear("/chat", "2", &mut me), Heard::Ping(pong) if pong == "3"));
        assert!(matches!(hear("/chat", "40/chat,{\"sid\":\"x\"}", &mut me), Heard::Connected));
        assert!(matches!(hear("/chat", "44/chat,{\"message\":\"no\"}", &mut me), Heard::End(_)));
        assert!(matches!(hear("/chat", "42/other,[\"message\",{}]", &mut me), Heard::Nothing));
    }
}
