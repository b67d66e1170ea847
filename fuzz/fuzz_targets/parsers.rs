#![no_main]
//! Path, hosts and client-id parsing on arbitrary input: no panic, and
//! accepted client ids round-trip.

use libfuzzer_sys::fuzz_target;
use zkha::validate::{check_hosts, check_path};
use zkha::ClientId;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = check_path(text, false);
        let _ = check_path(text, true);
        let _ = check_hosts(text);
        if let Ok(id) = text.parse::<ClientId>() {
            assert_eq!(id.to_string().parse::<ClientId>().unwrap(), id);
        }
    }
    if let Ok(id) = ClientId::from_bytes(data) {
        assert_eq!(&id.to_bytes()[..], data);
    }
});
