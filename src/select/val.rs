//! A call's JSON text to a jq value of the jaq crates and back, for `--transform`
//! (docs/transforms.md). jaq-json's own reader and writer give the same values (the tests
//! below hold the reader to it) but cost most of a transform's time: the reader copies every
//! string twice and the writer goes through `std::fmt` for every piece. Here a string without
//! escapes is a slice of the call's text (no copy), and strings are written by the writer of
//! every call ([`crate::json::write_str`]), so that the program `.` gives back the bytes it was
//! given, except where a string spelled a character as an escape the writer does not make
//! (`\u00e9` comes back as `é`, `\/` as `/`: the same JSON). jaq-json would also escape DEL,
//! as `\u007f`.
//!
//! The writer refuses what is not JSON (NaN and infinite numbers, byte strings, object keys
//! that are not strings), which jaq-json would write as text no JSON reader takes.

use crate::json::write_str_bytes;
use bytes::Bytes;
use jaq_json::{Map, Num, Val};
use std::io::Write as _;

/// Reads one JSON value from `text` (whitespace around it allowed).
pub fn read(text: &Bytes) -> Result<Val, String> {
    let mut r = Reader {
        src: text,
        at: 0,
        members: Vec::new(),
    };
    let v = r.value(0)?;
    r.skip_ws();
    if r.at != text.len() {
        return Err(r.error("text after the value"));
    }
    Ok(v)
}

/// Nesting deeper than this is refused, so that the reader's recursion (and jaq's, on the
/// values) stays bounded: such a call is a `transform_error` (docs/transforms.md).
const MAX_DEPTH: usize = 512;

struct Reader<'a> {
    src: &'a Bytes,
    at: usize,
    /// The members of the objects being read, innermost last: each object is built once its
    /// size is known, so its map is never grown.
    members: Vec<(Val, Val)>,
}

impl Reader<'_> {
    fn error(&self, what: &str) -> String {
        format!("byte offset {}: {what}", self.at)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.src.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.src.get(self.at).copied()
    }

    fn literal(&mut self, word: &[u8], v: Val) -> Result<Val, String> {
        if self.src[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(v)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Val, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deep"));
        }
        match self.peek() {
            Some(b'n') => self.literal(b"null", Val::Null),
            Some(b't') => self.literal(b"true", Val::Bool(true)),
            Some(b'f') => self.literal(b"false", Val::Bool(false)),
            Some(b'"') => self.string().map(|s| Val::TStr(Box::new(s))),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error("expected a value")),
        }
    }

    fn number(&mut self) -> Result<Val, String> {
        let start = self.at;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.src.get(self.at) {
            self.at += 1;
        }
        let text = &self.src[start..self.at];
        match jaq_json::read::parse_single_num(text) {
            Some(n) if is_json_number(text) => Ok(Val::Num(n)),
            _ => Err(self.error("not a number")),
        }
    }

    /// A string at the opening quote: a slice of the text when it has no escapes.
    fn string(&mut self) -> Result<Bytes, String> {
        self.at += 1;
        let start = self.at;
        let rest = &self.src[start..];
        let end =
            crate::simd::next_string_stop(rest, 0).ok_or_else(|| self.error("open string"))?;
        match rest[end] {
            b'"' => {
                self.at = start + end + 1;
                Ok(self.src.slice(start..start + end))
            }
            b'\\' => self.escaped_string(start),
            _ => Err(self.error("a control character in a string")),
        }
    }

    /// The slow way, for a string with escapes: decoded with the JSON parser of the mapping.
    fn escaped_string(&mut self, start: usize) -> Result<Bytes, String> {
        let mut i = start;
        loop {
            match self.src.get(i) {
                None => return Err(self.error("open string")),
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        let quoted = std::str::from_utf8(&self.src[start - 1..=i])
            .map_err(|_| self.error("a string that is not UTF-8"))?;
        if crate::json::lone_surrogate(quoted.as_bytes()).is_some() {
            return Err(self.error("a lone surrogate in a string"));
        }
        let text: String = serde_json::from_str(quoted).map_err(|e| self.error(&e.to_string()))?;
        self.at = i + 1;
        Ok(Bytes::from(text.into_bytes()))
    }

    fn array(&mut self, depth: usize) -> Result<Val, String> {
        self.at += 1;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Val::Arr(items.into()));
        }
        loop {
            items.push(self.value(depth + 1)?);
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Val::Arr(items.into()));
                }
                _ => return Err(self.error("expected , or ]")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Val, String> {
        self.at += 1;
        let first = self.members.len();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Val::obj(Map::default()));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a member name"));
            }
            let key = self.string()?;
            let key = Val::TStr(Box::new(known_name(&key).unwrap_or(key)));
            if self.peek() != Some(b':') {
                return Err(self.error("expected :"));
            }
            self.at += 1;
            let value = self.value(depth + 1)?;
            self.members.push((key, value));
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    let mut map = Map::with_capacity_and_hasher(
                        self.members.len() - first,
                        Default::default(),
                    );
                    // A repeated name keeps its first place and its last value, as in jq.
                    map.extend(self.members.drain(first..));
                    return Ok(Val::obj(map));
                }
                _ => return Err(self.error("expected , or }")),
            }
        }
    }
}

/// True when `text` is a number by the JSON grammar: `-`, then `0` or digits not starting
/// with `0`, then an optional fraction and exponent, each with at least one digit. (jaq's own
/// reader also takes `01` and `1.`, which are not JSON.)
fn is_json_number(text: &[u8]) -> bool {
    fn digits(t: &[u8]) -> usize {
        t.iter().take_while(|b| b.is_ascii_digit()).count()
    }
    let mut t = text.strip_prefix(b"-").unwrap_or(text);
    match digits(t) {
        0 => return false,
        n if n > 1 && t[0] == b'0' => return false,
        n => t = &t[n..],
    }
    if let Some(rest) = t.strip_prefix(b".") {
        let n = digits(rest);
        if n == 0 {
            return false;
        }
        t = &rest[n..];
    }
    if let Some(rest) = t.strip_prefix(b"e").or_else(|| t.strip_prefix(b"E")) {
        let rest = rest
            .strip_prefix(b"+")
            .or_else(|| rest.strip_prefix(b"-"))
            .unwrap_or(rest);
        let n = digits(rest);
        if n == 0 {
            return false;
        }
        t = &rest[n..];
    }
    t.is_empty()
}

/// The member names of calls, as static strings: no reference count to keep for them.
fn known_name(name: &[u8]) -> Option<Bytes> {
    const NAMES: [&str; 14] = [
        "type",
        "userId",
        "anonymousId",
        "event",
        "properties",
        "traits",
        "context",
        "integrations",
        "messageId",
        "timestamp",
        "sentAt",
        "name",
        "groupId",
        "previousId",
    ];
    NAMES
        .iter()
        .find(|n| n.as_bytes() == name)
        .map(|n| Bytes::from_static(n.as_bytes()))
}

/// Appends `v` as compact JSON, members in the value's order; a value that is not JSON is an
/// error naming it.
pub fn write(out: &mut Vec<u8>, v: &Val) -> Result<(), &'static str> {
    match v {
        Val::Null => out.extend_from_slice(b"null"),
        Val::Bool(true) => out.extend_from_slice(b"true"),
        Val::Bool(false) => out.extend_from_slice(b"false"),
        Val::Num(Num::Float(x)) if !x.is_finite() => return Err("a NaN or infinite number"),
        Val::Num(n) => write!(out, "{n}").expect("writing to a Vec"),
        Val::BStr(_) => return Err("a byte string"),
        Val::TStr(s) => write_str_bytes(out, s),
        Val::Arr(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write(out, item)?;
            }
            out.push(b']');
        }
        Val::Obj(map) => {
            out.push(b'{');
            for (n, (key, value)) in map.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                let Val::TStr(key) = key else {
                    return Err("an object key that is not a string");
                };
                write_str_bytes(out, key);
                out.push(b':');
                write(out, value)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// jaq-json's bytes for `v`, with DEL as it is rather than as `\u007f`.
    fn jaq_bytes(v: &Val) -> Vec<u8> {
        let mut out = Vec::new();
        jaq_json::write::write(&mut out, &jaq_json::write::Pp::default(), 0, v).unwrap();
        String::from_utf8(out)
            .unwrap()
            .replace(r"\u007f", "\u{7f}")
            .into_bytes()
    }

    fn ours(v: &Val) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, v).unwrap();
        out
    }

    const TEXTS: &[&str] = &[
        r#"{"type":"track","userId":"u1","event":"Signup","properties":{"plan":"pro","n":-12.50e3,"big":123456789012345678901234567890,"ok":true,"no":false,"nil":null,"list":[1,2.5,"x",[],{}]},"messageId":"m1"}"#,
        r#"{"a":"tab\there \"q\" back\\slash \/ \u0001 \u007f \u00e9 \ud83d\ude00 é \b\f\n\r"}"#,
        r#" [ 1 , { "a" : [ ] } , "" ] "#,
        r#"{"dup":1,"dup":2,"z":0}"#,
        "0",
        "-0",
        "1e400",
        r#""""#,
    ];

    #[test]
    fn compact_text_comes_back_as_it_was() {
        let call = concat!(
            r#"{"type":"track","userId":"u\u0001\"\\é"#,
            "\u{7f}",
            r#"","event":"E","properties":{"a":[1,-2.50,1e5,null,true,{}],"b":"x\ty"}}"#
        );
        let v = read(&Bytes::copy_from_slice(call.as_bytes())).unwrap();
        assert_eq!(String::from_utf8(ours(&v)).unwrap(), call);
    }

    #[test]
    fn reads_as_jaq_json_does_and_writes_the_same_bytes() {
        for text in TEXTS {
            let theirs = jaq_json::read::parse_single(text.as_bytes()).unwrap();
            let mine = read(&Bytes::copy_from_slice(text.as_bytes())).unwrap();
            assert_eq!(mine, theirs, "{text}");
            assert_eq!(ours(&mine), jaq_bytes(&theirs), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_json() {
        for text in [
            "",
            "nul",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "\"open",
            "01x",
            "1 2",
            "\"a\u{1}\"",
            "-",
            "{1:2}",
            "[\"\\ud800\"]",
            "034600",
            "[-01]",
            "1.",
            "1.e5",
            "1e",
            "+1",
            "--1",
            ".5",
            "1e+-2",
        ] {
            assert!(
                read(&Bytes::copy_from_slice(text.as_bytes())).is_err(),
                "{text:?}"
            );
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        let e = read(&Bytes::from(deep)).unwrap_err();
        assert!(e.contains("nested too deep"), "{e}");
        let fine = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(read(&Bytes::from(fine)).is_ok());
        let mut out = Vec::new();
        assert!(write(&mut out, &Val::Num(Num::Float(f64::NAN))).is_err());
        assert!(write(&mut out, &Val::byte_str(b"x".to_vec())).is_err());
        let mut map = Map::default();
        map.insert(Val::Null, Val::Null);
        assert!(write(&mut out, &Val::obj(map)).is_err());
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e300f64..1e300).prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::vec((any::<String>(), inner), 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_json_reads_and_writes_as_with_jaq_json(v in json_value()) {
            let text = serde_json::to_vec(&v).unwrap();
            let theirs = jaq_json::read::parse_single(&text).unwrap();
            let mine = read(&Bytes::from(text)).unwrap();
            prop_assert_eq!(&mine, &theirs);
            prop_assert_eq!(ours(&mine), jaq_bytes(&theirs));
        }
    }
}
