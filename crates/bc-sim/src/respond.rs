//! Response builders: collections with nextLink, single entities, service/metadata documents.

use uuid::Uuid;

use crate::entities::*;
use crate::error::ApiError;
use crate::filter::{Expr, Lit, Op};
use crate::model::*;
use crate::routed::{Out, Rc};
use crate::serve::{ExpandFn, PageReq, bind, write_page, write_row};
use crate::store::Company;
use crate::value::write_str;
/// Split `name(key)` into name and key (quotes stripped).
pub fn seg(s: &str) -> (&str, Option<&str>) {
    match (s.find('('), s.ends_with(')')) {
        (Some(i), true) => {
            let k = &s[i + 1..s.len() - 1];
            let k = k.strip_prefix("id=").unwrap_or(k);
            (&s[..i], Some(k.trim_matches('\'')))
        }
        _ => (s, None),
    }
}

/// Parse a key as GUID or fail like BC.
pub fn guid(k: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(k).map_err(|_| {
        ApiError::new(
            400,
            "BadRequest",
            format!("The key value '{k}' is not a valid GUID."),
        )
    })
}

/// The company by id, or BC's error.
pub fn find_company<'a>(env: &'a crate::store::Env, id: &str) -> Result<&'a Company, ApiError> {
    let u = guid(id)?;
    env.companies.get(&u).ok_or_else(|| company_not_found(id))
}

/// BC's answer for an unknown company.
pub fn company_not_found(id: &str) -> ApiError {
    ApiError::new(
        400,
        "Internal_CompanyNotFound",
        format!(
            "Cannot find company '{id}'. The company does not exist or you do not have access to it."
        ),
    )
}

/// `@odata.context` base for a company-level set.
pub fn ctx_url(rc: &Rc, std_api: bool, tail: &str) -> String {
    let api = if std_api {
        "v2.0"
    } else {
        "ledgerlink/ar/v1.0"
    };
    format!("{}{}/api/{}/$metadata#{}", rc.base, rc.prefix, api, tail)
}

pub fn service_doc(rc: &Rc, std_api: bool) -> Out {
    let sets: &[&str] = if std_api {
        &[
            "companies",
            "companyInformation",
            "subscriptions",
            "customers",
            "customerFinancialDetails",
            "customerContacts",
            "salesInvoices",
            "salesInvoiceLines",
            "salesCreditMemos",
            "salesCreditMemoLines",
            "customerPaymentJournals",
            "customerPayments",
            "journals",
            "dimensions",
            "dimensionValues",
            "dimensionSetLines",
        ]
    } else {
        &["companies", "customerLedgerEntries"]
    };
    let value: Vec<serde_json::Value> = sets
        .iter()
        .map(|s| serde_json::json!({"name": s, "kind": "EntitySet", "url": s}))
        .collect();
    let api = if std_api {
        "v2.0"
    } else {
        "ledgerlink/ar/v1.0"
    };
    let v = serde_json::json!({"@odata.context": format!("{}{}/api/{}/$metadata", rc.base, rc.prefix, api), "value": value});
    Out::json(serde_json::to_vec(&v).unwrap_or_default())
}

/// The real `$metadata` of API v2.0 (verbatim copy of the reference).
pub const METADATA: &str = include_str!("../data/metadata.xml");

pub fn metadata(std_api: bool) -> Out {
    let body = if std_api {
        METADATA.as_bytes().to_vec()
    } else {
        extension_metadata().into_bytes()
    };
    Out {
        status: axum::http::StatusCode::OK,
        headers: Vec::new(),
        body,
        ctype: "application/xml",
    }
}

/// EDMX of the companion extension.
pub fn extension_metadata() -> String {
    let mut props = String::new();
    for f in LEDGER_ENTRY {
        let t = match f.kind {
            crate::value::Kind::Guid => "Edm.Guid",
            crate::value::Kind::Str => "Edm.String",
            crate::value::Kind::Date => "Edm.Date",
            crate::value::Kind::Dt => "Edm.DateTimeOffset",
            crate::value::Kind::Dec => "Edm.Decimal",
            crate::value::Kind::Int => "Edm.Int32",
            crate::value::Kind::Bool => "Edm.Boolean",
            crate::value::Kind::Enum => "Microsoft.NAV.customerLedgerEntryDocumentType",
        };
        props.push_str(&format!("<Property Name=\"{}\" Type=\"{}\" />", f.name, t));
    }
    let members: String = CLE_DOC_TYPE
        .iter()
        .enumerate()
        .map(|(i, m)| format!("<Member Name=\"{m}\" Value=\"{i}\" />"))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\"><edmx:DataServices><Schema Namespace=\"Microsoft.NAV\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\"><EnumType Name=\"customerLedgerEntryDocumentType\">{members}</EnumType><EntityType Name=\"customerLedgerEntry\"><Key><PropertyRef Name=\"id\" /></Key>{props}</EntityType><EntityContainer Name=\"NAV\"><EntitySet Name=\"customerLedgerEntries\" EntityType=\"Microsoft.NAV.customerLedgerEntry\" /></EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    )
}

/// The next page's link, shaped as BC writes it: the request's query options in their order
/// (`$top` lowered to what is left of it), then `aid=FIN`, then `$skiptoken`, e.g.
/// `…/customers?$select=id%2Cnumber&aid=FIN&$skiptoken=…`. On a multitenant on-prem server the
/// `tenant=` of the request stays in the link (added when the server picked its `default` tenant).
fn next_link(rc: &Rc, tok: &str, top_left: Option<usize>) -> String {
    let mut s = format!("{}{}?", rc.base, rc.path);
    let mut push = |k: &str, v: &str| {
        s.push_str(k);
        s.push('=');
        s.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
        s.push('&');
    };
    let mut has_tenant = false;
    for (k, v) in &rc.q.raw {
        match k.as_str() {
            // BC's own marker is written once, after the options.
            "aid" => {}
            "$top" => push(
                k,
                &top_left.map(|t| t.to_string()).unwrap_or_else(|| v.clone()),
            ),
            t if t.eq_ignore_ascii_case("tenant") => {
                has_tenant = true;
                push(k, v);
            }
            _ => push(k, v),
        }
    }
    if let (false, Some(t)) = (has_tenant, &rc.onprem_tenant) {
        push("tenant", t);
    }
    s.push_str("aid=FIN&$skiptoken=");
    s.push_str(tok);
    s
}

/// `@odata.context` with the `$select` list, as OData writes it (`…/salesInvoices(id,number)`).
fn with_select(rc: &Rc, url: &str) -> String {
    let Some(sel) = &rc.q.select else {
        return url.to_string();
    };
    let list = sel.join(",");
    match url.strip_suffix("/$entity") {
        Some(base) => format!("{base}({list})/$entity"),
        None => format!("{url}({list})"),
    }
}

/// Serve a collection page.
#[allow(clippy::too_many_arguments)]
pub fn list<'r, T: 'r>(
    rc: &Rc,
    url: String,
    fields: &'static [Field<T>],
    ty: &'static str,
    navs: &'static [&'static str],
    rows: impl Iterator<Item = (u64, &'r T)> + Clone + 'r,
    after: impl Fn(u64) -> Box<dyn Iterator<Item = (u64, &'r T)> + 'r>,
    ver: impl Fn(&T) -> u64,
    ctx: &Ctx<'_>,
    exp: ExpandFn<'_, T>,
) -> Result<Out, ApiError> {
    let mut out = Vec::with_capacity(64 * 1024);
    out.extend_from_slice(b"{\"@odata.context\":");
    write_str(&mut out, &with_select(rc, &url));
    out.push(b',');
    let po = write_page(
        &mut out,
        fields,
        &PageReq {
            q: &rc.q,
            ty,
            navs,
            page: rc.page,
        },
        rows,
        after,
        ver,
        ctx,
        exp,
    )?;
    if let Some(t) = po.next {
        out.extend_from_slice(b",\"@odata.nextLink\":");
        write_str(&mut out, &next_link(rc, &t, po.top_left));
    }
    out.push(b'}');
    Ok(Out::json(out))
}

/// Serve one entity.
#[allow(clippy::too_many_arguments)]
pub fn single<T>(
    rc: &Rc,
    url: String,
    fields: &'static [Field<T>],
    ty: &'static str,
    navs: &'static [&'static str],
    row: &T,
    ver: u64,
    ctx: &Ctx<'_>,
    exp: ExpandFn<'_, T>,
) -> Result<Out, ApiError> {
    let b = bind(fields, ty, &rc.q.select, &None, &rc.q.expand, navs)?;
    let mut buf = Vec::with_capacity(4096);
    write_row(&mut buf, fields, &b, row, ver, ctx, exp)?;
    let mut out = Vec::with_capacity(buf.len() + 256);
    out.extend_from_slice(b"{\"@odata.context\":");
    write_str(&mut out, &with_select(rc, &url));
    out.push(b',');
    out.extend_from_slice(&buf[1..]);
    let mut o = Out::json(out);
    o.headers.push(("ETag", crate::value::etag(ver)));
    Ok(o)
}

/// Find `field eq literal` in a filter (BC uses it to pick the parent of temporary tables).
pub fn filter_eq(e: &Option<Expr>, field: &str) -> Option<String> {
    fn walk(e: &Expr, field: &str) -> Option<String> {
        match e {
            Expr::Cmp(f, Op::Eq, Lit::Bare(v) | Lit::Quoted(v)) if f == field => Some(v.clone()),
            Expr::And(a, b) => walk(a, field).or_else(|| walk(b, field)),
            _ => None,
        }
    }
    e.as_ref().and_then(|e| walk(e, field))
}

/// Answer `$count` from the collection answer of `list` (run with `$count=true`, `$top=0`).
pub fn count_of(rc: &Rc, list: impl FnOnce(&Rc) -> Result<Out, ApiError>) -> Result<Out, ApiError> {
    let mut rc2 = rc.clone();
    rc2.q.count = true;
    rc2.q.top = Some(0);
    rc2.q.expand.clear();
    let out = list(&rc2)?;
    let v: serde_json::Value = serde_json::from_slice(&out.body).unwrap_or_default();
    let n = v["@odata.count"].as_u64().unwrap_or(0);
    Ok(Out {
        status: axum::http::StatusCode::OK,
        headers: Vec::new(),
        body: n.to_string().into_bytes(),
        ctype: "text/plain",
    })
}
