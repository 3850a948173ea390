//! Choosing and reshaping the calls that move (docs/transforms.md): the time range
//! (`--since`, `--until`), the call types (`--types`), the event patterns (`--events`,
//! `--exclude-events`) and the jq program of `--transform`. `convert`, `check` and `send` apply
//! one [`Selection`] to each call after the mapping and before the size check, partitioning and
//! sending; a dropped call is counted under its [`Cause`], never an error.
//!
//! The filters look at what the mapping already holds (the call's type, time and event name),
//! so they cost no parse; the transform runs on the serialized call ([`transform`]), read into
//! jq values and written back by `val`.

pub mod transform;
mod val;

use crate::calls::CallType;
use crate::json::{RawMap, decode_str};
pub use transform::{Failure, Shaped, Transform};

/// Why a call was left out, in the order of [`Cause::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Its time is before `--since`.
    Since,
    /// Its time is at or after `--until`.
    Until,
    /// Its type is not one of `--types`.
    Types,
    /// A `track` call whose event `--events` does not take or `--exclude-events` leaves out.
    Events,
    /// The `--transform` program returned nothing for it.
    Transform,
}

impl Cause {
    /// Every cause, in the order of [`Cause::index`].
    pub const ALL: [Cause; 5] = [
        Cause::Since,
        Cause::Until,
        Cause::Types,
        Cause::Events,
        Cause::Transform,
    ];

    /// The cause's name in the summary and the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Since => "since",
            Cause::Until => "until",
            Cause::Types => "types",
            Cause::Events => "events",
            Cause::Transform => "transform",
        }
    }

    /// The cause's position in [`Cause::ALL`], for per-cause tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Calls left out, by cause (in the order of [`Cause::ALL`]).
pub type Filtered = [u64; 5];

/// The selection of a run: which calls move and how they are reshaped. The default selects
/// every call unchanged.
#[derive(Default)]
pub struct Selection {
    /// `--since`, unix milliseconds: calls before it are left out.
    pub since: Option<i64>,
    /// `--until`, unix milliseconds: calls at or after it are left out.
    pub until: Option<i64>,
    /// `--types`: the types kept, by [`CallType::index`]; `None` keeps all.
    pub types: Option<[bool; 6]>,
    /// `--events`: a `track` call is kept only if its event matches one (empty: all kept).
    pub events: Vec<Glob>,
    /// `--exclude-events`: a `track` call whose event matches one is left out.
    pub exclude_events: Vec<Glob>,
    /// `--transform`: the compiled program.
    pub transform: Option<Transform>,
}

impl std::fmt::Debug for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Selection({})", self.identity())
    }
}

impl Selection {
    /// True when every call passes unchanged (no option given).
    pub fn is_everything(&self) -> bool {
        !self.has_filters() && self.transform.is_none()
    }

    /// True when a time, type or event filter is set.
    pub fn has_filters(&self) -> bool {
        self.since.is_some()
            || self.until.is_some()
            || self.types.is_some()
            || !self.events.is_empty()
            || !self.exclude_events.is_empty()
    }

    /// Why a call of type `kind` at `timestamp` (unix ms; `None` when it has no readable
    /// time) with event `event` is left out, or `None` when the filters keep it.
    pub fn drop_cause(
        &self,
        kind: CallType,
        timestamp: Option<i64>,
        event: Option<&str>,
    ) -> Option<Cause> {
        if let Some(since) = self.since
            && timestamp.is_none_or(|t| t < since)
        {
            return Some(Cause::Since);
        }
        if let Some(until) = self.until
            && timestamp.is_none_or(|t| t >= until)
        {
            return Some(Cause::Until);
        }
        if let Some(types) = &self.types
            && !types[kind.index()]
        {
            return Some(Cause::Types);
        }
        if kind == CallType::Track && !self.event_kept(event.unwrap_or("")) {
            return Some(Cause::Events);
        }
        None
    }

    fn event_kept(&self, event: &str) -> bool {
        (self.events.is_empty() || self.events.iter().any(|g| g.matches(event)))
            && !self.exclude_events.iter().any(|g| g.matches(event))
    }

    /// The filters applied to a call given as its parsed members (a line `send` reads):
    /// `type`, `timestamp` and `event` are read from `map`. A line whose type is no call
    /// type passes (the shape check refuses it later).
    pub fn drop_cause_of(&self, map: &RawMap<'_>) -> Option<Cause> {
        let text = |key: &str| map.get(key).and_then(|v| decode_str(v).ok());
        let kind =
            text("type").and_then(|t| CallType::ALL.into_iter().find(|k| k.as_str() == t))?;
        let timestamp = if self.since.is_some() || self.until.is_some() {
            text("timestamp").and_then(|t| crate::time::parse_str(&t))
        } else {
            None
        };
        let event = text("event");
        self.drop_cause(kind, timestamp, event.as_deref())
    }

    /// What the selection is, as recorded in a `send` state (a state made with another
    /// selection is refused) and shown in the manifest's command identity.
    pub fn identity(&self) -> serde_json::Value {
        let globs = |g: &[Glob]| g.iter().map(|g| g.text.clone()).collect::<Vec<_>>();
        serde_json::json!({
            "since": self.since,
            "until": self.until,
            "types": self.types.map(|t| CallType::ALL
                .iter()
                .filter(|k| t[k.index()])
                .map(|k| k.as_str())
                .collect::<Vec<_>>()),
            "events": globs(&self.events),
            "exclude_events": globs(&self.exclude_events),
            "transform_xxh3": self.transform.as_ref().map(|t| format!("{:016x}", t.program_hash())),
        })
    }
}

/// What the selection made of one line `send` reads (a Pipelines call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen {
    /// Sent as it is.
    Kept,
    /// Left out, for this cause.
    Dropped(Cause),
    /// Replaced by the transform's results: this many, in the caller's buffer, each ending
    /// with a newline.
    Transformed(usize),
    /// The transform failed on it (`transform_invalid` or `transform_error`).
    Failed(Failure),
}

impl Selection {
    /// Applies the selection to `line` (one call as `send` reads it), writing the transform's
    /// results to `out`. A line that is not a JSON object is kept: the shape check refuses it.
    pub fn choose_line(&self, line: &[u8], out: &mut Vec<u8>, shaped: &mut Vec<Shaped>) -> Chosen {
        out.clear();
        shaped.clear();
        let Some(text) = simdutf8::basic::from_utf8(line).ok().map(str::trim) else {
            return Chosen::Kept;
        };
        let Ok(map) = RawMap::parse(text) else {
            return Chosen::Kept;
        };
        if let Some(cause) = self.drop_cause_of(&map) {
            return Chosen::Dropped(cause);
        }
        let Some(t) = &self.transform else {
            return Chosen::Kept;
        };
        match t.run(&bytes::Bytes::copy_from_slice(text.as_bytes()), out, shaped) {
            Ok(()) if shaped.is_empty() => Chosen::Dropped(Cause::Transform),
            Ok(()) => Chosen::Transformed(shaped.len()),
            Err(f) => Chosen::Failed(f),
        }
    }
}

/// Parses `--types`: comma-separated call types.
pub fn parse_types(list: &str) -> Result<[bool; 6], String> {
    let mut mask = [false; 6];
    for name in list.split(',').map(str::trim) {
        match CallType::ALL.iter().find(|k| k.as_str() == name) {
            Some(k) => mask[k.index()] = true,
            None => {
                return Err(format!(
                    "--types: {name:?} is not one of identify, track, page, screen, group, alias"
                ));
            }
        }
    }
    Ok(mask)
}

/// Parses `--events` / `--exclude-events`: comma-separated patterns, none empty.
pub fn parse_globs(flag: &str, list: &str) -> Result<Vec<Glob>, String> {
    list.split(',')
        .map(|p| {
            if p.is_empty() {
                Err(format!("{flag}: an empty pattern in {list:?}"))
            } else {
                Ok(Glob::new(p))
            }
        })
        .collect()
}

/// One event pattern: `*` matches any run of characters, `?` any one character, anything
/// else itself (case-sensitive, on the whole name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    /// No wildcard: compared as it is.
    literal: bool,
}

impl Glob {
    /// The pattern `text`.
    pub fn new(text: &str) -> Glob {
        Glob {
            text: text.to_owned(),
            literal: !text.contains(['*', '?']),
        }
    }

    /// True when `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        if self.literal {
            return self.text == name;
        }
        wildcard(
            &self.text.chars().collect::<Vec<_>>(),
            &name.chars().collect::<Vec<_>>(),
        )
    }
}

/// Wildcard matching with one backtrack point (the last `*`): linear for the patterns people
/// write.
fn wildcard(p: &[char], s: &[char]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = |p: &str, s: &str| Glob::new(p).matches(s);
        assert!(g("Order *", "Order Completed"));
        assert!(!g("Order *", "order Completed"));
        assert!(g("*Completed", "Order Completed"));
        assert!(g("a?c", "abc"));
        assert!(!g("a?c", "abbc"));
        assert!(g("*", ""));
        assert!(g("a*b*c", "aXbYbZc"));
        assert!(!g("a*b*c", "aXbYbZ"));
        assert!(g("é?", "éé"));
        assert!(!g("Signup", "Signup2"));
    }

    #[test]
    fn filters() {
        let s = Selection {
            since: Some(1000),
            until: Some(2000),
            types: Some(parse_types("track,identify").unwrap()),
            events: parse_globs("--events", "Order *,Signup").unwrap(),
            exclude_events: parse_globs("--exclude-events", "Order Refunded").unwrap(),
            transform: None,
        };
        let t = CallType::Track;
        assert_eq!(
            s.drop_cause(t, Some(999), Some("Signup")),
            Some(Cause::Since)
        );
        assert_eq!(s.drop_cause(t, None, Some("Signup")), Some(Cause::Since));
        assert_eq!(
            s.drop_cause(t, Some(2000), Some("Signup")),
            Some(Cause::Until)
        );
        assert_eq!(
            s.drop_cause(CallType::Page, Some(1000), None),
            Some(Cause::Types)
        );
        assert_eq!(
            s.drop_cause(t, Some(1000), Some("Order Refunded")),
            Some(Cause::Events)
        );
        assert_eq!(
            s.drop_cause(t, Some(1000), Some("Login")),
            Some(Cause::Events)
        );
        assert_eq!(s.drop_cause(t, Some(1999), Some("Order Paid")), None);
        assert_eq!(s.drop_cause(CallType::Identify, Some(1000), None), None);
        assert!(parse_types("track,purchase").is_err());
        assert!(parse_globs("--events", "a,,b").is_err());
    }
}
