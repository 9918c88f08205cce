//! Timestamps: milliseconds since the Unix epoch, read from a number or an RFC 3339 string.

use serde::de::Visitor;
use serde::Deserializer;

/// Milliseconds since the Unix epoch (what `Date.now()` returns).
pub type Millis = i64;

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]` into milliseconds since the epoch.
///
/// Generated workflow code and REST clients send ISO strings; JS callers send numbers. Both
/// are accepted so that neither has to convert.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" | "" => 0,
        _ if rest.len() == 6 && matches!(&rest[3..4], ":") => {
            let sign = match &rest[..1] {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            sign * (h * 60 + m)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
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
        Ok(n as Millis)
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Millis, E> {
        Ok(n as Millis)
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Millis, E> {
        if n.is_finite() {
            Ok(n.round() as Millis)
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
    fn rejects_garbage() {
        for bad in [
            "",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-01-01T00:00:00+0100",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
