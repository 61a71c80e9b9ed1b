//! `tokentop completions SHELL` and `tokentop man`, run as the real binary: every shell gets a
//! script naming the subcommands, bash's loads, and the manual renders without a warning and
//! lists every subcommand, config key and exit code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::process::{Command, Stdio};

use clap::CommandFactory;
use support::cli::{all_text, tokentop};
use tokentop::cli::Cli;

const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "elvish", "powershell"];

/// The names of the top command's subcommands and of theirs (`config check`, ...).
fn subcommand_names() -> Vec<String> {
    let top = Cli::command();
    let mut names = Vec::new();
    for sub in top.get_subcommands() {
        names.push(sub.get_name().to_string());
        names.extend(sub.get_subcommands().map(|s| s.get_name().to_string()));
    }
    names
}

/// Runs `tokentop ARGS`, asserting success and a quiet stderr; returns stdout.
async fn stdout_of(args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let output = tokentop(home.path(), args, &[]).await;
    assert!(output.status.success(), "{}", all_text(&output));
    assert!(output.stderr.is_empty(), "{}", all_text(&output));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn every_shell_gets_a_script_naming_the_subcommands() {
    for shell in SHELLS {
        let script = stdout_of(&["completions", shell]).await;
        assert!(!script.trim().is_empty(), "{shell}: empty script");
        for name in subcommand_names() {
            assert!(script.contains(&name), "{shell}: {name} missing");
        }
    }
}

#[tokio::test]
async fn the_bash_script_loads_in_bash() {
    let output = Command::new("bash")
        .args([
            "-c",
            r#"source <("$TOKENTOP" completions bash) && complete -p tokentop"#,
        ])
        .env("TOKENTOP", env!("CARGO_BIN_EXE_tokentop"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(stdout.contains("tokentop"), "{stdout}");
}

#[tokio::test]
async fn an_unknown_shell_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let output = tokentop(home.path(), &["completions", "tcsh"], &[]).await;
    assert_eq!(output.status.code(), Some(2), "{}", all_text(&output));
    assert!(output.stdout.is_empty(), "{}", all_text(&output));
}

/// Fails (never skips) when the renderer is absent: scripts/test installs it.
fn require(command: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {command}")])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(
        found,
        "`{command}` is missing (Debian package {package}): run scripts/test, which installs it"
    );
}

#[tokio::test]
async fn the_man_page_renders_without_warnings() {
    require("man", "man-db");
    require("groff", "groff-base");
    let page = stdout_of(&["man"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokentop.1");
    std::fs::write(&path, &page).unwrap();
    let output = Command::new("man")
        .args(["-l", "--warnings=w"])
        .arg(&path)
        .env("MANWIDTH", "80")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "man -l failed: {stderr}");
    assert_eq!(stderr, "", "man -l warned");
    let rendered = String::from_utf8_lossy(&output.stdout);
    assert!(rendered.contains("EXIT STATUS"), "{rendered}");
}

/// The page's source with roff's escaped hyphens (`\-`) as typed.
async fn man_source() -> String {
    stdout_of(&["man"]).await.replace("\\-", "-")
}

#[tokio::test]
async fn the_man_page_names_every_subcommand_and_exit_code() {
    let page = man_source().await;
    for sub in Cli::command().get_subcommands() {
        let heading = format!(".SS \"tokentop {}\"", sub.get_name());
        let heading_bare = format!(".SS tokentop {}", sub.get_name());
        assert!(
            page.contains(&heading) || page.contains(&heading_bare),
            "no subsection for {}",
            sub.get_name()
        );
    }
    for name in subcommand_names() {
        assert!(page.contains(&name), "{name} missing");
    }
    for codes in [
        "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
        "0 ok, 1 failed",
        "0 ok, 1 invalid",
        "0 when every step passed, 1 when a step failed",
    ] {
        assert!(page.contains(codes), "exit codes {codes:?} missing");
    }
}

#[tokio::test]
async fn the_man_page_lists_every_config_key_under_its_table() {
    let page = man_source().await;
    let section = page
        .split(".SH \"CONFIGURATION KEYS\"")
        .nth(1)
        .expect("a CONFIGURATION KEYS section");
    let section = section.split("\n.SH").next().unwrap();
    let lines: Vec<&str> = section.lines().collect();
    for (table, key) in tokentop::config::known_keys() {
        let term = format!("\\fB{table}\\fR");
        let at = lines
            .iter()
            .position(|line| *line == term)
            .unwrap_or_else(|| panic!("table {table} missing:\n{section}"));
        let keys: Vec<&str> = lines[at + 1].split(", ").collect();
        assert!(keys.contains(&key), "{table}.{key} missing: {keys:?}");
    }
}

#[test]
fn a_closed_stdout_ends_both_quietly() {
    for args in [&["man"][..], &["completions", "bash"][..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(env!("CARGO_BIN_EXE_tokentop"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}
