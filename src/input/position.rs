//! Where a record stands in its decompressed source: its first line (when known) and the byte
//! offset of its first byte. One value, carried from the framer's pieces to the error entries.

/// A place in a decompressed source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line number; None where it is not known (a shard's range that starts inside the
    /// file, see docs/scale-out.md), and then it stays unknown as the position moves on.
    pub line: Option<u64>,
    /// Offset in the decompressed stream.
    pub offset: u64,
}

impl Position {
    /// The very start of a source: line 1, offset 0.
    pub const START: Position = Position {
        line: Some(1),
        offset: 0,
    };

    /// Line `line` at `offset`.
    pub fn new(line: u64, offset: u64) -> Position {
        Position {
            line: Some(line),
            offset,
        }
    }

    /// Where a range that starts at `offset` starts: line 1 at the file's start, an unknown line
    /// anywhere else.
    pub fn range_start(offset: u64) -> Position {
        Position {
            line: (offset == 0).then_some(1),
            offset,
        }
    }

    /// This position `lines` lines and `bytes` bytes further on.
    #[must_use]
    pub fn ahead(self, lines: u64, bytes: u64) -> Position {
        Position {
            line: self.line.map(|l| l + lines),
            offset: self.offset + bytes,
        }
    }

    /// Moves this position on past `bytes`, which hold `lines` line ends.
    pub fn advance(&mut self, lines: u64, bytes: u64) {
        *self = self.ahead(lines, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_line_stays_unknown() {
        let mut p = Position::range_start(40);
        p.advance(2, 10);
        assert_eq!(
            p,
            Position {
                line: None,
                offset: 50
            }
        );
        let q = Position::range_start(0).ahead(2, 10);
        assert_eq!(q, Position::new(3, 10));
        assert_eq!(Position::START.ahead(0, 3), Position::new(1, 3));
    }
}
