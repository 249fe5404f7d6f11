//! The body of `POST …/records/payments`: a customer payment applied to invoices, read field by
//! field with every problem reported at its location.

use std::collections::HashSet;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::body::{Fields, FromBody};

/// Most invoices one payment may be applied to.
const MAX_APPLIED: usize = 100;

/// A customer payment to record in the ERP, applied to one or more of the customer's open invoices.
#[derive(Debug, Clone, PartialEq, ToSchema)]
pub struct PaymentIn {
    /// The paying customer (`remote_id` of a record of `customers`).
    pub customer_remote_id: String,
    /// The amount received: an exact decimal, as a string (`"1250.00"`) or a number, more than
    /// zero, at most 2 decimals.
    #[schema(value_type = String, example = "1250.00")]
    pub amount: Decimal,
    /// ISO 4217 code of the payment's currency; it must be the invoices' (default: theirs).
    #[schema(example = "USD")]
    pub currency: Option<String>,
    /// When the money was received (`YYYY-MM-DD`); the posting date in the ERP.
    #[schema(value_type = String, format = Date, example = "2026-11-28")]
    pub payment_date: NaiveDate,
    /// The platform's reference (e.g. the bank transaction id), at most 35 characters; Business
    /// Central keeps it as the external document number.
    pub reference: Option<String>,
    /// A description for the journal line, at most 100 characters.
    pub description: Option<String>,
    /// The invoices paid and how much of each (1 to 100; each invoice once). The amounts add up to
    /// `amount`: an unapplied remainder is not accepted.
    pub applied_to: Vec<AppliedIn>,
}

/// How much of one invoice a payment pays.
#[derive(Debug, Clone, PartialEq, ToSchema)]
pub struct AppliedIn {
    /// The invoice (`remote_id` of a record of `invoices`).
    pub invoice_remote_id: String,
    /// The amount applied: more than zero and at most the invoice's `amount_due` as last synced,
    /// at most 2 decimals; a string or a number.
    #[schema(value_type = String, example = "1000.00")]
    pub amount: Decimal,
}

impl FromBody for PaymentIn {
    const FIELDS: &'static [&'static str] = &[
        "customer_remote_id",
        "amount",
        "currency",
        "payment_date",
        "reference",
        "description",
        "applied_to",
    ];

    fn read(f: &mut Fields) -> Option<Self> {
        let customer = f.required_string("customer_remote_id");
        if let Some(c) = &customer
            && (c.trim().is_empty() || c.len() > 100)
        {
            f.error(
                "customer_remote_id",
                "string_too_long",
                "Must be 1 to 100 characters",
            );
        }
        let amount = decimal(
            f,
            vec![json!("body"), json!("amount")],
            f.raw("amount").cloned(),
        );
        let currency = f.string("currency").value();
        if let Some(c) = &currency
            && !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            f.error(
                "currency",
                "string_pattern_mismatch",
                "An ISO 4217 code: three capital letters",
            );
        }
        let date = f.required_string("payment_date");
        let payment_date = date.and_then(|d| match NaiveDate::parse_from_str(&d, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                f.error(
                    "payment_date",
                    "date_from_datetime_parsing",
                    "A date as YYYY-MM-DD",
                );
                None
            }
        });
        let reference = bounded(f, "reference", 35);
        let description = bounded(f, "description", 100);
        let applied_to = applied(f);
        Some(PaymentIn {
            customer_remote_id: customer?.trim().to_owned(),
            amount: amount?,
            currency,
            payment_date: payment_date?,
            reference,
            description,
            applied_to: applied_to?,
        })
    }
}

/// An optional string of at most `max` characters.
fn bounded(f: &mut Fields, name: &str, max: usize) -> Option<String> {
    let value = f.string(name).value()?;
    if value.chars().count() > max {
        f.error(name, "string_too_long", format!("At most {max} characters"));
    }
    Some(value)
}

/// An exact decimal amount (string or number) more than zero with at most 2 decimals.
fn decimal(f: &mut Fields, loc: Vec<Value>, value: Option<Value>) -> Option<Decimal> {
    let text = match value {
        None | Some(Value::Null) => {
            f.error_at(loc, "missing", "Field required");
            return None;
        }
        Some(Value::String(s)) => s.trim().to_owned(),
        // Numbers keep their digits (arbitrary precision): 0.1 is exactly 0.1.
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            f.error_at(
                loc,
                "decimal_type",
                "A decimal number, as a string or a number",
            );
            return None;
        }
    };
    let parsed = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok();
    match parsed.map(|d| d.normalize()) {
        None => {
            f.error_at(
                loc,
                "decimal_parsing",
                "A decimal number, as a string or a number",
            );
            None
        }
        Some(d) if d <= Decimal::ZERO => {
            f.error_at(loc, "greater_than", "Must be more than 0");
            None
        }
        Some(d) if d.scale() > 2 => {
            f.error_at(loc, "decimal_max_places", "At most 2 decimal places");
            None
        }
        Some(d) if d > Decimal::from(1_000_000_000_000i64) => {
            f.error_at(loc, "less_than_equal", "At most 1,000,000,000,000");
            None
        }
        Some(d) => Some(d),
    }
}

fn applied(f: &mut Fields) -> Option<Vec<AppliedIn>> {
    let at = |i: usize, name: &str| vec![json!("body"), json!("applied_to"), json!(i), json!(name)];
    let items = match f.raw("applied_to").cloned() {
        None | Some(Value::Null) => {
            f.error("applied_to", "missing", "Field required");
            return None;
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            f.error("applied_to", "list_type", "Input should be a valid list");
            return None;
        }
    };
    if items.is_empty() || items.len() > MAX_APPLIED {
        f.error(
            "applied_to",
            "too_short",
            format!("1 to {MAX_APPLIED} invoices"),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    let mut ok = true;
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(mut obj) = item else {
            f.error_at(
                vec![json!("body"), json!("applied_to"), json!(i)],
                "model_type",
                "An object with invoice_remote_id and amount",
            );
            ok = false;
            continue;
        };
        for unknown in obj
            .keys()
            .filter(|k| *k != "invoice_remote_id" && *k != "amount")
        {
            f.error_at(
                at(i, unknown),
                "extra_forbidden",
                "Extra inputs are not permitted",
            );
            ok = false;
        }
        let invoice = match obj.remove("invoice_remote_id") {
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 100 => {
                Some(s.trim().to_owned())
            }
            _ => {
                f.error_at(
                    at(i, "invoice_remote_id"),
                    "string_type",
                    "The invoice's remote_id: a string of 1 to 100 characters",
                );
                None
            }
        };
        if let Some(id) = &invoice
            && !seen.insert(id.clone())
        {
            f.error_at(
                at(i, "invoice_remote_id"),
                "duplicate",
                "Each invoice at most once per payment",
            );
            ok = false;
        }
        let amount = decimal(f, at(i, "amount"), obj.remove("amount"));
        match (invoice, amount) {
            (Some(invoice_remote_id), Some(amount)) => out.push(AppliedIn {
                invoice_remote_id,
                amount,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

impl PaymentIn {
    /// The request as accepted (amounts as exact strings), kept on the write and hashed for its
    /// idempotency key.
    pub(crate) fn normalized(&self, currency: &str) -> Value {
        json!({
            "customer_remote_id": self.customer_remote_id,
            "amount": self.amount.to_string(),
            "currency": currency,
            "payment_date": self.payment_date.to_string(),
            "reference": self.reference,
            "description": self.description,
            "applied_to": self.applied_to.iter().map(|a| json!({
                "invoice_remote_id": a.invoice_remote_id,
                "amount": a.amount.to_string(),
            })).collect::<Vec<_>>(),
        })
    }
}
