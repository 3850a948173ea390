//! Reading the inputs, in stages: [`discover`](mod@discover) (files, directories, stdin, object
//! storage, each a [`Source`]) → [`decompress`] (gzip or zstd, detected from the first bytes) →
//! [`frame`] (the decompressed stream cut into [`Piece`]s of whole records that know where they
//! start; CSV record ends come from [`crate::csv`]'s scanner). [`range`] reads a shard's byte
//! range of a plain file, [`remote`] lists and reads objects.

pub mod decompress;
pub mod discover;
pub mod frame;
pub mod range;
pub mod remote;

pub use decompress::{Counting, open};
pub use discover::{Discovered, Format, Source, discover, format_of};
pub use frame::{Cuts, Framer, HEAD_BYTES, Piece};
