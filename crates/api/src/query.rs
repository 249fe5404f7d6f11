//! Query strings, read parameter by parameter with FastAPI-style errors: every bad value is
//! reported (not only the first), at `["query", name]`, with pydantic's error types. Unknown
//! parameters are ignored, as FastAPI does.

use crate::error::{ApiError, FieldError};

/// The `name=value` pairs of a query string, percent-decoded.
pub fn pairs(raw: Option<&str>) -> url::form_urlencoded::Parse<'_> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
}

/// The errors found so far in one query string.
#[derive(Debug, Default)]
pub struct QueryErrors(Vec<FieldError>);

impl QueryErrors {
    /// Records that `name` is invalid.
    pub fn push(&mut self, name: &str, kind: &str, msg: impl Into<String>) {
        self.0.push(FieldError::new(&["query", name], kind, msg));
    }

    /// A page size from 1 to `max`.
    pub fn limit(&mut self, name: &str, value: &str, max: u32) -> Option<u32> {
        match value.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Some(n),
            Ok(_) => {
                self.push(
                    name,
                    "less_than_equal",
                    format!("Input should be between 1 and {max}"),
                );
                None
            }
            Err(_) => {
                self.push(
                    name,
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                );
                None
            }
        }
    }

    /// A boolean, as pydantic reads one (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, …).
    pub fn boolean(&mut self, name: &str, value: &str) -> Option<bool> {
        let parsed = ledgerlink_domain::parse_bool(value);
        if parsed.is_none() {
            self.push(name, "bool_parsing", "Input should be a valid boolean");
        }
        parsed
    }

    /// `Ok` when every parameter was valid, else the 422 listing them all.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(errors: QueryErrors) -> Vec<(String, String)> {
        errors
            .0
            .into_iter()
            .map(|e| (e.loc[1].as_str().unwrap().to_owned(), e.kind))
            .collect()
    }

    #[test]
    fn every_bad_parameter_is_reported_with_pydantics_type() {
        let mut errors = QueryErrors::default();
        let mut seen = Vec::new();
        for (k, v) in pairs(Some("limit=abc&size=0&flag=maybe&ok=YES&off=0&n=7&x=%FF")) {
            match k.as_ref() {
                "limit" | "size" | "n" => seen.push(format!("{:?}", errors.limit(&k, &v, 5))),
                _ => seen.push(format!("{:?}", errors.boolean(&k, &v))),
            }
        }
        assert_eq!(
            seen,
            [
                "None",
                "None",
                "None",
                "Some(true)",
                "Some(false)",
                "None",
                "None"
            ]
        );
        assert_eq!(
            kinds(errors),
            [
                ("limit".into(), "int_parsing".into()),
                ("size".into(), "less_than_equal".into()),
                ("flag".into(), "bool_parsing".into()),
                ("n".into(), "less_than_equal".into()),
                ("x".into(), "bool_parsing".into()),
            ]
        );
        assert!(QueryErrors::default().finish().is_ok());
        assert!(pairs(None).next().is_none());
    }
}
