//! The hosted connect page: what a customer's finance admin sees to connect their Business Central,
//! with no API key anywhere near the browser.
//!
//! **Why a link endpoint, not a connect-session resource.** The platform's backend needs one thing:
//! a URL to send the admin's browser to, made right when the admin clicks "Connect" in the
//! platform. `POST /v2/integrations/connections/{id}/connect-link` gives exactly that (the product
//! spec names it so). A session resource would add reading, listing and revoking objects that live
//! for minutes and that the connection itself already describes (its `health`, `models` and syncs
//! say how far the admin got), so it would be API surface with nothing to show in it.
//!
//! **How the link becomes a browser session.** The URL carries a random 256-bit token (only its
//! hash is stored, like an API key: as unforgeable as a signature, and claimable exactly once in
//! one `UPDATE`). It works for [`LINK_TTL`]. The first visit exchanges it for a cookie holding a
//! second random secret — `HttpOnly`, `SameSite=Strict`, `Secure` when the page is served over
//! https, scoped to `/connect` — that binds the session to that browser for [`SESSION_TTL`]. The
//! token is then spent: opened again in another browser it opens nothing ("ask for a new link").
//! The first answer is a small page that moves on to `/connect` itself instead of a redirect, so
//! the token leaves the address bar and the history, and so that the navigation to `/connect` is a
//! same-site one (a `SameSite=Strict` cookie is not sent on a redirect chain started by another
//! site, e.g. the e-mail or chat app the link was opened from).
//!
//! **Forms.** Every POST carries the session's CSRF token, compared in constant time, on top of
//! the `SameSite=Strict` cookie. Every page has a strict Content-Security-Policy
//! (`default-src 'none'`, the page's one style block by nonce, images only as `data:` URLs, forms
//! only to this server): no script at all, no third-party asset, so it works offline. Waiting
//! (setup, the first sync) refreshes the page with `<meta http-equiv="refresh">` every 10 seconds,
//! with a visible "Refresh now" link: it needs no JavaScript and shows the same server-rendered
//! page a reload would.
//!
//! **Limits.** Every page request counts against the organization's API request budget (as an
//! API call with its key would), and each session may send [`ATTEMPTS_PER_MINUTE`] forms that
//! call Business Central; beyond either, the page says to wait a minute.
//!
//! **Microsoft sign-in.** "Sign in with Microsoft" is a link to `/connect/microsoft`, which sends
//! the browser to the connection's fresh authorization URL (the same OAuth flow as the API's
//! `authorization_url`) and sets a marker cookie naming the connection (`SameSite=Lax`, scoped to
//! the OAuth callback, no secret in it). The callback, seeing the marker for the connection its
//! `state` names, brings the browser back to the connect page with the outcome (`signin=ok|declined|expired|used|failed`) instead of its one-line page.
//!
//! Layout: [`link`] the API endpoint, [`branding`] the organization's branding setting,
//! [`session`] cookies, CSRF and the session extractor, [`pages`] the page's handlers, [`view`]
//! what each step shows, [`html`] the HTML shell and its headers.

mod branding;
mod html;
mod link;
mod pages;
mod session;
mod view;

use axum::Router;
use axum::routing::{get, post};
use chrono::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub use branding::{BrandingOut, BrandingPatch};
pub use link::ConnectLinkOut;
pub(crate) use pages::after_sign_in;
pub(crate) use session::returning_from_sign_in;

/// How long a new link can be opened for the first time.
pub const LINK_TTL: Duration = Duration::minutes(15);
/// How long the browser that opened a link keeps its session (from the first visit).
pub const SESSION_TTL: Duration = Duration::hours(1);

/// How many forms that call Business Central (credentials, checks) one session may send a minute:
/// enough for any admin typing, too few to use the page to probe servers or guess keys.
pub const ATTEMPTS_PER_MINUTE: u32 = 10;

/// `path` as it may be logged: a connect link's token is a secret, so it is left out.
pub fn loggable_path(path: &str) -> &str {
    match path.strip_prefix("/connect/") {
        Some(rest) if !matches!(rest, "microsoft" | "credentials" | "choose" | "check") => {
            "/connect/{token}"
        }
        _ => path,
    }
}

/// The API routes: the link and the branding setting.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(link::create_connect_link))
        .routes(routes!(branding::get_branding, branding::update_branding))
}

/// The page's routes (HTML for browsers; not part of the API document).
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/connect", get(pages::show))
        .route("/connect/{token}", get(pages::open_link))
        .route("/connect/microsoft", get(pages::microsoft))
        .route("/connect/credentials", post(pages::credentials))
        .route("/connect/choose", post(pages::choose))
        .route("/connect/check", post(pages::check))
}
