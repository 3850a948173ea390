//! `send-errors.ndjson` entries: one JSON object per line that was not sent, in the layout of
//! the convert error file (source, line, offset, code, message, raw or raw_base64, length),
//! plus the batch whose line range holds it and, for a call the server refused, the HTTP
//! `status` and the first 4 KiB of its `answer`.

use crate::json::write_str;
use base64::Engine;

/// The codes of `send-errors.ndjson`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Not a Pipelines call.
    InvalidCall,
    /// Larger than `--max-call-bytes` as sent.
    CallTooLarge,
    /// A single call the server still refused (400, 413, other 4xx).
    RefusedByServer,
    /// Left out by `--recent skip`.
    RecentCall,
    /// The input could not be read to its end.
    CorruptInput,
    /// A `--transform` result that is not a Pipelines call.
    TransformInvalid,
    /// The `--transform` program failed on the call.
    TransformError,
}

impl Code {
    /// The code as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidCall => "invalid_call",
            Code::CallTooLarge => "call_too_large",
            Code::RefusedByServer => "refused_by_server",
            Code::RecentCall => "recent_call",
            Code::CorruptInput => "corrupt_input",
            Code::TransformInvalid => "transform_invalid",
            Code::TransformError => "transform_error",
        }
    }
}

/// One entry.
pub struct Entry<'a> {
    /// The input the line comes from.
    pub source: &'a str,
    /// The line (1-based).
    pub line: u64,
    /// Its byte offset in the decompressed input.
    pub offset: u64,
    /// The batch whose range holds it.
    pub batch: u64,
    /// Why it was not sent.
    pub code: Code,
    /// In words.
    pub message: &'a str,
    /// The line (or the call as sent).
    pub raw: Option<&'a [u8]>,
    /// Full length of a line whose first bytes only are in `raw`.
    pub length: Option<u64>,
    /// The server's status and answer (`refused_by_server`).
    pub answer: Option<(u16, &'a [u8])>,
}

/// The entry as one line.
pub fn line(e: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + e.raw.map_or(0, <[u8]>::len));
    out.extend_from_slice(b"{\"source\":");
    write_str(&mut out, e.source);
    out.extend_from_slice(
        format!(
            ",\"line\":{},\"offset\":{},\"batch\":{}",
            e.line, e.offset, e.batch
        )
        .as_bytes(),
    );
    out.extend_from_slice(b",\"code\":\"");
    out.extend_from_slice(e.code.as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    write_str(&mut out, e.message);
    if let Some(raw) = e.raw {
        bytes_field(&mut out, "raw", raw);
    }
    if let Some(len) = e.length {
        out.extend_from_slice(format!(",\"length\":{len}").as_bytes());
    }
    if let Some((status, answer)) = e.answer {
        out.extend_from_slice(format!(",\"status\":{status}").as_bytes());
        bytes_field(&mut out, "answer", answer);
    }
    out.extend_from_slice(b"}\n");
    out
}

/// `"name":"text"`, or `"name_base64":"…"` when the bytes are not UTF-8.
fn bytes_field(out: &mut Vec<u8>, name: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            out.extend_from_slice(format!(",\"{name}\":").as_bytes());
            write_str(out, text);
        }
        Err(_) => {
            out.extend_from_slice(format!(",\"{name}_base64\":\"").as_bytes());
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .as_bytes(),
            );
            out.push(b'"');
        }
    }
}

/// The batch number of an entry line (to keep, on resume, only the entries of done batches).
pub fn batch_of(line: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct B {
        batch: u64,
    }
    serde_json::from_slice::<B>(line).ok().map(|b| b.batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let l = line(&Entry {
            source: "a.ndjson",
            line: 3,
            offset: 9,
            batch: 7,
            code: Code::RefusedByServer,
            message: "refused",
            raw: Some(b"{\"type\":\"track\"}"),
            length: None,
            answer: Some((400, b"\xffbad")),
        });
        let v: serde_json::Value = serde_json::from_slice(&l).unwrap();
        assert_eq!(v["code"], "refused_by_server");
        assert_eq!(v["status"], 400);
        assert_eq!(v["raw"], "{\"type\":\"track\"}");
        assert_eq!(v["answer_base64"], "/2JhZA==");
        assert_eq!(batch_of(&l), Some(7));
    }
}
