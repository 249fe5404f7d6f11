//! What the benchmark examples share (each includes this file with `mod common;`).

/// The value after `name` on the command line (`--page-size 1000` → `Some("1000")`).
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}
