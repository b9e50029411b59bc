//! The introduction's table of addresses and flags, checked against the binaries' `--help`:
//! every flag a server has is in the table, with the default the table gives, and every client
//! it names connects to the address the table says by default.

use std::path::Path;
use std::process::Command;

mod book;

/// One row of the table: the cells, without their backticks.
struct Row {
    lesson: String,
    server: String,
    listens_on: Vec<String>,
    /// Each flag and the default the table gives for it, if any.
    flags: Vec<(String, Option<String>)>,
    clients: Vec<String>,
    connects_to: Option<String>,
}

/// The words in backticks in `cell`.
fn quoted(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

fn table() -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/src/introduction.md");
    let text = std::fs::read_to_string(&path).expect("read the introduction");
    let rows: Vec<Row> = text
        .lines()
        .skip_while(|line| !line.starts_with("| lesson | server |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 6, "a row of six cells: {line}");
            let flags = cells[3]
                .split(", ")
                .map(|item| {
                    let flag =
                        quoted(item).into_iter().next().unwrap_or_else(|| panic!("no flag in {item:?}"));
                    let default = item.split_once(" (").map(|(_, d)| d.trim_end_matches(')').to_string());
                    (flag, default)
                })
                .collect();
            Row {
                lesson: cells[0].to_string(),
                server: quoted(cells[1]).concat(),
                listens_on: quoted(cells[2]),
                flags,
                clients: quoted(cells[4]),
                connects_to: quoted(cells[5]).into_iter().next(),
            }
        })
        .collect();
    assert!(rows.len() >= 9, "the table in {} lost rows", path.display());
    rows
}

fn help(binary: &Path, subcommand: &str) -> String {
    let out = Command::new(binary).args([subcommand, "--help"]).output().expect("run the binary");
    assert!(out.status.success(), "{} {subcommand} --help failed", binary.display());
    String::from_utf8(out.stdout).unwrap()
}

/// Each option of a `--help` text with its description (which clap may put on the next lines).
fn options(help: &str) -> Vec<(String, String)> {
    let mut options: Vec<(String, String)> = Vec::new();
    for line in help.lines().skip_while(|l| !l.starts_with("Options:")).skip(1) {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("--") {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            options.push((format!("--{name}"), trimmed.to_string()));
        } else if trimmed.starts_with("-h, --help") {
            options.push(("--help".into(), String::new()));
        } else if let Some((_, text)) = options.last_mut() {
            text.push(' ');
            text.push_str(trimmed);
        }
    }
    options
}

#[test]
fn the_introductions_table_of_flags_matches_every_servers_help() {
    for row in table() {
        let help = help(Path::new(env!("CARGO_BIN_EXE_server")), &row.server);
        let options = options(&help);
        for addr in &row.listens_on {
            assert!(
                help.contains(&format!("[default: {addr}]")),
                "lesson {}: no default {addr} in\n{help}",
                row.lesson
            );
        }
        for (flag, default) in &row.flags {
            let (_, text) = options
                .iter()
                .find(|(name, _)| name == flag)
                .unwrap_or_else(|| panic!("lesson {}: the server has no {flag}:\n{help}", row.lesson));
            assert!(
                !text.trim_start_matches(flag).trim().starts_with('['),
                "{flag} has no description:\n{help}"
            );
            if let Some(default) = default {
                assert!(
                    text.contains(&format!("[default: {default}]")),
                    "lesson {}: {flag} defaults to {default}? {text}",
                    row.lesson
                );
            }
        }
        assert!(
            options.iter().any(|(name, _)| name == "--trace"),
            "lesson {}: no --trace:\n{help}",
            row.lesson
        );
        // `--help`, `--trace` and the TLS flags belong to every subcommand: the prose above the
        // table says so.
        let everywhere = ["--help", "--trace", "--tls", "--cert", "--key"];
        for (name, _) in options.iter().filter(|(name, _)| !everywhere.contains(&name.as_str())) {
            assert!(
                row.flags.iter().any(|(flag, _)| flag == name),
                "lesson {}: the table does not list the server's {name}",
                row.lesson
            );
        }
    }
}

#[test]
fn the_introductions_table_gives_each_clients_default_address() {
    let client = book::client_binary();
    for row in table() {
        for name in &row.clients {
            let help = help(&client, name);
            if let Some(addr) = &row.connects_to {
                let (_, text) = options(&help)
                    .into_iter()
                    .find(|(flag, _)| flag == "--addr")
                    .unwrap_or_else(|| panic!("client {name} has no --addr:\n{help}"));
                assert!(
                    text.contains(&format!("[default: {addr}]")),
                    "client {name}: --addr defaults to {addr}? {text}"
                );
            }
        }
    }
}
