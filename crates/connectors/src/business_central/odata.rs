//! BC API URLs (cloud and on-prem), authenticated GETs and OData server-driven paging.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Client, Method, RequestBuilder};
use secrecy::ExposeSecret;
use serde_json::Value;
use url::Url;

use super::models::{self, Api, EntitySpec};
use super::{BusinessCentral, TENANT_PARAM};
use crate::connector::{
    Credentials, MAX_IDS_PER_REQUEST, Page, PageEnd, PageEvent, PageRequest, ReadScope, Session,
    Target, TimeWindow, reader_gone,
};
use crate::error::ConnectorError;
use crate::http::{Answer, execute, send_success};

use super::page_split::PageSplitter;

/// Records per batch a streamed page sends.
const STREAM_BATCH: usize = 64;

/// The longest a streamed page may take in all (reading it and waiting for the writer): far above
/// BC's own 8–10 minutes per request, only a backstop behind the per-wait timeout.
const STREAMED_PAGE_LIMIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Query options of a collection GET.
#[derive(Debug, Default)]
pub(super) struct Query<'a> {
    pub filter: Option<String>,
    pub expand: Option<&'a str>,
    pub select: Option<&'a str>,
    pub top: Option<u32>,
    /// `$count=true`: the first page says how many records match (`@odata.count`).
    pub count: bool,
}

impl Query<'_> {
    /// Sets the query string. `Url::set_query` percent-encodes spaces as `%20` (not `+`, which OData
    /// servers may read literally) and leaves `$`, `(`, `)`, `,` and `'` alone.
    pub(super) fn apply_to(&self, url: &mut Url) {
        let mut parts = Vec::new();
        if let Some(f) = &self.filter {
            parts.push(format!("$filter={f}"));
        }
        if let Some(e) = self.expand {
            parts.push(format!("$expand={e}"));
        }
        if let Some(s) = self.select {
            parts.push(format!("$select={s}"));
        }
        if let Some(t) = self.top {
            parts.push(format!("$top={t}"));
        }
        if self.count {
            parts.push("$count=true".into());
        }
        url.set_query((!parts.is_empty()).then(|| parts.join("&")).as_deref());
    }
}

/// `lastModifiedDateTime gt … and lastModifiedDateTime le …` for a window; `None` for a full pass.
pub(super) fn window_filter(window: &TimeWindow) -> Option<String> {
    let stamp = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut terms = Vec::new();
    if let Some(after) = &window.modified_after {
        terms.push(format!("lastModifiedDateTime gt {}", stamp(after)));
    }
    if let Some(until) = &window.modified_until {
        terms.push(format!("lastModifiedDateTime le {}", stamp(until)));
    }
    (!terms.is_empty()).then(|| terms.join(" and "))
}

/// `id eq … or id eq …` for a few records (ids must be GUIDs: they go into the URL unquoted).
fn ids_filter(ids: &[String]) -> Result<String, ConnectorError> {
    if ids.is_empty() || ids.len() > MAX_IDS_PER_REQUEST {
        return Err(ConnectorError::invalid(format!(
            "between 1 and {MAX_IDS_PER_REQUEST} ids per request, not {}",
            ids.len()
        )));
    }
    let terms = ids
        .iter()
        .map(|id| check_guid(id).map(|id| format!("id eq {id}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(terms.join(" or "))
}

pub(super) fn check_guid(id: &str) -> Result<&str, ConnectorError> {
    let ok = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if ok {
        Ok(id)
    } else {
        Err(ConnectorError::invalid(format!("`{id}` is not a GUID")))
    }
}

/// A BC company id must be a GUID: it goes into `companies(…)` unquoted.
fn check_company_id(id: &str) -> Result<&str, ConnectorError> {
    let ok = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if ok {
        Ok(id)
    } else {
        Err(ConnectorError::NotConfigured(format!(
            "company id `{id}` is not a GUID"
        )))
    }
}

pub(super) fn append(url: &mut Url, segments: &[&str]) -> Result<(), ConnectorError> {
    url.path_segments_mut()
        .map_err(|_| ConnectorError::NotConfigured("API base URL cannot be a base".into()))?
        .pop_if_empty()
        .extend(segments);
    Ok(())
}

impl BusinessCentral {
    /// The root of an API: cloud `{api_base}/v2.0/{tenant}/{environment}/api/v2.0`, on-prem
    /// `{api_url}/api/v2.0` (or the extension's `api/ledgerlink/ar/v1.0`), without the on-prem
    /// `?tenant=` ([`BusinessCentral::get`] adds it to every request).
    pub(super) fn api_root(&self, target: &Target, api: Api) -> Result<Url, ConnectorError> {
        let mut url = match &target.api_url {
            Some(api_url) => {
                let mut root = api_url.clone();
                root.set_query(None);
                root
            }
            None => self.cloud_environment_root(target)?,
        };
        append(&mut url, api.segments())?;
        Ok(url)
    }

    fn cloud_environment_root(&self, target: &Target) -> Result<Url, ConnectorError> {
        let environment = target.environment.as_deref().ok_or_else(|| {
            ConnectorError::NotConfigured("no Business Central environment is selected".into())
        })?;
        let mut url = self.config.api_base_url.clone();
        append(&mut url, &["v2.0"])?;
        if let Some(tenant) = &target.tenant_id {
            append(&mut url, &[tenant])?;
        }
        append(&mut url, &[environment])?;
        Ok(url)
    }

    /// `{api root}/companies({company})/{entity_set}`.
    pub(super) fn company_url(
        &self,
        target: &Target,
        api: Api,
        entity_set: &str,
    ) -> Result<Url, ConnectorError> {
        let company = target.company_id.as_deref().ok_or_else(|| {
            ConnectorError::NotConfigured("no Business Central company is selected".into())
        })?;
        let mut url = self.api_root(target, api)?;
        let company_segment = format!("companies({})", check_company_id(company)?);
        if entity_set.is_empty() {
            append(&mut url, &[&company_segment])?;
        } else {
            append(&mut url, &[&company_segment, entity_set])?;
        }
        Ok(url)
    }

    /// The client for a URL: the SSRF-guarded one (after checking the URL itself) for user-supplied
    /// on-prem hosts, the plain one for the configured cloud hosts.
    fn client_for(&self, url: &Url, target: &Target) -> Result<&Client, ConnectorError> {
        if target.api_url.is_some() {
            self.config.ssrf.check_parsed(url)?;
            Ok(&self.guarded)
        } else {
            Ok(&self.cloud)
        }
    }

    /// An authenticated GET; non-2xx answers become classified errors. On a multitenant on-prem
    /// server every request carries the connection's `?tenant=` (added when a URL, e.g. a next link,
    /// lacks it).
    pub(super) async fn get(
        &self,
        session: &Session,
        url: Url,
        page_size: Option<u32>,
    ) -> Result<Answer, ConnectorError> {
        let mut req = self.request(session, Method::GET, url)?;
        if let Some(n) = page_size {
            req = req.header("Prefer", format!("odata.maxpagesize={n}"));
        }
        execute(req, self.config.http.max_body_bytes)
            .await?
            .success()
    }

    /// An authenticated write (POST/PATCH/DELETE) with a JSON body, if any, and extra headers; the
    /// whole answer, whatever its status (the caller classifies it, usually with
    /// [`Answer::write_success`]). Same URL guard, tenant parameter, body cap as [`Self::get`].
    pub(super) async fn send(
        &self,
        session: &Session,
        method: Method,
        url: Url,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, ConnectorError> {
        let mut req = self.request(session, method, url)?;
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|e| ConnectorError::invalid(format!("cannot encode the request: {e}")))?;
            req = req.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        execute(req, self.config.http.max_body_bytes).await
    }

    /// A request with the connection's credentials, through the client its URL calls for, with the
    /// on-prem tenant parameter.
    fn request(
        &self,
        session: &Session,
        method: Method,
        mut url: Url,
    ) -> Result<RequestBuilder, ConnectorError> {
        add_tenant(&mut url, &session.target);
        let client = self.client_for(&url, &session.target)?;
        tracing::debug!(%method, path = url.path(), "request");
        let req = client
            .request(method, url)
            .header(ACCEPT, "application/json");
        match &session.credentials {
            Credentials::Bearer(token) => Ok(req.bearer_auth(token.expose_secret())),
            Credentials::Basic { username, password } => {
                Ok(req.basic_auth(username, Some(password.expose_secret())))
            }
            Credentials::ApiKey { .. } => Err(ConnectorError::Unsupported(
                "Business Central does not take API keys".into(),
            )),
        }
    }

    /// GETs an OData collection and returns its page.
    pub(super) async fn get_collection(
        &self,
        session: &Session,
        url: Url,
        page_size: Option<u32>,
    ) -> Result<Page, ConnectorError> {
        let base = url.clone();
        let answer = self.get(session, url, page_size).await?;
        parse_page(&answer.json::<Value>()?, &base)
    }

    /// Every record of a small collection (companies, environments), following next links within the
    /// same API for at most `max_pages` pages.
    pub(super) async fn get_all(
        &self,
        session: &Session,
        url: Url,
        page_size: Option<u32>,
        max_pages: usize,
    ) -> Result<Vec<Value>, ConnectorError> {
        let first = url.clone();
        let mut page = self.get_collection(session, url, page_size).await?;
        let mut records = std::mem::take(&mut page.records);
        for _ in 1..max_pages {
            let Some(next) = page.next.take() else {
                return Ok(records);
            };
            let next = Url::parse(&next).map_err(|e| ConnectorError::invalid(e.to_string()))?;
            if next.origin() != first.origin() || !next.path().eq_ignore_ascii_case(first.path()) {
                return Err(ConnectorError::invalid(
                    "next link points outside the collection",
                ));
            }
            page = self.get_collection(session, next, page_size).await?;
            records.append(&mut page.records);
        }
        match page.next {
            None => Ok(records),
            Some(_) => Err(ConnectorError::invalid(format!(
                "collection has more than {max_pages} pages"
            ))),
        }
    }

    /// One page of a unified model (first page from the request, later ones from the cursor).
    #[tracing::instrument(
        name = "bc.fetch_page",
        skip_all,
        fields(
            provider = super::PROVIDER_NAME,
            model = %req.model,
            environment = ?session.target.environment,
            company = ?session.target.company_id,
            continued = req.cursor.is_some()
        )
    )]
    pub(super) async fn read_page(
        &self,
        session: &Session,
        req: &PageRequest,
    ) -> Result<Page, ConnectorError> {
        let (url, page_size) = self.page_url(session, req)?;
        self.get_collection(session, url, Some(page_size)).await
    }

    /// [`Self::read_page`], streamed: records go to `out` as they arrive, in batches; only one
    /// record (and one network chunk) is held at a time, so the body cap applies to a record.
    #[tracing::instrument(
        name = "bc.stream_page",
        skip_all,
        fields(provider = super::PROVIDER_NAME, model = %req.model, continued = req.cursor.is_some())
    )]
    pub(super) async fn read_page_streamed(
        &self,
        session: &Session,
        req: &PageRequest,
        out: &tokio::sync::mpsc::Sender<PageEvent>,
    ) -> Result<PageEnd, ConnectorError> {
        let (url, page_size) = self.page_url(session, req)?;
        let base = url.clone();
        let mut request = self.request(session, Method::GET, url)?;
        // The client's whole-request timeout would also count the time this reader waits for the
        // writer (a full channel while the store commits), and a slow database would look like a
        // slow ERP. A streamed page is timed per wait for BC instead: its answer's head, then each
        // chunk of its body, each within the request timeout.
        let idle = self.config.http.request_timeout;
        let timed_out = || {
            ConnectorError::transient(format!(
                "timed out: Business Central sent nothing for {idle:?}"
            ))
        };
        request = request
            .header("Prefer", format!("odata.maxpagesize={page_size}"))
            .timeout(STREAMED_PAGE_LIMIT);
        let max = self.config.http.max_body_bytes;
        let mut response = tokio::time::timeout(idle, send_success(request, max))
            .await
            .map_err(|_| timed_out())??;
        let mut splitter = PageSplitter::new(max);
        let mut batch = Vec::new();
        while let Some(chunk) = tokio::time::timeout(idle, response.chunk())
            .await
            .map_err(|_| timed_out())?
            .map_err(ConnectorError::from_reqwest)?
        {
            splitter.feed(&chunk, &mut batch)?;
            if batch.len() >= STREAM_BATCH {
                let full = std::mem::take(&mut batch);
                out.send(PageEvent::Records(full))
                    .await
                    .map_err(|_| reader_gone())?;
            }
        }
        let members = splitter.finish(&mut batch)?;
        if !batch.is_empty() {
            out.send(PageEvent::Records(batch))
                .await
                .map_err(|_| reader_gone())?;
        }
        let member = |key: &str| members.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        Ok(PageEnd {
            next: next_link(member("@odata.nextLink"), &base)?,
            total: member("@odata.count").and_then(Value::as_u64),
        })
    }

    /// The URL of the page `req` asks for, and its page size.
    fn page_url(&self, session: &Session, req: &PageRequest) -> Result<(Url, u32), ConnectorError> {
        let spec = models::spec(&req.model).ok_or_else(|| {
            ConnectorError::Unsupported(format!(
                "model `{}` is not synced from Business Central",
                req.model
            ))
        })?;
        let url = match &req.cursor {
            Some(cursor) => self.next_link_url(&session.target, spec, cursor)?,
            None => self.first_page_url(&session.target, spec, req)?,
        };
        Ok((url, req.page_size.unwrap_or(self.config.page_size).max(1)))
    }

    fn first_page_url(
        &self,
        target: &Target,
        spec: &EntitySpec,
        req: &PageRequest,
    ) -> Result<Url, ConnectorError> {
        let mut url = self.company_url(target, spec.api, spec.entity_set)?;
        let select = req.fields.as_deref().map(select_list).transpose()?;
        let expand = spec.expand_for(req.include_dimension_lines);
        let query = match &req.scope {
            ReadScope::Window => Query {
                filter: spec
                    .incremental
                    .then(|| window_filter(&req.window))
                    .flatten(),
                expand,
                select: select.as_deref(),
                // A total for progress, where a page record is one unified record.
                count: spec.model != "payments",
                ..Default::default()
            },
            ReadScope::Ids(ids) => Query {
                filter: Some(ids_filter(ids)?),
                expand,
                select: select.as_deref(),
                ..Default::default()
            },
            ReadScope::Volatile => {
                let volatile = spec.volatile.ok_or_else(|| {
                    ConnectorError::Unsupported(format!(
                        "model `{}` has no fields that change silently",
                        spec.model
                    ))
                })?;
                Query {
                    filter: volatile.filter.map(str::to_owned),
                    expand: volatile.expand,
                    select: Some(volatile.select),
                    ..Default::default()
                }
            }
        };
        query.apply_to(&mut url);
        Ok(url)
    }

    /// A next link is followed as BC wrote it (without `$count=true`, see [`without_count`]), but
    /// only to the same origin and API root as the first page.
    fn next_link_url(
        &self,
        target: &Target,
        spec: &EntitySpec,
        cursor: &str,
    ) -> Result<Url, ConnectorError> {
        let root = self.api_root(target, spec.api)?;
        let mut url = Url::parse(cursor)
            .map_err(|e| ConnectorError::invalid(format!("next link is not a URL: {e}")))?;
        if !same_origin_and_root(&root, &url) {
            return Err(ConnectorError::invalid(
                "next link points outside the connection's API",
            ));
        }
        without_count(&mut url);
        Ok(url)
    }
}

/// Drops `$count=true` from a next link's query, leaving every other parameter exactly as BC wrote
/// it. The first page asks for the total (progress) and BC's next links repeat the request's options,
/// so without this BC would count the whole filtered set again for every page — on 1,000,000
/// invoices, a count of a million rows per page of 1,000 (bc-sim: 6 → 46 ms a page). The total is
/// read from the first page only.
fn without_count(url: &mut Url) {
    let Some(query) = url.query() else { return };
    let is_count = |part: &&str| {
        let part = part.to_ascii_lowercase();
        part == "$count=true" || part == "%24count=true"
    };
    if !query.split('&').any(|p| is_count(&p)) {
        return;
    }
    let kept: Vec<&str> = query.split('&').filter(|p| !is_count(p)).collect();
    let kept = kept.join("&");
    url.set_query((!kept.is_empty()).then_some(kept.as_str()));
}

/// Adds the on-prem server's `tenant` query parameter (from the connection's `api_url`) to `url`
/// unless it already has one; any other parameter of `url` is left exactly as it is.
fn add_tenant(url: &mut Url, target: &Target) {
    let Some(api_url) = &target.api_url else {
        return;
    };
    let tenant = api_url.query_pairs().find(|(k, _)| k == TENANT_PARAM);
    let Some((_, tenant)) = tenant else { return };
    if !url.query_pairs().any(|(k, _)| k == TENANT_PARAM) {
        url.query_pairs_mut().append_pair(TENANT_PARAM, &tenant);
    }
}

/// `a,b,c` for `$select`; only plain property names (they go into the URL unescaped).
fn select_list(fields: &[String]) -> Result<String, ConnectorError> {
    let plain =
        |f: &String| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match fields.iter().find(|f| !plain(f)) {
        Some(bad) => Err(ConnectorError::invalid(format!(
            "`{bad}` is not a field name"
        ))),
        None if fields.is_empty() => Err(ConnectorError::invalid("empty field list")),
        None => Ok(fields.join(",")),
    }
}

fn same_origin_and_root(root: &Url, url: &Url) -> bool {
    let root_path = root.path().trim_end_matches('/').to_ascii_lowercase();
    url.origin() == root.origin()
        && url.path().to_ascii_lowercase().starts_with(&root_path)
        && url.username().is_empty()
}

/// Reads `{"value":[…], "@odata.nextLink": "…"}`. A relative next link is resolved against the request.
fn parse_page(body: &Value, request_url: &Url) -> Result<Page, ConnectorError> {
    let records = body
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| ConnectorError::invalid("OData collection without a `value` array"))?
        .clone();
    let next = next_link(body.get("@odata.nextLink"), request_url)?;
    let total = body.get("@odata.count").and_then(Value::as_u64);
    Ok(Page {
        records,
        next,
        total,
    })
}

/// The `@odata.nextLink` of a page, resolved against the request.
fn next_link(link: Option<&Value>, request_url: &Url) -> Result<Option<String>, ConnectorError> {
    match link {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(link)) => Ok(Some(
            request_url
                .join(link)
                .map_err(|e| ConnectorError::invalid(format!("bad @odata.nextLink: {e}")))?
                .to_string(),
        )),
        Some(_) => Err(ConnectorError::invalid("@odata.nextLink is not a string")),
    }
}

#[cfg(test)]
#[path = "odata_tests.rs"]
mod tests;
