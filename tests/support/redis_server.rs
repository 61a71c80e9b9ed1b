//! A real `redis-server` on a free loopback port for the cluster tests: no persistence, its
//! own directory, stopped when dropped. `scripts/test` installs Debian's `redis-server`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// See the module docs.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts `redis-server` with `extra` arguments (e.g. ACL users); waits until it answers.
    pub fn start(extra: &[&str]) -> RedisServer {
        let port = super::cli::free_port();
        let mut server = RedisServer {
            port,
            child: None,
            dir: tempfile::tempdir().unwrap(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.resume();
        server
    }

    /// `redis://127.0.0.1:PORT` (with `user:password@` when given).
    pub fn url(&self, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => format!("redis://{user}:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Stops the server (everything in it is lost: there is no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn resume(&mut self) {
        let binary = which("redis-server").unwrap_or_else(|| {
            panic!(
                "redis-server is not installed: run scripts/test (it installs Debian's redis-server), \
                 or `apt-get install redis-server`"
            )
        });
        let child = Command::new(binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not listen on port {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A plain client connection for looking at what tokentop stored.
    pub async fn client(
        &self,
        credentials: Option<(&str, &str)>,
    ) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url(credentials))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
