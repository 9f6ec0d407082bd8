//! Scalar resolution as go-yaml v3 does it for untagged plain scalars
//! (sops-format §5.1 "Scalars"), written as hand-made checks: this runs once
//! per scalar on load and once per string on emit, so no regexes.
//!
//! The order of attempts matters and is go-yaml's: the fixed words (`null`,
//! `true`, `.inf`, `<<`, …), then for text starting with a digit or sign a
//! timestamp, an int64, a uint64 (which sops cannot handle), a float matching
//! the YAML float pattern, and the `0b`/`0o` forms with a sign after the
//! prefix; for text starting with `.` a float. Everything else is a string.

use crate::tree::time::{TimeParts, days_in_month};

/// What a plain scalar resolves to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer that only fits an unsigned 64-bit integer (sops fails on it).
    Uint,
    Float(f64),
    Time(TimeParts),
    /// The merge key `<<`.
    Merge,
    Str,
}

/// Resolves the text of an untagged plain scalar.
pub(crate) fn resolve_plain(s: &str) -> Resolved {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return Resolved::Null;
    };
    match first {
        b'0'..=b'9' | b'+' | b'-' => {}
        b'.' => {
            return match s {
                ".nan" | ".NaN" | ".NAN" => Resolved::Float(f64::NAN),
                ".inf" | ".Inf" | ".INF" => Resolved::Float(f64::INFINITY),
                _ => match dot_float(b) {
                    Some(v) => Resolved::Float(v),
                    None => Resolved::Str,
                },
            };
        }
        b'n' | b'N' => {
            return if matches!(s, "null" | "Null" | "NULL") {
                Resolved::Null
            } else {
                Resolved::Str
            };
        }
        b't' | b'T' => {
            return if matches!(s, "true" | "True" | "TRUE") {
                Resolved::Bool(true)
            } else {
                Resolved::Str
            };
        }
        b'f' | b'F' => {
            return if matches!(s, "false" | "False" | "FALSE") {
                Resolved::Bool(false)
            } else {
                Resolved::Str
            };
        }
        b'~' => {
            return if b.len() == 1 {
                Resolved::Null
            } else {
                Resolved::Str
            };
        }
        b'<' => {
            return if s == "<<" {
                Resolved::Merge
            } else {
                Resolved::Str
            };
        }
        _ => return Resolved::Str,
    }
    match s {
        "+.inf" | "+.Inf" | "+.INF" => return Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    if first.is_ascii_digit()
        && let Some(t) = parse_timestamp(b)
    {
        return Resolved::Time(t);
    }
    // go-yaml drops every underscore before trying the number forms.
    let owned;
    let plain: &[u8] = if b.contains(&b'_') {
        owned = b
            .iter()
            .copied()
            .filter(|&c| c != b'_')
            .collect::<Vec<u8>>();
        &owned
    } else {
        b
    };
    match parse_int_base0(plain) {
        IntParse::Int(v) => return Resolved::Int(v),
        IntParse::Uint => return Resolved::Uint,
        IntParse::Invalid => {}
    }
    if is_yaml_float(plain)
        && let Some(v) = parse_float(plain)
    {
        return Resolved::Float(v);
    }
    // `0b`/`0o` followed by a signed number in that base (`0o-17`).
    // go-yaml's `-0b`/`-0o` branches parse "-" + the rest, which succeeds
    // only where `ParseInt(_, 0, 64)` above already did, so they add nothing
    // (`-0b-101` stays a string).
    for (prefix, radix) in [(&b"0b"[..], 2), (&b"0o"[..], 8)] {
        if let Some(v) = plain
            .strip_prefix(prefix)
            .and_then(|rest| parse_signed_radix(rest, radix))
        {
            return Resolved::Int(v);
        }
    }
    Resolved::Str
}

/// True for the YAML 1.1 booleans go-yaml still quotes on output
/// (`y`, `yes`, `on`, `off`, … in their three spellings).
pub(crate) fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// True for a YAML 1.1 base-60 float such as `1:20` or `-1_0:30:00.5`:
/// `[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?`.
pub(crate) fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    // `[0-9][0-9_]*`, the first digit checked here.
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while b.get(i).is_some_and(|&c| c.is_ascii_digit() || c == b'_') {
        i += 1;
    }
    let groups_start = i;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        // `[0-5]?[0-9]`: a third digit could be followed by none of `:`,
        // `.` or the end, so the whole pattern fails on it too.
        match i - start {
            1 => {}
            2 if b[start] <= b'5' => {}
            _ => return false,
        }
    }
    if i == groups_start {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|&c| c.is_ascii_digit() || c == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

enum IntParse {
    Int(i64),
    /// Fits u64 but not i64 (and has no sign).
    Uint,
    Invalid,
}

fn digit_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'a'..=b'f' => Some(u32::from(c - b'a') + 10),
        b'A'..=b'F' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

/// Unsigned digits in `radix`; `None` if empty, invalid or above u64.
fn parse_digits(b: &[u8], radix: u32) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = digit_value(c).filter(|&d| d < radix)?;
        v = v.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// Go `strconv.ParseUint(s, 0, 64)` without the sign: `0x`, `0o`, `0b`
/// prefixes and a leading `0` for octal.
fn parse_uint_base0(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    if b[0] == b'0' && b.len() >= 3 {
        match b[1] | 0x20 {
            b'x' => return parse_digits(&b[2..], 16),
            b'o' => return parse_digits(&b[2..], 8),
            b'b' => return parse_digits(&b[2..], 2),
            _ => {}
        }
    }
    if b[0] == b'0' {
        if b.len() == 1 {
            return Some(0);
        }
        return parse_digits(&b[1..], 8);
    }
    parse_digits(b, 10)
}

/// Go `strconv.ParseInt(s, 0, 64)`, then `ParseUint(s, 0, 64)`.
fn parse_int_base0(b: &[u8]) -> IntParse {
    let (neg, body) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let Some(v) = parse_uint_base0(body) else {
        return IntParse::Invalid;
    };
    if neg {
        if v <= 1u64 << 63 {
            return IntParse::Int((v as i64).wrapping_neg());
        }
        return IntParse::Invalid;
    }
    match i64::try_from(v) {
        Ok(i) => IntParse::Int(i),
        // ParseUint accepts no sign at all.
        Err(_) if b[0] != b'+' => IntParse::Uint,
        Err(_) => IntParse::Invalid,
    }
}

/// Go `strconv.ParseInt(s, radix, 64)` (sign allowed, no prefix).
fn parse_signed_radix(b: &[u8], radix: u32) -> Option<i64> {
    let (neg, body) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let v = parse_digits(body, radix)?;
    if neg {
        (v <= 1u64 << 63).then(|| (v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_yaml_float(b: &[u8]) -> bool {
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Parses text already checked by [`is_yaml_float`]; `None` on overflow
/// (Go's `ParseFloat` reports a range error there).
fn parse_float(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A plain scalar starting with `.`: Go `ParseFloat` of the whole text.
fn dot_float(b: &[u8]) -> Option<f64> {
    if is_yaml_float(b) {
        parse_float(b)
    } else {
        None
    }
}

/// 1 or 2 digits (Go's non-fixed `getnum`).
fn num12(b: &[u8], i: &mut usize) -> Option<u32> {
    let d0 = *b.get(*i).filter(|c| c.is_ascii_digit())?;
    *i += 1;
    let mut v = u32::from(d0 - b'0');
    if let Some(&d1) = b.get(*i).filter(|c| c.is_ascii_digit()) {
        *i += 1;
        v = v * 10 + u32::from(d1 - b'0');
    }
    Some(v)
}

fn num2_fixed(b: &[u8], i: usize) -> Option<u32> {
    let d0 = *b.get(i).filter(|c| c.is_ascii_digit())?;
    let d1 = *b.get(i + 1).filter(|c| c.is_ascii_digit())?;
    Some(u32::from(d0 - b'0') * 10 + u32::from(d1 - b'0'))
}

/// The timestamp forms go-yaml v3 accepts (Go layouts
/// `2006-1-2T15:4:5.999999999Z07:00`, the same with `t`,
/// `2006-1-2 15:4:5.999999999` in UTC, and `2006-1-2`).
pub(crate) fn parse_timestamp(b: &[u8]) -> Option<TimeParts> {
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let year = b[..4]
        .iter()
        .fold(0i32, |acc, d| acc * 10 + i32::from(d - b'0'));
    let mut i = 5;
    let month = num12(b, &mut i)?;
    if b.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let day = num12(b, &mut i)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut parts = TimeParts {
        year,
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
        nanos: 0,
        offset_minutes: None,
    };
    if i == b.len() {
        return Some(parts);
    }
    let zoned = match b[i] {
        b'T' | b't' => true,
        b' ' => false,
        _ => return None,
    };
    i += 1;
    let hour = num12(b, &mut i)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let minute = num12(b, &mut i)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let second = num12(b, &mut i)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    parts.hour = hour;
    parts.minute = minute;
    parts.second = second;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let start = i;
        let mut nanos = 0u32;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        for _ in (i - start).min(9)..9 {
            nanos *= 10;
        }
        parts.nanos = nanos;
    }
    if !zoned {
        return (i == b.len()).then_some(parts);
    }
    match b.get(i)? {
        b'Z' if i + 1 == b.len() => {}
        sign @ (b'+' | b'-') if b.len() == i + 6 && b[i + 3] == b':' => {
            let h = num2_fixed(b, i + 1)?;
            let m = num2_fixed(b, i + 4)?;
            if h > 24 || m > 60 {
                return None;
            }
            let off = (h * 60 + m) as i32;
            parts.offset_minutes = Some(if *sign == b'-' { -off } else { off });
        }
        _ => return None,
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        for s in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(resolve_plain(s), Resolved::Null, "{s}");
        }
        for s in ["nULL", "~~", "none", "yes", "on", "y", "tRUE", "abc", "<<<"] {
            assert_eq!(resolve_plain(s), Resolved::Str, "{s}");
        }
        assert_eq!(resolve_plain("True"), Resolved::Bool(true));
        assert_eq!(resolve_plain("FALSE"), Resolved::Bool(false));
        assert_eq!(resolve_plain("<<"), Resolved::Merge);
    }

    #[test]
    fn ints() {
        for (s, v) in [
            ("0", 0),
            ("-0", 0),
            ("+5", 5),
            ("0x1F", 31),
            ("0X1f", 31),
            ("0o17", 15),
            ("017", 15),
            ("0b101", 5),
            ("-0b101", -5),
            ("1_000", 1000),
            ("0x_1F", 31),
            ("0o-17", -15),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(resolve_plain(s), Resolved::Int(v), "{s}");
        }
        for s in [
            "9223372036854775808",
            "18446744073709551615",
            "0xFFFFFFFFFFFFFFFF",
        ] {
            assert_eq!(resolve_plain(s), Resolved::Uint, "{s}");
        }
        assert_eq!(
            resolve_plain("+9223372036854775808"),
            Resolved::Float(9.223372036854776e18)
        );
        assert_eq!(resolve_plain("0x"), Resolved::Str);
        assert_eq!(resolve_plain("0x1FFFFFFFFFFFFFFFF"), Resolved::Str);
    }

    #[test]
    fn floats() {
        for (s, v) in [
            (".5", 0.5),
            ("1e3", 1000.0),
            ("1.0", 1.0),
            ("1.", 1.0),
            ("-1.5e-3", -0.0015),
            ("08", 8.0),
            ("99999999999999999999", 1e20),
            (".inf", f64::INFINITY),
            ("-.Inf", f64::NEG_INFINITY),
            ("+.INF", f64::INFINITY),
        ] {
            assert_eq!(resolve_plain(s), Resolved::Float(v), "{s}");
        }
        assert!(matches!(resolve_plain(".nan"), Resolved::Float(v) if v.is_nan()));
        for s in [
            "1e400", ".", "1e", "1.2.3", "e3", "1:20", ".5_0", "0x1p3", "inf", "nan",
        ] {
            assert_eq!(resolve_plain(s), Resolved::Str, "{s}");
        }
    }

    #[test]
    fn timestamps() {
        let t = |s: &str| match resolve_plain(s) {
            Resolved::Time(p) => Some(crate::tree::Time::from_parts(p).as_str().to_owned()),
            _ => None,
        };
        assert_eq!(t("2024-05-01").as_deref(), Some("2024-05-01T00:00:00Z"));
        assert_eq!(t("2024-5-1").as_deref(), Some("2024-05-01T00:00:00Z"));
        assert_eq!(
            t("2001-12-14t21:59:43.10-05:00").as_deref(),
            Some("2001-12-14T21:59:43.1-05:00")
        );
        assert_eq!(
            t("2001-12-14 21:59:43.10").as_deref(),
            Some("2001-12-14T21:59:43.1Z")
        );
        assert_eq!(
            t("2024-05-01T12:00:00.123456789+02:00").as_deref(),
            Some("2024-05-01T12:00:00.123456789+02:00")
        );
        assert_eq!(
            t("2024-05-01T1:2:3Z").as_deref(),
            Some("2024-05-01T01:02:03Z")
        );
        assert_eq!(
            t("2024-05-01T12:00:00+00:00").as_deref(),
            Some("2024-05-01T12:00:00Z")
        );
        for s in [
            "2001-12-14 21:59:43.10 -5",
            "2024-02-30",
            "2024-13-01",
            "2024-05-01T12:00:00",
            "2024-05-01T12:00:00z",
            "2024-05-01 12:00:00Z",
            "20240-05-01",
            "2024-05-01T24:00:00Z",
        ] {
            assert_eq!(t(s), None, "{s}");
        }
    }

    #[test]
    fn quoting_helpers() {
        assert!(is_base60_float("1:20"));
        assert!(is_base60_float("-1_0:30:59.5"));
        assert!(!is_base60_float("1:60"));
        assert!(!is_base60_float("1:2a"));
        assert!(!is_base60_float("12"));
        assert!(is_old_bool("Yes") && is_old_bool("OFF") && !is_old_bool("yES"));
    }

    // The m10_* tests below pin what sops 3.11 does with each scalar: every
    // expectation was checked by encrypting a YAML file holding the scalar
    // with the reference binary and reading the `type:` of its ENC value
    // (and the decrypted value).

    #[test]
    fn m10_int_prefixes_as_go_parses_them() {
        for (s, v) in [
            // Go's ParseInt base 0 takes the prefix letters in either case.
            ("0B101", 5),
            ("0O17", 15),
            ("0xaBc", 0xabc),
            ("00", 0),
            ("-017", -15),
            // go-yaml's own `0b`/`0o` fallback: a sign after the prefix.
            ("0o+17", 15),
            ("0b+101", 5),
            ("0b-101", -5),
            (
                "0b-1000000000000000000000000000000000000000000000000000000000000000",
                i64::MIN,
            ),
            ("-0x8000000000000000", i64::MIN),
            ("0o_7_7", 63),
        ] {
            assert_eq!(resolve_plain(s), Resolved::Int(v), "{s}");
        }
        for s in [
            "0b1111111111111111111111111111111111111111111111111111111111111111",
            "0o1777777777777777777777",
        ] {
            assert_eq!(resolve_plain(s), Resolved::Uint, "{s}");
        }
        for s in [
            // A sign on both sides of the prefix: go-yaml's `-0b` branch
            // parses "-" + rest, which then holds two signs.
            "-0b-101",
            "-0b+101",
            "-0o-17",
            "-0o+17",
            "-0x8000000000000001",
            "0b+1111111111111111111111111111111111111111111111111111111111111111",
            "0o-1000000000000000000001",
            "1x10",
            "2o7",
            "9b1",
            "0b",
            "0o",
            "0b2",
            "0o8",
            "0xG",
            "0x_",
            "+",
            "+-1",
            "--1",
            "1-",
        ] {
            assert_eq!(resolve_plain(s), Resolved::Str, "{s}");
        }
    }

    #[test]
    fn m10_floats_as_go_yaml_matches_them() {
        for (s, v) in [
            ("+.5", 0.5),
            ("-.5", -0.5),
            ("1.e3", 1000.0),
            ("1E3", 1000.0),
            ("1.5e+3", 1500.0),
            ("1.5E-3", 0.0015),
            (".5e3", 500.0),
            (".5E-1", 0.05),
            (".25e+2", 25.0),
            ("1e-400", 0.0),
            ("1_0e1_0", 1e11),
            ("12.75", 12.75),
            ("-12.", -12.0),
        ] {
            assert_eq!(resolve_plain(s), Resolved::Float(v), "{s}");
        }
        for s in [
            ".5e400",
            ".5e",
            ".5e+",
            ".e3",
            "..5",
            ".5.",
            ".5x",
            "1e+",
            "1e-",
            "1.5x",
            "+.",
            "-.",
            "+e3",
            "1e3.5",
            "1ee3",
            "1.5e3x",
            ".NaN.",
            ".infinity",
            "+.nan",
            "-.NaN",
            // Words Rust's f64 parser takes but the YAML float pattern does not.
            "+inf",
            "-inf",
            "+infinity",
            "-Infinity",
            "+nan",
            "-NaN",
        ] {
            assert_eq!(resolve_plain(s), Resolved::Str, "{s}");
        }
        for s in [".NaN", ".NAN"] {
            assert!(
                matches!(resolve_plain(s), Resolved::Float(v) if v.is_nan()),
                "{s}"
            );
        }
        assert_eq!(resolve_plain(".Inf"), Resolved::Float(f64::INFINITY));
        assert_eq!(resolve_plain(".INF"), Resolved::Float(f64::INFINITY));
        assert_eq!(resolve_plain("+.inf"), Resolved::Float(f64::INFINITY));
        assert_eq!(resolve_plain("-.inf"), Resolved::Float(f64::NEG_INFINITY));
        assert_eq!(resolve_plain("-.INF"), Resolved::Float(f64::NEG_INFINITY));
    }

    #[test]
    fn m10_words_in_every_spelling() {
        for s in ["true", "TRUE"] {
            assert_eq!(resolve_plain(s), Resolved::Bool(true), "{s}");
        }
        for s in ["false", "False"] {
            assert_eq!(resolve_plain(s), Resolved::Bool(false), "{s}");
        }
        for s in [
            "nul", "nulls", "Nil", "truex", "Tru", "fals", "falsey", "F", "T", "~x", "<", "<<a",
        ] {
            assert_eq!(resolve_plain(s), Resolved::Str, "{s}");
        }
    }

    #[test]
    fn m10_yaml_float_pattern() {
        // go-yaml's `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
        for s in [
            "1", "+1", "-1.", ".5", "-.5", "1.5e3", "1E-3", "1.e+3", "0.0",
        ] {
            assert!(is_yaml_float(s.as_bytes()), "{s}");
        }
        for s in [
            "", "+", "-", ".", "+.", "1e", "1e+", ".e3", "e3", "1.5.", "1x", "inf", "+inf", "1_0",
            "1e3.5", "..5", "1.5e", " 1", "1 ",
        ] {
            assert!(!is_yaml_float(s.as_bytes()), "{s}");
        }
    }

    fn ts(s: &str) -> Option<TimeParts> {
        match resolve_plain(s) {
            Resolved::Time(p) => Some(p),
            _ => None,
        }
    }

    fn parts(
        (year, month, day): (i32, u32, u32),
        (hour, minute, second, nanos): (u32, u32, u32, u32),
        offset_minutes: Option<i32>,
    ) -> TimeParts {
        TimeParts {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
            offset_minutes,
        }
    }

    #[test]
    fn m10_timestamp_parts() {
        for (s, want) in [
            ("2024-1-1", parts((2024, 1, 1), (0, 0, 0, 0), None)),
            ("1987-12-31", parts((1987, 12, 31), (0, 0, 0, 0), None)),
            ("2024-02-29", parts((2024, 2, 29), (0, 0, 0, 0), None)),
            ("2000-02-29", parts((2000, 2, 29), (0, 0, 0, 0), None)),
            ("2024-05-1", parts((2024, 5, 1), (0, 0, 0, 0), None)),
            ("2024-5-01", parts((2024, 5, 1), (0, 0, 0, 0), None)),
            (
                "2024-05-01T12:00:0Z",
                parts((2024, 5, 1), (12, 0, 0, 0), None),
            ),
            (
                "2024-05-01 12:00:00",
                parts((2024, 5, 1), (12, 0, 0, 0), None),
            ),
            (
                "2024-05-01t12:34:56Z",
                parts((2024, 5, 1), (12, 34, 56, 0), None),
            ),
            (
                "2024-05-01T23:59:59Z",
                parts((2024, 5, 1), (23, 59, 59, 0), None),
            ),
            (
                "2024-05-01T12:00:00.5Z",
                parts((2024, 5, 1), (12, 0, 0, 500_000_000), None),
            ),
            (
                "2024-05-01T12:00:00,5Z",
                parts((2024, 5, 1), (12, 0, 0, 500_000_000), None),
            ),
            (
                "2024-05-01 12:00:00,25",
                parts((2024, 5, 1), (12, 0, 0, 250_000_000), None),
            ),
            // Digits past the ninth are dropped, not rounded.
            (
                "2024-05-01T12:00:00.1234567891Z",
                parts((2024, 5, 1), (12, 0, 0, 123_456_789), None),
            ),
            (
                "2024-05-01T12:00:00.987654321Z",
                parts((2024, 5, 1), (12, 0, 0, 987_654_321), None),
            ),
            (
                "2024-11-30T10:45:30.000000001-05:30",
                parts((2024, 11, 30), (10, 45, 30, 1), Some(-330)),
            ),
            (
                "2024-05-01T12:00:00+11:45",
                parts((2024, 5, 1), (12, 0, 0, 0), Some(705)),
            ),
            // Go accepts offsets up to 24h and 60m ("some people do write").
            // (sops then fails to encrypt a +24:00 time: Go's MarshalText
            // refuses the offset.)
            (
                "2024-05-01T12:00:00+24:00",
                parts((2024, 5, 1), (12, 0, 0, 0), Some(1440)),
            ),
            (
                "2024-05-01T12:00:00+00:60",
                parts((2024, 5, 1), (12, 0, 0, 0), Some(60)),
            ),
        ] {
            assert_eq!(ts(s), Some(want), "{s}");
        }
        for s in [
            "2023-02-29",
            "1900-02-29",
            "2024-04-31",
            "2024-00-10",
            "2024-05-00",
            "2024-05-01T12:00:00.Z",
            "2024-05-01 12:00:00.",
            "2024-05-01T12:00:00+25:00",
            "2024-05-01T12:00:00+00:61",
            "2024-05-01T12:00:00+0200",
            "2024-05-01T12:00:00+02000",
            "2024-05-01T12:00:00+02:0",
            "2024-05-01T12:00:00+02:000",
            "2024-05-01T12:00:00-a0:00",
            "2024-05-01T12:00:00+0a:00",
            "2024-05-01T12:00:00+00:0a",
            "2024-05-01T12:00:00*02:00",
            "2024-05-01T12:60:00Z",
            "2024-05-01T12:00:60Z",
            "2024-05-01X",
            "2024-05-001",
            "2024-123-01",
            "2024-05-01T012:00:00Z",
            "2024-05-01T12:00:00Z5",
            "2024-05-01T12:00Z",
            "2024-05-01T12:00:00ZZ",
            "2024-05-01T12:00:00+05:30x",
            "2024-05-01T12-00:00Z",
            "2024-05-01T12:00-00Z",
            "2024-05-01T",
            "2024-05-01T12",
            "2024-05-01T12:0",
            "2024-05-01T12:00:0",
            "2024-05-01T:00:00Z",
            "2024-1",
            "2024-1-",
            "2024--1-1",
            "2024/05/01",
            "24-05-01",
            "2a24-05-01",
            "202a-05-01",
        ] {
            assert_eq!(ts(s), None, "{s}");
        }
        // Not a timestamp and not a number either.
        assert_eq!(resolve_plain("2024-05-01X"), Resolved::Str);
    }

    #[test]
    fn m10_base60_quoting_matches_go_yaml() {
        // go-yaml quotes these strings on output; checked by decrypting
        // files that hold them with the reference binary.
        for s in [
            "+1:2", "1:2:3", "1:59", "1:05", "1:7", "1:20.", "1:20.5_5", "1_:20", "1:6", "1:09",
            "1:0",
        ] {
            assert!(is_base60_float(s), "{s}");
        }
        for s in [
            "1:", "1::2", "a1:2", "1:20.5x", "1:2_0", "1:66", "+:20", "1:123", "1:20:", "1:2.3.4",
            "1:2:60", "_1:20", "1:20_", "1:5a", "1:60:1", "-1", "1:20.5:1", "", "+", ":", "1:2 ",
        ] {
            assert!(!is_base60_float(s), "{s}");
        }
    }
}
