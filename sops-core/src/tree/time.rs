//! Timestamps, kept in the canonical text form that sops (Go's
//! `time.MarshalText`) writes: RFC 3339 with nanoseconds, trailing zeros of
//! the fraction trimmed, `Z` for UTC, else `±hh:mm`.

use std::fmt;

/// A timestamp in canonical RFC 3339 form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Time(String);

// A decrypted timestamp is plaintext like any other value.
impl zeroize::Zeroize for Time {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

/// Parsed parts of a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeParts {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–59.
    pub second: u32,
    /// Nanoseconds, below 1 000 000 000.
    pub nanos: u32,
    /// Offset from UTC in minutes; `None` or `Some(0)` is UTC.
    pub offset_minutes: Option<i32>,
}

impl Time {
    /// Builds the canonical form from parts.
    pub fn from_parts(p: TimeParts) -> Self {
        use fmt::Write;
        let mut s = String::with_capacity(35);
        let _ = write!(
            s,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            p.year, p.month, p.day, p.hour, p.minute, p.second
        );
        if p.nanos != 0 {
            let frac = format!("{:09}", p.nanos);
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        match p.offset_minutes {
            None | Some(0) => s.push('Z'),
            Some(off) => {
                let sign = if off < 0 { '-' } else { '+' };
                let off = off.unsigned_abs();
                let _ = write!(s, "{sign}{:02}:{:02}", off / 60, off % 60);
            }
        }
        Self(s)
    }

    /// Parses RFC 3339 (`T` or `t`, optional fraction, `Z`/`z` or `±hh:mm`),
    /// as Go's `time.Parse(time.RFC3339Nano, …)` accepts it.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        parse_rfc3339_parts(text).map(Self::from_parts)
    }

    /// False when the offset is a whole day or more (`+24:00`, `-23:60`).
    /// YAML loads such a timestamp, as go-yaml does, but Go's
    /// `Time.MarshalText`, which sops calls on every value it hashes or
    /// encrypts, refuses it.
    pub fn zone_hour_in_range(&self) -> bool {
        let b = self.0.as_bytes();
        // The canonical form ends in `Z` or `±hh:mm`.
        b.last() == Some(&b'Z')
            || b.len()
                .checked_sub(5)
                .and_then(|at| digits(&b[at..], 2))
                .is_some_and(|hour| hour <= 23)
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The canonical text without the fractional seconds (dotenv/INI output).
    pub fn without_fraction(&self) -> String {
        match self.0.find('.') {
            Some(dot) => {
                let rest = &self.0[dot..];
                let zone = rest.find(['Z', '+', '-']).map_or("", |i| &rest[i..]);
                format!("{}{zone}", &self.0[..dot])
            }
            None => self.0.clone(),
        }
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn digits(s: &[u8], n: usize) -> Option<u32> {
    if s.len() < n || !s[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s[..n]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
    )
}

/// Parses strict RFC 3339 into parts (used for `type:time` plaintext,
/// `lastmodified` and `created_at`).
pub fn parse_rfc3339_parts(text: &str) -> Option<TimeParts> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 4)? as i32;
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let month = digits(&b[5..], 2)?;
    let day = digits(&b[8..], 2)?;
    let hour = digits(&b[11..], 2)?;
    let minute = digits(&b[14..], 2)?;
    let second = digits(&b[17..], 2)?;
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset_minutes = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => None,
        sign @ (b'+' | b'-') if b.len() == i + 6 && b[i + 3] == b':' => {
            let h = digits(&b[i + 1..], 2)? as i32;
            let m = digits(&b[i + 4..], 2)? as i32;
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 60 + m;
            Some(if *sign == b'-' { -off } else { off })
        }
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    Some(TimeParts {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        offset_minutes,
    })
}

/// Days in a month of the proleptic Gregorian calendar.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// The current UTC time as RFC 3339 with second precision (`lastmodified`).
pub fn now_rfc3339_seconds() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    format_unix_seconds(secs)
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_unix_seconds(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Re-formats an RFC 3339 timestamp with second precision, keeping its offset,
/// as sops does to build the MAC's AAD from `lastmodified`.
pub fn truncate_to_seconds(text: &str) -> Option<String> {
    let mut p = parse_rfc3339_parts(text)?;
    p.nanos = 0;
    Some(Time::from_parts(p).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        assert_eq!(
            Time::parse_rfc3339("2024-05-01T12:00:00Z")
                .unwrap()
                .as_str(),
            "2024-05-01T12:00:00Z"
        );
        assert_eq!(
            Time::parse_rfc3339("2001-12-14t21:59:43.10-05:00")
                .unwrap()
                .as_str(),
            "2001-12-14T21:59:43.1-05:00"
        );
        assert_eq!(
            Time::parse_rfc3339("2024-05-01T12:00:00.123456789+02:00")
                .unwrap()
                .as_str(),
            "2024-05-01T12:00:00.123456789+02:00"
        );
        assert!(Time::parse_rfc3339("2024-02-30T00:00:00Z").is_none());
        assert!(Time::parse_rfc3339("2024-05-01 12:00:00Z").is_none());
    }

    #[test]
    fn m10_zone_hours_of_a_day_or_more_do_not_marshal() {
        let at = |offset_minutes| {
            Time::from_parts(TimeParts {
                year: 2001,
                month: 12,
                day: 14,
                hour: 21,
                minute: 59,
                second: 43,
                nanos: 0,
                offset_minutes,
            })
        };
        for ok in [None, Some(0), Some(60), Some(-60), Some(23 * 60 + 59)] {
            assert!(at(ok).zone_hour_in_range(), "{ok:?}");
        }
        for bad in [24 * 60, -24 * 60, 25 * 60] {
            let t = at(Some(bad));
            assert!(!t.zone_hour_in_range(), "{}", t.as_str());
        }
    }

    #[test]
    fn seconds_formatting() {
        assert_eq!(format_unix_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix_seconds(1_780_038_492), "2026-05-29T07:08:12Z");
        assert_eq!(
            truncate_to_seconds("2026-01-01T00:00:00.5Z").unwrap(),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(
            truncate_to_seconds("2026-01-01T01:00:00+01:00").unwrap(),
            "2026-01-01T01:00:00+01:00"
        );
    }
}
