//! Per-record problems: why one record (or batch item) could not be converted. These are an
//! output of the tool (the error file), never a reason to stop the run; fatal errors live in
//! [`crate::error`].

use std::fmt;

/// The error-file codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    InvalidJson,
    InvalidUtf8,
    LineTooLong,
    CsvInvalid,
    UnknownShape,
    UnknownCall,
    NoPipelinesEquivalent,
    MissingIdentifier,
    MissingField,
    InvalidField,
    InvalidTimestamp,
    CallTooLarge,
    CorruptInput,
}

impl Code {
    pub const ALL: [Code; 13] = [
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
    ];

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
        }
    }

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
    pub code: Code,
    pub message: String,
}

impl Reject {
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
