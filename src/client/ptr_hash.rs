//! The hash of the callback registry's keys (`callback::Registry`): the
//! addresses of live, boxed callback contexts.
//!
//! Why not std's default SipHash: its keys here are heap addresses that no
//! peer chooses, so its resistance to crafted keys buys nothing, and it was
//! most of the registry's own cost on every async call (one insert and one
//! removal per call; `perf` on the async-get benchmark, issue 13). One
//! multiplication by an odd constant spreads the 16-byte-aligned addresses
//! (whose low bits are all zero) over the high bits, and the rotation brings
//! them to the low bits, which pick the table's bucket; the top bits, which
//! hashbrown keeps as its tag, come from the middle of the product.

use std::hash::{BuildHasherDefault, Hasher};

/// 2^64 / φ, odd: multiplying by it permutes u64 and mixes low bits upward.
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// A hasher for pointer-sized keys (see the module docs).
#[derive(Default, Clone, Copy)]
pub(crate) struct PtrHasher(u64);

/// The `HashMap` hasher builder of the registry.
pub(crate) type PtrHash = BuildHasherDefault<PtrHasher>;

impl Hasher for PtrHasher {
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }

    /// Bytes, for completeness (a `usize` key goes through `write_usize`).
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(K);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    /// Addresses as the registry sees them: boxes of one size, 16-aligned.
    fn addresses() -> Vec<usize> {
        (0..4096usize).map(|i| 0x7f00_0000_0000 + i * 48).collect()
    }

    #[test]
    fn distinct_addresses_get_distinct_hashes() {
        let h = PtrHash::default();
        let hashes: HashSet<u64> = addresses().iter().map(|a| h.hash_one(a)).collect();
        assert_eq!(hashes.len(), addresses().len());
    }

    /// The low bits pick the bucket: aligned addresses must still fill the
    /// buckets of a table their size (an identity hash would use one in 16).
    #[test]
    fn aligned_addresses_spread_over_the_buckets() {
        let h = PtrHash::default();
        let buckets: HashSet<u64> = addresses().iter().map(|a| h.hash_one(a) & 4095).collect();
        assert!(
            buckets.len() > 4096 / 2,
            "only {} of 4096 buckets used",
            buckets.len()
        );
        // And the top 7 bits (hashbrown's tag) take many values too.
        let tags: HashSet<u64> = addresses().iter().map(|a| h.hash_one(a) >> 57).collect();
        assert!(tags.len() > 64, "only {} of 128 tags used", tags.len());
    }

    #[test]
    fn bytes_hash_differently_by_content() {
        let mut a = PtrHasher::default();
        a.write(b"ab");
        let mut b = PtrHasher::default();
        b.write(b"ba");
        assert_ne!(a.finish(), b.finish());
    }
}
