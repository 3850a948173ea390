//! Logged HTTP calls: the envelope (`method`, `path`/`url`, `body`, call time), routing of every
//! v1 endpoint, and the v1 calls themselves. `POST /api/v2/entity` and `/api/v2/batch` are
//! handed to [`super::v2`].

use super::fields::{
    id_text, opt_array, opt_obj, opt_raw_obj, opt_str, opt_time, parse_obj, req_name,
};
use super::identity::Person;
use super::relationships::{self, Action, List};
use super::v2::{
    self, delivery_call, device_context, device_properties, email_trait, person_call, person_track,
    set_event, ulid_id, v1_device_id,
};
use super::{Counts, Options, Output, Rec, batch, convert_one, is_entity, reject_whole};
use crate::calls::{CallType, Member, Val};
use crate::json::Raw;
use crate::json::{Kind, Nested, RawMap, Record};
use crate::reject::{Reject, reject};
use std::borrow::Cow;

/// The endpoint an HTTP call addressed, with its path parameters (percent-decoded).
#[derive(Debug)]
enum Route<'p> {
    Identify(Cow<'p, str>),
    DeletePerson(Cow<'p, str>),
    Event(Cow<'p, str>),
    AnonymousEvent,
    AddDevice(Cow<'p, str>),
    DeleteDevice(Cow<'p, str>, Cow<'p, str>),
    Suppress(Cow<'p, str>),
    Unsuppress(Cow<'p, str>),
    Merge,
    FormSubmit,
    Metrics,
    PushEvents,
    V2Entity,
    V2Batch,
}

/// Converts one logged HTTP call.
pub fn http(opts: &Options, out: &mut Output, line: &[u8], record: &Record) -> Counts {
    match http_inner(opts, out, line, record) {
        Ok(counts) => counts,
        Err(r) => reject_whole(out, r),
    }
}

fn http_inner(
    opts: &Options,
    out: &mut Output,
    line: &[u8],
    record: &Record,
) -> Result<Counts, Reject> {
    let map = &record.map;
    if !opts.keep_failed_calls {
        failed_status(map)?;
    }
    let call_time = envelope_time(map)?;
    let method = opt_str(map, "method", "")?.unwrap_or_default();
    let target = match opt_str(map, "path", "")? {
        Some(p) => p,
        None => url_path(opt_str(map, "url", "")?.unwrap_or_default()),
    };
    let path = target.split(['?', '#']).next().unwrap_or("");
    let segments = decode_segments(path)?;
    let route = route(&method, path, &segments)?;
    let from_text;
    let empty = RawMap::default();
    let body_map = match &record.body {
        None | Some(Nested::Other(Kind::Null)) => &empty,
        Some(Nested::Map(m)) => m,
        // A string holding the body's JSON text; an empty one counts as no body.
        Some(Nested::Text(t)) if t.trim().is_empty() => &empty,
        Some(Nested::Text(t)) => {
            from_text = parse_body(t)?;
            &from_text
        }
        Some(Nested::Other(k)) => {
            return Err(reject!(
                InvalidField,
                "body must be a JSON object or a string holding one, got {}",
                k.article_name()
            ));
        }
    };
    Ok(match route {
        Route::V2Entity => {
            if !is_entity(body_map)? {
                return Err(reject!(
                    UnknownShape,
                    "the body of POST /api/v2/entity is not a v2 entity: it needs type and action"
                ));
            }
            convert_one(opts, out, line, call_time, None, |rec| {
                v2::entity(rec, body_map)
            })
        }
        Route::V2Batch => match body_map.get("batch") {
            Some(items) if Kind::of(items) == Kind::Array => batch(opts, out, items, call_time),
            Some(items) => {
                return Err(reject!(
                    InvalidField,
                    "body.batch must be an array, got {}",
                    Kind::of(items).article_name()
                ));
            }
            None => {
                return Err(reject!(
                    MissingField,
                    "body.batch is required for POST /api/v2/batch"
                ));
            }
        },
        route => convert_one(opts, out, line, call_time, None, |rec| {
            v1_call(rec, route, body_map)
        }),
    })
}

/// A logged answer that says the call failed at the time (docs/mapping.md, "Calls that failed
/// at the time"): `status` or `status_code`, a number or a numeric string, not 2xx. Any other
/// value is ignored. Looked at before the body, so a failed `/api/v2/batch` call is one reject.
fn failed_status(map: &RawMap) -> Result<(), Reject> {
    for key in ["status", "status_code"] {
        let Some(v) = map.get(key) else { continue };
        let text = match Kind::of(v) {
            Kind::Number => v.get(),
            Kind::String => v.get().trim_matches('"').trim(),
            _ => continue,
        };
        let status = match text.parse::<i64>() {
            Ok(n) => n,
            // A number written with a fraction or an exponent (`400.0`, `4e2`).
            Err(_) => match text.parse::<f64>() {
                Ok(f) if f.is_finite() && f.fract() == 0.0 => f as i64,
                _ => continue,
            },
        };
        if !(200..300).contains(&status) {
            return Err(reject!(
                OriginalCallFailed,
                "the Track API answered this call with status {status} ({key}): it changed \
                 nothing then, and replaying it would (--keep-failed-calls converts it anyway)"
            ));
        }
    }
    Ok(())
}

/// The envelope's call time: `timestamp`, `received_at` or `sent_at`, the first present.
fn envelope_time(map: &RawMap) -> Result<Option<i64>, Reject> {
    for key in ["timestamp", "received_at", "sent_at"] {
        if map.has(key) {
            return opt_time(map, key, "");
        }
    }
    Ok(None)
}

/// The path of a full URL (`https://host/v1/x?q` → `/v1/x?q`).
fn url_path(url: Cow<'_, str>) -> Cow<'_, str> {
    let cut = |s: &str| -> usize {
        match s.find("://") {
            Some(i) => {
                let rest = &s[i + 3..];
                i + 3 + rest.find(['/', '?', '#']).unwrap_or(rest.len())
            }
            None => 0,
        }
    };
    match url {
        Cow::Borrowed(s) => Cow::Borrowed(&s[cut(s)..]),
        Cow::Owned(s) => Cow::Owned(s[cut(&s)..].to_owned()),
    }
}

/// Splits a path into percent-decoded segments, dropping the leading `/` and an `api` prefix.
fn decode_segments(path: &str) -> Result<Vec<Cow<'_, str>>, Reject> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let mut segs = path
        .split('/')
        .map(percent_decode)
        .collect::<Result<Vec<_>, _>>()?;
    if segs.first().is_some_and(|s| s == "api") {
        segs.remove(0);
    }
    Ok(segs)
}

/// Percent-decodes one path segment (`+` stays a plus; a `%` not followed by two hex digits
/// is kept as it is).
pub fn percent_decode(seg: &str) -> Result<Cow<'_, str>, Reject> {
    if !seg.contains('%') {
        return Ok(Cow::Borrowed(seg));
    }
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).map(Cow::Owned).map_err(|_| {
        reject!(
            InvalidField,
            "path segment {seg:?} is not valid UTF-8 once percent-decoded"
        )
    })
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn route<'p>(method: &str, path: &str, segs: &[Cow<'p, str>]) -> Result<Route<'p>, Reject> {
    let m = method.to_ascii_uppercase();
    let s: Vec<&str> = segs.iter().map(|c| c.as_ref()).collect();
    let id = |k: usize| segs[k].clone();
    let wrong = |expected: &str| {
        reject!(
            UnknownCall,
            "{m} {path} is not a Track API call (that endpoint takes {expected})"
        )
    };
    let none = |what: &str| {
        reject!(
            NoPipelinesEquivalent,
            "{m} {path}: {what} has no Pipelines equivalent"
        )
    };
    let r = match (m.as_str(), s.as_slice()) {
        ("PUT", ["v1", "customers", _]) => Route::Identify(id(2)),
        ("DELETE", ["v1", "customers", _]) => Route::DeletePerson(id(2)),
        (_, ["v1", "customers", _]) => return Err(wrong("PUT or DELETE")),
        ("POST", ["v1", "customers", _, "events"]) => Route::Event(id(2)),
        ("PUT", ["v1", "customers", _, "devices"]) => Route::AddDevice(id(2)),
        ("DELETE", ["v1", "customers", _, "devices", _]) => Route::DeleteDevice(id(2), id(4)),
        ("POST", ["v1", "customers", _, "suppress"]) => Route::Suppress(id(2)),
        ("POST", ["v1", "customers", _, "unsuppress"]) => Route::Unsuppress(id(2)),
        (_, ["v1", "customers", _, "devices"]) => return Err(wrong("PUT")),
        (_, ["v1", "customers", _, "devices", _]) => return Err(wrong("DELETE")),
        (_, ["v1", "customers", _, "events" | "suppress" | "unsuppress"]) => {
            return Err(wrong("POST"));
        }
        ("POST", ["v1", "events"]) => Route::AnonymousEvent,
        ("POST", ["v1", "merge_customers"]) => Route::Merge,
        ("POST", ["v1", "metrics"]) => Route::Metrics,
        ("POST", ["v1", "push", "events"] | ["push", "events"]) => Route::PushEvents,
        ("POST", ["v2", "entity"]) => Route::V2Entity,
        ("POST", ["v2", "batch"]) => Route::V2Batch,
        (
            _,
            ["v1", "events" | "merge_customers" | "metrics"]
            | ["v1", "push", "events"]
            | ["push", "events"]
            | ["v2", "entity" | "batch"],
        ) => return Err(wrong("POST")),
        ("POST", ["v1", "segments", _, "add_customers" | "remove_customers"]) => {
            return Err(none("adding people to a manual segment"));
        }
        ("POST", ["unsubscribe", _] | ["v1", "unsubscribe", _]) => {
            return Err(none("a custom unsubscribe"));
        }
        ("POST", ["v1", "forms", _, "submit"]) => Route::FormSubmit,
        (_, ["v1", "forms", _, "submit"]) => return Err(wrong("POST")),
        _ => {
            return Err(reject!(
                UnknownCall,
                "{m} {path} is not a Track API call this tool knows"
            ));
        }
    };
    Ok(r)
}

fn parse_body(text: &str) -> Result<RawMap<'_>, Reject> {
    if let Some(at) = crate::json::lone_surrogate(text.as_bytes()) {
        return Err(reject!(
            InvalidJson,
            "body: {} at byte {at} is half of a UTF-16 surrogate pair without its other half",
            &text[at..at + 6]
        ));
    }
    let raw: Raw = crate::json::parse_raw(text)
        .map_err(|e| reject!(InvalidJson, "body is not valid JSON: {e}"))?;
    if Kind::of(raw) != Kind::Object {
        return Err(reject!(
            InvalidField,
            "body must be a JSON object, got {}",
            Kind::of(raw).article_name()
        ));
    }
    parse_obj(raw)
}

/// Keys of a v1 identify body that are not traits.
const IDENTIFY_SKIP: [&str; 6] = [
    "id",
    "email",
    "cio_id",
    "anonymous_id",
    "_timestamp",
    "cio_relationships",
];

fn v1_call(rec: &mut Rec, route: Route, body: &RawMap) -> Result<(), Reject> {
    match route {
        Route::Identify(seg) => identify(rec, seg, body),
        Route::DeletePerson(seg) => status_track(rec, seg, "User Deleted"),
        Route::Suppress(seg) => status_track(rec, seg, "User Suppressed"),
        Route::Unsuppress(seg) => status_track(rec, seg, "User Unsuppressed"),
        Route::Event(seg) => event(rec, Person::from_segment(seg)?, body),
        Route::AnonymousEvent => anonymous_event(rec, body),
        Route::AddDevice(seg) => add_device(rec, seg, body),
        Route::DeleteDevice(seg, token) => delete_device(rec, seg, token),
        Route::Merge => v2::merge(rec, body, "body", None),
        Route::FormSubmit => form_submit(rec, body),
        Route::Metrics => metrics(rec, body),
        Route::PushEvents => push_events(rec, body),
        Route::V2Entity | Route::V2Batch => unreachable!("v2 routes are handled by http()"),
    }
}

/// A track named `event` about the person in the path, at the call time (delete, suppress,
/// unsuppress).
fn status_track(rec: &mut Rec, seg: Cow<str>, event: &'static str) -> Result<(), Reject> {
    let person = Person::from_segment(seg)?;
    rec.emit(&person_track(&person, event, rec.time(None)?))
}

/// `POST /api/v1/events`: an event about `body.anonymous_id`; without one (an invite event)
/// there is no Pipelines equivalent.
fn anonymous_event(rec: &mut Rec, body: &RawMap) -> Result<(), Reject> {
    let Some(anon) = body.get("anonymous_id") else {
        return Err(reject!(
            NoPipelinesEquivalent,
            "an anonymous event without body.anonymous_id (an invite event sent to \
             data.recipient) has no Pipelines equivalent"
        ));
    };
    event(rec, Person::anonymous(anon, "body")?, body)
}

/// `PUT /api/v1/customers/{id}/devices`: `Device Created or Updated` for `body.device`, timed
/// by its `last_used` if it has one.
fn add_device(rec: &mut Rec, seg: Cow<str>, body: &RawMap) -> Result<(), Reject> {
    let person = Person::from_segment(seg)?;
    let Some(device) = opt_obj(body, "device", "body")? else {
        return Err(reject!(MissingField, "body.device is required"));
    };
    let token = v1_device_id(&device, "body.device")?;
    let platform = opt_str(&device, "platform", "body.device")?;
    let ts = rec.time(opt_time(&device, "last_used", "body.device")?)?;
    let mut call = person_track(&person, "Device Created or Updated", ts);
    call.device = Some(device_context(token, platform));
    call.properties = Some(device_properties(&device, "id", "body.device")?);
    rec.emit(&call)
}

/// `DELETE /api/v1/customers/{id}/devices/{token}`: `Device Deleted` for a non-empty token.
fn delete_device(rec: &mut Rec, seg: Cow<str>, token: Cow<str>) -> Result<(), Reject> {
    let person = Person::from_segment(seg)?;
    if token.is_empty() {
        return Err(reject!(
            MissingField,
            "the device token in the path is empty"
        ));
    }
    let mut call = person_track(&person, "Device Deleted", rec.time(None)?);
    call.device = Some(device_context(token, None));
    rec.emit(&call)
}

/// `POST /api/v1/metrics`: a delivery event of `body.metric`, with the body's `recipient`,
/// `reason` and `href` as properties.
fn metrics(rec: &mut Rec, body: &RawMap) -> Result<(), Reject> {
    let (id, id_raw) = delivery_id(body)?;
    let metric = req_name(body, "metric", "body")?;
    let ts = rec.time(opt_time(body, "timestamp", "body")?)?;
    let mut call = delivery_call(id, id_raw, metric, ts);
    let props = call.properties.get_or_insert_with(Vec::new);
    for (key, out_key) in [
        ("recipient", "recipient"),
        ("reason", "reason"),
        ("href", "href"),
    ] {
        if let Some(v) = body.get(key) {
            props.push(Member::Pair(out_key, Val::raw(v)));
        }
    }
    rec.emit(&call)
}

/// `POST /api/v1/push/events`: a delivery event of `body.event`, its recipient the body's
/// `device_id`.
fn push_events(rec: &mut Rec, body: &RawMap) -> Result<(), Reject> {
    let (id, id_raw) = delivery_id(body)?;
    let metric = req_name(body, "event", "body")?;
    let ts = rec.time(opt_time(body, "timestamp", "body")?)?;
    let mut call = delivery_call(id, id_raw, metric, ts);
    if let Some(device) = body.get("device_id") {
        let props = call.properties.get_or_insert_with(Vec::new);
        props.push(Member::Pair("recipient", Val::raw(device)));
    }
    rec.emit(&call)
}

fn delivery_id<'a>(body: &RawMap<'a>) -> Result<(Cow<'a, str>, Raw<'a>), Reject> {
    let Some(raw) = body.get("delivery_id") else {
        return Err(reject!(MissingField, "body.delivery_id is required"));
    };
    Ok((id_text(raw, "body", "delivery_id")?, raw))
}

fn identify(rec: &mut Rec, seg: Cow<str>, body: &RawMap) -> Result<(), Reject> {
    let mut person = Person::from_segment(seg)?;
    for key in ["id", "email", "cio_id"] {
        if let Some(raw) = body.get(key) {
            person.add_body_identifier(key, raw)?;
        }
    }
    let anonymous_id = match body.get("anonymous_id") {
        Some(a) => Some(id_text(a, "body", "anonymous_id")?),
        None => None,
    };
    let ts = rec.time(opt_time(body, "_timestamp", "body")?)?;
    let (rel_action, rels) = v1_relationships(body)?;
    let mut call = person_call(CallType::Identify, &person, ts);
    call.anonymous_id = anonymous_id;
    let mut traits = vec![Member::Spread {
        entries: &body.entries,
        skip: &IDENTIFY_SKIP,
    }];
    if rec.opts.email_trait {
        // The body's `email` is an identifier, never a trait: traits hold no email.
        email_trait(&person, &mut traits, false);
    }
    call.traits = Some(traits);
    rec.emit(&call)?;
    let list = List {
        elements: &rels,
        action: rel_action,
        at: "body.cio_relationships",
        timestamp: ts,
    };
    relationships::from_person(rec, &person, list)
}

/// `POST /api/v1/forms/{form_id}/submit`: an identify of the person `data.id` or `data.email`
/// names (exactly one of them), with the other `data` fields as traits and the envelope's call
/// time as timestamp.
fn form_submit(rec: &mut Rec, body: &RawMap) -> Result<(), Reject> {
    const AT: &str = "body.data";
    let Some(data) = opt_obj(body, "data", "body")? else {
        return Err(reject!(
            MissingIdentifier,
            "a form submission names its person by {AT}.id or {AT}.email; {AT} is absent"
        ));
    };
    let (key, raw) = match (data.get("id"), data.get("email")) {
        (Some(id), None) => ("id", id),
        (None, Some(email)) => ("email", email),
        (None, None) => {
            return Err(reject!(
                MissingIdentifier,
                "a form submission names its person by {AT}.id or {AT}.email; it has neither"
            ));
        }
        (Some(_), Some(_)) => {
            return Err(reject!(
                InvalidField,
                "a form submission names its person by exactly one of {AT}.id and {AT}.email; \
                 it has both"
            ));
        }
    };
    let person = Person::single(key, raw, AT)?;
    let mut call = person_call(CallType::Identify, &person, rec.time(None)?);
    let mut traits = vec![Member::Spread {
        entries: &data.entries,
        skip: &["id", "email"],
    }];
    if rec.opts.email_trait {
        email_trait(&person, &mut traits, false);
    }
    call.traits = Some(traits);
    rec.emit(&call)
}

/// `cio_relationships` of a v1 identify: the v1 object form (`{"action", "relationships"}`,
/// no action meaning add) or a bare array (add).
fn v1_relationships<'a>(body: &RawMap<'a>) -> Result<(Action, Vec<Raw<'a>>), Reject> {
    let Some(raw) = body.get("cio_relationships") else {
        return Ok((Action::Add, Vec::new()));
    };
    match Kind::of(raw) {
        Kind::Array => Ok((
            Action::Add,
            opt_array(body, "cio_relationships", "body")?.unwrap_or_default(),
        )),
        Kind::Object => {
            let map = parse_obj(raw)?;
            let at = "body.cio_relationships";
            let action = match opt_str(&map, "action", at)?.as_deref() {
                None | Some("add_relationships" | "add_relationship") => Action::Add,
                Some("delete_relationships" | "delete_relationship") => Action::Delete,
                Some(other) => {
                    return Err(reject!(
                        InvalidField,
                        "{at}.action must be add_relationships or delete_relationships, got {other:?}"
                    ));
                }
            };
            match opt_array(&map, "relationships", at)? {
                Some(list) => Ok((action, list)),
                None => Err(reject!(MissingField, "{at}.relationships is required")),
            }
        }
        k => Err(reject!(
            InvalidField,
            "body.cio_relationships must be an object or an array, got {}",
            k.article_name()
        )),
    }
}

fn event(rec: &mut Rec, person: Person, body: &RawMap) -> Result<(), Reject> {
    let name = req_name(body, "name", "body")?;
    let kind = match opt_str(body, "type", "body")?.as_deref() {
        Some("page") => CallType::Page,
        Some("screen") => CallType::Screen,
        _ => CallType::Track,
    };
    let ts = rec.time(opt_time(body, "timestamp", "body")?)?;
    let mut call = person_call(kind, &person, ts);
    set_event(&mut call, name, opt_raw_obj(body, "data", "body")?)?;
    call.message_id = ulid_id(body);
    rec.emit(&call)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("bob%2Bnews%40example.com").unwrap(),
            "bob+news@example.com"
        );
        assert_eq!(percent_decode("a+b").unwrap(), "a+b");
        assert_eq!(percent_decode("100%").unwrap(), "100%");
        assert_eq!(percent_decode("%zz%4").unwrap(), "%zz%4");
        assert_eq!(percent_decode("caf%C3%A9").unwrap(), "café");
        assert!(percent_decode("%FF").is_err());
    }

    #[test]
    fn url_paths() {
        assert_eq!(
            url_path("https://track.customer.io/v1/customers/42?x=1".into()),
            "/v1/customers/42?x=1"
        );
        assert_eq!(url_path("https://host".into()), "");
        assert_eq!(url_path("/api/v1/x".into()), "/api/v1/x");
    }
}
