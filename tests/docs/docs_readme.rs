//! The README is a front door (at most 250 lines, the two commands, the
//! three paths), and the documentation names only what exists, for the
//! kinds of fact that drift: the flags and their defaults (against the
//! generated docs/cli.md), zk-sys's `DEP_ZOOKEEPER_MT_*` metadata (against
//! zk-sys/build.rs), the environment variables (against the sources), the
//! files of docs/, scripts/ and examples/, the `make` targets, and every
//! relative link and its anchor. The README's async example runs as a
//! doctest of the crate (src/lib.rs includes README.md under `doctest`).
//!
//! `zkha status --json`'s keys are checked against a real run in
//! zkha-cli/tests/cli/docs_status_json.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// README.md and every Markdown page of docs/, as (path, text).
fn pages() -> Vec<(String, String)> {
    let mut pages = vec![("README.md".to_owned(), read("README.md"))];
    for name in files_in("docs") {
        if name.ends_with(".md") {
            let rel = format!("docs/{name}");
            let text = read(&rel);
            pages.push((rel, text));
        }
    }
    pages
}

/// The names of the entries of a directory of the repository, sorted.
fn files_in(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The text outside fenced code blocks (prose: where links are links).
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The words of `text` that start with `prefix` and go on with characters
/// `more` accepts (`--flag-name`, `ZKHA_TOKEN`), at a word start. A word
/// ending in `-` names a family (`--tls-*`).
fn words(text: &str, prefix: &str, more: impl Fn(char) -> bool) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices(prefix) {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-') {
            continue;
        }
        let rest = &text[at + prefix.len()..];
        let len = rest.find(|c: char| !more(c)).unwrap_or(rest.len());
        let word = &rest[..len];
        if !word.is_empty() {
            found.insert(format!("{prefix}{word}"));
        }
    }
    found
}

fn flag_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

// ---------------------------------------------------------------------------
// The README as a front door.

#[test]
fn the_readme_is_a_front_door() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines: at most 250; move the detail to docs/"
    );
    // The two commands, exactly as CI runs them (.ci/run: make test, make demo).
    assert!(readme.contains("\nmake demo   #"), "README: `make demo`");
    assert!(readme.contains("\nmake test   #"), "README: `make test`");
    let ci = read(".ci/run");
    assert!(ci.lines().any(|l| l == "make test") && ci.lines().any(|l| l == "make demo"));
    // The three paths and the promise.
    for target in [
        "docs/operations.md",
        "docs/cli.md",
        "docs/library.md",
        "docs/c-cpp.md",
        "docs/promise.md",
        "docs/design.md",
    ] {
        assert!(
            readme.contains(&format!("]({target})")),
            "README links {target}"
        );
    }
}

// ---------------------------------------------------------------------------
// Flags and defaults, against the generated CLI reference.

/// Flags of other programs the documentation mentions (cargo and
/// cargo-mutants, curl, valgrind, apt, the chaos worker, the scripts, the
/// example service's `--port`).
const NOT_ZKHA: &[&str] = &[
    "--all-targets",
    "--allow-dirty",
    "--bin",
    // seed_peer's (testing/cpp/seed_peer.cpp), for zkha conform's tests.
    "--break",
    "--cflags",
    "--check",
    "--child",
    "--cycles",
    "--daemonize",
    "--doc",
    "--download-only",
    "--example",
    "--exclude-re",
    "--features",
    "--test-package",
    // cargo-mutants' and cargo's (docs/MUTANTS.md).
    "--in-diff",
    "--iterate",
    "--job",
    "--leak-check",
    "--lib",
    // pkg-config's (docs/c-cpp.md, The C API).
    "--libs",
    "--list",
    "--max-time",
    "--no-deps",
    "--package",
    "--open",
    "--ops",
    "--port",
    "--release",
    "--setsid",
    "--slow-stop",
    "--static",
    "--test",
    "--workspace",
];

/// Each flag of docs/cli.md and its defaults (`[default: X]`), over every
/// command.
fn cli_flags() -> BTreeMap<String, BTreeSet<String>> {
    let cli = read("docs/cli.md");
    let mut flags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in cli.lines() {
        let t = line.trim_start();
        let entry = t
            .strip_prefix("-h, ")
            .or(t.strip_prefix("-V, "))
            .unwrap_or(t);
        if line.starts_with("  ") && entry.starts_with("--") {
            let name: String = entry[2..].chars().take_while(|c| flag_char(*c)).collect();
            let name = format!("--{name}");
            flags.entry(name.clone()).or_default();
            current = Some(name);
        } else if line.starts_with("## ") {
            current = None;
        }
        if let (Some(flag), Some(at)) = (&current, t.find("[default: ")) {
            let value = &t[at + "[default: ".len()..];
            let value = &value[..value.find(']').unwrap_or(value.len())];
            flags.get_mut(flag).unwrap().insert(value.to_owned());
        }
    }
    flags
}

#[test]
fn every_flag_the_docs_name_exists() {
    let flags = cli_flags();
    for known in ["--hosts", "--stop-timeout", "--fence-cmd", "--help"] {
        assert!(flags.contains_key(known), "docs/cli.md lists {known}");
    }
    let mut unknown = Vec::new();
    for (page, text) in pages() {
        if page == "docs/cli.md" {
            continue;
        }
        for flag in words(&text, "--", flag_char) {
            if !flag[2..].starts_with(|c: char| c.is_ascii_lowercase()) {
                continue; // `|---|` and the like
            }
            let exists = match flag.strip_suffix('-') {
                // A family: `--tls-*`.
                Some(_) => flags.keys().any(|f| f.starts_with(&flag)),
                None => flags.contains_key(&flag),
            };
            if !exists && !NOT_ZKHA.contains(&flag.as_str()) {
                unknown.push(format!("{page}: {flag}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "flags the docs name that no `zkha` command has (docs/cli.md; another \
         program's flag goes in NOT_ZKHA):\n{}",
        unknown.join("\n")
    );
}

#[test]
fn every_default_the_docs_state_is_the_flags_default() {
    let flags = cli_flags();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (page, text) in pages() {
        if page == "docs/cli.md" {
            continue;
        }
        // One line per paragraph, so a default may follow its flag across
        // a line break: "`--grace` ms (default 300)".
        let flat = prose(&text)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for (at, _) in flat.match_indices("`--") {
            let rest = &flat[at + 1..];
            let name: String = rest[2..].chars().take_while(|c| flag_char(*c)).collect();
            let name = format!("--{name}");
            let Some(close) = rest.find('`') else {
                continue;
            };
            let after = &rest[close + 1..];
            let cut = after.char_indices().nth(40).map_or(after.len(), |(i, _)| i);
            let window = &after[..cut];
            let Some(d) = window.find("(default ") else {
                continue;
            };
            // Not past another flag or a parenthesis.
            if window[..d].contains('`') || window[..d].contains('(') {
                continue;
            }
            let value: String = window[d + "(default ".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            checked += 1;
            match flags.get(&name) {
                Some(defaults) if defaults.contains(&value) => {}
                Some(defaults) => wrong.push(format!(
                    "{page}: {name} (default {value}): docs/cli.md says {defaults:?}"
                )),
                None => wrong.push(format!("{page}: {name}: no such flag")),
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} defaults found: is the scan broken?"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------
// zk-sys's build metadata.

#[test]
fn every_dep_zookeeper_mt_key_is_documented_and_exists() {
    let build = read("zk-sys/build.rs");
    let emitted: BTreeSet<String> = words(&build, "cargo:", |c| {
        c.is_ascii_lowercase() || c == '_' || c == '-'
    })
    .into_iter()
    .map(|w| w["cargo:".len()..].to_owned())
    .filter(|k| {
        !k.starts_with("rustc-") && !k.starts_with("rerun-if-") && k != "warning" && k != "rustc"
    })
    .map(|k| format!("DEP_ZOOKEEPER_MT_{}", k.to_ascii_uppercase()))
    .collect();
    for expected in ["DEP_ZOOKEEPER_MT_INCLUDE", "DEP_ZOOKEEPER_MT_LIB"] {
        assert!(
            emitted.contains(expected),
            "zk-sys/build.rs emits {expected}"
        );
    }
    let c_cpp = read("docs/c-cpp.md");
    let documented = words(&c_cpp, "DEP_ZOOKEEPER_MT_", |c| {
        c.is_ascii_uppercase() || c == '_'
    });
    let missing: Vec<_> = emitted.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "zk-sys/build.rs emits {missing:?}: document them in docs/c-cpp.md"
    );
    for (page, text) in pages() {
        for key in words(&text, "DEP_ZOOKEEPER_MT_", |c| {
            c.is_ascii_uppercase() || c == '_'
        }) {
            assert!(
                emitted.contains(&key),
                "{page} names {key}, which zk-sys/build.rs does not emit"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Environment variables.

/// The tracked Rust sources of the library and the command (wherever the
/// command's crate lives), as (path, text).
fn product_sources() -> Vec<(String, String)> {
    let root = repo();
    let mut out = Vec::new();
    let mut dirs = vec![root.join("src")];
    if root.join("zkha-cli/src").is_dir() {
        dirs.push(root.join("zkha-cli/src"));
    }
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(&root).unwrap().display().to_string();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out
}

fn env_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
}

#[test]
fn every_zkha_variable_is_documented_and_exists() {
    // Read or set by the library or the command (test hooks aside).
    let mut used = BTreeSet::new();
    let mut anywhere = BTreeSet::new();
    for (_, text) in product_sources() {
        for v in words(&text, "\"ZKHA_", env_char) {
            let v = v[1..].to_owned();
            if !v.contains("TEST") {
                used.insert(v);
            }
        }
        anywhere.extend(words(&text, "ZKHA_", env_char));
    }
    for expected in ["ZKHA_TOKEN", "ZKHA_PATH", "ZKHA_SASL_PASSWORD"] {
        assert!(used.contains(expected), "the sources use {expected}");
    }
    let ops = read("docs/operations.md");
    let documented = words(&ops, "ZKHA_", env_char);
    let missing: Vec<_> = used.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "variables the code uses that docs/operations.md does not name: {missing:?}"
    );
    // The other way: every ZKHA_ variable the docs name is somewhere in the
    // tree (the test kit's and the tests' own too).
    for dir in [
        "tests",
        "testing",
        "scripts",
        "examples",
        "Makefile",
        "zkha-capi",
    ] {
        let p = repo().join(dir);
        let mut stack = vec![p];
        while let Some(p) = stack.pop() {
            if p.is_dir() {
                stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                anywhere.extend(words(&text, "ZKHA_", env_char));
            }
        }
    }
    for (page, text) in pages() {
        for v in words(&text, "ZKHA_", env_char) {
            assert!(
                anywhere.contains(&v),
                "{page} names {v}, which nothing in the tree uses"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// File lists, make targets, links.

#[test]
fn every_file_of_docs_is_listed_in_the_readme() {
    let readme = read("README.md");
    let list = &readme[readme.find("<!-- docs-list").expect("README's docs list")..];
    for name in files_in("docs") {
        assert!(
            list.contains(&format!("](docs/{name})")),
            "README.md's documentation list does not link docs/{name}"
        );
    }
    let layout = read("docs/architecture.md");
    let row = layout
        .lines()
        .find(|l| l.starts_with("| `docs/` |"))
        .expect("docs/architecture.md's layout has a docs/ row");
    assert!(
        row.contains("README"),
        "the layout's docs/ row points to the README's list"
    );
}

#[test]
fn every_script_and_example_is_described() {
    let layout = read("docs/architecture.md");
    for name in files_in("scripts") {
        assert!(
            layout.contains(&format!("`scripts/{name}")),
            "docs/architecture.md's layout does not name scripts/{name}"
        );
    }
    let all: String = pages().into_iter().map(|(_, t)| t).collect();
    for name in files_in("examples") {
        assert!(
            all.contains(&format!("examples/{name}")) || all.contains(&format!("`{name}`")),
            "no page describes examples/{name}"
        );
    }
}

#[test]
fn every_make_target_the_docs_name_exists() {
    let makefile = read("Makefile");
    let targets: BTreeSet<String> = makefile
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(t, rest)| {
            !t.is_empty()
                && !rest.starts_with('=')
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-' || c == '_')
        })
        .map(|(t, _)| t.to_owned())
        .collect();
    assert!(targets.contains("test") && targets.contains("demo"));
    for (page, text) in pages() {
        // `make x` in prose, and `make x` at the start of a line of a code
        // block ("make it idempotent" is not a target).
        let mut named: Vec<String> = prose(&text)
            .match_indices("`make ")
            .map(|(at, _)| prose(&text)[at + 6..].to_owned())
            .collect();
        let mut fenced = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
            } else if fenced {
                if let Some(rest) = line.strip_prefix("make ") {
                    named.push(rest.to_owned());
                }
            }
        }
        for rest in named {
            let target: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect();
            assert!(
                targets.contains(&target),
                "{page} names `make {target}`, which the Makefile lacks"
            );
        }
    }
}

/// GitHub's anchor of a heading: lower case, punctuation other than `-`
/// and `_` dropped, spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let root = repo();
    let mut broken = Vec::new();
    for (page, text) in pages() {
        let base = Path::new(&page).parent().unwrap().to_path_buf();
        for (at, _) in prose(&text).match_indices("](") {
            let rest = &prose(&text)[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, frag) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                PathBuf::from(&page)
            } else {
                base.join(file)
            };
            let full = root.join(&path);
            if !full.exists() {
                broken.push(format!("{page}: ({target}): no {}", path.display()));
                continue;
            }
            if !frag.is_empty() && full.extension().is_some_and(|e| e == "md") {
                let target_text = std::fs::read_to_string(&full).unwrap();
                if !anchors(&target_text).contains(frag) {
                    broken.push(format!("{page}: ({target}): no heading #{frag}"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

// ---------------------------------------------------------------------------
// What `zkha run --help` must say (disagreement 14 of issue 23).

#[test]
fn run_help_names_its_signals_and_variables() {
    let cli = read("docs/cli.md");
    let run = &cli[cli
        .find("\n## zkha run\n")
        .expect("docs/cli.md: ## zkha run")..];
    let run = &run[..run[1..].find("\n## ").map_or(run.len(), |i| i + 1)];
    for needed in ["SIGUSR1", "SIGTERM", "ZKHA_TOKEN", "ZKHA_PATH"] {
        assert!(run.contains(needed), "`zkha run --help` names {needed}");
    }
}
