//! The ledgerlink companion extension (`api/ledgerlink/ar/v1.0`): `customerLedgerEntries`.

use crate::entities::*;
use crate::error::ApiError;
use crate::expand::{self, NONE};
use crate::respond::{guid, list, seg, single};
use crate::routed::{Out, Rc};
use crate::store::Company;

/// GET `companies({id})/customerLedgerEntries[({id})|/$count]`.
pub fn get(rc: &Rc, co: &Company, rest: &[&str]) -> Result<Out, ApiError> {
    let (name, key) = seg(rest[0]);
    if !co.extension || name != "customerLedgerEntries" {
        return Err(ApiError::no_segment(name));
    }
    match (key, rest.get(1)) {
        (None, Some(&"$count")) if rest.len() == 2 => {
            return crate::respond::count_of(rc, |rc2| get(rc2, co, &rest[..1]));
        }
        (_, Some(s)) => return Err(ApiError::no_segment(s)),
        _ => {}
    }
    let ctx = Ctx::new(co);
    let url = format!(
        "{}{}/api/ledgerlink/ar/v1.0/$metadata#companies({})/customerLedgerEntries",
        rc.base, rc.prefix, co.id
    );
    match key {
        None => list(
            rc,
            url,
            LEDGER_ENTRY,
            "customerLedgerEntry",
            NONE,
            co.ledger.rows.iter().map(|(k, v)| (*k, v)),
            |k| Box::new(co.ledger.rows.range(k + 1..).map(|(k, v)| (*k, v))),
            |r| r.ver,
            &ctx,
            &expand::none,
        ),
        Some(id) => {
            let r = co
                .ledger
                .get(&guid(id)?)
                .ok_or_else(|| ApiError::not_found("customerLedgerEntry", id))?;
            single(
                rc,
                format!("{url}/$entity"),
                LEDGER_ENTRY,
                "customerLedgerEntry",
                NONE,
                r,
                r.ver,
                &ctx,
                &expand::none,
            )
        }
    }
}
