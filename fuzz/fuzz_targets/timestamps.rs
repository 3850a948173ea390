//! Timestamps: `time::parse_str`, `time::parse_number`, `time::from_raw` and `time::format`.
//!
//! Checks: no panic on any text; every accepted time lies in 0..=MAX_MS; formatting an accepted
//! time gives the 24-byte `YYYY-MM-DDTHH:MM:SS.sssZ` form that parses back to the same
//! millisecond; a number's text means the same with leading zeros, an explicit `e0`, or as a
//! numeric string; plain integers and `int.frac` forms agree with exact integer arithmetic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use track2pipelines::json::Raw;
use track2pipelines::time::{self, MAX_MS};

fn check_accepted(ms: i64, what: &str) {
    assert!((0..=MAX_MS).contains(&ms), "{what} -> {ms} out of range");
    let text = time::format(ms);
    let text = std::str::from_utf8(&text).expect("ASCII");
    assert_eq!(text.len(), 24);
    assert!(text.ends_with('Z') && text.as_bytes()[10] == b'T', "{text}");
    // rfc3339-end-of-9999: RFC 3339 parsing goes through jiff::Timestamp, whose range ends at
    // 9999-12-30T22:00:00.999999999Z, so the last hours of year 9999 are refused as text
    // though accepted as numbers and written fine (reported, not fixed yet).
    if ms > 253_402_207_200_999 && tolerate("rfc3339-end-of-9999") {
        return;
    }
    assert_eq!(
        time::parse_rfc3339(text),
        Some(ms),
        "{text} does not round-trip"
    );
    assert_eq!(
        time::parse_str(text),
        Some(ms),
        "{text} does not round-trip via parse_str"
    );
}

/// Exact reference for `digits` or `digits.frac` (no exponent).
fn reference(s: &str) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.contains('.') && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let int = int.trim_start_matches('0');
    if int.len() > 20 {
        return None;
    }
    let n: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let ms = if n >= 100_000_000_000 {
        n
    } else {
        let f3: String = frac.chars().chain("000".chars()).take(3).collect();
        n * 1000 + f3.parse::<u128>().ok()?
    };
    (ms <= MAX_MS as u128).then_some(ms as i64)
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        // Any i64 from the bytes: format only what is in range, and it must round-trip.
        if data.len() >= 8 {
            let ms = i64::from_le_bytes(data[..8].try_into().unwrap()).rem_euclid(MAX_MS + 1);
            check_accepted(ms, "bytes");
        }
        return;
    };
    if let Some(ms) = time::parse_str(s) {
        check_accepted(ms, s);
    }
    if let Some(ms) = time::parse_number(s) {
        check_accepted(ms, s);
        assert_eq!(
            time::parse_str(s),
            Some(ms),
            "{s}: number and string disagree"
        );
        assert_eq!(
            time::parse_number(&format!("00{s}")),
            Some(ms),
            "{s}: leading zeros"
        );
        if !s.contains(['e', 'E']) {
            assert_eq!(time::parse_number(&format!("{s}e0")), Some(ms), "{s}: e0");
            assert_eq!(reference(s), Some(ms), "{s}: reference");
        }
    } else if !s.contains(['e', 'E']) {
        assert_eq!(reference(s), None, "{s}: reference accepts it");
    }
    if let Some(ms) = time::parse_rfc3339(s) {
        check_accepted(ms, s);
    }
    // As a JSON value (a number, a string, anything else).
    if let Ok(raw) = serde_json::from_str::<Raw>(s)
        && let Ok(ms) = time::from_raw(raw)
    {
        check_accepted(ms, s);
    }
    if let Ok(text) = serde_json::to_string(s)
        && let Ok(raw) = serde_json::from_str::<Raw>(&text)
    {
        assert_eq!(
            time::from_raw(raw).ok(),
            time::parse_str(s),
            "{s} as a JSON string"
        );
    }
});

/// Known bugs reported but not fixed yet, tolerated when named in `T2P_FUZZ_TOLERATE`
/// (comma-separated) so a run can look past them.
fn tolerate(bug: &str) -> bool {
    static LIST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIST.get_or_init(|| std::env::var("T2P_FUZZ_TOLERATE").unwrap_or_default())
        .split(',')
        .any(|b| b == bug)
}
