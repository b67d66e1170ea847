//! The last reason the C client gave for failing to reach a server (the
//! text of `errno=111(Connection refused)` in its socket error lines), so
//! zkha's own "unreachable" line can say why. Process-wide, like the C
//! client's logging: with several handles it is the latest of any of them.

use std::sync::Mutex;

/// `(how many reasons were noted so far, the latest)`.
static LAST: Mutex<(u64, String)> = Mutex::new((0, String::new()));

/// Notes the reason in a C log line (`function@line: message`), if it has one.
pub(crate) fn note(text: &str) {
    if let Some(reason) = reason_in(text) {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        last.0 += 1;
        last.1 = reason;
    }
}

/// How many reasons were noted so far and the latest (`None` before any):
/// a caller keeps the count to tell a new failure from an old one.
pub fn last_unreachable_reason() -> (u64, Option<String>) {
    let last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    (last.0, (last.0 > 0).then(|| last.1.clone()))
}

/// `errno=111(Connection refused)` → `connection refused`; the C client's
/// EOF (errno 112 while receiving, or an `EOF` text) → `the server closed
/// the connection`.
pub(crate) fn reason_in(text: &str) -> Option<String> {
    if !text.contains("Socket") && !text.contains("socket") {
        return None;
    }
    // The C client reports a connection the server closed (EOF on recv)
    // as EHOSTDOWN, which would read as a network fault.
    if text.contains("errno=112(") && text.contains("receiving a server response") {
        return Some("the server closed the connection".into());
    }
    if let Some(i) = text.find("errno=") {
        let rest = &text[i..];
        let (open, close) = (rest.find('(')?, rest.find(')')?);
        if open < close {
            let reason = rest[open + 1..close].trim();
            if !reason.is_empty() && reason != "Success" {
                return Some(reason.to_ascii_lowercase());
            }
        }
    }
    if text.contains("EOF") || text.contains("closed") {
        return Some("the server closed the connection".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::reason_in;

    #[test]
    fn finds_the_errno_text() {
        assert_eq!(
            reason_in("check_events@2985: Socket [127.0.0.1:1] zk retcode=-4, errno=111(Connection refused): server refused to accept the client").as_deref(),
            Some("connection refused")
        );
        assert_eq!(
            reason_in("handle_socket_error_msg@2230: Socket [127.0.0.1:2181] zk retcode=-4, errno=112(Host is down): failed while receiving a server response").as_deref(),
            Some("the server closed the connection")
        );
        assert_eq!(reason_in("zookeeper_interest@2561: Delaying connection after exhaustively trying all servers"), None);
    }
}
