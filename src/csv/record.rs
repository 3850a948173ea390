//! One CSV row to the JSON record it stands for: the row's shape is checked against the
//! header (cell count, UTF-8), then the file's [`HeaderPlan`] writes the record, its JSON cells
//! left for the record's parse to check in the same pass (see [`HeaderPlan::row_deferred`]).

use super::plan::HeaderPlan;
use crate::reject::{Code, Reject};

/// Checks one CSV row (its cells one after the other in `cells`, ending at `ends`) and writes
/// the JSON record it stands for into `json`, its JSON cells unchecked (see
/// [`HeaderPlan::row_deferred`]); returns the cells as text.
pub fn row_record<'c>(
    plan: &HeaderPlan,
    cells: &'c [u8],
    ends: &[usize],
    json: &mut Vec<u8>,
    deferred: &mut Vec<(usize, usize)>,
) -> Result<Vec<&'c str>, Reject> {
    if let Some(problem) = &plan.problem {
        return Err(problem.clone());
    }
    if ends.len() != plan.columns() {
        return Err(Reject::new(
            Code::CsvInvalid,
            format!(
                "the row has {} cells, the header has {}",
                ends.len(),
                plan.columns()
            ),
        ));
    }
    let mut texts = Vec::with_capacity(ends.len());
    let mut from = 0;
    for (i, &end) in ends.iter().enumerate() {
        match simdutf8::basic::from_utf8(&cells[from..end]) {
            Ok(t) => texts.push(t),
            Err(_) => {
                return Err(Reject::new(
                    Code::CsvInvalid,
                    format!("cell {} is not valid UTF-8", i + 1),
                ));
            }
        }
        from = end;
    }
    // A check that fails on a cell other than a JSON one: the full check gives the error the
    // row's first bad cell makes.
    if let Err(reject) = plan.row_deferred(&texts, json, deferred) {
        return Err(plan.row(&texts, json).err().unwrap_or(reject));
    }
    Ok(texts)
}
