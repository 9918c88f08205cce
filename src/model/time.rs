//! Timestamps: milliseconds since the Unix epoch, read from a number or an RFC 3339 string.

use serde::de::Visitor;
use serde::Deserializer;

/// Milliseconds since the Unix epoch (what `Date.now()` returns).
pub type Millis = i64;

/// The latest timestamp accepted: 9999-12-31T23:59:59.999Z. Anything beyond (or before
/// year 0) is refused, so sums and differences of timestamps cannot overflow.
pub const MAX_MILLIS: Millis = 253_402_300_799_999;
/// The earliest timestamp accepted: 0000-01-01T00:00:00Z.
pub const MIN_MILLIS: Millis = -62_167_219_200_000;

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]` into milliseconds since the epoch.
///
/// Generated workflow code and REST clients send ISO strings; JS callers send numbers. Both
/// are accepted so that neither has to convert. The parser reads bytes only (never slices the
/// text), so any input, multi-byte characters included, gets `None` rather than a panic;
/// impossible dates (`2024-02-30`) and offsets (`+24:00`) are refused.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        // Milliseconds from the first three digits, padded with zeros ("5" is 500 ms).
        millis = frac[..digits.min(3)]
            .iter()
            .chain(std::iter::repeat(&b'0'))
            .take(3)
            .fold(0, |acc, &c| acc * 10 + i64::from(c - b'0'));
        rest = &frac[digits..];
    }
    let offset_minutes = match rest {
        b"Z" | b"z" | b"" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (h, m) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let sign = if *sign == b'+' { 1 } else { -1 };
            sign * (h * 60 + m)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    let ms = seconds * 1000 + millis;
    (MIN_MILLIS..=MAX_MILLIS).contains(&ms).then_some(ms)
}

/// Days in a month of the proleptic Gregorian calendar.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads a timestamp straight from the number or string in the input. (A visitor rather
/// than an untagged enum: that would buffer every value first, and timestamps are in every
/// record many times over.)
struct MillisVisitor;

impl<'de> Visitor<'de> for MillisVisitor {
    type Value = Millis;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("milliseconds since the epoch or an RFC 3339 date")
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Millis, E> {
        in_range(n)
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Millis, E> {
        in_range(i64::try_from(n).unwrap_or(i64::MAX))
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Millis, E> {
        if n.is_finite() {
            // `as` saturates, and the range check refuses the saturated ends.
            in_range(n.round() as Millis)
        } else {
            Err(E::custom(
                "timestamp must be a finite number of milliseconds",
            ))
        }
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Millis, E> {
        parse_rfc3339(s).ok_or_else(|| {
            E::custom(format!(
                "timestamp `{s}` is neither milliseconds since the epoch nor an RFC 3339 date"
            ))
        })
    }
}

/// Refuses a number of milliseconds outside years 0 to 9999.
fn in_range<E: serde::de::Error>(n: i64) -> Result<Millis, E> {
    if (MIN_MILLIS..=MAX_MILLIS).contains(&n) {
        Ok(n)
    } else {
        Err(E::custom(format!(
            "timestamp {n} is outside years 0 to 9999 ({MIN_MILLIS} to {MAX_MILLIS} ms)"
        )))
    }
}

struct OptMillisVisitor;

impl<'de> Visitor<'de> for OptMillisVisitor {
    type Value = Option<Millis>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("milliseconds since the epoch, an RFC 3339 date, or null")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Option<Millis>, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<Millis>, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<Millis>, D::Error> {
        d.deserialize_any(MillisVisitor).map(Some)
    }
}

/// serde helper: a required timestamp from a number or an RFC 3339 string.
pub fn de_millis<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
    d.deserialize_any(MillisVisitor)
}

/// serde helper: an optional timestamp from a number, an RFC 3339 string, or null.
pub fn de_opt_millis<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
    d.deserialize_option(OptMillisVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00.5Z"),
            Some(1_709_208_000_500)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T13:00:00+01:00"),
            parse_rfc3339("2024-02-29T12:00:00Z")
        );
    }

    #[test]
    fn any_text_is_parsed_or_refused_without_panicking() {
        // Every char-boundary cut of strings with multi-byte characters in every position.
        let samples = [
            "2024-01-01T00:00:00+0\u{e9}00",
            "2024-01-01T00:00:00.12\u{1F600}Z",
            "\u{1F600}024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z\u{e9}",
        ];
        for sample in samples {
            for (i, _) in sample.char_indices() {
                let _ = parse_rfc3339(&sample[..i]);
                let _ = parse_rfc3339(&sample[i..]);
            }
        }
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59.999Z"), Some(MAX_MILLIS));
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00Z"), Some(MIN_MILLIS));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00+0\u{e9}00",
            "2024-01-01T00:00:00.\u{e9}",
            "\u{e9}\u{e9}-01-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+01:60",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
