//! The `bc-sim` binary documents its flags and serves on `--listen`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn help_documents_the_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_bc-sim"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--seed",
        "--invoices",
        "--lines-per-invoice",
        "--no-limits",
        "--requests-per-window",
        "--max-concurrent",
        "--fault-5xx",
        "--fault-drop",
        "--fault-truncate",
        "--fault-forbidden",
        "--no-extension",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn binary_serves_and_prints_info() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bc-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--invoices",
            "5",
            "--companies",
            "1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut json = String::new();
    while r.read_line(&mut line).unwrap() > 0 {
        json.push_str(&line);
        if line.starts_with('}') {
            break;
        }
        line.clear();
    }
    child.kill().unwrap();
    let _ = child.wait();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        v["baseUrl"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(v["environments"][0]["companies"][0]["salesInvoices"], 5);
}
