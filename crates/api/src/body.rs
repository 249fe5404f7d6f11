//! Reading JSON request bodies: size-limited, strictly typed, every problem reported at once with
//! its location, unknown fields named, absent/null/value kept apart for PATCH.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::{Map, Value};

use crate::error::{ApiError, ErrorCode, FieldError};

/// A body type read field by field from a JSON object.
pub trait FromBody: Sized {
    /// The fields this body accepts; any other is refused.
    const FIELDS: &'static [&'static str];
    /// Reads the fields; problems are recorded in `fields` and reported together.
    fn read(fields: &mut Fields) -> Option<Self>;
}

/// A validated JSON body.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: FromBody> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_content_type(&req)?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::coded(ErrorCode::PayloadTooLarge, "Request body is too large")
            } else if timed_out(&rejection) {
                ApiError::coded(
                    ErrorCode::RequestTimeout,
                    "The request body did not arrive in time",
                )
            } else {
                ApiError::invalid(&["body"], "body_read", "The request body could not be read")
            }
        })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Whether reading the body failed because it came too slowly (see `server::BodyTimeout`).
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<crate::server::BodyTimeout>() {
            return true;
        }
        current = e.source();
    }
    false
}

fn check_content_type(req: &Request) -> Result<(), ApiError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::coded(
            ErrorCode::UnsupportedMediaType,
            "Content-Type must be application/json",
        ))
    }
}

/// Parses and validates a body.
pub fn parse<T: FromBody>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|err| {
        ApiError::Validation(vec![FieldError {
            loc: vec!["body".into(), err.column().into()],
            msg: format!("JSON decode error: {err}"),
            kind: "json_invalid".into(),
        }])
    })?;
    let Value::Object(map) = value else {
        return Err(ApiError::invalid(
            &["body"],
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
        ));
    };
    let mut fields = Fields {
        map,
        errors: Vec::new(),
    };
    let parsed = T::read(&mut fields);
    fields.refuse_unknown(T::FIELDS);
    match parsed {
        Some(value) if fields.errors.is_empty() => Ok(value),
        _ => Err(ApiError::Validation(fields.errors)),
    }
}

/// A field of a body: absent, explicitly null, or a value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Tri<T> {
    /// Not in the body.
    #[default]
    Absent,
    /// `null` in the body.
    Null,
    /// A value of the right type.
    Value(T),
}

impl<T> Tri<T> {
    /// `None` when absent, `Some(None)` when null, `Some(Some(v))` for a value.
    pub fn into_change(self) -> Option<Option<T>> {
        match self {
            Tri::Absent => None,
            Tri::Null => Some(None),
            Tri::Value(v) => Some(Some(v)),
        }
    }

    /// The value, if one was given.
    pub fn value(self) -> Option<T> {
        match self {
            Tri::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// `n` as an i64 when it is a whole number in range.
fn whole(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        let f = n.as_f64()?;
        // Beyond 2^53 a float is not exact; such values are out of every range we accept anyway.
        (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
    })
}

/// The fields of a JSON object being read, and the problems found so far.
pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    /// Records a problem with field `name`.
    pub fn error(&mut self, name: &str, kind: &str, msg: impl Into<String>) {
        self.errors
            .push(FieldError::new(&["body", name], kind, msg));
    }

    /// Records a problem at a location inside the body (`["body", "applied_to", 0, "amount"]`).
    pub fn error_at(&mut self, loc: Vec<Value>, kind: &str, msg: impl Into<String>) {
        self.errors.push(FieldError {
            loc,
            msg: msg.into(),
            kind: kind.into(),
        });
    }

    /// Whether field `name` has a recorded problem.
    pub fn has_error(&self, name: &str) -> bool {
        self.errors
            .iter()
            .any(|e| e.loc.get(1).and_then(Value::as_str) == Some(name))
    }

    /// A string field. Strings never contain NUL characters (no store accepts them).
    pub fn string(&mut self, name: &str) -> Tri<String> {
        match self.map.get(name) {
            None => Tri::Absent,
            Some(Value::Null) => Tri::Null,
            Some(Value::String(s)) if s.contains('\0') => {
                self.error(
                    name,
                    "string_pattern_mismatch",
                    "String must not contain NUL characters",
                );
                Tri::Absent
            }
            Some(Value::String(s)) => Tri::Value(s.clone()),
            Some(_) => {
                self.error(name, "string_type", "Input should be a valid string");
                Tri::Absent
            }
        }
    }

    /// A field's JSON value as sent (absent: `None`), for types read by the caller.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    /// A boolean field (JSON `true`/`false` only).
    pub fn boolean(&mut self, name: &str) -> Tri<bool> {
        match self.map.get(name) {
            None => Tri::Absent,
            Some(Value::Null) => Tri::Null,
            Some(Value::Bool(b)) => Tri::Value(*b),
            Some(_) => {
                self.error(name, "bool_type", "Input should be a valid boolean");
                Tri::Absent
            }
        }
    }

    /// An integer field: a JSON number that fits in i64 and has no fractional part (`300.0` is
    /// the integer 300, as in JSON Schema and pydantic).
    pub fn integer(&mut self, name: &str) -> Tri<i64> {
        match self.map.get(name) {
            None => Tri::Absent,
            Some(Value::Null) => Tri::Null,
            Some(Value::Number(n)) if whole(n).is_some() => Tri::Value(whole(n).unwrap_or(0)),
            Some(_) => {
                self.error(name, "int_type", "Input should be a valid integer");
                Tri::Absent
            }
        }
    }

    /// A boolean that may be omitted (taking `default`) but not null.
    pub fn boolean_or(&mut self, name: &str, default: bool) -> bool {
        match self.boolean(name) {
            Tri::Value(b) => b,
            Tri::Absent => default,
            Tri::Null => {
                self.error(name, "bool_type", "Input should be a valid boolean");
                default
            }
        }
    }

    /// A required, non-null string.
    pub fn required_string(&mut self, name: &str) -> Option<String> {
        match self.string(name) {
            Tri::Value(s) => Some(s),
            Tri::Absent if self.has_error(name) => None,
            Tri::Absent => {
                self.error(name, "missing", "Field required");
                None
            }
            Tri::Null => {
                self.error(name, "string_type", "Input should be a valid string");
                None
            }
        }
    }

    /// A value that may be omitted but not null.
    pub fn not_null<T>(&mut self, name: &str, value: Tri<T>) -> Option<T> {
        match value {
            Tri::Value(v) => Some(v),
            Tri::Absent => None,
            Tri::Null => {
                self.error(name, "value_error", format!("{name} cannot be null"));
                None
            }
        }
    }

    fn refuse_unknown(&mut self, known: &[&str]) {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        for name in unknown {
            self.error(&name, "extra_forbidden", "Extra inputs are not permitted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe {
        a: String,
        b: Tri<bool>,
    }

    impl FromBody for Probe {
        const FIELDS: &'static [&'static str] = &["a", "b"];
        fn read(f: &mut Fields) -> Option<Self> {
            let a = f.required_string("a");
            let b = f.boolean("b");
            Some(Probe { a: a?, b })
        }
    }

    fn errors(body: &str) -> Vec<(String, String)> {
        match parse::<Probe>(body.as_bytes()) {
            Err(ApiError::Validation(errs)) => errs
                .into_iter()
                .map(|e| (e.loc[1].to_string(), e.kind))
                .collect(),
            Err(other) => panic!("unexpected {other:?}"),
            Ok(_) => vec![],
        }
    }

    #[test]
    fn reports_every_problem_with_its_location() {
        assert_eq!(
            errors(r#"{"b": "yes", "c": 1}"#),
            [
                ("\"a\"".into(), "missing".into()),
                ("\"b\"".into(), "bool_type".into()),
                ("\"c\"".into(), "extra_forbidden".into())
            ]
        );
        assert_eq!(errors(r#"{"a": "\u0000"}"#)[0].1, "string_pattern_mismatch");
        let probe = parse::<Probe>(br#"{"a": "x", "b": null}"#).ok().unwrap();
        assert_eq!((probe.a.as_str(), probe.b), ("x", Tri::Null));
    }

    #[test]
    fn malformed_and_non_object_bodies_are_422() {
        for body in ["", "{", "[1]", "null", "\"a\"", "{\"a\":1e999999}"] {
            assert!(
                matches!(
                    parse::<Probe>(body.as_bytes()),
                    Err(ApiError::Validation(_))
                ),
                "{body}"
            );
        }
        let deep = "[".repeat(100_000);
        assert!(matches!(
            parse::<Probe>(deep.as_bytes()),
            Err(ApiError::Validation(_))
        ));
    }
}
