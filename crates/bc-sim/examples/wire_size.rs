//! Bytes on the wire per 1,000 invoices (5 lines each), plain and gzipped, against an in-process
//! simulator (1 company, 1,000 invoices × 5 lines):
//!
//! ```sh
//! cargo run -q -p bc-sim --example wire_size            # debug build is fine; add --release for timings
//! ```
#![forbid(unsafe_code)]

use std::io::Read;
use std::time::Instant;

use bc_sim::{Sim, SimConfig};

async fn fetch(url: &str, tok: &str, gzip: bool) -> anyhow::Result<(usize, usize, f64)> {
    // reqwest is built without its gzip feature here: `bytes()` is what crossed the wire.
    let mut req = reqwest::Client::new().get(url).bearer_auth(tok);
    if gzip {
        req = req.header("Accept-Encoding", "gzip");
    }
    let t = Instant::now();
    let r = req.send().await?.error_for_status()?;
    let zipped = r.headers().get("content-encoding").is_some();
    let wire = r.bytes().await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let json_len = if zipped {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&wire[..]).read_to_end(&mut out)?;
        out.len()
    } else {
        wire.len()
    };
    Ok((wire.len(), json_len, ms))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cfg = SimConfig::default();
    cfg.data.companies = 1;
    cfg.data.customers = 200;
    cfg.data.invoices = 1000;
    cfg.data.lines_per_invoice = 5;
    cfg.data.credit_memos = 0;
    cfg.limits.enabled = false;
    cfg.onprem = None;
    let sim = Sim::start(cfg).await?;
    let tok: serde_json::Value = reqwest::Client::new()
        .post(sim.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &sim.client_id()),
            ("client_secret", &sim.client_secret()),
            ("scope", "https://api.businesscentral.dynamics.com/.default"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let tok = tok["access_token"].as_str().unwrap_or_default().to_string();
    let co = format!("{}/companies({})", sim.api_base(), sim.company_ids()[0]);
    println!("1,000 invoices × 5 lines, one page each:");
    for (what, q) in [
        (
            "salesInvoices?$expand=salesInvoiceLines",
            "?$expand=salesInvoiceLines",
        ),
        ("salesInvoices (headers only)", ""),
    ] {
        let url = format!("{co}/salesInvoices{q}");
        let (plain, _, t_plain) = fetch(&url, &tok, false).await?;
        let (zipped, json, t_zip) = fetch(&url, &tok, true).await?;
        assert_eq!(json, plain, "the gzipped body decodes to the same JSON");
        println!(
            "  {what}: plain {plain} B ({:.1} KiB), gzip {zipped} B ({:.1} KiB) → {:.1}× smaller; {t_plain:.0} ms vs {t_zip:.0} ms",
            plain as f64 / 1024.0,
            zipped as f64 / 1024.0,
            plain as f64 / zipped as f64
        );
    }
    sim.shutdown().await;
    Ok(())
}
