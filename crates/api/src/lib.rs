#![forbid(unsafe_code)]
//! ledgerlink's HTTP API: routers, extractors, DTOs, errors and the OpenAPI document.

pub mod api_keys;
pub mod auth;
pub mod body;
pub mod connect;
pub mod connections;
pub mod docs;
pub mod error;
mod feed;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod ops;
pub mod path;
pub mod providers;
pub mod query;
pub mod rate_limit;
pub mod server;
pub mod syncs;
pub mod writes;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use ledgerlink_engine::Engine;
use ledgerlink_store::Store;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa_axum::router::OpenApiRouter;

pub use connections::InputRules;
use error::{ApiError, ErrorCode, REQUEST_ID};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Where everything is kept.
    pub store: Arc<dyn Store>,
    /// The connection lifecycle (OAuth, credentials, setup, health).
    pub engine: Arc<Engine>,
    /// Input rules that depend on configuration.
    pub rules: InputRules,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Each organization's request budget (`None`: unlimited).
    pub limiter: Option<Arc<rate_limit::TenantLimiter>>,
    /// Where browsers reach this server (for connect links), when configured.
    pub public_url: Option<Arc<str>>,
    /// Each connect session's budget of forms that call Business Central (keyed by session id).
    pub connect_attempts: Arc<rate_limit::TenantLimiter>,
}

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// API requests each organization may make per second (twice that in a burst); 0: no limit.
    pub tenant_requests_per_second: u32,
    /// Input rules that depend on configuration.
    pub rules: InputRules,
    /// The URL browsers reach this server at (connect links start with it); `None`: the address
    /// each API call came to.
    pub public_url: Option<String>,
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(providers::router())
        .merge(connections::router())
        .merge(oauth::router())
        .merge(syncs::router())
        .merge(api_keys::router())
        .merge(writes::router())
        .merge(connect::router())
}

/// The OpenAPI document of the API: generated from the routes, then completed with what the
/// derive macros cannot say (see [`openapi::complete`]).
pub fn openapi() -> serde_json::Value {
    let (_, mut doc) = api_router().split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    openapi::complete(&mut doc);
    doc
}

/// The OpenAPI document as committed in `openapi.json`: pretty-printed, ending with a newline.
pub fn openapi_json() -> String {
    let mut text = serde_json::to_string_pretty(&openapi()).unwrap_or_default();
    text.push('\n');
    text
}

/// The whole HTTP application.
pub fn app(engine: Arc<Engine>, settings: ApiSettings) -> Router {
    let store: Arc<dyn Store> = engine.store().clone();
    let state = AppState {
        store,
        engine,
        rules: settings.rules,
        metrics: metrics::Metrics::new(),
        limiter: (settings.tenant_requests_per_second > 0).then(|| {
            Arc::new(rate_limit::TenantLimiter::new(
                settings.tenant_requests_per_second,
            ))
        }),
        public_url: settings.public_url.map(Arc::from),
        connect_attempts: Arc::new(rate_limit::TenantLimiter::per_minute(
            connect::ATTEMPTS_PER_MINUTE,
        )),
    };
    let (api, _) = api_router().split_for_parts();
    let doc = openapi();
    Router::new()
        .merge(api)
        .merge(ops::router())
        .merge(connect::pages())
        .merge(docs::router(&doc))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::coded(ErrorCode::NotFound, "Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::coded(ErrorCode::MethodNotAllowed, "Method Not Allowed")
}

/// Gives each request an id (kept from `X-Request-Id` when sane), a tracing span, and echoes the id.
async fn request_context(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %connect::loggable_path(req.uri().path()),
        request_id = %id,
        org_id = tracing::field::Empty,
    );
    let start = std::time::Instant::now();
    let mut response =
        tracing::Instrument::instrument(REQUEST_ID.scope(id.clone(), next.run(req)), span.clone())
            .await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = start.elapsed().as_secs_f64() * 1000.0,
            "request"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
