//! The fast path of record parsing: a hand-written scanner for one JSON object whose members
//! are kept as raw text (and, for a record, whose `body` is opened in the same pass).
//!
//! It is an accelerator, not the authority. It accepts only text that is valid JSON by the rules
//! serde_json applies when it skips a value into a `RawValue` (RFC 8259 grammar; escapes checked,
//! `\u` needing four hex digits; raw control characters refused; no depth limit inside a raw
//! value), and produces exactly the members serde_json would. Whenever it meets anything it does
//! not handle (an escaped key, a `body` that is neither an object, a string, `null` nor a
//! boolean, nesting deeper than 64, any error at all) it gives up, and [`crate::json`] parses
//! the text again with serde_json, which then gives the result or the error message. So a gap
//! here costs speed, never correctness; the tests and the `json_scan` fuzz target compare the
//! two on valid and broken input.

use super::value::{Kind, Nested, Raw, RawMap, Record, Str};
use crate::simd;
use std::borrow::Cow;

/// Parses the text of a JSON object, or `None` to let serde_json decide.
pub fn object(text: &str) -> Option<RawMap<'_>> {
    let mut s = Scanner::new(text);
    s.ws();
    let map = s.object(false)?.map;
    s.end()?;
    Some(map)
}

/// Parses a record (an object whose `body` member is opened), or `None` to let serde_json
/// decide.
pub fn record(text: &str) -> Option<Record<'_>> {
    let mut s = Scanner::new(text);
    s.ws();
    let record = s.object(true)?;
    s.end()?;
    Some(record)
}

/// Parses one value of any kind (whitespace around it allowed), or `None` to let serde_json
/// decide.
pub fn value(text: &str) -> Option<Raw<'_>> {
    let mut s = Scanner::new(text);
    s.ws();
    let start = s.i;
    s.value()?;
    let end = s.i;
    s.end()?;
    Some(Raw::trusted(&text[start..end]))
}

/// Parses the text of a JSON array into its elements, or `None` to let serde_json decide.
pub fn array(text: &str) -> Option<Vec<Raw<'_>>> {
    let mut s = Scanner::new(text);
    s.ws();
    s.eat(b'[')?;
    let mut items = Vec::new();
    s.ws();
    if s.eat(b']').is_none() {
        loop {
            let start = s.i;
            s.value()?;
            items.push(Raw::trusted(&text[start..s.i]));
            s.ws();
            match s.peek()? {
                b',' => {
                    s.i += 1;
                    s.ws();
                }
                b']' => {
                    s.i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    s.end()?;
    Some(items)
}

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Scanner {
            text,
            b: text.as_bytes(),
            i: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Only whitespace may follow the top-level value.
    fn end(&mut self) -> Option<()> {
        self.ws();
        (self.i == self.b.len()).then_some(())
    }

    /// An object's members (in `map`); with `open_body`, a `body` member is parsed in place
    /// (the last one wins, its place noted) instead of being listed.
    fn object(&mut self, open_body: bool) -> Option<Record<'a>> {
        self.eat(b'{')?;
        let mut rec = Record::default();
        rec.map.entries.reserve(8);
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(rec);
        }
        loop {
            let key = self.key()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let start = self.i;
            if open_body && key == "body" {
                rec.body = Some(self.nested()?);
                rec.body_span = Some((start, self.i));
            } else {
                self.value()?;
                rec.map
                    .entries
                    .push((key, Raw::trusted(&self.text[start..self.i])));
            }
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b'}' => {
                    self.i += 1;
                    return Some(rec);
                }
                _ => return None,
            }
        }
    }

    /// A member name without escapes (escaped names are left to serde_json).
    fn key(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i;
        if self.string()? {
            return None;
        }
        Some(Cow::Borrowed(&self.text[start + 1..self.i - 1]))
    }

    /// A record's `body`: an object's members, a string's text, or the kind of a literal.
    fn nested(&mut self) -> Option<Nested<'a>> {
        match self.peek()? {
            b'{' => Some(Nested::Map(self.object(false)?.map)),
            b'"' => {
                let start = self.i;
                if self.string()? {
                    // Escapes: decoded (and checked for lone surrogates) by serde_json.
                    let lit = &self.text[start..self.i];
                    return serde_json::from_str::<Str>(lit)
                        .ok()
                        .map(|s| Nested::Text(s.0));
                }
                Some(Nested::Text(Cow::Borrowed(
                    &self.text[start + 1..self.i - 1],
                )))
            }
            b'n' | b't' | b'f' => {
                let start = self.i;
                self.value()?;
                Some(Nested::Other(Kind::of_text(&self.text[start..self.i])))
            }
            _ => None,
        }
    }

    /// Skips a string literal starting at the opening quote; true when it holds escapes.
    #[inline(always)]
    fn string(&mut self) -> Option<bool> {
        self.eat(b'"')?;
        let mut escaped = false;
        loop {
            self.skip_plain();
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.i += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            let hex = self.b.get(self.i + 1..self.i + 5)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 5;
                        }
                        _ => return None,
                    }
                }
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
    }

    /// Moves to the next quote, backslash or control character (or the end of the text).
    #[inline(always)]
    fn skip_plain(&mut self) {
        self.i = simd::next_string_stop(self.b, self.i).unwrap_or(self.b.len());
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<()> {
        if self.peek()? == b'-' {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            (self.digits() > 0).then_some(())?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }

    /// Skips one value of any kind (containers iteratively, up to 64 levels deep).
    fn value(&mut self) -> Option<()> {
        // Bit `d` of `objects`: is the container at depth `d + 1` an object?
        let mut objects = 0u64;
        let mut depth = 0u32;
        loop {
            // At the start of a value.
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    if depth == 64 {
                        return None;
                    }
                    self.i += 1;
                    let is_object = open == b'{';
                    objects = objects & !(1 << depth) | u64::from(is_object) << depth;
                    depth += 1;
                    self.ws();
                    if self.eat(if is_object { b'}' } else { b']' }).is_some() {
                        depth -= 1;
                    } else if is_object {
                        self.member_name()?;
                        continue;
                    } else {
                        continue;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b'-' | b'0'..=b'9' => self.number()?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => return None,
            }
            // After a value: close containers until one goes on with a `,`.
            loop {
                if depth == 0 {
                    return Some(());
                }
                self.ws();
                let in_object = objects >> (depth - 1) & 1 == 1;
                match (self.peek()?, in_object) {
                    (b',', _) => {
                        self.i += 1;
                        self.ws();
                        if in_object {
                            self.member_name()?;
                        }
                        break;
                    }
                    (b'}', true) | (b']', false) => {
                        self.i += 1;
                        depth -= 1;
                    }
                    _ => return None,
                }
            }
        }
    }

    /// A member name and its colon, inside a skipped object; leaves the scanner at the value.
    fn member_name(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.string()?;
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(())
    }
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
    use proptest::prelude::*;

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

    /// A map's members as plain strings, to compare.
    fn members(m: &RawMap) -> Vec<(String, String)> {
        m.entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.get().to_owned()))
            .collect()
    }

    fn body(b: &Option<Nested>) -> String {
        match b {
            None => "absent".into(),
            Some(Nested::Map(m)) => format!("map {:?}", members(m)),
            Some(Nested::Text(t)) => format!("text {t:?}"),
            Some(Nested::Other(k)) => format!("other {k:?}"),
        }
    }

    /// What the scanner says must be what serde_json says, whenever the scanner answers.
    fn agree(text: &str) -> (bool, bool) {
        let fast = object(text);
        let slow = serde_json::from_str::<RawMap>(text);
        if let Some(f) = &fast {
            let s = slow
                .as_ref()
                .unwrap_or_else(|e| panic!("scanner accepted {text:?}: {e}"));
            assert_eq!(members(f), members(s), "{text}");
        }
        let fast_rec = record(text);
        let slow_rec = serde_json::from_str::<Record>(text);
        if let Some(f) = &fast_rec {
            let s = slow_rec
                .as_ref()
                .unwrap_or_else(|e| panic!("scanner accepted record {text:?}: {e}"));
            assert_eq!(members(&f.map), members(&s.map), "{text}");
            assert_eq!(body(&f.body), body(&s.body), "{text}");
        }
        if let Some(f) = value(text) {
            let s = serde_json::from_str::<Raw>(text)
                .unwrap_or_else(|e| panic!("scanner accepted value {text:?}: {e}"));
            assert_eq!(f, s, "{text}");
        }
        (fast.is_some(), slow.is_ok())
    }

    /// Arrays: the same contract as objects.
    fn agree_array(text: &str) -> bool {
        let fast = array(text);
        if let Some(f) = &fast {
            let s = serde_json::from_str::<Vec<Raw>>(text)
                .unwrap_or_else(|e| panic!("scanner accepted array {text:?}: {e}"));
            assert_eq!(f, &s, "{text}");
        }
        fast.is_some()
    }

    #[test]
    fn values_and_arrays() {
        for (text, ok) in [
            (" [ ] ", true),
            ("[1, \"a\" ,{\"b\":[2]}, null]", true),
            ("[1,]", false),
            ("[1 2]", false),
            ("[", false),
            ("{}", false),
        ] {
            assert_eq!(agree_array(text), ok, "{text}");
        }
        for (text, ok) in [(" 12 ", true), ("\"x\"", true), ("1 2", false), ("", false)] {
            assert_eq!(value(text).is_some(), ok, "{text}");
            agree(text);
        }
    }

    #[test]
    fn accepts_what_it_should() {
        for text in [
            r#"{}"#,
            r#" { "a" : 1 , "b":[ ], "c":{ }, "d":"x\"y\\u00e9\n", "e":-0.5e+10 } "#,
            r#"{"a":[1,[2,{"b":[true,false,null]}]],"a":"dup"}"#,
            r#"{"body":{"name":"x","data":{"k":[1,2]}},"method":"POST"}"#,
            r#"{"body":"{\"a\":1}","path":"/x"}"#,
            r#"{"body":null,"body":true}"#,
            r#"{"n":0,"m":-0,"f":1.25,"g":1E5,"h":12345678901234567890123}"#,
            r#"{"s":"\ud800 lone surrogates are fine in raw values"}"#,
            "{\"tab\":\t\"v\"\r\n}",
        ] {
            assert_eq!(agree(text), (true, true), "{text}");
        }
    }

    #[test]
    fn rejects_or_defers_what_it_should() {
        for text in [
            "",
            "[]",
            "{",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":-}"#,
            r#"{"a":1e}"#,
            r#"{"a":tru}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12g4"}"#,
            "{\"a\":\"raw\u{1}control\"}",
            r#"{"a":1} x"#,
            r#"{"a":{"b":1]}"#,
            r#"{"a":[1}"#,
            r#"{a:1}"#,
            r#"{"a":1 "b":2}"#,
        ] {
            assert!(!agree(text).0, "the scanner accepted {text:?}");
        }
        // Valid objects, but not valid records: a body string with a lone surrogate, a body
        // number out of range. serde_json decides (and refuses).
        for text in [r#"{"body":"\ud800"}"#, r#"{"body":1e400}"#] {
            assert_eq!(agree(text), (true, true));
            assert!(record(text).is_none());
            assert!(serde_json::from_str::<Record>(text).is_err());
        }
        // Left to serde_json although valid: escaped names, deep nesting.
        assert_eq!(agree(r#"{"\u0061":1}"#), (false, true));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(65), "]".repeat(65));
        assert_eq!(agree(&deep), (false, true));
        let ok = format!("{{\"a\":{}{}}}", "[".repeat(64), "]".repeat(64));
        assert_eq!(agree(&ok), (true, true));
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a \\\\\"\t\u{1}é😀{}\\[\\]:,]{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("(body|[a-z\"]{0,6})", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// JSON texts of objects, compact or pretty, some of them broken by one edit.
    fn texts() -> impl Strategy<Value = (String, bool)> {
        (
            prop::collection::vec(("(body|[a-z\"]{0,6})", json_value()), 0..6),
            any::<bool>(),
            prop::option::of((
                any::<prop::sample::Index>(),
                0u8..3,
                prop::sample::select(b"{}[]:,\"\\ 0-1.eE+tfnu\x01x".to_vec()),
            )),
        )
            .prop_map(|(kv, pretty, edit)| {
                let v = serde_json::Value::Object(kv.into_iter().collect());
                let mut t = if pretty {
                    serde_json::to_string_pretty(&v).unwrap()
                } else {
                    serde_json::to_string(&v).unwrap()
                }
                .into_bytes();
                let edited = edit.is_some();
                if let Some((at, op, c)) = edit {
                    let i = at.index(t.len() + 1);
                    match op {
                        0 => t.insert(i, c),
                        1 if i < t.len() => t[i] = c,
                        _ if i < t.len() => {
                            t.remove(i);
                        }
                        _ => t.push(c),
                    }
                }
                (String::from_utf8_lossy(&t).into_owned(), edited)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// The scanner never accepts what serde_json refuses, gives the same members when it
        /// accepts, and accepts every unedited text (it has no escaped names).
        #[test]
        fn agrees_with_serde_json((text, edited) in texts()) {
            let (fast, slow) = agree(&text);
            agree_array(&format!("[{text},{text}]"));
            if !edited && !text.contains("\\u") && !text.contains('\\') {
                prop_assert!(fast && slow, "{}", text);
            }
        }
    }
}
