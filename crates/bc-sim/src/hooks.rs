//! Webhook notifications: the changes recorded by writes, their batched delivery with retries,
//! and the validation handshake. The subscription API itself is in `webhooks`.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::ApiError;
use crate::respond::seg;
use crate::store::World;
use crate::value::dt_string;

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
    pub async fn flush(&self, world: &RwLock<World>, now: i64) -> usize {
        let changes: Vec<Change> = std::mem::take(&mut *self.pending.lock().expect("hooks"));
        *self.first.lock().expect("hooks") = None;
        let mut by_url: HashMap<String, Vec<Value>> = HashMap::new();
        {
            let mut w = world.write().expect("world");
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
                let mut w = world.write().expect("world");
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
