//! Copying valid JSON text without the whitespace between its tokens, 64 bytes at a time.
//!
//! User objects pass through the converter as raw text and only lose their insignificant
//! whitespace, so this copy runs over most output bytes. Each 64-byte block is turned into three
//! bit masks (quotes, backslashes, bytes at or below 0x20); quotes escaped by a backslash are
//! dropped, a prefix XOR of the other quotes marks the bytes inside strings, and only the
//! whitespace outside strings is cut. The state carried from block to block is two bits: inside a
//! string or not, and whether the block ended with a backslash that escapes the next byte.
//!
//! The input must be valid JSON (a `RawValue` always is): then a byte at or below 0x20 outside a
//! string is whitespace, and no string holds one unescaped except the space itself.

/// Appends `raw` (valid JSON) to `out` without the whitespace between tokens.
pub fn write_compact(out: &mut Vec<u8>, raw: &str) {
    let b = raw.as_bytes();
    out.reserve(b.len());
    // First byte not copied yet.
    let mut start = 0;
    // All ones when the previous block ended inside a string.
    let mut inside = 0u64;
    // 1 when the previous block ended with a backslash escaping the next block's first byte.
    let mut carry = 0u64;
    let mut at = 0;
    while at < b.len() {
        let m = match b.get(at..at + 64) {
            Some(block) => masks(block.try_into().expect("64 bytes")),
            None => {
                // The tail, padded with a byte that is no quote, backslash or whitespace.
                let mut block = [b'0'; 64];
                block[..b.len() - at].copy_from_slice(&b[at..]);
                masks(&block)
            }
        };
        let quotes = m.quote & !escaped(m.backslash, &mut carry);
        let in_string = prefix_xor(quotes) ^ inside;
        inside = ((in_string as i64) >> 63) as u64;
        let mut cut = m.space & !in_string;
        while cut != 0 {
            let j = at + cut.trailing_zeros() as usize;
            out.extend_from_slice(&b[start..j]);
            start = j + 1;
            cut &= cut - 1;
        }
        at += 64;
    }
    out.extend_from_slice(&b[start..]);
}

/// Bit `i` of each mask describes byte `i` of a block.
struct Masks {
    quote: u64,
    backslash: u64,
    /// Bytes at or below 0x20.
    space: u64,
}

#[cfg(target_arch = "x86_64")]
fn masks(block: &[u8; 64]) -> Masks {
    // SSE2 is part of the x86-64 baseline, so no runtime detection is needed.
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let mut m = Masks {
        quote: 0,
        backslash: 0,
        space: 0,
    };
    for k in 0..4 {
        // SAFETY: SSE2 is enabled on every x86-64 target; `block` holds 64 bytes, so the 16 read
        // at `16 * k` are in bounds, and `_mm_loadu_si128` has no alignment requirement.
        let (q, bs, sp) = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast());
            (
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8))),
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8))),
                _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x20)), v)),
            )
        };
        let bits = |x: i32| u64::from(x as u16) << (16 * k);
        m.quote |= bits(q);
        m.backslash |= bits(bs);
        m.space |= bits(sp);
    }
    m
}

#[cfg(not(target_arch = "x86_64"))]
use masks_scalar as masks;

/// The portable form of `masks` (and the reference its SSE2 form is tested against).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn masks_scalar(block: &[u8; 64]) -> Masks {
    let mut m = Masks {
        quote: 0,
        backslash: 0,
        space: 0,
    };
    for (i, &c) in block.iter().enumerate() {
        m.quote |= u64::from(c == b'"') << i;
        m.backslash |= u64::from(c == b'\\') << i;
        m.space |= u64::from(c <= 0x20) << i;
    }
    m
}

/// The bytes escaped by a backslash, given a block's backslashes and the carry from the block
/// before (updated for the next one).
fn escaped(backslash: u64, carry: &mut u64) -> u64 {
    let mut esc = *carry;
    *carry = 0;
    let mut rest = backslash;
    while rest != 0 {
        let p = rest.trailing_zeros();
        rest &= rest - 1;
        if esc >> p & 1 == 1 {
            // This backslash is itself escaped.
            continue;
        }
        if p == 63 {
            *carry = 1;
        } else {
            esc |= 1 << (p + 1);
        }
    }
    esc
}

/// Bit `i` of the result is the XOR of bits `0..=i` of `x`: set from an opening quote up to,
/// not including, its closing quote.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn compact(s: &str) -> String {
        let mut v = Vec::new();
        write_compact(&mut v, s);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn drops_whitespace_outside_strings_only() {
        assert_eq!(
            compact(r#"{ "a" : [1, 2],"b":"x y\" z" }"#),
            r#"{"a":[1,2],"b":"x y\" z"}"#
        );
        assert_eq!(compact("{\r\n\t\"k\\\\\": 1.50 }"), "{\"k\\\\\":1.50}");
        assert_eq!(compact(r#"{"a":"b"}"#), r#"{"a":"b"}"#);
        assert_eq!(compact(""), "");
        assert_eq!(compact(" 1 "), "1");
    }

    #[test]
    fn block_edges() {
        // Escapes, quotes and whitespace on each side of the 64-byte boundaries.
        for pad in 0..140 {
            for tail in [r#"\"" , 1"#, r#"\\" , 1"#, r#"\\\"" , 1"#, r#"\\\\", 1"#] {
                let text = format!("[\"{}{tail} ]", "x".repeat(pad));
                let want = serde_json::to_string(
                    &serde_json::from_str::<serde_json::Value>(&text).unwrap(),
                )
                .unwrap();
                assert_eq!(compact(&text), want, "{text}");
            }
        }
    }

    fn value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a \\\\\"\t\n\r/\u{1}é😀{}\\[\\]:,]{0,80}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec(("[a \\\\\"k:]{0,12}", inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn masks_match_the_portable_form(block in prop::array::uniform32(any::<u8>()), shift in 0u8..4) {
            let mut b = [0u8; 64];
            b[..32].copy_from_slice(&block);
            b[32..].copy_from_slice(&block.map(|c| c.wrapping_add(shift)));
            let (a, s) = (masks(&b), masks_scalar(&b));
            prop_assert_eq!((a.quote, a.backslash, a.space), (s.quote, s.backslash, s.space));
        }

        /// Pretty-printed JSON compacts to exactly what serde_json writes compactly.
        #[test]
        fn matches_serde_json(v in value()) {
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            prop_assert_eq!(compact(&pretty), serde_json::to_string(&v).unwrap());
        }
    }
}
