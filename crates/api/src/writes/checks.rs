//! A payment checked against our copy of the ERP's data before anything reaches the ERP: the
//! customer and every invoice exist and belong together, currencies agree, each amount is payable.

use std::collections::HashMap;
use std::str::FromStr;

use ledgerlink_domain::WriteStatus;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Tenant;
use crate::error::{ApiError, FieldError};
use crate::writes::payment::PaymentIn;

/// A field's problem, for [`ApiError::Validation`].
fn problem(loc: &[Value], kind: &str, msg: impl Into<String>) -> FieldError {
    FieldError {
        loc: loc.to_vec(),
        msg: msg.into(),
        kind: kind.into(),
    }
}

/// What the connection's writes that have not ended yet apply to each invoice: our copy's
/// `amount_due` does not know about them, BC soon will.
async fn in_flight(
    state: &AppState,
    tenant: &Tenant,
    connection_id: &str,
) -> Result<HashMap<String, Decimal>, ApiError> {
    let mut out: HashMap<String, Decimal> = HashMap::new();
    for status in [
        WriteStatus::Queued,
        WriteStatus::Running,
        WriteStatus::PendingRetry,
    ] {
        let writes = state
            .store
            .list_writes(&tenant.org_id, connection_id, Some(status), None, 1000)
            .await?;
        for w in writes {
            for a in w.request["applied_to"].as_array().into_iter().flatten() {
                if let (Some(id), Some(amount)) = (
                    a["invoice_remote_id"].as_str(),
                    a["amount"].as_str().and_then(|v| Decimal::from_str(v).ok()),
                ) {
                    *out.entry(id.to_owned()).or_default() += amount;
                }
            }
        }
    }
    Ok(out)
}

fn money(data: &Value, field: &str) -> Option<Decimal> {
    match data.get(field)? {
        Value::String(s) => Decimal::from_str(s).ok(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
        _ => None,
    }
}

/// Checks the payment against our copy of the ERP's data; returns the currency it is in.
pub(crate) async fn check_against_copy(
    state: &AppState,
    tenant: &Tenant,
    conn: &ledgerlink_domain::Connection,
    p: &PaymentIn,
) -> Result<String, ApiError> {
    let connection_id = conn.id.as_str();
    // A blank currency code in BC is the company's local currency (when setup could read it).
    let local_currency = conn
        .discovery
        .as_ref()
        .and_then(|d| d.local_currency.clone())
        .unwrap_or_default();
    let store = &state.store;
    let customer_loc = [json!("body"), json!("customer_remote_id")];
    let mut errors = Vec::new();
    let customers = store
        .current_records(
            &tenant.org_id,
            connection_id,
            "customers",
            &[p.customer_remote_id.as_str()],
        )
        .await?;
    match customers.get(&p.customer_remote_id) {
        None => errors.push(problem(
            &customer_loc,
            "not_found",
            "No customer with this remote_id in the connection's synced data",
        )),
        Some(c)
            if c.get("blocked")
                .and_then(Value::as_str)
                .is_some_and(|b| b != "none") =>
        {
            errors.push(problem(
                &customer_loc,
                "blocked",
                "The customer is blocked in the ERP: payments cannot be posted for it",
            ))
        }
        Some(_) => {}
    }
    let ids: Vec<&str> = p
        .applied_to
        .iter()
        .map(|a| a.invoice_remote_id.as_str())
        .collect();
    let invoices: HashMap<String, Value> = store
        .current_records(&tenant.org_id, connection_id, "invoices", &ids)
        .await?;
    let in_flight = in_flight(state, tenant, connection_id).await?;
    let mut currency = p.currency.clone();
    for (i, a) in p.applied_to.iter().enumerate() {
        let at = |name: &str| [json!("body"), json!("applied_to"), json!(i), json!(name)];
        let Some(inv) = invoices.get(&a.invoice_remote_id) else {
            errors.push(problem(
                &at("invoice_remote_id"),
                "not_found",
                "No invoice with this remote_id in the connection's synced data",
            ));
            continue;
        };
        if inv.get("customer_remote_id").and_then(Value::as_str)
            != Some(p.customer_remote_id.as_str())
        {
            errors.push(problem(
                &at("invoice_remote_id"),
                "customer_mismatch",
                "The invoice belongs to another customer",
            ));
        }
        let inv_currency = inv
            .get("currency")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .unwrap_or(&local_currency);
        match &currency {
            Some(c) if !inv_currency.is_empty() && c != inv_currency => errors.push(problem(
                &at("invoice_remote_id"),
                "currency_mismatch",
                format!("The invoice is in {inv_currency}, the payment in {c}"),
            )),
            None if !inv_currency.is_empty() => currency = Some(inv_currency.to_owned()),
            _ => {}
        }
        let status = inv
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        if status != "open" {
            errors.push(problem(
                &at("invoice_remote_id"),
                "not_payable",
                format!("The invoice is {status}: only open (posted, unpaid) invoices can be paid"),
            ));
            continue;
        }
        let pending = in_flight
            .get(&a.invoice_remote_id)
            .copied()
            .unwrap_or_default();
        match money(inv, "amount_due") {
            Some(due) if a.amount > due - pending => errors.push(problem(
                &at("amount"),
                "less_than_equal",
                if pending > Decimal::ZERO {
                    format!(
                        "More than the invoice's amount due ({due}) less what payments not yet \
                         posted apply to it ({pending})"
                    )
                } else {
                    format!("More than the invoice's amount due ({due})")
                },
            )),
            None => errors.push(problem(
                &at("amount"),
                "not_payable",
                "The invoice has no amount due (a draft, or not synced yet)",
            )),
            Some(_) => {}
        }
    }
    let applied: Decimal = p.applied_to.iter().map(|a| a.amount).sum();
    if applied != p.amount {
        errors.push(problem(
            &[json!("body"), json!("applied_to")],
            "sum_mismatch",
            format!(
                "The applied amounts add up to {applied}, the payment is {}: an unapplied \
                 remainder is not accepted",
                p.amount
            ),
        ));
    }
    if errors.is_empty() {
        Ok(currency.unwrap_or_default())
    } else {
        Err(ApiError::Validation(errors))
    }
}
