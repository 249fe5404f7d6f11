//! The webhook `subscriptions` API: create (after the validation handshake), read, renew, delete.
//! Recording changes and delivering notifications is in `hooks`.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::entities::*;
use crate::error::ApiError;
use crate::hooks::parse_resource;
use crate::model::Subscription;
use crate::respond::{ctx_url, list, seg, single};
use crate::routed::{Out, Rc};
use crate::state::State;
use crate::write_body::check_if_match;

/// Subscription lifetime: 3 days.
pub const LIFETIME_MS: i64 = 3 * 24 * 3600 * 1000;
/// Entity sets that support webhooks (of those we serve).
pub const SUPPORTED: &[&str] = &[
    "customers",
    "salesInvoices",
    "salesCreditMemos",
    "customerPaymentJournals",
    "journals",
    "dimensions",
];

/// Whether the API path is `subscriptions`.
pub fn is_subscription_route(segs: &[String]) -> bool {
    segs.len() == 2 && segs[0] == "v2.0" && seg(&segs[1]).0 == "subscriptions"
}

fn body(rc: &Rc) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(&rc.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::new(
            400,
            "BadRequest",
            "The request body must be a JSON object.",
        )),
    }
}

/// `/api/v2.0/subscriptions[('id')]`.
pub async fn route(state: Arc<State>, rc: Rc) -> Result<Out, ApiError> {
    let key = seg(&rc.segs[1]).1.map(|s| s.to_string());
    let now = state.clock.now_ms();
    let url = ctx_url(&rc, true, "subscriptions");
    match (rc.method.clone(), key) {
        (Method::GET, None) => {
            let mut w = state.world.write().expect("world");
            let env = &mut w.envs[rc.env];
            env.subscriptions.retain(|_, s| s.expires > now);
            let rows: Vec<(u64, &Subscription)> = env
                .subscriptions
                .values()
                .enumerate()
                .map(|(i, s)| (i as u64, s))
                .collect();
            let rows2 = rows.clone();
            list(
                &rc,
                url,
                SUBSCRIPTION,
                "subscriptions",
                &[],
                rows.into_iter(),
                move |k| Box::new(rows2.clone().into_iter().skip(k as usize + 1)),
                |s| s.ver,
                &Ctx::new(&NO_COMPANY),
                &|_, _, _, _| Ok(()),
            )
        }
        (Method::GET, Some(id)) => {
            let w = state.world.read().expect("world");
            let s = w.envs[rc.env]
                .subscriptions
                .get(&id)
                .filter(|s| s.expires > now)
                .ok_or_else(|| ApiError::not_found("subscriptions", &id))?;
            single(
                &rc,
                format!("{url}/$entity"),
                SUBSCRIPTION,
                "subscriptions",
                &[],
                s,
                s.ver,
                &Ctx::new(&NO_COMPANY),
                &|_, _, _, _| Ok(()),
            )
        }
        (Method::POST, None) => {
            let m = body(&rc)?;
            let nurl = m
                .get("notificationUrl")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            let resource = m
                .get("resource")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            let client_state = m
                .get("clientState")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            if nurl.is_empty() || resource.is_empty() {
                return Err(ApiError::new(
                    400,
                    "BadRequest_RequiredParamNotProvided",
                    "Field 'notificationUrl' and 'resource' must not be blank.",
                ));
            }
            if client_state.len() > 2048 {
                return Err(ApiError::new(
                    400,
                    "Application_StringExceededLength",
                    "The length of the clientState must be less than or equal to 2048 characters.",
                ));
            }
            let (cid, set) = parse_resource(&resource).ok_or_else(|| {
                ApiError::new(
                    400,
                    "BadRequest",
                    format!("The resource '{resource}' is not valid."),
                )
            })?;
            if !SUPPORTED.contains(&set.as_str()) {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!(
                        "The resource '{resource}' is not supported for webhook subscriptions."
                    ),
                ));
            }
            {
                let w = state.world.read().expect("world");
                let env = &w.envs[rc.env];
                if env.companies.get(&cid).is_none() {
                    return Err(crate::respond::company_not_found(&cid.to_string()));
                }
                if env.subscriptions.len() >= 200 {
                    return Err(ApiError::new(
                        400,
                        "BadRequest",
                        "The maximum number of subscriptions (200) has been reached.",
                    ));
                }
            }
            state.hooks.handshake(&nurl).await?;
            let id = Uuid::new_v4().simple().to_string();
            let mut w = state.world.write().expect("world");
            let ver = w.next_ver();
            let s = Subscription {
                id: id.clone().into(),
                ver,
                notification_url: nurl.into(),
                resource: resource.into(),
                client_state: client_state.into(),
                user_id: rc.user,
                expires: now + LIFETIME_MS,
                created: now,
                modified: now,
            };
            w.envs[rc.env].subscriptions.insert(id.clone(), s);
            let s = &w.envs[rc.env].subscriptions[&id];
            let mut o = single(
                &rc,
                format!("{url}/$entity"),
                SUBSCRIPTION,
                "subscriptions",
                &[],
                s,
                s.ver,
                &Ctx::new(&NO_COMPANY),
                &|_, _, _, _| Ok(()),
            )?;
            o.status = StatusCode::CREATED;
            Ok(o)
        }
        (Method::PATCH, Some(id)) => {
            let (cur, m) = {
                let w = state.world.read().expect("world");
                let s = w.envs[rc.env]
                    .subscriptions
                    .get(&id)
                    .filter(|s| s.expires > now)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found("subscriptions", &id))?;
                (s, body(&rc)?)
            };
            check_if_match(&rc, cur.ver)?;
            let nurl = m
                .get("notificationUrl")
                .and_then(|v| v.as_str())
                .map(|s| s.to_string())
                .unwrap_or_else(|| cur.notification_url.to_string());
            state.hooks.handshake(&nurl).await?;
            let mut w = state.world.write().expect("world");
            let ver = w.next_ver();
            let s = w.envs[rc.env]
                .subscriptions
                .get_mut(&id)
                .ok_or_else(|| ApiError::not_found("subscriptions", &id))?;
            s.notification_url = nurl.into();
            if let Some(cs) = m.get("clientState").and_then(|v| v.as_str()) {
                s.client_state = cs.into();
            }
            s.expires = now + LIFETIME_MS;
            s.modified = now;
            s.ver = ver;
            let s = &w.envs[rc.env].subscriptions[&id];
            single(
                &rc,
                format!("{url}/$entity"),
                SUBSCRIPTION,
                "subscriptions",
                &[],
                s,
                s.ver,
                &Ctx::new(&NO_COMPANY),
                &|_, _, _, _| Ok(()),
            )
        }
        (Method::DELETE, Some(id)) => {
            let mut w = state.world.write().expect("world");
            w.envs[rc.env]
                .subscriptions
                .remove(&id)
                .ok_or_else(|| ApiError::not_found("subscriptions", &id))?;
            Ok(Out::no_content())
        }
        (m, _) => Err(ApiError::new(
            405,
            "BadRequest_MethodNotAllowed",
            format!("'{m}' requests for 'subscriptions' are not allowed."),
        )),
    }
}
