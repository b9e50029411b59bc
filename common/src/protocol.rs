//! The chat's language: the commands a client sends, the lines a server sends back, and the
//! rules for names and text. Every transport (TCP lines today; HTTP and WebSocket later) speaks
//! it, so it lives here once.
//!
//! On the wire, one line is one message, and the first character says what kind:
//!
//! | client sends         | meaning                                   |
//! |----------------------|-------------------------------------------|
//! | `/nick NAME`         | change your nickname                      |
//! | `/join ROOM`         | leave your room and enter ROOM            |
//! | `/leave`             | go back to the lobby                      |
//! | `/rooms`, `/who`     | list the rooms, or who is in yours        |
//! | `/quiet`             | hide (or show) who enters and leaves      |
//! | `/help`, `/quit`     | the command list; leave the chat          |
//! | anything else        | a message to everyone in your room        |
//!
//! | server sends         | meaning                                   |
//! |----------------------|-------------------------------------------|
//! | `NICK: TEXT`         | a message in your room (yours too)        |
//! | `* TEXT`             | a notice: joins, leaves, replies          |
//! | `! TEXT`             | an error: your last line was refused      |

use std::borrow::Cow;

use unicode_normalization::char::is_combining_mark;

/// The room everyone starts in, and returns to with `/leave`.
pub const LOBBY: &str = "lobby";

/// Longest nickname, in characters (not bytes: `김철수` is three characters, nine bytes).
pub const MAX_NICK_CHARS: usize = 24;

/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 32;

/// Longest line a client may send, in bytes, newline excluded. A longer line is refused with
/// an error and skipped; the connection stays open.
pub const MAX_LINE_BYTES: usize = 2048;

/// A line from a client, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Nick(String),
    Join(String),
    Leave,
    Rooms,
    Who,
    Help,
    /// Hides (or shows again) the notices of others entering, leaving and renaming.
    Quiet,
    Quit,
    Say(String),
    /// Blank lines are ignored, not sent.
    Nothing,
    /// A refusal to send back, for example "unknown command /frobnicate".
    Invalid(String),
}

impl Command {
    pub fn parse(line: &str) -> Command {
        let line = line.trim_end();
        let Some(command) = line.strip_prefix('/') else {
            return if line.trim().is_empty() { Command::Nothing } else { Command::Say(line.to_string()) };
        };
        let (name, argument) = command.split_once(' ').unwrap_or((command, ""));
        let argument = argument.trim();
        match (name, argument.is_empty()) {
            ("nick", false) => Command::Nick(argument.to_string()),
            ("join", false) => Command::Join(argument.to_string()),
            ("nick", true) => Command::Invalid("usage: /nick NAME".into()),
            ("join", true) => Command::Invalid("usage: /join ROOM".into()),
            ("leave", _) => Command::Leave,
            ("rooms", _) => Command::Rooms,
            ("who", _) => Command::Who,
            ("help", _) => Command::Help,
            ("quiet", _) => Command::Quiet,
            ("quit", _) => Command::Quit,
            _ => Command::Invalid(format!("unknown command /{}; /help lists the commands", sanitize(name))),
        }
    }
}

/// The `/help` text, one notice per line.
pub const HELP: &[&str] = &[
    "commands: /nick NAME, /join ROOM, /leave (back to the lobby), /rooms, /who, /quiet, /help, /quit",
    "anything else is a message to everyone in your room",
];

/// Checks a nickname: 1 to [`MAX_NICK_CHARS`] letters, digits, `-`, `_` or `.` (any script).
pub fn check_nick(nick: &str) -> Result<(), String> {
    check_name("nickname", nick, MAX_NICK_CHARS)
}

/// Checks a room name: the same rules as nicknames, up to [`MAX_ROOM_CHARS`].
pub fn check_room(room: &str) -> Result<(), String> {
    check_name("room name", room, MAX_ROOM_CHARS)
}

fn check_name(what: &str, name: &str, max: usize) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > max {
        return Err(format!("a {what} has 1 to {max} characters, not {chars}"));
    }
    // Letters and digits of every script (`김철수` is fine), and three separators. No spaces,
    // no `:` (it ends the nickname in `NICK: TEXT`), nothing that controls a terminal.
    if let Some(bad) = name.chars().find(|&c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(format!("a {what} may hold letters, digits, '-', '_' and '.', not {:?}", bad));
    }
    // Letters to Unicode that show nothing (a name of them looks empty, or like the same name
    // without them), and a mark with no letter before it to sit on.
    if let Some(bad) = name.chars().find(|c| BLANK_LETTERS.contains(c)) {
        return Err(format!("a {what} must show on the screen: {bad:?} is a letter that shows nothing"));
    }
    if name.starts_with(is_combining_mark) {
        return Err(format!("a {what} must start with a letter or digit that shows, not a combining mark"));
    }
    Ok(())
}

/// Letters to Unicode that show nothing on the screen: the Hangul fillers (U+115F, U+1160,
/// U+3164, U+FFA0) and the Khmer inherent vowels (U+17B4, U+17B5).
pub const BLANK_LETTERS: [char; 6] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{17B4}', '\u{17B5}'];

/// Makes text safe to print on someone's terminal.
///
/// A terminal obeys bytes it receives: ESC `[2J` clears the screen, ESC `[31m` turns it red, a
/// carriage return lets a line overwrite the one before it, BEL beeps. So every control character
/// (C0, DEL, C1) and every bidirectional-override mark (which can make `txt.exe` read `exe.txt`)
/// becomes U+FFFD `�`; a tab becomes a space. The visible text survives; its power does not.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c == '\t' {
                    ' '
                } else if unsafe_char(c) {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect(),
    )
}

/// A line from the server, understood (the client's side of the tables above).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine<'a> {
    Message { nick: &'a str, text: &'a str },
    Notice(&'a str),
    Error(&'a str),
}

impl<'a> ServerLine<'a> {
    pub fn parse(line: &'a str) -> ServerLine<'a> {
        if let Some(text) = line.strip_prefix("* ") {
            ServerLine::Notice(text)
        } else if let Some(text) = line.strip_prefix("! ") {
            ServerLine::Error(text)
        } else if let Some((nick, text)) = line.split_once(": ").filter(|(nick, _)| check_nick(nick).is_ok())
        {
            ServerLine::Message { nick, text }
        } else {
            ServerLine::Notice(line)
        }
    }

    pub fn render(&self) -> String {
        match self {
            ServerLine::Message { nick, text } => format!("{nick}: {text}"),
            ServerLine::Notice(text) => format!("* {text}"),
            ServerLine::Error(text) => format!("! {text}"),
        }
    }
}

/// The notice that tells a client who and where it is; sent on arrival and after every change.
pub fn whereabouts(nick: &str, room: &str) -> String {
    format!("you are now {nick} in {room}")
}

/// The other way round: `Some((nick, room))` if `notice` is a [`whereabouts`] notice.
pub fn parse_whereabouts(notice: &str) -> Option<(&str, &str)> {
    notice.strip_prefix("you are now ")?.split_once(" in ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(Command::parse("/nick 김철수"), Command::Nick("김철수".into()));
        assert_eq!(Command::parse("/join  games "), Command::Join("games".into()));
        assert_eq!(Command::parse("/join"), Command::Invalid("usage: /join ROOM".into()));
        assert_eq!(Command::parse("/who"), Command::Who);
        assert_eq!(Command::parse("/quiet"), Command::Quiet);
        assert_eq!(Command::parse("hello /who"), Command::Say("hello /who".into()));
        assert_eq!(Command::parse("   "), Command::Nothing);
        assert!(
            matches!(Command::parse("/frob\x1b"), Command::Invalid(e) if e == "unknown command /frob\u{FFFD}; /help lists the commands")
        );
    }

    #[test]
    fn names_follow_the_rules() {
        assert!(check_nick("alice").is_ok() && check_nick("김철수").is_ok() && check_nick("a.b-c_9").is_ok());
        assert!(check_nick("").is_err());
        assert!(check_nick(&"x".repeat(MAX_NICK_CHARS)).is_ok());
        assert!(check_nick(&"x".repeat(MAX_NICK_CHARS + 1)).is_err());
        // Letters that show nothing, alone or beside others, and marks on nothing.
        let blank = [
            "\u{3164}",
            "\u{115F}\u{1160}",
            "\u{FFA0}",
            "a\u{3164}b",
            "a\u{17B4}",
            "\u{0345}",
            "\u{0345}alice",
        ];
        for bad in ["a b", "a:b", "a\x1b[31m", "tab\t", "rtl\u{202E}"].into_iter().chain(blank) {
            assert!(check_nick(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(check_room(&"r".repeat(33)).unwrap_err(), "a room name has 1 to 32 characters, not 33");
    }

    #[test]
    fn sanitize_removes_the_power_of_escape_sequences_but_keeps_the_text() {
        assert!(matches!(sanitize("안녕하세요 plain"), Cow::Borrowed(_)));
        assert_eq!(sanitize("\x1b[2J\x1b[31mred\x07\r"), "\u{FFFD}[2J\u{FFFD}[31mred\u{FFFD}\u{FFFD}");
        assert_eq!(sanitize("a\tb\u{202E}c\u{9b}"), "a b\u{FFFD}c\u{FFFD}");
    }

    #[test]
    fn server_lines_round_trip() {
        for line in ["alice: hello: there", "* alice has entered lobby", "! nickname taken"] {
            assert_eq!(ServerLine::parse(line).render(), line);
        }
        assert_eq!(ServerLine::parse("김철수: 안녕"), ServerLine::Message { nick: "김철수", text: "안녕" });
        assert_eq!(ServerLine::parse("not a nick at all: x"), ServerLine::Notice("not a nick at all: x"));
        assert_eq!(parse_whereabouts(&whereabouts("bob", "games")), Some(("bob", "games")));
    }
}
