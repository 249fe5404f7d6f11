//! OData JSON `$batch`: several API operations in one HTTP request (at most [`MAX_OPERATIONS`]), sent
//! with `Isolation: snapshot` so Business Central runs them in one transaction: when one fails, the
//! others are rolled back (AL code that commits, and some request-parsing failures, escape this).
//! Without `Prefer: odata.continue-on-error` BC stops at the first failing operation and leaves the
//! later ones out of the answer.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::BusinessCentral;
use super::models::Api;
use super::odata::append;
use crate::connector::Session;
use crate::error::{ConnectorError, classify_write_response};
use crate::http::parse_json;

/// Most operations BC accepts in one `$batch`.
pub(super) const MAX_OPERATIONS: usize = 100;

/// One operation: a method, a URL relative to the API root (`companies(…)/…`) and a JSON body.
#[derive(Debug, Clone)]
pub(super) struct Operation {
    pub method: Method,
    pub url: String,
    pub body: Value,
}

impl BusinessCentral {
    /// Runs `ops` (at most [`MAX_OPERATIONS`]) in one transactional `$batch` and returns each one's
    /// answer body, in the order of `ops`. The first failed operation (in `ops` order) is the error,
    /// classified as the answer to a write.
    pub(super) async fn batch(
        &self,
        session: &Session,
        ops: &[Operation],
    ) -> Result<Vec<Value>, ConnectorError> {
        if ops.is_empty() || ops.len() > MAX_OPERATIONS {
            return Err(ConnectorError::invalid(format!(
                "between 1 and {MAX_OPERATIONS} operations per batch, not {}",
                ops.len()
            )));
        }
        let mut url = self.api_root(&session.target, Api::Standard)?;
        append(&mut url, &["$batch"])?;
        let body = batch_body(ops);
        let headers = [("Isolation", "snapshot")];
        let answer = self
            .send(session, Method::POST, url, Some(&body), &headers)
            .await?
            .write_success()?;
        let parsed: Value = parse_json(&answer.body)?;
        batch_results(&parsed, ops.len())
    }
}

/// `{"requests":[{"id":"1","method":"POST","url":…,"headers":{…},"body":{…}}, …]}` (ids count from 1).
fn batch_body(ops: &[Operation]) -> Value {
    let requests: Vec<Value> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            json!({
                "id": (i + 1).to_string(),
                "method": op.method.as_str(),
                "url": op.url,
                "headers": {"Content-Type": "application/json"},
                "body": op.body,
            })
        })
        .collect();
    json!({ "requests": requests })
}

/// The bodies of a batch answer in request order, or the first failure. Answers are matched by id
/// (an answer without one counts by its position).
fn batch_results(answer: &Value, expected: usize) -> Result<Vec<Value>, ConnectorError> {
    let responses = answer
        .get("responses")
        .and_then(Value::as_array)
        .ok_or_else(|| ConnectorError::invalid("$batch answer without a `responses` array"))?;
    let mut slots: Vec<Option<&Value>> = vec![None; expected];
    for (position, response) in responses.iter().enumerate() {
        let index = match response.get("id").and_then(Value::as_str) {
            Some(id) => id.parse::<usize>().ok().and_then(|n| n.checked_sub(1)),
            None => Some(position),
        };
        match index.and_then(|i| slots.get_mut(i)) {
            Some(slot) => *slot = Some(response),
            None => {
                return Err(ConnectorError::invalid(
                    "$batch answer for an operation that was not sent",
                ));
            }
        }
    }
    let mut bodies = Vec::with_capacity(expected);
    for (i, slot) in slots.into_iter().enumerate() {
        let response = slot.ok_or_else(|| {
            ConnectorError::invalid(format!("$batch answer lacks operation {}", i + 1))
        })?;
        bodies.push(operation_result(response)?);
    }
    Ok(bodies)
}

/// One operation's answer: its body when it succeeded, else its classified error.
fn operation_result(response: &Value) -> Result<Value, ConnectorError> {
    let status = response
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| ConnectorError::invalid("$batch operation answer without a status"))?;
    let body = response.get("body").cloned().unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let retry_after = response
        .pointer("/headers/retry-after")
        .and_then(Value::as_str)
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Err(classify_write_response(status, retry_after, &bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn answers_are_matched_by_id_and_the_first_failure_wins() {
        let answer = json!({"responses": [
            {"id": "2", "status": 201, "body": {"id": "b"}},
            {"id": "1", "status": 201, "body": {"id": "a"}},
        ]});
        let bodies = batch_results(&answer, 2).unwrap();
        assert_eq!(bodies[0]["id"], "a");
        assert_eq!(bodies[1]["id"], "b");

        let refused = json!({"error": {"code": "Application_DialogException", "message": "No."}});
        let answer = json!({"responses": [
            {"id": "1", "status": 201, "body": {"id": "a"}},
            {"id": "2", "status": 400, "body": refused},
        ]});
        let err = batch_results(&answer, 3).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Business, "{err}");
        assert_eq!(err.to_string(), "refused by the ERP: No.");

        let throttled = json!({"responses": [
            {"id": "1", "status": 429, "headers": {"retry-after": "7"}},
        ]});
        let err = batch_results(&throttled, 1).unwrap_err();
        assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(7)));

        let short = json!({"responses": [{"id": "1", "status": 201, "body": {}}]});
        assert_eq!(
            batch_results(&short, 2).unwrap_err().kind(),
            ErrorKind::Invalid
        );
        let stray = json!({"responses": [{"id": "9", "status": 201, "body": {}}]});
        assert_eq!(
            batch_results(&stray, 1).unwrap_err().kind(),
            ErrorKind::Invalid
        );
        let positional = json!({"responses": [{"id": null, "status": 204}]});
        assert_eq!(batch_results(&positional, 1).unwrap(), vec![Value::Null]);
    }
}
