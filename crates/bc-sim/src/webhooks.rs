//! Webhook subscriptions: validation handshake, notifications, expiry and renewal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::State;
use crate::api::{Out, Rc};
use crate::entities::*;
use crate::error::ApiError;
use crate::model::Subscription;
use crate::sets::{ctx_url, list, seg, single};
use crate::value::dt_string;
use crate::writes::check_if_match;

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

/// A change to a record.
#[derive(Debug, Clone)]
pub struct Change {
    /// Environment index.
    pub env: usize,
    /// Company id.
    pub company: Uuid,
    /// Entity set.
    pub set: &'static str,
    /// Record id.
    pub id: Uuid,
    /// `created` / `updated` / `deleted`.
    pub kind: &'static str,
    /// When (ms).
    pub at: i64,
}

impl Change {
    /// New change.
    pub fn new(
        env: usize,
        company: Uuid,
        set: &'static str,
        id: Uuid,
        kind: &'static str,
        at: i64,
    ) -> Self {
        Change {
            env,
            company,
            set,
            id,
            kind,
            at,
        }
    }
}

/// A failed delivery waiting for its next attempt.
type Retry = (String, Vec<Value>, u32, i64);

/// Pending notifications and the HTTP client that delivers them.
#[derive(Debug)]
pub struct Hooks {
    pending: Mutex<Vec<Change>>,
    first: Mutex<Option<(Instant, i64)>>,
    /// (url, notifications, attempts so far, next attempt at simulated ms).
    retry: Mutex<Vec<Retry>>,
    client: reqwest::Client,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            pending: Mutex::new(Vec::new()),
            first: Mutex::new(None),
            retry: Mutex::new(Vec::new()),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }
}

/// Parse `…api/v2.0/companies({id})/{set}` into (company, set).
pub fn parse_resource(r: &str) -> Option<(Uuid, String)> {
    let i = r.find("api/v2.0/")?;
    let mut parts = r[i + 9..].split('/');
    let (c, id) = seg(parts.next()?);
    if c != "companies" {
        return None;
    }
    let set = parts.next()?.split('?').next()?.to_string();
    if parts.next().is_some() {
        return None;
    }
    Some((Uuid::parse_str(id?).ok()?, set))
}

impl Hooks {
    /// Record a change.
    pub fn push(&self, c: Change) {
        let at = c.at;
        self.pending.lock().expect("hooks").push(c);
        self.first
            .lock()
            .expect("hooks")
            .get_or_insert_with(|| (Instant::now(), at));
    }

    /// Whether the batching delay has passed (real or simulated time) or a retry is due.
    pub fn due(&self, delay: Duration, now: i64) -> bool {
        self.first
            .lock()
            .expect("hooks")
            .is_some_and(|(t, at)| t.elapsed() >= delay || now - at >= delay.as_millis() as i64)
            || self.retry.lock().expect("hooks").iter().any(|r| r.3 <= now)
    }

    /// Deliver everything pending now. Returns the number of notifications delivered.
    pub async fn flush(&self, state: &State) -> usize {
        let changes: Vec<Change> = std::mem::take(&mut *self.pending.lock().expect("hooks"));
        *self.first.lock().expect("hooks") = None;
        let now = state.clock.now_ms();
        let mut by_url: HashMap<String, Vec<Value>> = HashMap::new();
        {
            let mut w = state.world.write().expect("world");
            for env in w.envs.iter_mut() {
                env.subscriptions.retain(|_, s| s.expires > now);
            }
            let mut per_sub: HashMap<String, (String, Vec<Value>, Vec<i64>)> = HashMap::new();
            for c in &changes {
                let Some(env) = w.envs.get(c.env) else {
                    continue;
                };
                for s in env.subscriptions.values() {
                    if parse_resource(&s.resource) != Some((c.company, c.set.to_string())) {
                        continue;
                    }
                    let e = per_sub.entry(s.id.to_string()).or_insert_with(|| {
                        (s.notification_url.to_string(), Vec::new(), Vec::new())
                    });
                    e.1.push(json!({
                        "subscriptionId": s.id, "clientState": s.client_state,
                        "expirationDateTime": dt_string(s.expires),
                        "resource": format!("{}({})", s.resource, c.id),
                        "changeType": c.kind,
                        "lastModifiedDateTime": dt_string(c.at),
                    }));
                    e.2.push(c.at);
                }
            }
            for (sid, (url, mut items, ats)) in per_sub {
                if items.len() > 1000 {
                    let s = w
                        .envs
                        .iter()
                        .find_map(|e| e.subscriptions.get(&sid))
                        .cloned();
                    if let Some(s) = s {
                        let first = ats.iter().min().copied().unwrap_or(now) - 50;
                        items = vec![json!({
                            "subscriptionId": s.id, "clientState": s.client_state,
                            "expirationDateTime": dt_string(s.expires),
                            "resource": format!("{}?$filter=lastModifiedDateTime%20gt%20{}", s.resource, dt_string(first)),
                            "changeType": "collection",
                            "lastModifiedDateTime": dt_string(now),
                        })];
                    }
                }
                by_url.entry(url).or_default().extend(items);
            }
        }
        let mut batches: Vec<(String, Vec<Value>, u32)> =
            by_url.into_iter().map(|(u, v)| (u, v, 0)).collect();
        {
            let mut retry = self.retry.lock().expect("hooks");
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *retry)
                .into_iter()
                .partition(|r| r.3 <= now);
            *retry = later;
            batches.extend(due.into_iter().map(|(u, v, a, _)| (u, v, a)));
        }
        let mut delivered = 0;
        for (url, items, attempts) in batches {
            let id = Uuid::new_v4().to_string();
            let r = self
                .client
                .post(&url)
                .header("clientRequestId", &id)
                .header("x-ms-correlation-id", &id)
                .json(&json!({ "value": items }))
                .send()
                .await;
            let status = r.as_ref().map(|r| r.status().as_u16()).unwrap_or(503);
            if (200..300).contains(&status) {
                delivered += items.len();
            } else if matches!(status, 408 | 429) || status >= 500 {
                // BC: at most 5 attempts; delays 1, 1, 1, 10, 100 minutes.
                if attempts + 1 < 5 {
                    let delay_min = [1, 1, 1, 10, 100][attempts as usize];
                    self.retry.lock().expect("hooks").push((
                        url,
                        items,
                        attempts + 1,
                        now + delay_min * 60_000,
                    ));
                }
            } else {
                // Any other answer deletes the subscriptions behind this URL.
                let mut w = state.world.write().expect("world");
                for env in w.envs.iter_mut() {
                    env.subscriptions.retain(|_, s| *s.notification_url != *url);
                }
            }
        }
        delivered
    }

    /// The validation handshake: POST `notificationUrl?validationToken=…`, expect the token back.
    pub async fn handshake(&self, url: &str) -> Result<(), ApiError> {
        let token = Uuid::new_v4().to_string();
        let mut u = url::Url::parse(url).map_err(|_| {
            ApiError::new(
                400,
                "BadRequest",
                format!("The notification URL '{url}' is not valid."),
            )
        })?;
        u.query_pairs_mut().append_pair("validationToken", &token);
        let fail = || {
            ApiError::new(
                400,
                "BadRequest",
                "The subscription could not be created because the notification URL did not return the validation token.",
            )
        };
        let r = self.client.post(u).send().await.map_err(|_| fail())?;
        if r.status() != reqwest::StatusCode::OK {
            return Err(fail());
        }
        let body = r.text().await.map_err(|_| fail())?;
        if body.trim().trim_matches('"') != token {
            return Err(fail());
        }
        Ok(())
    }
}

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
                    return Err(crate::sets::company_not_found(&cid.to_string()));
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
