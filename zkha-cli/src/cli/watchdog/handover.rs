//! `--on-crash handover`: when `zkha run` died while master, the watchdog
//! ends its session itself, so a standby takes over at once.

use super::status::Status;
use super::WatchdogArgs;
use std::time::Duration;

/// Ends the dead `zkha run`'s session: attach with its client id and close,
/// so the ephemeral master node goes now instead of after a timeout. Over
/// the run's TLS / SASL settings (the password read only now).
pub(super) fn handover(args: &WatchdogArgs, id: zkha::ClientId, status: &mut Status) {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let timeout = Duration::from_millis(args.session_timeout.max(1));
    let attached = args.secure.security().and_then(|security| {
        zkha::ZooKeeper::builder(&args.hosts)
            // The C client's lines through the non-blocking logger, never
            // a blocking fprintf to stderr.
            .log_to_rust(true)
            .security(security)
            .session_timeout(timeout)
            .client_id(id)
            .init()
            .and_then(|zk| zk.wait_connected(timeout).map(|_| zk))
    });
    match attached {
        Ok(zk) => {
            say_gone(args, &zk, id, status);
            match zk.close() {
                Ok(()) => status.diag(
                    "info",
                    &format!("closed session {:#x}: the master node is released", id.id),
                ),
                Err(e) => status.diag("warn", &format!("closing session {:#x}: {e}", id.id)),
            }
        }
        Err(e) => status.diag(
            "warn",
            &format!(
                "session {:#x} not reattached ({e}); it ends by itself",
                id.id
            ),
        ),
    }
}

/// Safe profile: before the session goes, the breadcrumb this master
/// claimed says that its command and everything it started are gone (not
/// clean: the next master still fences), so the next master need not wait
/// out this master's lease for its word. The path and token are the ones
/// the command was started with (`ZKHA_PATH`, `ZKHA_TOKEN`).
fn say_gone(args: &WatchdogArgs, zk: &zkha::ZooKeeper, id: zkha::ClientId, status: &mut Status) {
    if args.deadline_ns == 0 {
        return;
    }
    let (Ok(path), Some(token)) = (
        std::env::var("ZKHA_PATH"),
        std::env::var("ZKHA_TOKEN")
            .ok()
            .and_then(|t| t.parse::<i64>().ok()),
    ) else {
        return;
    };
    let why = "crashed: zkha run died; its watchdog killed the command and everything it started";
    if let Err(e) = crate::cli::breadcrumb::mark_gone(zk, &path, id.id, token, why) {
        status.diag(
            "warn",
            &format!("cannot say in the breadcrumb that the command is gone ({e})"),
        );
    }
}
