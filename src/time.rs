//! Timestamps: reading the forms Track calls use (unix seconds or milliseconds as numbers or
//! numeric strings, RFC 3339 strings) and writing the one form Pipelines calls use,
//! `YYYY-MM-DDTHH:MM:SS.sssZ`. Times are carried as unix milliseconds (`i64`).

use crate::json::Raw;
use crate::json::{Kind, decode_str};

/// 9999-12-31T23:59:59.999Z, the last instant the output format can write.
pub const MAX_MS: i64 = 253_402_300_799_999;

/// Values at or above this are unix milliseconds, below it unix seconds.
const MS_THRESHOLD: u128 = 100_000_000_000;

/// Why a timestamp was refused; the message names what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTime(pub String);

/// Reads a timestamp field's raw value.
pub fn from_raw(raw: Raw<'_>) -> Result<i64, BadTime> {
    match Kind::of(raw) {
        Kind::Number => parse_number(raw.get())
            .ok_or_else(|| BadTime(format!("{} is not a valid unix time", raw.get()))),
        Kind::String => {
            let s = decode_str(raw).unwrap_or_default();
            parse_str(&s).ok_or_else(|| {
                BadTime(format!(
                    "{} is neither unix seconds/milliseconds nor an RFC 3339 time",
                    raw.get()
                ))
            })
        }
        k => Err(BadTime(format!(
            "expected unix seconds, unix milliseconds or an RFC 3339 string, got {}",
            k.article_name()
        ))),
    }
}

/// A numeric string, else an RFC 3339 time.
pub fn parse_str(s: &str) -> Option<i64> {
    if s.as_bytes().first().is_some_and(|b| b.is_ascii_digit())
        && let Some(ms) = parse_number(s)
    {
        return Some(ms);
    }
    parse_rfc3339(s)
}

/// An RFC 3339 time with an offset, to unix milliseconds (sub-millisecond digits truncated).
/// Only four-digit years and offsets within ±23:59 are RFC 3339 (docs/mapping.md §7).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    if !rfc3339_bounds(s.as_bytes()) {
        return None;
    }
    let ms = match s.parse::<jiff::Timestamp>() {
        Ok(ts) => ts.as_millisecond(),
        // jiff's instants end at 9999-12-30T22:00Z (so that every offset can display them);
        // the last hours of year 9999 are computed from the parsed pieces instead.
        Err(_) => from_pieces(s)?,
    };
    (0..=MAX_MS).contains(&ms).then_some(ms)
}

/// A four-digit year first, and a `Z` or an offset of at most 23 hours 59 minutes last.
fn rfc3339_bounds(b: &[u8]) -> bool {
    let two = |d: &[u8]| -> Option<u8> {
        (d.len() == 2 && d.iter().all(u8::is_ascii_digit)).then(|| (d[0] - b'0') * 10 + d[1] - b'0')
    };
    if b.len() < 11 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    if matches!(b.last(), Some(b'Z' | b'z')) {
        return true;
    }
    // The offset starts at the last sign after the date.
    let Some(sign) = b[10..].iter().rposition(|c| *c == b'+' || *c == b'-') else {
        return false;
    };
    let off = &b[10 + sign + 1..];
    let (hh, mm) = match off.len() {
        2 => (two(off), Some(0)),
        4 => (two(&off[..2]), two(&off[2..])),
        5 if off[2] == b':' => (two(&off[..2]), two(&off[3..])),
        _ => (None, None),
    };
    matches!((hh, mm), (Some(h), Some(m)) if h <= 23 && m <= 59)
}

/// Unix milliseconds of a date, time and offset parsed by jiff (a time and an offset required).
fn from_pieces(s: &str) -> Option<i64> {
    use jiff::fmt::temporal::{Pieces, PiecesOffset};
    let p = Pieces::parse(s).ok()?;
    let (date, time) = (p.date(), p.time()?);
    let offset_s = match p.offset()? {
        PiecesOffset::Zulu => 0,
        PiecesOffset::Numeric(n) => i64::from(n.offset().seconds()),
        _ => return None,
    };
    let days = days_from_civil(
        i64::from(date.year()),
        i64::from(date.month()),
        i64::from(date.day()),
    );
    let secs =
        i64::from(time.hour()) * 3600 + i64::from(time.minute()) * 60 + i64::from(time.second());
    Some((days * 86_400 + secs - offset_s) * 1000 + i64::from(time.subsec_nanosecond()) / 1_000_000)
}

/// (year, month, day) to days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A JSON number's text (`1700000000`, `1700000000.5`, `1.7e9`, `1700000000123`) to unix
/// milliseconds, computed on the decimal digits so no float rounding creeps in.
pub fn parse_number(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let mut dec = Decimal::default();
    let (i, overflow_int) = dec.read_int(b)?;
    let i = dec.read_frac(b, i)?;
    let (exp, i) = read_exponent(b, i)?;
    if i != b.len() || overflow_int {
        return None;
    }
    dec.millis(exp)
}

/// A number's significant decimal digits: its value is `0.d1d2d3... × 10^(int_len + exp)`.
struct Decimal {
    digits: [u8; 40],
    /// Significant digits kept.
    n: usize,
    /// Digits before the point (after leading zeros); negative for zeros after the point.
    int_len: i64,
}

impl Default for Decimal {
    fn default() -> Decimal {
        Decimal {
            digits: [0; 40],
            n: 0,
            int_len: 0,
        }
    }
}

impl Decimal {
    /// Reads the integer digits from the start of `b`: the index after them, and whether more
    /// significant digits came than are kept; `None` without a digit.
    fn read_int(&mut self, b: &[u8]) -> Option<(usize, bool)> {
        let mut i = 0;
        let mut seen_digit = false;
        let mut overflow_int = false;
        while i < b.len() && b[i].is_ascii_digit() {
            seen_digit = true;
            if self.n == 0 && b[i] == b'0' {
                i += 1;
                continue;
            }
            if self.n < self.digits.len() {
                self.digits[self.n] = b[i] - b'0';
                self.n += 1;
            } else {
                overflow_int = true;
            }
            self.int_len += 1;
            i += 1;
        }
        seen_digit.then_some((i, overflow_int))
    }

    /// Reads a `.` and the fraction's digits at `i`, if there: the index after them; `None`
    /// for a point without a digit after it.
    fn read_frac(&mut self, b: &[u8], mut i: usize) -> Option<usize> {
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let frac_start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if self.n == 0 && b[i] == b'0' {
                    self.int_len -= 1; // leading zero after the point shifts the value down
                } else if self.n < self.digits.len() {
                    self.digits[self.n] = b[i] - b'0';
                    self.n += 1;
                }
                i += 1;
            }
            if i == frac_start {
                return None;
            }
        }
        Some(i)
    }

    /// The `k`th significant digit (0 outside the kept digits).
    fn digit(&self, k: i64) -> u128 {
        if k >= 0 && (k as usize) < self.n {
            u128::from(self.digits[k as usize])
        } else {
            0
        }
    }

    /// The value times `10^exp` as unix milliseconds: an integer part at or above
    /// [`MS_THRESHOLD`] is milliseconds, below it seconds (three fraction digits kept).
    fn millis(&self, exp: i64) -> Option<i64> {
        // value = 0.d1d2d3... × 10^point
        let point = self.int_len + exp;
        if self.n == 0 {
            return Some(0);
        }
        if point > 20 {
            return None;
        }
        let mut int: u128 = 0;
        for k in 0..point.max(0) {
            int = int * 10 + self.digit(k);
        }
        let ms = if int >= MS_THRESHOLD {
            int
        } else {
            let mut frac: u128 = 0;
            for k in point..point + 3 {
                frac = frac * 10 + self.digit(k);
            }
            int * 1000 + frac
        };
        (ms <= MAX_MS as u128).then_some(ms as i64)
    }
}

/// Reads an exponent (`e`/`E`, a sign, digits) at `i`, if there: its value (capped in size)
/// and the index after it; `None` for an `e` without a digit after it.
fn read_exponent(b: &[u8], mut i: usize) -> Option<(i64, usize)> {
    let mut exp: i64 = 0;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        let neg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            exp = (exp * 10 + i64::from(b[i] - b'0')).min(1_000_000);
            i += 1;
        }
        if i == start {
            return None;
        }
        if neg {
            exp = -exp;
        }
    }
    Some((exp, i))
}

/// Writes `ms` as `YYYY-MM-DDTHH:MM:SS.sssZ` (24 bytes). `ms` must lie in `0..=MAX_MS`.
pub fn format(ms: i64) -> [u8; 24] {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss, mss) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    let mut o = *b"0000-00-00T00:00:00.000Z";
    let put = |o: &mut [u8; 24], at: usize, width: usize, mut v: i64| {
        for k in (at..at + width).rev() {
            o[k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(&mut o, 0, 4, y);
    put(&mut o, 5, 2, m);
    put(&mut o, 8, 2, d);
    put(&mut o, 11, 2, hh);
    put(&mut o, 14, 2, mm);
    put(&mut o, 17, 2, ss);
    put(&mut o, 20, 3, mss);
    o
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(ms: i64) -> String {
        String::from_utf8(format(ms).to_vec()).unwrap()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(f(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(f(1_361_205_308_000), "2013-02-18T16:35:08.000Z");
        assert_eq!(f(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(f(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(f(MAX_MS), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn reads_numbers() {
        assert_eq!(parse_number("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_number("1700000000.5"), Some(1_700_000_000_500));
        assert_eq!(parse_number("1700000000.12399"), Some(1_700_000_000_123));
        assert_eq!(parse_number("1700000000123"), Some(1_700_000_000_123));
        assert_eq!(parse_number("1700000000123.9"), Some(1_700_000_000_123));
        assert_eq!(parse_number("1.7e9"), Some(1_700_000_000_000));
        assert_eq!(parse_number("17E8"), Some(1_700_000_000_000));
        assert_eq!(parse_number("0.001"), Some(1));
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("99999999999"), Some(99_999_999_999_000));
        assert_eq!(parse_number("100000000000"), Some(100_000_000_000));
        assert_eq!(parse_number("-5"), None);
        assert_eq!(parse_number("1e300"), None);
        assert_eq!(parse_number("253402300800000"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("12a"), None);
        assert_eq!(parse_number("1."), None);
        assert_eq!(parse_number("1e"), None);
        assert_eq!(parse_number("1e+1"), Some(10_000));
        assert_eq!(parse_number("1e-3"), Some(1));
        assert_eq!(parse_number("0.0"), Some(0));
        assert_eq!(parse_number("000017E8"), Some(1_700_000_000_000));
        assert_eq!(parse_number(&"1".repeat(41)), None);
    }

    #[test]
    fn reads_strings() {
        assert_eq!(parse_str("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_str("2023-08-24T14:15:22Z"), Some(1_692_886_522_000));
        assert_eq!(
            parse_str("2023-08-24T16:15:22.1239+02:00"),
            Some(1_692_886_522_123)
        );
        assert_eq!(parse_str("yesterday"), None);
        assert_eq!(parse_str("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_str("9999-12-31T23:59:59.999Z"), Some(MAX_MS));
        assert_eq!(parse_str("9999-12-31T23:59:59.999-01:00"), None);
        assert_eq!(
            parse_str("9999-12-31T01:00:00+02:00"),
            Some(MAX_MS + 1 - 25 * 3_600_000)
        );
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in 0..=MAX_MS) {
            let text = f(ms);
            prop_assert_eq!(parse_rfc3339(&text), Some(ms));
            prop_assert_eq!(text.len(), 24);
        }

        #[test]
        fn seconds_and_millis_agree(ms in 100_000_000_000i64..=MAX_MS) {
            // The same instant written as millis, and (when below the threshold) as seconds.
            prop_assert_eq!(parse_number(&ms.to_string()), Some(ms));
            let secs = ms / 1000;
            if (secs as u128) < MS_THRESHOLD {
                let text = format!("{}.{:03}", secs, ms % 1000);
                prop_assert_eq!(parse_number(&text), Some(ms));
            }
        }

        #[test]
        fn never_panics_on_any_text(s in ".{0,40}") {
            let _ = parse_str(&s);
            let _ = parse_number(&s);
        }
    }
}
