//! The chat protocol: any line is a command (or a refusal), never a panic.
#![no_main]

use common::protocol::Command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &str| {
    if let Command::Nick(name) | Command::Join(name) = Command::parse(line) {
        assert!(!name.is_empty() && name.trim() == name);
    }
});
