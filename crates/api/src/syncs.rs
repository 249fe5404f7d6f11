//! Syncs and the change feed: request a sync, read sync history, cancel, and tail the records.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ledgerlink_domain::{Sync, SyncStatus};
use ledgerlink_store::RecordQuery;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Tenant;
use crate::connections::engine_error;
use crate::error::{ApiError, ErrorBody, ErrorCode, ValidationErrorBody};
use crate::path::{ConnectionId, FeedPath, SyncId};
use crate::query::{self, QueryErrors};

/// One record of the change feed: the envelope and the unified fields.
#[derive(Serialize, ToSchema)]
pub struct RecordEnvelope {
    /// Ours (`rec_…`), stable for the life of the record.
    pub id: String,
    /// The unified model (`invoices`).
    pub model: String,
    /// The connection it came through.
    pub connection_id: String,
    /// The ERP's id (Business Central: a GUID).
    pub remote_id: String,
    /// When the ERP last modified it; null when the ERP says never.
    pub remote_modified_at: Option<DateTime<Utc>>,
    /// When a completed full pass found it gone from the ERP; null while it exists.
    pub remote_deleted_at: Option<DateTime<Utc>>,
    /// When ledgerlink's copy last changed.
    pub modified_at: DateTime<Utc>,
    /// The unified fields of the model (see the model's schema, e.g. `Invoice`). `{}` for a deleted
    /// record whose stored copy was found damaged: the ERP no longer has it, so its last content
    /// cannot be read again; the deletion itself is served.
    #[schema(value_type = Object)]
    pub data: Value,
    /// The ERP payload as received; only with `include_raw=true`. Business Central: only the
    /// properties the mapping reads (syncs ask for them with `$select`) plus the expanded children
    /// (document lines, dimension set lines, `customerFinancialDetail`, `dimensionValues`); for
    /// `payments`, the payment journal (its `id`) with all its `customerPayments`. Null for a deleted
    /// record whose stored payload was found damaged.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub raw: Option<Value>,
}

/// A page of the change feed.
#[derive(Serialize, ToSchema)]
pub struct RecordPage {
    /// Records in change order.
    pub data: Vec<RecordEnvelope>,
    /// Pass as `cursor` to continue after this page (also when it was empty: poll again with it).
    /// Null only when nothing has been read yet.
    pub next_cursor: Option<String>,
}

/// Request a sync
///
/// Queues a one-off sync of every read-enabled model, sharing one `batch_id`. A model that already has
/// a sync queued, running or waiting to retry returns that one instead of a duplicate. With
/// `full_pass=true` every model is read in full, which also detects records deleted in the ERP.
#[utoipa::path(
    post,
    path = "/v2/integrations/connections/{connection_id}/sync",
    tag = "syncs",
    security(("bearer" = [])),
    params(
        ("connection_id" = String, Path, description = "The connection id."),
        ("full_pass" = Option<bool>, Query, description = "Read every model in full (default false: incremental after the first sync)."),
    ),
    responses(
        (status = 200, description = "One sync per enabled model", body = Vec<Sync>),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this organization", body = ErrorBody),
        (status = 409, description = "The connection is not configured and healthy, or syncs are paused", body = ErrorBody),
        (status = 422, description = "Invalid query", body = ValidationErrorBody),
    )
)]
async fn request_sync(
    tenant: Tenant,
    State(state): State<AppState>,
    ConnectionId(id): ConnectionId,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Sync>>, ApiError> {
    let (mut full, mut errors) = (false, QueryErrors::default());
    for (k, v) in query::pairs(query.as_deref()) {
        if k == "full_pass" {
            full = errors.boolean("full_pass", &v).unwrap_or(full);
        }
    }
    errors.finish()?;
    let syncs = state
        .engine
        .request_sync(&tenant.org_id, &id, full)
        .await
        .map_err(engine_error)?;
    Ok(Json(syncs))
}

/// List a connection's syncs
///
/// Newest first; filter by `model` (name) and `status`.
#[utoipa::path(
    get,
    path = "/v2/integrations/connections/{connection_id}/syncs",
    tag = "syncs",
    security(("bearer" = [])),
    params(
        ("connection_id" = String, Path, description = "The connection id."),
        ("model" = Option<String>, Query, description = "Only syncs of this model (e.g. `invoices`)."),
        ("status" = Option<SyncStatus>, Query, description = "Only syncs in this status."),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50).", minimum = 1, maximum = 200),
    ),
    responses(
        (status = 200, description = "Syncs, newest first", body = Vec<Sync>),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this organization", body = ErrorBody),
        (status = 422, description = "Invalid query", body = ValidationErrorBody),
    )
)]
async fn list_syncs(
    tenant: Tenant,
    State(state): State<AppState>,
    ConnectionId(id): ConnectionId,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Sync>>, ApiError> {
    state
        .store
        .get_connection(&tenant.org_id, &id)
        .await?
        .ok_or_else(ApiError::connection_not_found)?;
    let (mut model, mut status, mut limit) = (None, None, 50);
    let mut errors = QueryErrors::default();
    for (k, v) in query::pairs(query.as_deref()) {
        match k.as_ref() {
            "model" if ledgerlink_domain::records::MODELS.contains(&v.as_ref()) => {
                model = Some(v.into_owned())
            }
            "model" => errors.push("model", "enum", "Input should be a model name"),
            "status" => match serde_json::from_value::<SyncStatus>(Value::String(v.into_owned())) {
                Ok(s) => status = Some(s),
                Err(_) => errors.push("status", "enum", "Input should be a sync status"),
            },
            "limit" => limit = errors.limit("limit", &v, 200).unwrap_or(limit),
            _ => {}
        }
    }
    errors.finish()?;
    let syncs = state
        .store
        .list_syncs(&tenant.org_id, &id, model.as_deref(), status, limit)
        .await?;
    Ok(Json(syncs))
}

/// Get a sync
#[utoipa::path(
    get,
    path = "/v2/integrations/syncs/{sync_id}",
    tag = "syncs",
    security(("bearer" = [])),
    params(("sync_id" = String, Path, description = "The sync id.")),
    responses(
        (status = 200, description = "The sync", body = Sync),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such sync in this organization", body = ErrorBody),
    )
)]
async fn get_sync(
    tenant: Tenant,
    State(state): State<AppState>,
    SyncId(id): SyncId,
) -> Result<Json<Sync>, ApiError> {
    let job = state
        .store
        .get_sync(&tenant.org_id, &id)
        .await?
        .ok_or_else(|| ApiError::coded(ErrorCode::NotFound, "Sync not found"))?;
    Ok(Json(job.sync))
}

/// Cancel a sync
///
/// A sync that is not running is cancelled at once; a running one stops after the page it is
/// writing (that page is kept). Finished syncs are returned unchanged.
#[utoipa::path(
    post,
    path = "/v2/integrations/syncs/{sync_id}/cancel",
    tag = "syncs",
    security(("bearer" = [])),
    params(("sync_id" = String, Path, description = "The sync id.")),
    responses(
        (status = 200, description = "The sync after the request", body = Sync),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such sync in this organization", body = ErrorBody),
    )
)]
async fn cancel_sync(
    tenant: Tenant,
    State(state): State<AppState>,
    SyncId(id): SyncId,
) -> Result<Json<Sync>, ApiError> {
    let sync = state
        .store
        .cancel_sync(&tenant.org_id, &id, state.engine.now())
        .await?
        .ok_or_else(|| ApiError::coded(ErrorCode::NotFound, "Sync not found"))?;
    Ok(Json(sync))
}

/// Read the change feed
///
/// The connection's records of one model in change order. Start without `cursor`, then pass each
/// answer's `next_cursor`: every current record comes once at its latest version, and every later
/// change (including deletions, with `include_deleted=true`) comes after it. Unchanged records never
/// reappear.
#[utoipa::path(
    get,
    path = "/v2/integrations/connections/{connection_id}/records/{model}",
    tag = "records",
    security(("bearer" = [])),
    params(
        ("connection_id" = String, Path, description = "The connection id."),
        ("model" = String, Path, description = "The unified model: customers, contacts, invoices, credit_memos, payments, customer_ledger_entries or dimensions."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page.", pattern = "^[0-9]{1,18}$"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000 (default 100).", minimum = 1, maximum = 1000),
        ("modified_after" = Option<DateTime<Utc>>, Query, description = "Only records the ERP modified after this instant (RFC 3339)."),
        ("include_deleted" = Option<bool>, Query, description = "Include records deleted in the ERP (default false)."),
        ("include_raw" = Option<bool>, Query, description = "Include the ERP payload as `raw` (default false)."),
    ),
    responses(
        (status = 200, description = "A page of the feed", body = RecordPage),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this organization, or no such model", body = ErrorBody),
        (status = 422, description = "Invalid query", body = ValidationErrorBody),
        (status = 503, description = "The database is unreachable, or the server is at its connection limit; retry shortly. Or the page reached a record whose stored copy is damaged: it was marked to be read again from the ERP (a full sync of the model is queued when the connection is healthy; `detail` says which); try again once that sync has completed", body = ErrorBody),
    )
)]
async fn list_records(
    tenant: Tenant,
    State(state): State<AppState>,
    FeedPath {
        connection_id: raw_id,
        model,
    }: FeedPath,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    state
        .store
        .get_connection(&tenant.org_id, &raw_id)
        .await?
        .ok_or_else(ApiError::connection_not_found)?;
    let mut q = RecordQuery {
        limit: 100,
        ..RecordQuery::default()
    };
    let mut cursor_given = None;
    let mut errors = QueryErrors::default();
    for (k, v) in query::pairs(query.as_deref()) {
        match k.as_ref() {
            "cursor" => match v.parse::<i64>() {
                Ok(n) if n >= 0 && v.bytes().all(|b| b.is_ascii_digit()) => {
                    q.after_seq = n;
                    cursor_given = Some(v.into_owned());
                }
                _ => errors.push(
                    "cursor",
                    "value_error",
                    "Value error, not a cursor from this feed",
                ),
            },
            "limit" => q.limit = errors.limit("limit", &v, 1000).unwrap_or(q.limit),
            "modified_after" => match DateTime::parse_from_rfc3339(&v) {
                Ok(t) => q.modified_after = Some(t.with_timezone(&Utc)),
                Err(_) => errors.push(
                    "modified_after",
                    "datetime_parsing",
                    "Input should be an RFC 3339 date-time",
                ),
            },
            "include_deleted" => {
                q.include_deleted = errors
                    .boolean("include_deleted", &v)
                    .unwrap_or(q.include_deleted)
            }
            "include_raw" => {
                q.include_raw = errors.boolean("include_raw", &v).unwrap_or(q.include_raw)
            }
            _ => {}
        }
    }
    errors.finish()?;
    let rows = match state
        .store
        .feed_page(&tenant.org_id, &raw_id, model, &q)
        .await
    {
        Ok(rows) => rows,
        Err(ledgerlink_store::StoreError::Damaged { what, newly_found }) => {
            // The store marked the record to be written anew; a full pass of its model reads it again
            // from the ERP. One is queued when the damage is found, not on every read after it (a
            // record that pass cannot repair — deleted in the ERP meanwhile — would otherwise have
            // every poll of the feed read the whole model again). If none can be queued now (the
            // connection is not healthy), the model's next full pass repairs it.
            let queued = if newly_found {
                let queued = state
                    .engine
                    .request_full_pass(&tenant.org_id, &raw_id, model)
                    .await;
                if let Err(e) = &queued {
                    tracing::warn!(error = %e, connection = %raw_id, model, "no full pass queued for a damaged record");
                }
                queued.is_ok()
            } else {
                false
            };
            return Err(ApiError::damaged_record(queued, &what));
        }
        Err(err) => return Err(err.into()),
    };
    let next_cursor = rows.last().map(|r| r.seq.to_string()).or(cursor_given);
    let body = crate::feed::page_body(&rows, model, &raw_id, next_cursor.as_deref());
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The sync and change-feed routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_sync))
        .routes(routes!(list_syncs))
        .routes(routes!(get_sync))
        .routes(routes!(cancel_sync))
        .routes(routes!(list_records))
}
