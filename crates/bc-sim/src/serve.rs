//! Generic entity/collection serialization with server-driven paging.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::entities::{Ctx, Field};
use crate::error::ApiError;
use crate::filter::Expr;
use crate::odata::{Bound, Expand, Query, compile, eval, field_index};
use crate::value::{Key, Kind, push_etag, push_value};

/// Name/kind list of an entity.
pub fn schema<T>(fields: &'static [Field<T>]) -> Vec<(&'static str, Kind)> {
    fields.iter().map(|f| (f.name, f.kind)).collect()
}

/// Bind select/filter to a field list.
pub fn bind<T>(
    fields: &'static [Field<T>],
    ty: &'static str,
    select: &Option<Vec<String>>,
    filter: &Option<Expr>,
    expand: &[Expand],
    navs: &[&str],
) -> Result<Bound, ApiError> {
    let sch = schema(fields);
    let all = select
        .as_ref()
        .is_none_or(|names| names.iter().any(|n| n == "*"));
    let sel = match select {
        None => (0..fields.len()).collect(),
        Some(names) => {
            let mut idx = Vec::new();
            for n in names {
                if n == "*" {
                    idx.extend(0..fields.len());
                    continue;
                }
                if navs.contains(&n.as_str()) {
                    continue;
                }
                idx.push(field_index(&sch, n, ty)?);
            }
            idx.sort_unstable();
            idx.dedup();
            idx
        }
    };
    for e in expand {
        if !navs.contains(&e.name.as_str()) {
            return Err(ApiError::new(
                400,
                "BadRequest_NotFound",
                format!(
                    "Could not find a property named '{}' on type 'Microsoft.NAV.{ty}'.",
                    e.name
                ),
            ));
        }
    }
    let filter = match filter {
        Some(f) => Some(compile(f, &sch, ty)?),
        None => None,
    };
    Ok(Bound {
        ty,
        all,
        sel,
        filter,
        expand: expand.to_vec(),
    })
}

/// Whether a row passes the bound filter.
pub fn matches<T>(fields: &'static [Field<T>], b: &Bound, row: &T, ctx: &Ctx<'_>) -> bool {
    match &b.filter {
        None => true,
        Some(f) => {
            let raw = crate::raw::of_row(fields, b.ty, row, ctx);
            eval(f, &mut |i| crate::raw::key_of(fields, i, row, ctx, raw))
        }
    }
}

/// Writes the expansions of a row: `,"name":[…]`.
pub type ExpandFn<'x, T> = &'x dyn Fn(&mut Vec<u8>, &T, &Expand, &Ctx<'_>) -> Result<(), ApiError>;

/// Write one entity object.
pub fn write_row<T>(
    out: &mut Vec<u8>,
    fields: &'static [Field<T>],
    b: &Bound,
    row: &T,
    ver: u64,
    ctx: &Ctx<'_>,
    exp: ExpandFn<'_, T>,
) -> Result<(), ApiError> {
    out.push(b'{');
    push_etag(out, ver);
    match crate::raw::of_row(fields, b.ty, row, ctx) {
        None => {
            for &i in &b.sel {
                let f = &fields[i];
                out.extend_from_slice(f.key.as_bytes());
                push_value(out, &(f.get)(row, ctx));
            }
        }
        Some(r) => crate::raw::write_fields(out, fields, &b.sel, b.all, row, ctx, r),
    }
    for e in &b.expand {
        exp(out, row, e, ctx)?;
    }
    out.push(b'}');
    Ok(())
}

/// Write `,"name":[…]` for a nested collection (no paging, as BC).
#[allow(clippy::too_many_arguments)]
pub fn write_nested<'r, T: 'r>(
    out: &mut Vec<u8>,
    name: &str,
    fields: &'static [Field<T>],
    ty: &'static str,
    e: &Expand,
    navs: &[&str],
    rows: impl Iterator<Item = (&'r T, u64)>,
    ctx: &Ctx<'_>,
    exp: ExpandFn<'_, T>,
) -> Result<(), ApiError> {
    let b = match e
        .bound
        .get_or_init(|| bind(fields, ty, &e.select, &e.filter, &e.expand, navs))
    {
        Ok(b) => b,
        Err(err) => return Err(err.clone()),
    };
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":[");
    let mut first = true;
    for (r, ver) in rows {
        if !matches(fields, b, r, ctx) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_row(out, fields, b, r, ver, ctx, exp)?;
    }
    out.push(b']');
    Ok(())
}

/// Write `,"name":{…}` or `,"name":null` for a single navigation.
#[allow(clippy::too_many_arguments)]
pub fn write_single<T>(
    out: &mut Vec<u8>,
    name: &str,
    fields: &'static [Field<T>],
    ty: &'static str,
    e: &Expand,
    row: Option<(&T, u64)>,
    ctx: &Ctx<'_>,
) -> Result<(), ApiError> {
    let b = match e
        .bound
        .get_or_init(|| bind(fields, ty, &e.select, &None, &[], &[]))
    {
        Ok(b) => b,
        Err(err) => return Err(err.clone()),
    };
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    match row {
        Some((r, ver)) => write_row(out, fields, b, r, ver, ctx, &|_, _, _, _| Ok(()))?,
        None => out.extend_from_slice(b"null"),
    }
    Ok(())
}

/// Opaque paging state carried in `$skiptoken`.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Token {
    /// Last internal key served.
    pub k: u64,
    /// Sort values of the last row (with `$orderby`).
    #[serde(default)]
    pub o: Vec<Key>,
    /// Rows served so far (for `$top`).
    pub n: usize,
}

impl Token {
    /// Encode.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(self).unwrap_or_default())
    }
    /// Decode or fail as BC does for a bad token.
    pub fn decode(s: &str) -> Result<Token, ApiError> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| ApiError::new(400, "BadRequest", "The skip token is not valid."))
    }
}

/// Page request parameters.
pub struct PageReq<'q> {
    /// The parsed query.
    pub q: &'q Query,
    /// Entity type name (errors).
    pub ty: &'static str,
    /// Navigation properties that may be expanded.
    pub navs: &'static [&'static str],
    /// Page size (after `Prefer` and the cap).
    pub page: usize,
}

/// Result of writing a page: the token for the next page, if any.
pub struct PageOut {
    /// `$skiptoken` for the next page.
    pub next: Option<String>,
    /// With `$top`: how many of it are left for the next page (BC writes that as the next link's
    /// `$top`).
    pub top_left: Option<usize>,
}

#[allow(clippy::too_many_arguments)]
/// Write `"value":[…]` for a keyed collection, paging by internal key (or `$orderby` + key).
pub fn write_page<'r, T: 'r>(
    out: &mut Vec<u8>,
    fields: &'static [Field<T>],
    req: &PageReq<'_>,
    rows: impl Iterator<Item = (u64, &'r T)> + Clone + 'r,
    after: impl Fn(u64) -> Box<dyn Iterator<Item = (u64, &'r T)> + 'r>,
    ver: impl Fn(&T) -> u64,
    ctx: &Ctx<'_>,
    exp: ExpandFn<'_, T>,
) -> Result<PageOut, ApiError> {
    let q = req.q;
    let b = bind(fields, req.ty, &q.select, &q.filter, &q.expand, req.navs)?;
    let tok = match &q.skiptoken {
        Some(s) => Some(Token::decode(s)?),
        None => None,
    };
    let served = tok.as_ref().map(|t| t.n).unwrap_or(0);
    let remaining_top = q
        .top
        .map(|t| t.saturating_sub(served))
        .unwrap_or(usize::MAX);
    let limit = remaining_top.min(req.page);
    let mut skip = if tok.is_none() {
        q.skip.unwrap_or(0)
    } else {
        0
    };
    if q.count {
        let n = rows
            .clone()
            .filter(|(_, r)| matches(fields, &b, r, ctx))
            .count();
        out.extend_from_slice(format!("\"@odata.count\":{n},").as_bytes());
    }
    out.extend_from_slice(b"\"value\":[");
    let mut count = 0usize;
    let mut last: Option<(u64, Vec<Key>)> = None;
    let mut more = false;
    let sch = schema(fields);
    if q.orderby.is_empty() {
        let iter: Box<dyn Iterator<Item = (u64, &'r T)>> = match &tok {
            Some(t) => after(t.k),
            None => Box::new(rows),
        };
        for (k, r) in iter {
            if !matches(fields, &b, r, ctx) {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            if count == limit {
                more = limit < remaining_top;
                break;
            }
            if count > 0 {
                out.push(b',');
            }
            let before = out.len();
            write_row(out, fields, &b, r, ver(r), ctx, exp)?;
            count += 1;
            crate::stream::maybe_flush(out);
            if count == 1 && limit > 1 && !crate::stream::active() {
                // One allocation for the whole page instead of repeated doubling.
                let est = (out.len() - before + 1).saturating_mul(limit.min(20_000)) * 11 / 10;
                out.reserve(est.min(1 << 30));
            }
            last = Some((k, Vec::new()));
        }
    } else {
        let mut ob = Vec::new();
        for (f, desc) in &q.orderby {
            ob.push((field_index(&sch, f, req.ty)?, *desc));
        }
        let sort_key = |r: &T| -> Vec<Key> {
            let raw = crate::raw::of_row(fields, req.ty, r, ctx);
            ob.iter()
                .map(|(i, _)| crate::raw::key_of(fields, *i, r, ctx, raw))
                .collect()
        };
        let cmp = |a: &(Vec<Key>, u64), b: &(Vec<Key>, u64)| {
            for (n, (_, desc)) in ob.iter().enumerate() {
                let o = a.0[n].cmp(&b.0[n]);
                let o = if *desc { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            a.1.cmp(&b.1)
        };
        let mut all: Vec<((Vec<Key>, u64), &T)> = rows
            .filter(|(_, r)| matches(fields, &b, r, ctx))
            .map(|(k, r)| ((sort_key(r), k), r))
            .collect();
        all.sort_by(|a, b| cmp(&a.0, &b.0));
        let start = match &tok {
            Some(t) => {
                let pivot = (t.o.clone(), t.k);
                all.partition_point(|x| cmp(&x.0, &pivot) != std::cmp::Ordering::Greater)
            }
            None => skip.min(all.len()),
        };
        skip = 0;
        let _ = skip;
        for (key, r) in all.iter().skip(start) {
            if count == limit {
                more = limit < remaining_top;
                break;
            }
            if count > 0 {
                out.push(b',');
            }
            write_row(out, fields, &b, r, ver(r), ctx, exp)?;
            crate::stream::maybe_flush(out);
            count += 1;
            last = Some((key.1, key.0.clone()));
        }
    }
    out.push(b']');
    let next = match (more, last) {
        // `n` stays 0: the next link carries the rest of `$top` itself.
        (true, Some((k, o))) => Some(Token { k, o, n: 0 }.encode()),
        _ => None,
    };
    let top_left = q.top.map(|_| remaining_top.saturating_sub(count));
    Ok(PageOut { next, top_left })
}
