//! Save a session's client id, then reattach to the live session from
//! another process (as after a crash and quick restart).
//!
//! ```text
//! keep_the_session_across_restarts --hosts H --save FILE
//! keep_the_session_across_restarts --hosts H --resume FILE
//! ```
//! `--save` creates the ephemeral `/zkha-resume` (data: this host's IP +
//! NUL), writes the client id to FILE and exits WITHOUT closing; `--resume`
//! reattaches with that id, prints the session id, checks the node is still
//! owned by it, then closes. A server that outlives both processes is
//! needed, so `--hosts` is required.
//! `--path P` uses another node; `--timeout MS` sets the session timeout
//! (default 10000). The id file holds a secret (the session password).

use std::process::ExitCode;
use std::time::Duration;
use zkha::{Acl, ClientId, CreateMode, ZooKeeper};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keep_the_session_across_restarts: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let hosts = opt("--hosts").ok_or("--hosts H is required")?;
    let path = opt("--path").unwrap_or_else(|| "/zkha-resume".into());
    let timeout: i64 = opt("--timeout")
        .map(|t| t.parse())
        .transpose()?
        .unwrap_or(10_000);
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Warn);

    if let Some(file) = opt("--save") {
        let zk = ZooKeeper::builder(&hosts)
            .session_timeout_ms(timeout)
            .connect(Duration::from_secs(30))?;
        let data = zkha::net::seed_node_data(&zkha::net::primary_ip());
        zk.create(&path, &data, &Acl::open_unsafe(), CreateMode::Ephemeral)?;
        let id = zk.client_id()?;
        std::fs::write(&file, format!("{id}\n"))?;
        println!(
            "session 0x{:x} saved to {file}; exiting without closing it",
            id.id
        );
        // Like a crash: the process ends, the session lives on until its timeout.
        std::process::exit(0);
    }
    if let Some(file) = opt("--resume") {
        let id: ClientId = std::fs::read_to_string(&file)?.parse()?;
        let zk = ZooKeeper::builder(&hosts)
            .session_timeout_ms(timeout)
            .client_id(id)
            .connect(Duration::from_secs(30))?;
        let now = zk.client_id()?;
        println!("session 0x{:x}", now.id);
        if now.id != id.id {
            return Err(
                format!("got a new session 0x{:x} instead of 0x{:x}", now.id, id.id).into(),
            );
        }
        let (data, stat) = zk.get(&path, false)?;
        if stat.ephemeral_owner != id.id {
            return Err(format!("{path} is owned by 0x{:x}, not us", stat.ephemeral_owner).into());
        }
        println!(
            "{path} still owned by it, data {:?}",
            String::from_utf8_lossy(&data)
        );
        zk.close()?;
        return Ok(());
    }
    Err("give --save FILE or --resume FILE".into())
}
