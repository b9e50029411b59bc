//! What the class mode needs from a grader: the names of a lesson's checks, and one verdict per
//! check for a server's address. The lab holds a [`Grade`]: in the binary the real one,
//! [`Checks`], the same code `cargo client check` runs (`grader::grade`); in the tests of the
//! class's own rules, a small fake.

use std::net::SocketAddr;

pub use grader::{Mark, Verdict};

/// The hint of a check an earlier failure stopped (as `cargo client check` prints it).
pub const FIX_ABOVE: &str = "fix the failure above first";

/// A grader, as the lab uses it.
pub trait Grade: Send + Sync + 'static {
    /// The names of `lesson`'s checks, in order; `None` when there is no grader for it.
    fn checks(&self, lesson: &str) -> Option<Vec<&'static str>>;
    /// Runs `lesson`'s checks against `addr`: one verdict per check, or one line when nothing
    /// could be graded (nobody listening). Bounded in time and bytes, whatever the server does.
    fn grade(&self, lesson: &str, addr: SocketAddr) -> Result<Vec<Verdict>, String>;
}

/// The checks of `cargo client check` (the `grader` crate).
pub struct Checks;

impl Grade for Checks {
    fn checks(&self, lesson: &str) -> Option<Vec<&'static str>> {
        let names = grader::names(lesson);
        (!names.is_empty()).then_some(names)
    }

    fn grade(&self, lesson: &str, addr: SocketAddr) -> Result<Vec<Verdict>, String> {
        let mut verdicts = Vec::new();
        grader::grade(lesson, Some(&addr.to_string()), |verdict| verdicts.push(verdict))?;
        Ok(verdicts)
    }
}

/// A mark as `cargo client check` prints it: `PASS`, `FAIL` or `SKIP`.
pub fn word(mark: &Mark) -> &'static str {
    match mark {
        Mark::Pass => "PASS",
        Mark::Fail { .. } => "FAIL",
        Mark::Skip => "SKIP",
    }
}

/// What a check saw (empty unless it failed) and what to look at.
pub fn what_and_hint(mark: &Mark) -> (&str, &'static str) {
    match mark {
        Mark::Pass => ("", ""),
        Mark::Fail { what, hint } => (what, hint),
        Mark::Skip => ("", FIX_ABOVE),
    }
}
