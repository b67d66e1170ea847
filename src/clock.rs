//! The two clocks zkha reads: CLOCK_BOOTTIME for the lease (it keeps
//! counting through a suspend, as the server's clock does, so a lease never
//! outlives a sleep of the machine) and CLOCK_MONOTONIC for traces (the
//! clock other processes on the machine, C ones included, can share).

/// `clock` now, in ns.
fn now_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CLOCK_BOOTTIME in ns: the lease's clock.
pub fn boot_ns() -> u64 {
    now_ns(libc::CLOCK_BOOTTIME)
}

/// CLOCK_MONOTONIC in ns: the traces' clock.
pub fn monotonic_ns() -> u64 {
    now_ns(libc::CLOCK_MONOTONIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_clocks_advance_with_a_sleep() {
        let (b, m) = (boot_ns(), monotonic_ns());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (b2, m2) = (boot_ns(), monotonic_ns());
        assert!(b2 - b >= 20_000_000, "boottime moved {} ns", b2 - b);
        assert!(m2 - m >= 20_000_000, "monotonic moved {} ns", m2 - m);
        // Not the wall clock (which counts from 1970).
        assert!(b < 1_000_000_000 * 86_400 * 365 * 20);
    }
}
