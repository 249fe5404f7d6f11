//! Change-feed benchmark (see `scripts/bench-feed`).
//!
//! `bench_feed fill [--plain] --db FILE --connection ID --records N` writes N invoice records (unified data
//! with 5 lines and dimensions, and a BC-shaped raw payload) into the feed of an existing
//! connection of a migrated SQLite database, straight into `records` the way a sync's page writer
//! stores them (positions 1..=N), in large transactions: filling through syncs would take longer
//! than the benchmark itself.
//!
//! `bench_feed drain --url URL --key KEY --connection ID [--limit 1000] [--pid PID]` reads the
//! feed from the start to its end over HTTP with the largest page, and prints records/s, page
//! latencies and, with `--pid`, the server's CPU time for the drain.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, TimeZone, Utc};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};

mod common;
use common::arg;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("fill") => fill().await,
        Some("drain") => drain().await,
        _ => anyhow::bail!("usage: bench_feed fill … | bench_feed drain … (see the source)"),
    }
}

/// The unified invoice and the raw payload of record `i`.
fn record(i: u64) -> (String, String) {
    let lines: Vec<_> = (1..=5)
        .map(|n| {
            json!({
                "remote_id": format!("{i:08x}-{n:04x}-4000-8000-000000000000"),
                "line_number": n * 10000,
                "item_number": format!("ITEM-{:05}", (i * 7 + n) % 50000),
                "description": format!("Bicycle part {n} for order {i}"),
                "quantity": "3",
                "unit_price": "129.95",
                "discount_amount": "0",
                "tax_percent": "25",
                "amount_excluding_tax": "389.85",
                "tax_amount": "97.46",
                "amount_including_tax": "487.31",
                "dimensions": [{"code": "DEPARTMENT", "value": "SALES"}, {"code": "AREA", "value": "30"}]
            })
        })
        .collect();
    let data = json!({
        "number": format!("S-INV{:07}", 100000 + i),
        "external_document_number": "",
        "status": "open",
        "customer_remote_id": format!("{:08x}-0000-4000-8000-c00000000000", i % 2000),
        "customer_number": format!("C{:05}", i % 2000),
        "customer_name": "Adatum Corporation",
        "bill_to_customer_remote_id": format!("{:08x}-0000-4000-8000-c00000000000", i % 2000),
        "bill_to": {"name": "Adatum Corporation", "address_line1": "192 Market Square", "city": "Atlanta", "postal_code": "31772", "country": "US"},
        "issue_date": "2026-10-01",
        "posting_date": "2026-10-01",
        "due_date": "2026-10-31",
        "promised_pay_date": null,
        "currency": "USD",
        "prices_include_tax": false,
        "subtotal": "1949.25",
        "discount_amount": "0",
        "tax_amount": "487.30",
        "total_amount": "2436.55",
        "amount_due": "2436.55",
        "amount_paid": "0",
        "purchase_order_reference": null,
        "payment_terms_id": "1f6a3b2e-0000-4000-8000-000000000001",
        "salesperson": "JO",
        "dispute_status": null,
        "lines": lines,
        "dimensions": [{"code": "DEPARTMENT", "value": "SALES"}]
    });
    let raw = json!({
        "id": format!("{i:08x}-0000-4000-8000-000000000000"),
        "number": format!("S-INV{:07}", 100000 + i),
        "invoiceDate": "2026-10-01",
        "postingDate": "2026-10-01",
        "dueDate": "2026-10-31",
        "customerId": format!("{:08x}-0000-4000-8000-c00000000000", i % 2000),
        "customerNumber": format!("C{:05}", i % 2000),
        "customerName": "Adatum Corporation",
        "currencyCode": "USD",
        "status": "Open",
        "totalAmountExcludingTax": 1949.25,
        "totalTaxAmount": 487.3,
        "totalAmountIncludingTax": 2436.55,
        "remainingAmount": 2436.55,
        "lastModifiedDateTime": "2026-10-01T08:00:00Z",
        "salesInvoiceLines": (1..=5).map(|n| json!({
            "id": format!("{i:08x}-{n:04x}-4000-8000-000000000000"),
            "sequence": n * 10000,
            "lineType": "Item",
            "description": format!("Bicycle part {n} for order {i}"),
            "quantity": 3,
            "unitPrice": 129.95,
            "amountExcludingTax": 389.85,
            "taxPercent": 25,
            "totalTaxAmount": 97.46,
            "amountIncludingTax": 487.31
        })).collect::<Vec<_>>()
    });
    (data.to_string(), raw.to_string())
}

async fn fill() -> anyhow::Result<()> {
    let db = arg("--db").expect("--db FILE");
    let connection = arg("--connection").expect("--connection ID");
    let n: u64 = arg("--records").map_or(1_000_000, |v| v.parse().unwrap());
    // `--plain`: JSON text as builds before packing wrote it; by default as a sync writes it now.
    let plain = std::env::args().any(|a| a == "--plain");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{db}")).await?;
    sqlx::query("PRAGMA synchronous = OFF")
        .execute(&mut conn)
        .await?;
    let started = Instant::now();
    let t0 = Utc.with_ymd_and_hms(2026, 10, 1, 8, 0, 0).unwrap();
    const ROWS: u64 = 500;
    const PER_TX: u64 = 50_000;
    let mut i = 1;
    while i <= n {
        let mut tx = conn.begin().await?;
        let tx_end = (i + PER_TX).min(n + 1);
        while i < tx_end {
            let end = (i + ROWS).min(tx_end);
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO records (id, connection_id, model, remote_id, seq, data, raw, hash, \
                 is_deleted, remote_modified_at, seen_sync_id, modified_at) ",
            );
            q.push_values(i..end, |mut row, k| {
                let (data, raw) = record(k);
                let at = (t0 + chrono::Duration::seconds(k as i64))
                    .to_rfc3339_opts(SecondsFormat::AutoSi, false);
                row.push_bind(format!("rec_{k:026}"))
                    .push_bind(connection.clone())
                    .push_bind("invoices")
                    .push_bind(format!("{k:08x}-0000-4000-8000-000000000000"))
                    .push_bind(k as i64);
                if plain {
                    row.push_bind(data).push_bind(raw);
                } else {
                    use ledgerlink_store::packed::{Column, pack};
                    row.push_bind(pack(&data, Column::Data))
                        .push_bind(pack(&raw, Column::Raw));
                }
                row.push_bind(format!("{k:064x}"))
                    .push_bind(false)
                    .push_bind(at.clone())
                    .push_bind(None::<String>)
                    .push_bind(at);
            });
            q.build().execute(&mut *tx).await?;
            i = end;
        }
        sqlx::query("UPDATE connections SET record_seq = $1 WHERE id = $2")
            .bind((i - 1) as i64)
            .bind(&connection)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    let (data, raw) = record(1);
    println!(
        "filled {n} invoice records in {:.1} s (data {} B, raw {} B each)",
        started.elapsed().as_secs_f64(),
        data.len(),
        raw.len()
    );
    Ok(())
}

#[derive(Deserialize)]
struct Page {
    data: Vec<IgnoredAny>,
    next_cursor: Option<String>,
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

async fn drain() -> anyhow::Result<()> {
    let url = arg("--url").expect("--url");
    let key = arg("--key").expect("--key");
    let connection = arg("--connection").expect("--connection");
    let limit = arg("--limit").unwrap_or_else(|| "1000".into());
    let pid = arg("--pid");
    let raw = arg("--include-raw").is_some_and(|v| v == "true");
    let client = reqwest::Client::new();
    let cpu0 = pid.as_deref().map(cpu_secs);
    let started = Instant::now();
    let (mut cursor, mut records, mut bytes) = (None::<String>, 0u64, 0u64);
    let mut latencies: Vec<Duration> = Vec::new();
    loop {
        let mut req = format!(
            "{url}/v2/integrations/connections/{connection}/records/invoices?limit={limit}"
        );
        if raw {
            req.push_str("&include_raw=true");
        }
        if let Some(c) = &cursor {
            req.push_str(&format!("&cursor={c}"));
        }
        let t = Instant::now();
        let body = client
            .get(&req)
            .bearer_auth(&key)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        latencies.push(t.elapsed());
        bytes += body.len() as u64;
        let page: Page = serde_json::from_slice(&body)?;
        if page.data.is_empty() {
            break;
        }
        records += page.data.len() as u64;
        cursor = page.next_cursor;
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let mut line = format!(
        "{records} records in {secs:.2} s: {:.0} records/s, {:.0} MiB/s, {} pages, page median {:.1} ms, max {:.1} ms",
        records as f64 / secs,
        bytes as f64 / secs / 1048576.0,
        latencies.len(),
        median.as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    if let (Some(pid), Some(cpu0)) = (pid, cpu0) {
        let cpu = cpu_secs(&pid) - cpu0;
        line.push_str(&format!(
            "; server CPU {cpu:.2} s ({:.0} % of wall, {:.1} µs per record)",
            100.0 * cpu / secs,
            cpu * 1e6 / records.max(1) as f64
        ));
    }
    println!("{line}");
    Ok(())
}
