//! One input line as a call to send: checked (a JSON object whose `type` is a Pipelines call
//! type, at most `--max-call-bytes` as sent) and given its `sentAt` per `--sent-at`. Every
//! other byte of the line is sent as it is.

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

/// The call types the Pipelines API takes.
pub const CALL_TYPES: [&str; 6] = ["identify", "track", "page", "screen", "group", "alias"];

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
    let ty = map.entries.iter().rev().find(|(k, _)| k == "type");
    match ty.map(|(_, v)| *v) {
        None => return Err(Refusal::Invalid("the call has no type".into())),
        Some(v) => {
            let name = v.get().trim_matches('"');
            if Kind::of(v) != Kind::String || !CALL_TYPES.contains(&name) {
                return Err(Refusal::Invalid(format!(
                    "type {} is not one of identify, track, page, screen, group, alias",
                    v.get()
                )));
            }
        }
    }
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
    let bytes = text.as_bytes();
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
    let len = out.len() - start;
    if len > max_call_bytes {
        out.truncate(start);
        return Err(Refusal::TooLarge(len));
    }
    Ok(Prepared { sent_at, timestamp })
}

/// The end of every call `convert` writes: `…,"timestamp":"<24>","sentAt":"<24>"}`.
const TAIL_TS: &[u8] = b",\"timestamp\":\"";
const TAIL_SENT: &[u8] = b"\",\"sentAt\":\"";

/// The fast path for a line of a part file whose checksum matched its convert manifest: the
/// bytes are convert's own compact output, so the type is the first member and `timestamp` and
/// `sentAt` close the object at fixed widths; no parse is needed. None when the line does not
/// have that shape (then [`prepare`] decides).
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
    if !CALL_TYPES.iter().any(|t| t.as_bytes() == &rest[..end]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_agrees_with_the_parse() {
        let lines = [
            r#"{"type":"track","userId":"42","event":"e","properties":{"sentAt":"x"},"context":{},"integrations":{"All":true},"messageId":"m","timestamp":"2023-08-24T14:00:00.000Z","sentAt":"2026-01-01T00:00:00.000Z"}"#,
            r#"{"type":"identify","anonymousId":"a","traits":{},"messageId":"m2","timestamp":"2023-08-24T14:00:00.000Z","sentAt":"2026-01-01T00:00:00.000Z"}"#,
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

    fn run(line: &str, mode: SentAt) -> Result<(String, Option<usize>), Refusal> {
        let mut out = b"xx".to_vec();
        let p = prepare(line.as_bytes(), mode, 32768, &mut out)?;
        Ok((String::from_utf8(out[2..].to_vec()).unwrap(), p.sent_at))
    }

    #[test]
    fn sent_at_modes_touch_only_sent_at() {
        let line =
            r#"{"type":"track","event":"e","sentAt":"2020-01-01T00:00:00Z","x":{"sentAt":1}}"#;
        let (keep, _) = run(line, SentAt::Keep).unwrap();
        assert_eq!(keep, line);
        let (send, pos) = run(line, SentAt::Send).unwrap();
        assert_eq!(
            send,
            r#"{"type":"track","event":"e","sentAt":"0000-00-00T00:00:00.000Z","x":{"sentAt":1}}"#
        );
        assert_eq!(
            &send[pos.unwrap()..pos.unwrap() + 24],
            "0000-00-00T00:00:00.000Z"
        );
        let (omit, _) = run(line, SentAt::Omit).unwrap();
        assert_eq!(omit, r#"{"type":"track","event":"e","x":{"sentAt":1}}"#);
        let first = r#"{ "sentAt" : "a" , "type":"page"}"#;
        assert_eq!(run(first, SentAt::Omit).unwrap().0, r#"{"type":"page"}"#);
        let only_type = r#"{"type":"page" }"#;
        assert_eq!(
            run(only_type, SentAt::Send).unwrap().0,
            r#"{"type":"page","sentAt":"0000-00-00T00:00:00.000Z"}"#
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
        let big = format!("{{\"type\":\"track\",\"p\":\"{}\"}}", "x".repeat(100));
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
            br#"{"type":"track","timestamp":"2026-01-01T00:00:00.000Z"}"#,
            SentAt::Keep,
            1000,
            &mut out,
        )
        .unwrap();
        assert_eq!(p.timestamp, Some(1_767_225_600_000));
    }
}
