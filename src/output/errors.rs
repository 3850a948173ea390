//! Error-file entries: one JSON object per rejected record, batch item or damaged input.

use crate::input::Position;
use crate::json::write_str;
use crate::reject::Code;
use base64::Engine;

/// One entry's fields, in the order they are written.
pub struct Entry<'a> {
    pub source: &'a str,
    /// Where the record starts, written as `line` (when known) and `offset`.
    pub at: Position,
    pub item: Option<u32>,
    pub code: Code,
    pub message: &'a str,
    /// The record's bytes (`raw`, or `raw_base64` when not UTF-8).
    pub raw: Option<&'a [u8]>,
    /// Full length of an over-long line.
    pub length: Option<u64>,
}

/// Appends `entry` as one line.
pub fn write(out: &mut Vec<u8>, e: &Entry) {
    out.extend_from_slice(b"{\"source\":");
    write_str(out, e.source);
    if let Some(line) = e.at.line {
        push_num(out, ",\"line\":", line);
    }
    push_num(out, ",\"offset\":", e.at.offset);
    if let Some(item) = e.item {
        push_num(out, ",\"item\":", u64::from(item));
    }
    out.extend_from_slice(b",\"code\":\"");
    out.extend_from_slice(e.code.as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    write_str(out, e.message);
    if let Some(raw) = e.raw {
        match std::str::from_utf8(raw) {
            Ok(text) => {
                out.extend_from_slice(b",\"raw\":");
                write_str(out, text);
            }
            Err(_) => {
                out.extend_from_slice(b",\"raw_base64\":\"");
                out.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(raw)
                        .as_bytes(),
                );
                out.push(b'"');
            }
        }
    }
    if let Some(len) = e.length {
        push_num(out, ",\"length\":", len);
    }
    out.extend_from_slice(b"}\n");
}

fn push_num(out: &mut Vec<u8>, key: &str, n: u64) {
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(n.to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_json_with_raw_or_base64() {
        let mut out = Vec::new();
        let mut e = Entry {
            source: "a.ndjson",
            at: Position::new(3, 40),
            item: Some(1),
            code: Code::MissingField,
            message: "name is required",
            raw: Some(b"{\"x\":\"\\\"\"}"),
            length: None,
        };
        write(&mut out, &e);
        e.raw = Some(b"\xff\x00");
        e.item = None;
        write(&mut out, &e);
        let lines: Vec<serde_json::Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0]["raw"], "{\"x\":\"\\\"\"}");
        assert_eq!(lines[0]["item"], 1);
        assert_eq!(lines[1]["raw_base64"], "/wA=");
        assert!(lines[1].get("item").is_none());
    }
}
