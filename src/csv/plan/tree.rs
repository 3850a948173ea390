//! The shape of the record a CSV header stands for, as a tree held in one `Vec`, and the
//! writing of a row's members into it. Nothing here recurses: building the tree, finding the
//! members a row sets, merging a JSON cell with dotted columns and dropping the tree all work
//! with loops and explicit stacks, so a header of any depth is safe (docs/mapping.md §1.4).

use super::{CellType, HeaderPlan, member_key};
use crate::json::Raw;
use crate::json::{Kind, RawMap, write_compact};
use crate::reject::{Reject, reject};
use std::collections::HashMap;

/// What a member of the record is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// An object of the members below it.
    Obj,
    /// A column's cell (the column's index).
    Leaf(usize),
    /// A JSON column (its index) that dotted columns also address: the cell's object, then
    /// each dotted column's key set inside it (docs/mapping.md §1.4).
    Merge(usize),
}

/// No node: the end of a list of children.
const NONE: usize = usize::MAX;

/// The record's root object: node 0 of every plan.
const ROOT: usize = 0;

/// One member of the record's shape. The nodes of a plan form a tree held in one `Vec`: a
/// node's children are linked in header order, and every child is created after its parent,
/// so a node's index is always greater than its parent's. Nothing walks the tree by recursion,
/// so a header of any depth is safe (docs/mapping.md §1.4).
#[derive(Debug, Clone)]
pub(super) struct Node {
    /// The member's key in its parent object (empty for the root).
    key: String,
    shape: Shape,
    /// The node's parent ([`ROOT`] for the root itself).
    parent: usize,
    /// The node's first and last children, [`NONE`] when it has none.
    first_child: usize,
    last_child: usize,
    /// The next child of the same parent, in header order, or [`NONE`].
    next_sibling: usize,
}

/// A node's per-row flag: a cell of it is set in the row, so its member is written.
const PRESENT: u8 = 1;
/// Some child of the node is present.
const CHILD_PRESENT: u8 = 2;

/// A frame of the explicit stack that writes a row's members.
#[derive(Debug, Clone, Copy)]
enum Frame {
    /// The members of an open object: `next` is the next child node to write (or [`NONE`]).
    Members { next: usize },
    /// A cell's object with dotted columns set in it.
    Merged(Merged),
}

/// The object `maps[map]` of JSON column `owner`'s cell (or an object inside it, at `node`'s
/// place) with `node`'s dotted children set in it: its entries from `entry` on, then the
/// children it does not hold from `tail` on.
#[derive(Debug, Clone, Copy)]
struct Merged {
    node: usize,
    owner: usize,
    map: usize,
    entry: usize,
    tail: usize,
}

/// What one step of a [`Frame::Merged`] leaves: the frame moved on, with the frame of an object
/// it opened, or the merged object closed.
enum Merging {
    Next(Merged, Option<Frame>),
    Closed,
}

/// Per-thread buffers of [`HeaderPlan::row`], reused from row to row.
#[derive(Default)]
struct Scratch {
    /// [`PRESENT`] and [`CHILD_PRESENT`] of each node.
    flags: Vec<u8>,
    /// The stack of objects open.
    frames: Vec<Frame>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// The root node of a new tree.
pub(super) fn root() -> Node {
    Node {
        key: String::new(),
        shape: Shape::Obj,
        parent: ROOT,
        first_child: NONE,
        last_child: NONE,
        next_sibling: NONE,
    }
}

/// Adds a node for `key` as the last child of `parent`; returns its index.
fn add_child(nodes: &mut Vec<Node>, parent: usize, key: &str, shape: Shape) -> usize {
    let n = nodes.len();
    nodes.push(Node {
        key: key.to_owned(),
        shape,
        parent,
        first_child: NONE,
        last_child: NONE,
        next_sibling: NONE,
    });
    match nodes[parent].last_child {
        NONE => nodes[parent].first_child = n,
        last => nodes[last].next_sibling = n,
    }
    nodes[parent].last_child = n;
    n
}

/// Adds `column`, whose key in the record is the dotted `path`, to the tree `nodes` (`index`
/// finds a node's child by its key). A JSON column (`is_json`) and dotted columns below the
/// same key make a [`Shape::Merge`]; any other key set twice is an error.
pub(super) fn insert<'p>(
    nodes: &mut Vec<Node>,
    index: &mut HashMap<(usize, &'p str), usize>,
    path: &'p [String],
    column: usize,
    is_json: &dyn Fn(usize) -> bool,
) -> Result<(), String> {
    if path.is_empty() {
        return Err("an empty column name".into());
    }
    let mut at = ROOT;
    for (depth, head) in path.iter().enumerate() {
        let deeper = depth + 1 < path.len();
        if head.is_empty() {
            return Err(format!(
                "column {:?} has an empty path segment",
                path.join(".")
            ));
        }
        let Some(&node) = index.get(&(at, head.as_str())) else {
            let shape = if deeper {
                Shape::Obj
            } else {
                Shape::Leaf(column)
            };
            let child = add_child(nodes, at, head, shape);
            index.insert((at, head.as_str()), child);
            at = child;
            continue;
        };
        match (nodes[node].shape, deeper) {
            (Shape::Obj | Shape::Merge(_), true) => at = node,
            (Shape::Leaf(c), true) if is_json(c) => {
                nodes[node].shape = Shape::Merge(c);
                at = node;
            }
            (Shape::Obj, false) if is_json(column) => nodes[node].shape = Shape::Merge(column),
            _ => return Err(format!("more than one column sets {head:?}")),
        }
    }
    Ok(())
}

impl HeaderPlan {
    /// Sets each node's [`PRESENT`] flag (a cell of it is set in the row) and its
    /// [`CHILD_PRESENT`] flag, in one pass from the last node to the first: every node comes
    /// after its parent, so its children are done before it.
    fn mark(&self, cells: &[&str], flags: &mut Vec<u8>) {
        flags.clear();
        flags.resize(self.nodes.len(), 0);
        for (i, node) in self.nodes.iter().enumerate().rev() {
            let own = match node.shape {
                Shape::Obj => false,
                Shape::Leaf(c) | Shape::Merge(c) => !cells[c].is_empty(),
            };
            if own || flags[i] & CHILD_PRESENT != 0 {
                flags[i] |= PRESENT;
                if i != ROOT {
                    flags[node.parent] |= CHILD_PRESENT;
                }
            }
        }
    }

    /// Writes the members of the root object (its `{` already in `out`, `first` telling
    /// whether a member was written before). `deferred` is as in [`HeaderPlan::row_deferred`].
    pub(super) fn write_members(
        &self,
        cells: &[&str],
        out: &mut Vec<u8>,
        first: bool,
        deferred: Option<&mut Vec<(usize, usize)>>,
    ) -> Result<(), Reject> {
        SCRATCH.with_borrow_mut(|scratch| self.write_with(cells, out, first, deferred, scratch))
    }

    /// [`HeaderPlan::write_members`] with the thread's buffers: one frame of `scratch.frames` per
    /// object open.
    fn write_with(
        &self,
        cells: &[&str],
        out: &mut Vec<u8>,
        mut first: bool,
        mut deferred: Option<&mut Vec<(usize, usize)>>,
        scratch: &mut Scratch,
    ) -> Result<(), Reject> {
        let Scratch { flags, frames } = scratch;
        self.mark(cells, flags);
        frames.clear();
        frames.push(Frame::Members {
            next: self.nodes[ROOT].first_child,
        });
        // The objects of the JSON cells being merged, one per `Merged` frame.
        let mut maps: Vec<RawMap<'_>> = Vec::new();
        while let Some(&frame) = frames.last() {
            let depth = frames.len();
            let open = match frame {
                Frame::Members { next: NONE } => {
                    frames.pop();
                    if depth > 1 {
                        out.push(b'}');
                        first = false;
                    }
                    None
                }
                Frame::Members { next } => {
                    frames[depth - 1] = Frame::Members {
                        next: self.nodes[next].next_sibling,
                    };
                    // Only top-level members are deferred: the record's parse sees only those.
                    let spans = if depth == 1 {
                        deferred.as_deref_mut()
                    } else {
                        None
                    };
                    self.write_member(next, (cells, flags), out, &mut first, spans, &mut maps)?
                }
                Frame::Merged(merged) => {
                    let step =
                        self.step_merged(merged, (cells, flags), out, &mut first, &mut maps)?;
                    match step {
                        Merging::Next(merged, open) => {
                            frames[depth - 1] = Frame::Merged(merged);
                            open
                        }
                        Merging::Closed => {
                            frames.pop();
                            None
                        }
                    }
                }
            };
            if let Some(frame) = open {
                frames.push(frame);
                first = true;
            }
        }
        Ok(())
    }

    /// One step of a [`Frame::Merged`]: writes the cell object's next entry (merging the
    /// dotted columns below it when it is an object they set keys in), else the next dotted
    /// child the object does not hold, else closes the object.
    fn step_merged<'c>(
        &self,
        m: Merged,
        (cells, flags): (&[&'c str], &[u8]),
        out: &mut Vec<u8>,
        first: &mut bool,
        maps: &mut Vec<RawMap<'c>>,
    ) -> Result<Merging, Reject> {
        if let Some((k, v)) = maps[m.map].entries.get(m.entry) {
            let v = *v;
            let next = Merged {
                entry: m.entry + 1,
                ..m
            };
            member_key(out, first, k);
            let open = match self.present_child(m.node, k, flags) {
                None => {
                    write_compact(out, v.get());
                    None
                }
                Some(ch) => Some(self.merge_into(v, ch, m.owner, cells, out, maps)?),
            };
            return Ok(Merging::Next(next, open));
        }
        if m.tail == NONE {
            maps.pop();
            out.push(b'}');
            *first = false;
            return Ok(Merging::Closed);
        }
        let next = Merged {
            tail: self.nodes[m.tail].next_sibling,
            ..m
        };
        let key = self.nodes[m.tail].key.as_str();
        let open = if maps[m.map].entries.iter().any(|(mk, _)| mk == key) {
            None
        } else {
            self.write_member(m.tail, (cells, flags), out, first, None, maps)?
        };
        Ok(Merging::Next(next, open))
    }

    /// Writes the member of node `n` when one of its cells is set in the row: its key, then a
    /// cell's value whole, or the `{` of an object and the frame that writes the rest of it.
    /// The row is its cells and the flags [`HeaderPlan::write_members`] set for its nodes.
    fn write_member<'c>(
        &self,
        n: usize,
        (cells, flags): (&[&'c str], &[u8]),
        out: &mut Vec<u8>,
        first: &mut bool,
        deferred: Option<&mut Vec<(usize, usize)>>,
        maps: &mut Vec<RawMap<'c>>,
    ) -> Result<Option<Frame>, Reject> {
        if flags[n] & PRESENT == 0 {
            return Ok(None);
        }
        let node = &self.nodes[n];
        member_key(out, first, &node.key);
        match node.shape {
            Shape::Leaf(c) => {
                let cell = cells[c];
                match deferred {
                    Some(spans)
                        if matches!(self.types[c], CellType::Json | CellType::TypedJson) =>
                    {
                        let text = cell.trim_matches([' ', '\t', '\n', '\r']);
                        spans.push((out.len(), out.len() + text.len()));
                        out.extend_from_slice(text.as_bytes());
                    }
                    _ => self.write_cell(c, cell, out)?,
                }
                Ok(None)
            }
            Shape::Merge(c) if !cells[c].is_empty() => {
                if flags[n] & CHILD_PRESENT == 0 {
                    self.write_cell(c, cells[c], out)?;
                    return Ok(None);
                }
                let raw = self.parse_json_cell(c, cells[c])?;
                if Kind::of(raw) != Kind::Object {
                    return Err(reject!(
                        CsvInvalid,
                        "column {} sets a key inside {}, but column {} holds {} there, not \
                         an object",
                        self.names[self.first_column(n, cells)],
                        self.path(n),
                        self.names[c],
                        Kind::of(raw).article_name()
                    ));
                }
                self.open_merged(raw, n, c, out, maps).map(Some)
            }
            Shape::Obj | Shape::Merge(_) => {
                out.push(b'{');
                Ok(Some(Frame::Members {
                    next: node.first_child,
                }))
            }
        }
    }

    /// The value `v` of JSON column `owner`'s cell is at the place of node `n`, whose dotted
    /// columns are set in the row: `v` must be an object without `n`'s key set already, and
    /// then `n`'s children are merged into it.
    fn merge_into<'c>(
        &self,
        v: Raw<'c>,
        n: usize,
        owner: usize,
        cells: &[&str],
        out: &mut Vec<u8>,
        maps: &mut Vec<RawMap<'c>>,
    ) -> Result<Frame, Reject> {
        match self.nodes[n].shape {
            Shape::Leaf(c) => Err(self.conflict(c, owner, n)),
            Shape::Merge(c) if !cells[c].is_empty() => Err(self.conflict(c, owner, n)),
            Shape::Obj | Shape::Merge(_) => {
                if Kind::of(v) != Kind::Object {
                    return Err(reject!(
                        CsvInvalid,
                        "column {} sets a key inside {}, but column {} holds {} there, not an \
                         object",
                        self.names[self.first_column(n, cells)],
                        self.path(n),
                        self.names[owner],
                        Kind::of(v).article_name()
                    ));
                }
                self.open_merged(v, n, owner, out, maps)
            }
        }
    }

    /// Starts the object `raw` (the cell of JSON column `owner`, or an object inside it at
    /// node `n`'s place) with `n`'s dotted children set inside it: its own members first, in
    /// its order, then the keys it does not hold, in header order (a [`Frame::Merged`]).
    fn open_merged<'c>(
        &self,
        raw: Raw<'c>,
        n: usize,
        owner: usize,
        out: &mut Vec<u8>,
        maps: &mut Vec<RawMap<'c>>,
    ) -> Result<Frame, Reject> {
        let map = RawMap::parse(raw.get()).map_err(|e| {
            reject!(
                CsvInvalid,
                "column {} is not valid JSON: {e}",
                self.names[owner]
            )
        })?;
        out.push(b'{');
        maps.push(map);
        Ok(Frame::Merged(Merged {
            node: n,
            owner,
            map: maps.len() - 1,
            entry: 0,
            tail: self.nodes[n].first_child,
        }))
    }

    /// The child of node `n` whose key is `key`, if one of its cells is set in the row.
    fn present_child(&self, n: usize, key: &str, flags: &[u8]) -> Option<usize> {
        let mut at = self.nodes[n].first_child;
        while at != NONE {
            if self.nodes[at].key == key && flags[at] & PRESENT != 0 {
                return Some(at);
            }
            at = self.nodes[at].next_sibling;
        }
        None
    }

    /// The dotted path of node `n` in the record (for messages).
    fn path(&self, n: usize) -> String {
        let mut keys = Vec::new();
        let mut at = n;
        while at != ROOT {
            keys.push(self.nodes[at].key.as_str());
            at = self.nodes[at].parent;
        }
        keys.reverse();
        keys.join(".")
    }

    /// The first column, in header order, whose cell is set below node `n` (for messages).
    fn first_column(&self, n: usize, cells: &[&str]) -> usize {
        let mut best: Option<usize> = None;
        let mut at = self.nodes[n].first_child;
        while at != NONE {
            if let Shape::Leaf(c) | Shape::Merge(c) = self.nodes[at].shape
                && !cells[c].is_empty()
            {
                best = Some(best.map_or(c, |b| b.min(c)));
            }
            at = self.next_below(at, n);
        }
        best.unwrap_or(0)
    }

    /// The node after `at` in a walk of the nodes below `top` (parents before children), or
    /// [`NONE`] at the end. The walk climbs back by the parent links: it needs no stack.
    fn next_below(&self, mut at: usize, top: usize) -> usize {
        if self.nodes[at].first_child != NONE {
            return self.nodes[at].first_child;
        }
        while at != top {
            let sibling = self.nodes[at].next_sibling;
            if sibling != NONE {
                return sibling;
            }
            at = self.nodes[at].parent;
        }
        NONE
    }

    fn conflict(&self, column: usize, owner: usize, n: usize) -> Reject {
        reject!(
            CsvInvalid,
            "column {} sets {}, which column {} already holds",
            self.names[column],
            self.path(n),
            self.names[owner]
        )
    }
}
