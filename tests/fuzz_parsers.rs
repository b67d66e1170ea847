//! Randomised inputs for the parsers that guard the C boundary (path, hosts,
//! client id): they never panic, and what they accept is what C can take.
//! (Coverage-guided fuzzing of the same functions: fuzz/, with cargo-fuzz.)

use zkha::validate::{check_hosts, check_path};
use zkha::ClientId;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn text(&mut self, alphabet: &[char], max: usize) -> String {
        let len = (self.next() % max as u64) as usize;
        (0..len)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
            .collect()
    }
}

const ALPHABET: &[char] = &[
    '/', '/', '/', '.', ':', ',', '[', ']', '0', '1', '9', 'a', 'z', 'h', ' ', '\0', '\u{1}',
    '\u{7f}', 'é', '\u{f000}', '\u{fff0}', '-', 'x',
];

#[test]
fn paths_never_panic_and_accepted_paths_are_clean() {
    let mut rng = Rng(0x5eed_0001);
    for _ in 0..200_000 {
        let p = rng.text(ALPHABET, 24);
        let seq = rng.next().is_multiple_of(2);
        if check_path(&p, seq).is_ok() {
            assert!(
                p.starts_with('/') && !p.contains('\0') && !p.contains("//"),
                "{p:?}"
            );
            assert!(p == "/" || seq || !p.ends_with('/'), "{p:?}");
            assert!(!p.split('/').any(|c| c == "." || c == ".."), "{p:?}");
        }
    }
}

#[test]
fn hosts_never_panic_and_accepted_hosts_have_ports() {
    let mut rng = Rng(0x5eed_0002);
    for _ in 0..200_000 {
        let h = rng.text(ALPHABET, 24);
        if check_hosts(&h).is_ok() {
            let list = h.split('/').next().unwrap();
            assert!(
                list.split(',').all(|e| e
                    .rsplit_once(':')
                    .is_some_and(|(_, p)| p.parse::<u16>().is_ok_and(|p| p > 0))),
                "{h:?}"
            );
            assert!(!h.contains('\0') && !h.contains(' '), "{h:?}");
        }
    }
}

#[test]
fn client_ids_never_panic_and_round_trip() {
    let mut rng = Rng(0x5eed_0003);
    let hex: Vec<char> = "0123456789abcdefABCDEFxX:g ".chars().collect();
    for _ in 0..200_000 {
        let t = rng.text(&hex, 56);
        if let Ok(id) = t.parse::<ClientId>() {
            assert_eq!(id.to_string().parse::<ClientId>().unwrap(), id, "{t:?}");
        }
        let bytes: Vec<u8> = (0..(rng.next() % 30)).map(|_| rng.next() as u8).collect();
        if let Ok(id) = ClientId::from_bytes(&bytes) {
            assert_eq!(id.to_bytes().as_slice(), bytes.as_slice());
        }
    }
    // Valid ids of every shape round-trip through text and bytes.
    for _ in 0..10_000 {
        let id = ClientId {
            id: rng.next() as i64,
            passwd: std::array::from_fn(|_| rng.next() as u8),
        };
        assert_eq!(id.to_string().parse::<ClientId>().unwrap(), id);
        assert_eq!(ClientId::from_bytes(&id.to_bytes()).unwrap(), id);
    }
}
