//! `zkha completions SHELL` and `zkha man`: a shell's completion script
//! (clap_complete) and the manual pages (clap_mangen, roff), both generated
//! from the clap definitions the binary parses with, so they never drift
//! from the flags. `scripts/deb` installs them in the Debian package.

use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `zkha completions`.
#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `zkha man`.
#[derive(Args)]
pub struct ManArgs {
    /// Print this command's page (zkha-COMMAND(1)) instead of zkha(1).
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Option<String>,
    /// Write every page instead, zkha.1 and zkha-COMMAND.1 for each
    /// command, into DIR (which must exist); prints their paths.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Writes the completion script for `args.shell` to stdout.
pub fn completions(
    args: CompletionsArgs,
    cmd: clap::Command,
) -> Result<u8, Box<dyn std::error::Error>> {
    let mut cmd = visible(cmd);
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "zkha", &mut script);
    write_stdout(&script)?;
    Ok(super::common::exit::OK)
}

/// Writes zkha(1), one command's page, or (`--dir`) every page.
pub fn man(args: ManArgs, cmd: clap::Command) -> Result<u8, Box<dyn std::error::Error>> {
    let cmd = visible(cmd);
    if let Some(dir) = &args.dir {
        let mut written = String::new();
        for path in write_pages(cmd, dir)? {
            written.push_str(&format!("{}\n", path.display()));
        }
        write_stdout(written.as_bytes())?;
        return Ok(super::common::exit::OK);
    }
    let mut cmd = cmd;
    cmd.build();
    let page = match &args.command {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let names: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
                super::stderr::line(&format!(
                    "zkha: man: no command '{name}' (one of: {})",
                    names.join(", ")
                ));
                return Ok(super::common::exit::USAGE);
            }
        },
    };
    write_stdout(&render(page)?)?;
    Ok(super::common::exit::OK)
}

/// zkha.1 and zkha-COMMAND.1 for every command (nested ones too), in `dir`.
fn write_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn walk(cmd: clap::Command, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let path = dir.join(page_of(cmd.clone()).get_filename());
        std::fs::write(&path, render(cmd.clone())?)?;
        out.push(path);
        for sub in cmd.get_subcommands().cloned() {
            walk(sub, dir, out)?;
        }
        Ok(())
    }
    let mut cmd = cmd;
    cmd.build();
    let mut out = Vec::new();
    walk(cmd, dir, &mut out)?;
    Ok(out)
}

/// One page (section 1 of the "zkha manual"; every page's footer names
/// zkha and its version, where clap_mangen's default names the command).
fn page_of(cmd: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd)
        .source(format!("zkha {}", env!("CARGO_PKG_VERSION")))
        .manual("zkha manual")
}

/// The page of `cmd`, as roff. The help's epilogue (examples, exit codes,
/// signals, environment) is laid out by hand and kept as `--help` shows it,
/// in a NOTES section without filling (clap_mangen would refill it into
/// one paragraph). Every character outside ASCII becomes a groff escape
/// (`\[u00D7]`), so the page reads the same under any locale.
fn render(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    use clap_mangen::roff::{roman, Roff};
    let notes = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(|text| text.to_string());
    let cmd = cmd.after_help(None).after_long_help(None);
    let mut page = Vec::new();
    page_of(cmd).render(&mut page)?;
    if let Some(notes) = notes {
        let mut roff = Roff::new();
        roff.control("SH", ["NOTES"]).control("nf", []);
        for line in notes.lines() {
            roff.text([roman(line)]);
        }
        roff.control("fi", []);
        roff.to_writer(&mut page)?;
    }
    let text = String::from_utf8_lossy(&page);
    let mut ascii = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            ascii.push_str(&format!("\\[u{:04X}]", c as u32));
        }
    }
    Ok(ascii.into_bytes())
}

/// The command as an operator sees it: without the hidden commands (the
/// watchdog) and without `help` (each page and script covers --help).
fn visible(cmd: clap::Command) -> clap::Command {
    let hidden: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| s.is_hide_set())
        .map(|s| s.get_name().to_owned())
        .collect();
    let mut kept = cmd.clone().disable_help_subcommand(true);
    // clap cannot remove a subcommand: rebuild the list without the hidden.
    if !hidden.is_empty() {
        let subs: Vec<clap::Command> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .cloned()
            .collect();
        kept = strip_subcommands(kept).subcommands(subs);
    }
    kept
}

/// `cmd` with no subcommands (its own arguments and settings kept).
fn strip_subcommands(cmd: clap::Command) -> clap::Command {
    let mut bare = clap::Command::new(cmd.get_name().to_owned());
    if let Some(v) = cmd.get_version() {
        bare = bare.version(v.to_owned());
    }
    if let Some(a) = cmd.get_about() {
        bare = bare.about(a.clone());
    }
    if let Some(a) = cmd.get_long_about() {
        bare = bare.long_about(a.clone());
    }
    if let Some(a) = cmd.get_after_help() {
        bare = bare.after_help(a.clone());
    }
    if let Some(a) = cmd.get_after_long_help() {
        bare = bare.after_long_help(a.clone());
    }
    for arg in cmd.get_arguments() {
        bare = bare.arg(arg.clone());
    }
    bare.subcommand_required(cmd.is_subcommand_required_set())
        .disable_help_subcommand(true)
}

/// The whole text to stdout. A reader that stopped early (`| head`) is
/// not an error; any other failure is, never a panic.
fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
