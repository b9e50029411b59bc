//! What the class mode needs from a grader: the names of a lesson's checks, and one verdict per
//! check for a server's address. The lab holds a [`Grade`], so its tests can grade with a small
//! fake while the real one is the same code `cargo client check` runs.

use std::net::SocketAddr;

/// How one check went: its mark on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Pass,
    Fail,
    /// Not run: an earlier failure stopped the run.
    Skip,
}

impl Mark {
    /// As `cargo client check` prints it.
    pub fn word(self) -> &'static str {
        match self {
            Mark::Pass => "PASS",
            Mark::Fail => "FAIL",
            Mark::Skip => "SKIP",
        }
    }
}

/// One check's result: its name, how it went, what it saw (already made safe to print: it may
/// quote the server) and what to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub name: &'static str,
    pub mark: Mark,
    pub what: String,
    pub hint: &'static str,
}

/// A grader, as the lab uses it.
pub trait Grade: Send + Sync + 'static {
    /// The names of `lesson`'s checks, in order; `None` when there is no grader for it.
    fn checks(&self, lesson: &str) -> Option<Vec<&'static str>>;
    /// Runs `lesson`'s checks against `addr`: one verdict per check, or one line when nothing
    /// could be graded (nobody listening). Bounded in time and bytes, whatever the server does.
    fn grade(&self, lesson: &str, addr: SocketAddr) -> Result<Vec<Verdict>, String>;
}
