//! `ledgerlink --help` and every subcommand's help say what it does and show an example.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ledgerlink"))
        .env_clear()
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?} --help");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_command_explains_itself_with_an_example() {
    let top = help(&[]);
    assert!(top.contains("receivables"), "{top}");
    for command in [
        &["serve"][..],
        &["migrate"],
        &["openapi"],
        &["api-keys"],
        &["api-keys", "create"],
        &["api-keys", "list"],
        &["api-keys", "revoke"],
        &["api-keys", "rotate"],
    ] {
        let text = help(command);
        assert!(
            text.contains("Example"),
            "{command:?} shows an example:\n{text}"
        );
        let invocation = format!("ledgerlink {}", command.join(" "));
        assert!(
            text.contains(&invocation),
            "{command:?} example runs it:\n{text}"
        );
        let summary = text.lines().next().unwrap_or_default();
        assert!(
            summary.split_whitespace().count() >= 4,
            "{command:?} says what it does: {summary}"
        );
        let listed = command.last().unwrap();
        let parent = help(&command[..command.len() - 1]);
        assert!(
            parent.contains(listed),
            "{listed} is listed in its parent's help"
        );
    }
    assert!(top.contains("Example"), "{top}");
}
