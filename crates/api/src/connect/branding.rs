//! `/v2/integrations/branding`: how the hosted connect page presents the organization's platform.

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use ledgerlink_store::Branding;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Tenant;
use crate::body::{Fields, FromBody, JsonBody, Tri};
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};

/// Longest platform name, in characters.
const MAX_NAME_CHARS: usize = 100;
/// Longest logo, in characters of its `data:` URL (about 75 KB of image).
const MAX_LOGO_CHARS: usize = 100_000;
/// Image types a logo may have.
const LOGO_TYPES: &[&str] = &["png", "jpeg", "gif", "webp", "svg+xml"];

/// How the connect page presents the organization's platform.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandingOut {
    /// String representing the object's type: `branding`.
    #[schema(example = "branding")]
    pub object: &'static str,
    /// The platform's name, as the customer's finance admin knows it ("Acme AR wants to connect…").
    /// `null`: the page says "Your finance platform".
    #[schema(required = true, example = "Acme AR")]
    pub name: Option<String>,
    /// The platform's logo as a `data:image/…;base64,…` URL, shown at the top of the page. Inline
    /// so that the page loads nothing from anywhere else.
    #[schema(required = true, example = "data:image/png;base64,iVBORw0KGgo…")]
    pub logo: Option<String>,
    /// The colour of the page's buttons, `#rrggbb`; their text is black or white, whichever
    /// contrasts more. `null`: a default blue.
    #[schema(required = true, example = "#0a7d5a")]
    pub color: Option<String>,
}

impl BrandingOut {
    fn from(b: Branding) -> Self {
        BrandingOut {
            object: "branding",
            name: b.name,
            logo: b.logo,
            color: b.color,
        }
    }
}

/// Body of `PATCH /v2/integrations/branding`. Absent fields are left alone; `null` clears one.
#[derive(ToSchema)]
#[allow(dead_code)] // the schema of the body; it is read by `BrandingChanges`
pub struct BrandingPatch {
    /// The platform's name: 1 to 100 characters, not only spaces, no control or format
    /// characters (direction overrides, zero-width spaces…).
    #[schema(
        min_length = 1,
        max_length = 100,
        example = "Acme AR",
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]*[^\s\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb][^\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]*$"
    )]
    name: Option<String>,
    /// A `data:` URL of a PNG, JPEG, GIF, WebP or SVG image, base64-encoded, at most 100,000
    /// characters.
    #[schema(
        max_length = 100000,
        pattern = r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
    )]
    logo: Option<String>,
    /// A colour `#rrggbb`.
    #[schema(pattern = "^#[0-9a-fA-F]{6}$", example = "#0a7d5a")]
    color: Option<String>,
}

pub(crate) struct BrandingChanges {
    name: Tri<String>,
    logo: Tri<String>,
    color: Tri<String>,
}

impl FromBody for BrandingChanges {
    const FIELDS: &'static [&'static str] = &["name", "logo", "color"];

    fn read(f: &mut Fields) -> Option<Self> {
        let name = f.string("name");
        if let Tri::Value(n) = &name
            && (n.trim().is_empty()
                || n.chars().count() > MAX_NAME_CHARS
                || n.chars().any(unprintable))
        {
            f.error(
                "name",
                "value_error",
                "must be 1 to 100 characters, not only spaces, without control or invisible \
                 formatting characters (such as direction overrides or zero-width spaces)",
            );
        }
        let logo = f.string("logo");
        if let Tri::Value(l) = &logo
            && !valid_logo(l)
        {
            f.error(
                "logo",
                "value_error",
                "must be a data:image/(png|jpeg|gif|webp|svg+xml);base64,… URL of at most 100000 \
                 characters",
            );
        }
        let color = f.string("color");
        if let Tri::Value(c) = &color
            && !valid_color(c)
        {
            f.error("color", "value_error", "must be a colour #rrggbb");
        }
        Some(BrandingChanges { name, logo, color })
    }
}

/// A control character, or a format one (Unicode category Cf: direction overrides, zero-width
/// spaces and joiners, the byte order mark…), which could make the name read other than it is.
/// (The schema's `pattern` lists the Cf characters below U+10000.)
fn unprintable(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    c.is_control() || c.general_category() == GeneralCategory::Format
}

fn valid_logo(l: &str) -> bool {
    if l.len() > MAX_LOGO_CHARS {
        return false;
    }
    let Some(rest) = l.strip_prefix("data:image/") else {
        return false;
    };
    let Some((kind, data)) = rest.split_once(";base64,") else {
        return false;
    };
    // Padding required, stray bits in the last character tolerated: exactly what the schema's
    // pattern says.
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
    );
    LOGO_TYPES.contains(&kind) && !data.is_empty() && engine.decode(data).is_ok()
}

/// Whether `c` is a colour `#rrggbb` (checked when stored, and again when written into a page).
pub(super) fn valid_color(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn apply<T>(current: &mut Option<T>, change: Tri<T>) {
    if let Some(v) = change.into_change() {
        *current = v;
    }
}

/// Read the branding
///
/// How the hosted connect page presents the organization's platform.
#[utoipa::path(
    get,
    path = "/v2/integrations/branding",
    tag = "branding",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Successful Response", body = BrandingOut),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    )
)]
pub(crate) async fn get_branding(
    tenant: Tenant,
    State(state): State<AppState>,
) -> Result<Json<BrandingOut>, ApiError> {
    let b = state.store.org_branding(&tenant.org_id).await?;
    Ok(Json(BrandingOut::from(b.unwrap_or_default())))
}

/// Change the branding
///
/// Sets the name, logo and colour the hosted connect page shows. Absent fields are left alone;
/// `null` clears one.
#[utoipa::path(
    patch,
    path = "/v2/integrations/branding",
    tag = "branding",
    security(("bearer" = [])),
    request_body = BrandingPatch,
    responses(
        (status = 200, description = "Successful Response", body = BrandingOut),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
        (status = 422, description = "Validation Error", body = ValidationErrorBody),
    )
)]
pub(crate) async fn update_branding(
    tenant: Tenant,
    State(state): State<AppState>,
    JsonBody(changes): JsonBody<BrandingChanges>,
) -> Result<Json<BrandingOut>, ApiError> {
    let mut b = state
        .store
        .org_branding(&tenant.org_id)
        .await?
        .unwrap_or_default();
    apply(&mut b.name, changes.name);
    apply(&mut b.logo, changes.logo);
    let color = match changes.color {
        Tri::Value(c) => Tri::Value(c.to_ascii_lowercase()),
        other => other,
    };
    apply(&mut b.color, color);
    state.store.set_org_branding(&tenant.org_id, &b).await?;
    Ok(Json(BrandingOut::from(b)))
}
