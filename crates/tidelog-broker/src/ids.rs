//! Random identifiers: topic ids, the cluster id.
//!
//! std's `RandomState` is seeded from the OS per instance, which is random enough for ids
//! that only need to be unique, and saves a dependency.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use tidelog_protocol::Uuid;

fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.finish()
}

/// A random, non-nil UUID (Kafka reserves the nil and "one" UUIDs).
pub fn random_uuid() -> Uuid {
    loop {
        let id = Uuid::from_u128(u128::from(random_u64()) << 64 | u128::from(random_u64()));
        if id.as_u128() > 1 {
            return id;
        }
    }
}

/// Kafka's textual form of a UUID: URL-safe base64 without padding (22 characters).
pub fn uuid_base64(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits = id.as_u128();
    (0..22)
        .map(|i| {
            // 22 sextets cover 132 bits; the last one holds the lowest 2 bits shifted up.
            let shift = 128i32 - 6 * (i + 1);
            let sextet = if shift >= 0 {
                (bits >> shift) & 0x3f
            } else {
                (bits << -shift) & 0x3f
            };
            ALPHABET[sextet as usize] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_kafka_form() {
        assert_eq!(uuid_base64(Uuid::NIL), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(uuid_base64(Uuid::from_u128(u128::MAX)), "_____________________w");
        assert_ne!(random_uuid(), random_uuid());
    }
}
