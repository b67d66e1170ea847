//! Checks of the election's flags, in the unit the user typed (ms) and
//! naming the flag, before the library checks the configuration they make
//! (whose errors speak of fields, not flags).

use super::candidate::ElectionArgs;
use zkha::elector::ElectorConfig;
use zkha::error::Argument;

/// A timeout flag in ms that must be 1 to `i32::MAX` (a C `int`).
fn check_ms(flag: &str, ms: u64) -> Result<(), zkha::Error> {
    if ms == 0 || ms > i32::MAX as u64 {
        return Err(zkha::Error::InvalidArgument {
            argument: Argument::Timeout,
            reason: format!("{flag} {ms}: must be 1 to {} (ms)", i32::MAX),
        });
    }
    Ok(())
}

/// The flags first, then the configuration.
pub fn validate(args: &ElectionArgs, config: &ElectorConfig) -> Result<(), zkha::Error> {
    check_ms("--session-timeout", args.session_timeout)?;
    check_ms("--poll-interval", args.poll_interval)?;
    config.validate()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_flag_in_ms() {
        let e = super::check_ms("--session-timeout", 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--session-timeout 0: must be 1 to 2147483647 (ms)"),
            "{e}"
        );
        assert!(!e.contains("ns"), "{e}");
        assert!(super::check_ms("--poll-interval", 1).is_ok());
        assert!(super::check_ms("--poll-interval", 1 << 31).is_err());
    }
}
