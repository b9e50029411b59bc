//! The book cannot drift from the code: every Rust block in `docs/` names the file it was cut
//! from (```` ```rust,file=server/src/lessons/echo.rs ````) and must appear in it verbatim.

use std::fs;

mod book;
use book::{blocks, markdown_files, repo_root};

#[test]
fn every_rust_block_is_a_verbatim_excerpt_of_the_file_it_names() {
    let mut checked = 0;
    for path in markdown_files() {
        let text = fs::read_to_string(&path).unwrap();
        for block in blocks(&text).into_iter().filter(|b| b.info.starts_with("rust")) {
            let place = format!("{}:{}", path.display(), block.line);
            let source =
                block.info.split(',').find_map(|part| part.strip_prefix("file=")).unwrap_or_else(|| {
                    panic!("{place}: a rust block must name its file (```rust,file=PATH)")
                });
            let code = fs::read_to_string(repo_root().join(source))
                .unwrap_or_else(|e| panic!("{place}: cannot read {source}: {e}"));
            assert!(
                code.contains(&block.body),
                "{place}: this block no longer appears verbatim in {source}; copy the current code into the chapter:\n{}",
                block.body
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} excerpts found: is the docs folder there?");
}

#[test]
fn the_summary_links_every_chapter_and_every_link_resolves() {
    let src = repo_root().join("docs/src");
    let summary = fs::read_to_string(src.join("SUMMARY.md")).unwrap();
    let linked: Vec<&str> =
        summary.split("](").skip(1).map(|rest| &rest[..rest.find(')').unwrap()]).collect();
    for link in &linked {
        assert!(src.join(link).is_file(), "SUMMARY.md links {link}, which does not exist");
    }
    for path in markdown_files().iter().filter(|p| p.starts_with(&src)) {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name == "SUMMARY.md" || linked.contains(&name), "{name} is not in SUMMARY.md");
    }
}

#[test]
fn the_checker_catches_a_drifted_excerpt() {
    let text = "intro\n```rust,file=x.rs\nfn a() {}\n```\n```text\nout\n```\n";
    let found = blocks(text);
    assert_eq!(found.len(), 2);
    assert_eq!(
        (found[0].info.as_str(), found[0].body.as_str(), found[0].line),
        ("rust,file=x.rs", "fn a() {}\n", 2)
    );
    assert!(!"fn a() { changed }".contains(&found[0].body));
}
