//! Relationships between people and objects: `group` calls (added) and `Relationship Deleted`
//! tracks (removed), from either side: a person listing objects (v1 identify, v2 person) or an
//! object listing people (v2 object).

use super::Rec;
use super::fields::{opt_raw_obj, parse_obj, path};
use super::identity::{Object, Person, element_path};
use crate::calls::{Call, CallType, Member, Obj, Val};
use crate::json::Raw;
use crate::json::{Kind, RawMap};
use crate::reject::{Reject, reject};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Add,
    Delete,
}

/// One element of a `cio_relationships` list: its `identifiers` and `relationship_attributes`.
struct Element<'a> {
    identifiers: RawMap<'a>,
    attributes: Option<Raw<'a>>,
}

fn element<'a>(raw: Raw<'a>, at: &str, k: usize) -> Result<Element<'a>, Reject> {
    let here = path(at, &k.to_string());
    if Kind::of(raw) != Kind::Object {
        return Err(reject!(
            InvalidField,
            "{here} must be an object, got {}",
            Kind::of(raw).article_name()
        ));
    }
    let map = parse_obj(raw)?;
    let identifiers = match opt_raw_obj(&map, "identifiers", &here)? {
        Some(ids) => parse_obj(ids)?,
        None => return Err(reject!(MissingIdentifier, "{here}.identifiers is required")),
    };
    let attributes = opt_raw_obj(&map, "relationship_attributes", &here)?;
    Ok(Element {
        identifiers,
        attributes,
    })
}

/// The identifiers of a call about an object and a person: the object's first.
fn both_ids<'a>(object: &Object<'a>, person: &Person<'a>) -> Obj<'a> {
    let mut ids = Vec::with_capacity(6);
    object.push_ids(&mut ids);
    person.push_ids(&mut ids);
    ids
}

/// A `group` call. `attributes` are the object's own (object identify calls only).
pub fn group<'a>(
    object: &Object<'a>,
    person: &Person<'a>,
    attributes: Option<&'a RawMap<'a>>,
    relationship: Option<Raw<'a>>,
    timestamp: i64,
) -> Call<'a> {
    let mut traits = Vec::with_capacity(3);
    let type_trait = object.type_trait();
    if let Some(attrs) = attributes {
        // Keys the call sets itself are not copied from the attributes, so none is duplicated.
        const SKIP: [&str; 2] = ["object_type_id", "relationshipAttributes"];
        let skip: &[&str] = match (type_trait.is_some(), relationship.is_some()) {
            (true, true) => &SKIP,
            (true, false) => &SKIP[..1],
            (false, true) => &SKIP[1..],
            (false, false) => &[],
        };
        traits.push(Member::Spread {
            entries: &attrs.entries,
            skip,
        });
    }
    traits.extend(type_trait);
    if let Some(rel) = relationship {
        traits.push(Member::Pair("relationshipAttributes", Val::raw(rel)));
    }
    let mut call = Call::new(CallType::Group, both_ids(object, person), timestamp);
    call.user_id = person.user_id.clone();
    call.anonymous_id = person.anonymous_id.clone();
    call.group_id = Some(object.group_id.clone());
    call.traits = Some(traits);
    call
}

/// `properties` of Relationship Deleted and Object Deleted.
pub fn object_properties<'a>(object: &Object<'a>) -> Obj<'a> {
    let mut props = vec![Member::Pair("objectId", Val::Str(object.group_id.clone()))];
    props.extend(object.type_property());
    props
}

/// A `Relationship Deleted` track.
pub fn relationship_deleted<'a>(
    object: &Object<'a>,
    person: &Person<'a>,
    timestamp: i64,
) -> Call<'a> {
    let mut call = Call::new(CallType::Track, both_ids(object, person), timestamp);
    call.user_id = person.user_id.clone();
    call.anonymous_id = person.anonymous_id.clone();
    call.event = Some(Cow::Borrowed("Relationship Deleted"));
    call.properties = Some(object_properties(object));
    call
}

/// A `cio_relationships` list to turn into calls: its elements, whether they are added or
/// deleted, the list's path (`at`, for messages) and the calls' timestamp.
#[derive(Debug, Clone, Copy)]
pub struct List<'l> {
    pub elements: &'l [Raw<'l>],
    pub action: Action,
    pub at: &'l str,
    pub timestamp: i64,
}

/// A person's relationships to the objects in `list`.
pub fn from_person(rec: &mut Rec, person: &Person, list: List) -> Result<(), Reject> {
    for (k, raw) in list.elements.iter().enumerate() {
        let el = element(*raw, list.at, k)?;
        let here = element_path(list.at, k);
        let object = Object::from_identifiers(&el.identifiers, &here)?;
        let call = match list.action {
            Action::Add => group(&object, person, None, el.attributes, list.timestamp),
            Action::Delete => relationship_deleted(&object, person, list.timestamp),
        };
        rec.emit(&call)?;
    }
    Ok(())
}

/// How an object call names the people in its relationships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum People {
    /// By person identifiers (`id`, `email`, `cio_id`, `phone`, or only `anonymous_id`).
    Identified,
    /// By `anonymous_id` only (`identify_anonymous`).
    Anonymous,
}

/// An object's relationships to the people in `list`, named as `people` says.
pub fn from_object(
    rec: &mut Rec,
    object: &Object,
    attributes: Option<&RawMap>,
    people: People,
    list: List,
) -> Result<(), Reject> {
    for (k, raw) in list.elements.iter().enumerate() {
        let el = element(*raw, list.at, k)?;
        let here = element_path(list.at, k);
        let person = match people {
            People::Identified => Person::from_identifiers(&el.identifiers, &here)?,
            People::Anonymous => match el.identifiers.get("anonymous_id") {
                Some(a) => Person::anonymous(a, &here)?,
                None => {
                    return Err(reject!(
                        MissingIdentifier,
                        "{here}.anonymous_id is required"
                    ));
                }
            },
        };
        let call = match list.action {
            Action::Add => group(object, &person, attributes, el.attributes, list.timestamp),
            Action::Delete => relationship_deleted(object, &person, list.timestamp),
        };
        rec.emit(&call)?;
    }
    Ok(())
}
