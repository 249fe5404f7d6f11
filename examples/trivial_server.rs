//! The baseline for `scripts/bench-api`: the smallest axum server, answering a fixed JSON body, on the
//! same runtime settings as ledgerlink. Usage: `trivial_server 127.0.0.1:18081`.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    let app = Router::new().route(
        "/",
        get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
