//! Field values and their JSON wire form (written straight to bytes).

use base64::Engine;
use chrono::{DateTime, Datelike, NaiveDate, Timelike};
use uuid::Uuid;

/// Milliseconds since the Unix epoch of `0001-01-01T00:00:00Z`, BC's "never" stamp.
pub const NEVER_MS: i64 = -62_135_596_800_000;

/// BC's empty date `0001-01-01`.
pub fn empty_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1, 1, 1).expect("date")
}

/// Wire type of a field, as in `$metadata`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Edm.Guid
    Guid,
    /// Edm.String
    Str,
    /// Edm.Date
    Date,
    /// Edm.DateTimeOffset
    Dt,
    /// Edm.Decimal (stored in hundredths)
    Dec,
    /// Edm.Int32 / Edm.Int64
    Int,
    /// Edm.Boolean
    Bool,
    /// A Microsoft.NAV enum
    Enum,
}

/// A field value read from a record.
#[derive(Clone, Debug)]
pub enum V<'a> {
    /// GUID.
    Guid(Uuid),
    /// Borrowed string.
    Str(&'a str),
    /// Date.
    Date(NaiveDate),
    /// Timestamp, milliseconds since the epoch.
    Dt(i64),
    /// Decimal in hundredths.
    Dec(i64),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// Enum member, wire form (`_x0020_` for spaces).
    Enum(&'static str),
}

impl V<'_> {
    /// Comparable key of this value, used by `$filter` and `$orderby`.
    pub fn key(&self) -> Key {
        match self {
            V::Guid(u) => Key::Guid(*u),
            V::Str(s) => Key::Str(s.to_lowercase()),
            V::Enum(s) => Key::Str(s.replace("_x0020_", " ").to_lowercase()),
            V::Date(d) => Key::Num(
                d.and_hms_opt(0, 0, 0)
                    .map(|x| x.and_utc().timestamp_millis())
                    .unwrap_or(NEVER_MS) as i128,
            ),
            V::Dt(ms) => Key::Num(*ms as i128),
            V::Dec(c) => Key::Num(*c as i128),
            V::Int(i) => Key::Num(*i as i128 * 100),
            V::Bool(b) => Key::Bool(*b),
        }
    }
}

/// A comparable, owned form of a value.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Key {
    /// Null literal.
    Null,
    /// Booleans.
    Bool(bool),
    /// Numbers (hundredths), dates and times (ms).
    Num(i128),
    /// GUIDs.
    Guid(Uuid),
    /// Strings, lower-cased (BC compares case-insensitively).
    Str(String),
}

/// Append `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn push_num(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = 20;
    let mut v = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let digits = 20 - i;
    for _ in digits..width {
        out.push(b'0');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Append a date as `YYYY-MM-DD` (no quotes).
pub fn push_date(out: &mut Vec<u8>, d: NaiveDate) {
    push_num(out, d.year() as u64, 4);
    out.push(b'-');
    push_num(out, d.month() as u64, 2);
    out.push(b'-');
    push_num(out, d.day() as u64, 2);
}

/// Format a timestamp the way BC does: `2025-05-16T15:37:35.593Z`, `0001-01-01T00:00:00Z`.
pub fn push_dt(out: &mut Vec<u8>, ms: i64) {
    let dt = DateTime::from_timestamp_millis(ms).unwrap_or_default();
    push_date(out, dt.date_naive());
    out.push(b'T');
    push_num(out, dt.hour() as u64, 2);
    out.push(b':');
    push_num(out, dt.minute() as u64, 2);
    out.push(b':');
    push_num(out, dt.second() as u64, 2);
    let mut frac = ms.rem_euclid(1000);
    if frac != 0 {
        out.push(b'.');
        let mut width = 3;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        push_num(out, frac as u64, width);
    }
    out.push(b'Z');
}

/// Timestamp as a `String`.
pub fn dt_string(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    push_dt(&mut v, ms);
    String::from_utf8(v).unwrap_or_default()
}

/// Append a decimal stored in hundredths as a JSON number (`336`, `77.28`, `-0.5`).
pub fn push_dec(out: &mut Vec<u8>, c: i64) {
    if c < 0 {
        out.push(b'-');
    }
    let a = c.unsigned_abs();
    push_num(out, a / 100, 1);
    let f = a % 100;
    if f != 0 {
        out.push(b'.');
        if f.is_multiple_of(10) {
            push_num(out, f / 10, 1);
        } else {
            push_num(out, f, 2);
        }
    }
}

/// Append a value in its JSON wire form.
pub fn push_value(out: &mut Vec<u8>, v: &V<'_>) {
    match v {
        V::Guid(u) => {
            let mut buf = [0u8; 36];
            out.push(b'"');
            out.extend_from_slice(u.hyphenated().encode_lower(&mut buf).as_bytes());
            out.push(b'"');
        }
        V::Str(s) => write_str(out, s),
        V::Enum(s) => write_str(out, s),
        V::Date(d) => {
            out.push(b'"');
            push_date(out, *d);
            out.push(b'"');
        }
        V::Dt(ms) => {
            out.push(b'"');
            push_dt(out, *ms);
            out.push(b'"');
        }
        V::Dec(c) => push_dec(out, *c),
        V::Int(i) => {
            if *i < 0 {
                out.push(b'-');
            }
            push_num(out, i.unsigned_abs(), 1)
        }
        V::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
    }
}

fn etag_raw(ver: u64, raw: &mut [u8; 48]) -> usize {
    let n = ver.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 4;
    let mut digits = [0u8; 20];
    let mut i = 20;
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let d = &digits[i..];
    let mut len = 0;
    let mut push = |bytes: &[u8]| {
        raw[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    push(b"'");
    let dl = d.len();
    if dl >= 10 {
        push(&[b'0' + (dl / 10) as u8]);
    }
    push(&[b'0' + (dl % 10) as u8]);
    push(b";");
    push(d);
    push(b";00;'");
    len
}

/// The ETag value for a row version, e.g. `W/"JzIwOzE2NzI4NzUyNjQ5OTA1ODk3MzEwMTswMDsn"`
/// (base64 of `'<len>;<version>;00;'`, as BC builds it).
pub fn etag(ver: u64) -> String {
    let mut raw = [0u8; 48];
    let n = etag_raw(ver, &mut raw);
    format!(
        "W/\"{}\"",
        base64::engine::general_purpose::STANDARD.encode(&raw[..n])
    )
}

/// Append `"@odata.etag":"W/\"…\""` (no separator), without allocating.
pub fn push_etag(out: &mut Vec<u8>, ver: u64) {
    let mut raw = [0u8; 48];
    let n = etag_raw(ver, &mut raw);
    let mut enc = [0u8; 64];
    let m = base64::engine::general_purpose::STANDARD
        .encode_slice(&raw[..n], &mut enc)
        .unwrap_or(0);
    out.extend_from_slice(b"\"@odata.etag\":\"W/\\\"");
    out.extend_from_slice(&enc[..m]);
    out.extend_from_slice(b"\\\"\"");
}

/// Parse a decimal literal into hundredths (rounded half away from zero).
pub fn parse_dec(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let s = s.trim_end_matches(['m', 'M']);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let i: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f = 0i64;
    let fb = frac.as_bytes();
    for k in 0..2 {
        f = f * 10 + fb.get(k).map(|b| (b - b'0') as i64).unwrap_or(0);
    }
    if fb.get(2).is_some_and(|b| *b >= b'5') {
        f += 1;
    }
    let v = i.checked_mul(100)?.checked_add(f)?;
    Some(if neg { -v } else { v })
}

/// Parse an OData/ISO timestamp to epoch milliseconds.
pub fn parse_dt(s: &str) -> Option<i64> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn etag_bytes_match_the_string_form() {
        for ver in [0, 1, 12345, u64::MAX] {
            let mut want = Vec::new();
            want.extend_from_slice(b"\"@odata.etag\":");
            write_str(&mut want, &etag(ver));
            assert_eq!(s(|o| push_etag(o, ver)), String::from_utf8(want).unwrap());
        }
        assert!(etag(1).starts_with("W/\"Jz"));
    }

    #[test]
    fn wire_forms() {
        assert_eq!(s(|o| push_dec(o, 33600)), "336");
        assert_eq!(s(|o| push_dec(o, 7728)), "77.28");
        assert_eq!(s(|o| push_dec(o, -50)), "-0.5");
        assert_eq!(s(|o| push_dec(o, 5)), "0.05");
        assert_eq!(s(|o| push_dt(o, NEVER_MS)), "0001-01-01T00:00:00Z");
        assert_eq!(
            s(|o| push_dt(o, 1_747_409_855_593)),
            "2025-05-16T15:37:35.593Z"
        );
        assert_eq!(
            s(|o| push_dt(o, 1_747_409_855_590)),
            "2025-05-16T15:37:35.59Z"
        );
        assert_eq!(s(|o| push_date(o, empty_date())), "0001-01-01");
        assert_eq!(parse_dec("-1500.125"), Some(-150013));
        assert_eq!(parse_dec("12"), Some(1200));
        assert_eq!(parse_dec("x"), None);
        assert_eq!(
            s(|o| write_str(o, "a\"b\\c\n\u{1}")),
            "\"a\\\"b\\\\c\\n\\u0001\""
        );
    }
}
