//! The two writers every output line uses: [`write_str`] (a JSON string literal, also for the
//! results of `--transform`) and
//! [`write_compact`] (valid JSON text copied without the whitespace between its tokens).
//!
//! `write_compact` works 64 bytes at a time. User objects pass through the converter as raw text and only lose their insignificant
//! whitespace, so this copy runs over most output bytes. Each 64-byte block is turned into three
//! bit masks (quotes, backslashes, bytes at or below 0x20); quotes escaped by a backslash are
//! dropped, a prefix XOR of the other quotes marks the bytes inside strings, and only the
//! whitespace outside strings is cut. The state carried from block to block is two bits: inside a
//! string or not, and whether the block ended with a backslash that escapes the next byte.
//!
//! The input must be valid JSON (a [`super::Raw`] always is): then a byte at or below 0x20
//! outside a string is whitespace, and no string holds one unescaped except the space itself.

use crate::simd;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `s` as a JSON string literal (only `"`, `\` and control characters are escaped).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write_str_bytes(out, s.as_bytes());
}

/// [`write_str`] for bytes that may not be UTF-8 (a jq string can hold any): they are written
/// as they are, escaped the same way, and the caller checks the result.
pub fn write_str_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.reserve(b.len() + 2);
    out.push(b'"');
    // First byte not copied yet.
    let mut start = 0;
    while let Some(i) = simd::next_string_stop(b, start) {
        out.extend_from_slice(&b[start..i]);
        let c = b[i];
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            _ => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ],
        };
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

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
        let block = match b.get(at..at + 64) {
            Some(block) => block.try_into().expect("64 bytes"),
            // The tail, padded with a byte that is no quote, backslash or whitespace.
            None => simd::padded(&b[at..], b'0'),
        };
        let quotes = simd::eq(&block, b'"') & !escaped(simd::eq(&block, b'\\'), &mut carry);
        let in_string = simd::prefix_xor(quotes) ^ inside;
        inside = ((in_string as i64) >> 63) as u64;
        let mut cut = simd::at_most(&block, b' ') & !in_string;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strings_escape_like_serde_json() {
        for s in [
            "plain",
            "q\"uote",
            "back\\slash",
            "nl\nx",
            "\u{1}\u{1f}",
            "é😀",
            "",
            "a long clean string, then a quote\" and more clean text after it",
            "sixteen bytes!!!\u{7f}\u{80}\u{1f}",
            "0123456789abcdef\\",
            "clean8!!\t",
        ] {
            let mut v = Vec::new();
            write_str(&mut v, s);
            assert_eq!(
                String::from_utf8(v).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

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
        /// Pretty-printed JSON compacts to exactly what serde_json writes compactly.
        #[test]
        fn matches_serde_json(v in value()) {
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            prop_assert_eq!(compact(&pretty), serde_json::to_string(&v).unwrap());
        }
    }
}
