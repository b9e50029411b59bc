//! What `compare` shows while it measures: one line per transport.
//!
//! On a terminal the line is a bar that fills as deliveries arrive (indicatif redraws it in
//! place); when the output is a pipe or a file, a redrawn line would be a mess of `\r`s, so each
//! transport gets one plain line when it is done.

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Row;

/// Told about each transport's run as it goes.
pub trait Progress {
    /// A transport's run starts; `expected` deliveries would be all of them.
    fn start(&mut self, transport: &str, expected: u64);
    /// `delivered` so far.
    fn update(&mut self, delivered: u64);
    /// The run is over.
    fn finish(&mut self, row: &Row, expected: u64, took: Duration);
}

/// The line a finished run leaves behind, on a terminal or not.
fn summary(row: &Row, expected: u64, took: Duration) -> String {
    format!("{} of {expected} delivered in {:.1} s", row.delivered, took.as_secs_f64())
}

/// A bar per transport on a terminal.
pub struct Bars {
    current: Option<ProgressBar>,
}

impl Bars {
    pub fn new() -> Bars {
        Bars { current: None }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl Progress for Bars {
    fn start(&mut self, transport: &str, expected: u64) {
        let bar = ProgressBar::with_draw_target(Some(expected), ProgressDrawTarget::stdout());
        let style = ProgressStyle::with_template("{prefix:<22} [{bar:30}] {pos}/{len} delivered {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(transport.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        self.current = Some(bar);
    }

    fn update(&mut self, delivered: u64) {
        if let Some(bar) = &self.current {
            bar.set_position(delivered);
        }
    }

    fn finish(&mut self, row: &Row, expected: u64, took: Duration) {
        if let Some(bar) = self.current.take() {
            bar.set_style(
                ProgressStyle::with_template("{prefix:<22} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.finish_with_message(summary(row, expected, took));
        }
    }
}

/// A plain line per transport, for pipes and files (and tests).
pub struct Lines<W: Write>(pub W);

impl<W: Write> Progress for Lines<W> {
    fn start(&mut self, _transport: &str, _expected: u64) {}

    fn update(&mut self, _delivered: u64) {}

    fn finish(&mut self, row: &Row, expected: u64, took: Duration) {
        let _ = writeln!(self.0, "{:<22} {}", row.transport, summary(row, expected, took));
    }
}
