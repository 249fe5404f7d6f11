//! Payment write-back in Business Central (reference README §3.8): customer payment journals
//! (`customerPaymentJournals`, batches of the cash receipt template), their unposted lines
//! (`customerPayments`, negative amounts applied to invoices), posting a journal, and finding a posted
//! payment again in `generalLedgerEntries` by its document number.

use std::str::FromStr;

use chrono::NaiveDate;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use url::Url;

use super::BusinessCentral;
use super::batch::{MAX_OPERATIONS, Operation};
use super::models::Api;
use super::odata::{Query, append, check_guid};
use crate::connector::Session;
use crate::error::ConnectorError;
use crate::payment_write::{
    JournalInfo, MAX_DESCRIPTION_CHARS, MAX_DOCUMENT_NUMBER_CHARS,
    MAX_EXTERNAL_DOCUMENT_NUMBER_CHARS, MAX_JOURNAL_CODE_CHARS, MAX_JOURNAL_NAME_CHARS,
    NewPaymentLine, PaymentLineInfo, PostedPayment,
};

/// Page size for journals, lines and ledger entries.
const PAGE_SIZE: u32 = 1000;
/// Pages followed before a collection counts as unreasonably large.
const MAX_PAGES: usize = 50;
/// BC's "no value" GUID.
const NIL_GUID: &str = "00000000-0000-0000-0000-000000000000";

impl BusinessCentral {
    /// `GET companies({id})/customerPaymentJournals`.
    pub(super) async fn list_payment_journals(
        &self,
        session: &Session,
    ) -> Result<Vec<JournalInfo>, ConnectorError> {
        let url = self.company_path(session, &["customerPaymentJournals"])?;
        let records = self
            .get_all(session, url, Some(PAGE_SIZE), MAX_PAGES)
            .await?;
        records.iter().map(parse_journal).collect()
    }

    /// `POST companies({id})/customerPaymentJournals`.
    pub(super) async fn add_payment_journal(
        &self,
        session: &Session,
        code: &str,
        display_name: &str,
        balancing_account_id: Option<&str>,
    ) -> Result<JournalInfo, ConnectorError> {
        let body = journal_body(code, display_name, balancing_account_id)?;
        let url = self.company_path(session, &["customerPaymentJournals"])?;
        let answer = self
            .send(session, Method::POST, url, Some(&body), &[])
            .await?
            .write_success()?;
        parse_journal(&answer.json()?)
    }

    /// `GET companies({id})/customerPaymentJournals({journal})/customerPayments`.
    pub(super) async fn list_payment_lines(
        &self,
        session: &Session,
        journal_id: &str,
    ) -> Result<Vec<PaymentLineInfo>, ConnectorError> {
        let url = self.lines_url(session, journal_id)?;
        let records = self
            .get_all(session, url, Some(PAGE_SIZE), MAX_PAGES)
            .await?;
        records.iter().map(parse_line).collect()
    }

    /// Checks every line, then creates them: one plain POST for a single line, transactional
    /// `$batch`es of up to [`MAX_OPERATIONS`] otherwise.
    pub(super) async fn add_payment_lines(
        &self,
        session: &Session,
        journal_id: &str,
        lines: &[NewPaymentLine],
    ) -> Result<Vec<String>, ConnectorError> {
        let bodies = lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                line_body(line).map_err(|why| {
                    ConnectorError::invalid(format!("payment line {}: {why}", i + 1))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let url = self.lines_url(session, journal_id)?;
        match bodies.as_slice() {
            [] => Ok(Vec::new()),
            [body] => {
                let answer = self
                    .send(session, Method::POST, url, Some(body), &[])
                    .await?
                    .write_success()?;
                Ok(vec![created_id(&answer.json()?)?])
            }
            _ => self.add_lines_in_batches(session, &url, bodies).await,
        }
    }

    async fn add_lines_in_batches(
        &self,
        session: &Session,
        lines_url: &Url,
        bodies: Vec<Value>,
    ) -> Result<Vec<String>, ConnectorError> {
        let relative =
            relative_to_api_root(&self.api_root(&session.target, Api::Standard)?, lines_url)?;
        let mut ids = Vec::with_capacity(bodies.len());
        for chunk in bodies.chunks(MAX_OPERATIONS) {
            let ops: Vec<Operation> = chunk
                .iter()
                .map(|body| Operation {
                    method: Method::POST,
                    url: relative.clone(),
                    body: body.clone(),
                })
                .collect();
            for created in self.batch(session, &ops).await? {
                ids.push(created_id(&created)?);
            }
        }
        Ok(ids)
    }

    /// `POST companies({id})/journals({journal})/Microsoft.NAV.post` → 204: the `journals` page finds
    /// any Gen. Journal Batch by its id (reference README §3.8 step 5), a cash receipt batch too.
    pub(super) async fn post_journal(
        &self,
        session: &Session,
        journal_id: &str,
    ) -> Result<(), ConnectorError> {
        let journal = format!("journals({})", check_guid(journal_id)?);
        let url = self.company_path(session, &[&journal, "Microsoft.NAV.post"])?;
        self.send(session, Method::POST, url, None, &[])
            .await?
            .write_success()?;
        Ok(())
    }

    /// `DELETE companies({id})/customerPayments({line})` with `If-Match: *` → 204: removes one
    /// unposted payment line (whatever changed it meanwhile).
    pub(super) async fn delete_line(
        &self,
        session: &Session,
        line_id: &str,
    ) -> Result<(), ConnectorError> {
        let line = format!("customerPayments({})", check_guid(line_id)?);
        let url = self.company_path(session, &[&line])?;
        self.send(session, Method::DELETE, url, None, &[("If-Match", "*")])
            .await?
            .write_success()?;
        Ok(())
    }

    /// `DELETE companies({id})/customerPaymentJournals({journal})` with `If-Match: *` → 204: removes
    /// a journal batch with its unposted lines.
    pub(super) async fn delete_journal(
        &self,
        session: &Session,
        journal_id: &str,
    ) -> Result<(), ConnectorError> {
        let journal = format!("customerPaymentJournals({})", check_guid(journal_id)?);
        let url = self.company_path(session, &[&journal])?;
        self.send(session, Method::DELETE, url, None, &[("If-Match", "*")])
            .await?
            .write_success()?;
        Ok(())
    }

    /// `GET companies({id})/generalLedgerEntries?$filter=documentNumber eq '…'`; `None` when BC has no
    /// entry with that document number.
    pub(super) async fn posted_payment(
        &self,
        session: &Session,
        document_number: &str,
    ) -> Result<Option<PostedPayment>, ConnectorError> {
        let number = bc_code(document_number);
        if number.is_empty() || number.chars().count() > MAX_DOCUMENT_NUMBER_CHARS {
            return Err(ConnectorError::invalid(format!(
                "document number `{document_number}` is empty or longer than {MAX_DOCUMENT_NUMBER_CHARS} characters"
            )));
        }
        let mut url = self.company_path(session, &["generalLedgerEntries"])?;
        Query {
            filter: Some(format!("documentNumber eq {}", string_literal(&number))),
            ..Default::default()
        }
        .apply_to(&mut url);
        let entries = self
            .get_all(session, url, Some(PAGE_SIZE), MAX_PAGES)
            .await?;
        posted_from_entries(&number, &entries)
    }

    /// `{company url}/customerPaymentJournals({journal})/customerPayments`.
    fn lines_url(&self, session: &Session, journal_id: &str) -> Result<Url, ConnectorError> {
        let journal = format!("customerPaymentJournals({})", check_guid(journal_id)?);
        self.company_path(session, &[&journal, "customerPayments"])
    }

    /// `{api root}/companies({company})/{segments…}`.
    fn company_path(&self, session: &Session, segments: &[&str]) -> Result<Url, ConnectorError> {
        let (first, rest) = segments
            .split_first()
            .ok_or_else(|| ConnectorError::invalid("no entity set"))?;
        let mut url = self.company_url(&session.target, Api::Standard, first)?;
        append(&mut url, rest)?;
        Ok(url)
    }
}

/// The path of `url` below `root` (`companies(…)/…`), as `$batch` operations name their target.
fn relative_to_api_root(root: &Url, url: &Url) -> Result<String, ConnectorError> {
    let root_path = format!("{}/", root.path().trim_end_matches('/'));
    url.path()
        .strip_prefix(&root_path)
        .map(str::to_owned)
        .ok_or_else(|| ConnectorError::invalid("operation URL outside the API root"))
}

/// The body of a new journal, after checking its parts against BC's field lengths.
fn journal_body(
    code: &str,
    display_name: &str,
    balancing_account_id: Option<&str>,
) -> Result<Value, ConnectorError> {
    let code = bc_code(code);
    if code.is_empty() || code.chars().count() > MAX_JOURNAL_CODE_CHARS {
        return Err(ConnectorError::invalid(format!(
            "journal code `{code}` is empty or longer than {MAX_JOURNAL_CODE_CHARS} characters"
        )));
    }
    if display_name.chars().count() > MAX_JOURNAL_NAME_CHARS {
        return Err(ConnectorError::invalid(format!(
            "journal name is longer than {MAX_JOURNAL_NAME_CHARS} characters"
        )));
    }
    let mut body = json!({"code": code, "displayName": display_name});
    if let Some(account) = balancing_account_id {
        body["balancingAccountId"] = json!(check_guid(account)?);
    }
    Ok(body)
}

/// The body of a new `customerPayment`: BC's negative amount, upper-case codes, a description cut
/// on a character boundary.
fn line_body(line: &NewPaymentLine) -> Result<Value, String> {
    let guid = |id: &str, what: &str| {
        check_guid(id)
            .map(str::to_owned)
            .map_err(|_| format!("{what} `{id}` is not a GUID"))
    };
    if line.amount <= Decimal::ZERO {
        return Err(format!("amount {} is not positive", line.amount));
    }
    let document_number = bc_code(&line.document_number);
    if document_number.is_empty() || document_number.chars().count() > MAX_DOCUMENT_NUMBER_CHARS {
        return Err(format!(
            "document number `{}` is empty or longer than {MAX_DOCUMENT_NUMBER_CHARS} characters",
            line.document_number
        ));
    }
    let external = bc_code(&line.external_document_number);
    if external.chars().count() > MAX_EXTERNAL_DOCUMENT_NUMBER_CHARS {
        return Err(format!(
            "external document number is longer than {MAX_EXTERNAL_DOCUMENT_NUMBER_CHARS} characters"
        ));
    }
    let description: String = line
        .description
        .chars()
        .take(MAX_DESCRIPTION_CHARS)
        .collect();
    Ok(json!({
        "customerId": guid(&line.customer_id, "customer id")?,
        "appliesToInvoiceId": guid(&line.applies_to_invoice_id, "invoice id")?,
        "postingDate": line.posting_date.format("%Y-%m-%d").to_string(),
        "documentNumber": document_number,
        "externalDocumentNumber": external,
        "description": description,
        "amount": decimal_number(-line.amount)?,
    }))
}

/// A decimal as an exact JSON number (serde_json keeps its digits: `arbitrary_precision`).
fn decimal_number(value: Decimal) -> Result<Value, String> {
    serde_json::Number::from_str(&value.to_string())
        .map(Value::Number)
        .map_err(|e| format!("amount {value} cannot be sent: {e}"))
}

/// A value of a BC `Code` field as BC stores it: upper case, without surrounding blanks.
fn bc_code(value: &str) -> String {
    value.trim().to_uppercase()
}

/// An OData string literal, quotes doubled, and percent-encoded for the query string (everything but
/// unreserved characters), so `&`, `#`, `+`, `%` or `'` in a value cannot change the query.
pub(super) fn string_literal(value: &str) -> String {
    let quoted = format!("'{}'", value.replace('\'', "''"));
    let mut out = String::with_capacity(quoted.len());
    for byte in quoted.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'\'') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn text(record: &Value, field: &str) -> String {
    record
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A GUID field; BC's all-zero GUID is "none".
fn guid_field(record: &Value, field: &str) -> Option<String> {
    record
        .get(field)
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && *id != NIL_GUID)
        .map(str::to_owned)
}

/// A decimal field, exactly (a JSON number or a string); missing or null is zero.
fn decimal_field(record: &Value, field: &str) -> Result<Decimal, ConnectorError> {
    let raw = match record.get(field) {
        None | Some(Value::Null) => return Ok(Decimal::ZERO),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    Decimal::from_str(&raw)
        .or_else(|_| Decimal::from_scientific(&raw))
        .map_err(|_| ConnectorError::invalid(format!("`{field}` is not a decimal: {raw}")))
}

/// A date field; BC's empty date (`0001-01-01`) is "none".
fn date_field(record: &Value, field: &str) -> Result<Option<NaiveDate>, ConnectorError> {
    match record.get(field).and_then(Value::as_str) {
        None | Some("") | Some("0001-01-01") => Ok(None),
        Some(raw) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| ConnectorError::invalid(format!("`{field}` is not a date: {raw}"))),
    }
}

fn required_id(record: &Value, what: &str) -> Result<String, ConnectorError> {
    record
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ConnectorError::invalid(format!("{what} without an id")))
}

fn created_id(record: &Value) -> Result<String, ConnectorError> {
    required_id(record, "created payment line")
}

fn parse_journal(record: &Value) -> Result<JournalInfo, ConnectorError> {
    Ok(JournalInfo {
        id: required_id(record, "customerPaymentJournal")?,
        code: text(record, "code"),
        display_name: text(record, "displayName"),
        balancing_account_id: guid_field(record, "balancingAccountId"),
    })
}

fn parse_line(record: &Value) -> Result<PaymentLineInfo, ConnectorError> {
    Ok(PaymentLineInfo {
        id: required_id(record, "customerPayment")?,
        customer_id: guid_field(record, "customerId"),
        applies_to_invoice_id: guid_field(record, "appliesToInvoiceId"),
        document_number: text(record, "documentNumber"),
        external_document_number: text(record, "externalDocumentNumber"),
        description: text(record, "description"),
        amount: -decimal_field(record, "amount")?,
        posting_date: date_field(record, "postingDate")?,
    })
}

/// The posted payment the G/L entries of one document number describe: its entry numbers, the earliest
/// posting date, and the credited amount (what left receivables; a balanced posting debits as much).
fn posted_from_entries(
    number: &str,
    entries: &[Value],
) -> Result<Option<PostedPayment>, ConnectorError> {
    if entries.is_empty() {
        return Ok(None);
    }
    let mut entry_numbers = Vec::with_capacity(entries.len());
    let mut posting_date: Option<NaiveDate> = None;
    let mut amount = Decimal::ZERO;
    for entry in entries {
        let entry_number = entry
            .get("entryNumber")
            .and_then(Value::as_i64)
            .ok_or_else(|| ConnectorError::invalid("generalLedgerEntry without an entryNumber"))?;
        entry_numbers.push(entry_number);
        if let Some(date) = date_field(entry, "postingDate")? {
            posting_date = Some(posting_date.map_or(date, |d| d.min(date)));
        }
        amount += decimal_field(entry, "creditAmount")?;
    }
    let posting_date = posting_date
        .ok_or_else(|| ConnectorError::invalid("generalLedgerEntries without a postingDate"))?;
    entry_numbers.sort_unstable();
    let document_number = entries
        .first()
        .map(|e| text(e, "documentNumber"))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| number.to_owned());
    Ok(Some(PostedPayment {
        document_number,
        entry_numbers,
        posting_date,
        amount,
    }))
}

#[cfg(test)]
#[path = "payments_tests.rs"]
mod tests;
