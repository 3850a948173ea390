//! CSV rows: the JSON record each row stands for, per the four layouts (HTTP calls, v2
//! entities, events import, people import). A [`HeaderPlan`] is made once from a file's
//! header; each row is then written as JSON text and converted exactly like the NDJSON record
//! it stands for.

mod tree;

use crate::json::Raw;
use crate::json::{Kind, write_compact, write_str};
use crate::reject::{Code, Reject, reject};
use std::collections::HashMap;
use tree::{Node, insert};

/// How a CSV file's rows are read: detected from the header (`Auto`), or one layout forced
/// (`--csv-layout`): HTTP calls, v2 entities, events, people (docs/mapping.md §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvLayout {
    /// Detect the layout from each file's header.
    Auto,
    /// Logged HTTP calls: `method`, `path` (or `url`), `body`.
    Http,
    /// v2 entities: `type`, `action`, `identifiers.*`, ...
    V2,
    /// Event import: `name` plus `id`, `email`, `cio_id` or `anonymous_id`.
    Events,
    /// People import: `id`, `email` or `cio_id`, every other column a trait.
    People,
}

/// How a cell's text becomes a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CellType {
    Str,
    /// JSON text in an always-JSON column of the layout: invalid text is `invalid_json`.
    Json,
    /// JSON text in a `:json` column: invalid text is `csv_invalid`, like the other suffixes.
    TypedJson,
    Number,
    Bool,
}

/// What a header means: the layout, and where each column's value goes.
#[derive(Debug, Clone)]
pub struct HeaderPlan {
    /// The layout the rows are read by: the one forced, else the one detected; `Auto` when the
    /// header fits none (see `problem`).
    pub layout: CsvLayout,
    /// Members written before the columns (`"type":"person"`), as JSON text.
    constants: Vec<(&'static str, &'static str)>,
    /// For the events layout: the column holding the action, if any.
    action_column: Option<usize>,
    default_action: Option<&'static str>,
    /// The record's shape: its root object (node 0) and the members below it.
    nodes: Vec<Node>,
    types: Vec<CellType>,
    names: Vec<String>,
    /// Why every row of this file is rejected (a header that fits no layout).
    pub problem: Option<Reject>,
}

const ALWAYS_JSON_V2: [&str; 6] = [
    "identifiers",
    "attributes",
    "cio_relationships",
    "device",
    "primary",
    "secondary",
];

fn detect(bases: &[&str]) -> Option<CsvLayout> {
    let has = |k: &str| bases.contains(&k);
    let person = has("id") || has("email") || has("cio_id");
    if has("method") && (has("path") || has("url")) {
        Some(CsvLayout::Http)
    } else if has("type") && has("action") {
        Some(CsvLayout::V2)
    } else if has("name") && (person || has("anonymous_id")) {
        Some(CsvLayout::Events)
    } else if person {
        Some(CsvLayout::People)
    } else {
        None
    }
}

/// A header cell's column name and the type its suffix (`:json`, `:number`, `:bool`) asks for.
fn split_suffix(h: &str) -> (&str, Option<CellType>) {
    let h = h.trim();
    match h.rsplit_once(':') {
        Some((b, "json")) => (b, Some(CellType::TypedJson)),
        Some((b, "number")) => (b, Some(CellType::Number)),
        Some((b, "bool")) => (b, Some(CellType::Bool)),
        _ => (h, None),
    }
}

/// A column's cell type: its suffix's, else JSON for the layout's always-JSON columns, else
/// a string.
fn cell_type(layout: CsvLayout, base: &str, suffix: Option<CellType>) -> CellType {
    let always_json = match layout {
        CsvLayout::Http => base == "body",
        CsvLayout::V2 => ALWAYS_JSON_V2.contains(&base),
        _ => false,
    };
    suffix.unwrap_or(if always_json {
        CellType::Json
    } else {
        CellType::Str
    })
}

/// Where in the record a column's value goes (its dotted name, moved under `identifiers` or
/// `attributes` by the events and people layouts), and whether it is the events layout's
/// action column.
fn target(layout: CsvLayout, base: &str) -> (Vec<String>, bool) {
    let path: Vec<String> = base.split('.').map(str::to_owned).collect();
    let target = match layout {
        CsvLayout::Events => match base {
            "name" | "timestamp" => path,
            "id" | "email" | "cio_id" | "anonymous_id" => {
                vec!["identifiers".into(), base.to_owned()]
            }
            "event_id" => vec!["id".into()],
            "type" => return (vec!["action".into()], true),
            _ => [vec!["attributes".to_owned()], path].concat(),
        },
        CsvLayout::People => match base {
            "id" | "email" | "cio_id" => vec!["identifiers".into(), base.to_owned()],
            _ => [vec!["attributes".to_owned()], path].concat(),
        },
        _ => path,
    };
    (target, false)
}

impl HeaderPlan {
    /// Reads a header row. `layout` is `--csv-layout` (`Auto` detects it from the columns).
    pub fn new(header: &[String], layout: CsvLayout) -> HeaderPlan {
        let (columns, suffixes): (Vec<&str>, Vec<Option<CellType>>) =
            header.iter().map(|h| split_suffix(h)).unzip();
        let layout = match layout {
            CsvLayout::Auto => detect(&columns),
            l => Some(l),
        };
        let mut plan = HeaderPlan {
            layout: layout.unwrap_or(CsvLayout::Auto),
            constants: Vec::new(),
            action_column: None,
            default_action: None,
            nodes: vec![tree::root()],
            types: Vec::new(),
            names: header.to_vec(),
            problem: None,
        };
        let Some(layout) = layout else {
            plan.problem = Some(reject!(
                UnknownShape,
                "the CSV header fits no layout: expected method and path or url (HTTP calls), \
                 type and action (v2 entities), name with id, email, cio_id or anonymous_id \
                 (events), or id, email or cio_id (people); the columns are {}",
                header.join(", ")
            ));
            return plan;
        };
        let mut targets: Vec<Vec<String>> = Vec::with_capacity(columns.len());
        for (i, base) in columns.iter().enumerate() {
            plan.types.push(cell_type(layout, base, suffixes[i]));
            let (target, is_action) = target(layout, base);
            if is_action {
                plan.action_column = Some(i);
            }
            targets.push(target);
        }
        plan.set_constants(layout);
        plan.build_tree(&targets);
        plan
    }

    /// The members the events and people layouts write before the columns.
    fn set_constants(&mut self, layout: CsvLayout) {
        match layout {
            CsvLayout::Events => {
                self.constants.push(("type", "\"person\""));
                self.default_action = Some("event");
            }
            CsvLayout::People => {
                self.constants.push(("type", "\"person\""));
                self.constants.push(("action", "\"identify\""));
            }
            _ => {}
        }
    }

    /// The record's shape from each column's target; a header whose targets clash (a value and
    /// an object at one place) is the plan's problem.
    fn build_tree(&mut self, targets: &[Vec<String>]) {
        let types = &self.types;
        let is_json = |c: usize| matches!(types[c], CellType::Json | CellType::TypedJson);
        // Each node's children by key, while the tree is built.
        let mut index = HashMap::new();
        for (i, target) in targets.iter().enumerate() {
            if let Err(why) = insert(&mut self.nodes, &mut index, target, i, &is_json) {
                self.problem = Some(reject!(CsvInvalid, "the CSV header is unusable: {why}"));
                break;
            }
        }
    }

    /// The number of columns in the header.
    pub fn columns(&self) -> usize {
        self.names.len()
    }

    /// Writes the JSON record for one row (`cells` as UTF-8 text) into `out`.
    pub fn row(&self, cells: &[&str], out: &mut Vec<u8>) -> Result<(), Reject> {
        self.write_row(cells, out, None)
    }

    /// Like [`HeaderPlan::row`], except that the JSON cells of top-level members are not checked
    /// here: each is written as it stands (trimmed), and where it lies in `out` goes to
    /// `deferred`. The record is valid, and means what the plan says, exactly when the record's
    /// parse finds one value at each of those places (`translate::translate_deferred`
    /// checks); otherwise the row must be written again with [`HeaderPlan::row`], which says
    /// what is wrong with it. This spares JSON columns (an HTTP call's body) a parse of their own.
    pub fn row_deferred(
        &self,
        cells: &[&str],
        out: &mut Vec<u8>,
        deferred: &mut Vec<(usize, usize)>,
    ) -> Result<(), Reject> {
        deferred.clear();
        self.write_row(cells, out, Some(deferred))
    }

    fn write_row(
        &self,
        cells: &[&str],
        out: &mut Vec<u8>,
        deferred: Option<&mut Vec<(usize, usize)>>,
    ) -> Result<(), Reject> {
        if let Some(p) = &self.problem {
            return Err(p.clone());
        }
        out.clear();
        out.push(b'{');
        let mut first = true;
        for (k, v) in &self.constants {
            member_key(out, &mut first, k);
            out.extend_from_slice(v.as_bytes());
        }
        if let Some(action) = self.default_action
            && self.action_column.is_none_or(|c| cells[c].is_empty())
        {
            member_key(out, &mut first, "action");
            write_str(out, action);
        }
        self.write_members(cells, out, first, deferred)?;
        out.push(b'}');
        Ok(())
    }

    /// Parses the cell of a JSON column: invalid text is `invalid_json` in an always-JSON
    /// column, `csv_invalid` in a `:json` one.
    fn parse_json_cell<'c>(&self, c: usize, cell: &'c str) -> Result<Raw<'c>, Reject> {
        crate::json::parse_raw(cell).map_err(|e| {
            let code = if self.types[c] == CellType::Json {
                Code::InvalidJson
            } else {
                Code::CsvInvalid
            };
            Reject::new(
                code,
                format!("column {} is not valid JSON: {e}", self.names[c]),
            )
        })
    }

    fn write_cell(&self, c: usize, cell: &str, out: &mut Vec<u8>) -> Result<(), Reject> {
        let column = &self.names[c];
        match self.types[c] {
            CellType::Str => write_str(out, cell),
            CellType::Json | CellType::TypedJson => {
                let raw = self.parse_json_cell(c, cell)?;
                write_compact(out, raw.get());
            }
            CellType::Number => {
                let ok = crate::json::parse_raw(cell).is_ok_and(|r| Kind::of(r) == Kind::Number);
                if !ok {
                    return Err(reject!(
                        CsvInvalid,
                        "column {column}: {cell:?} is not a number"
                    ));
                }
                out.extend_from_slice(cell.trim().as_bytes());
            }
            CellType::Bool => match cell.trim() {
                "true" => out.extend_from_slice(b"true"),
                "false" => out.extend_from_slice(b"false"),
                _ => {
                    return Err(reject!(
                        CsvInvalid,
                        "column {column}: {cell:?} is not true or false"
                    ));
                }
            },
        }
        Ok(())
    }
}

fn member_key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    write_str(out, key);
    out.push(b':');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(h: &str) -> HeaderPlan {
        HeaderPlan::new(
            &h.split(',').map(str::to_owned).collect::<Vec<_>>(),
            CsvLayout::Auto,
        )
    }

    fn row(p: &HeaderPlan, cells: &str) -> Result<String, Reject> {
        let cells: Vec<&str> = cells.split('|').collect();
        let mut out = Vec::new();
        p.row(&cells, &mut out)
            .map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn layouts_are_detected() {
        assert_eq!(plan("method,path,body").layout, CsvLayout::Http);
        assert_eq!(plan("type,action,identifiers.id").layout, CsvLayout::V2);
        assert_eq!(plan("name,email,plan").layout, CsvLayout::Events);
        assert_eq!(plan("id,email,plan").layout, CsvLayout::People);
        assert_eq!(
            plan("foo,bar").problem.unwrap().code,
            crate::reject::Code::UnknownShape
        );
    }

    #[test]
    fn rows_become_records() {
        let p = plan(
            "type,action,identifiers.id,name,attributes.plan,attributes.seats:number,attributes.vip:bool",
        );
        assert_eq!(
            row(&p, "person|identify|42||pro|5|true").unwrap(),
            r#"{"type":"person","action":"identify","identifiers":{"id":"42"},"attributes":{"plan":"pro","seats":5,"vip":true}}"#
        );
        assert_eq!(
            row(&p, "person|delete|42||||").unwrap(),
            r#"{"type":"person","action":"delete","identifiers":{"id":"42"}}"#
        );
        let bad = row(&p, "person|identify|42||pro|five|").unwrap_err();
        assert_eq!(bad.code, crate::reject::Code::CsvInvalid);
        assert!(
            bad.message.contains("attributes.seats:number"),
            "{}",
            bad.message
        );
        let e = plan("name,anonymous_id,type,event_id,color");
        assert_eq!(
            row(&e, "Viewed|a1|page|01HZX3P8M0QK2V7S9T4W6Y1A2B|red").unwrap(),
            r#"{"type":"person","name":"Viewed","identifiers":{"anonymous_id":"a1"},"action":"page","id":"01HZX3P8M0QK2V7S9T4W6Y1A2B","attributes":{"color":"red"}}"#
        );
        assert_eq!(
            row(&e, "Viewed|a1|||").unwrap(),
            r#"{"type":"person","action":"event","name":"Viewed","identifiers":{"anonymous_id":"a1"}}"#
        );
        let h = plan("method,path,body");
        assert_eq!(
            row(&h, "PUT|/api/v1/customers/1|{ \"a\": 1 }").unwrap(),
            r#"{"method":"PUT","path":"/api/v1/customers/1","body":{"a":1}}"#
        );
        assert_eq!(
            row(&h, "PUT|/x|{").unwrap_err().code,
            crate::reject::Code::InvalidJson
        );
        // A `:json` suffix is a type like `:number`: text that is not JSON is csv_invalid.
        let j = plan("id,tags:json");
        assert_eq!(
            row(&j, "1|[1, 2]").unwrap(),
            r#"{"type":"person","action":"identify","identifiers":{"id":"1"},"attributes":{"tags":[1,2]}}"#
        );
        assert_eq!(
            row(&j, "1|[1,").unwrap_err().code,
            crate::reject::Code::CsvInvalid
        );
        assert_eq!(
            plan("a,a.b,id").problem.unwrap().code,
            crate::reject::Code::CsvInvalid
        );
    }

    /// Headers of any depth: nothing recurses, so neither the plan, its rows nor its drop
    /// can overflow the stack (docs/mapping.md §1.4).
    #[test]
    fn deep_headers_and_merges_need_no_stack() {
        let d = 100_000;
        let p = plan(&format!("id,{}a", "a.".repeat(d)));
        assert!(p.problem.is_none());
        assert_eq!(
            row(&p, "u1|x").unwrap(),
            format!(
                r#"{{"type":"person","action":"identify","identifiers":{{"id":"u1"}},"attributes":{}"x"{}}}"#,
                r#"{"a":"#.repeat(d + 1),
                "}".repeat(d + 1)
            )
        );
        drop(p);
        // A JSON cell as deep as a dotted column that goes into it.
        let d = 2_000;
        let m = plan(&format!(
            "type,action,attributes,attributes.{}b",
            "a.".repeat(d)
        ));
        let open = r#"{"a":"#.repeat(d);
        let close = "}".repeat(d);
        assert_eq!(
            row(&m, &format!(r#"person|identify|{open}{{"z":1}}{close}|x"#)).unwrap(),
            format!(
                r#"{{"type":"person","action":"identify","attributes":{open}{{"z":1,"b":"x"}}{close}}}"#
            )
        );
        let inside = format!("attributes{}", ".a".repeat(d));
        let held = row(&m, &format!(r#"person|identify|{open}{{"b":1}}{close}|x"#)).unwrap_err();
        assert_eq!(held.code, crate::reject::Code::CsvInvalid);
        assert_eq!(
            held.message,
            format!("column {inside}.b sets {inside}.b, which column attributes already holds")
        );
        let number = row(&m, &format!("person|identify|{open}5{close}|x")).unwrap_err();
        assert_eq!(
            number.message,
            format!(
                "column {inside}.b sets a key inside {inside}, but column attributes holds a \
                 number there, not an object"
            )
        );
    }
}
