//! Writes to the ERP: recording a customer payment applied to invoices (`POST
//! …/records/payments` with an `Idempotency-Key`), checked against our copy of the ERP's data before
//! anything reaches it, then carried out in the background exactly once; reading, listing and
//! cancelling writes.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ledgerlink_domain::{Write, WriteStatus};
use ledgerlink_store::{Accepted, Cancel, IdempotencyKey, NewWrite};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod checks;
mod payment;

pub use payment::{AppliedIn, PaymentIn};

use checks::check_against_copy;

use crate::AppState;
use crate::auth::Tenant;
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody, ErrorCode, ValidationErrorBody};
use crate::path::{ConnectionId, FeedPath, WriteId};
use crate::query::{self, QueryErrors};

/// The job kind that carries out a payment write.
const PAYMENT_JOB_KIND: &str = ledgerlink_engine::jobs::write_payment::WRITE_PAYMENT_KIND;

/// How long an idempotency key is kept.
const KEEP_KEYS: chrono::Duration = chrono::Duration::days(7);

/// The write as the API answers it (202 for a new or replayed one).
fn accepted(write: Write, replayed: bool) -> Response {
    let mut response = (StatusCode::ACCEPTED, Json(write)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let loc = ["header", "Idempotency-Key"];
    let Some(value) = headers.get("idempotency-key") else {
        return Err(ApiError::invalid(
            &loc,
            "missing",
            "Field required: a key of your choosing (e.g. a UUID) that makes retries of this request safe",
        ));
    };
    match value.to_str() {
        Ok(v) if !v.is_empty() && v.len() <= 255 && v.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(v.to_owned())
        }
        _ => Err(ApiError::invalid(
            &loc,
            "string_pattern_mismatch",
            "1 to 255 visible ASCII characters",
        )),
    }
}

/// Record a payment
///
/// Records a customer payment applied to one or more of the customer's invoices in the ERP
/// (Business Central: customer payment journal lines, one per invoice, then posted), exactly once.
/// Checked first against the connection's synced data; then carried out in the background — follow
/// it with `GET /v2/integrations/writes/{write_id}`. The `Idempotency-Key` header is required: the
/// same key with the same body gives back the same write (header `Idempotent-Replayed: true`);
/// with another body it is refused. Keys are kept 7 days. Only `payments` can be written, once the
/// model's `is_write_enabled` is true.
#[utoipa::path(
    post,
    path = "/v2/integrations/connections/{connection_id}/records/{model}",
    tag = "writes",
    security(("bearer" = [])),
    params(
        ("connection_id" = String, Path, description = "The connection id."),
        ("model" = String, Path, description = "The unified model: only `payments` accepts writes."),
        ("Idempotency-Key" = String, Header, description = "A key of your choosing (1 to 255 visible ASCII characters, e.g. a UUID) that makes retries safe."),
    ),
    request_body = PaymentIn,
    responses(
        (status = 202, description = "Accepted (or the same request again): the write", body = Write),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this organization", body = ErrorBody),
        (status = 405, description = "The model does not accept writes", body = ErrorBody),
        (status = 409, description = "Writes of the model are not enabled, the connection is not set up, or the key was used with another request", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
        (status = 415, description = "Content-Type is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid header or body, or the payment does not fit the synced data", body = ValidationErrorBody),
    )
)]
async fn record_payment(
    tenant: Tenant,
    State(state): State<AppState>,
    path: FeedPath,
    headers: HeaderMap,
    JsonBody(payment): JsonBody<PaymentIn>,
) -> Result<Response, ApiError> {
    if path.model != "payments" {
        return Err(ApiError::coded(
            ErrorCode::MethodNotAllowed,
            format!("{} cannot be written; only payments can", path.model),
        ));
    }
    let key = idempotency_key(&headers)?;
    let conn = state
        .store
        .get_connection(&tenant.org_id, &path.connection_id)
        .await?
        .ok_or_else(ApiError::connection_not_found)?;
    let now = state.engine.now();
    let scope = format!("POST /connections/{}/records/payments", conn.id);
    let hash_of = |request: &Value| hex::encode(Sha256::digest(request.to_string().as_bytes()));
    // The key first: a retry of an accepted request gets its write back even though the data it
    // was checked against has moved on since (the invoice it paid is paid).
    let earlier = state
        .store
        .write_for_key(&tenant.org_id, &scope, &key, now)
        .await?;
    let writable = conn
        .models
        .iter()
        .find(|m| m.name == "payments")
        .is_some_and(|m| m.is_write_enabled);
    if earlier.is_none() {
        if !writable {
            return Err(ApiError::coded(
                ErrorCode::Conflict,
                "Writing payments is not enabled for this connection: set is_write_enabled on its \
                 payments model (PATCH /v2/integrations/connections/{id}/models/{model_id})",
            ));
        }
        if !conn.is_configured() {
            return Err(ApiError::coded(
                ErrorCode::Conflict,
                "The connection is not set up yet (see its missing_settings)",
            ));
        }
        if conn.misses_payment_journal() {
            return Err(ApiError::coded(
                ErrorCode::Conflict,
                conn.payment_journal_message(),
            ));
        }
    }
    let currency = match &earlier {
        Some((_, w)) => w
            .request
            .get("currency")
            .and_then(Value::as_str)
            .filter(|c| payment.currency.as_deref().is_none_or(|p| p == *c))
            .unwrap_or(payment.currency.as_deref().unwrap_or(""))
            .to_owned(),
        None => check_against_copy(&state, &tenant, &conn, &payment).await?,
    };
    let request = payment.normalized(&currency);
    let hash = hash_of(&request);
    if let Some((earlier_hash, write)) = earlier {
        return if earlier_hash == hash {
            Ok(accepted(write, true))
        } else {
            Err(reused(&write.id))
        };
    }
    let new = NewWrite {
        connection_id: conn.id.clone(),
        model: "payments".into(),
        operation: "create".into(),
        request,
        idempotency: IdempotencyKey {
            scope,
            key,
            request_hash: hash,
            keep_until: now + KEEP_KEYS,
        },
        job_kind: PAYMENT_JOB_KIND.into(),
    };
    match state.store.create_write(&tenant.org_id, &new, now).await? {
        Accepted::New(write) => Ok(accepted(write, false)),
        Accepted::Replayed(write) => Ok(accepted(write, true)),
        Accepted::KeyReused { write_id } => Err(reused(&write_id)),
        Accepted::UnknownConnection => Err(ApiError::connection_not_found()),
    }
}

fn reused(write_id: &str) -> ApiError {
    ApiError::coded(
        ErrorCode::Conflict,
        format!(
            "This Idempotency-Key was already used with a different request (write {write_id}); \
             use a new key for a new payment"
        ),
    )
}

/// Get a write
#[utoipa::path(
    get,
    path = "/v2/integrations/writes/{write_id}",
    tag = "writes",
    security(("bearer" = [])),
    params(("write_id" = String, Path, description = "The write id (`wr_…`).")),
    responses(
        (status = 200, description = "The write", body = Write),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such write in this organization", body = ErrorBody),
    )
)]
async fn get_write(
    tenant: Tenant,
    State(state): State<AppState>,
    WriteId(id): WriteId,
) -> Result<Json<Write>, ApiError> {
    let write = state
        .store
        .get_write(&tenant.org_id, &id)
        .await?
        .ok_or_else(|| ApiError::coded(ErrorCode::NotFound, "Write not found"))?;
    Ok(Json(write))
}

/// List a connection's writes
///
/// Newest first; filter by `status`, page with `starting_after` (the last id of the previous page).
#[utoipa::path(
    get,
    path = "/v2/integrations/connections/{connection_id}/writes",
    tag = "writes",
    security(("bearer" = [])),
    params(
        ("connection_id" = String, Path, description = "The connection id."),
        ("status" = Option<WriteStatus>, Query, description = "Only writes in this status."),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50).", minimum = 1, maximum = 200),
        ("starting_after" = Option<String>, Query, description = "Only writes older than this one (its id)."),
    ),
    responses(
        (status = 200, description = "Writes, newest first", body = Vec<Write>),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this organization", body = ErrorBody),
        (status = 422, description = "Invalid query", body = ValidationErrorBody),
    )
)]
async fn list_writes(
    tenant: Tenant,
    State(state): State<AppState>,
    ConnectionId(id): ConnectionId,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Write>>, ApiError> {
    state
        .store
        .get_connection(&tenant.org_id, &id)
        .await?
        .ok_or_else(ApiError::connection_not_found)?;
    let (mut status, mut limit, mut after) = (None, 50, None);
    let mut errors = QueryErrors::default();
    for (k, v) in query::pairs(query.as_deref()) {
        match k.as_ref() {
            "status" => match WriteStatus::parse(&v) {
                Some(s) => status = Some(s),
                None => errors.push("status", "enum", "Input should be a write status"),
            },
            "limit" => limit = errors.limit("limit", &v, 200).unwrap_or(limit),
            "starting_after" if ledgerlink_domain::is_id("wr", &v) => after = Some(v.into_owned()),
            "starting_after" => {
                errors.push("starting_after", "string_pattern_mismatch", "A write id")
            }
            _ => {}
        }
    }
    errors.finish()?;
    let writes = state
        .store
        .list_writes(&tenant.org_id, &id, status, after.as_deref(), limit)
        .await?;
    Ok(Json(writes))
}

/// Cancel a write
///
/// Only before it reached the ERP and while no worker is carrying it out: then it ends `cancelled`
/// and nothing is written. Otherwise 409 (it will complete or fail on its own).
#[utoipa::path(
    post,
    path = "/v2/integrations/writes/{write_id}/cancel",
    tag = "writes",
    security(("bearer" = [])),
    params(("write_id" = String, Path, description = "The write id (`wr_…`).")),
    responses(
        (status = 200, description = "Cancelled: the write", body = Write),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such write in this organization", body = ErrorBody),
        (status = 409, description = "Too late: it reached the ERP, is being carried out, or has ended", body = ErrorBody),
    )
)]
async fn cancel_write(
    tenant: Tenant,
    State(state): State<AppState>,
    WriteId(id): WriteId,
) -> Result<Json<Write>, ApiError> {
    match state
        .store
        .cancel_write(&tenant.org_id, &id, state.engine.now())
        .await?
    {
        Cancel::Cancelled(w) => Ok(Json(w)),
        Cancel::TooLate(w) => Err(ApiError::coded(
            ErrorCode::Conflict,
            format!(
                "The write can no longer be cancelled (status {}{})",
                w.status.as_str(),
                if w.reached_erp {
                    ", it reached the ERP"
                } else {
                    ""
                }
            ),
        )),
        Cancel::NotFound => Err(ApiError::coded(ErrorCode::NotFound, "Write not found")),
    }
}

/// The writes routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_payment))
        .routes(routes!(get_write))
        .routes(routes!(list_writes))
        .routes(routes!(cancel_write))
}
