//! Binding a listener from its config: a TCP address, or a Unix socket created 0660 (owner and
//! group), served by [`crate::listener`] (connection cap, head and idle timeouts).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, bail};
use axum::Router;

use super::Limits;
use crate::config::Listen;

/// Binds `listen` (the value of config key `key`, e.g. `[proxy] listen`), serves `app` on it in
/// the background, and returns the address clients use.
pub async fn serve(
    listen: &Listen,
    app: Router,
    limits: Limits,
    key: &'static str,
) -> anyhow::Result<String> {
    match listen {
        Listen::Tcp(addr) => {
            let listener = bind_tcp(addr, key).await?;
            let local = listener
                .local_addr()
                .context("cannot read the bound address")?;
            tokio::spawn(super::serve(listener, app, limits));
            Ok(format!("http://{local}"))
        }
        Listen::Unix(path) => {
            let listener = bind_unix(path, key)?;
            tokio::spawn(super::serve(listener, app, limits));
            Ok(format!("unix:{}", path.display()))
        }
    }
}

/// A TCP listener on `addr`; the error names the config key.
pub async fn bind_tcp(
    addr: &std::net::SocketAddr,
    key: &'static str,
) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({key})"))
}

/// A Unix socket at `path`, mode 0660, replacing a stale one; the error names the config key.
pub fn bind_unix(path: &Path, key: &'static str) -> anyhow::Result<tokio::net::UnixListener> {
    remove_stale_socket(path, key)?;
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("cannot create the socket {} ({key})", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("cannot set mode 0660 on {}", path.display()))?;
    Ok(listener)
}

/// A socket left by a previous run is removed; a socket something still answers on (another
/// tokentop, or any other process) and anything that is not a socket are kept and refused.
fn remove_stale_socket(path: &Path, key: &'static str) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot look at {}", path.display())),
        // A blocking connect to a Unix socket answers at once: accepted (live) or refused.
        Ok(meta) if meta.file_type().is_socket() && UnixStream::connect(path).is_ok() => bail!(
            "{} is a live socket: another process answers on it; stop it or choose another path for {key} = \"unix:PATH\" (it is left as it is)",
            path.display()
        ),
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the old socket {}", path.display())),
        Ok(_) => bail!(
            "{} exists and is not a socket: {key} = \"unix:PATH\" needs a free path (it is left as it is)",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "[proxy] listen";

    #[test]
    fn a_live_socket_is_refused_and_a_stale_one_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.sock");
        let live = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let err = remove_stale_socket(&path, KEY).unwrap_err().to_string();
        assert!(err.contains("is a live socket"), "{err}");
        assert!(path.exists());
        drop(live);
        // Nothing answers any more: the socket file is a leftover.
        remove_stale_socket(&path, KEY).unwrap();
        assert!(!path.exists());
        std::fs::write(&path, "not a socket").unwrap();
        let err = remove_stale_socket(&path, KEY).unwrap_err().to_string();
        assert!(err.contains("is not a socket"), "{err}");
    }
}
