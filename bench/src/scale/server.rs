//! What the server says about itself (`srvr`, `mntr`, /proc), and this
//! process's file limit.

use super::Error;
use zkha_testing::TestingServer;

/// The server's last zxid (`srvr`): one per committed write transaction,
/// error transactions (a create that failed with NODEEXISTS) included.
pub(super) fn zxid(server: &TestingServer) -> Result<i64, Error> {
    let text = server.four_letter_word("srvr")?;
    text.lines()
        .find_map(|l| l.strip_prefix("Zxid: 0x"))
        .and_then(|h| i64::from_str_radix(h.trim(), 16).ok())
        .ok_or_else(|| "srvr: no Zxid line".into())
}

/// A `mntr` counter.
pub(super) fn mntr(server: &TestingServer, key: &str) -> Result<f64, Error> {
    let text = server.four_letter_word("mntr")?;
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('\t')?;
            (k == key).then(|| v.trim().parse().ok())?
        })
        .ok_or_else(|| format!("mntr: no {key}").into())
}

/// The server JVM's CPU time so far (user + system), in ms.
pub(super) fn server_cpu_ms(pid: u32) -> Result<f64, Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (in parentheses, which may hold spaces):
    // state is field 3, utime 14, stime 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("unreadable /proc/PID/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, Error> {
        Ok(f.get(i - 3).ok_or("short /proc/PID/stat")?.parse::<f64>()?)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(14)? + ticks(15)?) * 1000.0 / hz)
}

/// Lets this process open a descriptor per session, proxy socket and pipe
/// of 2 × 200 candidates: the soft open-file limit goes up to the hard one.
pub(super) fn raise_fd_limit() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}
