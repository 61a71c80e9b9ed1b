#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `tokentop config check|path|init` through the real binary, with a clean environment.

use std::path::Path;
use std::process::{Command, Output};

const TOKEN: &str = "EAAGclitokenclitokenclitokenx9Qf";

/// The binary with only PATH and HOME (a temp dir), so the developer's env never leaks in.
fn tokentop(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokentop"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn config_check_accepts_a_valid_file_and_lists_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let text = "[[account]]\nname = \"prod\"\napp-id = \"1234\"\naccess-token = { env = \"PROD_TOKEN\" }\n";
    std::fs::write(&config, text).unwrap();
    let output = tokentop(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            "/data/tt",
            "config",
            "check",
        ],
        &[("PROD_TOKEN", TOKEN)],
    );
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{out}{}", stderr(&output));
    assert!(
        out.contains(&format!("config: {}", config.display())),
        "{out}"
    );
    assert!(out.contains("data: /data/tt"), "{out}");
    assert!(
        out.contains("account prod: app-id 1234, access-token EAAG…x9Qf"),
        "{out}"
    );
    assert!(out.contains("missing: app-secret"), "{out}");
    assert!(!out.contains(TOKEN));
}

#[test]
fn config_check_reports_every_issue_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let text = "[refresh]\ncheck-interval = \"5x\"\n\n[ui]\ntheme = \"pink\"\nspeed = 3\n";
    std::fs::write(&config, text).unwrap();
    let output = tokentop(
        dir.path(),
        &["--config", config.to_str().unwrap(), "config", "check"],
        &[],
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains(":2: refresh.check-interval = \"5x\""), "{err}");
    assert!(err.contains(":5: ui.theme = \"pink\""), "{err}");
    assert!(err.contains(":6: ui.speed: unknown key in [ui]"), "{err}");
    assert!(err.contains("3 problems"), "{err}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn config_check_without_any_file_uses_defaults() {
    let home = tempfile::tempdir().unwrap();
    let output = tokentop(home.path(), &["config", "check"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("config: none"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn config_path_prints_config_and_data_locations() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let data = dir.path().join("d");
    let args = ["--config", config.to_str().unwrap(), "config", "path"];
    let env = [("TOKENTOP_DATA_DIR", data.to_str().unwrap())];
    let output = tokentop(dir.path(), &args, &env);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        format!(
            "config: {} (not found)\ndata: {}\n",
            config.display(),
            data.display()
        )
    );
    std::fs::write(&config, "").unwrap();
    let output = tokentop(dir.path(), &args, &env);
    assert!(stdout(&output).contains("(exists)"), "{}", stdout(&output));
}

#[test]
fn config_init_writes_a_private_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nested/dir/config.toml");
    let args = ["--config", config.to_str().unwrap(), "config", "init"];
    let output = tokentop(dir.path(), &args, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        tokentop::config::EXAMPLE_CONFIG
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    std::fs::write(&config, "# mine\n").unwrap();
    let output = tokentop(dir.path(), &args, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("already exists") && err.contains(config.to_str().unwrap()),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "# mine\n");
}
