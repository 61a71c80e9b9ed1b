//! Publishing a refreshed token: the `env-file` rewrite and the `on-refresh` command.
//!
//! The token goes to the command on stdin, never in argv (where `ps` shows it). A failed
//! publish never loses the token: it is already in the store, and the publish is retried at
//! the next cycle.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::atomic_file::write_atomic;
use crate::mask::redact;

/// The env-file key holding the access token.
pub const ACCESS_TOKEN_KEY: &str = "WHATSAPP_ACCESS_TOKEN";
/// Cap on the stderr kept from a failing command, for the history line.
const STDERR_KEEP_BYTES: usize = 2000;

/// Rewrites `KEY=value` lines of an env file atomically (0600): `WHATSAPP_ACCESS_TOKEN` is set
/// (and `WHATSAPP_REFRESH_TOKEN` when given); every other line is kept as it was.
pub fn write_env_file(
    path: &Path,
    access_token: &SecretString,
    long_lived_token: Option<&SecretString>,
) -> std::io::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(err),
    };
    let mut updates = vec![(ACCESS_TOKEN_KEY, access_token)];
    if let Some(token) = long_lived_token {
        updates.push(("WHATSAPP_REFRESH_TOKEN", token));
    }
    let mut out = String::new();
    let mut written = vec![false; updates.len()];
    for line in existing.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        match updates.iter().position(|(k, _)| *k == key) {
            Some(i) => {
                out.push_str(&format!(
                    "{}={}\n",
                    updates[i].0,
                    updates[i].1.expose_secret()
                ));
                written[i] = true;
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (i, (key, value)) in updates.iter().enumerate() {
        if !written[i] {
            out.push_str(&format!("{key}={}\n", value.expose_secret()));
        }
    }
    write_atomic(path, out.as_bytes())
}

/// Runs the `on-refresh` argv with the token on stdin, `TOKENTOP_ACCOUNT` and
/// `TOKENTOP_EXPIRES_AT` (unix seconds, 0 = never) in its env, within `time_limit`.
///
/// Returns a one-line reason on failure (exit status, timeout, stderr excerpt with the token
/// redacted).
pub async fn run_on_refresh(
    argv: &[String],
    account: &str,
    access_token: &SecretString,
    expires_at: Option<i64>,
    time_limit: Duration,
) -> Result<(), String> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| "on-refresh is an empty command".to_string())?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env("TOKENTOP_ACCOUNT", account)
        .env("TOKENTOP_EXPIRES_AT", expires_at.unwrap_or(0).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| format!("cannot start on-refresh command `{program}`: {err}"))?;
    let mut stdin = child.stdin.take();
    let mut stderr = child.stderr.take();
    let work = async {
        if let Some(stdin) = stdin.as_mut() {
            // A command that ignores stdin may close it early: that is not a failure.
            let _ = stdin
                .write_all(access_token.expose_secret().as_bytes())
                .await;
            let _ = stdin.write_all(b"\n").await;
        }
        drop(stdin);
        let mut err_text = Vec::new();
        if let Some(stderr) = stderr.as_mut() {
            let _ = stderr.read_to_end(&mut err_text).await;
        }
        let status = child.wait().await;
        (status, err_text)
    };
    let (status, err_text) = tokio::time::timeout(time_limit, work)
        .await
        .map_err(|_| format!("on-refresh command `{program}` timed out after {time_limit:?}"))?;
    let status = status.map_err(|err| format!("on-refresh command `{program}` failed: {err}"))?;
    if status.success() {
        return Ok(());
    }
    let excerpt = String::from_utf8_lossy(&err_text[..err_text.len().min(STDERR_KEEP_BYTES)])
        .trim()
        .to_string();
    let excerpt = redact(&excerpt, &[access_token]);
    Err(format!(
        "on-refresh command `{program}` exited with {status}: {excerpt}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_keeps_other_lines_and_replaces_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "# app\nWHATSAPP_ACCESS_TOKEN=old\nOTHER=1\n").unwrap();
        write_env_file(&path, &SecretString::from("EAAGnew"), None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# app\nWHATSAPP_ACCESS_TOKEN=EAAGnew\nOTHER=1\n"
        );
    }

    #[test]
    fn env_file_is_created_with_both_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.env");
        let ll = SecretString::from("EAAGll");
        write_env_file(&path, &SecretString::from("EAAGa"), Some(&ll)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "WHATSAPP_ACCESS_TOKEN=EAAGa\nWHATSAPP_REFRESH_TOKEN=EAAGll\n"
        );
    }

    #[tokio::test]
    async fn on_refresh_gets_token_on_stdin_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "cat > {0}; echo \"$TOKENTOP_ACCOUNT $TOKENTOP_EXPIRES_AT\" >> {0}",
            out.display()
        );
        let argv = vec!["sh".to_string(), "-c".to_string(), script];
        let token = SecretString::from("EAAGstdintoken");
        run_on_refresh(&argv, "prod", &token, Some(42), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "EAAGstdintoken\nprod 42\n"
        );
    }

    #[tokio::test]
    async fn on_refresh_failure_is_reported_with_token_redacted() {
        let argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            "read t; echo \"rejected $t\" >&2; exit 3".to_string(),
        ];
        let token = SecretString::from("EAAGsupersecrettoken1234");
        let err = run_on_refresh(&argv, "a", &token, None, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(!err.contains("supersecret"), "{err}");
        assert!(err.contains("EAAG…1234"), "{err}");
    }

    #[tokio::test]
    async fn on_refresh_times_out() {
        let argv = vec!["sleep".to_string(), "5".to_string()];
        let err = run_on_refresh(
            &argv,
            "a",
            &SecretString::from("t"),
            None,
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
        assert!(err.contains("timed out"), "{err}");
    }

    #[tokio::test]
    async fn missing_program_is_a_clear_error() {
        let argv = vec!["/nonexistent/publish-token".to_string()];
        let err = run_on_refresh(
            &argv,
            "a",
            &SecretString::from("t"),
            None,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(err.contains("cannot start"), "{err}");
    }
}
