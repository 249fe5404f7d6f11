//! `Sim`'s record-level API: payments posted as BC posts them, verbatim record overrides.

use anyhow::anyhow;
use serde_json::Value;
use uuid::Uuid;

use crate::Sim;
use crate::hooks::Change;
use crate::records::{PaymentPosted, PaymentSpec, RawPatch};
use crate::state::State;
use crate::store::Company;

/// Run `f` on a company under the write lock with a fresh row version, then queue its webhook
/// changes.
fn with_company<R>(
    state: &State,
    company: Uuid,
    f: impl FnOnce(&mut Company, usize, u64, i64, &mut Vec<Change>) -> Result<R, (u16, String)>,
) -> anyhow::Result<R> {
    let now = state.clock.now_ms();
    let mut changes = Vec::new();
    let r = {
        let mut w = state.world.write().expect("world");
        let ver = w.next_ver();
        let (ei, _) = w
            .find_company(&company)
            .ok_or_else(|| anyhow!("no company {company}"))?;
        let co = w.envs[ei]
            .companies
            .get_mut(&company)
            .ok_or_else(|| anyhow!("no company {company}"))?;
        f(co, ei, ver, now, &mut changes).map_err(|(_, m)| anyhow!(m))?
    };
    for c in changes {
        state.hooks.push(c);
    }
    Ok(r)
}

impl Sim {
    /// Post a payment of `amount` (positive, received from the customer) against a posted sales
    /// invoice, as BC posts a cash receipt: a Payment customer ledger entry (served by the
    /// companion extension's feed), applied to the invoice's entry. The invoice's
    /// `remainingAmount` drops; its `lastModifiedDateTime` and etag move only when it becomes
    /// `Paid`; the customer's balance fields follow without moving its stamp.
    pub fn apply_payment(
        &self,
        company: Uuid,
        invoice_id: Uuid,
        amount: f64,
    ) -> anyhow::Result<PaymentPosted> {
        self.apply_payment_with(
            company,
            invoice_id,
            PaymentSpec {
                amount,
                ..Default::default()
            },
        )
    }

    /// [`Sim::apply_payment`] with a posting date, document number and external document number.
    pub fn apply_payment_with(
        &self,
        company: Uuid,
        invoice_id: Uuid,
        spec: PaymentSpec,
    ) -> anyhow::Result<PaymentPosted> {
        with_company(&self.state, company, |co, env, ver, now, changes| {
            crate::apply::apply_to_invoice(co, invoice_id, &spec, now, ver, env, changes)
        })
    }

    /// Serve these properties of a record verbatim (`json!({"displayName": "", "balanceDue":
    /// "abc"})`; unknown names become extra properties). A modification: `lastModifiedDateTime`
    /// and the etag move and webhooks are notified. `set` is the entity set, e.g. `customers`,
    /// `salesInvoices`, `salesInvoiceLines`, `customerLedgerEntries`.
    pub fn patch_raw(
        &self,
        company: Uuid,
        set: &str,
        id: Uuid,
        properties: Value,
    ) -> anyhow::Result<()> {
        if !properties.is_object() {
            return Err(anyhow!("the properties must be a JSON object"));
        }
        self.patch_raw_with(company, set, id, RawPatch::set(properties))
    }

    /// Apply a [`RawPatch`]: override, remove or add properties; `touch: false` changes the record
    /// silently (no stamp, etag or notification).
    pub fn patch_raw_with(
        &self,
        company: Uuid,
        set: &str,
        id: Uuid,
        patch: RawPatch,
    ) -> anyhow::Result<()> {
        with_company(&self.state, company, |co, env, ver, now, changes| {
            if let Some(hook) = crate::raw::apply(co, set, id, &patch, now, ver)? {
                changes.push(Change::new(env, company, hook, id, "updated", now));
            }
            Ok(())
        })
    }

    /// Insert a customer (`set` = `customers`), posted invoice (`salesInvoices`, optional `lines`)
    /// or credit memo (`salesCreditMemos`) whose properties are served verbatim, e.g. a customer
    /// with `displayName: ""` or an invoice with a zero `customerId`. Returns its id.
    pub fn insert_raw(&self, company: Uuid, set: &str, properties: Value) -> anyhow::Result<Uuid> {
        with_company(&self.state, company, |co, env, ver, now, changes| {
            let (id, hook) = crate::admin_docs::insert_raw(co, set, &properties, now, ver)?;
            changes.push(Change::new(env, company, hook, id, "created", now));
            Ok(id)
        })
    }
}
