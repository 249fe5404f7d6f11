//! `…/connections/{id}/models`: per-model switches and sync frequency.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ConnectionOut, ModelOut};
use crate::AppState;
use crate::auth::Tenant;
use crate::body::{Fields, FromBody, JsonBody, Tri};
use crate::error::{ApiError, ErrorBody, ErrorCode, FieldError, ValidationErrorBody};
use crate::path::ModelPath;

/// Shortest and longest time between scheduled syncs of a model, in seconds.
const FREQUENCY: std::ops::RangeInclusive<i64> = 300..=7 * 86_400;

/// Shortest and longest time between scheduled full passes of a model, in seconds (1 hour – 30 days).
const FULL_FREQUENCY: std::ops::RangeInclusive<i64> = 3_600..=30 * 86_400;

/// A model with its schedule.
#[derive(Serialize, ToSchema)]
pub struct ModelDetail {
    /// The model as it appears in the connection object.
    #[serde(flatten)]
    pub model: ModelOut,
    /// Seconds between scheduled syncs of this model.
    pub sync_frequency_secs: i64,
    /// Seconds between scheduled full passes of this model (default 86400, daily). A full pass reads
    /// every record, which is how records deleted in the ERP are found; the first is planned one to
    /// two periods after setup, spread so that many connections do not run theirs at once.
    pub full_sync_frequency_secs: i64,
}

/// Changes to a model. Absent fields are left alone.
#[derive(ToSchema)]
#[allow(dead_code)] // the schema of the body; it is read by `ModelChanges`
pub struct ModelPatch {
    /// Read (sync) this model; only where `is_read_supported`. `null` is refused.
    #[schema(nullable = false)]
    is_read_enabled: Option<bool>,
    /// Write this model back to the ERP; only where `is_write_supported`. `null` is refused.
    #[schema(nullable = false)]
    is_write_enabled: Option<bool>,
    /// Seconds between scheduled syncs, 300 to 604800. `null` is refused.
    #[schema(nullable = false, minimum = 300, maximum = 604800)]
    sync_frequency_secs: Option<i64>,
    /// Seconds between scheduled full passes (which find deletions), 3600 to 2592000. The next full
    /// pass is planned anew, within one to two periods. `null` is refused.
    #[schema(nullable = false, minimum = 3600, maximum = 2592000)]
    full_sync_frequency_secs: Option<i64>,
}

pub(crate) struct ModelChanges {
    read: Option<bool>,
    write: Option<bool>,
    frequency: Option<i64>,
    full_frequency: Option<i64>,
}

impl FromBody for ModelChanges {
    const FIELDS: &'static [&'static str] = &[
        "is_read_enabled",
        "is_write_enabled",
        "sync_frequency_secs",
        "full_sync_frequency_secs",
    ];

    fn read(f: &mut Fields) -> Option<Self> {
        let read = f.boolean("is_read_enabled");
        let read = f.not_null("is_read_enabled", read);
        let write = f.boolean("is_write_enabled");
        let write = f.not_null("is_write_enabled", write);
        let frequency = match f.integer("sync_frequency_secs") {
            Tri::Value(n) if FREQUENCY.contains(&n) => Some(n),
            Tri::Value(_) => {
                f.error(
                    "sync_frequency_secs",
                    "value_error",
                    "Input should be between 300 and 604800",
                );
                None
            }
            Tri::Null => {
                f.error(
                    "sync_frequency_secs",
                    "int_type",
                    "Input should be a valid integer",
                );
                None
            }
            Tri::Absent => None,
        };
        let full_frequency = match f.integer("full_sync_frequency_secs") {
            Tri::Value(n) if FULL_FREQUENCY.contains(&n) => Some(n),
            Tri::Value(_) => {
                f.error(
                    "full_sync_frequency_secs",
                    "value_error",
                    "Input should be between 3600 and 2592000",
                );
                None
            }
            Tri::Null => {
                f.error(
                    "full_sync_frequency_secs",
                    "int_type",
                    "Input should be a valid integer",
                );
                None
            }
            Tri::Absent => None,
        };
        Some(ModelChanges {
            read,
            write,
            frequency,
            full_frequency,
        })
    }
}

fn model_not_found() -> ApiError {
    ApiError::coded(ErrorCode::NotFound, "Model not found")
}

/// List a connection's models
#[utoipa::path(
    get,
    path = "/v2/integrations/connections/{connection_id}/models",
    tag = "connections",
    security(("bearer" = [])),
    params(("connection_id" = String, Path, description = "The connection id.")),
    responses(
        (status = 200, description = "The models with their schedules", body = Vec<ModelDetail>),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this organization", body = ErrorBody),
    )
)]
pub(crate) async fn list_models(
    tenant: Tenant,
    State(state): State<AppState>,
    super::ConnectionId(id): super::ConnectionId,
) -> Result<Json<Vec<ModelDetail>>, ApiError> {
    let conn = super::load(&state, &tenant, &id).await?;
    Ok(Json(details(conn, &state)))
}

/// The connection's models as answered, with their frequencies.
fn details(conn: ledgerlink_domain::Connection, state: &AppState) -> Vec<ModelDetail> {
    let frequencies: std::collections::HashMap<String, (i64, i64)> = conn
        .models
        .iter()
        .map(|m| {
            (
                m.id.clone(),
                (m.sync_frequency_secs, m.full_sync_frequency_secs),
            )
        })
        .collect();
    ConnectionOut::render(conn, &state.engine)
        .models
        .into_iter()
        .map(|model| ModelDetail {
            sync_frequency_secs: frequencies.get(&model.id).map_or(0, |f| f.0),
            full_sync_frequency_secs: frequencies.get(&model.id).map_or(0, |f| f.1),
            model,
        })
        .collect()
}

/// Change a model
///
/// Turn reading or writing on or off (only where supported) and set how often it is synced. A shorter
/// frequency brings the next scheduled sync forward.
#[utoipa::path(
    patch,
    path = "/v2/integrations/connections/{connection_id}/models/{model_id}",
    tag = "connections",
    security(("bearer" = [])),
    params(
        ("connection_id" = String, Path, description = "The connection id."),
        ("model_id" = String, Path, description = "The model id (`mdl_…`)."),
    ),
    request_body = ModelPatch,
    responses(
        (status = 200, description = "The model after the change", body = ModelDetail),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection or model in this organization", body = ErrorBody),
        (status = 422, description = "Validation Error", body = ValidationErrorBody),
    )
)]
pub(crate) async fn update_model(
    tenant: Tenant,
    State(state): State<AppState>,
    ModelPath {
        connection_id,
        model_id,
    }: ModelPath,
    JsonBody(changes): JsonBody<ModelChanges>,
) -> Result<Json<ModelDetail>, ApiError> {
    let conn = super::load(&state, &tenant, &connection_id).await?;
    let model = conn
        .models
        .iter()
        .find(|m| m.id == model_id)
        .ok_or_else(model_not_found)?;
    let mut errors = Vec::new();
    if changes.read == Some(true) && !model.is_read_supported {
        errors.push(FieldError::new(
            &["body", "is_read_enabled"],
            "value_error",
            format!(
                "{} cannot be read from this connection (is_read_supported is false)",
                model.name
            ),
        ));
    }
    if changes.write == Some(true) && !model.is_write_supported {
        errors.push(FieldError::new(
            &["body", "is_write_enabled"],
            "value_error",
            format!(
                "{} cannot be written back (is_write_supported is false)",
                model.name
            ),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let at = state.engine.now();
    let next = match (changes.frequency, model.next_sync_at) {
        (Some(f), Some(next)) if next > at + chrono::Duration::seconds(f) => {
            Some(at + chrono::Duration::seconds(f))
        }
        (_, next) => next,
    };
    state
        .store
        .update_model(
            &tenant.org_id,
            &connection_id,
            &model_id,
            changes.read,
            changes.write,
            changes.frequency,
            changes.full_frequency,
            next,
            at,
        )
        .await?;
    let conn = super::load(&state, &tenant, &connection_id).await?;
    details(conn, &state)
        .into_iter()
        .find(|d| d.model.id == model_id)
        .map(Json)
        .ok_or_else(model_not_found)
}
