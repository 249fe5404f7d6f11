//! Typed, path-aware reads of BC JSON fields for the mapping, with BC's empty values turned into `None`.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use ledgerlink_domain::records::Decimal;

use super::error::MappingError;
use super::json::Json;

/// A date written exactly `YYYY-MM-DD`, read without chrono's format machinery (which interprets
/// its format string for every date); `None` for any other text, which chrono then reads (or refuses)
/// as before.
fn ymd(raw: &str) -> Option<NaiveDate> {
    let b = raw.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(number(&b[..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, number(&b[5..7])?, number(&b[8..])?)
}

/// A BC JSON object and where it sits in the record (for error messages).
pub(super) struct Obj<'a> {
    map: &'a [(Cow<'a, str>, Json<'a>)],
    path: String,
}

impl<'a> Obj<'a> {
    /// The top-level entity.
    pub fn root(value: &'a Json<'a>) -> Result<Self, MappingError> {
        Self::at(value, String::new())
    }

    fn at(value: &'a Json<'a>, path: String) -> Result<Self, MappingError> {
        match value {
            Json::Object(map) => Ok(Obj { map, path }),
            other => Err(MappingError::NotAnObject {
                field: if path.is_empty() {
                    "record".into()
                } else {
                    path
                },
                found: json_type(other),
            }),
        }
    }

    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value of `key`; absent and JSON `null` are both `None`.
    fn get(&self, key: &str) -> Option<&'a Json<'a>> {
        Json::member(self.map, key).filter(|v| **v != Json::Null)
    }

    /// The error for a required field that is absent.
    pub fn missing(&self, key: &str) -> MappingError {
        MappingError::Missing {
            field: self.field(key),
        }
    }

    fn wrong(&self, key: &str, expected: &'static str, found: &Json) -> MappingError {
        MappingError::WrongType {
            field: self.field(key),
            expected,
            found: json_type(found),
        }
    }

    fn invalid(&self, key: &str, expected: &'static str, value: &str) -> MappingError {
        MappingError::Invalid {
            field: self.field(key),
            expected,
            value: value.chars().take(60).collect(),
        }
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, MappingError> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.as_ref())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// The entity's `id`: a GUID, required and not all zeros.
    pub fn id(&self) -> Result<String, MappingError> {
        self.guid("id")?.ok_or_else(|| self.missing("id"))
    }

    /// Optional text; `""` is `None`.
    pub fn text(&self, key: &str) -> Result<Option<String>, MappingError> {
        Ok(self
            .string(key)?
            .filter(|s| !s.is_empty())
            .map(str::to_owned))
    }

    /// Text BC declares non-nullable (a customer's `displayName`, a dimension's `code`): kept as
    /// sent, `""` included. BC's tables hold blanks its API pages refuse on write (a customer created
    /// in the web client without a name), so a blank is the ERP's value, not a broken record; `null`
    /// or an absent property (never sent by BC) reads as `""` too.
    pub fn plain_text(&self, key: &str) -> Result<String, MappingError> {
        Ok(self.string(key)?.unwrap_or_default().to_owned())
    }

    /// A GUID in lower case; `""` and the all-zero GUID are `None`.
    pub fn guid(&self, key: &str) -> Result<Option<String>, MappingError> {
        let Some(raw) = self.string(key)?.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        if !is_guid(raw) {
            return Err(self.invalid(key, "GUID", raw));
        }
        let zero = raw.bytes().all(|b| b == b'0' || b == b'-');
        Ok((!zero).then(|| raw.to_ascii_lowercase()))
    }

    /// A `YYYY-MM-DD` date; BC's empty date `0001-01-01` is `None`.
    pub fn date(&self, key: &str) -> Result<Option<NaiveDate>, MappingError> {
        let Some(raw) = self.string(key)?.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let date = match ymd(raw) {
            Some(date) => date,
            None => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| self.invalid(key, "date (YYYY-MM-DD)", raw))?,
        };
        Ok((date.year() > 1).then_some(date))
    }

    /// An RFC 3339 instant in UTC; BC's "never" stamp `0001-01-01T00:00:00Z` is `None`.
    pub fn datetime(&self, key: &str) -> Result<Option<DateTime<Utc>>, MappingError> {
        let Some(raw) = self.string(key)?.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let at = DateTime::parse_from_rfc3339(raw)
            .map_err(|_| self.invalid(key, "RFC 3339 date-time", raw))?
            .with_timezone(&Utc);
        Ok((at.year() > 1).then_some(at))
    }

    /// A decimal, exactly as written (BC sends JSON numbers; serde_json's `arbitrary_precision` keeps
    /// their digits). `null` and absent are `None`: BC's metadata declares its decimals nullable, and
    /// a property an older BC lacks is absent.
    pub fn decimal(&self, key: &str) -> Result<Option<Decimal>, MappingError> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::Number(text)) => Decimal::parse(text)
                .map(Some)
                .ok_or_else(|| self.invalid(key, "decimal", text)),
            Some(other) => Err(self.wrong(key, "a number", other)),
        }
    }

    /// An integer; `null` and absent are `None` (nullable in BC's metadata).
    pub fn integer(&self, key: &str) -> Result<Option<i64>, MappingError> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::Number(text)) => text
                .parse::<i64>()
                .map(Some)
                .map_err(|_| self.invalid(key, "integer", text)),
            Some(other) => Err(self.wrong(key, "an integer", other)),
        }
    }

    /// A boolean; `null` and absent are `None` (nullable in BC's metadata).
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, MappingError> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "a boolean", other)),
        }
    }

    /// An enum member in snake_case (`In_x0020_Review` → `in_review`); BC's blank member `_x0020_` is
    /// `None`.
    pub fn member(&self, key: &str) -> Result<Option<String>, MappingError> {
        Ok(self
            .string(key)?
            .map(snake_member)
            .filter(|s| !s.is_empty()))
    }

    /// A required JSON array (an expanded collection).
    pub fn array(&self, key: &str) -> Result<&'a [Json<'a>], MappingError> {
        match self.get(key) {
            None => Err(self.missing(key)),
            Some(Json::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    /// An expanded collection of objects, `None` when not expanded.
    pub fn objects(&self, key: &str) -> Result<Option<Vec<Obj<'a>>>, MappingError> {
        if self.get(key).is_none() {
            return Ok(None);
        }
        let items = self.array(key)?.iter().enumerate();
        let objects = items.map(|(i, v)| Obj::at(v, format!("{}[{i}]", self.field(key))));
        objects.collect::<Result<_, _>>().map(Some)
    }

    /// An expanded single entity, `None` when not expanded.
    pub fn child(&self, key: &str) -> Result<Option<Obj<'a>>, MappingError> {
        self.get(key)
            .map(|v| Obj::at(v, self.field(key)))
            .transpose()
    }
}

impl MappingError {
    /// The same error, located inside `prefix` (e.g. `customerPayments[3]`).
    pub(super) fn within(self, prefix: &str) -> Self {
        let locate = |field: String| format!("{prefix}.{field}");
        match self {
            MappingError::NotAnObject { field, found } => MappingError::NotAnObject {
                field: if field == "record" {
                    prefix.to_owned()
                } else {
                    locate(field)
                },
                found,
            },
            MappingError::Missing { field } => MappingError::Missing {
                field: locate(field),
            },
            MappingError::WrongType {
                field,
                expected,
                found,
            } => MappingError::WrongType {
                field: locate(field),
                expected,
                found,
            },
            MappingError::Invalid {
                field,
                expected,
                value,
            } => MappingError::Invalid {
                field: locate(field),
                expected,
                value,
            },
            other @ MappingError::UnknownModel(_) => other,
        }
    }
}

/// BC's XML-escaped enum member name → snake_case: `_xHHHH_` escapes decoded (`_x0020_` is a space),
/// then every run of non-alphanumerics becomes one `_`, lower-cased, trimmed (`_x0020_` → `""`).
pub(super) fn snake_member(wire: &str) -> String {
    let decoded = decode_xml_escapes(wire);
    let mut out = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

fn decode_xml_escapes(wire: &str) -> String {
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some(at) = rest.find("_x") {
        out.push_str(&rest[..at]);
        let candidate = &rest[at..];
        let escaped = candidate
            .get(2..6)
            .filter(|hex| {
                candidate.get(6..7) == Some("_") && hex.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .and_then(char::from_u32);
        match escaped {
            Some(c) => {
                out.push(c);
                rest = &candidate[7..];
            }
            None => {
                out.push_str("_x");
                rest = &candidate[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn json_type(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_fast_are_the_dates_chrono_reads() {
        let chrono = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let mut day = NaiveDate::from_ymd_opt(1, 1, 1).unwrap();
        while day.year() < 10_000 {
            let text = day.format("%Y-%m-%d").to_string();
            assert_eq!(ymd(&text), Some(day), "{text}");
            day = day + chrono::Days::new(13);
        }
        for odd in [
            "2024-02-30",
            "2023-02-29",
            "2024-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-1-05",
            "2024-01-5",
            "+2024-01-05",
            "02024-01-05",
            "2024/01/05",
            "2024-01-05T",
            "２０２４-01-05",
            "20a4-01-05",
            "",
            "0000-01-01",
            "-001-01-01",
            "2024-01-0 ",
        ] {
            // Either the fast path reads it as chrono does, or it leaves it to chrono.
            if let Some(fast) = ymd(odd) {
                assert_eq!(Some(fast), chrono(odd), "{odd}");
            }
        }
    }
}
