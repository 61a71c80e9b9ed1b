//! One way for tests to build an `[[account]]`: `account("name")` starts from an account with
//! credentials for nothing, and each test states only the fields its behaviour depends on.
//! Declared at the root of tests/engine and tests/system and by tests/dashboard_support (so benches/fleet.rs
//! gets it too), never twice in one crate; not part of `support`, which the ui binary lacks.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use tokentop::config::{
    AccountSettings, DEFAULT_TOKEN_FILE_MODE, NotifySignal, RestartSpec, SignalSpec,
    TestMessageSettings,
};

/// An account named `name` with no credentials, no publishing, no test recipient and a
/// five-second `on-refresh` limit; chain the setters the test needs, then `build()`.
pub fn account(name: &str) -> AccountBuilder {
    AccountBuilder(AccountSettings {
        name: name.to_string(),
        app_id: None,
        app_secret: None,
        access_token: None,
        long_lived_token: None,
        phone_number_id: None,
        business_account_id: None,
        env_file: None,
        token_file: None,
        token_file_mode: DEFAULT_TOKEN_FILE_MODE,
        on_refresh: None,
        on_refresh_timeout: Duration::from_secs(5),
        on_refresh_env: Vec::new(),
        on_publish: Default::default(),
        test_message: TestMessageSettings::default(),
        profile: Default::default(),
    })
}

/// Builds an [`AccountSettings`]; see [`account`].
pub struct AccountBuilder(AccountSettings);

impl AccountBuilder {
    /// The app id and app secret.
    pub fn app(mut self, id: &str, secret: &str) -> Self {
        self.0.app_id = Some(id.to_string());
        self.0.app_secret = Some(SecretString::from(secret));
        self
    }

    pub fn access_token(mut self, token: &str) -> Self {
        self.0.access_token = Some(SecretString::from(token));
        self
    }

    pub fn long_lived_token(mut self, token: Option<&str>) -> Self {
        self.0.long_lived_token = token.map(SecretString::from);
        self
    }

    pub fn phone_number_id(mut self, id: &str) -> Self {
        self.0.phone_number_id = Some(id.to_string());
        self
    }

    pub fn business_account_id(mut self, id: Option<&str>) -> Self {
        self.0.business_account_id = id.map(str::to_string);
        self
    }

    pub fn env_file(mut self, path: &Path) -> Self {
        self.0.env_file = Some(path.to_path_buf());
        self
    }

    pub fn token_file(mut self, path: &Path, mode: u32) -> Self {
        self.0.token_file = Some(path.to_path_buf());
        self.0.token_file_mode = mode;
        self
    }

    /// The `on-refresh` argv.
    pub fn on_refresh(mut self, argv: Vec<String>) -> Self {
        self.0.on_refresh = Some(argv);
        self
    }

    pub fn on_refresh_timeout(mut self, timeout: Duration) -> Self {
        self.0.on_refresh_timeout = timeout;
        self
    }

    /// `on-publish-signal`: `signal` to the process whose id is in `pid_file`.
    pub fn on_publish_signal(mut self, pid_file: &Path, signal: NotifySignal) -> Self {
        self.0.on_publish.signal = Some(SignalSpec {
            pid_file: pid_file.to_path_buf(),
            signal,
        });
        self
    }

    /// `on-publish-restart = "systemd:UNIT"` (`unit` with its suffix).
    pub fn on_publish_restart(mut self, unit: &str) -> Self {
        self.0.on_publish.restart = Some(RestartSpec::Systemd {
            unit: unit.to_string(),
        });
        self
    }

    pub fn on_publish_timeout(mut self, timeout: Duration) -> Self {
        self.0.on_publish.timeout = timeout;
        self
    }

    /// The `[account.test-message]` recipient.
    pub fn test_recipient(mut self, to: Option<&str>) -> Self {
        self.0.test_message.to = to.map(str::to_string);
        self
    }

    pub fn build(self) -> AccountSettings {
        self.0
    }
}
