//! Prometheus metrics: request counts and latency by route, and store statements.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("ledgerlink");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
        });
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by method and route",
            latency.clone(),
        );
        Arc::new(Metrics {
            registry,
            requests,
            latency,
        })
    }

    /// The Prometheus text exposition, with the store's statement count appended.
    pub fn render(&self, store_queries: u64, records_skipped: &[(String, u64)]) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        out.push_str(
            "# HELP ledgerlink_store_queries Statements executed by the store.\n\
             # TYPE ledgerlink_store_queries counter\n",
        );
        out.push_str(&format!("ledgerlink_store_queries_total {store_queries}\n"));
        // Labelled by model: a fixed set of catalog names, never user input.
        out.push_str(
            "# HELP ledgerlink_records_skipped Records an ERP sent that could not be mapped \
             (skipped, listed on their sync, re-read at the next one).\n\
             # TYPE ledgerlink_records_skipped counter\n",
        );
        for (model, n) in records_skipped {
            out.push_str(&format!(
                "ledgerlink_records_skipped_total{{model=\"{model}\"}} {n}\n"
            ));
        }
        out.push_str("# EOF\n");
        out
    }
}

/// The `method` label: one of the standard methods, or `other` for anything a client invents (every
/// distinct label value is a new series kept for the life of the process).
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD
        .iter()
        .find(|m| *m == method)
        .map_or("other", Method::as_str)
}

/// Records every request's route, status and latency.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method()).to_owned();
    // Route templates only (never raw paths, which carry ids and whatever a client invents).
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(req).await;
    let labels = RouteLabels { method, route };
    state
        .metrics
        .latency
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method: labels.method,
            route: labels.route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for invented in ["M1", "M2", "get", "PURGE"] {
            let m = Method::from_bytes(invented.as_bytes()).unwrap();
            assert_eq!(method_label(&m), "other", "{invented}");
        }
    }
}
