//! What each step of the connect page shows. Everything the connection or Business Central says is
//! escaped; the web service access key is never written into a page.

use axum::http::StatusCode;
use axum::response::Response;
use ledgerlink_domain::{Connection, HealthStatus, Sync, SyncStatus};

use super::html::{Page, Step, esc, platform_name, render};
use super::session::Visit;

/// Seconds between reloads while something runs: often enough to follow, rarely enough not to
/// move a page a screen reader is reading or a keyboard user is in.
const REFRESH_SECS: u32 = 10;

/// A link that reloads the page now (no script: the reload is a plain navigation).
fn refresh_now() -> String {
    format!(
        "<p class=\"hint\">This page updates by itself every {REFRESH_SECS} seconds. \
         <a href=\"/connect\" id=\"refresh-now\">Refresh now</a></p>"
    )
}

/// A message above a step's form: `alert` for a problem, `note` for news, `done` for success.
pub struct Notice {
    pub class: &'static str,
    pub html: String,
}

impl Notice {
    pub fn alert(text: &str) -> Self {
        Notice {
            class: "alert",
            html: esc(text),
        }
    }

    pub fn note(text: &str) -> Self {
        Notice {
            class: "note",
            html: esc(text),
        }
    }

    fn render(&self) -> String {
        let role = if self.class == "alert" {
            " role=\"alert\""
        } else {
            " role=\"status\""
        };
        format!("<div class=\"{}\"{role}>{}</div>", self.class, self.html)
    }
}

fn notice_html(n: Option<&Notice>) -> String {
    n.map(Notice::render).unwrap_or_default()
}

fn csrf(v: &Visit) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&v.session.csrf_token)
    )
}

fn intro(v: &Visit) -> String {
    format!(
        "<p>{} asks to read your receivables data (customers, invoices, payments…) from \
         Microsoft Dynamics 365 Business Central{}.</p>",
        esc(&platform_name(Some(&v.branding))),
        v.connection
            .name
            .as_deref()
            .map(|n| format!(" for “{}”", esc(n)))
            .unwrap_or_default()
    )
}

/// Cloud, step 1: sign in with Microsoft.
pub fn sign_in(v: &Visit, notice: Option<&Notice>) -> Response {
    let body = format!(
        "{}{}<p>Sign in with a Microsoft account of your organization that can use Business \
         Central. Microsoft asks you to accept the permissions; you come back here afterwards.</p>\
         <p><a class=\"button\" id=\"sign-in\" href=\"/connect/microsoft\">Sign in with \
         Microsoft</a></p>",
        notice_html(notice),
        intro(v)
    );
    render(Page {
        step: Some(Step::SignIn),
        ..Page::new("Connect Business Central", Some(&v.branding), body)
    })
}

/// What the on-premises form shows again after a refusal (never the key).
#[derive(Default)]
pub struct CredentialsForm {
    pub api_url: String,
    pub username: String,
    /// The field the problem is with (`api_url`, `username`, `key`), for `aria-invalid`.
    pub field: Option<&'static str>,
}

/// On-premises, step 1: the server's API URL, a user and its web service access key.
pub fn credentials(
    v: &Visit,
    status: StatusCode,
    notice: Option<&Notice>,
    form: CredentialsForm,
) -> Response {
    // One aria-describedby per field, naming its hint and, when it is the field at fault, the
    // problem (a second attribute would be ignored).
    let aria = |f: &str, hint: Option<&str>| {
        let invalid = form.field == Some(f);
        let ids: Vec<&str> = hint
            .into_iter()
            .chain(invalid.then_some("problem"))
            .collect();
        let mut out = String::new();
        if invalid {
            out.push_str(" aria-invalid=\"true\"");
        }
        if !ids.is_empty() {
            out.push_str(&format!(" aria-describedby=\"{}\"", ids.join(" ")));
        }
        out
    };
    let notice = notice
        .map(|n| format!("<div id=\"problem\">{}</div>", n.render()))
        .unwrap_or_default();
    let body = format!(
        "{notice}{intro}<p>Enter your Business Central server and a user that may use its API. \
         The key is checked with your server right away and stored encrypted; it is never shown \
         again.</p>\
         <form method=\"post\" action=\"/connect/credentials\">{csrf}\
         <label for=\"api_url\">Business Central API URL</label>\
         <input type=\"url\" id=\"api_url\" name=\"api_url\" required autocomplete=\"url\" \
          value=\"{url}\"{iu}>\
         <p class=\"hint\" id=\"api_url_hint\">The address of your server's API, for example \
          https://bc.example.com:7048/BC/api/v2.0</p>\
         <label for=\"username\">User name</label>\
         <input type=\"text\" id=\"username\" name=\"username\" required autocomplete=\"username\" \
          autocapitalize=\"none\" spellcheck=\"false\" value=\"{user}\"{iuser}>\
         <label for=\"key\">Web service access key</label>\
         <input type=\"password\" id=\"key\" name=\"web_service_access_key\" required \
          autocomplete=\"off\"{ikey}>\
         <p class=\"hint\" id=\"key_hint\">In Business Central: Users → the user → Web Service \
          Access Key.</p>\
         <button class=\"button\" type=\"submit\" id=\"connect\">Connect</button></form>",
        intro = intro(v),
        csrf = csrf(v),
        url = esc(&form.api_url),
        user = esc(&form.username),
        iu = aria("api_url", Some("api_url_hint")),
        iuser = aria("username", None),
        ikey = aria("key", Some("key_hint")),
    );
    render(Page {
        status,
        step: Some(Step::SignIn),
        ..Page::new("Connect Business Central", Some(&v.branding), body)
    })
}

/// Setup runs: discovering environments and companies.
pub fn setting_up(v: &Visit, notice: Option<&Notice>) -> Response {
    let body = format!(
        "{}<p>Looking for your Business Central environments and companies…</p>{}",
        notice_html(notice),
        refresh_now()
    );
    render(Page {
        step: Some(Step::Choose),
        refresh: Some((REFRESH_SECS, "/connect".into())),
        ..Page::new(
            "Connected — finding your companies",
            Some(&v.branding),
            body,
        )
    })
}

/// Step 2: choose the environment (cloud) or the company, from what setup found.
pub fn choose(v: &Visit, status: StatusCode, notice: Option<&Notice>) -> Response {
    let c = &v.connection;
    let found = c.discovery.clone().unwrap_or_default();
    let (field, legend, options): (&str, &str, Vec<(String, String, String)>) =
        if c.missing_settings.iter().any(|m| m == "environment") {
            (
                "environment",
                "Which Business Central environment should be used?",
                found
                    .environments
                    .iter()
                    .map(|e| (e.clone(), e.clone(), String::new()))
                    .collect(),
            )
        } else {
            (
                "company",
                "Which company should be synced?",
                found
                    .companies
                    .iter()
                    .map(|co| (co.id.clone(), co.name.clone(), String::new()))
                    .collect(),
            )
        };
    let choices: String = options
        .iter()
        .enumerate()
        .map(|(i, (value, label, _))| {
            format!(
                "<label class=\"choice\" for=\"{field}-{i}\"><input type=\"radio\" \
                 id=\"{field}-{i}\" name=\"{field}\" value=\"{}\" required{}>\
                 <span>{}</span></label>",
                esc(value),
                if options.len() == 1 { " checked" } else { "" },
                esc(label)
            )
        })
        .collect();
    let body = if options.is_empty() {
        format!(
            "{}<p>Business Central shows this account no {field} to choose from. Ask your \
             Business Central administrator to give the user access to one, then choose Check \
             again.</p>{}",
            notice_html(notice),
            check_again(v)
        )
    } else {
        format!(
            "{}<form method=\"post\" action=\"/connect/choose\">{}<fieldset>\
             <legend>{legend}</legend>{choices}</fieldset>\
             <button class=\"button\" type=\"submit\" id=\"choose\">Continue</button></form>",
            notice_html(notice),
            csrf(v)
        )
    };
    render(Page {
        status,
        step: Some(Step::Choose),
        ..Page::new(
            if field == "environment" {
                "Choose the environment"
            } else {
                "Choose the company"
            },
            Some(&v.branding),
            body,
        )
    })
}

fn check_again(v: &Visit) -> String {
    format!(
        "<form method=\"post\" action=\"/connect/check\">{}\
         <button class=\"button\" type=\"submit\" name=\"action\" value=\"health\" id=\"check\">\
         Check again</button></form>",
        csrf(v)
    )
}

/// What a finance admin can do about a health problem, in their words.
fn what_to_do(v: &Visit, status: HealthStatus) -> &'static str {
    match status {
        HealthStatus::AuthenticationFailed if v.connection.is_on_premise => {
            "Business Central no longer accepts the user name and web service access key. Enter \
             them again below."
        }
        HealthStatus::AuthenticationFailed => {
            "Microsoft no longer accepts this connection's sign-in (the consent may have been \
             withdrawn, or the password changed). Sign in again; nothing synced so far is lost."
        }
        HealthStatus::PermissionDenied => {
            "The Business Central user lacks a permission needed to read this data. Ask your \
             Business Central administrator to give the user the D365 READ and D365 BUS FULL \
             ACCESS permission sets (or your own equivalent), then choose Check again."
        }
        HealthStatus::NotFound => {
            "The environment or company this connection uses is no longer in Business Central \
             (it was deleted, renamed or moved). Choose another one, or restore it and choose \
             Check again."
        }
        HealthStatus::Unreachable => {
            "Business Central could not be reached. Make sure the server is running and \
             reachable from the internet, then choose Check again."
        }
        _ => {
            "Choose Check again in a moment. If the problem stays, contact us with the message above."
        }
    }
}

/// Something stops the connection; say what BC said and what to do.
pub fn problem(v: &Visit, status: HealthStatus) -> Response {
    let health = v.connection.health();
    let actions = match status {
        HealthStatus::AuthenticationFailed if !v.connection.is_on_premise => {
            "<p><a class=\"button\" id=\"sign-in\" href=\"/connect/microsoft\">Sign in with \
             Microsoft again</a></p>"
                .to_owned()
        }
        HealthStatus::NotFound => format!(
            "<form method=\"post\" action=\"/connect/check\">{}\
             <button class=\"button\" type=\"submit\" name=\"action\" value=\"rechoose\" \
             id=\"rechoose\">Choose another company</button> \
             <button class=\"button secondary\" type=\"submit\" name=\"action\" value=\"health\" \
             id=\"check\">Check again</button></form>",
            csrf(v)
        ),
        _ => check_again(v),
    };
    let body = format!(
        "<div class=\"alert\" role=\"alert\"><p><strong>Business Central says:</strong> {}</p></div>\
         <h2>What to do</h2><p>{}</p>{actions}",
        esc(&health.message),
        esc(what_to_do(v, status)),
    );
    render(Page {
        status: StatusCode::OK,
        step: Some(Step::Choose),
        ..Page::new("The connection needs attention", Some(&v.branding), body)
    })
}

/// The latest run of each model the connection reads, if it has one.
pub fn latest_runs<'a>(c: &Connection, syncs: &'a [Sync]) -> Vec<(String, Option<&'a Sync>)> {
    c.models
        .iter()
        .filter(|m| m.is_read_enabled && m.is_read_supported)
        .map(|m| {
            // Newest first: the first one of the model that is not merely planned.
            let run = syncs
                .iter()
                .find(|s| s.model_id == m.id && s.status != SyncStatus::Scheduled);
            (m.display_name.clone(), run)
        })
        .collect()
}

fn status_words(s: Option<&Sync>) -> String {
    let Some(s) = s else {
        return "Waiting".into();
    };
    match s.status {
        SyncStatus::Scheduled | SyncStatus::Queued => "Waiting".into(),
        SyncStatus::Running => "Reading".into(),
        SyncStatus::PendingRetry => "Retrying soon".into(),
        SyncStatus::Complete => "Done".into(),
        SyncStatus::Cancelled => "Cancelled".into(),
        SyncStatus::Failed => format!(
            "Failed: {}",
            s.error.as_deref().unwrap_or("Business Central refused it")
        ),
    }
}

fn records_cell(s: Option<&Sync>) -> String {
    let progress = s.and_then(|s| s.progress);
    match progress {
        Some(p) => match p.total {
            Some(total) if total > 0 => format!(
                "{} of {}<progress max=\"{total}\" value=\"{}\" aria-hidden=\"true\"></progress>",
                p.records,
                total,
                p.records.min(total)
            ),
            _ => p.records.to_string(),
        },
        None if s.is_some_and(|s| s.status == SyncStatus::Complete) => "0".into(),
        None => "—".into(),
    }
}

/// Whether every model's first run has ended.
pub fn all_done(runs: &[(String, Option<&Sync>)]) -> bool {
    runs.iter().all(|(_, s)| {
        s.is_some_and(|s| {
            matches!(
                s.status,
                SyncStatus::Complete | SyncStatus::Failed | SyncStatus::Cancelled
            )
        })
    })
}

/// Step 3: the first sync, model by model, until every model is done.
pub fn progress(v: &Visit, syncs: &[Sync], notice: Option<&Notice>) -> Response {
    let runs = latest_runs(&v.connection, syncs);
    let done = all_done(&runs);
    let rows: String = runs
        .iter()
        .map(|(name, s)| {
            format!(
                "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td>{}</td></tr>",
                esc(name),
                records_cell(*s),
                esc(&status_words(*s))
            )
        })
        .collect();
    let company = v
        .connection
        .company_name
        .as_deref()
        .map(|n| format!(" to “{}”", esc(n)))
        .unwrap_or_default();
    let failed = runs
        .iter()
        .any(|(_, s)| s.is_some_and(|s| s.status == SyncStatus::Failed));
    let head = if done && failed {
        format!(
            "<div class=\"alert\" role=\"alert\" id=\"finished\">Business Central is \
             connected{company}, but some data could not be read (see below). It is tried again \
             at the next scheduled sync; if it keeps failing, fix what the message says in \
             Business Central or contact {}.</div>",
            esc(&platform_name(Some(&v.branding)))
        )
    } else if done {
        format!(
            "<div class=\"done\" role=\"status\" id=\"finished\">Business Central is connected{company} \
             and the first sync is finished. You can close this window.</div>"
        )
    } else {
        format!(
            "<p>Business Central is connected{company}. The first sync is reading your data. You \
             can close this page: the sync goes on.</p>{}",
            refresh_now()
        )
    };
    let body = format!(
        "{}{head}<table><caption class=\"hint\">Records read so far</caption>\
         <thead><tr><th scope=\"col\">Data</th><th scope=\"col\">Records</th>\
         <th scope=\"col\">Status</th></tr></thead><tbody>{rows}</tbody></table>",
        notice_html(notice)
    );
    render(Page {
        step: Some(Step::Sync),
        refresh: (!done).then(|| (REFRESH_SECS, "/connect".to_owned())),
        ..Page::new(
            if done {
                "Connected"
            } else {
                "Syncing your data"
            },
            Some(&v.branding),
            body,
        )
    })
}
