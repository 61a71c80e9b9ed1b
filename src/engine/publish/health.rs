//! Publish health per target: whether each target holds the current token, when it last took
//! one, and why its last publish failed, in a small closed set of reasons that metrics can
//! use as a label. Pure: the account actor feeds it each publish's result.

use std::fmt;
use std::io;

use serde::Serialize;

use crate::engine::history::cause::PublishTarget;

/// Why a publish failed: a closed set, so that it can be a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// The file or the process may not be written or signalled by tokentop's user.
    Permission,
    /// The file's directory, the pid file, the process or the program does not exist.
    NotFound,
    /// tokentop refused to write: the token or the file's content had a bad shape.
    Refused,
    /// The command or the signal did not finish within its timeout.
    Timeout,
    /// The command ran and exited unsuccessfully.
    Exit,
    /// Any other I/O error.
    Io,
}

impl FailReason {
    pub const ALL: &'static [Self] = &[
        Self::Permission,
        Self::NotFound,
        Self::Refused,
        Self::Timeout,
        Self::Exit,
        Self::Io,
    ];

    /// The metric label and the history row's error class.
    pub fn label(self) -> &'static str {
        match self {
            Self::Permission => "permission",
            Self::NotFound => "not_found",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::Exit => "exit",
            Self::Io => "io",
        }
    }

    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.label() == label)
    }

    pub fn of_io(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::PermissionDenied => Self::Permission,
            io::ErrorKind::NotFound => Self::NotFound,
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => Self::Refused,
            io::ErrorKind::TimedOut => Self::Timeout,
            _ => Self::Io,
        }
    }
}

/// A failed publish: the reason for metrics, the sentence for people (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishError {
    pub reason: FailReason,
    pub message: String,
}

impl PublishError {
    pub fn new(reason: FailReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str(&self.message)
    }
}

/// The last failure of a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetFailure {
    /// Unix seconds.
    pub at: i64,
    pub reason: FailReason,
    pub message: String,
}

/// One configured target as `check`, `/status`, `/metrics` and the fleet view show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetHealth {
    /// The target's word: `env-file`, `token-file`, `on-refresh`, `signal`, `restart`.
    pub target: &'static str,
    /// It holds (or, for a command, was run for) the current token.
    pub current: bool,
    /// Unix seconds of its last successful publish by this process.
    pub last_success_at: Option<i64>,
    pub last_failure: Option<TargetFailure>,
}

#[derive(Debug, Clone, Default)]
struct TargetRecord {
    /// Fingerprint of the token it was last given successfully.
    held: Option<String>,
    last_success_at: Option<i64>,
    last_failure: Option<TargetFailure>,
}

/// Per configured target, in declaration order.
#[derive(Debug, Clone, Default)]
pub struct PublishHealth {
    targets: Vec<(PublishTarget, TargetRecord)>,
}

impl PublishHealth {
    pub fn new(configured: impl IntoIterator<Item = PublishTarget>) -> Self {
        Self {
            targets: configured
                .into_iter()
                .map(|target| (target, TargetRecord::default()))
                .collect(),
        }
    }

    fn record(&mut self, target: PublishTarget) -> Option<&mut TargetRecord> {
        self.targets
            .iter_mut()
            .find(|(t, _)| *t == target)
            .map(|(_, record)| record)
    }

    /// `target` is found holding `fingerprint` (a file that has it, a command that ran for
    /// it elsewhere) without this process publishing it.
    pub fn holds(&mut self, target: PublishTarget, fingerprint: &str) {
        if let Some(record) = self.record(target) {
            record.held = Some(fingerprint.to_string());
        }
    }

    pub fn succeeded(&mut self, target: PublishTarget, fingerprint: &str, at: i64) {
        if let Some(record) = self.record(target) {
            record.held = Some(fingerprint.to_string());
            record.last_success_at = Some(at);
        }
    }

    pub fn failed(&mut self, target: PublishTarget, error: &PublishError, at: i64) {
        if let Some(record) = self.record(target) {
            record.held = None;
            record.last_failure = Some(TargetFailure {
                at,
                reason: error.reason,
                message: error.message.clone(),
            });
        }
    }

    /// The account configures `target`.
    pub fn configures(&self, target: PublishTarget) -> bool {
        self.targets.iter().any(|(t, _)| *t == target)
    }

    pub fn view(&self, fingerprint: Option<&str>) -> Vec<TargetHealth> {
        self.targets
            .iter()
            .map(|(target, record)| TargetHealth {
                target: target.word(),
                current: fingerprint.is_some() && record.held.as_deref() == fingerprint,
                last_success_at: record.last_success_at,
                last_failure: record.last_failure.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every target holds `fingerprint` (what `tokentop_token_usable` requires of them).
    fn all_current(health: &PublishHealth, fingerprint: Option<&str>) -> bool {
        health.view(fingerprint).iter().all(|t| t.current)
    }

    #[test]
    fn a_target_is_current_only_while_it_holds_the_current_token() {
        let mut health = PublishHealth::new([PublishTarget::EnvFile, PublishTarget::OnRefresh]);
        assert!(!all_current(&health, Some("a")));
        health.holds(PublishTarget::EnvFile, "a");
        assert!(!all_current(&health, Some("a")));
        health.holds(PublishTarget::OnRefresh, "a");
        assert!(all_current(&health, Some("a")));
        // A new token: nobody holds it until published.
        assert!(!all_current(&health, Some("b")));
        health.succeeded(PublishTarget::EnvFile, "b", 10);
        let error = PublishError::new(FailReason::Exit, "hook exited with 3");
        health.failed(PublishTarget::OnRefresh, &error, 11);
        let view = health.view(Some("b"));
        assert_eq!(view[0].target, "env-file");
        assert!(view[0].current && view[0].last_success_at == Some(10));
        assert!(!view[1].current);
        assert_eq!(
            view[1].last_failure.as_ref().unwrap().reason,
            FailReason::Exit
        );
        assert!(!all_current(&health, Some("b")));
        health.succeeded(PublishTarget::OnRefresh, "b", 20);
        assert!(all_current(&health, Some("b")));
        // The failure stays on record after the success, for "last failure" columns.
        assert_eq!(
            health.view(Some("b"))[1].last_failure.as_ref().unwrap().at,
            11
        );
    }

    #[test]
    fn unconfigured_targets_are_ignored_and_no_token_is_never_current() {
        let mut health = PublishHealth::new([PublishTarget::TokenFile]);
        health.succeeded(PublishTarget::EnvFile, "a", 1);
        assert_eq!(health.view(Some("a")).len(), 1);
        assert!(!health.view(None)[0].current);
        assert!(!all_current(&health, None));
        assert!(health.configures(PublishTarget::TokenFile));
        assert!(!health.configures(PublishTarget::EnvFile));
        assert!(all_current(&PublishHealth::new([]), Some("a")));
    }

    #[test]
    fn reasons_round_trip_through_their_labels_and_io_kinds_map() {
        for &reason in FailReason::ALL {
            assert_eq!(FailReason::from_label(reason.label()), Some(reason));
        }
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(FailReason::of_io(&denied), FailReason::Permission);
        let missing = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(FailReason::of_io(&missing), FailReason::NotFound);
        let bad = io::Error::new(io::ErrorKind::InvalidData, "newline in token");
        assert_eq!(FailReason::of_io(&bad), FailReason::Refused);
    }
}
