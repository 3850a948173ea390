//! Who a call is about: people (from a v1 path segment or v2 `identifiers`) and objects, with
//! the ids their calls carry (`userId`, `anonymousId`, `groupId`) and the
//! `context.journeys.identifiers` members they contribute.

use super::fields::{id_text, path};
use crate::calls::{Member, Obj, Val};
use crate::json::Raw;
use crate::json::RawMap;
use crate::reject::{Reject, reject};
use std::borrow::Cow;

/// Person identifier keys in the order `identifiers` lists them.
const PERSON_KEYS: [&str; 4] = ["id", "email", "cio_id", "phone"];
/// The order in which they make the Pipelines id.
const PID_ORDER: [usize; 4] = [0, 2, 1, 3];

/// A person, or an anonymous visitor.
#[derive(Debug, Clone, Default)]
pub struct Person<'a> {
    /// PID (`userId`).
    pub user_id: Option<Cow<'a, str>>,
    pub anonymous_id: Option<Cow<'a, str>>,
    /// `anonymous_id` as given in the input, for `identifiers`.
    anonymous_raw: Option<Raw<'a>>,
    /// Values of `id`, `email`, `cio_id` (bare), `phone`, as given.
    ids: [Option<Val<'a>>; 4],
    /// True when the person is known only by `anonymous_id`.
    pub anonymous: bool,
}

impl<'a> Person<'a> {
    /// The person named by a v1 path segment (already percent-decoded).
    pub fn from_segment(seg: Cow<'a, str>) -> Result<Person<'a>, Reject> {
        if seg.is_empty() {
            return Err(reject!(
                MissingIdentifier,
                "the customer identifier in the path is empty"
            ));
        }
        let mut p = Person::default();
        if let Some(bare) = seg.strip_prefix("cio_") {
            if bare.is_empty() {
                return Err(reject!(
                    MissingIdentifier,
                    "the cio_ identifier in the path is empty"
                ));
            }
            let bare = match &seg {
                Cow::Borrowed(b) => Cow::Borrowed(&b[4..]),
                Cow::Owned(_) => Cow::Owned(bare.to_owned()),
            };
            p.ids[2] = Some(Val::Str(bare));
        } else if seg.contains('@') {
            p.ids[1] = Some(Val::Str(seg.clone()));
        } else {
            p.ids[0] = Some(Val::Str(seg.clone()));
        }
        p.user_id = Some(seg);
        Ok(p)
    }

    /// The person named by a v2 `identifiers` object (`at` is its path, for messages).
    pub fn from_identifiers(map: &RawMap<'a>, at: &str) -> Result<Person<'a>, Reject> {
        let mut p = Person::default();
        let mut texts: [Option<Cow<'a, str>>; 4] = Default::default();
        for (k, key) in PERSON_KEYS.iter().enumerate() {
            if let Some(raw) = map.get(key) {
                texts[k] = Some(id_text(raw, at, key)?);
                p.ids[k] = Some(Val::raw(raw));
            }
        }
        if let Some(raw) = map.get("anonymous_id") {
            p.anonymous_id = Some(id_text(raw, at, "anonymous_id")?);
            p.anonymous_raw = Some(raw);
        }
        p.user_id = PID_ORDER
            .iter()
            .find_map(|&k| texts[k].take().map(|t| pid(PERSON_KEYS[k], t)));
        if p.user_id.is_none() {
            if p.anonymous_id.is_none() {
                return Err(reject!(
                    MissingIdentifier,
                    "{at} has none of id, email, cio_id, phone (or anonymous_id)"
                ));
            }
            p.anonymous = true;
        }
        Ok(p)
    }

    /// The person a single identifier names: `key` is `id` or `email` (a form submission's
    /// `data.id` / `data.email`); `at` is its parent's path, for messages.
    pub fn single(key: &str, raw: Raw<'a>, at: &str) -> Result<Person<'a>, Reject> {
        let Some(k) = PERSON_KEYS.iter().position(|p| *p == key) else {
            return Err(reject!(
                InvalidField,
                "{} is not a person identifier",
                path(at, key)
            ));
        };
        let text = id_text(raw, at, key)?;
        let mut p = Person::default();
        p.ids[k] = Some(Val::raw(raw));
        p.user_id = Some(pid(key, text));
        Ok(p)
    }

    /// The person's `email` identifier as given, if it has one.
    pub fn email(&self) -> Option<Val<'a>> {
        if self.anonymous {
            return None;
        }
        self.ids[1].clone()
    }

    /// An anonymous visitor, from an `anonymous_id` value (`at` is its parent's path).
    pub fn anonymous(raw: Raw<'a>, at: &str) -> Result<Person<'a>, Reject> {
        Ok(Person {
            anonymous_id: Some(id_text(raw, at, "anonymous_id")?),
            anonymous_raw: Some(raw),
            anonymous: true,
            ..Person::default()
        })
    }

    /// Adds an identifier the body of a v1 identify names, unless the path named that kind.
    pub fn add_body_identifier(&mut self, key: &str, raw: Raw<'a>) -> Result<(), Reject> {
        let Some(k) = PERSON_KEYS.iter().position(|p| *p == key) else {
            return Ok(());
        };
        id_text(raw, "body", key)?;
        if self.ids[k].is_none() {
            self.ids[k] = Some(Val::raw(raw));
        }
        Ok(())
    }

    /// Appends this person's `identifiers` members.
    pub fn push_ids(&self, obj: &mut Obj<'a>) {
        if self.anonymous {
            if let Some(a) = self.anonymous_raw {
                obj.push(Member::Pair("anonymous_id", Val::raw(a)));
            }
            return;
        }
        for (k, v) in self.ids.iter().enumerate() {
            if let Some(v) = v {
                obj.push(Member::Pair(PERSON_KEYS[k], v.clone()));
            }
        }
    }

    pub fn ids(&self) -> Obj<'a> {
        let mut o = Vec::with_capacity(4);
        self.push_ids(&mut o);
        o
    }
}

/// P(x): the Pipelines id for an identifier of kind `key`.
pub fn pid<'a>(key: &str, text: Cow<'a, str>) -> Cow<'a, str> {
    if key == "cio_id" {
        Cow::Owned(format!("cio_{text}"))
    } else {
        text
    }
}

/// The one identifier of a merge side (`primary` / `secondary`): exactly one of `id`, `email`,
/// `cio_id`. Returns (P(x), the identifiers member).
pub fn merge_side<'a>(map: &RawMap<'a>, at: &str) -> Result<(Cow<'a, str>, Member<'a>), Reject> {
    let mut found = None;
    for key in ["id", "email", "cio_id"] {
        if let Some(raw) = map.get(key) {
            if found.is_some() {
                return Err(reject!(
                    InvalidField,
                    "{at} must hold exactly one of id, email, cio_id, got several"
                ));
            }
            found = Some((key, raw));
        }
    }
    let Some((key, raw)) = found else {
        return Err(reject!(
            InvalidField,
            "{at} must hold exactly one of id, email, cio_id, got none"
        ));
    };
    let text = id_text(raw, at, key)?;
    Ok((pid(key, text), Member::Pair(static_key(key), Val::raw(raw))))
}

fn static_key(key: &str) -> &'static str {
    match key {
        "id" => "id",
        "email" => "email",
        "cio_id" => "cio_id",
        _ => "phone",
    }
}

/// An object (a "group" in Pipelines terms).
#[derive(Debug, Clone)]
pub struct Object<'a> {
    /// `groupId`: `object_id`, or `cio_object_id`.
    pub group_id: Cow<'a, str>,
    /// `object_type_id` as given (None when absent or when the object is named by `cio_object_id`).
    pub type_id: Option<(Raw<'a>, Cow<'a, str>)>,
    /// Named by `cio_object_id`.
    pub cio: bool,
    ids: Obj<'a>,
}

impl<'a> Object<'a> {
    pub fn from_identifiers(map: &RawMap<'a>, at: &str) -> Result<Object<'a>, Reject> {
        if let Some(raw) = map.get("object_id") {
            let group_id = id_text(raw, at, "object_id")?;
            let mut ids = Vec::with_capacity(2);
            let type_id = match map.get("object_type_id") {
                Some(t) => {
                    let text = id_text(t, at, "object_type_id")?;
                    ids.push(Member::Pair("object_type_id", Val::raw(t)));
                    Some((t, text))
                }
                None => None,
            };
            ids.push(Member::Pair("object_id", Val::raw(raw)));
            return Ok(Object {
                group_id,
                type_id,
                cio: false,
                ids,
            });
        }
        if let Some(raw) = map.get("cio_object_id") {
            let group_id = id_text(raw, at, "cio_object_id")?;
            return Ok(Object {
                group_id,
                type_id: None,
                cio: true,
                ids: vec![Member::Pair("cio_object_id", Val::raw(raw))],
            });
        }
        Err(reject!(
            MissingIdentifier,
            "{} needs object_id (with object_type_id) or cio_object_id",
            if at.is_empty() { "identifiers" } else { at }
        ))
    }

    /// Group traits' `object_type_id`: the input's text as a string, `"1"` when absent, nothing
    /// for `cio_object_id`.
    pub fn type_trait(&self) -> Option<Member<'a>> {
        if self.cio {
            return None;
        }
        let text = self
            .type_id
            .as_ref()
            .map_or(Cow::Borrowed("1"), |(_, t)| t.clone());
        Some(Member::Pair("object_type_id", Val::Str(text)))
    }

    /// `objectTypeId` for Relationship/Object Deleted: a JSON integer when the input is a
    /// decimal integer (`1` when absent), else the input's value unchanged; nothing for
    /// `cio_object_id`.
    pub fn type_property(&self) -> Option<Member<'a>> {
        if self.cio {
            return None;
        }
        let val = match &self.type_id {
            None => Val::Raw(Cow::Borrowed("1")),
            Some((raw, text)) => match decimal_integer(text) {
                Some(int) => Val::Raw(int),
                None => Val::raw(*raw),
            },
        };
        Some(Member::Pair("objectTypeId", val))
    }

    pub fn push_ids(&self, obj: &mut Obj<'a>) {
        obj.extend(self.ids.iter().cloned());
    }
}

/// `text` as a canonical JSON integer if it is a decimal integer (`-?[0-9]+`).
fn decimal_integer<'a>(text: &Cow<'a, str>) -> Option<Cow<'a, str>> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.as_ref()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
    if !neg && trimmed.len() == text.len() {
        return Some(text.clone());
    }
    Some(Cow::Owned(if neg && trimmed != "0" {
        format!("-{trimmed}")
    } else {
        trimmed.to_owned()
    }))
}

/// Identifier of a person or object in a relationship list element, for messages.
pub fn element_path(at: &str, k: usize) -> String {
    path(at, &format!("{k}.identifiers"))
}
