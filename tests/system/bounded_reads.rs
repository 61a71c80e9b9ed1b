#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Issue 8 item 12: every read from outside is capped. A config or secret file that is a FIFO
//! or a device is refused at once with a message naming it, never read until memory runs out
//! or waited on forever.

use crate::support;

use std::path::Path;

use support::cli::{all_text, tokentop};

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `tokentop --config CONFIG config check`, which must refuse it (exit 1): all its output.
async fn refused_config_check(home: &Path, config: &Path) -> String {
    let args = ["--config", config.to_str().unwrap(), "config", "check"];
    let output = tokentop(home, &args, &[]).await;
    let text = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    text
}

#[tokio::test]
async fn a_config_that_is_a_fifo_or_a_device_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("config.fifo");
    mkfifo(&fifo);
    for (path, kind) in [
        (fifo.as_path(), "a FIFO (named pipe)"),
        (Path::new("/dev/zero"), "a character device"),
    ] {
        let text = refused_config_check(dir.path(), path).await;
        assert!(
            text.contains(&format!("it is {kind}, not a regular file")),
            "{text}"
        );
        assert!(text.contains("regular TOML file"), "{text}");
    }
}

#[tokio::test]
async fn a_secret_file_that_is_a_fifo_or_a_device_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("secret.fifo");
    mkfifo(&fifo);
    let config = dir.path().join("config.toml");
    let text = format!(
        "[[account]]\nname = \"prod\"\napp-id = \"1234\"\n\
         app-secret = {{ file = \"{}\" }}\naccess-token = {{ file = \"/dev/zero\" }}\n",
        fifo.display()
    );
    std::fs::write(&config, text).unwrap();
    let text = refused_config_check(dir.path(), &config).await;
    assert!(
        text.contains("a FIFO (named pipe), not a regular file"),
        "{text}"
    );
    assert!(
        text.contains("a character device, not a regular file"),
        "{text}"
    );
}

#[tokio::test]
async fn an_oversized_config_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let file = std::fs::File::create(&config).unwrap();
    // Sparse: 17 MiB of size on disk costs nothing.
    file.set_len(17 * 1024 * 1024).unwrap();
    let text = refused_config_check(dir.path(), &config).await;
    assert!(text.contains("larger than 16777216 bytes"), "{text}");
}
