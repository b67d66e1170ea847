//! Every design id cited in the repository (S1–S9, the behaviours of the
//! ported design; F1–F10, its flaws) is defined in docs/design.md, under a
//! `### S3` / `### F1` heading (so `docs/design.md#s3` links work), and the
//! documentation no longer points outside the repository for them.
//!
//! The scan covers the tracked `.rs`, `.md`, `.toml`, `.cpp`, `.c` and `.h`
//! files (`git ls-files`), except third-party and generated trees. An id is
//! `S` or `F` and its number standing alone as a word: `S3`, `(S3)`,
//! `S1–S9`, `F8/F9`; a range such as `S1–S9` or `F1-F10` cites every id in
//! it. Hex (`0xF1`), longer words (`F1x`, `S10`) and other letters are not ids.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root: the nearest directory up from this crate's that
/// holds docs/design.md (this test may live in a member crate).
fn repo() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("docs/design.md").is_file() {
        assert!(
            dir.pop(),
            "no docs/design.md above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
    dir
}

/// The tracked text files the scan reads, relative to the root.
fn tracked(root: &Path) -> Vec<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .expect("git ls-files (the scan needs a git checkout)");
    assert!(out.status.success(), "git ls-files failed: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            !["target/", "vendor/", "zk-sys/zookeeper/"]
                .iter()
                .any(|skip| p.starts_with(skip))
        })
        .filter(|p| {
            [".rs", ".md", ".toml", ".cpp", ".c", ".h"]
                .iter()
                .any(|ext| p.ends_with(ext))
        })
        .map(str::to_owned)
        .collect()
}

/// `S3`, `F10`: a design id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Id(char, u32);

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.0, self.1)
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The id starting at char index `i` of `chars`, if one stands there alone
/// as a word, and the index just past it.
fn id_at(chars: &[char], i: usize) -> Option<(Id, usize)> {
    let letter = chars[i];
    if letter != 'S' && letter != 'F' {
        return None;
    }
    if i > 0 && is_word(chars[i - 1]) {
        return None;
    }
    let mut end = i + 1;
    while end < chars.len() && chars[end].is_ascii_digit() {
        end += 1;
    }
    if end == i + 1 || (end < chars.len() && is_word(chars[end])) {
        return None;
    }
    let digits: String = chars[i + 1..end].iter().collect();
    let n: u32 = digits.parse().ok()?;
    let max = if letter == 'S' { 9 } else { 10 };
    // No leading zero (`F01` is not an id).
    (digits.len() == n.to_string().len() && (1..=max).contains(&n)).then_some((Id(letter, n), end))
}

/// Every id cited in `text`, ranges (`S1–S9`, `F1-F10`, `F1 to F10`)
/// expanded.
fn cited(text: &str) -> BTreeSet<Id> {
    let chars: Vec<char> = text.chars().collect();
    let mut ids = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let Some((id, end)) = id_at(&chars, i) else {
            i += 1;
            continue;
        };
        ids.insert(id);
        // A range: `S1–S9`, `S1-S9`, `S1 to S9`.
        let rest: String = chars[end..chars.len().min(end + 4)].iter().collect();
        let skip = ["–", "-", " to "]
            .iter()
            .find(|sep| rest.starts_with(**sep))
            .map(|sep| sep.chars().count());
        if let Some(skip) = skip {
            if end + skip < chars.len() {
                if let Some((last, _)) = id_at(&chars, end + skip) {
                    if last.0 == id.0 && last.1 > id.1 {
                        ids.extend((id.1..=last.1).map(|n| Id(id.0, n)));
                    }
                }
            }
        }
        i = end;
    }
    ids
}

/// The ids docs/design.md defines: its `### S3` / `### F10` headings.
fn defined(design: &str) -> BTreeSet<Id> {
    design
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .filter_map(|h| {
            let chars: Vec<char> = h.trim().chars().collect();
            id_at(&chars, 0).filter(|(_, end)| *end == chars.len())
        })
        .map(|(id, _)| id)
        .collect()
}

#[test]
fn the_scanner_finds_ids_and_only_ids() {
    let ids = |t: &str| cited(t).iter().map(Id::to_string).collect::<Vec<_>>();
    assert_eq!(ids("the seed (S3) and F4, F8/F9"), ["F4", "F8", "F9", "S3"]);
    assert_eq!(ids("S1–S3"), ["S1", "S2", "S3"]);
    assert_eq!(ids("F8-F10"), ["F8", "F9", "F10"]);
    assert_eq!(ids("F1 to F2"), ["F1", "F2"]);
    assert_eq!(ids("docs/design.md#s3"), Vec::<String>::new());
    assert!(ids("0xF1 F1x S10 F11 S0 F0 F01 XS1 S1_ PF5 s3").is_empty());
    assert_eq!(ids("`S9`.").len(), 1);
}

#[test]
fn design_md_defines_every_id_once_as_a_heading() {
    let design = std::fs::read_to_string(repo().join("docs/design.md")).unwrap();
    let all: BTreeSet<Id> = (1..=9)
        .map(|n| Id('S', n))
        .chain((1..=10).map(|n| Id('F', n)))
        .collect();
    assert_eq!(defined(&design), all, "docs/design.md's ### headings");
    for id in &all {
        let heading = format!("### {id}\n");
        assert_eq!(
            design.matches(&heading).count(),
            1,
            "docs/design.md: `### {id}` exactly once"
        );
    }
}

#[test]
fn every_cited_id_is_defined_in_design_md() {
    let root = repo();
    let defined = defined(&std::fs::read_to_string(root.join("docs/design.md")).unwrap());
    let files = tracked(&root);
    assert!(
        files.iter().any(|f| f == "README.md"),
        "the scan sees no README.md"
    );
    let mut undefined = Vec::new();
    let mut citing = 0;
    for file in &files {
        // A tracked file deleted in the working tree is not cited any more.
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        let ids = cited(&text);
        citing += usize::from(!ids.is_empty());
        undefined.extend(
            ids.iter()
                .filter(|id| !defined.contains(id))
                .map(|id| format!("{file}: {id}")),
        );
    }
    assert!(
        citing >= 10,
        "only {citing} files cite an id: is the scan broken?"
    );
    assert!(
        undefined.is_empty(),
        "ids cited but not defined in docs/design.md (add a `### Id` paragraph):\n{}",
        undefined.join("\n")
    );
}

/// The design used to be linked outside the repository, where readers of
/// the package do not have it. Every file links docs/design.md instead
/// (this test and CHANGELOG.md, which records the move, aside).
#[test]
fn the_documentation_does_not_link_outside_the_repository() {
    let root = repo();
    let mut offenders = Vec::new();
    for file in tracked(&root)
        .iter()
        .filter(|f| *f != "tests/docs/docs_design_ids.rs" && *f != "CHANGELOG.md")
    {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if line.contains("shared/design") || line.contains("SEED.md") {
                offenders.push(format!("{file}:{}: {line}", n + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "link docs/design.md instead of the design outside the repository:\n{}",
        offenders.join("\n")
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains("(docs/design.md)"),
        "the README links docs/design.md"
    );
}
