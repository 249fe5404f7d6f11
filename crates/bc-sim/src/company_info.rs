//! `companies({id})/companyInformation`: the company's own record (one entity), with its local
//! currency.

use crate::entities::*;
use crate::error::ApiError;
use crate::expand::{self, NONE};
use crate::respond::*;
use crate::routed::{Out, Rc};
use crate::store::Company;

/// `companyInformation` (a collection of one) or `companyInformation({id})`.
pub fn get(rc: &Rc, co: &Company, key: Option<&str>, rest: &[&str]) -> Result<Out, ApiError> {
    if let Some(sub) = rest.get(1) {
        return Err(ApiError::no_segment(sub));
    }
    let url = ctx_url(
        rc,
        true,
        &format!("companies({})/companyInformation", co.id),
    );
    let ctx = Ctx::new(co);
    let Some(id) = key else {
        return list(
            rc,
            url,
            COMPANY_INFORMATION,
            "companyInformation",
            NONE,
            std::iter::once((0, co)),
            |_| Box::new(std::iter::empty()),
            |c| c.ver,
            &ctx,
            &expand::none,
        );
    };
    if guid(id)? != company_information_id(co) {
        return Err(ApiError::not_found("companyInformation", id));
    }
    single(
        rc,
        format!("{url}/$entity"),
        COMPANY_INFORMATION,
        "companyInformation",
        NONE,
        co,
        co.ver,
        &ctx,
        &expand::none,
    )
}
