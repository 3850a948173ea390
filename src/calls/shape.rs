//! The shape every call must have before it is written or sent: the call shapes of the
//! Pipelines API's `batch` schema (docs/send.md, "What is not a Pipelines call is not sent").
//!
//! - `type` is one of `identify`, `track`, `page`, `screen`, `group`, `alias`;
//! - `identify`, `track`, `page` and `screen` carry a string `userId` or `anonymousId`;
//! - `track` carries a string `event`;
//! - `group` carries a string `groupId`;
//! - `alias` carries string `userId` and `previousId`;
//! - `traits`, `properties`, `context` and `integrations` are objects when present.
//!
//! A line that looks like a Track API call (a v2 entity with `identifiers` and `action`, a v1
//! log line with `method` and `path`) gets a message that says to use `--from track`.

use crate::json::{Kind, Raw, RawMap};

/// The call types the Pipelines API takes.
pub const CALL_TYPES: [&str; 6] = ["identify", "track", "page", "screen", "group", "alias"];

/// Why an object is not a Pipelines call: the message of an `invalid_call` (or
/// `transform_invalid`) entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The message for a line that is a Track API call rather than a Pipelines call.
const USE_FROM_TRACK: &str =
    "this is a Track API call, not a Pipelines call: convert it first, or use --from track";

/// Checks one call object against the Pipelines call shapes. Null members count as absent.
pub fn check(map: &RawMap<'_>) -> Result<(), ShapeError> {
    check_members(map).map_err(|e| {
        if looks_like_track(map) {
            ShapeError(USE_FROM_TRACK.into())
        } else {
            e
        }
    })
}

fn check_members(map: &RawMap<'_>) -> Result<(), ShapeError> {
    let Some(ty) = map.get("type") else {
        return Err(ShapeError("the call has no type".into()));
    };
    let name = match string_of(ty) {
        Some(n) if CALL_TYPES.contains(&n) => n,
        _ => {
            return Err(ShapeError(format!(
                "type {} is not one of identify, track, page, screen, group, alias",
                ty.get()
            )));
        }
    };
    for key in ["traits", "properties", "context", "integrations"] {
        if let Some(v) = map.get(key)
            && Kind::of(v) != Kind::Object
        {
            return Err(ShapeError(format!(
                "{key} must be an object, got {}",
                Kind::of(v).article_name()
            )));
        }
    }
    match name {
        "alias" => {
            need_string(map, "userId", name)?;
            need_string(map, "previousId", name)
        }
        "group" => need_string(map, "groupId", name),
        _ => {
            if !has_string(map, "userId") && !has_string(map, "anonymousId") {
                return Err(ShapeError(format!(
                    "a {name} call needs a string userId or anonymousId"
                )));
            }
            if name == "track" {
                need_string(map, "event", name)?;
            }
            Ok(())
        }
    }
}

/// Parses `text` as one JSON object and checks it (see [`check`]).
pub fn check_text(text: &str) -> Result<(), ShapeError> {
    if !text.trim_start().starts_with('{') {
        return Err(ShapeError("the line is not a JSON object".into()));
    }
    let map =
        RawMap::parse(text).map_err(|e| ShapeError(format!("the line is not valid JSON: {e}")))?;
    check(&map)
}

/// True for an object shaped like a Track API call: a v2 entity (`identifiers` and
/// `action`), a v2 batch (`batch` and no `type`) or a logged v1 HTTP call (`method` and
/// `path` or `url`).
fn looks_like_track(map: &RawMap<'_>) -> bool {
    let v2 = map.has("identifiers") && map.has("action");
    let v1 = map.has("method") && (map.has("path") || map.has("url"));
    v2 || v1 || (map.has("batch") && !map.has("type"))
}

fn string_of(v: Raw<'_>) -> Option<&str> {
    (Kind::of(v) == Kind::String).then(|| v.get().trim_matches('"'))
}

fn has_string(map: &RawMap<'_>, key: &str) -> bool {
    map.get(key).is_some_and(|v| Kind::of(v) == Kind::String)
}

fn need_string(map: &RawMap<'_>, key: &str, ty: &str) -> Result<(), ShapeError> {
    match map.get(key) {
        Some(v) if Kind::of(v) == Kind::String => Ok(()),
        Some(v) => Err(ShapeError(format!(
            "{key} of a {ty} call must be a string, got {}",
            Kind::of(v).article_name()
        ))),
        None => Err(ShapeError(format!("a {ty} call needs {key}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) {
        assert_eq!(check_text(text), Ok(()), "{text}");
    }

    fn bad(text: &str, says: &str) {
        let e = check_text(text).expect_err(text);
        assert!(e.0.contains(says), "{text}: {e}");
    }

    #[test]
    fn accepts_each_type_with_what_it_needs() {
        ok(r#"{"type":"identify","userId":"u1","traits":{"a":1}}"#);
        ok(r#"{"type":"identify","anonymousId":"a1"}"#);
        ok(r#"{"type":"track","userId":"u1","event":"E","properties":{}}"#);
        ok(r#"{"type":"page","anonymousId":"a1","name":"home"}"#);
        ok(r#"{"type":"screen","userId":"u1"}"#);
        ok(r#"{"type":"group","userId":"u1","groupId":"g1","traits":{}}"#);
        ok(r#"{"type":"alias","userId":"u1","previousId":"u0"}"#);
    }

    #[test]
    fn refuses_missing_or_mistyped_fields() {
        bad(r#"{"userId":"u1"}"#, "has no type");
        bad(r#"{"type":"delete","userId":"u1"}"#, "not one of");
        bad(r#"{"type":7,"userId":"u1"}"#, "not one of");
        bad(r#"{"type":"identify"}"#, "userId or anonymousId");
        bad(
            r#"{"type":"identify","userId":null}"#,
            "userId or anonymousId",
        );
        bad(
            r#"{"type":"identify","userId":42}"#,
            "userId or anonymousId",
        );
        bad(r#"{"type":"track","userId":"u1"}"#, "needs event");
        bad(
            r#"{"type":"track","userId":"u1","event":3}"#,
            "must be a string",
        );
        bad(r#"{"type":"group","userId":"u1"}"#, "needs groupId");
        bad(r#"{"type":"alias","userId":"u1"}"#, "needs previousId");
        bad(
            r#"{"type":"identify","userId":"u","traits":[]}"#,
            "traits must be an object",
        );
        bad(
            r#"{"type":"track","userId":"u","event":"E","context":"x"}"#,
            "context",
        );
        bad(r#"[1]"#, "not a JSON object");
        bad(r#"{"type":"identify""#, "not valid JSON");
    }

    #[test]
    fn says_from_track_for_track_api_calls() {
        bad(
            r#"{"type":"group","identifiers":{"object_id":"1"},"action":"identify"}"#,
            "--from track",
        );
        bad(
            r#"{"type":"person","identifiers":{"id":"1"},"action":"event","name":"x"}"#,
            "--from track",
        );
        bad(
            r#"{"method":"PUT","path":"/api/v1/customers/1","body":{}}"#,
            "--from track",
        );
    }
}
