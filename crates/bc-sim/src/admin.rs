//! Admin API under `/_sim/…` (not part of BC's surface): records, clock, counters, faults.

use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::{FaultConfig, LimitsConfig};
use crate::hooks::Change;
use crate::state::State;
use crate::value::parse_dec;

fn err(status: u16, msg: impl Into<String>) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        Json(json!({"error": msg.into()})),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    Json(v).into_response()
}

/// Handle `/_sim/{rest}`.
pub async fn handle(state: Arc<State>, rest: String, req: Request) -> Response {
    let method = req.method().clone();
    let bytes = axum::body::to_bytes(req.into_body(), 16 << 20)
        .await
        .unwrap_or_default();
    let body: Value = if bytes.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&bytes).unwrap_or(json!({}))
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let now = state.clock.now_ms();
    match (method.clone(), segs.as_slice()) {
        (Method::GET, ["info"]) => ok(state.info()),
        (Method::GET, ["requests"]) => ok(json!(state.counts.lock().expect("counts").clone())),
        (Method::DELETE, ["requests"]) => {
            state.counts.lock().expect("counts").clear();
            ok(json!({}))
        }
        (Method::GET, ["clock"]) => ok(json!({"now": crate::value::dt_string(now)})),
        (Method::POST, ["clock", "advance"]) => {
            let secs = body["seconds"].as_f64().unwrap_or(0.0);
            state.clock.advance((secs * 1000.0) as i64);
            ok(json!({"now": crate::value::dt_string(state.clock.now_ms())}))
        }
        (Method::GET, ["faults"]) => ok(json!(state.faults.lock().expect("faults").cfg.clone())),
        (Method::PUT, ["faults"]) => match serde_json::from_value::<FaultConfig>(body) {
            Ok(f) => {
                state.faults.lock().expect("faults").cfg = f.clone();
                ok(json!(f))
            }
            Err(e) => err(400, e.to_string()),
        },
        (Method::GET, ["limits"]) => ok(json!(state.limits.cfg.lock().expect("limits").clone())),
        (Method::PUT, ["limits"]) => match serde_json::from_value::<LimitsConfig>(body) {
            Ok(l) => {
                state.set_limits(l.clone());
                ok(json!(l))
            }
            Err(e) => err(400, e.to_string()),
        },
        (Method::GET, ["limits", "stats"]) => ok(json!(state.limits.stats())),
        (Method::POST, ["pause"]) => {
            state.gate.send_replace(true);
            ok(json!({"paused": true}))
        }
        (Method::POST, ["resume"]) => {
            state.gate.send_replace(false);
            ok(json!({"paused": false}))
        }
        (Method::POST, ["tenants", t, "consent", action]) => {
            let Ok(t) = Uuid::parse_str(t) else {
                return err(400, "bad tenant id");
            };
            let mut id = state.identity.lock().expect("identity");
            match *action {
                "revoke" => id.revoke_consent(t, now),
                "grant" => id.grant_consent(t, now),
                _ => return err(404, "unknown action"),
            }
            ok(json!({}))
        }
        (Method::POST, ["tokens", "revoke"]) => {
            state
                .identity
                .lock()
                .expect("identity")
                .revoke_all_tokens(now);
            ok(json!({}))
        }
        (Method::POST, ["environments", t, env, action]) => {
            let tenant = if *t == "onprem" {
                Uuid::nil()
            } else {
                Uuid::parse_str(t).unwrap_or_default()
            };
            let mut w = state.world.write().expect("world");
            let found = w.env_indices(tenant, env);
            if found.is_empty() {
                return err(404, "no such environment");
            }
            for i in &found {
                w.envs[*i].removed = *action == "remove";
            }
            ok(json!({"removed": *action == "remove"}))
        }
        (Method::POST, ["webhooks", "flush"]) => {
            ok(json!({"delivered": state.hooks.flush(&state.world, state.clock.now_ms()).await}))
        }
        (_, ["companies", cid, tail @ ..]) => {
            let Ok(cid) = Uuid::parse_str(cid) else {
                return err(400, "bad company id");
            };
            match records(&state, &method, cid, tail, &body, now) {
                Ok(v) => ok(v),
                Err((s, m)) => err(s, m),
            }
        }
        _ => err(404, format!("unknown admin route {method} /_sim/{rest}")),
    }
}

type R = Result<Value, (u16, String)>;

fn str_of(b: &Value, k: &str) -> Option<Box<str>> {
    b.get(k).and_then(|v| v.as_str()).map(|s| s.into())
}

fn dec_of(b: &Value, k: &str) -> Option<i64> {
    b.get(k)
        .and_then(|v| parse_dec(v.to_string().trim_matches('"')))
}

fn records(state: &State, method: &Method, cid: Uuid, tail: &[&str], b: &Value, now: i64) -> R {
    let mut w = state.world.write().expect("world");
    let ver = w.next_ver();
    let (ei, _) = w
        .find_company(&cid)
        .ok_or((404, "no such company".to_string()))?;
    let env = &mut w.envs[ei];
    if tail.is_empty() && *method == Method::DELETE {
        env.companies.remove(&cid);
        return Ok(json!({}));
    }
    let co = env
        .companies
        .get_mut(&cid)
        .ok_or((404, "no such company".to_string()))?;
    let mut changes = Vec::new();
    let out = match (method.clone(), tail) {
        (Method::PUT, ["extension"]) => {
            co.extension = b["installed"].as_bool().unwrap_or(true);
            json!({"installed": co.extension})
        }
        (Method::PUT, ["localCurrency"]) => {
            let code = str_of(b, "code")
                .filter(|c| !c.trim().is_empty())
                .ok_or((400, "a non-blank \"code\" is required".to_string()))?;
            co.lcy = code.trim().into();
            json!({"code": co.lcy})
        }
        (Method::PUT, ["allowedPostingDates"]) => {
            let date = |k: &str| -> Result<Option<chrono::NaiveDate>, (u16, String)> {
                match b.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => v
                        .as_str()
                        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                        .map(Some)
                        .ok_or((400, format!("\"{k}\" must be a date (YYYY-MM-DD) or null"))),
                }
            };
            co.allow_posting_from = date("from")?;
            co.allow_posting_to = date("to")?;
            json!({"from": co.allow_posting_from, "to": co.allow_posting_to})
        }
        (Method::POST, ["customers"]) => {
            let id = crate::admin_docs::create_customer(co, b, now, ver);
            changes.push(Change::new(ei, cid, "customers", id, "created", now));
            json!({"id": id})
        }
        (Method::PATCH, ["customers", id]) => {
            let id = Uuid::parse_str(id).map_err(|_| (400, "bad id".to_string()))?;
            let c = co
                .customers
                .get_mut(&id)
                .ok_or((404, "no such customer".to_string()))?;
            let mut p = (*c.party).clone();
            if let Some(v) = str_of(b, "displayName") {
                p.name = v;
            }
            if let Some(v) = str_of(b, "email") {
                p.email = v;
            }
            if let Some(v) = str_of(b, "phoneNumber") {
                p.phone = v;
            }
            if let Some(v) = str_of(b, "addressLine1") {
                p.addr1 = v;
            }
            if let Some(v) = str_of(b, "city") {
                p.city = v;
            }
            c.party = Arc::new(p);
            if let Some(v) = b.get("blocked").and_then(|v| v.as_str()) {
                c.blocked = ["_x0020_", "Ship", "Invoice", "All"]
                    .iter()
                    .position(|x| *x == v)
                    .unwrap_or(0) as u8;
            }
            if let Some(v) = dec_of(b, "creditLimit") {
                c.credit_limit = v;
            }
            c.modified = now;
            c.ver = ver;
            changes.push(Change::new(ei, cid, "customers", id, "updated", now));
            json!({"id": id})
        }
        (Method::POST, ["salesInvoices"]) => {
            let id = crate::admin_docs::create_invoice(co, b, now, ver)?;
            changes.push(Change::new(ei, cid, "salesInvoices", id, "created", now));
            json!({"id": id})
        }
        (Method::POST, ["salesCreditMemos"]) => {
            let (id, paid) = crate::admin_docs::create_credit_memo(co, b, now, ver)?;
            changes.push(Change::new(ei, cid, "salesCreditMemos", id, "created", now));
            if let Some(inv) = paid {
                changes.push(Change::new(ei, cid, "salesInvoices", inv, "updated", now));
            }
            json!({"id": id})
        }
        (Method::PATCH, ["salesInvoices", id]) => {
            let id = Uuid::parse_str(id).map_err(|_| (400, "bad id".to_string()))?;
            if crate::admin_docs::patch_invoice(co, id, b, now, ver)? {
                changes.push(Change::new(ei, cid, "salesInvoices", id, "updated", now));
            }
            json!({"id": id})
        }
        (Method::POST, ["salesInvoices", id, "payments"]) => {
            let id = Uuid::parse_str(id).map_err(|_| (400, "bad id".to_string()))?;
            let spec: crate::records::PaymentSpec =
                serde_json::from_value(b.clone()).map_err(|e| (400, e.to_string()))?;
            let posted = crate::apply::apply_to_invoice(co, id, &spec, now, ver, ei, &mut changes)?;
            json!(posted)
        }
        (Method::PATCH, ["raw", set, id]) => {
            let id = Uuid::parse_str(id).map_err(|_| (400, "bad id".to_string()))?;
            let patch: crate::records::RawPatch =
                serde_json::from_value(b.clone()).map_err(|e| (400, e.to_string()))?;
            if let Some(hook) = crate::raw::apply(co, set, id, &patch, now, ver)? {
                changes.push(Change::new(ei, cid, hook, id, "updated", now));
            }
            json!({"id": id})
        }
        (Method::POST, ["raw", set]) => {
            let (id, hook) = crate::admin_docs::insert_raw(co, set, b, now, ver)?;
            changes.push(Change::new(ei, cid, hook, id, "created", now));
            json!({"id": id})
        }
        (Method::DELETE, [set, id]) => {
            let id = Uuid::parse_str(id).map_err(|_| (400, "bad id".to_string()))?;
            let (found, hook): (bool, Option<&'static str>) = match *set {
                "customers" => (co.customers.remove(&id).is_some(), Some("customers")),
                "salesInvoices" => (co.invoices.remove(&id).is_some(), Some("salesInvoices")),
                "salesCreditMemos" => (
                    co.credit_memos.remove(&id).is_some(),
                    Some("salesCreditMemos"),
                ),
                "customerContacts" => (co.contacts.remove(&id).is_some(), None),
                "customerPayments" => (co.payments.remove(&id).is_some(), None),
                "customerLedgerEntries" => (co.ledger.remove(&id).is_some(), None),
                _ => return Err((404, format!("unknown set {set}"))),
            };
            if !found {
                return Err((404, "no such record".to_string()));
            }
            if let Some(h) = hook {
                changes.push(Change::new(ei, cid, h, id, "deleted", now));
            }
            json!({})
        }
        _ => {
            return Err((
                404,
                format!("unknown admin record route {method} {}", tail.join("/")),
            ));
        }
    };
    drop(w);
    for c in changes {
        state.hooks.push(c);
    }
    Ok(out)
}
