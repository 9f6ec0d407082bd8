//! Float formatting as Go's `strconv.FormatFloat` and `encoding/json` do it.
//! sops writes float plaintext with `'f'`, YAML output with `'g'`, JSON
//! output with the `encoding/json` rule and dotenv/INI output with `'G'`.

/// Shortest round-trip digits and decimal exponent: `value = 0.d1d2… × 10^(exp+1)`,
/// i.e. `exp` is the exponent of the first digit (`1234.5` → ("12345", 3)).
fn shortest_digits(v: f64) -> (String, i32) {
    let s = format!("{:e}", v.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

fn exponent_form(v: f64, e_char: char) -> String {
    let (digits, exp) = shortest_digits(v);
    let mut out = String::with_capacity(digits.len() + 6);
    if v.is_sign_negative() {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push(e_char);
    out.push(if exp < 0 { '-' } else { '+' });
    let abs = exp.unsigned_abs();
    if abs < 10 {
        out.push('0');
    }
    out.push_str(&abs.to_string());
    out
}

/// Go `FormatFloat(v, 'f', -1, 64)`: never an exponent (the sops plaintext of
/// a `float` and its MAC bytes).
pub fn format_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn format_g_with(v: f64, e_char: char) -> String {
    if !v.is_finite() {
        return format_f(v);
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (_, exp) = shortest_digits(v);
    if !(-4..6).contains(&exp) {
        exponent_form(v, e_char)
    } else {
        format!("{v}")
    }
}

/// Go `FormatFloat(v, 'g', -1, 64)` (YAML output; go-yaml then maps the
/// infinities and NaN to `.inf`/`-.inf`/`.nan`, see [`format_yaml`]).
pub fn format_g(v: f64) -> String {
    format_g_with(v, 'e')
}

/// Go `FormatFloat(v, 'G', -1, 64)`.
pub fn format_upper_g(v: f64) -> String {
    format_g_with(v, 'E')
}

/// A float as go-yaml v3 writes it.
pub fn format_yaml(v: f64) -> String {
    if v.is_nan() {
        ".nan".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        }
    } else {
        format_g(v)
    }
}

/// A float as Go's `encoding/json` writes it; `None` for NaN and infinities,
/// which it cannot write.
pub fn format_json(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut s = exponent_form(v, 'e');
        // encoding/json shortens e-07 to e-7 (negative exponents only).
        if let Some(pos) = s.find("e-0") {
            s.remove(pos + 2);
        }
        Some(s)
    } else {
        Some(format!("{v}"))
    }
}

/// Go `strconv.ParseFloat(s, 64)`: decimal and exponent forms, `inf`,
/// `infinity`, `nan` in any case with optional sign, `_` is not allowed.
pub fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let (sign, body) = match lower.as_bytes().first()? {
        b'+' => (1.0, &lower[1..]),
        b'-' => (-1.0, &lower[1..]),
        _ => (1.0, &lower[..]),
    };
    match body {
        "inf" | "infinity" => return Some(sign * f64::INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if body.starts_with("0x") {
        return None;
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Go `strconv.Atoi`: optional sign, decimal digits (leading zeros allowed).
pub fn parse_go_int(s: &str) -> Option<i64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.strip_prefix('+').unwrap_or(s).parse().ok()
}

/// Go `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_f() {
        for (v, s) in [
            (0.75, "0.75"),
            (2.0, "2"),
            (1e3, "1000"),
            (1.5e10, "15000000000"),
            (6.02e23, "602000000000000000000000"),
            (1e-6, "0.000001"),
            (1e-9, "0.000000001"),
            (123456789012345678901234.5, "123456789012345690000000"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (-0.0, "-0"),
        ] {
            assert_eq!(format_f(v), s);
        }
        assert_eq!(format_f(f64::NAN), "NaN");
    }

    #[test]
    fn yaml_g() {
        for (v, s) in [
            (0.75, "0.75"),
            (1000.0, "1000"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.5, "1.2345675e+06"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (1e20, "1e+20"),
            (6.02e23, "6.02e+23"),
            (9007199254740992.0, "9.007199254740992e+15"),
            (f64::INFINITY, ".inf"),
            (42.0, "42"),
        ] {
            assert_eq!(format_yaml(v), s, "{v}");
        }
        assert_eq!(format_upper_g(1e-6), "1E-06");
    }

    #[test]
    fn json_floats() {
        for (v, s) in [
            (2.0, "2"),
            (1e20, "100000000000000000000"),
            (1e-6, "0.000001"),
            (123456789.12345679, "123456789.12345679"),
            (1e-7, "1e-7"),
            (1e21, "1e+21"),
            (6.02e23, "6.02e+23"),
            (1.2345678901234568e29, "1.2345678901234568e+29"),
            (-0.0, "-0"),
            (1e-9, "1e-9"),
        ] {
            assert_eq!(format_json(v).unwrap(), s, "{v}");
        }
        assert!(format_json(f64::NAN).is_none());
    }

    #[test]
    fn go_parsers() {
        assert_eq!(parse_go_int("+007"), Some(7));
        assert_eq!(parse_go_int("-17"), Some(-17));
        assert_eq!(parse_go_int("1_0"), None);
        assert_eq!(parse_go_float("1e3"), Some(1000.0));
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert!(parse_go_float("NaN").unwrap().is_nan());
        assert_eq!(parse_go_bool("t"), Some(true));
    }
}
