//! `customers`: POST, PATCH and DELETE (with `If-Match`), emitting webhook changes.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::entities::*;
use crate::error::ApiError;
use crate::expand;
use crate::model::*;
use crate::respond::{ctx_url, single};
use crate::routed::{Out, Rc};
use crate::store::Company;
use crate::write_body::{body_obj, check_if_match, dec, gid, s};

const BLOCKED: [&str; 4] = ["_x0020_", "Ship", "Invoice", "All"];

fn too_long(v: &str, max: usize) -> Result<(), ApiError> {
    if v.chars().count() > max {
        return Err(ApiError::new(
            400,
            "Application_StringExceededLength",
            format!(
                "The length of the string is {}, but it must be less than or equal to {max} characters. Value: {v}",
                v.chars().count()
            ),
        ));
    }
    Ok(())
}

fn apply(co: &Company, c: &mut Customer, m: &Map<String, Value>) -> Result<(), ApiError> {
    let mut p = (*c.party).clone();
    for (k, max) in [
        ("displayName", 100usize),
        ("addressLine1", 100),
        ("addressLine2", 50),
        ("city", 30),
        ("state", 30),
        ("country", 10),
        ("postalCode", 20),
        ("phoneNumber", 30),
        ("email", 80),
    ] {
        if let Some(v) = s(m, k) {
            too_long(&v, max)?;
            let b: Box<str> = v.into();
            match k {
                "displayName" => p.name = b,
                "addressLine1" => p.addr1 = b,
                "addressLine2" => p.addr2 = b,
                "city" => p.city = b,
                "state" => p.state = b,
                "country" => p.country = b,
                "postalCode" => p.post_code = b,
                "phoneNumber" => p.phone = b,
                _ => p.email = b,
            }
        }
    }
    c.party = Arc::new(p);
    if let Some(v) = s(m, "website") {
        too_long(&v, 80)?;
        c.website = v.into();
    }
    if let Some(v) = s(m, "salespersonCode") {
        too_long(&v, 20)?;
        c.salesperson = v.into();
    }
    if let Some(v) = s(m, "taxRegistrationNumber") {
        c.tax_reg_no = v.into();
    }
    if let Some(v) = dec(m, "creditLimit")? {
        c.credit_limit = v;
    }
    if let Some(v) = m.get("taxLiable").and_then(|v| v.as_bool()) {
        c.tax_liable = v;
    }
    if let Some(v) = s(m, "type") {
        c.kind = match v.as_str() {
            "Company" => 0,
            "Person" => 1,
            _ => {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!(
                        "The value '{v}' is not valid for enum type 'Microsoft.NAV.contactType'."
                    ),
                ));
            }
        };
    }
    if let Some(v) = s(m, "blocked") {
        c.blocked = BLOCKED
            .iter()
            .position(|b| *b == v || b.replace("_x0020_", " ") == v)
            .ok_or_else(|| ApiError::new(400, "BadRequest", format!("The value '{v}' is not valid for enum type 'Microsoft.NAV.customerBlocked'.")))?
            as u8;
    }
    if let Some(v) = s(m, "currencyCode") {
        c.currency_code = if v == *co.lcy { "".into() } else { v.into() };
    }
    for (k, slot) in [
        ("paymentTermsId", &mut c.payment_terms_id),
        ("shipmentMethodId", &mut c.shipment_method_id),
        ("paymentMethodId", &mut c.payment_method_id),
    ] {
        if let Some(v) = gid(m, k)? {
            *slot = v;
        }
    }
    Ok(())
}

fn fields() -> Vec<&'static str> {
    CUSTOMER.iter().map(|f| f.name).collect()
}

fn answer(rc: &Rc, co: &Company, id: Uuid, status: StatusCode) -> Result<Out, ApiError> {
    let c = co
        .customers
        .get(&id)
        .ok_or_else(|| ApiError::not_found("customer", &id.to_string()))?;
    let url = format!(
        "{}/$entity",
        ctx_url(rc, true, &format!("companies({})/customers", co.id))
    );
    let fin = customer_fin(co, rc.today);
    let ctx = Ctx {
        fin: Some(&fin),
        ..Ctx::new(co)
    };
    let mut o = single(
        rc,
        url,
        CUSTOMER,
        "customer",
        expand::CUSTOMER_NAVS,
        c,
        c.ver,
        &ctx,
        &expand::customer_exp,
    )?;
    o.status = status;
    Ok(o)
}

/// POST customers.
pub fn create(rc: &Rc, co: &mut Company, now: i64, ver: u64) -> Result<(Out, Uuid), ApiError> {
    let m = body_obj(rc, &fields(), "customer")?;
    let number = match s(&m, "number").filter(|n| !n.is_empty()) {
        Some(n) => {
            too_long(&n, 20)?;
            if co.customers.rows.values().any(|c| *c.number == *n) {
                return Err(ApiError::new(
                    400,
                    "Internal_EntityWithSameKeyExists",
                    format!(
                        "The record already exists. Identification fields and values: No.='{n}'"
                    ),
                ));
            }
            n
        }
        None => format!("C{:05}", co.customers.len() + 1),
    };
    let mut c = Customer {
        id: Uuid::new_v4(),
        ver,
        number: number.into(),
        party: Arc::new(Party::default()),
        kind: 0,
        website: "".into(),
        salesperson: "".into(),
        credit_limit: 0,
        tax_liable: false,
        tax_reg_no: "".into(),
        currency_code: "".into(),
        currency_id: Uuid::nil(),
        payment_terms_id: Uuid::nil(),
        shipment_method_id: Uuid::nil(),
        payment_method_id: Uuid::nil(),
        blocked: 0,
        modified: now,
    };
    apply(co, &mut c, &m)?;
    let id = c.id;
    co.customers.insert(id, c);
    let mut o = answer(rc, co, id, StatusCode::CREATED)?;
    o.headers.push((
        "Location",
        format!(
            "{}{}/api/v2.0/companies({})/customers({id})",
            rc.base, rc.prefix, co.id
        ),
    ));
    Ok((o, id))
}

/// PATCH customers({id}).
pub fn patch(rc: &Rc, co: &mut Company, id: Uuid, now: i64, ver: u64) -> Result<Out, ApiError> {
    let cur = co
        .customers
        .get(&id)
        .ok_or_else(|| ApiError::not_found("customer", &id.to_string()))?;
    check_if_match(rc, cur.ver)?;
    let m = body_obj(rc, &fields(), "customer")?;
    let mut c = cur.clone();
    apply(co, &mut c, &m)?;
    c.ver = ver;
    c.modified = now;
    *co.customers.get_mut(&id).expect("exists") = c;
    answer(rc, co, id, StatusCode::OK)
}

/// DELETE customers({id}).
pub fn delete(rc: &Rc, co: &mut Company, id: Uuid) -> Result<Out, ApiError> {
    let cur = co
        .customers
        .get(&id)
        .ok_or_else(|| ApiError::not_found("customer", &id.to_string()))?;
    check_if_match(rc, cur.ver)?;
    if co
        .ledger
        .rows
        .values()
        .any(|e| e.customer_id == id && e.open)
    {
        return Err(ApiError::new(
            400,
            "Application_DialogException",
            format!(
                "You cannot delete Customer {} because there is at least one outstanding Sales Invoice for this customer.",
                cur.number
            ),
        ));
    }
    co.customers.remove(&id);
    Ok(Out::no_content())
}
