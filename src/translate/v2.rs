//! v2 entities (`/api/v2/entity` bodies and v2 batch elements): person, object and delivery
//! actions.

use super::Rec;
use super::fields::{
    id_text, opt_array, opt_obj, opt_raw_obj, opt_str, opt_time, parse_obj, req_name,
};
use super::identity::{Object, Person, merge_side};
use super::relationships::{self, Action, List, People};
use crate::calls::{Call, CallType, Member, Obj, Val};
use crate::json::Raw;
use crate::json::{Kind, RawMap, decode_str};
use crate::msgid::is_ulid;
use crate::reject::{Reject, reject};
use std::borrow::Cow;

/// Converts one v2 entity (its `type` already checked to be a v2 type).
pub fn entity(rec: &mut Rec, map: &RawMap) -> Result<(), Reject> {
    let ty = map
        .get("type")
        .and_then(|t| decode_str(t).ok())
        .unwrap_or_default();
    let action = opt_str(map, "action", "")?.unwrap_or_default();
    match ty.as_ref() {
        "person" => person(rec, map, &action),
        "delivery" => delivery(rec, map, &action),
        _ => object(rec, map, &action),
    }
}

const PERSON_ACTIONS: &str = "identify, event, page, screen, delete, suppress, unsuppress, \
    add_relationships, delete_relationships, add_device, delete_device, merge";

/// A valid ULID `id` field, borrowed from the input.
pub fn ulid_id<'a>(map: &RawMap<'a>) -> Option<&'a str> {
    let raw = map.get("id")?.get();
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    is_ulid(inner).then_some(inner)
}

/// A call about `person` with its ids filled in.
pub fn person_call<'a>(kind: CallType, person: &Person<'a>, timestamp: i64) -> Call<'a> {
    let mut call = Call::new(kind, person.ids(), timestamp);
    call.user_id = person.user_id.clone();
    call.anonymous_id = person.anonymous_id.clone();
    call
}

/// A `track` call named `event` about `person`, with empty properties.
pub fn person_track<'a>(person: &Person<'a>, event: &'static str, timestamp: i64) -> Call<'a> {
    let mut call = person_call(CallType::Track, person, timestamp);
    call.event = Some(Cow::Borrowed(event));
    call.properties = Some(Vec::new());
    call
}

/// `properties` copied from an optional raw object (`{}` when absent).
pub fn inline(raw: Option<Raw<'_>>) -> Obj<'_> {
    raw.map(|r| vec![Member::Inline(r)]).unwrap_or_default()
}

/// A page call's `properties`: the given object, then `"url"` = the page name when the object
/// has no `url` key (docs/mapping.md §3.3). A `url` key holding `null`
/// counts as present, so that the call never holds the key twice.
pub fn page_properties<'a>(raw: Option<Raw<'a>>, name: &Cow<'a, str>) -> Result<Obj<'a>, Reject> {
    let has_url = match raw {
        Some(r) => parse_obj(r)?.entries.iter().any(|(k, _)| k == "url"),
        None => false,
    };
    let mut props = inline(raw);
    if !has_url {
        props.push(Member::Pair("url", Val::Str(name.clone())));
    }
    Ok(props)
}

/// `--email-trait`: appends `"email"` (the person's email identifier, as given) to an
/// identify's traits, unless `has_email` says the traits already hold one. Callers check
/// [`super::Options::email_trait`].
pub fn email_trait<'a>(person: &Person<'a>, traits: &mut Obj<'a>, has_email: bool) {
    if let Some(email) = person.email()
        && !has_email
    {
        traits.push(Member::Pair("email", email));
    }
}

/// Sets an event, page or screen call's name and `properties` (`raw`, the event's data).
pub fn set_event<'a>(
    call: &mut Call<'a>,
    name: Cow<'a, str>,
    raw: Option<Raw<'a>>,
) -> Result<(), Reject> {
    match call.kind {
        CallType::Track => {
            call.properties = Some(inline(raw));
            call.event = Some(name);
        }
        CallType::Page => {
            call.properties = Some(page_properties(raw, &name)?);
            call.name = Some(name);
        }
        _ => {
            call.properties = Some(inline(raw));
            call.name = Some(name);
        }
    }
    Ok(())
}

fn relationships_list<'a>(map: &RawMap<'a>, action: &str) -> Result<Vec<Raw<'a>>, Reject> {
    match opt_array(map, "cio_relationships", "")? {
        Some(list) if !list.is_empty() => Ok(list),
        _ => Err(reject!(
            MissingField,
            "cio_relationships is required (a non-empty array) for {action}"
        )),
    }
}

/// Refuses a person action that is not a Track call.
fn check_person_action(action: &str) -> Result<(), Reject> {
    let known = matches!(
        action,
        "identify"
            | "event"
            | "page"
            | "screen"
            | "delete"
            | "suppress"
            | "unsuppress"
            | "add_relationships"
            | "add_relationship"
            | "delete_relationships"
            | "delete_relationship"
            | "add_device"
            | "delete_device"
            | "remove_device"
            | "merge"
    );
    if !known {
        return Err(reject!(
            UnknownCall,
            "person action {action:?} is not a Track call (expected one of {PERSON_ACTIONS})"
        ));
    }
    Ok(())
}

fn person(rec: &mut Rec, map: &RawMap, action: &str) -> Result<(), Reject> {
    check_person_action(action)?;
    let own_time = opt_time(map, "timestamp", "")?;
    if action == "merge" {
        return merge(rec, map, "", own_time);
    }
    let Some(ids) = opt_obj(map, "identifiers", "")? else {
        return Err(reject!(
            MissingIdentifier,
            "identifiers is required for a person call"
        ));
    };
    let person = Person::from_identifiers(&ids, "identifiers")?;
    let ts = rec.time(own_time)?;
    match action {
        "identify" => person_identify(rec, map, &person, ts),
        "event" | "page" | "screen" => person_event(rec, map, &person, action, ts),
        "delete" => rec.emit(&person_track(&person, "User Deleted", ts)),
        "suppress" => rec.emit(&person_track(&person, "User Suppressed", ts)),
        "unsuppress" => rec.emit(&person_track(&person, "User Unsuppressed", ts)),
        "add_relationships" | "add_relationship" => {
            person_relationships(rec, map, &person, action, Action::Add, ts)
        }
        "delete_relationships" | "delete_relationship" => {
            person_relationships(rec, map, &person, action, Action::Delete, ts)
        }
        "add_device" => add_device(rec, map, &person, action, own_time),
        // delete_device | remove_device
        _ => delete_device(rec, map, &person, action, ts),
    }
}

/// A person `identify`: the attributes as traits, then a group call per listed relationship.
fn person_identify(rec: &mut Rec, map: &RawMap, person: &Person, ts: i64) -> Result<(), Reject> {
    let mut call = person_call(CallType::Identify, person, ts);
    let attributes = opt_raw_obj(map, "attributes", "")?;
    let mut traits = inline(attributes);
    if rec.opts.email_trait {
        let has_email = match attributes {
            Some(a) => parse_obj(a)?.entries.iter().any(|(k, _)| k == "email"),
            None => false,
        };
        email_trait(person, &mut traits, has_email);
    }
    call.traits = Some(traits);
    let rels = opt_array(map, "cio_relationships", "")?.unwrap_or_default();
    rec.emit(&call)?;
    let list = List {
        elements: &rels,
        action: Action::Add,
        at: "cio_relationships",
        timestamp: ts,
    };
    relationships::from_person(rec, person, list)
}

/// A person `event`, `page` or `screen`: a track, page or screen call named `name`.
fn person_event(
    rec: &mut Rec,
    map: &RawMap,
    person: &Person,
    action: &str,
    ts: i64,
) -> Result<(), Reject> {
    let name = req_name(map, "name", "")?;
    let kind = match action {
        "page" => CallType::Page,
        "screen" => CallType::Screen,
        _ => CallType::Track,
    };
    let mut call = person_call(kind, person, ts);
    set_event(&mut call, name, opt_raw_obj(map, "attributes", "")?)?;
    call.message_id = ulid_id(map);
    rec.emit(&call)
}

/// A person `add_relationships` or `delete_relationships`: one call per listed object.
fn person_relationships(
    rec: &mut Rec,
    map: &RawMap,
    person: &Person,
    action: &str,
    rel_action: Action,
    ts: i64,
) -> Result<(), Reject> {
    let rels = relationships_list(map, action)?;
    let list = List {
        elements: &rels,
        action: rel_action,
        at: "cio_relationships",
        timestamp: ts,
    };
    relationships::from_person(rec, person, list)
}

/// A person `add_device`: `Device Created or Updated`, timed by the device's `last_used` if it
/// has one.
fn add_device(
    rec: &mut Rec,
    map: &RawMap,
    person: &Person,
    action: &str,
    own_time: Option<i64>,
) -> Result<(), Reject> {
    let device = required_device(map, action)?;
    let token = device_token(&device, "token", "device")?;
    let platform = opt_str(&device, "platform", "device")?;
    let ts = rec.time(opt_time(&device, "last_used", "device")?.or(own_time))?;
    let mut call = person_track(person, "Device Created or Updated", ts);
    call.device = Some(device_context(token, platform));
    call.properties = Some(device_properties(&device, "token", "device")?);
    rec.emit(&call)
}

/// A person `delete_device` or `remove_device`: `Device Deleted`.
fn delete_device(
    rec: &mut Rec,
    map: &RawMap,
    person: &Person,
    action: &str,
    ts: i64,
) -> Result<(), Reject> {
    let device = required_device(map, action)?;
    let token = device_token(&device, "token", "device")?;
    let platform = opt_str(&device, "platform", "device")?;
    let mut call = person_track(person, "Device Deleted", ts);
    call.device = Some(device_context(token, platform));
    rec.emit(&call)
}

/// A device call's `properties`: `device.attributes`, then every other key directly under
/// `device` except the token key (`id` in v1, `token` in v2), `platform`, `last_used` and
/// `attributes`, in input order (v1 and v2 alike).
pub fn device_properties<'a>(
    device: &'a RawMap<'a>,
    token_key: &'static str,
    at: &str,
) -> Result<Obj<'a>, Reject> {
    let mut props = inline(opt_raw_obj(device, "attributes", at)?);
    props.push(Member::Spread {
        entries: &device.entries,
        skip: if token_key == "id" {
            &["id", "platform", "last_used", "attributes"]
        } else {
            &["token", "platform", "last_used", "attributes"]
        },
    });
    Ok(props)
}

fn required_device<'a>(map: &RawMap<'a>, action: &str) -> Result<RawMap<'a>, Reject> {
    opt_obj(map, "device", "")?
        .ok_or_else(|| reject!(MissingField, "device is required for {action}"))
}

/// The device token under `key` (a non-empty string); `at` is the device's path.
pub fn device_token<'a>(device: &RawMap<'a>, key: &str, at: &str) -> Result<Cow<'a, str>, Reject> {
    match opt_str(device, key, at)? {
        Some(t) if !t.is_empty() => Ok(t),
        Some(_) => Err(reject!(MissingField, "{at}.{key} is empty")),
        None => Err(reject!(MissingField, "{at}.{key} is required")),
    }
}

/// A v1 device id: a non-empty string, or a number (as early clients sent), which becomes its
/// text.
pub fn v1_device_id<'a>(device: &RawMap<'a>, at: &str) -> Result<Cow<'a, str>, Reject> {
    match device.get("id") {
        Some(raw) if Kind::of(raw) == Kind::Number => Ok(Cow::Borrowed(raw.get())),
        Some(raw) if Kind::of(raw) != Kind::String => Err(super::fields::wrong_type(
            at,
            "id",
            "a string or a number",
            raw,
        )),
        _ => device_token(device, "id", at),
    }
}

/// `context.device`: `{"token", "type"}`.
pub fn device_context<'a>(token: Cow<'a, str>, platform: Option<Cow<'a, str>>) -> Obj<'a> {
    let mut obj = vec![Member::Pair("token", Val::Str(token))];
    if let Some(p) = platform {
        obj.push(Member::Pair("type", Val::Str(p)));
    }
    obj
}

/// A merge (v1 `merge_customers` body or v2 person `merge`): an `alias` call.
pub fn merge(rec: &mut Rec, map: &RawMap, at: &str, own_time: Option<i64>) -> Result<(), Reject> {
    let side = |key: &str| -> Result<RawMap, Reject> {
        let here = super::fields::path(at, key);
        opt_obj(map, key, at)?
            .ok_or_else(|| reject!(MissingField, "{here} is required for a merge"))
    };
    let (primary, secondary) = (side("primary")?, side("secondary")?);
    let (user_id, member) = merge_side(&primary, &super::fields::path(at, "primary"))?;
    let (previous_id, _) = merge_side(&secondary, &super::fields::path(at, "secondary"))?;
    let mut call = Call::new(CallType::Alias, vec![member], rec.time(own_time)?);
    call.user_id = Some(user_id);
    call.previous_id = Some(previous_id);
    rec.emit(&call)
}

const OBJECT_ACTIONS: &str =
    "identify, identify_anonymous, add_relationships, delete_relationships, delete";

/// What an object action does to the relationships it lists, and how they name people.
fn object_action(action: &str) -> Result<(Action, People), Reject> {
    Ok(match action {
        "identify" => (Action::Add, People::Identified),
        "identify_anonymous" => (Action::Add, People::Anonymous),
        "add_relationships" | "add_relationship" => (Action::Add, People::Identified),
        "delete_relationships" | "delete_relationship" => (Action::Delete, People::Identified),
        "delete" => (Action::Delete, People::Identified),
        _ => {
            return Err(reject!(
                UnknownCall,
                "object action {action:?} is not a Track call (expected one of {OBJECT_ACTIONS})"
            ));
        }
    })
}

fn object(rec: &mut Rec, map: &RawMap, action: &str) -> Result<(), Reject> {
    let (rel_action, people) = object_action(action)?;
    let Some(ids) = opt_obj(map, "identifiers", "")? else {
        return Err(reject!(
            MissingIdentifier,
            "identifiers is required for an object call"
        ));
    };
    let object = Object::from_identifiers(&ids, "identifiers")?;
    let ts = rec.time(opt_time(map, "timestamp", "")?)?;
    match action {
        "identify" | "identify_anonymous" => object_identify(rec, map, &object, people, ts),
        "delete" => rec.emit(&object_deleted(&object, ts)),
        _ => {
            let rels = relationships_list(map, action)?;
            let list = List {
                elements: &rels,
                action: rel_action,
                at: "cio_relationships",
                timestamp: ts,
            };
            relationships::from_object(rec, &object, None, people, list)
        }
    }
}

/// An object `identify` or `identify_anonymous`: a group call per listed person, or one
/// group call about no one (or `anonymous_id`) when none is listed.
fn object_identify(
    rec: &mut Rec,
    map: &RawMap,
    object: &Object,
    people: People,
    ts: i64,
) -> Result<(), Reject> {
    const AT: &str = "cio_relationships";
    let attributes = opt_obj(map, "attributes", "")?;
    let rels = opt_array(map, AT, "")?.unwrap_or_default();
    if !rels.is_empty() {
        let list = List {
            elements: &rels,
            action: Action::Add,
            at: AT,
            timestamp: ts,
        };
        return relationships::from_object(rec, object, attributes.as_ref(), people, list);
    }
    let person = match people {
        People::Identified => Person::default(),
        People::Anonymous => match map.get("anonymous_id") {
            Some(a) => Person::anonymous(a, "")?,
            None => {
                return Err(reject!(
                    MissingIdentifier,
                    "identify_anonymous needs anonymous_id or cio_relationships"
                ));
            }
        },
    };
    let call = relationships::group(object, &person, attributes.as_ref(), None, ts);
    rec.emit(&call)
}

/// An object `delete`: an `Object Deleted` track whose anonymousId names the object.
fn object_deleted<'a>(object: &Object<'a>, ts: i64) -> Call<'a> {
    let mut ids = Vec::with_capacity(2);
    object.push_ids(&mut ids);
    let mut call = Call::new(CallType::Track, ids, ts);
    call.anonymous_id = Some(Cow::Owned(match &object.type_id {
        _ if object.cio => format!("object:{}", object.group_id),
        Some((_, t)) => format!("object:{t}:{}", object.group_id),
        None => format!("object:1:{}", object.group_id),
    }));
    call.event = Some(Cow::Borrowed("Object Deleted"));
    call.properties = Some(relationships::object_properties(object));
    call
}

fn delivery(rec: &mut Rec, map: &RawMap, action: &str) -> Result<(), Reject> {
    if action != "event" {
        return Err(reject!(
            UnknownCall,
            "delivery action {action:?} is not a Track call (expected event)"
        ));
    }
    // A delivery metric without its delivery id is missing_field (docs/mapping.md §9).
    let missing = || {
        reject!(
            MissingField,
            "identifiers.id is required for a delivery event"
        )
    };
    let ids = opt_obj(map, "identifiers", "")?.ok_or_else(missing)?;
    let id_raw = ids.get("id").ok_or_else(missing)?;
    let id = id_text(id_raw, "identifiers", "id")?;
    let metric = req_name(map, "name", "")?;
    let attributes = opt_obj(map, "attributes", "")?;
    let ts = rec.time(opt_time(map, "timestamp", "")?)?;
    let mut call = delivery_call(id, id_raw, metric, ts);
    let props = call.properties.get_or_insert_with(Vec::new);
    if let Some(attrs) = &attributes {
        // Keys the call sets itself are not copied again; an attribute `recipient` is kept
        // unless `device_token` provides the recipient.
        const SKIP: [&str; 4] = ["device_token", "deliveryId", "metric", "recipient"];
        let mut skip: &[&str] = &SKIP[..3];
        if let Some(token) = attrs.get("device_token") {
            props.push(Member::Pair("recipient", Val::raw(token)));
            skip = &SKIP;
        }
        props.push(Member::Spread {
            entries: &attrs.entries,
            skip,
        });
    }
    rec.emit(&call)
}

/// A `Report Delivery Event` track with `deliveryId` and `metric` set; callers add the rest of
/// the properties.
pub fn delivery_call<'a>(
    id: Cow<'a, str>,
    id_raw: Raw<'a>,
    metric: Cow<'a, str>,
    timestamp: i64,
) -> Call<'a> {
    let mut call = Call::new(
        CallType::Track,
        vec![Member::Pair("delivery_id", Val::raw(id_raw))],
        timestamp,
    );
    call.anonymous_id = Some(id.clone());
    call.event = Some(Cow::Borrowed("Report Delivery Event"));
    call.properties = Some(vec![
        Member::Pair("deliveryId", Val::Str(id)),
        Member::Pair("metric", Val::Str(metric)),
    ]);
    call
}
