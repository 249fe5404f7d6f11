//! The payment write job: a customer payment applied to invoices, posted in the ERP exactly once.
//!
//! Every attempt first looks in the ERP for what an earlier one did, by the write's marker (its
//! document number, derived from the write id): a payment already posted completes the write
//! without posting again; lines already created are reused. Each write has a journal batch of its
//! own, so posting never posts lines someone else (or another write) left in a shared journal, and a
//! batch holding lines that are not the write's is never posted.

use std::str::FromStr;

use chrono::NaiveDate;
use ledgerlink_connectors::{
    Connector, ConnectorError, ErrorKind, JournalInfo, NewPaymentLine, Session,
};
use ledgerlink_domain::{Connection, OrgId, Write};
use ledgerlink_store::{Job, WriteEnd};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::engine::Engine;
use crate::error::EngineError;
use crate::jobs::Outcome;

/// The job kind of a payment write.
pub const WRITE_PAYMENT_KIND: &str = "write_payment";

/// Carrying out one payment write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePayment {
    /// The write's organization.
    pub org: OrgId,
    /// The write (`wr_…`).
    pub write_id: String,
    /// This attempt's number (the job's).
    pub attempt: i32,
}

/// The payment as accepted (the write's `request`).
struct Payment {
    customer: String,
    payment_date: NaiveDate,
    reference: Option<String>,
    description: Option<String>,
    applied: Vec<(String, Decimal)>,
}

impl Payment {
    fn from_request(r: &Value) -> Option<Payment> {
        let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
        let applied = r
            .get("applied_to")?
            .as_array()?
            .iter()
            .map(|a| {
                Some((
                    a.get("invoice_remote_id")?.as_str()?.to_owned(),
                    Decimal::from_str(a.get("amount")?.as_str()?).ok()?,
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Payment {
            customer: text("customer_remote_id")?,
            payment_date: NaiveDate::parse_from_str(&text("payment_date")?, "%Y-%m-%d").ok()?,
            reference: text("reference"),
            description: text("description"),
            applied,
        })
    }
}

/// The write's marker: the document number of its lines (at most 20 characters, BC's limit), by
/// which a later attempt finds them and the posted payment.
pub fn marker(write_id: &str) -> String {
    let digest = Sha256::digest(write_id.as_bytes());
    let mut out = String::from("LL");
    for b in digest.iter().take(9) {
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// The write's own journal batch code: `L` and 9 base-32 characters of the write id's hash (BC
/// allows 10), about 45 bits, so writes of one company do not meet.
fn batch_code(write_id: &str) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let digest = Sha256::digest(format!("batch:{write_id}").as_bytes());
    let mut bits: u64 = 0;
    for b in digest.iter().take(8) {
        bits = (bits << 8) | u64::from(*b);
    }
    let mut code = String::from("L");
    for i in 0..9 {
        code.push(char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize]));
    }
    code
}

/// The display name of the batches payment writes create.
const OWN_BATCH_NAME: &str = "ledgerlink payment";

/// Whether a journal batch is one a payment write created (never offered as the connection's
/// payment journal).
pub(crate) fn is_own_batch(journal: &JournalInfo) -> bool {
    journal.display_name == OWN_BATCH_NAME
        && journal.code.len() == 10
        && journal.code.starts_with('L')
}

impl WritePayment {
    /// The payment write a claimed job describes.
    pub fn from_job(job: &Job) -> Option<WritePayment> {
        Some(WritePayment {
            org: job.org_id.clone()?,
            write_id: job.payload.get("write_id")?.as_str()?.to_owned(),
            attempt: job.attempt,
        })
    }

    /// One attempt. The write's own status is kept here; the job's outcome follows it. Every
    /// change to the write is fenced by this attempt's number: an attempt whose job's lease ran out
    /// (another worker took over) can change nothing.
    pub async fn run(self, engine: &Engine) -> Result<Outcome, EngineError> {
        let store = engine.store();
        let Some(write) = store
            .write_started(&self.org, &self.write_id, self.attempt, engine.now())
            .await?
        else {
            // Cancelled, ended, or a later attempt has it: nothing to do.
            return Ok(Outcome::Done);
        };
        let marker = marker(&write.id);
        let mut retry_after = None;
        let end = match self.attempt_write(engine, &write, &marker).await {
            Ok(result) => WriteEnd::Complete { result },
            Err(Fail::Stale) => return Ok(Outcome::Done),
            Err(Fail::Refused(error)) => WriteEnd::Failed { error },
            Err(Fail::Passing(err)) => {
                let last = self.attempt as u32 >= engine.settings().jobs.retry.max_attempts;
                let error = words(&err);
                retry_after = err.retry_after();
                if last {
                    WriteEnd::Failed {
                        error: format!(
                            "Gave up after {} attempts: {error}. Nothing was posted under \
                             document number {marker} when last checked.",
                            self.attempt
                        ),
                    }
                } else {
                    WriteEnd::Retry { error }
                }
            }
            Err(Fail::Engine(e)) => {
                // Our own database failed: show it waiting, not running (best effort).
                let waiting = WriteEnd::Retry {
                    error: "ledgerlink's database failed; trying again".into(),
                };
                let _ = store
                    .finish_write(
                        &self.org,
                        &self.write_id,
                        Some(self.attempt),
                        &waiting,
                        engine.now(),
                    )
                    .await;
                return Err(e);
            }
        };
        if store
            .finish_write(
                &self.org,
                &self.write_id,
                Some(self.attempt),
                &end,
                engine.now(),
            )
            .await?
            .is_none()
        {
            // A later attempt has taken over: its outcome is the write's.
            return Ok(Outcome::Done);
        }
        Ok(match end {
            WriteEnd::Retry { error } => Outcome::Retry { error, retry_after },
            WriteEnd::Complete { .. } => {
                // The invoices, the customer and the ledger entries changed: read them now, not at
                // the next scheduled sync. A connection an earlier attempt found failing has just
                // worked: its health is checked again first, so that it may sync.
                if let Ok(conn) = engine.load(&self.org, &write.connection_id).await
                    && conn.health_status != ledgerlink_domain::HealthStatus::Healthy
                    && let Err(e) = engine.check_health(&self.org, &conn.id).await
                {
                    tracing::info!(error = %e, "could not re-check health after a payment write");
                }
                if let Err(e) = engine
                    .request_sync(&self.org, &write.connection_id, false)
                    .await
                {
                    tracing::info!(error = %e, "could not queue the re-read after a payment write");
                }
                Outcome::Done
            }
            WriteEnd::Failed { .. } => Outcome::Done,
        })
    }

    async fn attempt_write(
        &self,
        engine: &Engine,
        write: &Write,
        marker: &str,
    ) -> Result<Value, Fail> {
        let conn = engine.load(&self.org, &write.connection_id).await?;
        let payment = Payment::from_request(&write.request)
            .ok_or_else(|| Fail::Refused("The accepted request could not be read back".into()))?;
        let total: Decimal = payment.applied.iter().map(|(_, a)| *a).sum();
        let connector = engine.connector_for(&conn.provider_name)?.clone();
        let session = match engine.session(&conn).await {
            Ok(s) => s,
            Err(e) => return Err(fail(engine, &conn, e).await),
        };
        let calls = Calls {
            engine,
            conn: &conn,
            connector: &*connector,
            session: &session,
        };
        // An earlier attempt that reached the ERP may have posted it already (and stopped before
        // recording that). One that did not reach it created nothing: `reached_erp` is recorded,
        // fenced by the attempt number, before anything is created, and read after this attempt
        // was claimed, so a stale attempt can no longer set it.
        if write.reached_erp
            && let Some(posted) = calls.find_posted(marker).await?
        {
            let mut done = confirmed(marker, None, &posted, total)?;
            done["journal_removed"] = json!(calls.remove_batch(&batch_code(&write.id)).await);
            return Ok(done);
        }
        if !engine
            .store()
            .write_reached_erp(&self.org, &write.id, self.attempt, engine.now())
            .await?
        {
            return Err(Fail::Stale);
        }
        let (journal, created, followed) = calls.own_journal(&batch_code(&write.id)).await?;
        // A batch created just now holds nothing yet: no need to ask.
        let lines = if created {
            Vec::new()
        } else {
            calls.lines(&journal.id).await?
        };
        if let Some(foreign) = lines.iter().find(|l| l.document_number != marker) {
            return Err(Fail::Refused(format!(
                "The journal batch {} holds a line that is not this payment's (document number \
                 {:?}); nothing was posted",
                journal.code, foreign.document_number
            )));
        }
        let reused = !created;
        let outcome = self
            .lines_and_post(
                &calls, write, &payment, &journal, lines, marker, total, reused,
            )
            .await;
        match outcome {
            // BC refused the payment: take its lines back out of the write's batch, so that
            // nobody posts by hand what we report as failed, then the batch itself.
            Err(Fail::Refused(error)) => Err(Fail::Refused(
                match calls.remove_lines(&journal.id, marker).await {
                    Ok(n) => {
                        calls.delete_batch(&journal).await;
                        if n == 0 {
                            error
                        } else {
                            format!(
                                "{error} (its {n} journal lines were removed; nothing was posted)"
                            )
                        }
                    }
                    Err(_) => format!(
                        "{error} (its lines are still in journal batch {}: delete them in Business \
                         Central rather than post them)",
                        journal.code
                    ),
                },
            )),
            // Posted: the write's batch is empty now and of no further use.
            Ok(mut done) => {
                done["payment_journal"] = json!(followed);
                done["journal_removed"] = json!(calls.delete_batch(&journal).await);
                Ok(done)
            }
            other => other,
        }
    }

    /// Creates the missing lines, checks the batch holds exactly this payment, posts and confirms.
    #[allow(clippy::too_many_arguments)]
    async fn lines_and_post(
        &self,
        calls: &Calls<'_>,
        write: &Write,
        payment: &Payment,
        journal: &JournalInfo,
        lines: Vec<ledgerlink_connectors::PaymentLineInfo>,
        marker: &str,
        total: Decimal,
        reused: bool,
    ) -> Result<Value, Fail> {
        let missing: Vec<NewPaymentLine> = payment
            .applied
            .iter()
            .filter(|(invoice, _)| {
                !lines
                    .iter()
                    .any(|l| l.applies_to_invoice_id.as_deref() == Some(invoice.as_str()))
            })
            .map(|(invoice, amount)| NewPaymentLine {
                customer_id: payment.customer.clone(),
                applies_to_invoice_id: invoice.clone(),
                amount: *amount,
                posting_date: payment.payment_date,
                document_number: marker.to_owned(),
                external_document_number: payment.reference.clone().unwrap_or_default(),
                description: payment
                    .description
                    .clone()
                    .unwrap_or_else(|| format!("ledgerlink {}", write.id)),
            })
            .collect();
        if !missing.is_empty() {
            calls.create(&journal.id, &missing).await?;
        }
        // Post only the payment as asked: one line per invoice with its amount, nothing else
        // (a request of an attempt that lost its lease may have landed meanwhile).
        let lines = calls.lines(&journal.id).await?;
        let exact = lines.len() == payment.applied.len()
            && payment.applied.iter().all(|(invoice, amount)| {
                lines.iter().any(|l| {
                    l.applies_to_invoice_id.as_deref() == Some(invoice.as_str())
                        && l.amount == *amount
                        && l.document_number == marker
                })
            });
        if !exact {
            return Err(Fail::Passing(ConnectorError::transient(format!(
                "the journal batch {} does not hold exactly this payment's lines yet; not posted",
                journal.code
            ))));
        }
        if reused && let Some(posted) = calls.find_posted(marker).await? {
            // An attempt that overlapped this one (its lease ran out while it still ran) posted
            // it meanwhile.
            return confirmed(marker, Some(journal), &posted, total);
        }
        if let Err(err) = calls.post(&journal.id).await {
            // "Nothing to post", or an answer lost: the posting may have happened all the same.
            if let Some(posted) = calls.find_posted(marker).await? {
                return confirmed(marker, Some(journal), &posted, total);
            }
            return Err(err);
        }
        match calls.find_posted(marker).await? {
            Some(posted) => confirmed(marker, Some(journal), &posted, total),
            // BC set to post through its job queue: posted later; the next attempt finds it.
            None => Err(Fail::Passing(ConnectorError::transient(
                "the ERP accepted the posting but has not posted it yet",
            ))),
        }
    }
}

/// The posted payment, if its amount is the payment's; a different amount is reported loudly.
fn confirmed(
    marker: &str,
    journal: Option<&JournalInfo>,
    posted: &ledgerlink_connectors::PostedPayment,
    total: Decimal,
) -> Result<Value, Fail> {
    if posted.amount != total {
        return Err(Fail::Refused(format!(
            "Business Central posted {} under document number {marker}, not the payment's {total}: \
             check the posted entries",
            posted.amount
        )));
    }
    Ok(result(marker, journal, posted))
}

/// What the write created, for its `result`.
fn result(
    marker: &str,
    journal: Option<&JournalInfo>,
    posted: &ledgerlink_connectors::PostedPayment,
) -> Value {
    json!({
        "posted": true,
        "document_number": marker,
        "journal_code": journal.map(|j| j.code.clone()),
        "ledger_entry_numbers": posted.entry_numbers,
        "posting_date": posted.posting_date.to_string(),
        "amount": posted.amount.to_string(),
    })
}

/// Why an attempt stopped.
enum Fail {
    /// A later attempt has taken over (this one's lease ran out): it stops and changes nothing.
    Stale,
    /// The ERP refused it on business grounds (or it cannot be done): the write fails now.
    Refused(String),
    /// A failure that passes (throttled, unreachable, an outage): the write is retried.
    Passing(ConnectorError),
    /// Our own database failed.
    Engine(EngineError),
}

impl From<EngineError> for Fail {
    fn from(e: EngineError) -> Fail {
        Fail::Engine(e)
    }
}

impl From<ledgerlink_store::StoreError> for Fail {
    fn from(e: ledgerlink_store::StoreError) -> Fail {
        Fail::Engine(e.into())
    }
}

/// The ERP's answer in words for the write's `error`.
fn words(err: &ConnectorError) -> String {
    err.to_string()
}

async fn fail(engine: &Engine, conn: &Connection, err: ConnectorError) -> Fail {
    match err.kind() {
        ErrorKind::Transient | ErrorKind::RateLimited | ErrorKind::Unreachable => {
            Fail::Passing(err)
        }
        ErrorKind::Unauthorized if engine.uses_oauth(conn) => {
            // The access token may have been invalidated early: refresh it now, so the retry
            // uses a new one. A refresh the identity provider refuses marks the connection's
            // health (a 401 that persists with fresh tokens is reported by the read path's
            // checks); until re-authorized, the write waits.
            if let Err(refused) = engine.session_with(conn, true).await
                && refused.kind() == ErrorKind::Unauthorized
            {
                let _ = engine.record_call_failure(conn, &refused).await;
            }
            Fail::Passing(err)
        }
        // The write's batch or a line of it is gone (an overlapping attempt posted and deleted
        // it, or someone removed it in BC): the next attempt looks for the posting first and
        // starts again if there is none.
        ErrorKind::NotFound => Fail::Passing(err),
        ErrorKind::Unauthorized | ErrorKind::Forbidden => {
            // As the read path does: the connection's health says so; retry once it is fixed.
            let _ = engine.record_call_failure(conn, &err).await;
            Fail::Passing(err)
        }
        _ => Fail::Refused(words(&err)),
    }
}

/// The ERP calls of one attempt.
struct Calls<'a> {
    engine: &'a Engine,
    conn: &'a Connection,
    connector: &'a dyn Connector,
    session: &'a Session,
}

impl Calls<'_> {
    /// Runs one ERP call within the principal's request budget, as reads do; a failure becomes
    /// what it means for the write.
    async fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ConnectorError>>,
    ) -> Result<T, Fail> {
        let principal = crate::sync::attempt::principal(self.conn);
        match self.engine.within_budget(&principal, call).await {
            Ok(out) => Ok(out),
            Err(e) => Err(fail(self.engine, self.conn, e).await),
        }
    }

    async fn find_posted(
        &self,
        marker: &str,
    ) -> Result<Option<ledgerlink_connectors::PostedPayment>, Fail> {
        self.call(self.connector.find_posted_payment(self.session, marker))
            .await
    }

    /// The write's own journal batch, created (balanced like the connection's payment journal, or
    /// where none is chosen like the company's first one with a balancing account) if it does not
    /// exist yet; whether it was created now comes second (a batch created now holds no lines yet).
    async fn own_journal(&self, code: &str) -> Result<(JournalInfo, bool, Option<String>), Fail> {
        let journals = self
            .call(self.connector.payment_journals(self.session))
            .await?;
        if let Some(own) = journals.iter().find(|j| j.code == code) {
            // Created by an earlier attempt: the journal it followed is the one balanced alike
            // (the chosen one first).
            let followed = journals
                .iter()
                .filter(|j| !is_own_batch(j) && j.balancing_account_id == own.balancing_account_id)
                .max_by_key(|j| self.conn.payment_journal.as_deref() == Some(j.code.as_str()))
                .map(|j| j.code.clone());
            return Ok((own.clone(), false, followed));
        }
        if self.conn.misses_payment_journal() {
            return Err(Fail::Passing(ConnectorError::transient(
                "no payment journal is chosen for this connection (several exist); choose one \
                 with PATCH (payment_journal) on the connection",
            )));
        }
        let (followed, balancing) = match &self.conn.payment_journal {
            Some(chosen) => {
                let Some(journal) = journals
                    .iter()
                    .find(|j| j.code.eq_ignore_ascii_case(chosen))
                else {
                    return Err(Fail::Refused(format!(
                        "The payment journal {chosen} chosen for this connection is no longer in \
                         Business Central; nothing was created. Choose another with PATCH \
                         (payment_journal) on the connection, then send the payment again with a \
                         new Idempotency-Key"
                    )));
                };
                (
                    Some(journal.code.clone()),
                    journal.balancing_account_id.clone(),
                )
            }
            None => journals
                .iter()
                .filter(|j| !is_own_batch(j))
                .find(|j| j.balancing_account_id.is_some())
                .map_or((None, None), |j| {
                    (Some(j.code.clone()), j.balancing_account_id.clone())
                }),
        };
        let created = self
            .call(self.connector.create_payment_journal(
                self.session,
                code,
                OWN_BATCH_NAME,
                balancing.as_deref(),
            ))
            .await?;
        Ok((created, true, followed))
    }

    /// Deletes the write's own batch once the write has ended; whether it is gone. Failing to is
    /// no failure of the write (an empty batch is left in BC; the log says which).
    async fn delete_batch(&self, journal: &JournalInfo) -> bool {
        // Not through `call`: a cleanup refused (a principal that may post but not delete
        // batches) says nothing about the connection's health.
        let principal = crate::sync::attempt::principal(self.conn);
        match self
            .engine
            .within_budget(
                &principal,
                self.connector
                    .delete_payment_journal(self.session, &journal.id),
            )
            .await
        {
            Ok(()) => true,
            Err(_) => {
                tracing::warn!(
                    connection_id = %self.conn.id,
                    batch = %journal.code,
                    "could not delete a payment write's journal batch; it is left in Business Central"
                );
                false
            }
        }
    }

    /// Deletes the write's own batch by its code, if it is there (an earlier attempt posted and
    /// stopped before deleting it); whether none is left.
    async fn remove_batch(&self, code: &str) -> bool {
        let principal = crate::sync::attempt::principal(self.conn);
        let Ok(journals) = self
            .engine
            .within_budget(&principal, self.connector.payment_journals(self.session))
            .await
        else {
            return false;
        };
        match journals.iter().find(|j| j.code == code) {
            Some(own) => self.delete_batch(own).await,
            None => true,
        }
    }

    async fn lines(
        &self,
        journal_id: &str,
    ) -> Result<Vec<ledgerlink_connectors::PaymentLineInfo>, Fail> {
        self.call(
            self.connector
                .journal_payment_lines(self.session, journal_id),
        )
        .await
    }

    async fn create(&self, journal_id: &str, lines: &[NewPaymentLine]) -> Result<(), Fail> {
        self.call(
            self.connector
                .create_payment_lines(self.session, journal_id, lines),
        )
        .await
        .map(drop)
    }

    /// Deletes the write's lines from its batch; how many.
    async fn remove_lines(&self, journal_id: &str, marker: &str) -> Result<usize, Fail> {
        let lines = self.lines(journal_id).await?;
        let mut n = 0;
        for line in lines.iter().filter(|l| l.document_number == marker) {
            self.call(self.connector.delete_payment_line(self.session, &line.id))
                .await?;
            n += 1;
        }
        Ok(n)
    }

    async fn post(&self, journal_id: &str) -> Result<(), Fail> {
        self.call(
            self.connector
                .post_payment_journal(self.session, journal_id),
        )
        .await
    }
}
