//! Packing calls into request bodies: in input order, within `--max-batch-bytes` (the whole
//! body, `{"batch":[…]}` included) and `--max-batch-calls`. Boundaries depend only on the
//! calls as sent and the two limits (a `sentAt` set at send time is reckoned at its fixed
//! width), so a resumed run forms exactly the same batches.
//!
//! An `alias` call is a batch of its own, posted to `{base}/alias` with the call itself as the
//! body: the API's `batch` schema has no `alias`; so is a `group` call with neither `userId`
//! nor `anonymousId`, posted to `{base}/group` ([`own_route`]; docs/send.md, "Calls sent on
//! their own"). The batch open before it is closed first, so the order of the calls is kept.
//!
//! A call's place in its input is an [`input::Position`](Position), as in convert. `send`
//! reads every input from its start, so the line is always known ([`line_of`]). A batch's line
//! range (`first_line`, `last_line`) stays a plain number: the state's ledger stores it as
//! such ([`super::ledger::Record`]) and a resumed run checks it.
//!
//! Each closed [`Batch`] goes to the sender ([`super::dispatch`]), which posts its body.

use super::client::Route;
use crate::input::Position;
use xxhash_rust::xxh3::Xxh3;

/// Bytes of `{"batch":[` and `]}` around the calls.
pub const FRAME_BYTES: usize = 12;

/// One call inside a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Where the call starts in the body.
    pub start: u32,
    /// Its length.
    pub len: u32,
    /// Where its 24-byte `sentAt` value starts in the body (`--sent-at send`).
    pub sent_at: Option<u32>,
    /// Where its line is in the decompressed source.
    pub at: Position,
}

/// The line (1-based) of a position in an input `send` reads: always known, since every input
/// is read from its start (1 stands in, should it ever not be).
pub fn line_of(at: Position) -> u64 {
    at.line.unwrap_or(1)
}

/// A batch: a run of input lines of one source, the calls among them packed into one body.
/// Lines that are not sent (invalid calls) belong to the batch whose range holds them, so the
/// ledger's ranges cover every line.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Counts from 0 over the whole send.
    pub number: u64,
    /// Index of the source in the send's input list.
    pub source: usize,
    /// First and last input line of the range (1-based).
    pub first_line: u64,
    /// Last input line of the range.
    pub last_line: u64,
    /// Where the body goes: `/batch`, or `/alias` for a single alias call.
    pub route: Route,
    /// The request body, `{"batch":[…]}` (for `/alias`, the call itself).
    pub body: Vec<u8>,
    /// The calls in the body, in order.
    pub calls: Vec<Span>,
    /// `send-errors.ndjson` entries (without the batch number) of the lines not sent.
    pub errors: Vec<Vec<u8>>,
    /// Lines not sent because they are invalid or too large.
    pub invalid: u64,
    /// Recent calls left out by `--recent skip`.
    pub skipped: u64,
    /// xxh3-64 of the range's lines: a resumed run checks that it reads the same input.
    pub sum: u64,
}

/// What a line that is not sent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Other {
    /// Not a call, or too large.
    Invalid,
    /// A recent call left out (`--recent skip`).
    Skipped,
    /// Not a line (a damaged input's note): counted nowhere.
    Note,
}

/// Forms batches from calls given one at a time.
pub struct Batcher {
    max_bytes: usize,
    max_calls: usize,
    next_number: u64,
    cur: Option<Open>,
}

struct Open {
    batch: Batch,
    hash: Xxh3,
}

impl Batcher {
    /// A batcher whose first batch gets number 0.
    pub fn new(max_bytes: usize, max_calls: usize) -> Batcher {
        Batcher {
            max_bytes,
            max_calls,
            next_number: 0,
            cur: None,
        }
    }

    fn open(&mut self, source: usize, line: u64) -> &mut Open {
        if self.cur.is_none() {
            let mut body = Vec::with_capacity(self.max_bytes.min(1 << 20));
            body.extend_from_slice(b"{\"batch\":[");
            self.cur = Some(Open {
                batch: Batch {
                    number: self.next_number,
                    source,
                    first_line: line,
                    last_line: line,
                    route: Route::Batch,
                    body,
                    calls: Vec::new(),
                    errors: Vec::new(),
                    invalid: 0,
                    skipped: 0,
                    sum: 0,
                },
                hash: Xxh3::new(),
            });
            self.next_number += 1;
        }
        self.cur.as_mut().expect("just opened")
    }

    /// Would a call of `len` bytes (one sent `alone` or not) still fit the open batch?
    fn fits(&self, len: usize, alone: bool) -> bool {
        match &self.cur {
            None => true,
            Some(o) if o.batch.calls.is_empty() => true,
            Some(o) if alone || o.batch.route != Route::Batch => false,
            Some(o) => {
                o.batch.calls.len() < self.max_calls
                    && o.batch.body.len() + 1 + len + 2 <= self.max_bytes
            }
        }
    }

    /// Adds one call (its bytes as sent; `sent_at` its offset in them) read from `raw` at
    /// `at` of `source`. Returns the batch it closed, if it did not fit.
    pub fn push_call(
        &mut self,
        source: usize,
        raw: &[u8],
        call: &[u8],
        sent_at: Option<usize>,
        at: Position,
    ) -> Option<Batch> {
        let line = line_of(at);
        let own = own_route(call);
        let closed = if self.fits(call.len(), own.is_some()) {
            None
        } else {
            self.finish()
        };
        let open = self.open(source, line);
        let b = &mut open.batch;
        if let Some(route) = own {
            // Its own request: the body is the call alone.
            b.route = route;
            b.body.clear();
        } else if !b.calls.is_empty() {
            b.body.push(b',');
        }
        let start = b.body.len() as u32;
        b.body.extend_from_slice(call);
        b.calls.push(Span {
            start,
            len: call.len() as u32,
            sent_at: sent_at.map(|p| start + p as u32),
            at,
        });
        b.last_line = line;
        open.hash.update(raw);
        closed
    }

    /// The number of the open batch (or of the next one): the batch a line not sent now
    /// belongs to.
    pub fn open_number(&self) -> u64 {
        self.cur
            .as_ref()
            .map_or(self.next_number, |o| o.batch.number)
    }

    /// Adds a line that is not sent, with its error entry.
    pub fn push_other(
        &mut self,
        source: usize,
        raw: &[u8],
        entry: Vec<u8>,
        kind: Other,
        at: Position,
    ) {
        let line = line_of(at);
        let open = self.open(source, line);
        open.batch.last_line = open.batch.last_line.max(line);
        open.hash.update(raw);
        open.batch.errors.push(entry);
        match kind {
            Other::Invalid => open.batch.invalid += 1,
            Other::Skipped => open.batch.skipped += 1,
            Other::Note => {}
        }
    }

    /// Closes the open batch (at the end of a source, or before a call that does not fit).
    pub fn finish(&mut self) -> Option<Batch> {
        let mut open = self.cur.take()?;
        if open.batch.route == Route::Batch {
            open.batch.body.extend_from_slice(b"]}");
        }
        open.batch.sum = open.hash.digest();
        Some(open.batch)
    }
}

/// Sets the `sentAt` of every call of `body` that has one to `now_ms` (in place: the value
/// has a fixed width, so no boundary moves).
pub fn stamp(body: &mut [u8], spans: &[Span], now_ms: i64) {
    let ts = crate::time::format(now_ms);
    for s in spans {
        if let Some(p) = s.sent_at {
            body[p as usize..p as usize + ts.len()].copy_from_slice(&ts);
        }
    }
}

/// The endpoint of a call (as sent) that the batch schema does not take, so that it goes
/// alone (docs/send.md, "Calls sent on their own"): an `alias` call to `/alias`, a `group`
/// call with neither `userId` nor `anonymousId` to `/group`; None for every other call. A
/// quick look for the words first, a parse only then.
pub fn own_route(call: &[u8]) -> Option<Route> {
    #[derive(serde::Deserialize)]
    struct Typed<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<std::borrow::Cow<'a, str>>,
        #[serde(rename = "userId")]
        user_id: Option<serde::de::IgnoredAny>,
        #[serde(rename = "anonymousId")]
        anonymous_id: Option<serde::de::IgnoredAny>,
    }
    let has = |word: &[u8]| memchr::memmem::find(call, word).is_some();
    if !has(b"alias") && !has(b"group") {
        return None;
    }
    let t = serde_json::from_slice::<Typed>(call).ok()?;
    match t.kind.as_deref() {
        Some("alias") => Some(Route::Alias),
        Some("group") if t.user_id.is_none() && t.anonymous_id.is_none() => Some(Route::Group),
        _ => None,
    }
}

/// The body `{"batch":[…]}` of the calls `spans` of `body`.
pub fn sub_body(body: &[u8], spans: &[Span]) -> (Vec<u8>, Vec<Span>) {
    let mut out = b"{\"batch\":[".to_vec();
    let mut new = Vec::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let start = out.len() as u32;
        out.extend_from_slice(&body[s.start as usize..(s.start + s.len) as usize]);
        new.push(Span {
            start,
            sent_at: s.sent_at.map(|p| p - s.start + start),
            ..*s
        });
    }
    out.extend_from_slice(b"]}");
    (out, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_both_limits() {
        let call = br#"{"type":"track","event":"e"}"#; // 28 bytes
        let mut b = Batcher::new(FRAME_BYTES + 28 * 3 + 2, 10);
        let mut out = Vec::new();
        for line in 1..=7 {
            out.extend(b.push_call(0, call, call, None, Position::new(line, 0)));
        }
        out.extend(b.finish());
        let sizes: Vec<usize> = out.iter().map(|b| b.calls.len()).collect();
        assert_eq!(sizes, vec![3, 3, 1]);
        for batch in &out {
            assert!(batch.body.len() <= FRAME_BYTES + 28 * 3 + 2);
            let v: serde_json::Value = serde_json::from_slice(&batch.body).unwrap();
            assert_eq!(v["batch"].as_array().unwrap().len(), batch.calls.len());
        }
        assert_eq!(
            (out[1].first_line, out[1].last_line, out[1].number),
            (4, 6, 1)
        );
        let mut b = Batcher::new(1 << 20, 2);
        let mut n = 0;
        for line in 1..=5 {
            n += b
                .push_call(0, call, call, None, Position::new(line, 0))
                .is_some() as usize;
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn stamping_sets_only_the_sent_at_values() {
        let mut b = Batcher::new(1000, 10);
        let with = br#"{"sentAt":"0000-00-00T00:00:00.000Z"}"#;
        assert!(
            b.push_call(0, with, with, Some(11), Position::START)
                .is_none()
        );
        assert!(
            b.push_call(0, b"{\"a\":1}", b"{\"a\":1}", None, Position::new(2, 40))
                .is_none()
        );
        let mut batch = b.finish().unwrap();
        stamp(&mut batch.body, &batch.calls, 1_767_225_600_000);
        assert_eq!(
            batch.body,
            br#"{"batch":[{"sentAt":"2026-01-01T00:00:00.000Z"},{"a":1}]}"#
        );
    }

    #[test]
    fn alias_calls_are_batches_of_their_own_in_order() {
        let track = br#"{"type":"track","event":"alias","userId":"u"}"#;
        let alias = br#"{"type":"alias","userId":"u1","previousId":"u0"}"#;
        let mut b = Batcher::new(1000, 10);
        let mut out = Vec::new();
        for (line, call) in [track.as_slice(), track, alias, alias, track]
            .iter()
            .enumerate()
        {
            out.extend(b.push_call(0, call, call, None, Position::new(line as u64 + 1, 0)));
        }
        b.push_other(
            0,
            b"x",
            b"{}\n".to_vec(),
            Other::Invalid,
            Position::new(6, 0),
        );
        out.extend(b.finish());
        let shape: Vec<(Route, usize, u64, u64)> = out
            .iter()
            .map(|b| (b.route, b.calls.len(), b.first_line, b.last_line))
            .collect();
        assert_eq!(
            shape,
            [
                (Route::Batch, 2, 1, 2),
                (Route::Alias, 1, 3, 3),
                (Route::Alias, 1, 4, 4),
                (Route::Batch, 1, 5, 6)
            ]
        );
        assert_eq!(out[1].body, alias);
        assert_eq!(out[1].calls[0].start, 0);
        assert_eq!(own_route(track), None);
        let object = br#"{"type":"group","groupId":"g1","traits":{"name":"Acme"}}"#;
        let member = br#"{"type":"group","groupId":"g1","userId":"u1"}"#;
        let null_user = br#"{"type":"group","groupId":"g1","userId":null}"#;
        assert_eq!(own_route(object), Some(Route::Group));
        assert_eq!(own_route(null_user), Some(Route::Group));
        assert_eq!(own_route(member), None);
    }

    #[test]
    fn sub_bodies_keep_calls_and_sent_at() {
        let mut b = Batcher::new(1000, 10);
        b.push_call(0, b"{\"a\":1}", b"{\"a\":1}", None, Position::START);
        b.push_call(0, b"{\"b\":2}", b"{\"b\":2}", Some(2), Position::new(2, 8));
        let batch = b.finish().unwrap();
        let (body, spans) = sub_body(&batch.body, &batch.calls[1..]);
        assert_eq!(body, b"{\"batch\":[{\"b\":2}]}");
        assert_eq!(spans[0].sent_at, Some(spans[0].start + 2));
        assert_eq!(spans[0].at, Position::new(2, 8));
    }
}
