//! Timestamps in JSON, written and read without `chrono`'s general formatting machinery.
//!
//! The API's objects carry many timestamps (a page of 50 connections has ~1,000), and chrono writes
//! one through `Display`, a character at a time, then escaped by serde_json — ~6 % of a listing's
//! CPU, and as much again to parse the ones SQL hands back (BENCHMARKS.md, issue #12). The text is
//! exactly chrono's: RFC 3339 in UTC with `Z`, and 0, 3, 6 or 9 fractional digits, as few as keep
//! the value (`SecondsFormat::AutoSi`). What the fast paths do not cover (years outside 0–9999,
//! leap seconds, offsets other than UTC, relaxed spellings) goes to chrono, so nothing changes.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde::{Deserializer, Serialize, Serializer};

/// The longest text [`write`] makes: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX: usize = 30;

/// `t` as chrono's serde writes it, into `buf`; `None` where chrono must write it.
fn write(t: &DateTime<Utc>, buf: &mut [u8; MAX]) -> Option<usize> {
    let n = t.naive_utc();
    let year = n.year();
    let nanos = n.nanosecond();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let (fraction, digits) = if nanos == 0 {
        (0, 0)
    } else if nanos.is_multiple_of(1_000_000) {
        (nanos / 1_000_000, 3)
    } else if nanos.is_multiple_of(1_000) {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    let fields = [
        (year as u32, 4, b'-'),
        (n.month(), 2, b'-'),
        (n.day(), 2, b'T'),
        (n.hour(), 2, b':'),
        (n.minute(), 2, b':'),
        (n.second(), 2, if digits > 0 { b'.' } else { b'Z' }),
        (fraction, digits, b'Z'),
    ];
    let mut at = 0;
    for (value, width, then) in fields {
        if width == 0 {
            continue;
        }
        let mut rest = value;
        for digit in buf[at..at + width].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        at += width;
        buf[at] = then;
        at += 1;
    }
    Some(at)
}

/// Serializes `t` exactly as chrono does (`#[serde(serialize_with = "…")]`).
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX];
    match write(t, &mut buf) {
        Some(len) => {
            serializer.serialize_str(std::str::from_utf8(&buf[..len]).expect("ASCII digits"))
        }
        None => t.serialize(serializer),
    }
}

/// Appends `t` as JSON (a quoted string) to `out`: the bytes [`serialize`] makes through serde_json.
pub fn write_json(t: &DateTime<Utc>, out: &mut Vec<u8>) {
    let mut buf = [0u8; MAX];
    match write(t, &mut buf) {
        Some(len) => {
            out.push(b'"');
            out.extend_from_slice(&buf[..len]);
            out.push(b'"');
        }
        None => serde_json::to_writer(out, t).expect("a timestamp serializes"),
    }
}

/// [`write_json`] for an optional timestamp (`null` for none).
pub fn write_json_option(t: &Option<DateTime<Utc>>, out: &mut Vec<u8>) {
    match t {
        Some(t) => write_json(t, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// [`serialize`] for an optional timestamp.
pub fn serialize_option<S: Serializer>(
    t: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize(t, serializer),
        None => serializer.serialize_none(),
    }
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.f…]` then `Z` or `+00:00`, the spelling both storage backends'
/// JSON uses; `None` for anything else.
fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut at = 19;
    let mut nanos = 0;
    if b[at] == b'.' {
        let start = at + 1;
        let end = start + b[start..].iter().take_while(|d| d.is_ascii_digit()).count();
        if end == start || end - start > 9 {
            return None;
        }
        nanos = num(start..end)? * 10u32.pow(9 - (end - start) as u32);
        at = end;
    }
    if !matches!(&b[at..], b"Z" | b"+00:00") {
        return None;
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

/// Deserializes a timestamp as chrono does, quickly for the spelling the storage backends write
/// (`#[serde(deserialize_with = "…")]`).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(Visit)
}

/// [`deserialize`] for an optional timestamp.
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    deserializer.deserialize_option(VisitOption)
}

struct Visit;

impl serde::de::Visitor<'_> for Visit {
    type Value = DateTime<Utc>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an RFC 3339 timestamp")
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DateTime<Utc>, E> {
        match parse_utc(s) {
            Some(t) => Ok(t),
            None => s
                .parse::<DateTime<chrono::FixedOffset>>()
                .map(|t| t.with_timezone(&Utc))
                .map_err(E::custom),
        }
    }
}

struct VisitOption;

impl<'de> serde::de::Visitor<'de> for VisitOption {
    type Value = Option<DateTime<Utc>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an RFC 3339 timestamp or null")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(Serialize, serde::Deserialize)]
    struct Fast(
        #[serde(serialize_with = "serialize", deserialize_with = "deserialize")] DateTime<Utc>,
    );

    #[derive(Serialize, serde::Deserialize)]
    struct Chrono(DateTime<Utc>);

    fn samples() -> Vec<DateTime<Utc>> {
        let mut out = vec![];
        // A small deterministic generator: every fraction width, both ends of the year range.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..5_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = (x % 400_000_000_000) as i64 - 62_000_000_000; // years ~0 to ~10,700
            let nanos = match i % 5 {
                0 => 0,
                1 => (x % 1_000) as u32 * 1_000_000,
                2 => (x % 1_000_000) as u32 * 1_000,
                3 => (x % 1_000_000_000) as u32,
                _ => 1_000_000_000 + (x % 1_000) as u32, // a leap second
            };
            if let Some(t) = Utc.timestamp_opt(secs, nanos).single() {
                out.push(t);
            }
        }
        out.push(Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap());
        out.push(Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap());
        out.push(Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).unwrap());
        out.push(Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap());
        out
    }

    #[test]
    fn writes_what_chrono_writes_byte_for_byte() {
        let samples = samples();
        assert!(samples.len() > 4_000);
        for t in samples {
            let fast = serde_json::to_string(&Fast(t)).unwrap();
            assert_eq!(fast, serde_json::to_string(&Chrono(t)).unwrap(), "{t:?}");
            let mut written = Vec::new();
            write_json(&t, &mut written);
            assert_eq!(String::from_utf8(written).unwrap(), fast);
            // And reads back what it wrote.
            assert_eq!(serde_json::from_str::<Fast>(&fast).unwrap().0, t);
        }
    }

    #[test]
    fn reads_what_chrono_reads_and_refuses_what_it_refuses() {
        for t in samples() {
            for text in [
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false),
                t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ] {
                let json = serde_json::to_string(&text).unwrap();
                let fast = serde_json::from_str::<Fast>(&json).map(|f| f.0).ok();
                let chrono = serde_json::from_str::<Chrono>(&json).map(|c| c.0).ok();
                assert_eq!(fast, chrono, "{text}");
            }
        }
        for text in [
            "2026-11-29T18:54:43.24722+00:00",
            "2026-11-29T18:54:43.1Z",
            "2026-11-29 18:54:43+00:00",
            "2026-11-29T18:54:43+01:30",
            "2026-11-29t18:54:43z",
            "2026-11-29T18:54:43.Z",
            "2026-11-29T18:54:43.1234567891Z",
            "2026-02-30T00:00:00Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T23:59:60Z",
            "2026-11-29T18:54:43",
            "2026-11-29T18:54:43+00:00 ",
            "+2026-11-29T18:54:43Z",
            "２026-11-29T18:54:43Z",
            "",
            "garbage",
        ] {
            let json = serde_json::to_string(text).unwrap();
            let fast = serde_json::from_str::<Fast>(&json).map(|f| f.0).ok();
            let chrono = serde_json::from_str::<Chrono>(&json).map(|c| c.0).ok();
            assert_eq!(fast, chrono, "{text}");
        }
    }

    #[test]
    fn optional_timestamps_read_and_write_null() {
        #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Opt(
            #[serde(
                serialize_with = "serialize_option",
                deserialize_with = "deserialize_option"
            )]
            Option<DateTime<Utc>>,
        );
        assert_eq!(serde_json::to_string(&Opt(None)).unwrap(), "null");
        let mut written = Vec::new();
        write_json_option(&None, &mut written);
        assert_eq!(written, b"null");
        assert_eq!(serde_json::from_str::<Opt>("null").unwrap(), Opt(None));
        let t = Utc.with_ymd_and_hms(2026, 11, 29, 18, 0, 0).unwrap();
        let text = serde_json::to_string(&Opt(Some(t))).unwrap();
        assert_eq!(text, "\"2026-11-29T18:00:00Z\"");
        assert_eq!(serde_json::from_str::<Opt>(&text).unwrap(), Opt(Some(t)));
    }
}
