//! Trains the zstd dictionaries records are packed with (`crates/store/src/dict/`), from the records
//! of a ledgerlink SQLite database: one dictionary for `raw` (Business Central's JSON), one for
//! `data` (ledgerlink's unified JSON). `scripts/train-dict` fills a database from bc-sim and runs this.
//!
//! A dictionary, once released, is kept forever (stored frames name it by its id); a retrained one
//! is added beside it, never in its place.
//!
//! Usage: train_dict --db FILE --out DIR [--size BYTES=16384] [--per-model N=2000]

use std::collections::BTreeMap;

use sqlx::Row;

mod common;
use common::arg;

/// A model's samples: its records' `data` texts and their `raw` texts.
type Samples = (Vec<Vec<u8>>, Vec<Vec<u8>>);

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let db = arg("--db").expect("--db FILE");
    let out = std::path::PathBuf::from(arg("--out").expect("--out DIR"));
    let size: usize = arg("--size").map_or(16 * 1024, |s| s.parse().unwrap());
    let per_model: usize = arg("--per-model").map_or(2000, |s| s.parse().unwrap());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{db}?mode=ro")).await?;
    let rows = sqlx::query("SELECT model, data, raw FROM records ORDER BY model, seq")
        .fetch_all(&pool)
        .await?;
    // Up to `per_model` samples of each model, so that the many invoices do not crowd out the rest.
    let mut by_model: BTreeMap<String, Samples> = BTreeMap::new();
    for row in rows {
        let model: String = row.get("model");
        let (data, raw) = by_model.entry(model.clone()).or_default();
        if data.len() >= per_model {
            continue;
        }
        let what = format!("a {model} record");
        let unpack = |column: &str| {
            ledgerlink_store::packed::unpack(row.get::<Vec<u8>, _>(column), &what)
                .map(String::into_bytes)
        };
        data.push(unpack("data")?);
        raw.push(unpack("raw")?);
    }
    std::fs::create_dir_all(&out)?;
    for (name, pick) in [("data", 0), ("raw", 1)] {
        let samples: Vec<&Vec<u8>> = by_model
            .values()
            .flat_map(|(d, r)| if pick == 0 { d } else { r })
            .collect();
        let dict = zstd::dict::from_samples(&samples, size)?;
        let id = zstd::zstd_safe::get_dict_id(&dict).map_or(0, |id| id.get());
        let path = out.join(format!("{name}.dict"));
        std::fs::write(&path, &dict)?;
        let counts: Vec<String> = by_model
            .iter()
            .map(|(m, (d, _))| format!("{m}={}", d.len()))
            .collect();
        println!(
            "{}: {} bytes, id {id}, from {} samples ({})",
            path.display(),
            dict.len(),
            samples.len(),
            counts.join(" ")
        );
    }
    Ok(())
}
