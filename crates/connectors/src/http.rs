//! HTTP plumbing shared by connectors: clients that never follow redirects and ask for gzip, size-capped
//! body reads (the cap counts decompressed bytes), JSON parsing that tells a truncated body (transient)
//! from garbage (invalid).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::redirect::Policy;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{ConnectorError, classify_response, classify_write_response, parse_retry_after};
use crate::ssrf::GuardedResolver;

/// Timeouts and limits of a connector's HTTP clients.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (BC's own limit is 8–10 minutes; ours is shorter).
    pub request_timeout: Duration,
    /// Largest response body we read, counted after decompression (so a small gzip bomb cannot exhaust
    /// memory); larger ones fail as [`ConnectorError::Invalid`]. Pages read as a stream
    /// ([`crate::Connector::stream_page`]) are never held whole: there it caps each record.
    pub max_body_bytes: usize,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Extra trusted root certificates (a PEM bundle), for on-prem servers behind an internal CA.
    pub extra_root_certificates_pem: Option<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_body_bytes: 64 * 1024 * 1024,
            user_agent: concat!("ledgerlink/", env!("CARGO_PKG_VERSION")).to_owned(),
            extra_root_certificates_pem: None,
        }
    }
}

/// Builds a client that never follows redirects and sends `Accept-Encoding: gzip` (BC compresses large
/// pages; bodies are decompressed as they stream, before [`read_capped`] counts them). With a resolver, it connects only to addresses the SSRF
/// guard accepted and ignores proxy environment variables (a proxy would resolve names itself).
pub(crate) fn build_client(
    settings: &HttpSettings,
    resolver: Option<Arc<GuardedResolver>>,
) -> Result<Client, ConnectorError> {
    let mut builder = Client::builder()
        .redirect(Policy::none())
        .gzip(true)
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .user_agent(settings.user_agent.clone());
    if let Some(resolver) = resolver {
        builder = builder.dns_resolver(resolver).no_proxy();
    }
    for cert in extra_roots(settings)? {
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| ConnectorError::NotConfigured(format!("cannot build HTTP client: {e}")))
}

fn extra_roots(settings: &HttpSettings) -> Result<Vec<reqwest::Certificate>, ConnectorError> {
    let Some(pem) = &settings.extra_root_certificates_pem else {
        return Ok(Vec::new());
    };
    let bad =
        |why: String| ConnectorError::NotConfigured(format!("extra root certificates: {why}"));
    let certs =
        reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no certificate in the PEM bundle".into()));
    }
    Ok(certs)
}

/// A complete HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// `Ok(self)` for 2xx, else the classified error.
    pub fn success(self) -> Result<Self, ConnectorError> {
        if self.status.is_success() {
            return Ok(self);
        }
        let retry_after = parse_retry_after(&self.headers);
        Err(classify_response(self.status, retry_after, &self.body))
    }

    /// [`Answer::success`] for the answer to a write: business refusals become
    /// [`ConnectorError::Business`] ([`classify_write_response`]).
    pub fn write_success(self) -> Result<Self, ConnectorError> {
        if self.status.is_success() {
            return Ok(self);
        }
        let retry_after = parse_retry_after(&self.headers);
        Err(classify_write_response(
            self.status,
            retry_after,
            &self.body,
        ))
    }

    /// The body as JSON of type `T` (after [`Answer::success`]).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        parse_json(&self.body)
    }
}

/// Sends a request and reads the whole answer, whatever its status.
pub(crate) async fn execute(
    req: RequestBuilder,
    max_body: usize,
) -> Result<Answer, ConnectorError> {
    let started = Instant::now();
    let response = req.send().await.map_err(|e| {
        let err = ConnectorError::from_reqwest(e);
        tracing::debug!(error = %err, elapsed_ms = started.elapsed().as_millis() as u64, "request failed");
        err
    })?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_capped(response, max_body).await?;
    tracing::debug!(
        status = status.as_u16(),
        bytes = body.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "response"
    );
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Sends a request and returns a 2xx answer unread, for its body to be streamed; any other answer is
/// read whole (capped at `max_body`) and classified.
pub(crate) async fn send_success(
    req: RequestBuilder,
    max_body: usize,
) -> Result<Response, ConnectorError> {
    let response = req.send().await.map_err(ConnectorError::from_reqwest)?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_capped(response, max_body).await?;
    Err(classify_response(
        status,
        parse_retry_after(&headers),
        &body,
    ))
}

/// Reads a body up to `max` bytes, decompressed (a gzip body stops being inflated as soon as it passes
/// the cap). Over the cap → `Invalid`; cut off mid-way → `Transient`.
pub(crate) async fn read_capped(
    mut response: Response,
    max: usize,
) -> Result<Vec<u8>, ConnectorError> {
    let too_large = || ConnectorError::invalid(format!("response body larger than {max} bytes"));
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(ConnectorError::from_reqwest)?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses JSON; a body that ends too early is a truncated transfer (transient), anything else that does
/// not parse or has the wrong shape is invalid.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ConnectorError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_eof() && !body.is_empty() {
            ConnectorError::transient(format!("response body ended early: {e}"))
        } else {
            ConnectorError::invalid(format!("response is not the expected JSON: {e}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::test_server::{Reply, TestServer};

    #[derive(Debug, serde::Deserialize)]
    struct Shape {
        #[allow(dead_code)]
        value: Vec<serde_json::Value>,
    }

    #[test]
    fn truncated_json_is_transient_garbage_is_invalid() {
        let kind = |b: &[u8]| parse_json::<Shape>(b).unwrap_err().kind();
        assert_eq!(kind(br#"{"value":[{"id":1},{"id""#), ErrorKind::Transient);
        assert_eq!(kind(b"<html>oops</html>"), ErrorKind::Invalid);
        assert_eq!(kind(b""), ErrorKind::Invalid);
        assert_eq!(kind(br#"{"value":{}}"#), ErrorKind::Invalid);
        assert_eq!(kind(br#"{"other":[]}"#), ErrorKind::Invalid);
        assert!(parse_json::<Shape>(br#"{"value":[]}"#).is_ok());
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn gzip_reply(compressed: &[u8]) -> Reply {
        let mut reply = Reply::with(200, "application/json", compressed.to_vec());
        reply.headers.push(("Content-Encoding", "gzip".into()));
        reply
    }

    #[tokio::test]
    async fn responses_are_asked_for_compressed_and_decompressed() {
        let json = br#"{"value":[{"id":1},{"id":2}]}"#.repeat(100);
        let compressed = gzip(&json);
        assert!(compressed.len() < json.len() / 10);
        let server = TestServer::start(move |_| gzip_reply(&compressed)).await;
        let policy = crate::SsrfPolicy::default()
            .with_http(true)
            .allow("127.0.0.1");
        for resolver in [None, Some(policy.resolver())] {
            let client = build_client(&HttpSettings::default(), resolver).unwrap();
            let answer = execute(client.get(server.base()), json.len())
                .await
                .unwrap();
            assert_eq!(
                answer.body, json,
                "decompressed, and exactly at the cap is fine"
            );
        }
        for seen in server.seen() {
            let head = seen.head.to_ascii_lowercase();
            assert!(head.contains("\r\naccept-encoding: gzip"), "{head}");
        }
    }

    #[tokio::test]
    async fn the_body_cap_counts_decompressed_bytes() {
        let cap = 1 << 20;
        let bomb = gzip(&vec![b' '; 16 * cap]);
        assert!(bomb.len() < cap / 20, "{} compressed bytes", bomb.len());
        let server = TestServer::start(move |_| gzip_reply(&bomb)).await;
        let client = build_client(&HttpSettings::default(), None).unwrap();
        let err = execute(client.get(server.base()), cap).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
        assert!(
            err.to_string().contains("larger than 1048576 bytes"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn redirects_are_never_followed() {
        let sim = bc_sim::Sim::start(bc_sim::SimConfig::default())
            .await
            .unwrap();
        let mut url = url::Url::parse(&sim.authorize_url()).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", &sim.client_id())
            .append_pair("redirect_uri", &sim.redirect_uri())
            .append_pair("response_type", "code");
        let policy = crate::SsrfPolicy::default()
            .with_http(true)
            .allow("127.0.0.1");
        for resolver in [None, Some(policy.resolver())] {
            let client = build_client(&HttpSettings::default(), resolver).unwrap();
            let answer = execute(client.get(url.clone()), 1 << 20).await.unwrap();
            assert_eq!(answer.status, StatusCode::FOUND);
            assert_eq!(answer.success().unwrap_err().kind(), ErrorKind::Invalid);
        }
    }

    #[test]
    fn clients_build_with_and_without_the_guard() {
        let settings = HttpSettings::default();
        build_client(&settings, None).unwrap();
        build_client(&settings, Some(crate::SsrfPolicy::default().resolver())).unwrap();
        let garbage = HttpSettings {
            extra_root_certificates_pem: Some("not a certificate".into()),
            ..Default::default()
        };
        let err = build_client(&garbage, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotConfigured, "{err}");
        // A self-signed test CA (certificate only; its key was discarded).
        let internal_ca = HttpSettings {
            extra_root_certificates_pem: Some(
                include_str!("../tests/fixtures/test-root-ca.pem").to_owned(),
            ),
            ..Default::default()
        };
        build_client(&internal_ca, None).unwrap();
    }
}
