//! The log format: what a learner reads in each terminal.
//!
//! Log lines are part of the teaching. At the default level (`info`) every lesson prints the
//! steps it takes, one per line, with nothing else around them: no timestamps, no module paths.
//! `RUST_LOG=debug` adds the detail (every byte count), `RUST_LOG=warn` keeps only problems.

use std::io::Write;

/// Sets up `env_logger` once per process. Calling it again is harmless (tests do).
pub fn init() {
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env)
        .format(|out, record| {
            let prefix = match record.level() {
                log::Level::Error => "error: ",
                log::Level::Warn => "warning: ",
                log::Level::Info => "",
                log::Level::Debug => "debug: ",
                log::Level::Trace => "trace: ",
            };
            writeln!(out, "{prefix}{}", record.args())
        })
        .try_init();
}
