//! What an operator installs: `zkha completions SHELL` and `zkha man`
//! (generated from the clap definitions, so they name every command the
//! binary has), and the Debian package scripts/deb assembles, built here
//! from the debug binary under test (no release build: `make deb` does
//! that), listed, read and installed into a scratch root.

use crate::cli_kit::{dir, zkha};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test, as cli_kit runs it.
fn bin() -> PathBuf {
    std::env::var_os("ZKHA_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_zkha").into())
        .into()
}

fn ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The commands `zkha --help` lists (as scripts/cli-reference finds them),
/// `help` left out.
fn commands() -> Vec<String> {
    let help = ok("zkha --help", zkha().arg("--help").output().unwrap());
    let mut on = false;
    let mut names = Vec::new();
    for line in help.lines() {
        if line.starts_with("Commands:") {
            on = true;
        } else if on && !line.starts_with(' ') {
            break;
        } else if on && line.starts_with("  ") && !line.starts_with("   ") {
            let name = line.split_whitespace().next().unwrap();
            if name != "help" {
                names.push(name.to_owned());
            }
        }
    }
    assert!(names.len() >= 8, "commands in zkha --help: {names:?}");
    for expected in ["run", "status", "switchover", "completions", "man"] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    names
}

#[test]
fn completions_are_valid_scripts_naming_every_command() {
    let d = dir("completions");
    let commands = commands();
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(
            &format!("zkha completions {shell}"),
            zkha().args(["completions", shell]).output().unwrap(),
        );
        for c in &commands {
            assert!(
                script.contains(c.as_str()),
                "zkha completions {shell} does not name {c}"
            );
        }
        assert!(
            !script.contains("__watchdog"),
            "{shell}: the hidden watchdog command is completed"
        );
        let file = d.join(format!("zkha.{shell}"));
        std::fs::write(&file, &script).unwrap();
        // The shell's own syntax check, where the shell is installed
        // (bash always is).
        let check: Option<Vec<&str>> = match shell {
            "bash" => Some(vec!["bash", "-n"]),
            "zsh" if have("zsh") => Some(vec!["zsh", "-n"]),
            "fish" if have("fish") => Some(vec!["fish", "--no-execute"]),
            _ => None,
        };
        if let Some(check) = check {
            ok(
                &format!("{} {shell} completions", check.join(" ")),
                Command::new(check[0])
                    .args(&check[1..])
                    .arg(&file)
                    .output()
                    .unwrap(),
            );
        }
    }
    // bash: the completion function is defined and registered for zkha.
    let bash = std::fs::read_to_string(d.join("zkha.bash")).unwrap();
    let probe = format!("source {}; complete -p zkha", d.join("zkha.bash").display());
    let registered = ok(
        "complete -p zkha",
        Command::new("bash").args(["-c", &probe]).output().unwrap(),
    );
    assert!(registered.contains("zkha"), "complete -p: {registered}");
    assert!(bash.contains("_zkha()"), "no _zkha function");

    let bad = zkha().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "an unknown shell is bad usage");
    let _ = std::fs::remove_dir_all(&d);
}

/// groff's complaints about a page (none expected), or None without groff.
fn groff_warnings(page: &Path) -> Option<String> {
    if !have("groff") {
        return None;
    }
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .unwrap();
    assert!(out.status.success(), "groff {}: {out:?}", page.display());
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The page as a reader sees it, through groff (None without groff).
fn formatted(page: &Path) -> Option<String> {
    if !have("groff") {
        return None;
    }
    let out = Command::new("groff")
        .args(["-man", "-Tascii", "-P-c", "-P-b", "-P-u"])
        .arg(page)
        .output()
        .unwrap();
    Some(ok(&format!("groff {}", page.display()), out))
}

#[test]
fn man_pages_parse_and_cover_every_command() {
    let d = dir("man");
    let commands = commands();
    let top = ok("zkha man", zkha().arg("man").output().unwrap());
    assert!(top.is_ascii(), "zkha man: characters outside ASCII");
    let th = top
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect("zkha man: no .TH header");
    assert!(
        th.starts_with(".TH zkha 1 ") && th.contains(env!("CARGO_PKG_VERSION")),
        "header: {th}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(top.contains(section), "zkha man: no {section}");
    }
    for c in &commands {
        assert!(
            top.contains(&format!("zkha\\-{}(1)", c.replace('-', "\\-"))),
            "zkha man does not name zkha-{c}(1)"
        );
    }
    // The epilogue (exit codes) kept as --help lays it out.
    assert!(
        top.contains(".SH NOTES\n.nf\n"),
        "no unfilled NOTES section"
    );
    assert!(top.contains("Exit codes:"), "zkha man: no exit codes");
    let top_file = d.join("stdout.1");
    std::fs::write(&top_file, &top).unwrap();
    if let Some(warnings) = groff_warnings(&top_file) {
        assert_eq!(warnings, "", "groff warns about zkha man's page");
        let text = formatted(&top_file).unwrap();
        assert!(text.contains("zkha-switchover(1)"), "formatted: {text}");
    }

    // --dir: zkha.1 and a page per command, each a valid page of its own.
    let pages = d.join("pages");
    std::fs::create_dir(&pages).unwrap();
    ok(
        "zkha man --dir",
        zkha().args(["man", "--dir"]).arg(&pages).output().unwrap(),
    );
    let mut written: BTreeSet<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut expected: BTreeSet<String> = commands.iter().map(|c| format!("zkha-{c}.1")).collect();
    expected.insert("zkha.1".into());
    assert_eq!(written, expected, "zkha man --dir");
    assert_eq!(
        std::fs::read_to_string(pages.join("zkha.1")).unwrap(),
        top,
        "zkha man and zkha man --dir differ on zkha.1"
    );
    for name in std::mem::take(&mut written) {
        let page = pages.join(&name);
        let text = std::fs::read_to_string(&page).unwrap();
        let title = name.trim_end_matches(".1");
        assert!(
            text.contains(&format!(".TH {title} 1 ")),
            "{name}: no .TH {title} 1"
        );
        if let Some(warnings) = groff_warnings(&page) {
            assert_eq!(warnings, "", "groff warns about {name}");
        }
    }
    let run = std::fs::read_to_string(pages.join("zkha-run.1")).unwrap();
    for flag in ["\\-\\-hosts", "\\-\\-stop\\-timeout", "ZKHA_TOKEN"] {
        assert!(run.contains(flag), "zkha-run.1 does not mention {flag}");
    }
    // One command's page on stdout is the same page.
    let one = ok(
        "zkha man run",
        zkha().args(["man", "run"]).output().unwrap(),
    );
    assert_eq!(one, run, "zkha man run and zkha-run.1 differ");
    let bad = zkha().args(["man", "no-such-command"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "zkha man no-such-command");
    let _ = std::fs::remove_dir_all(&d);
}

/// `dpkg-deb -I`'s field, e.g. "Version".
fn field(control: &str, name: &str) -> String {
    control
        .lines()
        .map(str::trim_start)
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in the control file:\n{control}"))
        .to_owned()
}

#[test]
fn the_deb_of_the_binary_holds_its_files_and_installs() {
    let d = dir("deb");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/deb");
    let out = ok(
        "scripts/deb --bin <debug zkha>",
        Command::new(&script)
            .arg("--bin")
            .arg(bin())
            .arg("--out")
            .arg(&d)
            // Quick: gzip, no lintian (`make deb` runs it).
            .env("DEB_COMPRESS", "gzip")
            .env("DEB_LINTIAN", "0")
            .output()
            .unwrap(),
    );
    let arch = ok(
        "dpkg --print-architecture",
        Command::new("dpkg")
            .arg("--print-architecture")
            .output()
            .unwrap(),
    );
    let arch = arch.trim();
    let version = format!("{}-1", env!("CARGO_PKG_VERSION"));
    let deb = d.join(format!("zkha_{version}_{arch}.deb"));
    assert_eq!(
        out.lines().last().map(Path::new),
        Some(deb.as_path()),
        "scripts/deb's last line: {out}"
    );

    // The files.
    let listing = ok(
        "dpkg-deb -c",
        Command::new("dpkg-deb")
            .arg("-c")
            .arg(&deb)
            .output()
            .unwrap(),
    );
    let files: BTreeSet<String> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| {
            assert!(l.contains(" root/root "), "not owned by root: {l}");
            let path = l.split_whitespace().last().unwrap();
            path.trim_start_matches('.').to_owned()
        })
        .collect();
    let mut expected: BTreeSet<String> = [
        "/usr/bin/zkha",
        "/usr/share/man/man1/zkha.1.gz",
        "/usr/share/bash-completion/completions/zkha",
        "/usr/share/zsh/vendor-completions/_zkha",
        "/usr/share/fish/vendor_completions.d/zkha.fish",
        "/usr/share/doc/zkha/copyright",
        "/usr/share/doc/zkha/changelog.Debian.gz",
        "/usr/share/doc/zkha/examples/zkha.service",
        "/usr/share/doc/zkha/examples/zkha-run.toml",
        "/lib/systemd/system/zkha@.service",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for c in commands() {
        expected.insert(format!("/usr/share/man/man1/zkha-{c}.1.gz"));
    }
    assert_eq!(files, expected, "dpkg-deb -c:\n{listing}");
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with("./usr/bin/zkha")),
        "/usr/bin/zkha is not 0755:\n{listing}"
    );
    // /etc/zkha/ for the template's NAME.toml files, empty (no conffile).
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with('d') && l.ends_with("./etc/zkha/")),
        "no /etc/zkha/ directory:\n{listing}"
    );

    // The control fields.
    let info = ok(
        "dpkg-deb -I",
        Command::new("dpkg-deb")
            .arg("-I")
            .arg(&deb)
            .output()
            .unwrap(),
    );
    assert_eq!(field(&info, "Package"), "zkha");
    assert_eq!(field(&info, "Version"), version);
    assert_eq!(field(&info, "Architecture"), arch);
    assert!(field(&info, "Maintainer").contains('<'), "{info}");
    assert!(field(&info, "Installed-Size").parse::<u64>().unwrap() > 0);
    assert!(!field(&info, "Description").is_empty());
    let depends = field(&info, "Depends");
    assert!(depends.contains("libc6 (>= "), "Depends: {depends}");
    // What the binary links is what it depends on (TLS and SASL builds).
    let ldd = ok("ldd", Command::new("ldd").arg(bin()).output().unwrap());
    for (lib, package) in [("libssl.so", "libssl"), ("libsasl2.so", "libsasl2-")] {
        assert_eq!(
            depends.contains(package),
            ldd.contains(lib),
            "Depends {depends:?} against ldd:\n{ldd}"
        );
    }
    assert_eq!(
        info.contains("Recommends: libsasl2-modules"),
        ldd.contains("libsasl2.so"),
        "{info}"
    );

    // Extracted: the binary runs, the documents say what they should.
    let root = d.join("x");
    ok(
        "dpkg-deb -x",
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&root)
            .output()
            .unwrap(),
    );
    let extracted = root.join("usr/bin/zkha");
    let v = ok(
        "zkha --version",
        Command::new(&extracted).arg("--version").output().unwrap(),
    );
    assert_eq!(v.trim(), format!("zkha {}", env!("CARGO_PKG_VERSION")));
    let copyright = std::fs::read_to_string(root.join("usr/share/doc/zkha/copyright")).unwrap();
    assert!(copyright.contains("License: Apache-2.0"), "{copyright}");
    let changelog = ok(
        "zcat changelog.Debian.gz",
        Command::new("gzip")
            .arg("-dc")
            .arg(root.join("usr/share/doc/zkha/changelog.Debian.gz"))
            .output()
            .unwrap(),
    );
    assert!(
        changelog.starts_with(&format!("zkha ({version}) ")),
        "{changelog}"
    );
    let unit =
        std::fs::read_to_string(root.join("usr/share/doc/zkha/examples/zkha.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/zkha run"),
        "the example unit runs the packaged binary:\n{unit}"
    );
    // The template unit: each instance's file, the packaged binary.
    let template = std::fs::read_to_string(root.join("lib/systemd/system/zkha@.service")).unwrap();
    assert!(
        template.contains("\nExecStart=/usr/bin/zkha run --config /etc/zkha/%i.toml\n"),
        "zkha@.service:\n{template}"
    );
    let page = ok(
        "gzip -dc zkha-run.1.gz",
        Command::new("gzip")
            .arg("-dc")
            .arg(root.join("usr/share/man/man1/zkha-run.1.gz"))
            .output()
            .unwrap(),
    );
    assert!(page.contains(".TH zkha-run 1 "), "zkha-run.1.gz");

    // Installed by dpkg into a scratch root (its own database; the
    // dependencies are the host's, not the scratch root's).
    let installed = d.join("root");
    std::fs::create_dir_all(installed.join("var/lib/dpkg")).unwrap();
    ok(
        "dpkg --root -i",
        Command::new("dpkg")
            .arg(format!("--root={}", installed.display()))
            .args([
                "--force-not-root",
                "--force-depends",
                "--log=/dev/null",
                "-i",
            ])
            .arg(&deb)
            .output()
            .unwrap(),
    );
    let status = ok(
        "dpkg --root -s zkha",
        Command::new("dpkg")
            .arg(format!("--root={}", installed.display()))
            .args(["-s", "zkha"])
            .output()
            .unwrap(),
    );
    assert!(
        status.contains("Status: install ok installed"),
        "dpkg -s zkha:\n{status}"
    );
    let v = ok(
        "installed zkha --version",
        Command::new(installed.join("usr/bin/zkha"))
            .arg("--version")
            .output()
            .unwrap(),
    );
    assert_eq!(v.trim(), format!("zkha {}", env!("CARGO_PKG_VERSION")));
    let _ = std::fs::remove_dir_all(&d);
}
