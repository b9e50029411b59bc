//! The scoreboard's state: who enrolled where, what the lab last measured, and since when.

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::grade::{what_and_hint, word, Mark, Verdict};

/// Students at once: past it, an enrollment is refused (a class is thirty; this is a room's
/// worth with margin, and it bounds the page and the gradings).
pub const MAX_STUDENTS: usize = 100;

/// Where a student's grading stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for a free grader.
    Queued,
    Grading,
    Done,
}

/// One enrolled student.
#[derive(Debug)]
pub struct Student {
    pub nick: String,
    /// The nickname's look-alike skeleton: `Alice` and `alice` are one student.
    pub skeleton: String,
    pub addr: SocketAddr,
    /// The machine the enrollment came from: only it may move the nickname to another port.
    pub from: IpAddr,
    pub stage: Stage,
    /// The last grading's verdicts, or the one line that said why nothing could be graded.
    pub result: Option<Result<Vec<Verdict>, String>>,
    pub graded: Option<SystemTime>,
    /// When the result last differed from the one before.
    pub changed: Option<SystemTime>,
    /// When each check (by index) first passed.
    pub first_green: Vec<Option<SystemTime>>,
}

impl Student {
    pub fn new(nick: &str, skeleton: String, addr: SocketAddr, from: IpAddr, checks: usize) -> Student {
        Student {
            nick: nick.to_string(),
            skeleton,
            addr,
            from,
            stage: Stage::Queued,
            result: None,
            graded: None,
            changed: None,
            first_green: vec![None; checks],
        }
    }

    /// Takes in a grading's result, made at `now`; true when it differs from the last one.
    pub fn record(&mut self, result: Result<Vec<Verdict>, String>, checks: &[&str], now: SystemTime) -> bool {
        if let Ok(verdicts) = &result {
            for verdict in verdicts.iter().filter(|v| v.mark == Mark::Pass) {
                if let Some(i) = checks.iter().position(|name| *name == verdict.check) {
                    self.first_green[i].get_or_insert(now);
                }
            }
        }
        let changed = self.result.as_ref() != Some(&result);
        if changed {
            self.changed = Some(now);
        }
        self.result = Some(result);
        self.graded = Some(now);
        self.stage = Stage::Done;
        changed
    }

    /// PASS / FAIL / SKIP per check, in the board's order (`None`: not graded yet).
    pub fn outcomes(&self, checks: &[&str]) -> Vec<Option<&'static str>> {
        let verdicts = match &self.result {
            Some(Ok(verdicts)) => verdicts.as_slice(),
            _ => &[],
        };
        checks.iter().map(|name| verdicts.iter().find(|v| v.check == *name).map(|v| word(&v.mark))).collect()
    }

    /// The student's row, for the page.
    pub fn json(&self, checks: &[&str]) -> Value {
        let (verdicts, error) = match &self.result {
            Some(Ok(verdicts)) => (verdicts.as_slice(), None),
            Some(Err(line)) => (&[][..], Some(line.as_str())),
            None => (&[][..], None),
        };
        let cells: Vec<Value> = checks
            .iter()
            .zip(&self.first_green)
            .map(|(name, green)| {
                let verdict = verdicts.iter().find(|v| v.check == *name);
                let (what, hint) = verdict.map_or(("", ""), |v| what_and_hint(&v.mark));
                json!({
                    "outcome": verdict.map(|v| word(&v.mark)),
                    "what": what,
                    "hint": hint,
                    "first_green": green.map(millis),
                })
            })
            .collect();
        let stage = match self.stage {
            Stage::Queued => "queued",
            Stage::Grading => "grading",
            Stage::Done => "done",
        };
        json!({
            "nick": self.nick,
            "addr": self.addr.to_string(),
            "stage": stage,
            "error": error,
            "cells": cells,
            "graded": self.graded.map(millis),
            "changed": self.changed.map(millis),
        })
    }
}

/// Milliseconds since 1970, as the page's `Date` takes them.
pub fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |t| t.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn verdict(check: &'static str, mark: Mark) -> Verdict {
        Verdict { check, mark }
    }

    #[test]
    fn a_check_first_goes_green_once_and_a_change_is_dated() {
        let checks = ["one", "two"];
        let mut student =
            Student::new("민지", "민지".into(), "127.0.0.1:1".parse().unwrap(), [127, 0, 0, 1].into(), 2);
        let t0 = UNIX_EPOCH + Duration::from_secs(100);
        let (t1, t2) = (t0 + Duration::from_secs(30), t0 + Duration::from_secs(60));
        let fail = Mark::Fail { what: "got nothing".into(), hint: "answer" };
        let failing = vec![verdict("one", Mark::Pass), verdict("two", fail)];
        assert!(student.record(Ok(failing.clone()), &checks, t0));
        assert!(!student.record(Ok(failing), &checks, t1), "the same result is no change");
        assert_eq!(student.changed, Some(t0));
        let passing = vec![verdict("one", Mark::Pass), verdict("two", Mark::Pass)];
        assert!(student.record(Ok(passing), &checks, t2));
        assert_eq!(student.first_green, vec![Some(t0), Some(t2)]);
        assert!(student.record(Err("no server".into()), &checks, t2 + Duration::from_secs(1)));
        assert_eq!(student.first_green, vec![Some(t0), Some(t2)], "first green stays");
        assert_eq!(student.outcomes(&checks), vec![None, None]);
    }
}
