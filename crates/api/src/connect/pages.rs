//! The connect page's handlers: opening a link, showing the step the connection is at, and the
//! forms. Every change goes through what the API does (the engine, and `PATCH`'s checks).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ledgerlink_connectors::{ConnectorError, ErrorKind};
use ledgerlink_domain::{Connection, ConnectionChanges, HealthStatus};
use ledgerlink_engine::{EngineError, oauth_state::StateError};
use ledgerlink_store::LinkClaim;
use secrecy::SecretString;

use super::html::{self, Page, esc, platform_name};
use super::session::{self, Visit};
use super::view::{self, CredentialsForm, Notice};
use crate::AppState;
use crate::connections::{PatchRequest, UrlRefusal, apply_patch, checked_api_url};
use crate::error::ApiError;

type Fields = Form<HashMap<String, String>>;

/// `GET /connect/{token}`: the first browser claims the session and gets its cookie; then the
/// browser moves on to `/connect` by itself (same-site, so the cookie goes along).
pub async fn open_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return html::ended(None);
    }
    let now = state.engine.now();
    let claim = state
        .store
        .claim_connect_link(&token, now, now + super::SESSION_TTL)
        .await;
    match claim {
        Ok(LinkClaim::Claimed { browser_secret, .. }) => {
            let cookie =
                session::session_cookie(&browser_secret, session::is_https(&state, &headers));
            html::bounce("", vec![cookie], "Opening…")
        }
        // Maybe this browser, coming back through the link: `/connect` knows by its cookie.
        Ok(LinkClaim::AlreadyClaimed) => html::bounce("", Vec::new(), "Opening…"),
        Ok(LinkClaim::Expired | LinkClaim::Unknown) => html::ended(None),
        Err(err) => html::internal(&err),
    }
}

/// `GET /connect`: the step the connection is at.
pub async fn show(State(state): State<AppState>, visit: Visit, RawQuery(q): RawQuery) -> Response {
    let signin = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "signin")
        .map(|(_, v)| v.into_owned());
    let notice = signin.as_deref().and_then(|s| sign_in_notice(&visit, s));
    current_step(&state, &visit, notice.as_ref()).await
}

async fn current_step(state: &AppState, v: &Visit, notice: Option<&Notice>) -> Response {
    let c = &v.connection;
    let health = c.health();
    if c.is_authentication_pending {
        return if c.is_on_premise {
            let form = CredentialsForm {
                api_url: c.api_url.clone().unwrap_or_default(),
                ..CredentialsForm::default()
            };
            view::credentials(v, StatusCode::OK, notice, form)
        } else {
            view::sign_in(v, notice)
        };
    }
    if c.is_running_setup {
        return view::setting_up(v, notice);
    }
    if c.requires_setup() {
        return view::choose(v, StatusCode::OK, notice);
    }
    match health.status_code {
        HealthStatus::AuthenticationFailed if c.is_on_premise => {
            let form = CredentialsForm {
                api_url: c.api_url.clone().unwrap_or_default(),
                ..CredentialsForm::default()
            };
            let n = Notice::alert(&health.message);
            view::credentials(v, StatusCode::OK, Some(notice.unwrap_or(&n)), form)
        }
        s @ (HealthStatus::AuthenticationFailed
        | HealthStatus::PermissionDenied
        | HealthStatus::NotFound
        | HealthStatus::Unreachable) => view::problem(v, s),
        _ => {
            let syncs = state
                .store
                .list_syncs(&v.session.org_id, &c.id, None, None, 200)
                .await;
            match syncs {
                Ok(syncs) => view::progress(v, &syncs, notice),
                Err(err) => html::internal(&err),
            }
        }
    }
}

fn sign_in_notice(v: &Visit, outcome: &str) -> Option<Notice> {
    let platform = platform_name(Some(&v.branding));
    Some(match outcome {
        "ok" => Notice::note("Signed in with Microsoft."),
        "declined" => Notice::alert(
            "Microsoft says the permissions were not granted, so Business Central is not \
             connected. Sign in again and choose Accept. If Microsoft says an administrator must \
             approve, ask your Microsoft 365 administrator to sign in here instead, or to grant \
             consent for your whole organization.",
        ),
        "expired" => Notice::alert("The sign-in took too long and expired. Sign in again."),
        "used" => Notice::alert(
            "That sign-in was already used. If Business Central is not connected yet, sign in again.",
        ),
        "failed" => Notice::alert(&format!(
            "Microsoft did not complete the sign-in. Try again in a minute; if it keeps failing, \
             contact {platform}."
        )),
        _ => return None,
    })
}

/// `GET /connect/microsoft`: off to Microsoft's sign-in, with a marker that brings the browser back.
pub async fn microsoft(State(state): State<AppState>, visit: Visit) -> Response {
    let c = &visit.connection;
    if c.is_on_premise {
        return Redirect::to("/connect").into_response();
    }
    let Some(url) = state.engine.authorization_url(c) else {
        let n = Notice::alert(
            "This server cannot sign in to Microsoft yet: its operator has not configured a \
             Microsoft Entra app. Contact the platform that sent you this link.",
        );
        return view::sign_in(&visit, Some(&n));
    };
    let mut response = Redirect::to(&url).into_response();
    if let Ok(v) = HeaderValue::from_str(&session::return_cookie(&c.id, visit.https)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The OAuth callback's answer when the sign-in started on the connect page: back to it, with the
/// outcome in words the page knows (never text from the redirect itself).
pub fn after_sign_in(result: &Result<Connection, EngineError>, query: &str) -> Response {
    let outcome = match result {
        Ok(_) => "ok",
        Err(EngineError::Declined(_)) if query_has_error(query) => "declined",
        Err(EngineError::BadState(StateError::Expired)) => "expired",
        Err(EngineError::Replayed) => "used",
        Err(_) => "failed",
    };
    html::bounce(
        &format!("?signin={outcome}"),
        vec![session::clear_return_cookie()],
        "Back to the connect page…",
    )
}

fn query_has_error(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "error")
}

/// A form whose token is not this session's: nothing changes.
fn forged(v: &Visit) -> Response {
    html::render(Page {
        status: StatusCode::FORBIDDEN,
        ..Page::new(
            "This form has expired",
            Some(&v.branding),
            "<p>Nothing was changed. <a href=\"/connect\">Reload the page</a> and try again.</p>"
                .to_owned(),
        )
    })
}

fn field<'a>(f: &'a HashMap<String, String>, name: &str) -> &'a str {
    f.get(name).map(|s| s.trim()).unwrap_or("")
}

/// `POST /connect/credentials`: the on-premises server, user and key, checked live.
pub async fn credentials(State(state): State<AppState>, visit: Visit, Form(f): Fields) -> Response {
    if !visit.csrf_ok(f.get("csrf")) {
        return forged(&visit);
    }
    if let Some(refused) = visit.over_budget(&state) {
        return refused;
    }
    if !visit.connection.is_on_premise {
        return Redirect::to("/connect").into_response();
    }
    let form = CredentialsForm {
        api_url: field(&f, "api_url").to_owned(),
        username: field(&f, "username").to_owned(),
        field: None,
    };
    // The key as typed: spaces may be part of it.
    let key = f.get("web_service_access_key").cloned().unwrap_or_default();
    let outcome = match check_credentials_form(&form, &key) {
        Err(refusal) => Err(refusal),
        Ok(()) => connect_on_premises(&state, &visit, &form, key).await,
    };
    match outcome {
        Ok(()) => Redirect::to("/connect").into_response(),
        Err(Refusal::Internal(why)) => html::internal(&why),
        Err(Refusal::Field(field, msg)) => view::credentials(
            &visit,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&Notice::alert(&msg)),
            CredentialsForm {
                field: Some(field),
                ..form
            },
        ),
    }
}

/// Why a form was not taken: a field's problem in an admin's words, or a failure of ours.
enum Refusal {
    Field(&'static str, String),
    Internal(String),
}

/// What can be told without asking the server.
fn check_credentials_form(form: &CredentialsForm, key: &str) -> Result<(), Refusal> {
    let refuse = |field, msg: &str| Err(Refusal::Field(field, msg.to_owned()));
    let user = &form.username;
    if form.api_url.is_empty() {
        return refuse("api_url", "Enter your Business Central API URL.");
    }
    if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
        return refuse(
            "username",
            "Enter the Business Central user name (without “:”).",
        );
    }
    if key.is_empty() || key.chars().count() > 1000 || key.chars().any(char::is_control) {
        return refuse("key", "Enter the user's web service access key.");
    }
    Ok(())
}

/// Proves the credentials against the typed server URL with one live call, storing nothing; only
/// then saves a changed URL (through `PATCH`) and the credentials. A wrong URL or key leaves the
/// connection as it was: an unproven URL would make a connected connection forget its working
/// credentials.
async fn connect_on_premises(
    state: &AppState,
    visit: &Visit,
    form: &CredentialsForm,
    key: String,
) -> Result<(), Refusal> {
    let tenant = visit.tenant();
    let id = &visit.connection.id;
    let url = checked_api_url(state, &form.api_url).map_err(|refusal| {
        if let UrlRefusal::Malformed(why) = &refusal {
            tracing::info!(reason = %why, "connect page: server URL refused");
        }
        Refusal::Field("api_url", refused_url_words(&refusal))
    })?;
    let refusal = |err: EngineError| match credentials_words(&err, &form.api_url) {
        ("", _) => Refusal::Internal(err.to_string()),
        (field, msg) => Refusal::Field(field, msg),
    };
    let proof = state
        .engine
        .prove_basic_credentials(
            &tenant.org_id,
            id,
            Some(&url),
            form.username.clone(),
            SecretString::from(key),
        )
        .await
        .map_err(refusal)?;
    if visit.connection.api_url.as_deref() != Some(url.as_str()) {
        let patch = PatchRequest {
            provider_name: None,
            changes: ConnectionChanges {
                api_url: Some(Some(url)),
                ..ConnectionChanges::default()
            },
        };
        apply_patch(state, &tenant, id, patch)
            .await
            .map_err(|err| Refusal::Field("api_url", url_words(&err)))?;
    }
    state
        .engine
        .set_proven_basic_credentials(&tenant.org_id, proof)
        .await
        .map(|_| ())
        .map_err(refusal)
}

/// An address the request-forgery guard refuses, for an admin.
const NOT_ALLOWED: &str = "This address is not allowed from this service (addresses on a private or \
     local network are refused). Use the address your server has on the internet.";

/// Why a typed server URL cannot be used, for an admin (no API field names).
fn refused_url_words(refusal: &UrlRefusal) -> String {
    match refusal {
        UrlRefusal::NotAllowed => NOT_ALLOWED.into(),
        UrlRefusal::Malformed(_) => {
            "This is not a server address that can be used. Enter the full \
             address of your server's API, starting with https:// and without a user name or \
             password in it, for example https://bc.example.com:7048/BC/api/v2.0"
                .into()
        }
    }
}

/// Why saving a proved server URL failed, for an admin.
fn url_words(err: &ApiError) -> String {
    match err {
        ApiError::Validation(_) => "This address could not be saved: it changed while it was \
             being checked. Enter it again."
            .into(),
        _ => "This address could not be saved. Try again.".into(),
    }
}

/// Why Business Central refused the credentials, for an admin, and which field it is about
/// (`""`: a failure of ours).
fn credentials_words(err: &EngineError, api_url: &str) -> (&'static str, String) {
    let EngineError::Connector(e) = err else {
        return match err {
            EngineError::Invalid(msg) | EngineError::NotReady(msg) => ("api_url", msg.clone()),
            _ => ("", String::new()),
        };
    };
    match e.kind() {
        ErrorKind::Unauthorized => (
            "key",
            "Business Central did not accept this user name and web service access key. Check \
             both (in Business Central: Users → the user → Web Service Access Key; a new key \
             replaces the old one) and try again."
                .into(),
        ),
        ErrorKind::Forbidden => (
            "username",
            "This user signed in, but may not read data through the API. Ask your Business \
             Central administrator to give the user the D365 READ and D365 BUS FULL ACCESS \
             permission sets, then try again."
                .into(),
        ),
        ErrorKind::Blocked => ("api_url", NOT_ALLOWED.into()),
        ErrorKind::NotConfigured => (
            "api_url",
            match e {
                ConnectorError::NotConfigured(msg) => msg.clone(),
                other => other.to_string(),
            },
        ),
        ErrorKind::NotFound => (
            "api_url",
            format!(
                "No Business Central API answered at {api_url}. Check the address: it usually \
                 ends with /api/v2.0."
            ),
        ),
        _ => (
            "api_url",
            format!(
                "Your server could not be reached at {api_url}. Check the address, and that the \
                 server is running and reachable from the internet, then try again."
            ),
        ),
    }
}

/// `POST /connect/choose`: the environment or company, through `PATCH`'s checks.
pub async fn choose(State(state): State<AppState>, visit: Visit, Form(f): Fields) -> Response {
    if !visit.csrf_ok(f.get("csrf")) {
        return forged(&visit);
    }
    let mut changes = ConnectionChanges::default();
    if let Some(env) = f.get("environment").filter(|s| !s.is_empty()) {
        changes.environment = Some(Some(env.clone()));
    } else if let Some(company) = f.get("company").filter(|s| !s.is_empty()) {
        changes.company = Some(Some(company.clone()));
    } else {
        let n = Notice::alert("Choose one of the options, then Continue.");
        return view::choose(&visit, StatusCode::UNPROCESSABLE_ENTITY, Some(&n));
    }
    let patch = PatchRequest {
        provider_name: None,
        changes,
    };
    match apply_patch(&state, &visit.tenant(), &visit.connection.id, patch).await {
        Ok(_) => Redirect::to("/connect").into_response(),
        Err(ApiError::Validation(_)) => {
            let n = Notice::alert(
                "That choice is no longer offered by Business Central. Choose again from the list.",
            );
            view::choose(&visit, StatusCode::UNPROCESSABLE_ENTITY, Some(&n))
        }
        Err(err) => html::internal(&format!("{err:?}")),
    }
}

/// `POST /connect/check`: run the health checks again, or clear the company to choose another.
pub async fn check(State(state): State<AppState>, visit: Visit, Form(f): Fields) -> Response {
    if !visit.csrf_ok(f.get("csrf")) {
        return forged(&visit);
    }
    if let Some(refused) = visit.over_budget(&state) {
        return refused;
    }
    let tenant = visit.tenant();
    let id = &visit.connection.id;
    let result = if field(&f, "action") == "rechoose" {
        let patch = PatchRequest {
            provider_name: None,
            changes: ConnectionChanges {
                company: Some(None),
                ..ConnectionChanges::default()
            },
        };
        apply_patch(&state, &tenant, id, patch).await.map(|_| ())
    } else {
        state
            .engine
            .check_health(&tenant.org_id, id)
            .await
            .map(|_| ())
            .map_err(crate::connections::engine_error)
    };
    match result {
        Ok(()) => Redirect::to("/connect").into_response(),
        Err(err) => {
            let name = esc(&platform_name(Some(&visit.branding)));
            tracing::warn!(error = ?err, "connect page: check failed");
            html::render(Page {
                status: StatusCode::BAD_GATEWAY,
                ..Page::new(
                    "Could not check now",
                    Some(&visit.branding),
                    format!(
                        "<p>The check could not run. <a href=\"/connect\">Go back</a> and try \
                         again in a minute; if it keeps failing, contact {name}.</p>"
                    ),
                )
            })
        }
    }
}
