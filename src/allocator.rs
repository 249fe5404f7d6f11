//! How the service's allocator (mimalloc, declared in `main.rs`) is set up. mimalloc reads its
//! options from the environment when the process starts, before `main`; so a process started
//! without them runs itself again, in place (`exec`: same process id, arguments and streams), with
//! them set. An operator's own `MIMALLOC_*` values are kept.
//!
//! The settings hand memory a sync no longer uses back to the system within a second, and commit
//! arena memory as it is used rather than all at once: during a 100,000-invoice sync peak RSS falls
//! from ~120 MiB to ~60 MiB, at any page size (BENCHMARKS.md, issue #12). Shorter delays keep about
//! the same peak but hand back memory the next page faults in again: at 10 ms a 100,000-invoice
//! sync took ~316,000 page faults (~7 % of its CPU), at 1 s ~43,000; never handing memory back
//! (~21,000) raised the peak to ~78 MiB.

/// The settings, unless the environment already sets them.
const SETTINGS: [(&str, &str); 2] = [
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
    ("MIMALLOC_PURGE_DELAY", "1000"),
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
    let mut args = std::env::args_os();
    let Some(arg0) = args.next() else {
        return;
    };
    // Only when the program is this executable: under a loader (`ld.so ledgerlink …`) or a tool
    // (valgrind, qemu-user) the running executable is that tool, and the process stays as it is.
    let Some(program) = std::env::current_exe()
        .ok()
        .filter(|exe| names_this_executable(&arg0, exe))
    else {
        eprintln!("ledgerlink: running with the allocator's default settings");
        return;
    };
    let mut command = std::process::Command::new(program);
    command.arg0(arg0).args(args);
    for (name, value) in missing {
        command.env(name, value);
    }
    // Returns only when it could not run the program (it was replaced or removed meanwhile).
    let error = command.exec();
    eprintln!("ledgerlink: running with the allocator's default settings ({error})");
}

/// Whether `arg0`, looked up as a shell does (a path, or a name along `PATH`), is `exe`.
fn names_this_executable(arg0: &std::ffi::OsStr, exe: &std::path::Path) -> bool {
    let same = |candidate: &std::path::Path| {
        let (Ok(a), Ok(b)) = (candidate.canonicalize(), exe.canonicalize()) else {
            return false;
        };
        a == b
    };
    let arg0 = std::path::Path::new(arg0);
    if arg0.components().count() > 1 {
        return same(arg0);
    }
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(arg0))
            .find(|candidate| candidate.is_file())
            .is_some_and(|candidate| same(&candidate))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_program_named_for_this_executable_is_run_again() {
        let exe = std::env::current_exe().unwrap();
        assert!(names_this_executable(exe.as_os_str(), &exe));
        assert!(!names_this_executable("/bin/sh".as_ref(), &exe));
        assert!(!names_this_executable(
            "no-such-program-here".as_ref(),
            &exe
        ));
        // A name found along PATH is that file (`sh` is never this test binary).
        assert!(!names_this_executable("sh".as_ref(), &exe));
    }
}
