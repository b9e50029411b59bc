//! The book's Markdown, as the tests that keep it true read it: its files and their fenced
//! code blocks. Shared by `docs.rs` (code excerpts) and `transcripts.rs` (console sessions).

#![allow(dead_code)] // each test file uses its own part

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("server/ is inside the repository").to_path_buf()
}

/// Every chapter of the book, and the README.
pub fn markdown_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(repo_root().join("docs/src"))
        .expect("docs/src is there")
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    files.push(repo_root().join("README.md"));
    files.sort();
    files
}

/// One fenced code block: its info string (```` ```rust,file=x.rs ```` → `rust,file=x.rs`), its
/// text (less the indentation of its fence, as in a list item), the line its fence is on, and the HTML comment right above it, if any.
#[derive(Debug)]
pub struct Block {
    pub info: String,
    pub body: String,
    pub line: usize,
    pub comment: Option<String>,
}

impl Block {
    /// The value of `name=value` in the info string (`console,session=echo` → `echo`).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.info.split(',').find_map(|part| part.trim().strip_prefix(name)?.strip_prefix('='))
    }

    /// True when the info string holds the bare word `name` (`console,background`).
    pub fn flag(&self, name: &str) -> bool {
        self.info.split(',').any(|part| part.trim() == name)
    }
}

/// The fenced code blocks of a Markdown text.
pub fn blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    let mut last_comment: Option<(usize, String)> = None;
    let mut indent = 0;
    for (number, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (fence, open.as_mut()) {
            (Some(info), None) => {
                indent = line.len() - line.trim_start().len();
                let comment = last_comment.take().filter(|(at, _)| at + 1 == number).map(|(_, c)| c);
                open = Some(Block {
                    info: info.trim().to_string(),
                    body: String::new(),
                    line: number + 1,
                    comment,
                })
            }
            (Some(_), Some(_)) => blocks.push(open.take().expect("a block is open")),
            (None, Some(block)) => {
                // A block inside a list item is indented like its fence; its text is not.
                let margin = line.len() - line.trim_start().len();
                block.body.push_str(&line[margin.min(indent)..]);
                block.body.push('\n');
            }
            (None, None) => {
                let trimmed = line.trim();
                if let Some(inner) = trimmed.strip_prefix("<!--").and_then(|c| c.strip_suffix("-->")) {
                    last_comment = Some((number, inner.trim().to_string()));
                }
            }
        }
    }
    assert!(open.is_none(), "a code block is never closed");
    blocks
}

/// The client binary, next to the server's. Cargo builds the server's for the server's tests;
/// the client's is built here, every time (a no-op when it is fresh): `cargo test -p server`
/// alone would otherwise run a client binary older than the code, or none.
pub fn client_binary() -> PathBuf {
    let server = Path::new(env!("CARGO_BIN_EXE_server"));
    let client = server.with_file_name(format!("client{}", std::env::consts::EXE_SUFFIX));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "-q", "-p", "client", "--bin", "client"])
        .current_dir(repo_root())
        .status()
        .expect("cargo runs");
    assert!(built.success(), "cargo build -p client failed");
    client
}
