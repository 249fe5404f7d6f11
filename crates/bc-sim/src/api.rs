//! The HTTP front door: path-shape routing, authentication, limits, faults.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::error::ApiError;
use crate::identity::Identity;
use crate::limits::Fault;
use crate::odata::Query;
use crate::routed::{Out, Rc};
use crate::state::State;

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Entry point for every request.
pub async fn handle(state: Arc<State>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/_sim/") {
        return crate::admin::handle(state, rest.to_string(), req).await;
    }
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(pct_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(|x| x.as_str()).collect();
    match s.as_slice() {
        [tenant, "oauth2", "v2.0", "authorize"] => {
            state.count("GET /oauth2/v2.0/authorize");
            return crate::auth_http::authorize(&state, tenant, req).await;
        }
        [tenant, "oauth2", "v2.0", "token"] => {
            state.count("POST /oauth2/v2.0/token");
            return crate::auth_http::token(&state, tenant, req).await;
        }
        [tenant, "v2.0", ".well-known", "openid-configuration"] => {
            state.count("GET /v2.0/.well-known/openid-configuration");
            return crate::auth_http::openid_configuration(&state, tenant);
        }
        [tenant, "v2.0", "adminconsent"] => {
            state.count("GET /v2.0/adminconsent");
            return crate::auth_http::admin_consent(&state, tenant, &req);
        }
        ["environments", "v1.2"] => {
            state.count("GET /environments/v1.2");
            return crate::auth_http::environments(&state, req)
                .await
                .unwrap_or_else(|e| e.into_response());
        }
        _ => {}
    }
    let result = api(state.clone(), &segs, req).await;
    match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Resolve the path shape, authenticate, apply limits and faults, then route.
async fn api(state: Arc<State>, segs: &[String], req: Request) -> Result<Response, ApiError> {
    let s: Vec<&str> = segs.iter().map(|x| x.as_str()).collect();
    if let Some(p) = s.iter().position(|x| *x == "api") {
        state.count(&format!(
            "{} {}",
            req.method(),
            endpoint_name(&segs[p + 1..])
        ));
    } else {
        state.count(&format!("{} {}", req.method(), req.uri().path()));
    }
    let mut onprem_tenant = None;
    // Cloud: /v2.0/{tenant}/{env}/api/... or /v2.0/{env}/api/...
    let (env_idx, prefix, rest, principal, user) = if s.first() == Some(&"v2.0") && s.len() >= 3 {
        let claims = crate::auth_http::bearer(&state, req.headers())?;
        let (tenant, env_name, rest_at, prefix) = if s.get(2) == Some(&"api") {
            (claims.tid, s[1], 2, format!("/v2.0/{}", s[1]))
        } else {
            let t = Identity::resolve_tenant(&state.cfg, s[1]).filter(|t| *t == claims.tid);
            let Some(t) = t else {
                return Err(ApiError::unauthorized());
            };
            (t, s[2], 3, format!("/v2.0/{}/{}", s[1], s[2]))
        };
        if s.get(rest_at) != Some(&"api") {
            return Err(ApiError::no_segment(s.get(rest_at).copied().unwrap_or("")));
        }
        let idx = {
            let w = state.world.read().expect("world");
            w.env_index(tenant, env_name)
                .filter(|i| !w.envs[*i].removed)
        };
        let Some(idx) = idx else {
            return Err(ApiError::new(
                404,
                "NoEnvironment",
                format!("The environment '{env_name}' does not exist for tenant '{tenant}'."),
            ));
        };
        (
            idx,
            prefix,
            rest_at + 1,
            format!("{}/{}", claims.tid, claims.oid),
            claims.oid,
        )
    } else if let (Some(_), Some(_)) = (&state.cfg.onprem, s.first()) {
        let r = crate::onprem::resolve(&state, &s, &req)?;
        onprem_tenant = r.tenant;
        (r.env, r.prefix, 2, r.principal, r.user)
    } else {
        return Err(ApiError::new(
            404,
            "BadRequest_NotFound",
            format!(
                "No HTTP resource was found that matches the request URI '{}'.",
                req.uri()
            ),
        ));
    };
    let api_segs: Vec<String> = segs[rest..].to_vec();
    let _slot = state.limits.admit(&principal, state.clock.now_ms()).await?;
    state.wait_gate().await;
    let mut fault = state.faults.lock().expect("faults").roll();
    match targeted(&state, req.method().as_str(), req.uri().path()) {
        Some(crate::config::TargetFault::Unavailable) => fault = Fault::Status5xx(503),
        Some(crate::config::TargetFault::DropAfter) => fault = Fault::Drop,
        Some(crate::config::TargetFault::Hang) => fault = Fault::Slow(3_600_000),
        None => {}
    }
    match fault {
        Fault::Status5xx(code) => {
            let e = ApiError::new(
                code,
                if code == 503 {
                    "Internal_ServiceUnavailable"
                } else {
                    "Internal_ServerError"
                },
                "Sorry, we encountered an unexpected error. Please try again later.",
            );
            return Err(if code == 502 || code == 503 {
                e.header("Retry-After", "5")
            } else {
                e
            });
        }
        Fault::Throttle => {
            return Err(ApiError::new(
                429,
                "Application_TooManyRequests",
                "Too many requests reached.",
            ));
        }
        Fault::Slow(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        _ => {}
    }
    fault_scope(
        &state,
        env_idx,
        &segs[rest..],
        req.uri().query().unwrap_or(""),
    )?;
    if state.faults.lock().expect("faults").cfg.forbidden {
        return Err(ApiError::new(
            403,
            "Authorization_InsufficientPermissions",
            "Sorry, the current permissions prevented the action. (TableData 18 Customer Read: Base Application)",
        ));
    }
    let method = req.method().clone();
    let headers = req.headers().clone();
    let raw_path = req.uri().path().to_string();
    let q = Query::parse(req.uri().query().unwrap_or(""))?;
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .map_err(|_| ApiError::new(413, "BadRequest", "Request Entity Too Large"))?;
    let cap = state.limits.cfg.lock().expect("limits").max_page_size;
    let page = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| {
            v.split(',')
                .map(|x| x.trim().to_string())
                .collect::<Vec<_>>()
        })
        .find_map(|p| {
            p.strip_prefix("odata.maxpagesize=")
                .and_then(|n| n.trim().parse::<usize>().ok())
        })
        .map(|n| n.clamp(1, cap));
    let rc = Rc {
        env: env_idx,
        prefix,
        base: state.base_url.clone(),
        q,
        page: page.unwrap_or(cap),
        method,
        headers,
        body,
        user,
        segs: api_segs,
        path: raw_path,
        today: state.clock.today(),
        world_ver: 0,
        onprem_tenant,
    };
    let answer = if crate::webhooks::is_subscription_route(&rc.segs) {
        crate::stream::Answer::Full(crate::webhooks::route(state.clone(), rc).await?)
    } else {
        let st = state.clone();
        crate::stream::run(move || crate::sets::route(&st, rc)).await?
    };
    let mut resp = match answer {
        crate::stream::Answer::Full(out) => finish(out, page),
        crate::stream::Answer::Stream(body) => {
            let mut r = finish(Out::json(Vec::new()), page);
            *r.body_mut() = body;
            r
        }
    };
    match fault {
        Fault::Drop => resp = mangle(resp, 0).await,
        Fault::Truncate => resp = mangle(resp, 2).await,
        _ => {}
    }
    Ok(resp)
}

/// The targeted fault this request hits, if any (used up one time).
fn targeted(state: &State, method: &str, path: &str) -> Option<crate::config::TargetFault> {
    let mut faults = state.faults.lock().expect("faults");
    let hit = faults.cfg.targeted.iter_mut().find(|t| {
        t.times > 0 && t.method.eq_ignore_ascii_case(method) && path.contains(&t.path_contains)
    })?;
    hit.times -= 1;
    Some(hit.fault)
}

/// Faults scoped to an environment, a company or the extension of a company.
fn fault_scope(
    state: &State,
    env: usize,
    api_segs: &[String],
    query: &str,
) -> Result<(), ApiError> {
    let f = state.faults.lock().expect("faults").cfg.clone();
    if !f.unknown_properties.is_empty() {
        let selected = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "$select")
            .flat_map(|(_, v)| {
                v.split(',')
                    .map(|p| p.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .find(|p| f.unknown_properties.iter().any(|u| u == p));
        if let Some(p) = selected {
            return Err(ApiError::new(
                400,
                "BadRequest_NotFound",
                format!("Could not find a property named '{p}' on type 'Microsoft.NAV.entity'."),
            ));
        }
    }
    if f.removed_environments.is_empty()
        && f.removed_companies.is_empty()
        && f.extension_absent.is_empty()
        && f.company_information_absent.is_empty()
    {
        return Ok(());
    }
    let name = state.world.read().expect("world").envs[env].name.clone();
    if f.removed_environments
        .iter()
        .any(|e| e.eq_ignore_ascii_case(&name))
    {
        return Err(ApiError::new(
            404,
            "NoEnvironment",
            format!("The environment '{name}' does not exist."),
        ));
    }
    let company = api_segs
        .iter()
        .find_map(|s| {
            crate::respond::seg(s)
                .1
                .filter(|_| s.starts_with("companies("))
                .map(|k| k.to_string())
        })
        .or_else(|| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "company")
                .map(|(_, v)| v.into_owned())
        })
        .and_then(|c| Uuid::parse_str(&c).ok());
    if let Some(c) = company {
        if f.removed_companies.contains(&c) {
            return Err(crate::respond::company_not_found(&c.to_string()));
        }
        if f.extension_absent.contains(&c)
            && api_segs.first().map(|s| s.as_str()) == Some("ledgerlink")
        {
            return Err(ApiError::no_segment(
                api_segs
                    .last()
                    .map(|s| crate::respond::seg(s).0)
                    .unwrap_or(""),
            ));
        }
        if f.company_information_absent.contains(&c)
            && api_segs
                .iter()
                .any(|s| crate::respond::seg(s).0 == "companyInformation")
        {
            return Err(ApiError::no_segment("companyInformation"));
        }
    }
    Ok(())
}

fn endpoint_name(segs: &[String]) -> String {
    let parts: Vec<String> = segs
        .iter()
        .map(|s| match s.find('(') {
            Some(i) => s[..i].to_string(),
            None => s.clone(),
        })
        .collect();
    format!("/api/{}", parts.join("/"))
}

fn finish(out: Out, page: Option<usize>) -> Response {
    let mut b = Response::builder().status(out.status);
    if !out.ctype.is_empty() {
        b = b.header(header::CONTENT_TYPE, out.ctype);
    }
    b = b.header("OData-Version", "4.0");
    if let Some(p) = page {
        b = b.header("Preference-Applied", format!("odata.maxpagesize={p}"));
    }
    for (k, v) in out.headers {
        b = b.header(k, v);
    }
    b.body(Body::from(out.body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Replace the body with one that fails: `div` 0 = before any byte, 2 = after half.
async fn mangle(resp: Response, div: usize) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let keep = bytes.len().checked_div(div).unwrap_or(0);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, bytes.len().into());
    let head = bytes.slice(..keep);
    // Send the head, give the connection time to flush it, then fail the body.
    let stream = futures::stream::unfold(if keep == 0 { 1u8 } else { 0u8 }, move |st| {
        let head = head.clone();
        async move {
            match st {
                0 => Some((Ok::<Bytes, std::io::Error>(head), 1)),
                1 => {
                    if keep > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "fault: connection dropped",
                        )),
                        2,
                    ))
                }
                _ => None,
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(futures::StreamExt::fuse(stream)))
}
