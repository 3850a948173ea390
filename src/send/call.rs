//! One input line as a call to send: checked (one Pipelines call by the shapes of
//! [`crate::calls::shape`], at most `--max-call-bytes` as sent) and given its `sentAt` per
//! `--sent-at`. Every other byte of the line is sent as it is. The reader
//! ([`super::source`]) then packs the call into a batch ([`super::batch`]).

use crate::calls::shape;
pub use crate::calls::shape::CALL_TYPES;
use crate::json::{Kind, RawMap};

/// Width of a `sentAt` value as sent, quotes excluded (`YYYY-MM-DDTHH:MM:SS.sssZ`). With
/// `--sent-at send` the size of a call is reckoned with this width before the time is known,
/// so batch boundaries never depend on the clock.
pub const SENT_AT_WIDTH: usize = 24;

/// What `--sent-at` does to each call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentAt {
    /// Set to the time the call's request is first sent.
    Send,
    /// Sent as the input has it.
    Keep,
    /// Dropped.
    Omit,
}

impl SentAt {
    /// The flag's value.
    pub fn as_str(self) -> &'static str {
        match self {
            SentAt::Send => "send",
            SentAt::Keep => "keep",
            SentAt::Omit => "omit",
        }
    }
}

/// A checked call, written to the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// Where the 24 bytes of the `sentAt` value start in the written call (`--sent-at send`).
    pub sent_at: Option<usize>,
    /// The call's `timestamp` in unix ms, when it has a readable one.
    pub timestamp: Option<i64>,
}

/// Why a line is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not one Pipelines call (`invalid_call`).
    Invalid(String),
    /// Larger than the call limit as sent (`call_too_large`).
    TooLarge(usize),
}

/// Bytes standing for the `sentAt` value until the request is first sent.
pub const PLACEHOLDER: &[u8; SENT_AT_WIDTH] = b"0000-00-00T00:00:00.000Z";

/// Checks `line` (one input line, line ending included or not) and appends the call as it
/// will be sent to `out`. On a refusal `out` is left as it was.
pub fn prepare(
    line: &[u8],
    mode: SentAt,
    max_call_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<Prepared, Refusal> {
    let trimmed = line.trim_ascii();
    let text = simdutf8::basic::from_utf8(trimmed)
        .map_err(|_| Refusal::Invalid("the line is not valid UTF-8".into()))?;
    if !text.starts_with('{') {
        return Err(Refusal::Invalid("the line is not a JSON object".into()));
    }
    let map = RawMap::parse(text)
        .map_err(|e| Refusal::Invalid(format!("the line is not valid JSON: {e}")))?;
    // docs/send.md, "What is not a Pipelines call is not sent".
    shape::check(&map).map_err(|e| Refusal::Invalid(e.0))?;
    let timestamp = map
        .get("timestamp")
        .filter(|v| Kind::of(*v) == Kind::String)
        .and_then(|v| crate::time::parse_str(v.get().trim_matches('"')));
    let base = text.as_ptr() as usize;
    // (value start, value end) of each member, as offsets in `text`.
    let spans: Vec<(usize, usize)> = map
        .entries
        .iter()
        .map(|(_, v)| {
            let s = v.get().as_ptr() as usize - base;
            (s, s + v.get().len())
        })
        .collect();
    let at = map.entries.iter().position(|(k, _)| k == "sentAt");
    let start = out.len();
    let sent_at = write_sent_at(text.as_bytes(), &spans, at, mode, out);
    let len = out.len() - start;
    if len > max_call_bytes {
        out.truncate(start);
        return Err(Refusal::TooLarge(len));
    }
    Ok(Prepared { sent_at, timestamp })
}

/// Appends `bytes` (one call, whose members' values lie at `spans`, `sentAt` the member `at`)
/// to `out` with its `sentAt` as `mode` wants it; returns where the placeholder's 24 bytes
/// start, relative to where the call starts in `out` (`--sent-at send`).
fn write_sent_at(
    bytes: &[u8],
    spans: &[(usize, usize)],
    at: Option<usize>,
    mode: SentAt,
    out: &mut Vec<u8>,
) -> Option<usize> {
    let start = out.len();
    let mut sent_at = None;
    match (mode, at) {
        (SentAt::Keep, _) | (SentAt::Omit, None) => out.extend_from_slice(bytes),
        (SentAt::Send, Some(i)) => {
            let (vs, ve) = spans[i];
            out.extend_from_slice(&bytes[..vs]);
            out.push(b'"');
            sent_at = Some(out.len() - start);
            out.extend_from_slice(PLACEHOLDER);
            out.push(b'"');
            out.extend_from_slice(&bytes[ve..]);
        }
        (SentAt::Send, None) => {
            // The text ends with the object's closing brace.
            let close = bytes.len() - 1;
            out.extend_from_slice(bytes[..close].trim_ascii_end());
            out.extend_from_slice(if spans.is_empty() {
                b"\"sentAt\":\"".as_slice()
            } else {
                b",\"sentAt\":\"".as_slice()
            });
            sent_at = Some(out.len() - start);
            out.extend_from_slice(PLACEHOLDER);
            out.extend_from_slice(b"\"}");
        }
        (SentAt::Omit, Some(i)) => {
            let (cut_from, cut_to) = if i > 0 {
                // From the end of the previous value to the end of this one: `,"sentAt":…`.
                (spans[i - 1].1, spans[i].1)
            } else if spans.len() == 1 {
                (1, spans[0].1)
            } else {
                // The first member: up to the start of the second member's key.
                let comma = spans[0].1
                    + bytes[spans[0].1..]
                        .iter()
                        .position(|&b| b == b',')
                        .expect("members are separated by commas");
                let key = comma
                    + 1
                    + bytes[comma + 1..]
                        .iter()
                        .position(|b| !b.is_ascii_whitespace())
                        .expect("a key follows the comma");
                (1, key)
            };
            out.extend_from_slice(&bytes[..cut_from]);
            out.extend_from_slice(&bytes[cut_to..]);
        }
    }
    sent_at
}

/// The end of every call `convert` writes: `…,"timestamp":"<24>","sentAt":"<24>"}`.
const TAIL_TS: &[u8] = b",\"timestamp\":\"";
const TAIL_SENT: &[u8] = b"\",\"sentAt\":\"";

/// The fast path for a line of a part file whose checksum matched its convert manifest: the
/// bytes are convert's own compact output, so the type is the first member and `timestamp` and
/// `sentAt` close the object at fixed widths; no parse is needed. None when the line does not
/// have that shape (then [`prepare`] decides, and says why a line is refused).
///
/// Of the call shapes (docs/send.md), it skips only what convert's writer guarantees whatever
/// the record: that the line is one valid compact JSON object (the checksum proves these are
/// the bytes convert wrote, and convert writes nothing else), and that `traits`, `properties`,
/// `context` and `integrations` are objects (convert writes the first three as objects it
/// builds itself and checks `--integrations` is an object before it starts). What depends on
/// the record is checked here too: the type, and the string members each type needs (`userId`
/// or `anonymousId`, `event`, `groupId`, `previousId`), which convert writes right after the
/// type, in a fixed order ([`leading_members`]).
pub fn prepare_trusted(
    line: &[u8],
    mode: SentAt,
    max_call_bytes: usize,
    out: &mut Vec<u8>,
) -> Option<Result<Prepared, Refusal>> {
    let w = SENT_AT_WIDTH;
    let tail = TAIL_TS.len() + w + TAIL_SENT.len() + w + 2;
    if line.len() < tail + 12 || !line.starts_with(b"{\"type\":\"") || !line.ends_with(b"\"}") {
        return None;
    }
    let rest = &line[9..];
    let end = rest.iter().position(|&b| b == b'"')?;
    let ty = CALL_TYPES.iter().find(|t| t.as_bytes() == &rest[..end])?;
    if !has_what_it_needs(ty, leading_members(&rest[end + 1..])) {
        return None;
    }
    let t0 = line.len() - tail;
    let ts_at = t0 + TAIL_TS.len();
    let sent_key = ts_at + w;
    if &line[t0..ts_at] != TAIL_TS || &line[sent_key..sent_key + TAIL_SENT.len()] != TAIL_SENT {
        return None;
    }
    let ts = std::str::from_utf8(&line[ts_at..ts_at + w]).ok()?;
    let timestamp = crate::time::parse_str(ts);
    let start = out.len();
    let mut sent_at = None;
    match mode {
        SentAt::Keep => out.extend_from_slice(line),
        SentAt::Send => {
            let at = line.len() - 2 - w;
            out.extend_from_slice(&line[..at]);
            sent_at = Some(at);
            out.extend_from_slice(PLACEHOLDER);
            out.extend_from_slice(b"\"}");
        }
        SentAt::Omit => {
            out.extend_from_slice(&line[..sent_key + 1]);
            out.push(b'}');
        }
    }
    let len = out.len() - start;
    if len > max_call_bytes {
        out.truncate(start);
        return Some(Err(Refusal::TooLarge(len)));
    }
    Some(Ok(Prepared { sent_at, timestamp }))
}

/// The string members convert writes right after `type`, in this order (docs/mapping.md, key
/// order); a later key never comes before an earlier one.
const LEADING: [&str; 5] = ["userId", "anonymousId", "groupId", "previousId", "event"];

/// Which of [`LEADING`] open `rest` (the line after the type's value), each as
/// `,"key":"string"`, in order.
fn leading_members(rest: &[u8]) -> [bool; LEADING.len()] {
    let mut found = [false; LEADING.len()];
    let mut at = 0;
    for (i, key) in LEADING.iter().enumerate() {
        let tail = &rest[at..];
        let prefix_len = key.len() + 5;
        let opens = tail.len() > prefix_len
            && tail.starts_with(b",\"")
            && tail[2..].starts_with(key.as_bytes())
            && tail[2 + key.len()..].starts_with(b"\":\"");
        if !opens {
            continue;
        }
        // The string's closing quote: the first quote not escaped by a backslash.
        let mut j = prefix_len;
        while j < tail.len() && tail[j] != b'"' {
            j += if tail[j] == b'\\' { 2 } else { 1 };
        }
        if j >= tail.len() {
            return found;
        }
        found[i] = true;
        at += j + 1;
    }
    found
}

/// Whether a call of type `ty` whose leading members are `found` has the ones its shape needs.
fn has_what_it_needs(ty: &str, found: [bool; LEADING.len()]) -> bool {
    let [user, anonymous, group, previous, event] = found;
    match ty {
        "alias" => user && previous,
        "group" => group,
        "track" => (user || anonymous) && event,
        _ => user || anonymous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_agrees_with_the_parse() {
        let lines = [
            r#"{"type":"track","userId":"42","event":"e","properties":{"sentAt":"x"},"context":{},"integrations":{"All":true},"messageId":"m","timestamp":"2023-08-24T14:00:00.000Z","sentAt":"2026-01-01T00:00:00.000Z"}"#,
            r#"{"type":"identify","anonymousId":"a","traits":{},"messageId":"m2","timestamp":"2023-08-24T14:00:00.000Z","sentAt":"2026-01-01T00:00:00.000Z"}"#,
            r#"{"type":"group","userId":"","groupId":"g\"1\\","traits":{},"context":{},"integrations":{},"messageId":"m","timestamp":"2023-08-24T14:00:00.000Z","sentAt":"2026-01-01T00:00:00.000Z"}"#,
            r#"{"type":"alias","userId":"u","previousId":"p","context":{},"integrations":{},"messageId":"m","timestamp":"2023-08-24T14:00:00.000Z","sentAt":"2026-01-01T00:00:00.000Z"}"#,
        ];
        for line in lines {
            for mode in [SentAt::Send, SentAt::Keep, SentAt::Omit] {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let fast = prepare_trusted(line.as_bytes(), mode, 32768, &mut a).unwrap();
                let slow = prepare(line.as_bytes(), mode, 32768, &mut b);
                assert_eq!(fast, slow, "{line} {mode:?}");
                assert_eq!(a, b, "{line} {mode:?}");
            }
        }
        let mut out = Vec::new();
        for other in [
            r#"{"type":"person","timestamp":"x"}"#,
            r#"{"event":"e"}"#,
            "[]",
        ] {
            assert!(prepare_trusted(other.as_bytes(), SentAt::Keep, 32768, &mut out).is_none());
        }
    }

    /// Convert's layout, but a member the type needs is missing (an `event` only inside
    /// `properties`, a `groupId` only in `traits`, no `previousId`): the fast path hands the
    /// line to the parse, which refuses it.
    #[test]
    fn the_fast_path_checks_the_members_a_type_needs() {
        let tail = r#","context":{},"integrations":{},"messageId":"m","timestamp":"2023-08-24T14:00:00.000Z","sentAt":"2026-01-01T00:00:00.000Z"}"#;
        for (head, says) in [
            (
                r#"{"type":"track","userId":"u","properties":{"event":"e"}"#,
                "needs event",
            ),
            (r#"{"type":"track","event":"e""#, "userId or anonymousId"),
            (
                r#"{"type":"identify","traits":{"userId":"u"}"#,
                "userId or anonymousId",
            ),
            (
                r#"{"type":"group","userId":"u","traits":{"groupId":"g"}"#,
                "needs groupId",
            ),
            (r#"{"type":"alias","userId":"u""#, "needs previousId"),
            (r#"{"type":"page","userId":7"#, "userId or anonymousId"),
        ] {
            let line = format!("{head}{tail}");
            let mut out = Vec::new();
            let fast = prepare_trusted(line.as_bytes(), SentAt::Keep, 32768, &mut out);
            assert!(fast.is_none(), "{line}");
            match prepare(line.as_bytes(), SentAt::Keep, 32768, &mut out) {
                Err(Refusal::Invalid(m)) => assert!(m.contains(says), "{line}: {m}"),
                other => panic!("{line}: {other:?}"),
            }
            assert!(out.is_empty());
        }
    }

    #[test]
    fn track_api_lines_say_use_from_track() {
        let line = br#"{"type":"group","identifiers":{"object_type_id":"1","object_id":"acme"},"action":"identify","attributes":{"name":"Acme"}}"#;
        let mut out = Vec::new();
        match prepare(line, SentAt::Send, 32768, &mut out) {
            Err(Refusal::Invalid(m)) => assert!(m.contains("use --from track"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    fn run(line: &str, mode: SentAt) -> Result<(String, Option<usize>), Refusal> {
        let mut out = b"xx".to_vec();
        let p = prepare(line.as_bytes(), mode, 32768, &mut out)?;
        Ok((String::from_utf8(out[2..].to_vec()).unwrap(), p.sent_at))
    }

    #[test]
    fn sent_at_modes_touch_only_sent_at() {
        let line = r#"{"type":"track","userId":"u","event":"e","sentAt":"2020-01-01T00:00:00Z","x":{"sentAt":1}}"#;
        let (keep, _) = run(line, SentAt::Keep).unwrap();
        assert_eq!(keep, line);
        let (send, pos) = run(line, SentAt::Send).unwrap();
        assert_eq!(
            send,
            r#"{"type":"track","userId":"u","event":"e","sentAt":"0000-00-00T00:00:00.000Z","x":{"sentAt":1}}"#
        );
        assert_eq!(
            &send[pos.unwrap()..pos.unwrap() + 24],
            "0000-00-00T00:00:00.000Z"
        );
        let (omit, _) = run(line, SentAt::Omit).unwrap();
        assert_eq!(
            omit,
            r#"{"type":"track","userId":"u","event":"e","x":{"sentAt":1}}"#
        );
        let first = r#"{ "sentAt" : "a" , "type":"page","userId":"u"}"#;
        assert_eq!(
            run(first, SentAt::Omit).unwrap().0,
            r#"{"type":"page","userId":"u"}"#
        );
        let last = r#"{"type":"page","userId":"u" }"#;
        assert_eq!(
            run(last, SentAt::Send).unwrap().0,
            r#"{"type":"page","userId":"u","sentAt":"0000-00-00T00:00:00.000Z"}"#
        );
    }

    #[test]
    fn bad_lines_are_refused() {
        for bad in [
            "[1]",
            "{\"type\":\"person\"}",
            "{\"type\":1}",
            "{\"event\":\"x\"}",
            "{\"type\":\"track\"",
        ] {
            assert!(
                matches!(run(bad, SentAt::Keep), Err(Refusal::Invalid(_))),
                "{bad}"
            );
        }
        let mut out = Vec::new();
        let big = format!(
            "{{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\",\"p\":\"{}\"}}",
            "x".repeat(100)
        );
        assert_eq!(
            prepare(big.as_bytes(), SentAt::Keep, 50, &mut out),
            Err(Refusal::TooLarge(big.len()))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn timestamp_is_read() {
        let mut out = Vec::new();
        let p = prepare(
            br#"{"type":"track","userId":"u","event":"e","timestamp":"2026-01-01T00:00:00.000Z"}"#,
            SentAt::Keep,
            1000,
            &mut out,
        )
        .unwrap();
        assert_eq!(p.timestamp, Some(1_767_225_600_000));
    }
}
