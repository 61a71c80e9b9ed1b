#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Config loading: valid and invalid files, secrets, environment, precedence, the example file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokentop::config::{
    ConfigErrors, EnvSnapshot, ExpiringSystemUser, GraphSettings, LogFormat, LogInput,
    NotifySignal, OnPublishSettings, Overrides, PatternLevel, PatternRole, PatternSettings,
    RefreshBefore, RefreshPolicy, RestartSpec, Settings, SignalSpec, Theme, UiSettings, load,
    parse_duration,
};

const SECRET: &str = "EAAGtopsecretvalue0123456789x9Qf";

/// A config file in its own temp dir, mode 0600 unless changed.
struct ConfigFile {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl ConfigFile {
    fn new(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        set_mode(&path, 0o600);
        Self { dir, path }
    }

    fn overrides(&self) -> Overrides {
        Overrides {
            config: Some(self.path.clone()),
            data_dir: Some(self.dir.path().join("data")),
            graph_url: None,
        }
    }

    fn load(&self) -> Result<Settings, ConfigErrors> {
        self.load_with(&[])
    }

    fn load_with(&self, env: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
        load(
            &self.overrides(),
            &EnvSnapshot::from_pairs(env.iter().copied()),
        )
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

fn load_ok(text: &str) -> Settings {
    match ConfigFile::new(text).load() {
        Ok(settings) => settings,
        Err(errors) => panic!("expected valid config:\n{text}\ngot:\n{errors}"),
    }
}

/// Each issue's line and key, in the order reported.
fn places(errors: &ConfigErrors) -> Vec<(Option<usize>, &str)> {
    errors
        .issues
        .iter()
        .map(|i| (i.line, i.key.as_str()))
        .collect()
}

fn load_err(text: &str) -> ConfigErrors {
    match ConfigFile::new(text).load() {
        Ok(settings) => panic!("expected errors for:\n{text}\ngot {settings:?}"),
        Err(errors) => errors,
    }
}

#[test]
fn valid_cases_resolve_to_their_values() {
    type Check = fn(&Settings);
    let cases: &[(&str, Check)] = &[
        ("", |s| {
            assert_eq!(s.graph, GraphSettings::default());
            assert_eq!(s.refresh, RefreshPolicy::default());
            assert_eq!(s.ui, UiSettings::default());
            assert_eq!(s.patterns, PatternSettings::default());
            assert!(s.accounts.is_empty());
        }),
        (
            "[graph]\nbase-url = \"http://127.0.0.1:9999/\"\nversion = \"v19.0\"\ntimeout = \"5m\"",
            |s| {
                assert_eq!(s.graph.base_url, "http://127.0.0.1:9999");
                assert_eq!(s.graph.version, "v19.0");
                assert_eq!(s.graph.request_timeout, Duration::from_secs(300));
            },
        ),
        (
            "[refresh]\ncheck-interval = \"1h30m\"\nrefresh-before = \"10d\"\nsend-guard = \"0s\"",
            |s| {
                assert_eq!(s.refresh.check_interval, Duration::from_secs(5400));
                assert_eq!(
                    s.refresh.refresh_before,
                    RefreshBefore::Fixed(Duration::from_secs(10 * 86_400))
                );
                assert_eq!(s.refresh.send_guard, Duration::ZERO);
            },
        ),
        (
            "[refresh]\nrefresh-before = \"50%\"\nwarn-before = \"2d\"\ncritical-before = \"2d\"",
            |s| {
                assert_eq!(s.refresh.refresh_before, RefreshBefore::ShareOfLifetime(50));
                assert_eq!(s.refresh.warn_before, s.refresh.critical_before);
            },
        ),
        ("[refresh]\nexpiring-system-user = true", |s| {
            assert_eq!(s.refresh.expiring_system_user, ExpiringSystemUser::Yes);
        }),
        ("[refresh]\nexpiring-system-user = \"false\"", |s| {
            assert_eq!(s.refresh.expiring_system_user, ExpiringSystemUser::No);
        }),
        (
            "[ui]\ntick = \"500ms\"\ntheme = \"mono\"\nmouse = false",
            |s| {
                assert_eq!(s.ui.tick, Duration::from_millis(500));
                assert_eq!(s.ui.theme, Theme::Mono);
                assert!(!s.ui.mouse);
            },
        ),
        (
            "[[account]]\nname = \"prod-1\"\napp-id = 123456\nphone-number-id = \"987654\"\n\
             business-account-id = \"555\"\non-refresh = [\"/bin/publish\", \"--x\"]\non-refresh-timeout = \"2m\"\n\
             [account.test-message]\nto = \"+4915123456789\"\ntemplate = \"order_update\"\nlanguage = \"de\"\ntext = \"hi\"",
            |s| {
                let account = &s.accounts[0];
                assert_eq!(account.name, "prod-1");
                assert_eq!(account.app_id.as_deref(), Some("123456"));
                assert_eq!(account.phone_number_id.as_deref(), Some("987654"));
                assert_eq!(account.business_account_id.as_deref(), Some("555"));
                assert_eq!(
                    account.on_refresh,
                    Some(vec!["/bin/publish".to_string(), "--x".to_string()])
                );
                assert_eq!(account.on_refresh_timeout, Duration::from_secs(120));
                assert_eq!(account.test_message.to.as_deref(), Some("4915123456789"));
                assert_eq!(account.test_message.template, "order_update");
                assert_eq!(account.test_message.language, "de");
                assert_eq!(account.test_message.text.as_deref(), Some("hi"));
            },
        ),
        (
            "[[account]]\nname = \"a\"\n[[account]]\nname = \"b\"",
            |s| {
                let names: Vec<&str> = s.accounts.iter().map(|a| a.name.as_str()).collect();
                assert_eq!(names, ["a", "b"]);
                assert_eq!(s.accounts[0].on_refresh_timeout, Duration::from_secs(30));
                assert_eq!(s.accounts[0].test_message.template, "hello_world");
                assert_eq!(s.accounts[0].on_publish, OnPublishSettings::default());
                assert_eq!(s.accounts[0].on_publish.timeout, Duration::from_secs(30));
            },
        ),
        (
            "[[account]]\nname = \"a\"\non-publish-signal = { pid-file = \"/run/app.pid\", signal = \"sigusr1\" }\n\
             on-publish-restart = \"systemd:app\"\non-publish-timeout = \"5s\"\n\
             [[account]]\nname = \"b\"\non-publish-signal = { pid-file = \"/run/b.pid\" }",
            |s| {
                let on_publish = &s.accounts[0].on_publish;
                assert_eq!(
                    on_publish.signal,
                    Some(SignalSpec {
                        pid_file: PathBuf::from("/run/app.pid"),
                        signal: NotifySignal::Usr1,
                    })
                );
                assert_eq!(
                    on_publish.restart,
                    Some(RestartSpec::Systemd {
                        unit: "app.service".to_string()
                    })
                );
                assert_eq!(on_publish.timeout, Duration::from_secs(5));
                let signal = s.accounts[1].on_publish.signal.as_ref().unwrap();
                assert_eq!(signal.signal, NotifySignal::Hup, "HUP is the default");
                assert_eq!(s.accounts[1].on_publish.restart, None);
            },
        ),
        (
            "[[log]]\nname = \"cmd\"\ncommand = [\"aws\", \"logs\"]\nformat = \"webhook-json\"\n\
             [patterns]\ndefaults = false\n[[pattern]]\nname = \"sent\"\nregex = 'sent \\d+'\nlevel = \"ok\"\nrole = \"delivered\"\n\
             [[pattern]]\nname = \"oops\"\nregex = \"oops\"\nlevel = \"error\"",
            |s| {
                assert_eq!(
                    s.logs[0].input,
                    LogInput::Command(vec!["aws".into(), "logs".into()])
                );
                assert_eq!(s.logs[0].format, LogFormat::WebhookJson);
                assert!(!s.patterns.use_defaults);
                assert_eq!(s.patterns.patterns[0].regex, "sent \\d+");
                assert_eq!(s.patterns.patterns[0].role, Some(PatternRole::Delivered));
                assert_eq!(s.patterns.patterns[1].level, PatternLevel::Error);
                assert_eq!(s.patterns.patterns[1].role, None);
            },
        ),
    ];
    for (text, check) in cases {
        check(&load_ok(text));
    }
}

/// (file text, line, key, bad value as shown, a piece of the allowed text)
const INVALID_CASES: &[(&str, usize, &str, &str, &str)] = &[
    (
        "[refresh]\ncheck-interval = \"5x\"",
        2,
        "refresh.check-interval",
        "\"5x\"",
        "\"15m\"",
    ),
    (
        "[refresh]\ncheck-interval = \"5s\"",
        2,
        "refresh.check-interval",
        "\"5s\"",
        "from 10s to 7d",
    ),
    (
        "[refresh]\ncheck-interval = \"8d\"",
        2,
        "refresh.check-interval",
        "\"8d\"",
        "from 10s to 7d",
    ),
    (
        "[refresh]\nsend-guard = \"2d\"",
        2,
        "refresh.send-guard",
        "\"2d\"",
        "at most 1d",
    ),
    (
        "[refresh]\nrefresh-before = \"100%\"",
        2,
        "refresh.refresh-before",
        "\"100%\"",
        "\"99%\"",
    ),
    (
        "[refresh]\nrefresh-before = \"soon\"",
        2,
        "refresh.refresh-before",
        "\"soon\"",
        "\"1%\"",
    ),
    (
        "[refresh]\nwarn-before = \"12h\"",
        2,
        "refresh.warn-before",
        "\"12h\"",
        "critical-before",
    ),
    (
        "[refresh]\nexpiring-system-user = \"maybe\"",
        2,
        "refresh.expiring-system-user",
        "\"maybe\"",
        "auto, true, false",
    ),
    (
        "[graph]\ntimeout = \"10m\"",
        2,
        "graph.timeout",
        "\"10m\"",
        "from 1s to 5m",
    ),
    ("[graph]\ntimeout = 30", 2, "graph.timeout", "30", "\"90s\""),
    (
        "[graph]\nversion = \"25.0\"",
        2,
        "graph.version",
        "\"25.0\"",
        "\"v25.0\"",
    ),
    (
        "[graph]\nbase-url = \"graph.facebook.com\"",
        2,
        "graph.base-url",
        "\"graph.facebook.com\"",
        "https://",
    ),
    (
        "[ui]\ntick = \"50ms\"",
        2,
        "ui.tick",
        "\"50ms\"",
        "from 100ms to 1m",
    ),
    (
        "[ui]\ntheme = \"pink\"",
        2,
        "ui.theme",
        "\"pink\"",
        "dark, light, mono",
    ),
    (
        "[ui]\nmouse = \"yes\"",
        2,
        "ui.mouse",
        "\"yes\"",
        "true or false",
    ),
    (
        "[[account]]\nname = \"a\"\non-publish-signal = { pid-file = \"/run/app.pid\", signal = \"KILL\" }",
        3,
        "account.on-publish-signal.signal",
        "\"KILL\"",
        "one of HUP, USR1, USR2, TERM, INT, QUIT",
    ),
    (
        "[[account]]\nname = \"a\"\non-publish-signal = { pid-file = \"app.pid\" }",
        3,
        "account.on-publish-signal.pid-file",
        "\"app.pid\"",
        "an absolute path",
    ),
    (
        "[[account]]\nname = \"a\"\non-publish-signal = \"HUP\"",
        3,
        "account.on-publish-signal",
        "\"HUP\"",
        "{ pid-file = \"/ABSOLUTE/PATH\", signal = \"HUP\" }",
    ),
    (
        "[[account]]\nname = \"a\"\non-publish-restart = \"kubernetes:deployment/app\"",
        3,
        "account.on-publish-restart",
        "\"kubernetes:deployment/app\"",
        "on-refresh with the kubernetes-rollout-restart recipe",
    ),
    (
        "[[account]]\nname = \"a\"\non-publish-restart = \"systemd:-app\"",
        3,
        "account.on-publish-restart",
        "\"systemd:-app\"",
        "systemd unit name",
    ),
    (
        "[[account]]\nname = \"a\"\non-publish-timeout = \"1h\"",
        3,
        "account.on-publish-timeout",
        "\"1h\"",
        "from 1s to 10m",
    ),
    (
        "[[account]]\nname = \"-rf\"",
        2,
        "account.name",
        "\"-rf\"",
        "not starting with - or .",
    ),
    (
        "[[account]]\nname = \"a\"\non-refresh-env = [\"AWS PROFILE\"]",
        3,
        "account.on-refresh-env",
        "[\"AWS PROFILE\"]",
        "environment variable names",
    ),
    (
        "[[account]]\nname = \"a\"\non-refresh-env = [\"WHATSAPP_APP_SECRET\"]",
        3,
        "account.on-refresh-env",
        "[\"WHATSAPP_APP_SECRET\"]",
        "not the token",
    ),
    (
        "[[pattern]]\nname = \"p\"\nregex = \"\"\nlevel = \"ok\"",
        3,
        "pattern.regex",
        "\"\"",
        "non-empty regular expression",
    ),
    (
        "[[account]]\nname = \"has space\"",
        2,
        "account.name",
        "\"has space\"",
        "A-Z, a-z, 0-9, _, . and -",
    ),
    (
        "[[account]]\nname = \"\"",
        2,
        "account.name",
        "\"\"",
        "1 to 32 characters",
    ),
    (
        "[[account]]\nname = \"a\"\n\n[[account]]\nname = \"a\"",
        5,
        "account.name",
        "\"a\"",
        "no other [[account]]",
    ),
    (
        "[[account]]\nname = \"a\"\napp-id = \"12ab\"",
        3,
        "account.app-id",
        "\"12ab\"",
        "digits only",
    ),
    (
        "[[account]]\nname = \"a\"\nphone-number-id = \"+1\"",
        3,
        "account.phone-number-id",
        "\"+1\"",
        "digits only",
    ),
    (
        "[[account]]\nname = \"a\"\nbusiness-account-id = \"x\"",
        3,
        "account.business-account-id",
        "\"x\"",
        "digits only",
    ),
    (
        "[[account]]\nname = \"a\"\non-refresh = []",
        3,
        "account.on-refresh",
        "[]",
        "non-empty array of strings",
    ),
    (
        "[[account]]\nname = \"a\"\non-refresh = [1]",
        3,
        "account.on-refresh",
        "[1]",
        "non-empty array of strings",
    ),
    (
        "[[account]]\nname = \"a\"\n[account.test-message]\nto = \"12a\"",
        4,
        "account.test-message.to",
        "\"12a\"",
        "7 to 15 digits",
    ),
    (
        "[[log]]\nname = \"x\"\nformat = \"json\"\nfile = \"a.log\"",
        3,
        "log.format",
        "\"json\"",
        "plain, webhook-json",
    ),
    (
        "[[pattern]]\nname = \"p\"\nregex = \"x\"\nlevel = \"fatal\"",
        4,
        "pattern.level",
        "\"fatal\"",
        "ok, warn, error",
    ),
    (
        "[[pattern]]\nname = \"p\"\nregex = \"x\"\nlevel = \"ok\"\nrole = \"sent\"",
        5,
        "pattern.role",
        "\"sent\"",
        "delivered, failed",
    ),
    (
        "[patterns]\ndefaults = \"no\"",
        2,
        "patterns.defaults",
        "\"no\"",
        "true or false",
    ),
];

#[test]
fn invalid_cases_name_line_key_value_and_allowed() {
    for (text, line, key, value, allowed) in INVALID_CASES {
        let errors = load_err(text);
        assert_eq!(errors.issues.len(), 1, "{text}\n{errors}");
        let issue = &errors.issues[0];
        let shown = issue.to_string();
        assert_eq!(issue.line, Some(*line), "{shown}");
        assert_eq!(issue.key, *key, "{shown}");
        assert_eq!(issue.value.as_deref(), Some(*value), "{shown}");
        assert!(issue.allowed.contains(allowed), "{shown}");
        assert!(
            shown.contains(&format!(":{line}: {key} = {value}: ")),
            "{shown}"
        );
        assert!(shown.contains("; allowed: "), "{shown}");
    }
}

#[test]
fn a_file_with_three_errors_reports_all_three_in_line_order() {
    let errors = load_err(
        "[graph]\nversion = \"x\"\n\n[refresh]\nsend-guard = \"forever\"\n\n[ui]\ntheme = \"neon\"\n",
    );
    let places = places(&errors);
    assert_eq!(
        places,
        [
            (Some(2), "graph.version"),
            (Some(5), "refresh.send-guard"),
            (Some(8), "ui.theme")
        ]
    );
    assert_eq!(errors.to_string().lines().count(), 3);
}

#[test]
fn unknown_key_names_the_key_its_table_and_the_allowed_keys() {
    let errors = load_err("[graph]\nbase-url = \"https://x.example\"\ncolour = \"red\"\n");
    let issue = &errors.issues[0];
    assert_eq!((issue.line, issue.key.as_str()), (Some(3), "graph.colour"));
    assert!(issue.problem.contains("[graph]"), "{issue}");
    assert_eq!(issue.allowed, "base-url, version, timeout, sunsets");

    let errors = load_err("[[account]]\nname = \"a\"\ntoken = \"x\"\n");
    assert_eq!(errors.issues[0].key, "account.token");
    assert!(errors.issues[0].problem.contains("[[account]]"));
    assert!(errors.issues[0].allowed.contains("access-token"));

    let errors = load_err("[server]\nport = 1\n");
    assert_eq!(errors.issues[0].key, "server");
    assert!(errors.issues[0].allowed.contains("graph, refresh, account"));
}

#[test]
fn missing_required_keys_point_at_the_table() {
    let errors = load_err("[ui]\nmouse = true\n\n[[account]]\napp-id = \"1\"\n");
    assert_eq!(errors.issues[0].key, "account.name");
    assert_eq!(errors.issues[0].line, Some(4));
    let errors = load_err("[[log]]\nname = \"x\"\n");
    assert!(
        errors.issues[0]
            .problem
            .contains("neither file nor command")
    );
    let errors = load_err("[[pattern]]\nname = \"x\"\nregex = \"a\"\n");
    assert_eq!(errors.issues[0].key, "pattern.level");
}

#[test]
fn invalid_regex_names_the_pattern_and_quotes_the_regex_error() {
    let errors = load_err("[[pattern]]\nname = \"broken\"\nregex = \"(abc\"\nlevel = \"warn\"\n");
    let issue = &errors.issues[0];
    assert_eq!((issue.line, issue.key.as_str()), (Some(3), "pattern.regex"));
    assert!(issue.problem.contains("\"broken\""), "{issue}");
    assert!(issue.problem.contains("\"unclosed group\""), "{issue}");
}

#[test]
fn duplicate_log_names_and_both_inputs_are_refused() {
    let errors = load_err(
        "[[log]]\nname = \"a\"\nfile = \"x\"\n[[log]]\nname = \"a\"\nfile = \"y\"\n[[log]]\nname = \"b\"\nfile = \"x\"\ncommand = [\"y\"]\n",
    );
    let lines: Vec<Option<usize>> = errors.issues.iter().map(|i| i.line).collect();
    assert_eq!(lines, [Some(5), Some(7)], "{errors}");
    assert!(errors.issues[0].problem.contains("line 2"));
    assert!(errors.issues[1].problem.contains("both file and command"));
}

#[test]
fn account_names_differing_only_by_case_are_refused_naming_both_lines() {
    let errors = load_err("[[account]]\nname = \"prod\"\n\n[[account]]\nname = \"PROD\"\n");
    assert_eq!(errors.issues.len(), 1, "{errors}");
    let issue = &errors.issues[0];
    assert_eq!((issue.line, issue.key.as_str()), (Some(5), "account.name"));
    assert!(issue.problem.contains("only by case"), "{issue}");
    assert!(issue.problem.contains("\"prod\" on line 2"), "{issue}");
}

#[test]
fn env_file_in_a_missing_directory_is_refused_and_not_created() {
    let file = ConfigFile::new("[[account]]\nname = \"a\"\nenv-file = \"nowhere/app.env\"\n");
    let errors = file.load().unwrap_err();
    let issue = &errors.issues[0];
    assert_eq!(
        (issue.line, issue.key.as_str()),
        (Some(3), "account.env-file")
    );
    let missing = file.dir.path().join("nowhere");
    assert!(
        issue.problem.contains(&missing.display().to_string()),
        "{issue}"
    );
    assert!(issue.problem.contains("does not exist"), "{issue}");
    assert!(!missing.exists());
}

#[test]
fn token_file_is_relative_to_the_config_file_with_mode_0600_by_default() {
    let file = ConfigFile::new("[[account]]\nname = \"a\"\ntoken-file = \"run/a.token\"\n");
    std::fs::create_dir(file.dir.path().join("run")).unwrap();
    let settings = file.load().unwrap();
    let account = &settings.accounts[0];
    assert_eq!(
        account.token_file.as_deref(),
        Some(file.dir.path().join("run/a.token").as_path())
    );
    assert_eq!(account.token_file_mode, 0o600);
    assert_eq!(tokentop::config::DEFAULT_TOKEN_FILE_MODE, 0o600);
    assert_eq!(
        load_ok("[[account]]\nname = \"a\"\n").accounts[0].token_file,
        None
    );
}

#[test]
fn token_file_mode_accepts_owner_and_group_modes() {
    for (text, mode) in [("0600", 0o600), ("0640", 0o640), ("0660", 0o660)] {
        let settings = load_ok(&format!(
            "[[account]]\nname = \"a\"\ntoken-file-mode = \"{text}\"\n"
        ));
        assert_eq!(settings.accounts[0].token_file_mode, mode, "{text}");
    }
}

#[test]
fn a_token_file_mode_readable_by_others_is_refused_naming_the_key_and_the_allowed_modes() {
    for bad in [
        "\"0644\"",
        "\"0666\"",
        "\"0400\"",
        "\"rw-r-----\"",
        "\"\"",
        "416",
    ] {
        let errors = load_err(&format!(
            "[[account]]\nname = \"a\"\ntoken-file-mode = {bad}\n"
        ));
        assert_eq!(errors.issues.len(), 1, "{bad}: {errors}");
        let issue = &errors.issues[0];
        assert_eq!(
            (issue.line, issue.key.as_str()),
            (Some(3), "account.token-file-mode"),
            "{bad}"
        );
        for allowed in ["\"0600\"", "\"0640\"", "\"0660\""] {
            assert!(issue.allowed.contains(allowed), "{bad}: {issue}");
        }
        let text = errors.to_string();
        assert!(text.contains("account.token-file-mode"), "{text}");
        assert!(text.contains("\"0640\""), "{text}");
    }
}

#[test]
fn token_file_in_a_missing_directory_is_refused_and_not_created() {
    let file = ConfigFile::new("[[account]]\nname = \"a\"\ntoken-file = \"nowhere/a.token\"\n");
    let errors = file.load().unwrap_err();
    let issue = &errors.issues[0];
    assert_eq!(
        (issue.line, issue.key.as_str()),
        (Some(3), "account.token-file")
    );
    assert!(issue.problem.contains("does not exist"), "{issue}");
    assert!(!file.dir.path().join("nowhere").exists());
}

#[test]
fn token_file_or_env_file_at_a_device_or_fifo_is_refused() {
    let file = ConfigFile::new("[[account]]\nname = \"a\"\ntoken-file = \"/dev/null\"\n");
    let errors = file.load().unwrap_err();
    let issue = &errors.issues[0];
    assert_eq!(
        (issue.line, issue.key.as_str()),
        (Some(3), "account.token-file")
    );
    assert!(
        issue
            .problem
            .contains("a character device, not a regular file"),
        "{issue}"
    );
    // Through a symlink, as the write would follow it.
    let file = ConfigFile::new("[[account]]\nname = \"a\"\nenv-file = \"app.env\"\n");
    let fifo = file.dir.path().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink(&fifo, file.dir.path().join("app.env")).unwrap();
    let errors = file.load().unwrap_err();
    assert_eq!(errors.issues[0].key, "account.env-file");
    assert!(
        errors.issues[0].problem.contains("a FIFO"),
        "{}",
        errors.issues[0]
    );
}

#[test]
fn on_refresh_env_lists_variable_names() {
    let settings =
        load_ok("[[account]]\nname = \"a\"\non-refresh-env = [\"AWS_PROFILE\", \"KUBECONFIG\"]\n");
    assert_eq!(
        settings.accounts[0].on_refresh_env,
        ["AWS_PROFILE", "KUBECONFIG"]
    );
    assert!(
        load_ok("[[account]]\nname = \"a\"\n").accounts[0]
            .on_refresh_env
            .is_empty()
    );
}

#[test]
fn on_publish_signal_names_an_unknown_key_and_a_missing_pid_file() {
    let errors = load_err(
        "[[account]]\nname = \"a\"\non-publish-signal = { pidfile = \"/run/a.pid\", signal = \"HUP\" }\n",
    );
    let places = places(&errors);
    assert_eq!(
        places,
        [
            (Some(3), "account.on-publish-signal.pidfile"),
            (Some(3), "account.on-publish-signal.pid-file"),
        ],
        "{errors}"
    );
    assert_eq!(errors.issues[0].allowed, "pid-file, signal");
    assert!(errors.issues[1].problem.contains("missing"), "{errors}");
}

#[test]
fn toml_syntax_error_is_one_issue_with_its_line() {
    let errors = load_err("[graph]\nversion = \"v1.0\"\ntimeout = 30s\n");
    assert_eq!(errors.issues.len(), 1);
    assert_eq!(errors.issues[0].line, Some(3));
    assert!(
        errors.issues[0].problem.starts_with("invalid TOML"),
        "{errors}"
    );
}

#[cfg(unix)]
#[test]
fn a_redis_url_is_a_secret_only_when_it_carries_a_password() {
    let file = ConfigFile::new("[cluster]\nredis-url = \"redis://10.0.0.5:6379/0\"\n");
    set_mode(&file.path, 0o640);
    let settings = file.load().unwrap();
    assert!(settings.cluster.redis_url.is_some());

    let file =
        ConfigFile::new("[cluster]\nredis-url = \"redis://tokentop:s3cretpass@10.0.0.5:6379/0\"\n");
    set_mode(&file.path, 0o640);
    let shown = file.load().unwrap_err().to_string();
    assert!(
        shown.contains("redis-url = { env = \"TOKENTOP_REDIS_URL\" }"),
        "{shown}"
    );
    assert!(!shown.contains("s3cretpass"), "{shown}");
}

#[test]
fn plain_secret_in_a_file_others_can_read_is_refused() {
    let text = format!("[[account]]\nname = \"a\"\napp-secret = \"{SECRET}\"\n");
    let file = ConfigFile::new(&text);
    set_mode(&file.path, 0o644);
    let errors = file.load().unwrap_err();
    let shown = errors.to_string();
    assert_eq!(errors.issues.len(), 1, "{shown}");
    assert_eq!(errors.issues[0].line, Some(3));
    assert!(shown.contains("mode 0644"), "{shown}");
    assert!(shown.contains("chmod 600"), "{shown}");
    assert!(
        shown.contains("app-secret = { env = \"WHATSAPP_APP_SECRET\" }"),
        "{shown}"
    );
    assert!(!shown.contains(SECRET));

    set_mode(&file.path, 0o600);
    let settings = file.load().unwrap();
    assert_eq!(
        settings.accounts[0]
            .app_secret
            .as_ref()
            .unwrap()
            .expose_secret(),
        SECRET
    );
}

#[cfg(unix)]
#[test]
fn env_secret_in_a_file_others_can_read_is_accepted() {
    let file =
        ConfigFile::new("[[account]]\nname = \"a\"\naccess-token = { env = \"MY_TOKEN\" }\n");
    set_mode(&file.path, 0o644);
    let settings = file.load_with(&[("MY_TOKEN", SECRET)]).unwrap();
    assert_eq!(
        settings.accounts[0]
            .access_token
            .as_ref()
            .unwrap()
            .expose_secret(),
        SECRET
    );
}

#[test]
fn missing_secret_variable_names_the_variable_and_the_key() {
    let errors =
        load_err("[[account]]\nname = \"a\"\nlong-lived-token = { env = \"NOPE_TOKEN\" }\n");
    let issue = &errors.issues[0];
    assert_eq!(
        (issue.line, issue.key.as_str()),
        (Some(3), "account.long-lived-token")
    );
    assert!(issue.problem.contains("NOPE_TOKEN"), "{issue}");
}

#[test]
fn secret_reference_needs_exactly_one_source() {
    let errors =
        load_err("[[account]]\nname = \"a\"\napp-secret = { env = \"A\", file = \"b\" }\n");
    assert!(
        errors.issues[0]
            .problem
            .contains("exactly one of env, file or credential"),
        "{errors}"
    );
}

#[test]
fn relative_paths_are_relative_to_the_config_file() {
    let file = ConfigFile::new(
        "[[account]]\nname = \"a\"\nenv-file = \"app/.env\"\napp-secret = { file = \"secret.txt\" }\n\
         [[log]]\nname = \"l\"\nfile = \"logs/app.log\"\n",
    );
    std::fs::create_dir(file.dir.path().join("app")).unwrap();
    std::fs::write(file.dir.path().join("secret.txt"), format!("  {SECRET}\n")).unwrap();
    let settings = file.load().unwrap();
    let account = &settings.accounts[0];
    assert_eq!(
        account.env_file.as_deref(),
        Some(file.dir.path().join("app/.env").as_path())
    );
    assert_eq!(account.app_secret.as_ref().unwrap().expose_secret(), SECRET);
    assert_eq!(
        settings.logs[0].input,
        LogInput::File(file.dir.path().join("logs/app.log"))
    );
}

#[test]
fn unreadable_secret_file_is_reported_with_its_path() {
    let errors = load_err("[[account]]\nname = \"a\"\napp-secret = { file = \"missing.txt\" }\n");
    assert!(errors.issues[0].problem.contains("missing.txt"), "{errors}");
    assert_eq!(errors.issues[0].line, Some(3));
}

/// A config whose app-secret is `{ credential = "NAME" }`, with a credentials directory.
fn credential_config(name: &str) -> (ConfigFile, PathBuf) {
    let file = ConfigFile::new(&format!(
        "[[account]]\nname = \"a\"\napp-secret = {{ credential = {name:?} }}\n"
    ));
    let credentials = file.dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    (file, credentials)
}

#[test]
fn credential_secret_is_read_from_the_credentials_directory() {
    let (file, credentials) = credential_config("whatsapp-app-secret");
    std::fs::write(
        credentials.join("whatsapp-app-secret"),
        format!(" {SECRET}\n"),
    )
    .unwrap();
    // Not a plain secret: a config others can read is fine.
    set_mode(&file.path, 0o644);
    let settings = file
        .load_with(&[("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap())])
        .unwrap_or_else(|errors| panic!("{errors}"));
    let secret = settings.accounts[0].app_secret.as_ref().unwrap();
    assert_eq!(secret.expose_secret(), SECRET);
}

#[test]
fn credential_without_credentials_directory_says_to_run_under_systemd() {
    let (file, _credentials) = credential_config("whatsapp-app-secret");
    let errors = file.load().unwrap_err();
    let issue = &errors.issues[0];
    assert_eq!(
        (issue.line, issue.key.as_str()),
        (Some(3), "account.app-secret")
    );
    for part in [
        "CREDENTIALS_DIRECTORY is not set",
        "LoadCredential=/LoadCredentialEncrypted=",
        "use { env } or { file } otherwise",
    ] {
        assert!(issue.problem.contains(part), "{part}: {issue}");
    }
}

#[test]
fn missing_or_unreadable_credential_names_the_credential_and_the_key() {
    let (file, credentials) = credential_config("app-secret");
    let dir = credentials.to_str().unwrap();
    let errors = file
        .load_with(&[("CREDENTIALS_DIRECTORY", dir)])
        .unwrap_err();
    let issue = &errors.issues[0];
    assert_eq!(issue.key, "account.app-secret");
    assert!(
        issue.problem.contains("no credential \"app-secret\""),
        "{issue}"
    );
    assert!(issue.problem.contains(dir), "{issue}");
    assert!(issue.problem.contains("LoadCredential="), "{issue}");

    std::fs::create_dir(credentials.join("app-secret")).unwrap();
    let errors = file
        .load_with(&[("CREDENTIALS_DIRECTORY", dir)])
        .unwrap_err();
    assert!(
        errors.issues[0].problem.contains("not a regular file"),
        "{errors}"
    );
}

#[test]
fn empty_credential_is_refused() {
    let (file, credentials) = credential_config("token");
    std::fs::write(credentials.join("token"), " \n").unwrap();
    let errors = file
        .load_with(&[("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap())])
        .unwrap_err();
    assert!(errors.issues[0].problem.contains("is empty"), "{errors}");
}

#[test]
fn credential_name_must_be_a_plain_file_name() {
    for name in ["../secret", "sub/secret", "/etc/secret", ".", "..", ""] {
        let (file, credentials) = credential_config(name);
        std::fs::write(file.dir.path().join("secret"), SECRET).unwrap();
        let errors = file
            .load_with(&[("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap())])
            .unwrap_err();
        let issue = &errors.issues[0];
        assert_eq!(issue.key, "account.app-secret", "{name:?}");
        assert!(
            issue.problem.contains("plain file name"),
            "{name:?}: {issue}"
        );
    }
}

#[test]
fn no_credential_value_or_pasted_token_appears_in_errors() {
    let credentials = tempfile::tempdir().unwrap();
    let dir = credentials.path().to_str().unwrap();
    // A token or a 32-hex app secret pasted as the name; the directory is set or not.
    for name in [SECRET, "0123456789abcdef0123456789abcdef"] {
        for env in [vec![], vec![("CREDENTIALS_DIRECTORY", dir)]] {
            let (file, _) = credential_config(name);
            let errors = file.load_with(&env).unwrap_err();
            let shown = format!("{errors}\n{errors:?}");
            assert!(!shown.contains(&name[..24]), "{shown}");
        }
    }
}

#[test]
fn example_config_explains_the_credential_form() {
    assert!(
        tokentop::config::EXAMPLE_CONFIG.contains("{ credential = \"NAME\" }"),
        "config.example.toml does not explain {{ credential = \"NAME\" }}"
    );
}

fn whatsapp_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("WHATSAPP_APP_ID", "1234567890"),
        ("WHATSAPP_APP_SECRET", "appsecretappsecret"),
        ("WHATSAPP_ACCESS_TOKEN", SECRET),
        ("WHATSAPP_REFRESH_TOKEN", "EAAGlonglivedlonglivedlonglived"),
        ("WHATSAPP_PHONE_NUMBER_ID", "111222333"),
        ("WHATSAPP_BUSINESS_ACCOUNT_ID", "444555666"),
        ("WHATSAPP_TEST_RECIPIENT", "+4915123456789"),
    ]
}

#[test]
fn environment_alone_defines_one_default_account() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = whatsapp_env();
    let data_dir = dir.path().join("data");
    let data_dir_text = data_dir.to_str().unwrap().to_string();
    env.push(("TOKENTOP_DATA_DIR", &data_dir_text));
    let settings = load(&Overrides::default(), &EnvSnapshot::from_pairs(env)).unwrap();
    assert_eq!(settings.data_dir, data_dir);
    assert_eq!(settings.accounts.len(), 1);
    let account = &settings.accounts[0];
    assert_eq!(account.name, "default");
    assert_eq!(account.app_id.as_deref(), Some("1234567890"));
    assert_eq!(
        account.app_secret.as_ref().unwrap().expose_secret(),
        "appsecretappsecret"
    );
    assert_eq!(
        account.access_token.as_ref().unwrap().expose_secret(),
        SECRET
    );
    assert_eq!(
        account.long_lived_token.as_ref().unwrap().expose_secret(),
        "EAAGlonglivedlonglivedlonglived"
    );
    assert_eq!(account.phone_number_id.as_deref(), Some("111222333"));
    assert_eq!(account.business_account_id.as_deref(), Some("444555666"));
    assert_eq!(account.test_message.to.as_deref(), Some("4915123456789"));
}

#[test]
fn no_whatsapp_variables_means_no_account_and_file_accounts_win() {
    let file = ConfigFile::new("");
    assert!(
        file.load_with(&[("WHATSAPP_TEST_RECIPIENT", "4915123456789")])
            .unwrap()
            .accounts
            .is_empty()
    );
    let file = ConfigFile::new("[[account]]\nname = \"only\"\n");
    let settings = file.load_with(&whatsapp_env()).unwrap();
    let names: Vec<&str> = settings.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["only"]);
}

#[test]
fn bad_environment_values_are_reported_by_variable_name() {
    let file = ConfigFile::new("");
    let errors = file
        .load_with(&[("WHATSAPP_APP_ID", "abc"), ("TOKENTOP_GRAPH_VERSION", "25")])
        .unwrap_err();
    let keys: Vec<&str> = errors.issues.iter().map(|i| i.key.as_str()).collect();
    assert!(keys.contains(&"WHATSAPP_APP_ID"), "{errors}");
    assert!(keys.contains(&"TOKENTOP_GRAPH_VERSION"), "{errors}");
}

#[test]
fn graph_url_precedence_is_flag_then_env_then_file() {
    let file =
        ConfigFile::new("[graph]\nbase-url = \"https://file.example\"\nversion = \"v20.0\"\n");
    assert_eq!(file.load().unwrap().graph.base_url, "https://file.example");

    let env = [
        ("TOKENTOP_GRAPH_URL", "http://127.0.0.1:1234"),
        ("TOKENTOP_GRAPH_VERSION", "v21.0"),
    ];
    let settings = file.load_with(&env).unwrap();
    assert_eq!(settings.graph.base_url, "http://127.0.0.1:1234");
    assert_eq!(settings.graph.version, "v21.0");

    let mut overrides = file.overrides();
    overrides.graph_url = Some("http://127.0.0.1:5678".to_string());
    let settings = load(&overrides, &EnvSnapshot::from_pairs(env)).unwrap();
    assert_eq!(settings.graph.base_url, "http://127.0.0.1:5678");

    overrides.graph_url = Some("not a url".to_string());
    let errors = load(&overrides, &EnvSnapshot::from_pairs(env)).unwrap_err();
    assert_eq!(errors.issues[0].key, "--graph-url");
}

#[test]
fn data_dir_precedence_is_flag_then_env() {
    let file = ConfigFile::new("");
    let settings = file
        .load_with(&[("TOKENTOP_DATA_DIR", "/somewhere/else")])
        .unwrap();
    assert_eq!(settings.data_dir, file.dir.path().join("data"));
    let mut overrides = file.overrides();
    overrides.data_dir = None;
    let settings = load(
        &overrides,
        &EnvSnapshot::from_pairs([("TOKENTOP_DATA_DIR", "/somewhere/else")]),
    )
    .unwrap();
    assert_eq!(settings.data_dir, PathBuf::from("/somewhere/else"));
}

#[test]
fn explicit_config_path_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let overrides = Overrides {
        config: Some(missing.clone()),
        ..Overrides::default()
    };
    let errors = load(&overrides, &EnvSnapshot::default()).unwrap_err();
    assert_eq!(errors.issues[0].key, "--config");
    assert!(errors.to_string().contains("nope.toml"));
    let env = EnvSnapshot::from_pairs([("TOKENTOP_CONFIG", missing.to_str().unwrap())]);
    let errors = load(&Overrides::default(), &env).unwrap_err();
    assert_eq!(errors.issues[0].key, "TOKENTOP_CONFIG");
}

#[test]
fn example_config_parses_with_the_built_in_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let overrides = Overrides {
        config: Some(PathBuf::from(path)),
        ..Overrides::default()
    };
    let env = EnvSnapshot::from_pairs([
        ("WHATSAPP_APP_SECRET", "s3cr3t-s3cr3t"),
        ("WHATSAPP_ACCESS_TOKEN", SECRET),
    ]);
    let settings = load(&overrides, &env).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(settings.graph, GraphSettings::default());
    assert_eq!(settings.refresh, RefreshPolicy::default());
    assert_eq!(settings.ui, UiSettings::default());
    assert_eq!(settings.patterns, PatternSettings::default());
    assert_eq!(settings.accounts.len(), 1);
    assert_eq!(settings.accounts[0].test_message, Default::default());
    assert_eq!(
        settings.accounts[0].on_refresh_timeout,
        Duration::from_secs(30)
    );
    assert_eq!(
        tokentop::config::EXAMPLE_CONFIG,
        std::fs::read_to_string(path).unwrap()
    );
}

#[test]
fn example_config_documents_every_key() {
    // The reader's own list, plus `file` of a `{ file = "PATH" }` secret.
    let mut keys: Vec<&str> = tokentop::config::known_keys()
        .into_iter()
        .map(|(_, key)| key)
        .collect();
    keys.push("file");
    assert!(keys.contains(&"on-refresh-env"), "{keys:?}");
    for key in keys {
        let written = tokentop::config::EXAMPLE_CONFIG.lines().any(|line| {
            line.trim_start_matches(['#', ' '])
                .starts_with(&format!("{key} = "))
        });
        assert!(written, "config.example.toml does not show {key}");
    }
}

#[test]
fn no_secret_value_appears_in_any_error() {
    let cases = [
        format!("[[account]]\nname = \"bad name\"\napp-secret = \"{SECRET}\"\naccess-token = 5\n"),
        format!("[[account]]\nname = \"a\"\naccess-token = [\"{SECRET}\"]\n"),
        format!("[[account]]\nname = \"a\"\napp-secret = {SECRET}\n"),
        format!(
            "[[account]]\nname = \"a\"\naccess-token = {{ env = \"{SECRET}\", file = \"x\" }}\n"
        ),
        format!("[[account]]\nname = \"a\"\naccess-token = \"{SECRET}\"\nbogus = 1\n"),
        format!("[[account]]\nname = \"a\"\napp-secret = {{ value = \"{SECRET}\" }}\n"),
        format!("[[account]]\nname = \"a\"\napp-secret = {{ env = \"{SECRET}\" }}\n"),
        format!("[[account]]\nname = \"a\"\napp-secret = {{ credential = \"{SECRET}\" }}\n"),
    ];
    for text in &cases {
        let file = ConfigFile::new(text);
        set_mode(&file.path, 0o644);
        let errors = file.load().unwrap_err();
        assert!(!errors.to_string().contains("topsecret"), "{errors}");
        assert!(!format!("{errors:?}").contains("topsecret"), "{errors:?}");
    }
    let env = [("WHATSAPP_ACCESS_TOKEN", SECRET), ("WHATSAPP_APP_ID", "x")];
    let errors = ConfigFile::new("").load_with(&env).unwrap_err();
    assert!(!errors.to_string().contains("topsecret"));
}

#[test]
fn parse_duration_accepts_units_and_names_allowed_forms() {
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_duration("1w"), Ok(Duration::from_secs(604_800)));
    let err = parse_duration("5x").unwrap_err();
    assert!(err.contains("\"90s\"") && err.contains("\"7d\""), "{err}");
}

#[test]
fn serve_section_is_off_by_default_and_checked_when_present() {
    let settings = load_ok("");
    assert_eq!(settings.serve.listen, None);
    assert!(settings.serve.bearer_token.is_none());

    let settings = load_ok("[serve]\nlisten = \"127.0.0.1:9477\"\nbearer-token = \"scrape-me\"\n");
    assert_eq!(
        settings.serve.listen,
        Some("127.0.0.1:9477".parse().unwrap())
    );
    assert_eq!(
        settings
            .serve
            .bearer_token
            .as_ref()
            .map(|t| t.expose_secret().to_string()),
        Some("scrape-me".to_string())
    );

    let errors = load_err("[serve]\nlisten = \"localhost:9477\"\nport = 1\n").to_string();
    assert!(errors.contains("serve.listen"), "{errors}");
    assert!(errors.contains("not an IP address and port"), "{errors}");
    assert!(errors.contains("127.0.0.1:9477"), "{errors}");
    assert!(
        errors.contains("unknown key in [serve]; allowed: listen, bearer-token"),
        "{errors}"
    );
}

#[test]
fn webhook_relay_settings_resolve_and_their_mistakes_are_named() {
    let settings = load_ok(
        "[webhook]\nlisten = \"127.0.0.1:8090\"\nverify-token = \"meatball\"\n\n\
         [[webhook.forward]]\nurl = \"http://127.0.0.1:3000/hooks/wa\"\n\n\
         [[webhook.forward]]\nurl = \"https://crm.example/wa\"\nname = \"crm\"\naccounts = [\"main\"]\n",
    );
    let webhook = &settings.webhook;
    assert_eq!(webhook.path, "/webhook");
    assert_eq!(webhook.max_body, 4 << 20);
    assert_eq!(webhook.forward.len(), 2);
    assert_eq!(webhook.forward[0].name, "127.0.0.1_3000_hooks_wa");
    assert_eq!(webhook.forward[1].accounts, vec!["main".to_string()]);
    assert_eq!(webhook.undelivered_after, Duration::from_secs(600));
    let settings = load_ok("[webhook]\nundelivered-after = \"90s\"\n");
    assert_eq!(settings.webhook.undelivered_after, Duration::from_secs(90));

    let cases: [(&str, &str, &str); 7] = [
        (
            "[webhook]\nundelivered-after = \"soon\"\n",
            "webhook.undelivered-after",
            "from 1s to 7d",
        ),
        (
            "[webhook]\nundelivered-after = \"0s\"\n",
            "webhook.undelivered-after",
            "from 1s to 7d",
        ),
        (
            "[webhook]\nlisten = \"127.0.0.1:8090\"\n",
            "webhook.verify-token",
            "Verify token",
        ),
        (
            "[webhook]\ntls-cert = \"/etc/c.pem\"\n",
            "webhook.tls-key",
            "PEM",
        ),
        (
            "[webhook]\npath = \"hook\"\n",
            "webhook.path",
            "starting with /",
        ),
        (
            "[[webhook.forward]]\nurl = \"ftp://x/\"\n",
            "webhook.forward[0].url",
            "http",
        ),
        (
            "[[webhook.forward]]\nurl = \"http://a/\"\nname = \"x\"\n[[webhook.forward]]\nurl = \"http://b/\"\nname = \"x\"\n",
            "webhook.forward[1].name",
            "name",
        ),
    ];
    for (text, key, allowed) in cases {
        let errors = load_err(text);
        let issue = errors
            .issues
            .iter()
            .find(|issue| issue.key == key)
            .unwrap_or_else(|| panic!("no issue for {key}:\n{errors}"));
        assert!(issue.allowed.contains(allowed), "{issue}");
        assert!(!issue.to_string().contains("meatball"));
    }
}

#[test]
fn graph_sunsets_take_versions_and_dates_and_name_a_bad_one() {
    let settings = load_ok("[graph]\nsunsets = { \"v27.0\" = \"2028-11-30\" }\n");
    assert_eq!(
        settings
            .graph
            .sunsets
            .get("v27.0")
            .map(|d| d.to_string())
            .as_deref(),
        Some("2028-11-30")
    );
    let errors = load_err("[graph]\nsunsets = { \"v27.0\" = \"soon\" }\n");
    assert_eq!(errors.issues[0].key, "graph.sunsets.v27.0");
    assert!(
        errors.issues[0].allowed.contains("YYYY")
            || errors.issues[0].problem.contains("YYYY-MM-DD")
    );
    let errors = load_err("[graph]\nsunsets = { \"27\" = \"2028-11-30\" }\n");
    assert_eq!(errors.issues[0].key, "graph.sunsets.27");
}
