//! `on-publish-signal`, `on-publish-restart`, `on-publish-timeout`: after a publish, tell the app.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::issues::Invalid;
use super::reader::Ctx;
use super::values;

/// Keys of the `on-publish-signal = { ... }` table.
pub(crate) const SIGNAL_KEYS: &[&str] = &["pid-file", "signal"];
const PATH: &str = "account";
const SIGNAL_PATH: &str = "account.on-publish-signal";

/// Default time limit of each of the signal and the restart.
pub const DEFAULT_ON_PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// What an account does after every publish target (env-file, token file, `on-refresh`)
/// holds a new token: signal a process, restart a unit, or both (signal first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnPublishSettings {
    /// `on-publish-signal`: a signal to the process whose pid is in a file.
    pub signal: Option<SignalSpec>,
    /// `on-publish-restart`: a service manager's reload-or-restart of a unit.
    pub restart: Option<RestartSpec>,
    /// `on-publish-timeout`: time limit of the signal and of the restart, each (default 30 s).
    pub timeout: Duration,
}

impl Default for OnPublishSettings {
    fn default() -> Self {
        Self {
            signal: None,
            restart: None,
            timeout: DEFAULT_ON_PUBLISH_TIMEOUT,
        }
    }
}

impl OnPublishSettings {
    /// Whether nothing is to be told after a publish.
    pub fn is_empty(&self) -> bool {
        self.signal.is_none() && self.restart.is_none()
    }
}

/// `on-publish-signal = { pid-file = "/run/app.pid", signal = "HUP" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalSpec {
    /// Absolute path of a file holding the process id, re-read at every publish (the process
    /// may have restarted since).
    pub pid_file: PathBuf,
    pub signal: NotifySignal,
}

/// The signals `on-publish-signal` may send: those applications use for "reload" or an
/// orderly stop. KILL and STOP are not among them (nothing can handle them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotifySignal {
    #[default]
    Hup,
    Usr1,
    Usr2,
    Term,
    Int,
    Quit,
}

impl NotifySignal {
    pub const ALL: [NotifySignal; 6] = [
        NotifySignal::Hup,
        NotifySignal::Usr1,
        NotifySignal::Usr2,
        NotifySignal::Term,
        NotifySignal::Int,
        NotifySignal::Quit,
    ];

    /// The name without the `SIG` prefix, as `kill -s` takes it: `HUP`.
    pub fn name(self) -> &'static str {
        match self {
            NotifySignal::Hup => "HUP",
            NotifySignal::Usr1 => "USR1",
            NotifySignal::Usr2 => "USR2",
            NotifySignal::Term => "TERM",
            NotifySignal::Int => "INT",
            NotifySignal::Quit => "QUIT",
        }
    }
}

impl fmt::Display for NotifySignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `on-publish-restart = "SCHEME:TARGET"`. Only systemd for now; Kubernetes is an
/// `on-refresh` recipe (`deploy/hooks/kubernetes-rollout-restart`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartSpec {
    /// `systemctl try-reload-or-restart UNIT`; `unit` is checked and carries its suffix.
    Systemd { unit: String },
}

impl fmt::Display for RestartSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartSpec::Systemd { unit } => write!(f, "systemd:{unit}"),
        }
    }
}

/// The three `on-publish-*` keys of one `[[account]]`.
pub(crate) fn on_publish(ctx: &mut Ctx<'_>, table: &DeTable<'_>) -> OnPublishSettings {
    let timeout =
        |text: &str| values::duration_in(text, Duration::from_secs(1), Duration::from_secs(600));
    OnPublishSettings {
        signal: signal_spec(ctx, table),
        restart: ctx.checked(table, PATH, "on-publish-restart", restart_spec),
        timeout: ctx
            .checked(table, PATH, "on-publish-timeout", timeout)
            .unwrap_or(DEFAULT_ON_PUBLISH_TIMEOUT),
    }
}

/// `on-publish-signal`: a table with an absolute `pid-file` and an optional `signal` (HUP).
fn signal_spec(ctx: &mut Ctx<'_>, account: &DeTable<'_>) -> Option<SignalSpec> {
    const ALLOWED: &str = "a table { pid-file = \"/ABSOLUTE/PATH\", signal = \"HUP\" }";
    let item = account.get("on-publish-signal")?;
    let DeValue::Table(table) = item.get_ref() else {
        let found = item.get_ref().type_str();
        let shown = Some(ctx.shown(item));
        let invalid = Invalid::new(format!("expected a table, found {found}"), ALLOWED);
        ctx.issue(&item.span(), SIGNAL_PATH.to_string(), shown, invalid);
        return None;
    };
    ctx.check_keys(table, SIGNAL_PATH, "on-publish-signal", SIGNAL_KEYS);
    let span: Range<usize> = item.span();
    if !table.contains_key("pid-file") {
        ctx.missing(&span, SIGNAL_PATH, "pid-file", PID_FILE_ALLOWED);
    }
    let pid_file = ctx.checked(table, SIGNAL_PATH, "pid-file", pid_file);
    let signal = match table.get("signal") {
        None => Some(NotifySignal::default()),
        Some(_) => ctx.checked(table, SIGNAL_PATH, "signal", notify_signal),
    };
    Some(SignalSpec {
        pid_file: pid_file?,
        signal: signal?,
    })
}

const PID_FILE_ALLOWED: &str =
    "an absolute path of the file the process writes its id to, e.g. \"/run/app.pid\"";

/// `pid-file`: absolute, since it names another program's file (a path relative to
/// tokentop's config file would be a guess).
pub(crate) fn pid_file(text: &str) -> Result<PathBuf, Invalid> {
    let path = Path::new(text);
    if text.trim().is_empty() {
        Err(Invalid::new("empty", PID_FILE_ALLOWED))
    } else if !path.is_absolute() {
        Err(Invalid::new("not an absolute path", PID_FILE_ALLOWED))
    } else if text.ends_with('/') {
        Err(Invalid::new("names a directory", PID_FILE_ALLOWED))
    } else {
        Ok(path.to_path_buf())
    }
}

/// A signal name as `kill -s` takes it, in any case, with or without `SIG`.
pub(crate) fn notify_signal(text: &str) -> Result<NotifySignal, Invalid> {
    let upper = text.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    NotifySignal::ALL
        .into_iter()
        .find(|signal| signal.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = NotifySignal::ALL.iter().map(|s| s.name()).collect();
            Invalid::new(
                "not a signal on-publish-signal sends",
                format!(
                    "one of {} (any case, SIG prefix optional), e.g. \"HUP\"",
                    names.join(", ")
                ),
            )
        })
}

const RESTART_ALLOWED: &str = "\"systemd:UNIT\", e.g. \"systemd:app.service\" (run as \
    `systemctl try-reload-or-restart UNIT`); for Kubernetes, use on-refresh with the \
    kubernetes-rollout-restart recipe (docs/recipes.md)";

/// `on-publish-restart`: `systemd:UNIT`; any other scheme is refused, pointing at the recipe.
pub(crate) fn restart_spec(text: &str) -> Result<RestartSpec, Invalid> {
    match text.split_once(':') {
        Some(("systemd", unit)) => Ok(RestartSpec::Systemd {
            unit: systemd_unit(unit)?,
        }),
        Some((scheme, _)) if !scheme.is_empty() => Err(Invalid::new(
            format!("unsupported scheme {scheme:?}"),
            RESTART_ALLOWED,
        )),
        _ => Err(Invalid::new("no scheme", RESTART_ALLOWED)),
    }
}

/// Unit types `systemctl try-reload-or-restart` acts on.
const RESTARTABLE_SUFFIXES: &[&str] = &[
    "service",
    "socket",
    "target",
    "mount",
    "automount",
    "swap",
    "path",
    "timer",
];
/// Unit types systemd knows but cannot restart.
const UNRESTARTABLE_SUFFIXES: &[&str] = &["slice", "scope", "device"];
/// systemd's own limit (UNIT_NAME_MAX less the NUL).
const MAX_UNIT_NAME_BYTES: usize = 255;

/// A systemd unit name; without a unit-type suffix `.service` is added, as `systemctl`
/// itself does.
fn systemd_unit(text: &str) -> Result<String, Invalid> {
    const ALLOWED: &str = "a systemd unit name (A-Z a-z 0-9 : _ . - \\ @, not starting with -) \
        of a service, socket, target, mount, automount, swap, path or timer, e.g. \
        \"systemd:app.service\"; without a suffix, .service is added";
    let problem = |problem: &str| Err(Invalid::new(problem, ALLOWED));
    if text.is_empty() {
        return problem("no unit name after systemd:");
    }
    if text.starts_with('-') {
        return problem("the unit name starts with - (systemctl would read an option)");
    }
    let valid_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '-' | '\\' | '@');
    if let Some(bad) = text.chars().find(|c| !valid_char(*c)) {
        return problem(&format!("{bad:?} cannot be in a unit name"));
    }
    let unit = match text.rsplit_once('.') {
        Some((_, suffix)) if RESTARTABLE_SUFFIXES.contains(&suffix) => text.to_string(),
        Some((_, suffix)) if UNRESTARTABLE_SUFFIXES.contains(&suffix) => {
            return problem(&format!("a .{suffix} unit cannot be restarted"));
        }
        _ => format!("{text}.service"),
    };
    let prefix = unit.rsplit_once('.').map_or("", |(prefix, _)| prefix);
    if prefix.is_empty() || prefix.starts_with('.') {
        return problem("no unit name before the suffix");
    }
    if prefix.ends_with('@') {
        return problem("a template unit needs an instance (app@1.service, not app@.service)");
    }
    if unit.len() > MAX_UNIT_NAME_BYTES {
        return problem(&format!("longer than {MAX_UNIT_NAME_BYTES} bytes"));
    }
    Ok(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_take_any_case_and_an_optional_sig_prefix() {
        for (text, signal) in [
            ("HUP", NotifySignal::Hup),
            ("sighup", NotifySignal::Hup),
            ("SigUsr1", NotifySignal::Usr1),
            ("usr2", NotifySignal::Usr2),
            ("TERM", NotifySignal::Term),
            ("SIGINT", NotifySignal::Int),
            (" quit ", NotifySignal::Quit),
        ] {
            assert_eq!(notify_signal(text), Ok(signal), "{text}");
        }
        for text in ["KILL", "SIGSTOP", "9", "1", "", "SIG", "HUPP", "SIGSIGHUP"] {
            let invalid = notify_signal(text).unwrap_err();
            assert!(
                invalid.allowed.contains("HUP, USR1, USR2, TERM, INT, QUIT"),
                "{text}: {invalid:?}"
            );
        }
    }

    #[test]
    fn pid_files_must_be_absolute_file_paths() {
        assert_eq!(pid_file("/run/app.pid"), Ok(PathBuf::from("/run/app.pid")));
        for text in ["", " ", "app.pid", "./run/app.pid", "/run/"] {
            let invalid = pid_file(text).unwrap_err();
            assert!(
                invalid.allowed.contains("absolute path"),
                "{text}: {invalid:?}"
            );
        }
    }

    #[test]
    fn systemd_units_keep_a_known_suffix_and_get_service_otherwise() {
        for (text, unit) in [
            ("systemd:app.service", "app.service"),
            ("systemd:app", "app.service"),
            ("systemd:app.v2", "app.v2.service"),
            ("systemd:worker@2.service", "worker@2.service"),
            ("systemd:nginx.socket", "nginx.socket"),
            ("systemd:app-x\\x2dy.timer", "app-x\\x2dy.timer"),
        ] {
            assert_eq!(
                restart_spec(text),
                Ok(RestartSpec::Systemd {
                    unit: unit.to_string()
                }),
                "{text}"
            );
        }
        let spec = restart_spec("systemd:app").unwrap();
        assert_eq!(spec.to_string(), "systemd:app.service");
    }

    #[test]
    fn bad_units_and_other_schemes_are_refused_saying_why() {
        let long = format!("systemd:{}", "a".repeat(250));
        for (text, problem) in [
            ("systemd:", "no unit name"),
            ("systemd:--help", "starts with -"),
            ("systemd:app service", "' ' cannot be"),
            ("systemd:app;reboot", "';' cannot be"),
            ("systemd:user.slice", ".slice unit cannot be restarted"),
            ("systemd:.service", "no unit name before"),
            ("systemd:worker@.service", "template unit needs an instance"),
            ("systemd:worker@", "template unit needs an instance"),
            (long.as_str(), "longer than 255"),
            (
                "kubernetes:deployment/app",
                "unsupported scheme \"kubernetes\"",
            ),
            ("app.service", "no scheme"),
            (":app.service", "no scheme"),
            ("", "no scheme"),
        ] {
            let invalid = restart_spec(text).unwrap_err();
            assert!(invalid.problem.contains(problem), "{text}: {invalid:?}");
        }
        let invalid = restart_spec("k8s:deployment/app").unwrap_err();
        assert!(
            invalid.allowed.contains("kubernetes-rollout-restart"),
            "{invalid:?}"
        );
    }
}
