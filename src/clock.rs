//! The two clocks zkha reads: CLOCK_BOOTTIME for the lease (it keeps
//! counting through a suspend, as the server's clock does, so a lease never
//! outlives a sleep of the machine) and CLOCK_MONOTONIC for traces (the
//! clock other processes on the machine, C ones included, can share).
//!
//! A lease's end is one type from the renewal that proves it to the
//! watchdog that enforces it: [`BootInstant`], ns on CLOCK_BOOTTIME, which
//! other processes on the machine read the same way (its
//! [`as_nanos`](BootInstant::as_nanos) is what `zkha run` writes on its
//! watchdog's pipe). A leaf: it uses no other zkha module.

use std::ops::Add;
use std::time::Duration;

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

/// CLOCK_MONOTONIC in ns: the traces' clock.
fn monotonic_ns() -> u64 {
    now_ns(libc::CLOCK_MONOTONIC)
}

/// Milliseconds on CLOCK_MONOTONIC (the clock C++'s steady_clock uses): a
/// trace line's `t`, comparable across processes on one machine (the
/// workspace's own crates reach it through `zkha::__private`).
pub(crate) fn monotonic_ms() -> f64 {
    monotonic_ns() as f64 / 1_000_000.0
}

/// An instant on CLOCK_BOOTTIME: like CLOCK_MONOTONIC, but it keeps counting
/// through system suspend, so a lease that ends at one never outlives a
/// suspend. Held as ns since boot, the same number in every process of the
/// machine. `Default` is boot itself (the earliest instant).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BootInstant(u64);

impl BootInstant {
    /// Now.
    pub fn now() -> BootInstant {
        BootInstant(now_ns(libc::CLOCK_BOOTTIME))
    }

    /// The instant `ns` nanoseconds after boot.
    pub const fn from_nanos(ns: u64) -> BootInstant {
        BootInstant(ns)
    }

    /// Nanoseconds since boot.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// How long after `earlier` this instant is; zero if it is not later.
    pub fn saturating_duration_since(self, earlier: BootInstant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The same instant as CLOCK_MONOTONIC ms (a trace's `t`): the two
    /// clocks differ by the time the machine spent suspended.
    pub fn to_monotonic_ms(self) -> f64 {
        let now = BootInstant::now();
        let monotonic = monotonic_ms();
        if self >= now {
            monotonic + self.saturating_duration_since(now).as_secs_f64() * 1000.0
        } else {
            monotonic - now.saturating_duration_since(self).as_secs_f64() * 1000.0
        }
    }
}

/// `d` later (saturating at the end of the clock's range).
impl Add<Duration> for BootInstant {
    type Output = BootInstant;
    fn add(self, d: Duration) -> BootInstant {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        BootInstant(self.0.saturating_add(ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_clocks_advance_with_a_sleep() {
        let (b, m) = (BootInstant::now().as_nanos(), monotonic_ns());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (b2, m2) = (BootInstant::now().as_nanos(), monotonic_ns());
        assert!(b2 - b >= 20_000_000, "boottime moved {} ns", b2 - b);
        assert!(m2 - m >= 20_000_000, "monotonic moved {} ns", m2 - m);
        // Not the wall clock (which counts from 1970).
        assert!(b < 1_000_000_000 * 86_400 * 365 * 20);
        let t1 = monotonic_ms();
        let t2 = monotonic_ms();
        assert!(t2 >= t1 && t1 > 0.0);
    }

    #[test]
    fn boot_instants_add_and_subtract() {
        let a = BootInstant::from_nanos(1_000);
        assert_eq!(a.as_nanos(), 1_000);
        assert_eq!((a + Duration::from_micros(2)).as_nanos(), 3_000);
        assert_eq!(
            (a + Duration::from_secs(u64::MAX)).as_nanos(),
            u64::MAX,
            "saturates"
        );
        let b = a + Duration::from_nanos(500);
        assert_eq!(b.saturating_duration_since(a), Duration::from_nanos(500));
        assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
        assert!(a < b && BootInstant::default() < a);
        let now = BootInstant::now();
        assert!(now > BootInstant::default() && BootInstant::now() >= now);
    }

    #[test]
    fn boottime_runs_with_monotonic() {
        let m = BootInstant::now().to_monotonic_ms();
        assert!((m - monotonic_ms()).abs() < 1000.0);
        // An instant half a second ago stays half a second ago.
        let now = BootInstant::now();
        let earlier = BootInstant::from_nanos(now.as_nanos() - 500_000_000).to_monotonic_ms();
        let ago = monotonic_ms() - earlier;
        assert!((499.0..600.0).contains(&ago), "{ago}");
        // And one to come, to come.
        let ahead = (BootInstant::now() + Duration::from_millis(500)).to_monotonic_ms();
        let left = ahead - monotonic_ms();
        assert!((400.0..=500.0).contains(&left), "{left}");
    }
}
