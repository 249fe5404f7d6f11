//! OData query options: `$filter`, `$select`, `$expand`, `$orderby`, `$top`, `$skip`, `$skiptoken`.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::error::ApiError;
use crate::value::{Key, Kind, parse_dec, parse_dt};

use crate::filter::{Expr, Lit, Op, parse_filter};

/// A `$expand` item.
#[derive(Clone, Debug, Default)]
pub struct Expand {
    /// Navigation property.
    pub name: String,
    /// Nested `$select`.
    pub select: Option<Vec<String>>,
    /// Nested `$filter`.
    pub filter: Option<Expr>,
    /// Nested `$expand`.
    pub expand: Vec<Expand>,
    /// Binding to the child entity type, computed once per request (not per row).
    pub bound: std::sync::OnceLock<Result<Bound, ApiError>>,
}

/// All query options of a request.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// `$filter`.
    pub filter: Option<Expr>,
    /// `$select`.
    pub select: Option<Vec<String>>,
    /// `$expand`.
    pub expand: Vec<Expand>,
    /// `$orderby` (field, descending).
    pub orderby: Vec<(String, bool)>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$skip`.
    pub skip: Option<usize>,
    /// `$skiptoken`.
    pub skiptoken: Option<String>,
    /// `company=` query parameter.
    pub company: Option<String>,
    /// `$count=true`.
    pub count: bool,
    /// Raw query pairs except `$skiptoken` (kept for nextLink).
    pub raw: Vec<(String, String)>,
}

fn err(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, "BadRequest_NotFound", msg)
}

impl Query {
    /// Parse a raw query string.
    pub fn parse(qs: &str) -> Result<Query, ApiError> {
        let mut q = Query::default();
        for (k, v) in url::form_urlencoded::parse(qs.as_bytes()) {
            let (k, v) = (k.into_owned(), v.into_owned());
            match k.as_str() {
                "$filter" => q.filter = Some(parse_filter(&v)?),
                "$select" => q.select = Some(split_list(&v)),
                "$expand" => q.expand = parse_expand(&v)?,
                "$orderby" => q.orderby = parse_orderby(&v)?,
                "$top" => {
                    q.top = Some(
                        v.trim()
                            .parse()
                            .map_err(|_| err(format!("Invalid value for $top: '{v}'.")))?,
                    )
                }
                "$skip" => {
                    q.skip = Some(
                        v.trim()
                            .parse()
                            .map_err(|_| err(format!("Invalid value for $skip: '{v}'.")))?,
                    )
                }
                "$skiptoken" => {
                    q.skiptoken = Some(v);
                    continue;
                }
                "company" => q.company = Some(v.clone()),
                "$count" => {
                    q.count = match v.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(err(format!("'{v}' is not a valid count option."))),
                    }
                }
                _ => {}
            }
            q.raw.push((k, v));
        }
        Ok(q)
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

fn parse_orderby(s: &str) -> Result<Vec<(String, bool)>, ApiError> {
    split_list(s)
        .into_iter()
        .map(|item| {
            let mut parts = item.split_whitespace();
            let f = parts.next().unwrap_or_default().to_string();
            let desc = match parts.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(o) => return Err(err(format!("Syntax error: '{o}' in $orderby."))),
            };
            Ok((f, desc))
        })
        .collect()
}

/// Split on `sep` at parenthesis depth 0.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0usize, Vec::new());
    let mut quoted = false;
    for (i, ch) in s.char_indices() {
        match ch {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && depth == 0 && !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Parse `$expand`.
pub fn parse_expand(s: &str) -> Result<Vec<Expand>, ApiError> {
    let mut out = Vec::new();
    for item in split_top(s, ',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (name, opts) = match item.find('(') {
            Some(i) if item.ends_with(')') => (&item[..i], &item[i + 1..item.len() - 1]),
            Some(_) => return Err(err(format!("Syntax error in $expand: '{item}'."))),
            None => (item, ""),
        };
        let mut e = Expand {
            name: name.trim().to_string(),
            ..Default::default()
        };
        for opt in split_top(opts, ';') {
            let opt = opt.trim();
            if opt.is_empty() {
                continue;
            }
            let (k, v) = opt
                .split_once('=')
                .ok_or_else(|| err(format!("Syntax error in $expand: '{opt}'.")))?;
            match k.trim() {
                "$select" => e.select = Some(split_list(v)),
                "$expand" => e.expand = parse_expand(v)?,
                "$filter" => e.filter = Some(parse_filter(v)?),
                other => {
                    return Err(err(format!(
                        "The query option '{other}' is not supported in $expand."
                    )));
                }
            }
        }
        out.push(e);
    }
    Ok(out)
}

/// A filter bound to an entity's fields.
#[derive(Clone, Debug)]
pub enum CFilter {
    /// field index, op, literal key
    Cmp(usize, Op, Key),
    /// and
    And(Box<CFilter>, Box<CFilter>),
    /// or
    Or(Box<CFilter>, Box<CFilter>),
    /// not
    Not(Box<CFilter>),
}

/// `$select`/`$filter`/`$expand` bound to one entity type.
#[derive(Clone, Debug, Default)]
pub struct Bound {
    /// Entity type name (keys verbatim overrides).
    pub ty: &'static str,
    /// No `$select` (or `*`): every property, and extra ones of overridden records.
    pub all: bool,
    /// Selected field indices, in `$metadata` order.
    pub sel: Vec<usize>,
    /// Compiled filter.
    pub filter: Option<CFilter>,
    /// Expansions (validated by the caller).
    pub expand: Vec<Expand>,
}

/// Convert a literal to a comparable key for a field kind.
pub fn lit_key(l: &Lit, kind: Kind, field: &str) -> Result<Key, ApiError> {
    let (s, quoted) = match l {
        Lit::Quoted(s) => (s.as_str(), true),
        Lit::Bare(s) => (s.as_str(), false),
    };
    if !quoted && s == "null" {
        return Ok(Key::Null);
    }
    let bad = || {
        ApiError::new(
            400,
            "BadRequest",
            format!(
                "A binary operator with incompatible types was detected. Found operand types for '{field}' and '{s}'."
            ),
        )
    };
    Ok(match kind {
        Kind::Guid => Key::Guid(Uuid::parse_str(s).map_err(|_| bad())?),
        Kind::Str | Kind::Enum => Key::Str(s.replace("_x0020_", " ").to_lowercase()),
        Kind::Dt => Key::Num(parse_dt(s).ok_or_else(bad)? as i128),
        Kind::Date => {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
            Key::Num(
                d.and_hms_opt(0, 0, 0)
                    .map(|x| x.and_utc().timestamp_millis())
                    .unwrap_or(0) as i128,
            )
        }
        Kind::Dec | Kind::Int => {
            if quoted {
                return Err(bad());
            }
            Key::Num(parse_dec(s).ok_or_else(bad)? as i128)
        }
        Kind::Bool => match s {
            "true" => Key::Bool(true),
            "false" => Key::Bool(false),
            _ => return Err(bad()),
        },
    })
}

/// Bind a filter to a schema (name, kind) list.
pub fn compile(e: &Expr, schema: &[(&'static str, Kind)], ty: &str) -> Result<CFilter, ApiError> {
    Ok(match e {
        Expr::Cmp(f, op, l) => {
            let i = field_index(schema, f, ty)?;
            let kind = schema[i].1;
            if matches!(op, Op::StartsWith | Op::EndsWith | Op::Contains)
                && !matches!(kind, Kind::Str | Kind::Enum)
            {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!("The function is not supported on field '{f}'."),
                ));
            }
            CFilter::Cmp(i, *op, lit_key(l, kind, f)?)
        }
        Expr::And(a, b) => CFilter::And(
            Box::new(compile(a, schema, ty)?),
            Box::new(compile(b, schema, ty)?),
        ),
        Expr::Or(a, b) => CFilter::Or(
            Box::new(compile(a, schema, ty)?),
            Box::new(compile(b, schema, ty)?),
        ),
        Expr::Not(a) => CFilter::Not(Box::new(compile(a, schema, ty)?)),
    })
}

/// Index of a property, or BC's error for an unknown one.
pub fn field_index(
    schema: &[(&'static str, Kind)],
    name: &str,
    ty: &str,
) -> Result<usize, ApiError> {
    schema.iter().position(|(n, _)| *n == name).ok_or_else(|| {
        ApiError::new(
            400,
            "BadRequest_NotFound",
            format!("Could not find a property named '{name}' on type 'Microsoft.NAV.{ty}'."),
        )
    })
}

/// Evaluate a compiled filter given a value reader.
pub fn eval(f: &CFilter, get: &mut dyn FnMut(usize) -> Key) -> bool {
    match f {
        CFilter::Cmp(i, op, lit) => {
            let v = get(*i);
            match op {
                Op::Eq => v == *lit,
                Op::Ne => v != *lit,
                Op::Gt => v > *lit,
                Op::Ge => v >= *lit,
                Op::Lt => v < *lit,
                Op::Le => v <= *lit,
                Op::StartsWith | Op::EndsWith | Op::Contains => match (&v, lit) {
                    (Key::Str(a), Key::Str(b)) => match op {
                        Op::StartsWith => a.starts_with(b.as_str()),
                        Op::EndsWith => a.ends_with(b.as_str()),
                        _ => a.contains(b.as_str()),
                    },
                    _ => false,
                },
            }
        }
        CFilter::And(a, b) => eval(a, get) && eval(b, get),
        CFilter::Or(a, b) => eval(a, get) || eval(b, get),
        CFilter::Not(a) => !eval(a, get),
    }
}
