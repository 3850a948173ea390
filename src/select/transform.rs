//! `--transform FILE`: a jq program, compiled with the jaq crates (jaq-core, jaq-std,
//! jaq-json) before any work, run on each call the filters kept (docs/transforms.md). Each
//! result is written as compact JSON in jq's key order and must be a Pipelines call by the
//! checks of [`crate::calls::shape`]; results of one call must not share a `messageId`.

use super::val;
use crate::calls::CallType;
use crate::calls::shape;
use crate::json::{Kind, RawMap, decode_str};
use bytes::Bytes;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data};
use jaq_json::Val;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most calls one call may become; more is a `transform_error` (a runaway program).
pub const MAX_RESULTS: usize = 1000;

/// A program, checked by the compiler. jaq's values are counted with plain (not atomic)
/// references, so a compiled program cannot cross threads: each thread that runs it compiles
/// it on its first call and keeps it (a few milliseconds, once per worker).
pub struct Transform {
    name: String,
    code: String,
    /// Tells this program's compiled copies from other programs' in a thread's cache.
    id: u64,
    hash: u64,
}

type Filter = jaq_core::Filter<data::JustLut<Val>>;

thread_local! {
    /// The programs this thread compiled, by [`Transform`] id.
    static COMPILED: RefCell<Vec<(u64, Rc<Filter>)>> = const { RefCell::new(Vec::new()) };
}

/// The next [`Transform`] id.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// One result of the program, written by [`Transform::run`].
#[derive(Debug, Clone, Copy)]
pub struct Shaped {
    /// Offset just past the result's newline in the output buffer.
    pub end: usize,
    /// Its `type`.
    pub kind: CallType,
    /// Its `timestamp` in unix ms, when it has a readable one.
    pub timestamp: Option<i64>,
    /// xxh3-64 of its `userId`, else `anonymousId`, else `groupId` (for `bucket:N`).
    pub bucket: u64,
}

/// Why the program's results for one call are not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A result is not a Pipelines call, or two share a messageId (`transform_invalid`).
    Invalid(String),
    /// The program failed on the call (`transform_error`).
    Error(String),
}

impl Transform {
    /// Compiles `code`, read from the file `name`; the error is the compiler's message with
    /// the line and column it points at.
    pub fn compile(name: &str, code: &str) -> Result<Transform, String> {
        let filter = compile(name, code)?;
        let t = Transform {
            name: name.to_owned(),
            code: code.to_owned(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            hash: xxhash_rust::xxh3::xxh3_64(code.as_bytes()),
        };
        keep(t.id, Rc::new(filter));
        Ok(t)
    }

    /// xxh3-64 of the program's text (part of a `send` state's identity).
    pub fn program_hash(&self) -> u64 {
        self.hash
    }

    /// Runs the program on `call` (one call, compact JSON; its strings are read as slices of
    /// it) and appends each result to `out` followed by a newline, describing it in `shaped`.
    /// On a failure `out` and `shaped` are left as they were. The callers give UTF-8 text (they
    /// check it first); a string holding other bytes is read as those bytes, and a result that
    /// holds them is refused (`transform_invalid`).
    pub fn run(
        &self,
        call: &Bytes,
        out: &mut Vec<u8>,
        shaped: &mut Vec<Shaped>,
    ) -> Result<(), Failure> {
        let (mark, count) = (out.len(), shaped.len());
        let result = self.run_into(call, out, shaped, mark);
        if result.is_err() {
            out.truncate(mark);
            shaped.truncate(count);
        }
        result
    }

    fn run_into(
        &self,
        call: &Bytes,
        out: &mut Vec<u8>,
        shaped: &mut Vec<Shaped>,
        mark: usize,
    ) -> Result<(), Failure> {
        let input = val::read(call)
            .map_err(|e| Failure::Error(format!("the call is not JSON to the program: {e}")))?;
        let filter = self.filter();
        let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
        write_results(filter.id.run((ctx, input)), out, shaped, mark)
    }

    /// This thread's compiled copy of the program, compiled on first use.
    fn filter(&self) -> Rc<Filter> {
        let found = COMPILED.with_borrow(|c| {
            c.iter()
                .find(|(id, _)| *id == self.id)
                .map(|(_, filter)| filter.clone())
        });
        found.unwrap_or_else(|| {
            let filter = compile(&self.name, &self.code).expect("the program compiled before");
            let filter = Rc::new(filter);
            keep(self.id, filter.clone());
            filter
        })
    }
}

/// Programs a thread keeps compiled: a process that runs many jobs (the library) compiles
/// again a program it dropped, rather than keep every one.
const KEPT: usize = 4;

/// Keeps `filter` in this thread's cache, dropping the oldest beyond [`KEPT`].
fn keep(id: u64, filter: Rc<Filter>) {
    COMPILED.with_borrow_mut(|c| {
        if c.len() >= KEPT {
            c.remove(0);
        }
        c.push((id, filter));
    });
}

/// Compiles `code`, read from the file `name`.
fn compile(name: &str, code: &str) -> Result<Filter, String> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .chain(own_funs());
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(&arena, File { code, path: () })
        .map_err(|errs| load_message(name, code, errs))?;
    Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            let all = errs.into_iter().flat_map(|(_, e)| e);
            let lines: Vec<String> = all
                .map(|(at, undefined)| {
                    format!(
                        "{}: undefined {} {at}",
                        position(name, code, at),
                        undefined.as_str()
                    )
                })
                .collect();
            lines.join("\n")
        })
}

/// Writes each of the program's results for one call after `mark`, checked and described.
fn write_results<'a>(
    results: impl Iterator<Item = jaq_core::ValX<'a, Val>>,
    out: &mut Vec<u8>,
    shaped: &mut Vec<Shaped>,
    mark: usize,
) -> Result<(), Failure> {
    let first = shaped.len();
    let mut ids: Vec<String> = Vec::new();
    for (n, value) in results.enumerate() {
        if n >= MAX_RESULTS {
            return Err(Failure::Error(format!(
                "the program returned more than {MAX_RESULTS} results for one call"
            )));
        }
        let value = value.map_err(|e| match e.get_err() {
            Ok(err) => Failure::Error(err.to_string()),
            Err(_) => Failure::Error("the program stopped (halt, break)".into()),
        })?;
        let start = if shaped.len() > first {
            shaped[shaped.len() - 1].end
        } else {
            mark
        };
        val::write(out, &value)
            .map_err(|what| Failure::Invalid(format!("result {n} holds {what}, not JSON")))?;
        let text = simdutf8::basic::from_utf8(&out[start..])
            .map_err(|_| Failure::Invalid(format!("result {n} is not UTF-8")))?;
        let described = describe(n, text, &mut ids)?;
        out.push(b'\n');
        shaped.push(described.at(out.len()));
    }
    Ok(())
}

impl Shaped {
    fn at(mut self, end: usize) -> Shaped {
        self.end = end;
        self
    }
}

/// Checks one result and reads what partitioning needs from it.
fn describe(n: usize, text: &str, ids: &mut Vec<String>) -> Result<Shaped, Failure> {
    let invalid = |why: String| Failure::Invalid(format!("result {n}: {why}"));
    if Kind::of_text(text) != Kind::Object {
        return Err(invalid(format!(
            "{} is not a call object",
            Kind::of_text(text).article_name()
        )));
    }
    let map = RawMap::parse(text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    shape::check(&map).map_err(|e| invalid(e.0))?;
    let string = |key: &str| {
        map.get(key)
            .filter(|v| Kind::of(*v) == Kind::String)
            .and_then(|v| decode_str(v).ok())
    };
    if let Some(id) = string("messageId") {
        if ids.iter().any(|seen| *seen == *id) {
            return Err(invalid(format!(
                "messageId {id:?} is shared with another result of the same call"
            )));
        }
        ids.push(id.into_owned());
    }
    let kind = string("type")
        .and_then(|t| CallType::ALL.into_iter().find(|k| k.as_str() == t))
        .expect("the shape check found a call type");
    let key = string("userId")
        .or_else(|| string("anonymousId"))
        .or_else(|| string("groupId"))
        .unwrap_or_default();
    Ok(Shaped {
        end: 0,
        kind,
        timestamp: map
            .get("timestamp")
            .and_then(|v| crate::time::from_raw(v).ok()),
        bucket: xxhash_rust::xxh3::xxh3_64(key.as_bytes()),
    })
}

/// Filters of our own, beside jq's: `sha256` (a string's SHA-256, as lowercase hex), to
/// replace personal data by a stable pseudonym (docs/transforms.md).
fn own_funs() -> impl Iterator<Item = jaq_core::native::Fun<data::JustLut<Val>>> {
    use jaq_core::native::{Filter, bome, run, v};
    let sha256: Filter<jaq_core::RunPtr<data::JustLut<Val>>> = ("sha256", v(0), |cv| {
        bome(match &cv.1 {
            Val::TStr(text) => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(&text[..]);
                Ok(Val::from(
                    digest
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>(),
                ))
            }
            other => Err(jaq_core::Error::str(format!(
                "cannot hash {other}: sha256 takes a string"
            ))),
        })
    });
    std::iter::once(run::<data::JustLut<Val>>(sha256))
}

/// `NAME:LINE:COLUMN` of `part`, a slice of `code` the compiler pointed at.
fn position(name: &str, code: &str, part: &str) -> String {
    let start = (part.as_ptr() as usize)
        .checked_sub(code.as_ptr() as usize)
        .filter(|s| *s <= code.len())
        .unwrap_or(code.len());
    let before = &code[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{name}:{line}:{column}")
}

/// The loader's errors (lexing, parsing, imports), one line each.
fn load_message(name: &str, code: &str, errs: jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::Error;
    let mut lines = Vec::new();
    for (_, e) in errs {
        match e {
            Error::Io(es) => lines.extend(
                es.into_iter()
                    .map(|(at, m)| format!("{}: {m}", position(name, code, at))),
            ),
            Error::Lex(es) => lines.extend(es.into_iter().map(|(expect, at)| {
                format!("{}: expected {}", position(name, code, at), expect.as_str())
            })),
            Error::Parse(es) => lines.extend(es.into_iter().map(|(expect, at)| {
                let found = if at.is_empty() {
                    "the end of the program".to_owned()
                } else {
                    format!("{:?}", at.chars().take(20).collect::<String>())
                };
                format!(
                    "{}: expected {}, found {found}",
                    position(name, code, at),
                    expect.as_str()
                )
            })),
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(program: &str, call: &str) -> Result<Vec<String>, Failure> {
        let t = Transform::compile("t.jq", program).unwrap();
        let (mut out, mut shaped) = (Vec::new(), Vec::new());
        t.run(
            &Bytes::copy_from_slice(call.as_bytes()),
            &mut out,
            &mut shaped,
        )?;
        let mut start = 0;
        Ok(shaped
            .iter()
            .map(|s| {
                let text = String::from_utf8(out[start..s.end - 1].to_vec()).unwrap();
                start = s.end;
                text
            })
            .collect())
    }

    const CALL: &str = r#"{"type":"track","userId":"u1","event":"Signup","properties":{"plan":"pro","email":"a@b.c"},"messageId":"m1","timestamp":"2023-01-02T03:04:05.000Z"}"#;

    #[test]
    fn changes_drops_and_splits() {
        let r = run(r#".event = "Signed Up" | del(.properties.email)"#, CALL).unwrap();
        assert_eq!(
            r,
            [
                r#"{"type":"track","userId":"u1","event":"Signed Up","properties":{"plan":"pro"},"messageId":"m1","timestamp":"2023-01-02T03:04:05.000Z"}"#
            ]
        );
        assert_eq!(run("empty", CALL).unwrap(), Vec::<String>::new());
        let r = run(r#".userId |= sha256"#, CALL).unwrap();
        assert!(r[0].contains(
            r#""userId":"bb82030dbc2bcaba32a90bf2e207a84a856fc5f033b77c480836ab6f77f40f19""#
        ));
        let r = run(r#"., (.messageId = "m2" | .event = "Second")"#, CALL).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r[1].contains(r#""event":"Second","properties""#));
    }

    #[test]
    fn invalid_and_errors() {
        assert!(
            matches!(run("del(.userId)", CALL), Err(Failure::Invalid(m)) if m.contains("userId or anonymousId"))
        );
        assert!(matches!(run(". , .", CALL), Err(Failure::Invalid(m)) if m.contains("messageId")));
        assert!(matches!(run("1", CALL), Err(Failure::Invalid(m)) if m.contains("a number")));
        assert!(
            matches!(run(r#"error("boom")"#, CALL), Err(Failure::Error(m)) if m.contains("boom"))
        );
        assert!(matches!(
            run(".properties.plan + 1", CALL),
            Err(Failure::Error(_))
        ));
    }

    #[test]
    fn bytes_that_are_not_utf8_never_reach_a_result() {
        let t = Transform::compile("t.jq", ".").unwrap();
        let (mut out, mut shaped) = (b"kept".to_vec(), Vec::new());
        // `u` then 0xc3 0x36: a lead byte without its continuation.
        let bytes = [
            &br#"{"type":"track","userId":"u"#[..],
            &[0xc3, 0x36],
            br#"","event":"E","messageId":"m"}"#,
        ]
        .concat();
        let e = t.run(&Bytes::from(bytes.clone()), &mut out, &mut shaped);
        assert!(matches!(e, Err(Failure::Invalid(m)) if m.contains("not UTF-8")));
        assert_eq!((out.as_slice(), shaped.len()), (&b"kept"[..], 0));
        // A later duplicate key hides the string: the result holds only valid text.
        let hidden = [&bytes[..bytes.len() - 1], br#","userId":"u2"}"#].concat();
        t.run(&Bytes::from(hidden), &mut out, &mut shaped).unwrap();
        let text = std::str::from_utf8(&out[4..]).unwrap();
        assert!(text.contains(r#""userId":"u2""#), "{text}");
    }

    #[test]
    fn compile_errors_name_the_place() {
        let e = Transform::compile("t.jq", ".a |\n  (.b").err().unwrap();
        assert!(e.starts_with("t.jq:2:"), "{e}");
        let e = Transform::compile("t.jq", "nosuchfn(1)").err().unwrap();
        assert!(e.starts_with("t.jq:1:1: undefined filter"), "{e}");
    }
}
