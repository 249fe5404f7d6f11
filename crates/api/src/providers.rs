//! `GET /v2/integrations/providers`: the provider catalog.

use axum::Json;
use ledgerlink_domain::{Provider, catalog};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Tenant;
use crate::error::ErrorBody;

/// List providers
///
/// Every ERP or accounting system ledgerlink knows. Connections can be created only for providers
/// whose `is_enabled` is true.
#[utoipa::path(
    get,
    path = "/v2/integrations/providers",
    tag = "providers",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The provider catalog", body = Vec<Provider>),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    )
)]
async fn list_providers(_tenant: Tenant) -> Json<&'static [Provider]> {
    Json(catalog::providers())
}

/// The providers routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_providers))
}
