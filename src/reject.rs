//! Per-record problems: why one record (or batch item) could not be converted. These are an
//! output of the tool (the error file), never a reason to stop the run; fatal errors live in
//! [`crate::error`].

use std::fmt;

/// The error-file codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The record is not valid JSON (or holds a lone surrogate escape).
    InvalidJson,
    /// The record is not valid UTF-8.
    InvalidUtf8,
    /// The record is longer than `--max-line-bytes`.
    LineTooLong,
    /// A CSV row (or header) that cannot be read: wrong cell count, bad typed cell, header problem.
    CsvInvalid,
    /// Valid JSON that is no Track API call the tool knows.
    UnknownShape,
    /// A logged HTTP call to a path or method the Track API does not have.
    UnknownCall,
    /// A Track call the Pipelines API has nothing for.
    NoPipelinesEquivalent,
    /// The call names no person or object to apply to.
    MissingIdentifier,
    /// A field the call needs is absent.
    MissingField,
    /// A field has the wrong type or an impossible value.
    InvalidField,
    /// A timestamp that reads as no time between 1970 and 9999.
    InvalidTimestamp,
    /// The call would be larger than the size limit of one Pipelines call.
    CallTooLarge,
    /// The input stream broke here (decompression or read failure, or a truncated file).
    CorruptInput,
    /// A logged HTTP call whose envelope says the Track API answered it with a status that is
    /// not 2xx: it changed nothing at the time, and replaying it would (`--keep-failed-calls`).
    OriginalCallFailed,
    /// A record with no call time of its own, with `--missing-time reject`.
    MissingTimestamp,
    /// A `--transform` result that is not a Pipelines call (or shares a messageId).
    TransformInvalid,
    /// The `--transform` program failed on a call.
    TransformError,
}

impl Code {
    /// Every code, in the order of [`Code::index`].
    pub const ALL: [Code; 17] = [
        Code::InvalidJson,
        Code::InvalidUtf8,
        Code::LineTooLong,
        Code::CsvInvalid,
        Code::UnknownShape,
        Code::UnknownCall,
        Code::NoPipelinesEquivalent,
        Code::MissingIdentifier,
        Code::MissingField,
        Code::InvalidField,
        Code::InvalidTimestamp,
        Code::CallTooLarge,
        Code::CorruptInput,
        Code::OriginalCallFailed,
        Code::MissingTimestamp,
        Code::TransformInvalid,
        Code::TransformError,
    ];

    /// The code as the error file and the manifest write it (`invalid_json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidJson => "invalid_json",
            Code::InvalidUtf8 => "invalid_utf8",
            Code::LineTooLong => "line_too_long",
            Code::CsvInvalid => "csv_invalid",
            Code::UnknownShape => "unknown_shape",
            Code::UnknownCall => "unknown_call",
            Code::NoPipelinesEquivalent => "no_pipelines_equivalent",
            Code::MissingIdentifier => "missing_identifier",
            Code::MissingField => "missing_field",
            Code::InvalidField => "invalid_field",
            Code::InvalidTimestamp => "invalid_timestamp",
            Code::CallTooLarge => "call_too_large",
            Code::CorruptInput => "corrupt_input",
            Code::OriginalCallFailed => "original_call_failed",
            Code::MissingTimestamp => "missing_timestamp",
            Code::TransformInvalid => "transform_invalid",
            Code::TransformError => "transform_error",
        }
    }

    /// The code's position in [`Code::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rejected record: a code and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Why, as a code.
    pub code: Code,
    /// Why, in words: names the field or the byte at fault.
    pub message: String,
}

impl Reject {
    /// A reject with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Reject {
        Reject {
            code,
            message: message.into(),
        }
    }
}

macro_rules! reject {
    ($code:ident, $($arg:tt)*) => {
        $crate::reject::Reject::new($crate::reject::Code::$code, format!($($arg)*))
    };
}
pub(crate) use reject;

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}
