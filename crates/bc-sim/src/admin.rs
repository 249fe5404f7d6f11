//! Admin API under `/_sim/…` (not part of BC's surface): records, clock, counters, faults.

use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::State;
use crate::config::{FaultConfig, LimitsConfig};
use crate::model::*;
use crate::value::{empty_date, parse_dec};
use crate::webhooks::Change;

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
            let Some(i) = w.env_index(tenant, env) else {
                return err(404, "no such environment");
            };
            w.envs[i].removed = *action == "remove";
            ok(json!({"removed": w.envs[i].removed}))
        }
        (Method::POST, ["webhooks", "flush"]) => {
            ok(json!({"delivered": state.hooks.flush(&state).await}))
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

fn date_of(b: &Value, k: &str) -> Result<Option<chrono::NaiveDate>, (u16, String)> {
    match b.get(k).and_then(|v| v.as_str()) {
        None => Ok(None),
        Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| (400, format!("bad date {s}"))),
    }
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
        (Method::POST, ["customers"]) => {
            let id = Uuid::new_v4();
            let n = co.customers.len();
            // Stored as BC stores it: blank for the local currency.
            let currency = str_of(b, "currencyCode")
                .filter(|c| **c != *co.lcy)
                .unwrap_or_default();
            let party = Party {
                name: str_of(b, "displayName").unwrap_or_else(|| "New Customer".into()),
                email: str_of(b, "email").unwrap_or_default(),
                phone: str_of(b, "phoneNumber").unwrap_or_default(),
                addr1: str_of(b, "addressLine1").unwrap_or_default(),
                city: str_of(b, "city").unwrap_or_default(),
                country: str_of(b, "country").unwrap_or_else(|| "US".into()),
                ..Default::default()
            };
            let c = Customer {
                id,
                ver,
                number: str_of(b, "number").unwrap_or_else(|| format!("C{:06}", n + 1).into()),
                party: Arc::new(party),
                kind: 0,
                website: "".into(),
                salesperson: "".into(),
                credit_limit: dec_of(b, "creditLimit").unwrap_or(0),
                tax_liable: false,
                tax_reg_no: "".into(),
                currency_id: crate::datagen::currency_id(&currency),
                currency_code: currency,
                payment_terms_id: Uuid::nil(),
                shipment_method_id: Uuid::nil(),
                payment_method_id: Uuid::nil(),
                blocked: 0,
                modified: now,
            };
            co.customers.insert(id, c);
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
            let cust_id = b
                .get("customerId")
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok());
            let cust = match cust_id {
                Some(id) => co.customers.get(&id),
                None => co.customers.rows.values().next(),
            }
            .ok_or((400, "no such customer".to_string()))?
            .clone();
            let id = Uuid::new_v4();
            let date = date_of(b, "invoiceDate")?.unwrap_or_else(|| {
                chrono::DateTime::from_timestamp_millis(now)
                    .unwrap_or_default()
                    .date_naive()
            });
            let mut lines = Vec::new();
            let specs = b
                .get("lines")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_else(|| vec![json!({"quantity": 1, "unitPrice": 100})]);
            for (i, l) in specs.iter().enumerate() {
                lines.push(Line {
                    id: Uuid::new_v4(),
                    document_id: id,
                    sequence: 10000 * (i as u32 + 1),
                    line_type: 2,
                    item: (i % co.items.len().max(1)) as u32,
                    quantity: dec_of(l, "quantity").unwrap_or(100),
                    unit_price: dec_of(l, "unitPrice").unwrap_or(10_000),
                    discount_pct: dec_of(l, "discountPercent").unwrap_or(0),
                    tax_pct: dec_of(l, "taxPercent").unwrap_or(0),
                    shipment_date: date,
                    dim_set: 0,
                });
            }
            let status = match b.get("status").and_then(|v| v.as_str()) {
                Some(s) => INVOICE_STATUS
                    .iter()
                    .position(|x| *x == s)
                    .ok_or((400, format!("bad status {s}")))? as u8,
                None => INV_OPEN,
            };
            let no = co.next_invoice_no;
            co.next_invoice_no += 1;
            let doc = SalesDoc {
                id,
                ver,
                number: str_of(b, "number").unwrap_or_else(|| format!("{no}").into()),
                external_doc_no: str_of(b, "externalDocumentNumber").unwrap_or_default(),
                doc_date: date,
                posting_date: date,
                due_date: date_of(b, "dueDate")?.unwrap_or(date + chrono::Days::new(30)),
                promised_pay_date: empty_date(),
                your_reference: "".into(),
                customer_id: cust.id,
                customer_number: cust.number.clone(),
                party: cust.party.clone(),
                currency_code: cust.currency_code.clone(),
                currency_id: cust.currency_id,
                dim1: "".into(),
                dim2: "".into(),
                payment_terms_id: cust.payment_terms_id,
                shipment_method_id: Uuid::nil(),
                salesperson: cust.salesperson.clone(),
                status,
                paid: 0,
                applies_to: None,
                modified: now,
                dim_set: 0,
                lines,
            };
            if status != INV_DRAFT {
                let total = doc.totals().incl;
                crate::datagen::add_invoice_cle(co, &doc, total, ver);
            }
            co.invoices.insert(id, doc);
            changes.push(Change::new(ei, cid, "salesInvoices", id, "created", now));
            json!({"id": id})
        }
        (Method::POST, ["salesCreditMemos"]) => {
            let id = crate::admin_docs::create_credit_memo(co, b, now, ver)?;
            changes.push(Change::new(ei, cid, "salesCreditMemos", id, "created", now));
            json!({"id": id})
        }
        (Method::PATCH, ["salesInvoices", id]) => {
            let id = Uuid::parse_str(id).map_err(|_| (400, "bad id".to_string()))?;
            let d = co
                .invoices
                .get_mut(&id)
                .ok_or((404, "no such invoice".to_string()))?;
            if let Some(v) = str_of(b, "externalDocumentNumber") {
                d.external_doc_no = v;
            }
            if let Some(v) = date_of(b, "dueDate")? {
                d.due_date = v;
            }
            if let Some(s) = b.get("status").and_then(|v| v.as_str()) {
                d.status = INVOICE_STATUS
                    .iter()
                    .position(|x| *x == s)
                    .ok_or((400, format!("bad status {s}")))? as u8;
            }
            if let Some(p) = dec_of(b, "paidAmount") {
                d.paid = p;
            }
            d.modified = now;
            d.ver = ver;
            changes.push(Change::new(ei, cid, "salesInvoices", id, "updated", now));
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
