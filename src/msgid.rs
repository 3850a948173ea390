//! messageIds: recognising a ULID the input carries, and deriving a stable ULID for every other
//! call from the record's bytes, so a replayed archive yields the same ids.

use xxhash_rust::xxh3::Xxh3;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A ULID in its canonical text form: 26 Crockford base32 characters (either case), the first
/// at most `7` so the value fits 128 bits.
pub fn is_ulid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 26 && b[0] <= b'7' && b.iter().all(|&c| IS_ULID_CHAR[c as usize])
}

/// Which bytes are ULID characters (the alphabet, in either case).
const IS_ULID_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        t[ALPHABET[i] as usize] = true;
        t[ALPHABET[i].to_ascii_lowercase() as usize] = true;
        i += 1;
    }
    t
};

/// The ULID of a call: 48-bit time `ms`, then the low 80 bits of `random`.
pub fn compose(ms: i64, random: u128) -> [u8; 26] {
    let mut out = [0u8; 26];
    let random = random & ((1u128 << 80) - 1);
    ulid::Ulid::from_parts(ms as u64, random).array_to_str(&mut out);
    out
}

/// The derived messageId of call `index` of a record whose bytes were fed to `record`:
/// xxh3-128 over the record's bytes followed by `index` as 8 little-endian bytes.
pub fn derived(record: &Xxh3, index: u32, ms: i64) -> [u8; 26] {
    let mut h = record.clone();
    h.update(&u64::from(index).to_le_bytes());
    compose(ms, h.digest128())
}

/// A fresh random ULID with time `ms` (for `--message-ids random`).
pub fn random(ms: i64) -> [u8; 26] {
    compose(ms, ulid::Ulid::generate().random())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn composes_time_and_random_bits() {
        let id = compose(1_700_000_000_123, u128::MAX);
        let parsed = ulid::Ulid::from_string(std::str::from_utf8(&id).unwrap()).unwrap();
        assert_eq!(parsed.timestamp_ms(), 1_700_000_000_123);
        assert_eq!(parsed.random(), (1u128 << 80) - 1);
        assert!(is_ulid(std::str::from_utf8(&id).unwrap()));
    }

    #[test]
    fn recognises_ulids() {
        assert!(is_ulid("01HZX3P8M0QK2V7S9T4W6Y1A2B"));
        assert!(is_ulid("01hzx3p8m0qk2v7s9t4w6y1a2b"));
        assert!(!is_ulid("81HZX3P8M0QK2V7S9T4W6Y1A2B"), "overflows 128 bits");
        assert!(!is_ulid("01HZX3P8M0QK2V7S9T4W6Y1A2"), "too short");
        assert!(
            !is_ulid("01HZX3P8M0QK2V7S9T4W6Y1A2U"),
            "U is not in the alphabet"
        );
        assert!(!is_ulid("evt-123"));
    }

    proptest! {
        #[test]
        fn same_record_same_ids(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                index in 0u32..50, ms in 0i64..(1 << 48)) {
            let mut a = Xxh3::new();
            a.update(&bytes);
            let mut b = Xxh3::new();
            b.update(&bytes);
            let id = derived(&a, index, ms);
            prop_assert_eq!(id, derived(&b, index, ms));
            prop_assert_ne!(id, derived(&a, index + 1, ms));
            let parsed = ulid::Ulid::from_string(std::str::from_utf8(&id).unwrap()).unwrap();
            prop_assert_eq!(parsed.timestamp_ms(), ms as u64);
        }
    }
}
