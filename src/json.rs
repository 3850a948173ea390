//! Borrowed JSON building blocks for the hot path.
//!
//! Records are parsed into [`RawMap`]s: the members of one JSON object in input order, each value
//! kept as its raw text ([`Raw`]), so user objects pass through untouched and nothing builds a
//! `serde_json::Value` tree. This module also owns the two writers every output line uses:
//! [`write_compact`] (copy raw JSON without insignificant whitespace) and [`write_str`] (a JSON
//! string literal).

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A string that borrows from the input when it holds no escapes.
pub struct Str<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The text of one valid JSON value, borrowed from the input: what a member's value is kept as
/// until the mapping needs it. Only a parser makes one (serde_json's `RawValue` deserializer or
/// [`crate::jsonscan`]), so the text is always valid JSON without surrounding whitespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a>(&'a str);

impl<'a> Raw<'a> {
    /// The value's JSON text.
    pub fn get(self) -> &'a str {
        self.0
    }

    /// Wraps text the caller has checked to be one valid JSON value.
    pub(crate) fn trusted(text: &'a str) -> Raw<'a> {
        Raw(text)
    }
}

impl<'de> Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(d).map(|r| Raw(r.get()))
    }
}

/// The kind of a JSON value, read from the first byte of its raw text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl Kind {
    pub fn of(raw: Raw) -> Kind {
        Kind::of_text(raw.get())
    }

    /// The kind of valid JSON text.
    pub fn of_text(text: &str) -> Kind {
        match text.as_bytes().first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => Kind::Number,
        }
    }

    /// The name used in messages: "got a string".
    pub fn article_name(self) -> &'static str {
        match self {
            Kind::Object => "an object",
            Kind::Array => "an array",
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Bool => "a boolean",
            Kind::Null => "null",
        }
    }
}

/// The members of one JSON object, in input order, values as raw text.
#[derive(Default)]
pub struct RawMap<'a> {
    pub entries: Vec<(Cow<'a, str>, Raw<'a>)>,
}

impl<'a> RawMap<'a> {
    /// Parses the text of a JSON object: with [`crate::jsonscan`] when it can, else (and for
    /// the error message) with serde_json.
    pub fn parse(text: &'a str) -> serde_json::Result<RawMap<'a>> {
        crate::jsonscan::object(text).map_or_else(|| serde_json::from_str(text), Ok)
    }

    /// The value of `key`, `null` counting as absent. With duplicate keys the last one wins,
    /// as in most JSON decoders the Track API's clients use.
    pub fn get(&self, key: &str) -> Option<Raw<'a>> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
            .filter(|v| Kind::of(*v) != Kind::Null)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'de> Deserialize<'de> for RawMap<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawMap<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((k, v)) = map.next_entry::<Str<'de>, Raw<'de>>()? {
                    entries.push((k.0, v));
                }
                Ok(RawMap { entries })
            }
        }
        d.deserialize_map(V)
    }
}

/// A value parsed in place rather than kept raw: an object's members, or a string's text (an
/// HTTP call's `body` is either).
pub enum Nested<'a> {
    Map(RawMap<'a>),
    Text(Cow<'a, str>),
    /// Any other value: only its kind is kept (for the message).
    Other(Kind),
}

impl<'de> Deserialize<'de> for Nested<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Nested<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Nested::Map)
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Nested::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Nested::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Nested::Text(Cow::Owned(v)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Nested::Other(Kind::Array))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Nested::Other(Kind::Bool))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Nested::Other(Kind::Number))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Nested::Other(Kind::Number))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Nested::Other(Kind::Number))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Nested::Other(Kind::Null))
            }
        }
        d.deserialize_any(V)
    }
}

/// A top-level record: its members as raw values, except `body`, which is parsed in the same
/// pass (it is most of a logged HTTP call, and would otherwise be scanned twice).
#[derive(Default)]
pub struct Record<'a> {
    pub map: RawMap<'a>,
    pub body: Option<Nested<'a>>,
    /// Where the (last) `body` value lies in the record's text, when the scanner parsed it.
    pub body_span: Option<(usize, usize)>,
}

impl<'a> Record<'a> {
    /// Parses a record: with [`crate::jsonscan`] when it can, else (and for the error message)
    /// with serde_json.
    pub fn parse(text: &'a str) -> serde_json::Result<Record<'a>> {
        crate::jsonscan::record(text).map_or_else(|| serde_json::from_str(text), Ok)
    }
}

impl<'de> Deserialize<'de> for Record<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Record<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut rec = Record::default();
                rec.map.entries.reserve(map.size_hint().unwrap_or(8));
                while let Some(k) = map.next_key::<Str<'de>>()? {
                    if k.0 == "body" {
                        rec.body = Some(map.next_value::<Nested<'de>>()?);
                    } else {
                        rec.map.entries.push((k.0, map.next_value::<Raw<'de>>()?));
                    }
                }
                Ok(rec)
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses the text of one JSON value: with [`crate::jsonscan`] when it can, else (and for the
/// error message) with serde_json.
pub fn parse_raw(text: &str) -> serde_json::Result<Raw<'_>> {
    crate::jsonscan::value(text).map_or_else(|| serde_json::from_str(text), Ok)
}

/// Parses the text of a JSON array into its elements, like [`parse_raw`].
pub fn parse_array(text: &str) -> serde_json::Result<Vec<Raw<'_>>> {
    crate::jsonscan::array(text).map_or_else(|| serde_json::from_str(text), Ok)
}

/// The text of a string literal that holds no escapes (it reads as itself), else `None`.
pub fn plain_str(raw: Raw<'_>) -> Option<&str> {
    let inner = raw.get().strip_prefix('"')?.strip_suffix('"')?;
    memchr::memchr(b'\\', inner.as_bytes())
        .is_none()
        .then_some(inner)
}

/// Decodes a raw JSON string literal (borrowing when it has no escapes).
pub fn decode_str(raw: Raw<'_>) -> Cow<'_, str> {
    if let Some(plain) = plain_str(raw) {
        return Cow::Borrowed(plain);
    }
    match serde_json::from_str::<Str>(raw.get()) {
        Ok(s) => s.0,
        // The raw text came from a successful parse, so it is a valid literal.
        Err(_) => Cow::Borrowed(""),
    }
}

pub use crate::compact::write_compact;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Does this 8-byte word hold a `"`, a `\` or a control character? (SWAR: the classic
/// "has a zero byte" / "has a byte below n" tests.)
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    (zero(w ^ (ONES * b'"' as u64)) | zero(w ^ (ONES * b'\\' as u64)) | below_space) != 0
}

/// Writes `s` as a JSON string literal (only `"`, `\` and control characters are escaped).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    // Fast path: copy whole 8-byte words that need no escaping.
    let mut clean = 0;
    while clean + 8 <= b.len() {
        let w = u64::from_le_bytes(b[clean..clean + 8].try_into().expect("8 bytes"));
        if word_needs_escape(w) {
            break;
        }
        clean += 8;
    }
    out.extend_from_slice(&b[..clean]);
    let b = &b[clean..];
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&b[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// The byte offset of the first `\u` escape in `text` that is half of a surrogate pair
/// without its other half (`"\ud800"`), which strict JSON parsers downstream refuse. `text`
/// is JSON (backslashes appear only inside strings).
pub fn lone_surrogate(text: &[u8]) -> Option<usize> {
    let hex = |at: usize| -> Option<u16> {
        let digits = std::str::from_utf8(text.get(at..at + 4)?).ok()?;
        u16::from_str_radix(digits, 16).ok()
    };
    let mut i = 0;
    while let Some(p) = text.get(i..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let at = i + p;
        if text.get(at + 1) != Some(&b'u') {
            i = at + 2;
            continue;
        }
        let unit = hex(at + 2)?;
        i = at + 6;
        match unit {
            0xD800..=0xDBFF => {
                let low = (text.get(at + 6..at + 8) == Some(b"\\u"))
                    .then(|| hex(at + 8))
                    .flatten();
                if !matches!(low, Some(0xDC00..=0xDFFF)) {
                    return Some(at);
                }
                i = at + 12;
            }
            0xDC00..=0xDFFF => return Some(at),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_are_found_and_pairs_are_not() {
        assert_eq!(lone_surrogate(br#""\ud800""#), Some(1));
        assert_eq!(lone_surrogate(br#""a\udfff""#), Some(2));
        assert_eq!(lone_surrogate(br#""\ud83d\ude00""#), None);
        assert_eq!(
            lone_surrogate(br#""\\ud800""#),
            None,
            "an escaped backslash"
        );
        assert_eq!(lone_surrogate(br#""\ud83d\u0041""#), Some(1));
        assert_eq!(lone_surrogate(b"\\"), None, "ends in an escape");
        assert_eq!(lone_surrogate(b"\\u12"), None, "a cut-short escape");
    }

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

    #[test]
    fn raw_map_keeps_order_and_treats_null_as_absent() {
        let m = RawMap::parse(r#"{"b":1,"a\u0041":"x","n":null,"b":2}"#).unwrap();
        let keys: Vec<&str> = m.entries.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "aA", "n", "b"]);
        assert_eq!(m.get("b").unwrap().get(), "2");
        assert!(m.get("n").is_none());
        assert_eq!(decode_str(m.get("aA").unwrap()), "x");
    }

    #[test]
    fn decode_str_borrows_plain_literals_and_decodes_escapes() {
        for lit in [
            "\"\"",
            r#""plain é""#,
            r#""a\"b""#,
            r#""\u00e9\n""#,
            r#""\\""#,
        ] {
            let raw: Raw = serde_json::from_str(lit).unwrap();
            let want: String = serde_json::from_str(lit).unwrap();
            assert_eq!(decode_str(raw), want, "{lit}");
            assert_eq!(
                matches!(decode_str(raw), Cow::Borrowed(_)),
                !lit.contains('\\'),
                "{lit}"
            );
        }
        // Not a string, or a lone surrogate: nothing.
        for lit in ["12", r#""\ud800""#] {
            assert_eq!(decode_str(serde_json::from_str(lit).unwrap()), "", "{lit}");
        }
    }
}
