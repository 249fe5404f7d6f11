//! The HTML shell of every connect page, its headers (a strict CSP with a per-answer style nonce),
//! and the pages that end a visit.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use ledgerlink_store::Branding;

/// The page's style: system fonts, one column that fits a phone, contrast of at least 4.5:1 for
/// all text, a visible focus ring.
const CSS: &str = include_str!("connect.css");

/// Default colour of buttons and links when the organization set none.
const DEFAULT_COLOR: &str = "#2451b7";

/// The steps shown at the top of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    SignIn,
    Choose,
    Sync,
}

/// One page to answer.
pub struct Page<'a> {
    pub status: StatusCode,
    pub title: &'a str,
    pub branding: Option<&'a Branding>,
    pub step: Option<Step>,
    /// Seconds after which the browser loads this address (same-site, so the session cookie goes).
    pub refresh: Option<(u32, String)>,
    /// The main content (already escaped HTML).
    pub body: String,
    /// Extra `Set-Cookie` headers.
    pub cookies: Vec<String>,
}

impl<'a> Page<'a> {
    /// A 200 page.
    pub fn new(title: &'a str, branding: Option<&'a Branding>, body: String) -> Self {
        Page {
            status: StatusCode::OK,
            title,
            branding,
            step: None,
            refresh: None,
            body,
            cookies: Vec::new(),
        }
    }
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The platform's name as the page says it.
pub fn platform_name(b: Option<&Branding>) -> String {
    b.and_then(|b| b.name.clone())
        .unwrap_or_else(|| "Your finance platform".to_owned())
}

/// Black or white, whichever reads better on `hex` (`#rrggbb`).
pub fn text_on(hex: &str) -> &'static str {
    let channel = |i: usize| {
        let v = u8::from_str_radix(hex.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0) as f64;
        let c = v / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    // Contrast with white is 1.05/(l+0.05), with black (l+0.05)/0.05.
    if 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 {
        "#ffffff"
    } else {
        "#000000"
    }
}

fn header_html(b: Option<&Branding>) -> String {
    let name = esc(&platform_name(b));
    let logo = b
        .and_then(|b| b.logo.as_deref())
        .map(|src| format!("<img src=\"{}\" alt=\"\">", esc(src)))
        .unwrap_or_default();
    format!("<header class=\"brand\">{logo}<span class=\"brand-name\">{name}</span></header>")
}

fn steps_html(step: Option<Step>) -> String {
    let Some(step) = step else {
        return String::new();
    };
    let items = [
        (Step::SignIn, "Sign in"),
        (Step::Choose, "Choose company"),
        (Step::Sync, "First sync"),
    ];
    let lis: String = items
        .iter()
        .enumerate()
        .map(|(i, (s, label))| {
            let current = if *s == step {
                " aria-current=\"step\""
            } else {
                ""
            };
            format!("<li{current}>{}. {label}</li>", i + 1)
        })
        .collect();
    format!("<ol class=\"steps\" aria-label=\"Progress\">{lis}</ol>")
}

/// The page's accent colour: the organization's, when it is a colour `#rrggbb`. It is checked
/// again here because it is written into the style block: a value stored some other way (an old
/// row, a manual fix) must not become CSS.
fn accent(b: Option<&Branding>) -> &str {
    b.and_then(|b| b.color.as_deref())
        .filter(|c| super::branding::valid_color(c))
        .unwrap_or(DEFAULT_COLOR)
}

/// Renders a page with its security headers.
pub fn render(page: Page<'_>) -> Response {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let color = accent(page.branding);
    let refresh = page
        .refresh
        .as_ref()
        .map(|(s, url)| {
            format!(
                "<meta http-equiv=\"refresh\" content=\"{s};url={}\">",
                esc(url)
            )
        })
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">{refresh}\
         <title>{title} · {platform}</title>\
         <style nonce=\"{nonce}\">:root{{--accent:{color};--on-accent:{on}}}{CSS}</style></head>\
         <body><main>{header}<div class=\"card\">{steps}<h1>{title}</h1>{body}</div>\
         <footer>Connecting Microsoft Dynamics 365 Business Central · served by ledgerlink</footer></main></body></html>",
        title = esc(page.title),
        platform = esc(&platform_name(page.branding)),
        on = text_on(color),
        header = header_html(page.branding),
        steps = steps_html(page.step),
        body = page.body,
    );
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; img-src data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (page.status, Html(html)).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    for cookie in page.cookies {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    response
}

/// The link or session no longer opens anything.
pub fn ended(branding: Option<&Branding>) -> Response {
    let name = esc(&platform_name(branding));
    render(Page {
        status: StatusCode::GONE,
        ..Page::new(
            "This link has expired",
            branding,
            format!(
                "<p>For your security, a connect link works for a short time and in one browser \
                 only. This one has expired, or it was already opened in another browser.</p>\
                 <p><strong>Ask for a new link</strong>: go back to {name} and start connecting \
                 again.</p>"
            ),
        )
    })
}

/// Too many requests: the organization's budget, or this session's attempts, are spent.
pub fn too_many(branding: Option<&Branding>) -> Response {
    let mut response = render(Page {
        status: StatusCode::TOO_MANY_REQUESTS,
        ..Page::new(
            "Too many attempts",
            branding,
            "<div class=\"alert\" role=\"alert\">Too many attempts in a short time. Nothing was \
             changed. Wait a minute, then <a href=\"/connect\">reload the page</a> and try again.\
             </div>"
                .to_owned(),
        )
    });
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    response
}

/// A failure of ours, logged; the page says so without details.
pub fn internal(err: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %err, "connect page failed");
    render(Page {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        ..Page::new(
            "Something went wrong",
            None,
            "<p>Something went wrong on our side. Reload this page in a minute; if it keeps \
             happening, ask for a new link.</p>"
                .to_owned(),
        )
    })
}

/// A page that sends the browser on to `/connect{query}` by itself, same-site.
pub fn bounce(query: &str, cookies: Vec<String>, title: &str) -> Response {
    let target = format!("/connect{query}");
    let body = format!(
        "<p><a class=\"button\" href=\"{}\">Continue</a></p>",
        esc(&target)
    );
    render(Page {
        cookies,
        refresh: Some((0, target)),
        ..Page::new(title, None, body)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_text_takes_the_colour_that_contrasts_more() {
        assert_eq!(text_on(DEFAULT_COLOR), "#ffffff");
        assert_eq!(text_on("#0a7d5a"), "#ffffff");
        assert_eq!(text_on("#ffd400"), "#000000");
        assert_eq!(text_on("#ffffff"), "#000000");
        assert_eq!(text_on("#000000"), "#ffffff");
    }

    #[test]
    fn only_a_valid_colour_reaches_the_style_block() {
        let with = |c: &str| Branding {
            color: Some(c.to_owned()),
            ..Branding::default()
        };
        assert_eq!(accent(None), DEFAULT_COLOR);
        assert_eq!(accent(Some(&Branding::default())), DEFAULT_COLOR);
        assert_eq!(accent(Some(&with("#0a7d5a"))), "#0a7d5a");
        for bad in [
            "red",
            "#0a7d5a;}body{display:none",
            "#12345",
            "#1234567",
            "#gggggg",
            "",
        ] {
            assert_eq!(accent(Some(&with(bad))), DEFAULT_COLOR, "{bad}");
        }
    }

    #[test]
    fn a_links_token_is_never_logged() {
        let token = "ab".repeat(32);
        assert_eq!(
            crate::connect::loggable_path(&format!("/connect/{token}")),
            "/connect/{token}"
        );
        assert_eq!(
            crate::connect::loggable_path("/connect/choose"),
            "/connect/choose"
        );
        assert_eq!(crate::connect::loggable_path("/connect"), "/connect");
        assert_eq!(
            crate::connect::loggable_path("/v2/integrations/connections"),
            "/v2/integrations/connections"
        );
    }

    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;"
        );
    }
}
