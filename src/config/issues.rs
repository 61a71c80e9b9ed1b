//! Configuration problems: each names where it is, the key, the bad value and what is allowed.

use std::fmt;
use std::path::PathBuf;

/// One problem found in the config file, the environment or a flag.
///
/// `value` is never a secret: secret values are shown as `<secret>` or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    /// Dotted key (`refresh.check-interval`), an environment variable or a flag; may be empty
    /// for problems of the whole file (a TOML syntax error).
    pub key: String,
    /// The offending value as written (strings quoted).
    pub value: Option<String>,
    pub problem: String,
    /// What would have been accepted; empty when the problem already says it.
    pub allowed: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, Some(line)) => write!(f, "line {line}: ")?,
            (None, None) => {}
        }
        if !self.key.is_empty() {
            f.write_str(&self.key)?;
            if let Some(value) = &self.value {
                write!(f, " = {value}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.problem)?;
        if !self.allowed.is_empty() {
            write!(f, "; allowed: {}", self.allowed)?;
        }
        Ok(())
    }
}

/// Every problem found while loading the configuration, reported together.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors {
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, issue) in self.issues.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Why a value was refused and what would have been accepted, before the place is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub problem: String,
    pub allowed: String,
}

impl Invalid {
    pub(crate) fn new(problem: impl Into<String>, allowed: impl Into<String>) -> Self {
        Self {
            problem: problem.into(),
            allowed: allowed.into(),
        }
    }

    /// The issue for a value that came from an environment variable or a flag.
    pub(crate) fn outside_file(self, key: &str, value: &str) -> ConfigIssue {
        ConfigIssue {
            file: None,
            line: None,
            key: key.to_string(),
            // A token in the wrong variable must not be echoed back in full.
            value: Some(crate::mask::mask_meta_tokens(&format!("{value:?}")).into_owned()),
            problem: crate::mask::mask_meta_tokens(&self.problem).into_owned(),
            allowed: self.allowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_place_key_value_problem_and_allowed() {
        let issue = ConfigIssue {
            file: Some(PathBuf::from("/etc/tokentop/config.toml")),
            line: Some(12),
            key: "refresh.check-interval".to_string(),
            value: Some("\"5x\"".to_string()),
            problem: "not a duration".to_string(),
            allowed: "at least 10s".to_string(),
        };
        assert_eq!(
            issue.to_string(),
            "/etc/tokentop/config.toml:12: refresh.check-interval = \"5x\": not a duration; allowed: at least 10s"
        );
    }

    #[test]
    fn display_of_many_is_one_per_line() {
        let issue = Invalid::new("bad", "").outside_file("X", "y");
        let errors = ConfigErrors {
            issues: vec![issue.clone(), issue],
        };
        assert_eq!(errors.to_string(), "X = \"y\": bad\nX = \"y\": bad");
    }
}
