//! `send-errors.ndjson` entries: one JSON object per line that was not sent, in the layout of
//! the convert error file (source, line, offset, code, message, raw or raw_base64, length),
//! plus the batch whose line range holds it and, for a call the server refused, the HTTP
//! `status` and the first 4 KiB of its `answer`.
//!
//! An entry's place is an [`input::Position`](Position), as in convert's error entries; `send`
//! always knows the line ([`super::batch::line_of`]), so the written layout always has it.
//!
//! [`Redactor`] keeps the write key out of everything stored or shown: an answer that echoes
//! the request (a firewall page, a debug proxy) is stored with the key, its Basic-auth forms
//! and any `Authorization` value replaced by `[redacted]` (docs/send.md, "Secrets").

use super::batch::line_of;
use crate::input::Position;
use crate::json::write_str;
use base64::Engine;

/// The codes of `send-errors.ndjson`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendCode {
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

impl SendCode {
    /// The code as written.
    pub fn as_str(self) -> &'static str {
        match self {
            SendCode::InvalidCall => "invalid_call",
            SendCode::CallTooLarge => "call_too_large",
            SendCode::RefusedByServer => "refused_by_server",
            SendCode::RecentCall => "recent_call",
            SendCode::CorruptInput => "corrupt_input",
            SendCode::TransformInvalid => "transform_invalid",
            SendCode::TransformError => "transform_error",
        }
    }
}

/// One entry.
pub struct SendEntry<'a> {
    /// The input the line comes from.
    pub source: &'a str,
    /// Where the line is in the decompressed input.
    pub at: Position,
    /// The batch whose range holds it.
    pub batch: u64,
    /// Why it was not sent.
    pub code: SendCode,
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
pub fn line(e: &SendEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + e.raw.map_or(0, <[u8]>::len));
    out.extend_from_slice(b"{\"source\":");
    write_str(&mut out, e.source);
    out.extend_from_slice(
        format!(
            ",\"line\":{},\"offset\":{},\"batch\":{}",
            line_of(e.at),
            e.at.offset,
            e.batch
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

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Removes the write key, in every form a server may echo, from text to be stored.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Exact forms: the key, and the base64 of `key:` and `key` in the four alphabets.
    exact: Vec<Vec<u8>>,
    /// Base64 prefixes any `key:password` encodes to; the whole base64 word holding one goes.
    prefixes: Vec<Vec<u8>>,
}

impl Redactor {
    /// A redactor for `key` (none: only `Authorization` values are redacted).
    pub fn new(key: Option<&str>) -> Redactor {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return Redactor::default();
        };
        let mut exact = vec![key.as_bytes().to_vec()];
        let mut prefixes = Vec::new();
        let user = format!("{key}:");
        // Whole groups of 3 bytes encode the same whatever follows them.
        let aligned = &user.as_bytes()[..user.len() / 3 * 3];
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            exact.push(engine.encode(&user).into_bytes());
            exact.push(engine.encode(key).into_bytes());
            if aligned.len() >= 3 {
                prefixes.push(engine.encode(aligned).into_bytes());
            }
        }
        // As they are echoed inside a URL or a form (percent-encoded) or a JSON string with its
        // slashes escaped (`\/`, as some servers write them).
        let escaped: Vec<Vec<u8>> = exact.iter().flat_map(|f| escaped_forms(f)).collect();
        exact.extend(escaped);
        // Longest first, so a form inside another never leaves a piece behind.
        exact.sort_by_key(|f| std::cmp::Reverse(f.len()));
        exact.dedup();
        prefixes.dedup();
        Redactor { exact, prefixes }
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &[u8]) -> Vec<u8> {
        let mut out = redact_authorization(text);
        for p in &self.prefixes {
            out = replace_words_with(&out, p);
        }
        for f in &self.exact {
            out = replace_all(&out, f);
        }
        out
    }

    /// The length of the longest exact form of the key (0 without a key): an answer read this
    /// far past a place holds whole any form that starts before it.
    pub fn longest_form(&self) -> usize {
        self.exact.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// [`Redactor::redact`] for a string.
    pub fn redact_str(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.redact(text.as_bytes())).into_owned()
    }
}

/// The forms of `form` with its characters outside `A-Z a-z 0-9 - . _ ~` percent-encoded (upper-
/// and lower-case hex), and with `/` escaped as `\/`, where they differ from it.
fn escaped_forms(form: &[u8]) -> Vec<Vec<u8>> {
    let percent = |hex: &[u8; 16]| -> Vec<u8> {
        let mut out = Vec::with_capacity(form.len() * 3);
        for &b in form {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b);
            } else {
                out.extend([b'%', hex[usize::from(b >> 4)], hex[usize::from(b & 15)]]);
            }
        }
        out
    };
    let slashes: Vec<u8> = form
        .iter()
        .flat_map(|&b| {
            if b == b'/' {
                vec![b'\\', b'/']
            } else {
                vec![b]
            }
        })
        .collect();
    let mut forms = vec![
        percent(b"0123456789ABCDEF"),
        percent(b"0123456789abcdef"),
        slashes,
    ];
    forms.retain(|f| f != form);
    forms
}

fn replace_all(text: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = memchr::memmem::find(rest, needle) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(REDACTED.as_bytes());
        rest = &rest[i + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
}

/// Replaces each base64 word that starts with `prefix` (a `key:password` token).
fn replace_words_with(text: &[u8], prefix: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = memchr::memmem::find(rest, prefix) {
        let end = i + rest[i..].iter().take_while(|b| is_base64(**b)).count();
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(REDACTED.as_bytes());
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    out
}

/// Replaces the value after each `Authorization` name (any case; a header line, a JSON member,
/// an HTML table cell), up to the end of its line, quote or tag.
fn redact_authorization(text: &[u8]) -> Vec<u8> {
    const NAME: &[u8] = b"authorization";
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    while let Some(i) = memchr::memmem::find(&lower[at..], NAME) {
        let name_end = at + i + NAME.len();
        let mut start = name_end;
        while start < text.len() && start - name_end < 16 {
            match text[start] {
                b'"' | b'\'' | b':' | b'=' | b' ' | b'\t' | b'>' => start += 1,
                b'<' => {
                    // `</th><td>`: skip the tags between a name and its value.
                    let close = text[start..].iter().position(|b| *b == b'>');
                    match close {
                        Some(c) => start += c + 1,
                        None => break,
                    }
                }
                _ => break,
            }
        }
        let len = text[start..]
            .iter()
            .take_while(|b| !matches!(b, b'\r' | b'\n' | b'"' | b'\'' | b'<' | b',' | b';' | b'}'))
            .count();
        out.extend_from_slice(&text[at..start]);
        if len > 0 {
            out.extend_from_slice(REDACTED.as_bytes());
        }
        at = start + len;
    }
    out.extend_from_slice(&text[at..]);
    out
}

/// For `--retry-refused`: the lines of the `refused_by_server` entries in the file at `path`,
/// by batch.
pub fn refused_lines(
    path: &std::path::Path,
) -> std::io::Result<std::collections::HashMap<u64, std::collections::HashSet<u64>>> {
    use std::io::BufRead;
    #[derive(serde::Deserialize)]
    struct E<'a> {
        batch: u64,
        line: u64,
        #[serde(borrow)]
        code: &'a str,
    }
    let mut out: std::collections::HashMap<u64, std::collections::HashSet<u64>> =
        Default::default();
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    let mut reader = std::io::BufReader::new(f);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line)? > 0 {
        if let Ok(e) = serde_json::from_slice::<E>(&line)
            && e.code == SendCode::RefusedByServer.as_str()
        {
            out.entry(e.batch).or_default().insert(e.line);
        }
        line.clear();
    }
    Ok(out)
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
        let l = line(&SendEntry {
            source: "a.ndjson",
            at: Position::new(3, 9),
            batch: 7,
            code: SendCode::RefusedByServer,
            message: "refused",
            raw: Some(b"{\"type\":\"track\"}"),
            length: None,
            answer: Some((400, b"\xffbad")),
        });
        let v: serde_json::Value = serde_json::from_slice(&l).unwrap();
        assert_eq!((&v["line"], &v["offset"]), (&3.into(), &9.into()));
        assert_eq!(v["code"], "refused_by_server");
        assert_eq!(v["status"], 400);
        assert_eq!(v["raw"], "{\"type\":\"track\"}");
        assert_eq!(v["answer_base64"], "/2JhZA==");
        assert_eq!(batch_of(&l), Some(7));
    }

    #[test]
    fn secrets_are_redacted_in_every_form() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let key = "wk_Zq9+secret/key";
        let r = Redactor::new(Some(key));
        let forms = [
            key.to_owned(),
            STANDARD.encode(format!("{key}:")),
            STANDARD.encode(format!("{key}:password")),
            URL_SAFE_NO_PAD.encode(format!("{key}:")),
            STANDARD.encode(key),
        ];
        let escaped = [
            "wk_Zq9%2Bsecret%2Fkey".to_owned(),
            "wk_Zq9%2bsecret%2fkey".to_owned(),
            r"wk_Zq9+secret\/key".to_owned(),
            STANDARD.encode(format!("{key}:")).replace('=', "%3D"),
        ];
        for f in forms.iter().chain(&escaped) {
            let page = format!("<p>seen: {f} and again {f}</p>");
            let out = r.redact_str(&page);
            assert!(!out.contains(f.as_str()), "{out}");
            assert!(out.contains(REDACTED), "{out}");
        }
        let echo = "Authorization: Bearer tok-123\r\nX-Other: 1\r\n\
                    {\"authorization\":\"Basic abc\"}\
                    <tr><th>AUTHORIZATION</th><td>Basic zzz</td></tr>";
        let out = r.redact_str(echo);
        for gone in ["tok-123", "abc", "zzz"] {
            assert!(!out.contains(gone), "{out}");
        }
        assert!(out.contains("X-Other: 1"), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 3, "{out}");
        assert_eq!(
            Redactor::new(None).redact_str("nothing here"),
            "nothing here"
        );
    }
}
