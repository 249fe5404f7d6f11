//! Operations endpoints: liveness, readiness, metrics. No authentication.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::AppState;

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// How long readiness waits for the database: a probe must answer quickly, even while the pool
/// waits out a database restart.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Ready when the database answers, takes a write and every migration is applied.
async fn readyz(State(state): State<AppState>) -> Response {
    let ready = match tokio::time::timeout(READY_TIMEOUT, state.store.ready()).await {
        Ok(r) => r,
        Err(_) => Err(ledgerlink_store::StoreError::Unavailable(
            "the database did not answer within a second".into(),
        )),
    };
    match ready {
        Ok(()) => axum::Json(json!({"status": "ready"})).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "unavailable", "detail": err.to_string()})),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(
            state.store.queries_executed(),
            &state.engine.records_skipped(),
        ),
    )
        .into_response()
}

/// The operations routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}
