//! The mapping from Track calls to Pipelines calls: pure functions, no I/O.
//!
//! [`translate_line`] takes one input record (an NDJSON line, or the JSON a CSV row stands for),
//! detects its shape (v2 entity, v2 batch, logged HTTP call), and appends the serialized calls to
//! an [`Output`], or a reject when the record cannot be converted. A record converts whole or not
//! at all: calls already written for a record that then fails are rolled back. One file per
//! family: `v1` (HTTP calls to v1 endpoints), `v2` (entities), `relationships` (group and
//! Relationship Deleted calls), with `identity` and `fields` shared by all.

mod fields;
mod identity;
mod relationships;
mod v1;
mod v2;

pub use crate::calls::CallMeta;

use crate::calls::{Call, Trailer, write_call};
use crate::json::Raw;
use crate::json::{Kind, RawMap, Record, decode_str};
use crate::msgid;
use crate::reject::reject;
pub use crate::reject::{Code, Reject};
use crate::select::{Failure, Shaped, Transform};
use xxhash_rust::xxh3::Xxh3;

/// How messageIds are made for calls that carry none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageIds {
    /// Derived from the record's bytes: stable across runs.
    #[default]
    Derived,
    /// Fresh random ULIDs.
    Random,
}

/// The `integrations` object of every call when `--integrations` is not given.
pub const DEFAULT_INTEGRATIONS: &str = r#"{"All":true}"#;

/// Run-level settings of the mapping.
#[derive(Debug, Clone)]
pub struct Options {
    /// The run's reference time, unix milliseconds (see [`Options::now_ms`]).
    now_ms: i64,
    /// `now_ms` formatted, written as `sentAt` by every record without a call time.
    now_text: [u8; 24],
    /// The `integrations` object, compact JSON text.
    pub integrations: String,
    /// How calls without a messageId of their own get one.
    pub message_ids: MessageIds,
    /// Largest serialized call accepted; 0 disables the limit.
    pub max_call_bytes: usize,
    /// Compute each call's bucket hash (for `--partition-by bucket:N`).
    pub bucket_hash: bool,
    /// `--email-trait`: an identify whose person has an `email` identifier and whose traits
    /// hold no `email` also gets `"email"` in its traits.
    pub email_trait: bool,
    /// `--keep-failed-calls`: convert logged HTTP calls whose logged status is not 2xx
    /// (otherwise `original_call_failed`).
    pub keep_failed_calls: bool,
    /// `--missing-time`: what becomes of a record with no call time of its own.
    pub missing_time: MissingTime,
    /// `--since`, `--until`, `--types`, `--events`, `--exclude-events`, `--transform`
    /// (docs/transforms.md): applied to each call before its size check; `None` keeps all.
    pub select: Option<std::sync::Arc<crate::select::Selection>>,
}

/// `--missing-time`: what becomes of a record with no call time of its own (docs/mapping.md,
/// "Time").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingTime {
    /// Its calls get the run's reference time, and are counted (`calls_stamped_now`).
    #[default]
    Now,
    /// The record is rejected (`missing_timestamp`).
    Reject,
}

impl Options {
    /// The run's reference time, unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Sets the run's reference time (a resumed `send --from track` reuses the one it recorded).
    pub fn set_now_ms(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        self.now_text = crate::time::format(now_ms);
    }

    /// The defaults ([`DEFAULT_INTEGRATIONS`], derived messageIds, the API's call size limit),
    /// with `now_ms` as the run's reference time.
    pub fn new(now_ms: i64) -> Options {
        Options {
            now_ms,
            now_text: crate::time::format(now_ms),
            integrations: DEFAULT_INTEGRATIONS.to_owned(),
            message_ids: MessageIds::Derived,
            max_call_bytes: crate::calls::API_MAX_CALL_BYTES as usize,
            bucket_hash: false,
            email_trait: false,
            keep_failed_calls: false,
            missing_time: MissingTime::Now,
            select: None,
        }
    }
}

/// A rejected record or batch item.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// The batch element's index, for batch items.
    pub item: Option<u32>,
    /// The batch element's text; `None` means the whole record.
    pub raw: Option<String>,
    /// Why it was rejected.
    pub reject: Reject,
}

/// What translating some records produced; reused across records to keep allocations down.
#[derive(Debug, Default)]
pub struct Output {
    /// Serialized calls, each followed by `\n`.
    pub buf: Vec<u8>,
    /// Where each call of `buf` ends, with its type, time and bucket hash, in order.
    pub calls: Vec<CallMeta>,
    /// The records and batch items rejected, in order.
    pub rejects: Vec<Rejected>,
    /// Calls the selection left out, by cause (docs/transforms.md).
    pub filtered: crate::select::Filtered,
    /// Scratch space of the transform: its results for one call.
    pub shaped: Vec<crate::select::Shaped>,
}

impl Output {
    /// Empties the output for the next records, keeping its allocations.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.calls.clear();
        self.rejects.clear();
        self.filtered = Default::default();
    }

    /// The bytes of call `i` (with its newline).
    pub fn call_bytes(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.calls[i - 1].end };
        &self.buf[start..self.calls[i].end]
    }

    fn mark(&self) -> (usize, usize, crate::select::Filtered) {
        (self.buf.len(), self.calls.len(), self.filtered)
    }

    fn rollback(&mut self, (buf, calls, filtered): (usize, usize, crate::select::Filtered)) {
        self.buf.truncate(buf);
        self.calls.truncate(calls);
        self.filtered = filtered;
    }
}

/// Record counts of one line: a batch counts one record per element.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records seen (a batch counts one per element).
    pub records: u64,
    /// Records converted to calls.
    pub converted: u64,
    /// Records rejected.
    pub rejected: u64,
}

impl Counts {
    /// Adds `o`'s counts to these.
    pub fn add(&mut self, o: Counts) {
        self.records += o.records;
        self.converted += o.converted;
        self.rejected += o.rejected;
    }
    const CONVERTED: Counts = Counts {
        records: 1,
        converted: 1,
        rejected: 0,
    };
    const REJECTED: Counts = Counts {
        records: 1,
        converted: 0,
        rejected: 1,
    };
}

/// The record being converted: emits its calls with their messageIds and times.
pub struct Rec<'o> {
    opts: &'o Options,
    out: &'o mut Output,
    /// The record's bytes, the input of derived messageIds.
    raw: &'o [u8],
    hasher: Option<Xxh3>,
    index: u32,
    /// The envelope's call time, if the record had one.
    call_time: Option<i64>,
    sent_at: [u8; 24],
    /// Some call time of this record fell back to the run's reference time.
    stamped: std::cell::Cell<bool>,
    /// The text an error entry shows instead of the record (a call before `--transform`).
    raw_override: Option<String>,
}

impl<'o> Rec<'o> {
    fn new(opts: &'o Options, out: &'o mut Output, raw: &'o [u8], call_time: Option<i64>) -> Self {
        Rec {
            opts,
            out,
            raw,
            hasher: None,
            index: 0,
            call_time,
            sent_at: call_time.map_or(opts.now_text, crate::time::format),
            stamped: std::cell::Cell::new(false),
            raw_override: None,
        }
    }

    /// A call's timestamp: its own time, else the envelope's call time, else the run's
    /// reference time (noted, to count the call in `calls_stamped_now`), or, with
    /// `--missing-time reject`, a `missing_timestamp` reject.
    pub fn time(&self, own: Option<i64>) -> Result<i64, Reject> {
        match own.or(self.call_time) {
            Some(t) => Ok(t),
            None if self.opts.missing_time == MissingTime::Reject => Err(reject!(
                MissingTimestamp,
                "the record has no call time of its own (no timestamp in the call, no \
                 timestamp, received_at or sent_at in the envelope) and --missing-time is reject"
            )),
            None => {
                self.stamped.set(true);
                Ok(self.opts.now_ms)
            }
        }
    }

    /// Serializes one call of this record. A call that lacks a member its type needs is not
    /// written: the record is rejected, so that every call convert writes passes `send`'s
    /// check of the call shapes (docs/mapping.md, "Calls and the batch schema").
    pub fn emit(&mut self, call: &Call) -> Result<(), Reject> {
        self.check_members(call)?;
        let select = self.opts.select.as_deref();
        if let Some(cause) = select
            .and_then(|s| s.drop_cause(call.kind, Some(call.timestamp), call.event.as_deref()))
        {
            // Left out before it is written; its place in the record still counts, so the
            // derived messageIds of the calls kept do not depend on the selection.
            self.out.filtered[cause.index()] += 1;
            self.index += 1;
            return Ok(());
        }
        let id: [u8; 26];
        let message_id: &[u8] = match call.message_id {
            Some(given) if self.index == 0 => given.as_bytes(),
            _ => {
                id = match self.opts.message_ids {
                    MessageIds::Random => msgid::random(call.timestamp),
                    MessageIds::Derived => {
                        let raw = self.raw;
                        let h = self.hasher.get_or_insert_with(|| {
                            let mut h = Xxh3::new();
                            h.update(raw);
                            h
                        });
                        msgid::derived(h, self.index, call.timestamp)
                    }
                };
                &id
            }
        };
        let start = self.out.buf.len();
        let trailer = Trailer {
            integrations: &self.opts.integrations,
            message_id,
            sent_at: &self.sent_at,
        };
        write_call(&mut self.out.buf, call, &trailer);
        if let Some(t) = select.and_then(|s| s.transform.as_ref()) {
            return self.transformed(t, start, call);
        }
        let len = self.out.buf.len() - start;
        if self.opts.max_call_bytes > 0 && len > self.opts.max_call_bytes {
            return Err(reject!(
                CallTooLarge,
                "call {} ({}) is {len} bytes, over the {}-byte limit (--max-call-bytes)",
                self.index,
                call.kind.as_str(),
                self.opts.max_call_bytes
            ));
        }
        self.out.buf.push(b'\n');
        let bucket = if self.opts.bucket_hash {
            xxhash_rust::xxh3::xxh3_64(call.bucket_key().as_bytes())
        } else {
            0
        };
        // A call of a record whose time fell back to now, carrying that time. (A call of the
        // same record whose own time is the reference time to the millisecond counts too:
        // the two cannot be told apart, and such a call is indistinguishable from one stamped.)
        let stamped_now = self.stamped.get() && call.timestamp == self.opts.now_ms;
        self.out.calls.push(CallMeta {
            kind: call.kind,
            timestamp: call.timestamp,
            end: self.out.buf.len(),
            bucket,
            stamped_now,
        });
        self.index += 1;
        Ok(())
    }
}

impl Rec<'_> {
    /// Rejects a call that lacks a member its type needs (`missing_identifier` for the
    /// person, `missing_field` for anything else).
    fn check_members(&self, call: &Call) -> Result<(), Reject> {
        let Some(what) = call.lacks() else {
            return Ok(());
        };
        let (index, kind) = (self.index, call.kind.as_str());
        Err(match what {
            "userId or anonymousId" | "userId" => reject!(
                MissingIdentifier,
                "call {index} ({kind}) would have no {what}"
            ),
            _ => reject!(MissingField, "call {index} ({kind}) would have no {what}"),
        })
    }

    /// Runs `--transform` on the call just written at `start`, putting its results in its
    /// place, each checked against the call size limit.
    fn transformed(&mut self, t: &Transform, start: usize, call: &Call) -> Result<(), Reject> {
        let before = bytes::Bytes::copy_from_slice(&self.out.buf[start..]);
        self.out.buf.truncate(start);
        let mut shaped = std::mem::take(&mut self.out.shaped);
        shaped.clear();
        let result = t.run(&before, &mut self.out.buf, &mut shaped);
        let outcome = match result {
            Ok(()) => self.book_results(&shaped, start, call),
            Err(failure) => {
                self.raw_override = Some(String::from_utf8_lossy(&before).into_owned());
                Err(match failure {
                    Failure::Invalid(m) => reject!(TransformInvalid, "call {}: {m}", self.index),
                    Failure::Error(m) => reject!(TransformError, "call {}: {m}", self.index),
                })
            }
        };
        self.out.shaped = shaped;
        self.index += 1;
        outcome
    }

    fn book_results(&mut self, shaped: &[Shaped], start: usize, call: &Call) -> Result<(), Reject> {
        if shaped.is_empty() {
            self.out.filtered[crate::select::Cause::Transform.index()] += 1;
        }
        let mut begin = start;
        for s in shaped {
            let len = s.end - begin - 1;
            if self.opts.max_call_bytes > 0 && len > self.opts.max_call_bytes {
                return Err(reject!(
                    CallTooLarge,
                    "call {} ({}) is {len} bytes after --transform, over the {}-byte limit \
                     (--max-call-bytes)",
                    self.index,
                    s.kind.as_str(),
                    self.opts.max_call_bytes
                ));
            }
            let timestamp = s.timestamp.unwrap_or(call.timestamp);
            self.out.calls.push(CallMeta {
                kind: s.kind,
                timestamp,
                // A result still at the reference time of a stamped call.
                stamped_now: self.stamped.get() && timestamp == self.opts.now_ms,
                end: s.end,
                bucket: if self.opts.bucket_hash { s.bucket } else { 0 },
            });
            begin = s.end;
        }
        Ok(())
    }
}

/// Converts one record (`item` set for batch elements), rolling back on failure.
fn convert_one(
    opts: &Options,
    out: &mut Output,
    raw: &[u8],
    call_time: Option<i64>,
    item: Option<u32>,
    f: impl FnOnce(&mut Rec) -> Result<(), Reject>,
) -> Counts {
    let mark = out.mark();
    let (result, raw_override) = {
        let mut rec = Rec::new(opts, out, raw, call_time);
        let result = f(&mut rec);
        (result, rec.raw_override.take())
    };
    match result {
        Ok(()) => Counts::CONVERTED,
        Err(reject) => {
            out.rollback(mark);
            let raw =
                raw_override.or_else(|| item.map(|_| String::from_utf8_lossy(raw).into_owned()));
            out.rejects.push(Rejected { item, raw, reject });
            Counts::REJECTED
        }
    }
}

/// Books a whole record as rejected (no calls).
pub fn reject_whole(out: &mut Output, reject: Reject) -> Counts {
    out.rejects.push(Rejected {
        item: None,
        raw: None,
        reject,
    });
    Counts::REJECTED
}

/// Translates one record (one NDJSON line, without its line ending).
pub fn translate_line(opts: &Options, line: &[u8], out: &mut Output) -> Counts {
    translate_record(opts, line, line, out)
}

/// Translates one record whose JSON text is `text`; derived messageIds come from `id_bytes`,
/// the record's bytes as they stood in the input (a CSV row's text, say).
pub fn translate_record(opts: &Options, text: &[u8], id_bytes: &[u8], out: &mut Output) -> Counts {
    let text = match simdutf8::basic::from_utf8(text) {
        Ok(t) => t,
        Err(_) => {
            let e = std::str::from_utf8(text).expect_err("simdutf8 and std agree");
            return reject_whole(
                out,
                reject!(
                    InvalidUtf8,
                    "invalid UTF-8 at byte {} of the record",
                    e.valid_up_to()
                ),
            );
        }
    };
    match parse_record(text) {
        Ok(record) => translate_parsed(opts, &record, id_bytes, out),
        Err(r) => reject_whole(out, r),
    }
}

/// Translates a record written by the CSV plan's `row_deferred` (a CSV row), if its parse finds exactly one
/// value at each of the `deferred` places (members whose text was not checked when the record
/// was written). `None`, with nothing written, when it does not: the row must then be written
/// in full (`row`) and translated again.
pub fn translate_deferred(
    opts: &Options,
    text: &[u8],
    deferred: &[(usize, usize)],
    id_bytes: &[u8],
    out: &mut Output,
) -> Option<Counts> {
    let text = simdutf8::basic::from_utf8(text).ok()?;
    let record = parse_record(text).ok()?;
    // Where a member's value lies in `text` (every value borrows from it).
    let base = text.as_ptr() as usize;
    let at = |raw: &str| {
        let start = (raw.as_ptr() as usize).checked_sub(base)?;
        Some((start, start + raw.len()))
    };
    let all_found = deferred.iter().all(|span| {
        record.body_span == Some(*span)
            || record
                .map
                .entries
                .iter()
                .any(|(_, v)| at(v.get()) == Some(*span))
    });
    all_found.then(|| translate_parsed(opts, &record, id_bytes, out))
}

/// Parses a record's text as a JSON object. A lone surrogate escape anywhere in it rejects
/// the record (`invalid_json`): it would be copied into calls that strict parsers refuse.
fn parse_record(text: &str) -> Result<Record<'_>, Reject> {
    if let Some(at) = crate::json::lone_surrogate(text.as_bytes()) {
        return Err(reject!(
            InvalidJson,
            "{} at byte {at} is half of a UTF-16 surrogate pair without its other half",
            &text[at..at + 6]
        ));
    }
    let first = text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first();
    if first == Some(&b'{') {
        return Record::parse(text).map_err(|e| reject!(InvalidJson, "{e}"));
    }
    match crate::json::parse_raw(text) {
        Ok(v) => Err(reject!(
            UnknownShape,
            "the record is {}, not a JSON object",
            Kind::of(v).article_name()
        )),
        Err(e) => Err(reject!(InvalidJson, "{e}")),
    }
}

fn translate_parsed(opts: &Options, record: &Record, id_bytes: &[u8], out: &mut Output) -> Counts {
    let map = &record.map;
    match detect(map) {
        Ok(Shape::Entity) => {
            convert_one(opts, out, id_bytes, None, None, |rec| v2::entity(rec, map))
        }
        Ok(Shape::Batch(items)) => batch(opts, out, items, None),
        Ok(Shape::Http) => v1::http(opts, out, id_bytes, record),
        Err(r) => reject_whole(out, r),
    }
}

enum Shape<'a> {
    Entity,
    Batch(Raw<'a>),
    Http,
}

const V2_TYPES: [&str; 4] = ["person", "object", "delivery", "group"];

/// Is this object a v2 entity? Errors say why a `type`/`action` pair is not one.
fn is_entity(map: &RawMap) -> Result<bool, Reject> {
    let (Some(t), Some(_)) = (map.get("type"), map.get("action")) else {
        return Ok(false);
    };
    if decode_str(t).is_ok_and(|s| V2_TYPES.contains(&s.as_ref())) {
        return Ok(true);
    }
    Err(reject!(
        UnknownShape,
        "type {} is not one of person, object, delivery",
        t.get()
    ))
}

fn detect<'a>(map: &RawMap<'a>) -> Result<Shape<'a>, Reject> {
    if is_entity(map)? {
        return Ok(Shape::Entity);
    }
    if map.has("method") && (map.has("path") || map.has("url")) {
        return Ok(Shape::Http);
    }
    if let Some(b) = map.get("batch")
        && Kind::of(b) == Kind::Array
    {
        return Ok(Shape::Batch(b));
    }
    Err(reject!(
        UnknownShape,
        "expected a v2 entity (type and action), a v2 batch (batch array) or an HTTP call \
         (method and path or url); the record has none of these"
    ))
}

/// Converts the elements of a v2 batch array, each as its own record.
fn batch(opts: &Options, out: &mut Output, items: Raw<'_>, call_time: Option<i64>) -> Counts {
    let elements: Vec<Raw> = match crate::json::parse_array(items.get()) {
        Ok(e) => e,
        Err(e) => return reject_whole(out, reject!(InvalidJson, "{e}")),
    };
    if elements.is_empty() {
        return reject_whole(
            out,
            reject!(MissingField, "batch is empty: no calls to convert"),
        );
    }
    let mut counts = Counts::default();
    for (k, el) in elements.iter().enumerate() {
        let item = Some(k as u32);
        counts.add(convert_one(
            opts,
            out,
            el.get().as_bytes(),
            call_time,
            item,
            |rec| {
                if Kind::of(*el) != Kind::Object {
                    return Err(reject!(
                        UnknownShape,
                        "batch item {k} is {}, not a v2 entity object",
                        Kind::of(*el).article_name()
                    ));
                }
                let map = fields::parse_obj(*el)?;
                if !is_entity(&map)? {
                    return Err(reject!(
                        UnknownShape,
                        "batch item {k} is not a v2 entity: it needs type and action"
                    ));
                }
                v2::entity(rec, &map)
            },
        ));
    }
    counts
}
