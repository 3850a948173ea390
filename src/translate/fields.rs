//! Typed reads of record fields, each turning a wrong JSON type into an `invalid_field` reject
//! whose message names the field's path, what it held and what was expected.

use crate::json::Raw;
use crate::json::{Kind, RawMap};
use crate::reject::{Reject, reject};
use crate::time;
use std::borrow::Cow;

/// `at.key`, or `key` at the top level.
pub fn path(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

pub fn wrong_type(at: &str, key: &str, expected: &str, raw: Raw<'_>) -> Reject {
    reject!(
        InvalidField,
        "{} must be {expected}, got {}",
        path(at, key),
        Kind::of(raw).article_name()
    )
}

pub fn opt_str<'a>(map: &RawMap<'a>, key: &str, at: &str) -> Result<Option<Cow<'a, str>>, Reject> {
    match map.get(key) {
        None => Ok(None),
        Some(v) if Kind::of(v) == Kind::String => str_text(v, at, key).map(Some),
        Some(v) => Err(wrong_type(at, key, "a string", v)),
    }
}

/// Decodes a raw JSON string literal (`raw` must be a string). A literal that holds no valid
/// Unicode text (a lone surrogate escape such as `"\ud800"`) is `invalid_field`, rather than
/// reading as an empty string.
pub fn str_text<'a>(raw: Raw<'a>, at: &str, key: &str) -> Result<Cow<'a, str>, Reject> {
    crate::json::decode_str(raw).map_err(|e| {
        // The error's position is inside the literal, not the record: leave it out.
        let e = e.to_string();
        let why = e.split(" at line ").next().unwrap_or_default();
        reject!(
            InvalidField,
            "{} is not a valid string: {why}",
            path(at, key)
        )
    })
}

/// A raw object value (validated to be an object, not parsed).
pub fn opt_raw_obj<'a>(map: &RawMap<'a>, key: &str, at: &str) -> Result<Option<Raw<'a>>, Reject> {
    match map.get(key) {
        None => Ok(None),
        Some(v) if Kind::of(v) == Kind::Object => Ok(Some(v)),
        Some(v) => Err(wrong_type(at, key, "an object", v)),
    }
}

pub fn opt_obj<'a>(map: &RawMap<'a>, key: &str, at: &str) -> Result<Option<RawMap<'a>>, Reject> {
    opt_raw_obj(map, key, at)?.map(parse_obj).transpose()
}

/// Parses a raw value already known to be an object.
pub fn parse_obj(raw: Raw<'_>) -> Result<RawMap<'_>, Reject> {
    RawMap::parse(raw.get()).map_err(|e| reject!(InvalidJson, "{e}"))
}

pub fn opt_array<'a>(
    map: &RawMap<'a>,
    key: &str,
    at: &str,
) -> Result<Option<Vec<Raw<'a>>>, Reject> {
    match map.get(key) {
        None => Ok(None),
        Some(v) if Kind::of(v) == Kind::Array => crate::json::parse_array(v.get())
            .map(Some)
            .map_err(|e| reject!(InvalidJson, "{e}")),
        Some(v) => Err(wrong_type(at, key, "an array", v)),
    }
}

pub fn opt_time(map: &RawMap, key: &str, at: &str) -> Result<Option<i64>, Reject> {
    match map.get(key) {
        None => Ok(None),
        Some(v) => time::from_raw(v)
            .map(Some)
            .map_err(|e| reject!(InvalidTimestamp, "{}: {}", path(at, key), e.0)),
    }
}

/// A required name (event, page, screen, metric): a string, trimmed, not empty.
pub fn req_name<'a>(map: &RawMap<'a>, key: &str, at: &str) -> Result<Cow<'a, str>, Reject> {
    match opt_str(map, key, at)? {
        None => Err(reject!(MissingField, "{} is required", path(at, key))),
        Some(s) => {
            let t = trim(s);
            if t.is_empty() {
                Err(reject!(MissingField, "{} is empty", path(at, key)))
            } else {
                Ok(t)
            }
        }
    }
}

/// Trims surrounding whitespace, keeping a borrow when there was one.
pub fn trim(s: Cow<'_, str>) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
        Cow::Owned(o) => {
            let t = o.trim();
            if t.len() == o.len() {
                Cow::Owned(o)
            } else {
                Cow::Owned(t.to_owned())
            }
        }
    }
}

/// An identifier value: a non-empty string or a number. Returns its text.
pub fn id_text<'a>(raw: Raw<'a>, at: &str, key: &str) -> Result<Cow<'a, str>, Reject> {
    match Kind::of(raw) {
        Kind::String => {
            let s = str_text(raw, at, key)?;
            if s.is_empty() {
                Err(reject!(
                    MissingIdentifier,
                    "{} is an empty string",
                    path(at, key)
                ))
            } else {
                Ok(s)
            }
        }
        Kind::Number => Ok(Cow::Borrowed(raw.get())),
        _ => Err(wrong_type(at, key, "a non-empty string or a number", raw)),
    }
}
