//! Identifiers: random ones (topic ids, the cluster id), and Kafka's textual form of a UUID.
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

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Kafka's textual form of a UUID: URL-safe base64 without padding (22 characters).
pub fn uuid_base64(id: Uuid) -> String {
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

/// The UUID of its textual form, as [`uuid_base64`] writes it: Kafka writes no other (its
/// reader would also take padding, or stray bits in the last character).
pub fn uuid_from_base64(text: &str) -> Option<Uuid> {
    if text.len() != 22 {
        return None;
    }
    let (first, last) = text.as_bytes().split_at(21);
    let sextet = |c: &u8| ALPHABET.iter().position(|a| a == c).map(|s| s as u128);
    let bits = first.iter().try_fold(0u128, |bits, c| Some(bits << 6 | sextet(c)?))?;
    // 22 sextets hold 132 bits: the last one's low 4 bits are padding, zero.
    let last = sextet(&last[0])?;
    (last & 0xf == 0).then(|| Uuid::from_u128(bits << 2 | last >> 4))
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

    #[test]
    fn base64_reads_back() {
        for id in [Uuid::NIL, Uuid::from_u128(1), Uuid::from_u128(u128::MAX), random_uuid()] {
            assert_eq!(uuid_from_base64(&uuid_base64(id)), Some(id));
        }
        assert_eq!(
            uuid_from_base64("iYe6AvyfRWKxIsIg8MO_2g"),
            Some(Uuid::from_u128(0x8987ba02fc9f4562b122c220f0c3bfda))
        );
        for bad in [
            "",
            "AAAAAAAAAAAAAAAAAAAAAQ==",
            "AAAAAAAAAAAAAAAAAAAAAB",
            "AAAAAAAAAAAAAAAAAAAA+A",
            "AAAA",
        ] {
            assert_eq!(uuid_from_base64(bad), None, "{bad}");
        }
    }
}
