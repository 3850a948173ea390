//! The borrowed JSON types every stage shares: [`Raw`] (the text of one valid value),
//! [`RawMap`] (an object's members in input order, values kept raw), [`Nested`] and [`Record`]
//! (a record whose `body` is opened in the same pass), [`Kind`], and the one decoder of string
//! literals, [`decode_str`]. Parsing them is [`super::parse`]'s job; this module only defines
//! them and how serde_json fills them.

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
/// `super::scan`), so the text is always valid JSON without surrounding whitespace.
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
    /// `{...}`
    Object,
    /// `[...]`
    Array,
    /// A string literal.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// `null`.
    Null,
}

impl Kind {
    /// The kind of a raw value.
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
    /// Each member's decoded key and raw value, in input order, duplicates kept.
    pub entries: Vec<(Cow<'a, str>, Raw<'a>)>,
}

impl<'a> RawMap<'a> {
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

    /// True when `key` has a value other than `null` (see [`RawMap::get`]).
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// True for an object with no members.
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
    /// An object's members.
    Map(RawMap<'a>),
    /// A string's decoded text.
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
    /// Every member except `body`, in input order.
    pub map: RawMap<'a>,
    /// The `body` member, parsed in place (the last one, if repeated); None when there is none.
    pub body: Option<Nested<'a>>,
    /// Where the (last) `body` value lies in the record's text, when the scanner parsed it.
    pub body_span: Option<(usize, usize)>,
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

/// The text of a string literal that holds no escapes (it reads as itself), else `None`.
pub fn plain_str(raw: Raw<'_>) -> Option<&str> {
    let inner = raw.get().strip_prefix('"')?.strip_suffix('"')?;
    memchr::memchr(b'\\', inner.as_bytes())
        .is_none()
        .then_some(inner)
}

/// Decodes a raw JSON string literal, borrowing when it has no escapes: the one string decoder
/// of the converter. It fails when `raw` is not a string, or is a literal that holds no valid
/// Unicode text (a lone surrogate escape such as `"\ud800"`); callers decide what that means
/// (a field's `invalid_field`, or "not one of the known names").
pub fn decode_str(raw: Raw<'_>) -> serde_json::Result<Cow<'_, str>> {
    if let Some(plain) = plain_str(raw) {
        return Ok(Cow::Borrowed(plain));
    }
    serde_json::from_str::<Str>(raw.get()).map(|s| s.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_map_keeps_order_and_treats_null_as_absent() {
        let m = RawMap::parse(r#"{"b":1,"a\u0041":"x","n":null,"b":2}"#).unwrap();
        let keys: Vec<&str> = m.entries.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "aA", "n", "b"]);
        assert_eq!(m.get("b").unwrap().get(), "2");
        assert!(m.get("n").is_none());
        assert_eq!(decode_str(m.get("aA").unwrap()).unwrap(), "x");
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
            assert_eq!(decode_str(raw).unwrap(), want, "{lit}");
            assert_eq!(
                matches!(decode_str(raw), Ok(Cow::Borrowed(_))),
                !lit.contains('\\'),
                "{lit}"
            );
        }
        // Not a string, or a lone surrogate: an error.
        for lit in ["12", r#""\ud800""#] {
            assert!(
                decode_str(serde_json::from_str(lit).unwrap()).is_err(),
                "{lit}"
            );
        }
    }
}
