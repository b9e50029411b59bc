//! `--class-out FILE`: the teacher's record, one CSV row per check each time a student's result
//! changes (and at the first grading), appended as it happens, so it survives a crash.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

use super::board::{millis, Student};
use super::grade::{what_and_hint, word};

/// The first line of a new file.
pub const HEADER: &str = "time_ms,nick,address,check,result,detail,hint";

/// The open record.
pub struct Log {
    file: File,
}

impl Log {
    /// Opens `path` for appending; a new or empty file gets the header first.
    pub fn open(path: &Path) -> io::Result<Log> {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        if file.metadata()?.len() == 0 {
            writeln!(file, "{HEADER}")?;
        }
        Ok(Log { file })
    }

    /// Appends `student`'s current result, graded at `now`, as rows (one per check; one row
    /// with an empty check when nothing could be graded).
    pub fn append(&mut self, student: &Student, now: SystemTime) -> io::Result<()> {
        let mut rows = String::new();
        let time = millis(now).to_string();
        let mut row = |check: &str, result: &str, detail: &str, hint: &str| {
            let fields =
                [time.as_str(), &student.nick, &student.addr.to_string(), check, result, detail, hint];
            rows.push_str(&fields.map(field).join(","));
            rows.push('\n');
        };
        match &student.result {
            Some(Ok(verdicts)) => {
                for v in verdicts {
                    let (what, hint) = what_and_hint(&v.mark);
                    row(v.check, word(&v.mark), what, hint);
                }
            }
            Some(Err(line)) => row("", "ERROR", line, ""),
            None => {}
        }
        self.file.write_all(rows.as_bytes())
    }
}

/// One CSV field: quoted, quotes doubled, line breaks kept inside the quotes. A field that a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@` first: a nickname is anybody's text)
/// gets a `'` in front, so it shows as text.
pub fn field(text: &str) -> String {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    format!("\"{}{}\"", if formula { "'" } else { "" }, text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("민지"), "\"민지\"");
        assert_eq!(field("say \"hi\", then"), "\"say \"\"hi\"\", then\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-1"), "\"'-1\"");
    }
}
