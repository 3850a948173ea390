//! Counters of a run: per input, per chunk and in total.

use crate::calls::CallType;
use crate::reject::Code;

/// Record and call counts; chunks add theirs into their input's and the run's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records read (blank lines are not records).
    pub records: u64,
    /// Blank lines skipped.
    pub blank_lines: u64,
    /// Records that became calls (every batch item converted).
    pub converted: u64,
    /// Records with at least one error-file entry.
    pub rejected: u64,
    /// Error-file entries by code (batch items counted one by one; `corrupt_input` included).
    pub rejects: [u64; Code::ALL.len()],
    /// Calls written, by type (in the order of `CallType::ALL`).
    pub calls: [u64; CallType::ALL.len()],
    /// Calls with no time of their own, stamped with the run's reference time (`--now`).
    pub calls_stamped_now: u64,
    /// Calls left out by the selection (docs/transforms.md), by cause (in the order of
    /// `select::Cause::ALL`).
    pub filtered: crate::select::Filtered,
}

impl Tally {
    /// Adds `o`'s counts to these.
    pub fn add(&mut self, o: &Tally) {
        self.records += o.records;
        self.blank_lines += o.blank_lines;
        self.converted += o.converted;
        self.rejected += o.rejected;
        for (a, b) in self.rejects.iter_mut().zip(o.rejects) {
            *a += b;
        }
        for (a, b) in self.calls.iter_mut().zip(o.calls) {
            *a += b;
        }
        self.calls_stamped_now += o.calls_stamped_now;
        for (a, b) in self.filtered.iter_mut().zip(o.filtered) {
            *a += b;
        }
    }

    /// Calls left out by the selection, every cause.
    pub fn total_filtered(&self) -> u64 {
        self.filtered.iter().sum()
    }

    /// Calls of every type.
    pub fn total_calls(&self) -> u64 {
        self.calls.iter().sum()
    }

    /// Error-file entries of every code.
    pub fn total_entries(&self) -> u64 {
        self.rejects.iter().sum()
    }

    /// `(code, count)` for the codes seen.
    pub fn rejects_by_code(&self) -> impl Iterator<Item = (Code, u64)> + '_ {
        Code::ALL
            .iter()
            .zip(self.rejects)
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| (*c, n))
    }

    /// `(cause, count)` for the causes that left calls out.
    pub fn filtered_by_cause(&self) -> impl Iterator<Item = (crate::select::Cause, u64)> + '_ {
        crate::select::Cause::ALL
            .iter()
            .zip(self.filtered)
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| (*c, n))
    }

    /// `(type, count)` for the call types seen.
    pub fn calls_by_type(&self) -> impl Iterator<Item = (CallType, u64)> + '_ {
        CallType::ALL
            .iter()
            .zip(self.calls)
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| (*t, n))
    }
}

/// What the run knows about one input.
#[derive(Debug, Clone, Default)]
pub struct InputStats {
    /// The input's name (path, `-` or URL).
    pub source: String,
    /// The source's path is not UTF-8: `source` is written lossily.
    pub lossy: bool,
    /// Bytes read from the file (compressed bytes for compressed inputs).
    pub bytes_read: u64,
    /// Bytes after decompression.
    pub bytes_decompressed: u64,
    /// Its records and calls.
    pub tally: Tally,
    /// Reading stopped early (`corrupt_input`).
    pub incomplete: bool,
}
