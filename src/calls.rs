//! Pipelines API calls: serialize-only output types and the writer that lays a call out as one
//! compact JSON line, keys in the contract's order:
//! `type, userId, anonymousId, groupId, previousId, event, name, traits, properties, context,
//! integrations, messageId, timestamp, sentAt`.

pub mod shape;

use crate::json::Raw;
use crate::json::{write_compact, write_str};
use std::borrow::Cow;

/// The API's limit on one call as sent (docs/send.md: a larger call is dropped with a 200):
/// `--max-call-bytes`'s default for `convert`, `check` and `send`, and `send`'s largest value.
pub const API_MAX_CALL_BYTES: u64 = 32_768;

/// The six Pipelines call types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallType {
    /// An `identify` call: a person and their traits.
    Identify,
    /// A `track` call: an event, by name, with its properties.
    Track,
    /// A `page` call: a page view.
    Page,
    /// A `screen` call: a mobile screen view.
    Screen,
    /// A `group` call: a person's relationship to an object.
    Group,
    /// An `alias` call: merges a previous id into a user id.
    Alias,
}

impl CallType {
    /// Every call type, in the order of [`CallType::index`].
    pub const ALL: [CallType; 6] = [
        CallType::Identify,
        CallType::Track,
        CallType::Page,
        CallType::Screen,
        CallType::Group,
        CallType::Alias,
    ];

    /// The call's `type` value as written in the output (`"identify"`, `"track"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Identify => "identify",
            CallType::Track => "track",
            CallType::Page => "page",
            CallType::Screen => "screen",
            CallType::Group => "group",
            CallType::Alias => "alias",
        }
    }

    /// The call type's position in [`CallType::ALL`], for per-type tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where a written call sits in the mapping's output buffer (`translate::Output::buf`), with
/// what partitioning needs to know: its type, its time, and the hash of its bucket key. The
/// mapping fills in the hash because it holds the call's identity when it writes the call.
#[derive(Debug, Clone, Copy)]
pub struct CallMeta {
    /// The call's type.
    pub kind: CallType,
    /// The call's time, unix milliseconds.
    pub timestamp: i64,
    /// Offset just past the call's newline in `buf`; the call starts where the previous ended.
    pub end: usize,
    /// xxh3-64 of the bucket key (0 unless the mapping was asked for it: `translate::Options::bucket_hash`).
    pub bucket: u64,
    /// The call has no time of its own: its `timestamp` is the run's reference time
    /// (counted in `calls_stamped_now`).
    pub stamped_now: bool,
}

/// A value inside an output object.
#[derive(Debug, Clone)]
pub enum Val<'a> {
    /// JSON text taken from the input, copied as it is (whitespace between tokens dropped).
    Raw(Cow<'a, str>),
    /// A string, written as a JSON string literal.
    Str(Cow<'a, str>),
}

impl<'a> Val<'a> {
    /// Wraps input JSON text to be copied into the output as it is.
    pub fn raw(v: Raw<'a>) -> Val<'a> {
        Val::Raw(Cow::Borrowed(v.get()))
    }
}

/// One piece of an output object.
#[derive(Debug, Clone)]
pub enum Member<'a> {
    /// `"key": value`.
    Pair(&'static str, Val<'a>),
    /// Every member of a raw input object, copied without parsing it.
    Inline(Raw<'a>),
    /// Every member of an input object, in input order, except the keys in `skip`.
    Spread {
        /// The input object's members, in input order.
        entries: &'a [(Cow<'a, str>, Raw<'a>)],
        /// Keys to leave out.
        skip: &'a [&'a str],
    },
}

/// An output object: its members in order.
pub type Obj<'a> = Vec<Member<'a>>;

/// One Pipelines call, borrowing from the record it came from.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The call's type (`type`).
    pub kind: CallType,
    /// `userId`, if the call has one.
    pub user_id: Option<Cow<'a, str>>,
    /// `anonymousId`, if the call has one.
    pub anonymous_id: Option<Cow<'a, str>>,
    /// `groupId`, for `group` calls.
    pub group_id: Option<Cow<'a, str>>,
    /// `previousId`, for `alias` calls.
    pub previous_id: Option<Cow<'a, str>>,
    /// `event`, for `track` calls.
    pub event: Option<Cow<'a, str>>,
    /// `name`, for `page` and `screen` calls.
    pub name: Option<Cow<'a, str>>,
    /// `traits`, for `identify` and `group` calls.
    pub traits: Option<Obj<'a>>,
    /// `properties`, for `track`, `page` and `screen` calls.
    pub properties: Option<Obj<'a>>,
    /// `context.device`, for device calls.
    pub device: Option<Obj<'a>>,
    /// `context.journeys.identifiers`.
    pub identifiers: Obj<'a>,
    /// A ULID the input carried for this call (used for the record's first call only).
    pub message_id: Option<&'a str>,
    /// The call's time, unix milliseconds.
    pub timestamp: i64,
}

impl<'a> Call<'a> {
    /// A call of type `kind` with only its identifiers and time set; the caller fills in the rest.
    pub fn new(kind: CallType, identifiers: Obj<'a>, timestamp: i64) -> Call<'a> {
        Call {
            kind,
            user_id: None,
            anonymous_id: None,
            group_id: None,
            previous_id: None,
            event: None,
            name: None,
            traits: None,
            properties: None,
            device: None,
            identifiers,
            message_id: None,
            timestamp,
        }
    }

    /// The member the call's type needs that it lacks (docs/send.md, the call shapes `send`
    /// checks): `userId` or `anonymousId` (identify, track, page, screen), `event` (track),
    /// `groupId` (group), `userId` and `previousId` (alias). `traits`, `properties` and
    /// `context` are written as objects whatever the call holds.
    pub fn lacks(&self) -> Option<&'static str> {
        let person = self.user_id.is_some() || self.anonymous_id.is_some();
        match self.kind {
            CallType::Alias if self.user_id.is_none() => Some("userId"),
            CallType::Alias if self.previous_id.is_none() => Some("previousId"),
            CallType::Alias => None,
            CallType::Group if self.group_id.is_none() => Some("groupId"),
            CallType::Group => None,
            _ if !person => Some("userId or anonymousId"),
            CallType::Track if self.event.is_none() => Some("event"),
            _ => None,
        }
    }

    /// The id `bucket:N` partitions on: `userId`, else `anonymousId`, else `groupId`.
    pub fn bucket_key(&self) -> &str {
        self.user_id
            .as_deref()
            .or(self.anonymous_id.as_deref())
            .or(self.group_id.as_deref())
            .unwrap_or("")
    }
}

/// The parts of a call that come from the run and the record rather than the mapping.
pub struct Trailer<'a> {
    /// The `integrations` object, compact JSON text, written as it is.
    pub integrations: &'a str,
    /// The call's `messageId` (a ULID), written between quotes.
    pub message_id: &'a [u8],
    /// The `sentAt` time, already formatted (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
    pub sent_at: &'a [u8; 24],
}

/// Appends `call` as one compact JSON object (no newline).
pub fn write_call(out: &mut Vec<u8>, call: &Call, trailer: &Trailer) {
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(call.kind.as_str().as_bytes());
    out.push(b'"');
    let strings = [
        ("userId", &call.user_id),
        ("anonymousId", &call.anonymous_id),
        ("groupId", &call.group_id),
        ("previousId", &call.previous_id),
        ("event", &call.event),
        ("name", &call.name),
    ];
    for (key, value) in strings {
        if let Some(v) = value {
            key_prefix(out, key);
            write_str(out, v);
        }
    }
    if let Some(traits) = &call.traits {
        key_prefix(out, "traits");
        write_obj(out, traits);
    }
    if let Some(props) = &call.properties {
        key_prefix(out, "properties");
        write_obj(out, props);
    }
    out.extend_from_slice(b",\"context\":{");
    if let Some(device) = &call.device {
        out.extend_from_slice(b"\"device\":");
        write_obj(out, device);
        out.push(b',');
    }
    out.extend_from_slice(b"\"journeys\":{\"identifiers\":");
    write_obj(out, &call.identifiers);
    out.extend_from_slice(b"}},\"integrations\":");
    out.extend_from_slice(trailer.integrations.as_bytes());
    out.extend_from_slice(b",\"messageId\":\"");
    out.extend_from_slice(trailer.message_id);
    out.extend_from_slice(b"\",\"timestamp\":\"");
    out.extend_from_slice(&crate::time::format(call.timestamp));
    out.extend_from_slice(b"\",\"sentAt\":\"");
    out.extend_from_slice(trailer.sent_at);
    out.extend_from_slice(b"\"}");
}

fn key_prefix(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Writes an output object.
pub fn write_obj(out: &mut Vec<u8>, obj: &[Member]) {
    out.push(b'{');
    let mut first = true;
    fn sep(out: &mut Vec<u8>, first: &mut bool) {
        if !*first {
            out.push(b',');
        }
        *first = false;
    }
    for m in obj {
        match m {
            Member::Pair(k, v) => {
                sep(out, &mut first);
                out.push(b'"');
                out.extend_from_slice(k.as_bytes());
                out.extend_from_slice(b"\":");
                write_val(out, v);
            }
            Member::Inline(raw) => {
                let text = raw.get();
                let inner = &text[1..text.len() - 1];
                let (mark, was_first) = (out.len(), first);
                sep(out, &mut first);
                let body = out.len();
                write_compact(out, inner);
                if out.len() == body {
                    out.truncate(mark);
                    first = was_first;
                }
            }
            Member::Spread { entries, skip } => {
                for (k, v) in entries.iter() {
                    if skip.contains(&k.as_ref()) {
                        continue;
                    }
                    sep(out, &mut first);
                    write_str(out, k);
                    out.push(b':');
                    write_compact(out, v.get());
                }
            }
        }
    }
    out.push(b'}');
}

fn write_val(out: &mut Vec<u8>, v: &Val) {
    match v {
        Val::Raw(text) => write_compact(out, text),
        Val::Str(s) => write_str(out, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lacks_names_the_member_a_type_needs() {
        let call = |kind| Call::new(kind, Vec::new(), 0);
        assert_eq!(
            call(CallType::Identify).lacks(),
            Some("userId or anonymousId")
        );
        let mut track = call(CallType::Track);
        track.anonymous_id = Some("a".into());
        assert_eq!(track.lacks(), Some("event"));
        track.event = Some("E".into());
        assert_eq!(track.lacks(), None);
        let mut group = call(CallType::Group);
        assert_eq!(group.lacks(), Some("groupId"));
        group.group_id = Some("g".into());
        assert_eq!(group.lacks(), None, "a group may name no person");
        let mut alias = call(CallType::Alias);
        alias.previous_id = Some("p".into());
        assert_eq!(alias.lacks(), Some("userId"));
        alias.user_id = Some("u".into());
        assert_eq!(alias.lacks(), None);
        let mut page = call(CallType::Page);
        page.user_id = Some("u".into());
        assert_eq!(page.lacks(), None);
    }
}
