//! Reading the inputs, in stages: `discover` (files, directories, stdin, object
//! storage, each a [`Source`]) → `decompress` (gzip or zstd, detected from the first bytes) →
//! `frame` (the decompressed stream cut into [`Piece`]s of whole records that know where they
//! start, as a [`Position`]; CSV record ends come from [`crate::csv`]'s scanner). `range`
//! reads a shard's byte range of a plain file, `remote` lists and reads objects.

pub(crate) mod decompress;
pub(crate) mod discover;
pub(crate) mod frame;
pub(crate) mod position;
pub(crate) mod range;
pub(crate) mod raw;
pub(crate) mod remote;

pub use decompress::open;
pub use discover::{Discovered, Format, Source, discover, format_of};
pub use frame::{Cuts, Framer, HEAD_BYTES, Piece};
pub use position::Position;
pub use range::Range;
pub use raw::Counting;
