//! How the service's allocator (mimalloc, declared in `main.rs`) is set up. mimalloc reads its
//! options from the environment when the process starts, before `main`; so a process started
//! without them runs itself again, in place (`exec`: same process id, arguments and streams), with
//! them set. An operator's own `MIMALLOC_*` values are kept.
//!
//! The settings hand memory a sync no longer uses back to the system within a millisecond, and
//! commit arena memory as it is used rather than all at once: during a 100,000-invoice sync peak
//! RSS falls from ~120 MiB to ~77 MiB for ~4 % more CPU (BENCHMARKS.md, issue #12).

/// The settings, unless the environment already sets them.
const SETTINGS: [(&str, &str); 2] = [
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
    ("MIMALLOC_PURGE_DELAY", "1"),
];

/// Runs this program again with the allocator settings when the environment lacks them; returns
/// (and the process goes on as it is) when they are set or the program cannot be run again.
pub fn apply_settings() {
    use std::os::unix::process::CommandExt as _;
    let missing: Vec<_> = SETTINGS
        .iter()
        .filter(|(name, _)| std::env::var_os(name).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(program) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(program);
    if let Some(arg0) = args.next() {
        command.arg0(arg0);
    }
    command.args(args);
    for (name, value) in missing {
        command.env(name, value);
    }
    // Returns only when it could not run the program (it was replaced or removed meanwhile).
    let error = command.exec();
    eprintln!("ledgerlink: running with the allocator's default settings ({error})");
}
