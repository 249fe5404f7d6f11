//! Writes to the ERP: recording a customer payment applied to invoices (`POST
//! …/records/payments` with an `Idempotency-Key`), checked against our copy of the ERP's data before
//! anything reaches it, then carried out in the background exactly once; reading, listing and
//! cancelling writes.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use ledgerlink_domain::{Write, WriteStatus};
use ledgerlink_store::{Accepted, Cancel, IdempotencyKey, NewWrite};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Tenant;
use crate::body::{Fields, FromBody, JsonBody};
use crate::error::{ApiError, ErrorBody, ErrorCode, FieldError, ValidationErrorBody};
use crate::path::{ConnectionId, FeedPath, WriteId};
use crate::query::{self, QueryErrors};

/// The job kind that carries out a payment write.
const PAYMENT_JOB_KIND: &str = ledgerlink_engine::jobs::write_payment::WRITE_PAYMENT_KIND;

/// How long an idempotency key is kept.
const KEEP_KEYS: chrono::Duration = chrono::Duration::days(7);

/// Most invoices one payment may be applied to.
const MAX_APPLIED: usize = 100;

/// A customer payment to record in the ERP, applied to one or more of the customer's open invoices.
#[derive(Debug, Clone, PartialEq, ToSchema)]
pub struct PaymentIn {
    /// The paying customer (`remote_id` of a record of `customers`).
    pub customer_remote_id: String,
    /// The amount received: an exact decimal, as a string (`"1250.00"`) or a number, more than
    /// zero, at most 2 decimals.
    #[schema(value_type = String, example = "1250.00")]
    pub amount: Decimal,
    /// ISO 4217 code of the payment's currency; it must be the invoices' (default: theirs).
    #[schema(example = "USD")]
    pub currency: Option<String>,
    /// When the money was received (`YYYY-MM-DD`); the posting date in the ERP.
    #[schema(value_type = String, format = Date, example = "2026-11-28")]
    pub payment_date: NaiveDate,
    /// The platform's reference (e.g. the bank transaction id), at most 35 characters; Business
    /// Central keeps it as the external document number.
    pub reference: Option<String>,
    /// A description for the journal line, at most 100 characters.
    pub description: Option<String>,
    /// The invoices paid and how much of each (1 to 100; each invoice once). The amounts add up to
    /// `amount`: an unapplied remainder is not accepted.
    pub applied_to: Vec<AppliedIn>,
}

/// How much of one invoice a payment pays.
#[derive(Debug, Clone, PartialEq, ToSchema)]
pub struct AppliedIn {
    /// The invoice (`remote_id` of a record of `invoices`).
    pub invoice_remote_id: String,
    /// The amount applied: more than zero and at most the invoice's `amount_due` as last synced,
    /// at most 2 decimals; a string or a number.
    #[schema(value_type = String, example = "1000.00")]
    pub amount: Decimal,
}

impl FromBody for PaymentIn {
    const FIELDS: &'static [&'static str] = &[
        "customer_remote_id",
        "amount",
        "currency",
        "payment_date",
        "reference",
        "description",
        "applied_to",
    ];

    fn read(f: &mut Fields) -> Option<Self> {
        let customer = f.required_string("customer_remote_id");
        if let Some(c) = &customer
            && (c.trim().is_empty() || c.len() > 100)
        {
            f.error(
                "customer_remote_id",
                "string_too_long",
                "Must be 1 to 100 characters",
            );
        }
        let amount = decimal(
            f,
            vec![json!("body"), json!("amount")],
            f.raw("amount").cloned(),
        );
        let currency = f.string("currency").value();
        if let Some(c) = &currency
            && !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            f.error(
                "currency",
                "string_pattern_mismatch",
                "An ISO 4217 code: three capital letters",
            );
        }
        let date = f.required_string("payment_date");
        let payment_date = date.and_then(|d| match NaiveDate::parse_from_str(&d, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                f.error(
                    "payment_date",
                    "date_from_datetime_parsing",
                    "A date as YYYY-MM-DD",
                );
                None
            }
        });
        let reference = bounded(f, "reference", 35);
        let description = bounded(f, "description", 100);
        let applied_to = applied(f);
        Some(PaymentIn {
            customer_remote_id: customer?.trim().to_owned(),
            amount: amount?,
            currency,
            payment_date: payment_date?,
            reference,
            description,
            applied_to: applied_to?,
        })
    }
}

/// An optional string of at most `max` characters.
fn bounded(f: &mut Fields, name: &str, max: usize) -> Option<String> {
    let value = f.string(name).value()?;
    if value.chars().count() > max {
        f.error(name, "string_too_long", format!("At most {max} characters"));
    }
    Some(value)
}

/// An exact decimal amount (string or number) more than zero with at most 2 decimals.
fn decimal(f: &mut Fields, loc: Vec<Value>, value: Option<Value>) -> Option<Decimal> {
    let text = match value {
        None | Some(Value::Null) => {
            f.error_at(loc, "missing", "Field required");
            return None;
        }
        Some(Value::String(s)) => s.trim().to_owned(),
        // Numbers keep their digits (arbitrary precision): 0.1 is exactly 0.1.
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            f.error_at(
                loc,
                "decimal_type",
                "A decimal number, as a string or a number",
            );
            return None;
        }
    };
    let parsed = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok();
    match parsed.map(|d| d.normalize()) {
        None => {
            f.error_at(
                loc,
                "decimal_parsing",
                "A decimal number, as a string or a number",
            );
            None
        }
        Some(d) if d <= Decimal::ZERO => {
            f.error_at(loc, "greater_than", "Must be more than 0");
            None
        }
        Some(d) if d.scale() > 2 => {
            f.error_at(loc, "decimal_max_places", "At most 2 decimal places");
            None
        }
        Some(d) if d > Decimal::from(1_000_000_000_000i64) => {
            f.error_at(loc, "less_than_equal", "At most 1,000,000,000,000");
            None
        }
        Some(d) => Some(d),
    }
}

fn applied(f: &mut Fields) -> Option<Vec<AppliedIn>> {
    let at = |i: usize, name: &str| vec![json!("body"), json!("applied_to"), json!(i), json!(name)];
    let items = match f.raw("applied_to").cloned() {
        None | Some(Value::Null) => {
            f.error("applied_to", "missing", "Field required");
            return None;
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            f.error("applied_to", "list_type", "Input should be a valid list");
            return None;
        }
    };
    if items.is_empty() || items.len() > MAX_APPLIED {
        f.error(
            "applied_to",
            "too_short",
            format!("1 to {MAX_APPLIED} invoices"),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    let mut ok = true;
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(mut obj) = item else {
            f.error_at(
                vec![json!("body"), json!("applied_to"), json!(i)],
                "model_type",
                "An object with invoice_remote_id and amount",
            );
            ok = false;
            continue;
        };
        for unknown in obj
            .keys()
            .filter(|k| *k != "invoice_remote_id" && *k != "amount")
        {
            f.error_at(
                at(i, unknown),
                "extra_forbidden",
                "Extra inputs are not permitted",
            );
            ok = false;
        }
        let invoice = match obj.remove("invoice_remote_id") {
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 100 => {
                Some(s.trim().to_owned())
            }
            _ => {
                f.error_at(
                    at(i, "invoice_remote_id"),
                    "string_type",
                    "The invoice's remote_id: a string of 1 to 100 characters",
                );
                None
            }
        };
        if let Some(id) = &invoice
            && !seen.insert(id.clone())
        {
            f.error_at(
                at(i, "invoice_remote_id"),
                "duplicate",
                "Each invoice at most once per payment",
            );
            ok = false;
        }
        let amount = decimal(f, at(i, "amount"), obj.remove("amount"));
        match (invoice, amount) {
            (Some(invoice_remote_id), Some(amount)) => out.push(AppliedIn {
                invoice_remote_id,
                amount,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

impl PaymentIn {
    /// The request as accepted (amounts as exact strings), kept on the write and hashed for its
    /// idempotency key.
    fn normalized(&self, currency: &str) -> Value {
        json!({
            "customer_remote_id": self.customer_remote_id,
            "amount": self.amount.to_string(),
            "currency": currency,
            "payment_date": self.payment_date.to_string(),
            "reference": self.reference,
            "description": self.description,
            "applied_to": self.applied_to.iter().map(|a| json!({
                "invoice_remote_id": a.invoice_remote_id,
                "amount": a.amount.to_string(),
            })).collect::<Vec<_>>(),
        })
    }
}

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

/// A field's problem, for [`ApiError::Validation`].
fn problem(loc: &[Value], kind: &str, msg: impl Into<String>) -> FieldError {
    FieldError {
        loc: loc.to_vec(),
        msg: msg.into(),
        kind: kind.into(),
    }
}

fn money(data: &Value, field: &str) -> Option<Decimal> {
    match data.get(field)? {
        Value::String(s) => Decimal::from_str(s).ok(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
        _ => None,
    }
}

/// Checks the payment against our copy of the ERP's data; returns the currency it is in.
async fn check_against_copy(
    state: &AppState,
    tenant: &Tenant,
    connection_id: &str,
    p: &PaymentIn,
) -> Result<String, ApiError> {
    let store = &state.store;
    let customer_loc = [json!("body"), json!("customer_remote_id")];
    let mut errors = Vec::new();
    let customers = store
        .current_records(
            &tenant.org_id,
            connection_id,
            "customers",
            &[p.customer_remote_id.as_str()],
        )
        .await?;
    match customers.get(&p.customer_remote_id) {
        None => errors.push(problem(
            &customer_loc,
            "not_found",
            "No customer with this remote_id in the connection's synced data",
        )),
        Some(c)
            if c.get("blocked")
                .and_then(Value::as_str)
                .is_some_and(|b| b != "none") =>
        {
            errors.push(problem(
                &customer_loc,
                "blocked",
                "The customer is blocked in the ERP: payments cannot be posted for it",
            ))
        }
        Some(_) => {}
    }
    let ids: Vec<&str> = p
        .applied_to
        .iter()
        .map(|a| a.invoice_remote_id.as_str())
        .collect();
    let invoices: HashMap<String, Value> = store
        .current_records(&tenant.org_id, connection_id, "invoices", &ids)
        .await?;
    let mut currency = p.currency.clone();
    for (i, a) in p.applied_to.iter().enumerate() {
        let at = |name: &str| [json!("body"), json!("applied_to"), json!(i), json!(name)];
        let Some(inv) = invoices.get(&a.invoice_remote_id) else {
            errors.push(problem(
                &at("invoice_remote_id"),
                "not_found",
                "No invoice with this remote_id in the connection's synced data",
            ));
            continue;
        };
        if inv.get("customer_remote_id").and_then(Value::as_str)
            != Some(p.customer_remote_id.as_str())
        {
            errors.push(problem(
                &at("invoice_remote_id"),
                "customer_mismatch",
                "The invoice belongs to another customer",
            ));
        }
        let inv_currency = inv.get("currency").and_then(Value::as_str).unwrap_or("");
        match &currency {
            Some(c) if !inv_currency.is_empty() && c != inv_currency => errors.push(problem(
                &at("invoice_remote_id"),
                "currency_mismatch",
                format!("The invoice is in {inv_currency}, the payment in {c}"),
            )),
            None if !inv_currency.is_empty() => currency = Some(inv_currency.to_owned()),
            _ => {}
        }
        let status = inv
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        if status != "open" {
            errors.push(problem(
                &at("invoice_remote_id"),
                "not_payable",
                format!("The invoice is {status}: only open (posted, unpaid) invoices can be paid"),
            ));
            continue;
        }
        match money(inv, "amount_due") {
            Some(due) if a.amount > due => errors.push(problem(
                &at("amount"),
                "less_than_equal",
                format!("More than the invoice's amount due ({due})"),
            )),
            None => errors.push(problem(
                &at("amount"),
                "not_payable",
                "The invoice has no amount due (a draft, or not synced yet)",
            )),
            Some(_) => {}
        }
    }
    let applied: Decimal = p.applied_to.iter().map(|a| a.amount).sum();
    if applied != p.amount {
        errors.push(problem(
            &[json!("body"), json!("applied_to")],
            "sum_mismatch",
            format!(
                "The applied amounts add up to {applied}, the payment is {}: an unapplied \
                 remainder is not accepted",
                p.amount
            ),
        ));
    }
    if errors.is_empty() {
        Ok(currency.unwrap_or_default())
    } else {
        Err(ApiError::Validation(errors))
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
    }
    let currency = match &earlier {
        Some((_, w)) => w
            .request
            .get("currency")
            .and_then(Value::as_str)
            .filter(|c| payment.currency.as_deref().is_none_or(|p| p == *c))
            .unwrap_or(payment.currency.as_deref().unwrap_or(""))
            .to_owned(),
        None => check_against_copy(&state, &tenant, &conn.id, &payment).await?,
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
