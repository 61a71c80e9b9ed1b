//! The `sd_notify(3)` protocol by hand: one datagram per message to `$NOTIFY_SOCKET`, a file
//! system path or, when it starts with '@', a Linux abstract socket. `$WATCHDOG_USEC` (and
//! `$WATCHDOG_PID`, when set, naming this process) turns the watchdog on.
//!
//! Notifying is best effort: systemd not listening must never stop the daemon, so a failure
//! is logged at debug level and forgotten.

use std::time::Duration;

use crate::config::EnvSnapshot;

/// The socket systemd listens on, when the service manager gave one.
pub struct Notifier {
    #[cfg(unix)]
    socket: std::os::unix::net::UnixDatagram,
    #[cfg(unix)]
    address: std::os::unix::net::SocketAddr,
}

impl Notifier {
    /// The notifier of `$NOTIFY_SOCKET`, or `None` when it is unset or unusable (why is
    /// logged at debug level).
    pub fn from_env(env: &EnvSnapshot) -> Option<Self> {
        let path = env.get("NOTIFY_SOCKET")?;
        match Self::open(path) {
            Ok(notifier) => Some(notifier),
            Err(err) => {
                tracing::debug!("NOTIFY_SOCKET={path} cannot be used: {err}");
                None
            }
        }
    }

    #[cfg(unix)]
    fn open(path: &str) -> std::io::Result<Self> {
        let socket = std::os::unix::net::UnixDatagram::unbound()?;
        // A full receive queue must not stall the runtime thread: the message is dropped.
        socket.set_nonblocking(true)?;
        Ok(Self {
            socket,
            address: socket_address(path)?,
        })
    }

    #[cfg(not(unix))]
    fn open(_path: &str) -> std::io::Result<Self> {
        Err(std::io::Error::other("no Unix sockets on this platform"))
    }

    /// Sends `message` ("READY=1", "STATUS=...", newline-separated assignments).
    pub fn send(&self, message: &str) {
        #[cfg(unix)]
        if let Err(err) = self.socket.send_to_addr(message.as_bytes(), &self.address) {
            tracing::debug!("sd_notify {message:?} not sent: {err}");
        }
        #[cfg(not(unix))]
        let _ = message;
    }
}

/// `@name` is the abstract socket `name`; anything else a path.
#[cfg(unix)]
fn socket_address(path: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    if let Some(name) = path.strip_prefix('@') {
        abstract_address(name)
    } else {
        std::os::unix::net::SocketAddr::from_pathname(path)
    }
}

#[cfg(target_os = "linux")]
fn abstract_address(name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(all(unix, not(target_os = "linux")))]
fn abstract_address(_name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    Err(std::io::Error::other(
        "abstract sockets exist on Linux only",
    ))
}

/// How often to ping the watchdog: half of `$WATCHDOG_USEC`, as `sd_watchdog_enabled(3)`
/// advises. `None` when unset, zero or meant for another process (`$WATCHDOG_PID`).
pub fn watchdog_period(env: &EnvSnapshot) -> Option<Duration> {
    if let Some(pid) = env.get("WATCHDOG_PID")
        && pid.trim().parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    let usec: u64 = env.get("WATCHDOG_USEC")?.trim().parse().ok()?;
    // Zero (and 1 µs, halved to zero) would make no sense as a period, and panic a timer.
    let half = Duration::from_micros(usec / 2);
    (!half.is_zero()).then_some(half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_pinged_at_half_its_interval_and_only_for_this_process() {
        let env = |pairs: &[(&str, &str)]| EnvSnapshot::from_pairs(pairs.iter().copied());
        let half = Some(Duration::from_millis(500));
        assert_eq!(watchdog_period(&env(&[("WATCHDOG_USEC", "1000000")])), half);
        let me = std::process::id().to_string();
        let mine = [("WATCHDOG_USEC", "1000000"), ("WATCHDOG_PID", me.as_str())];
        assert_eq!(watchdog_period(&env(&mine)), half);
        let other = [("WATCHDOG_USEC", "1000000"), ("WATCHDOG_PID", "1")];
        assert_eq!(watchdog_period(&env(&other)), None);
        assert_eq!(watchdog_period(&env(&[("WATCHDOG_USEC", "0")])), None);
        assert_eq!(watchdog_period(&env(&[("WATCHDOG_USEC", "1")])), None);
        assert_eq!(watchdog_period(&env(&[("WATCHDOG_USEC", "soon")])), None);
        assert_eq!(watchdog_period(&env(&[])), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn messages_reach_a_path_socket_and_an_abstract_one() {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let env = EnvSnapshot::from_pairs([("NOTIFY_SOCKET", path.to_str().unwrap())]);
        Notifier::from_env(&env).unwrap().send("READY=1");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        let name = format!("tokentop-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&address).unwrap();
        let env = EnvSnapshot::from_pairs([("NOTIFY_SOCKET", format!("@{name}"))]);
        Notifier::from_env(&env).unwrap().send("WATCHDOG=1");
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
    }

    #[test]
    fn no_socket_no_notifier_and_a_missing_one_is_not_an_error() {
        let nothing: [(&str, &str); 0] = [];
        assert!(Notifier::from_env(&EnvSnapshot::from_pairs(nothing)).is_none());
        let env = EnvSnapshot::from_pairs([("NOTIFY_SOCKET", "/nonexistent/tokentop/notify")]);
        // Opening does not connect: the send fails, quietly.
        if let Some(notifier) = Notifier::from_env(&env) {
            notifier.send("READY=1");
        }
    }
}
