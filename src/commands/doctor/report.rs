//! One line per step, `✓ step: found` or `✗ step: found` with `  → what to do` below, and the
//! safety net that keeps every secret out of them.

use std::io::IsTerminal;

use secrecy::{ExposeSecret, SecretString};

use crate::commands::stdout;
use crate::config::EnvSnapshot;

/// What one step found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed; `note` is worth knowing but needs nothing done.
    Pass { found: String, note: Option<String> },
    /// Failed: what was found and what to do about it.
    Fail { found: String, todo: String },
    /// Could not run without an earlier step.
    Skip { needs: String },
}

impl Outcome {
    pub fn pass(found: impl Into<String>) -> Self {
        Self::Pass {
            found: found.into(),
            note: None,
        }
    }

    pub fn pass_noted(found: impl Into<String>, note: impl Into<String>) -> Self {
        Self::Pass {
            found: found.into(),
            note: Some(note.into()),
        }
    }

    pub fn fail(found: impl Into<String>, todo: impl Into<String>) -> Self {
        Self::Fail {
            found: found.into(),
            todo: todo.into(),
        }
    }

    pub fn skip(needs: impl Into<String>) -> Self {
        Self::Skip {
            needs: needs.into(),
        }
    }

    pub fn passed(&self) -> bool {
        matches!(self, Self::Pass { .. })
    }
}

/// Prints steps as they finish and remembers whether any failed.
pub struct Report {
    colour: bool,
    failed: bool,
    secrets: Vec<SecretString>,
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

impl Report {
    /// Colour only on a terminal and never with `NO_COLOR`.
    pub fn new(env: &EnvSnapshot) -> Self {
        Self {
            colour: std::io::stdout().is_terminal() && env.get("NO_COLOR").is_none(),
            failed: false,
            secrets: Vec::new(),
        }
    }

    /// Secrets that must never be printed: any text containing one shows its mask instead.
    pub fn hide(&mut self, secrets: impl IntoIterator<Item = SecretString>) {
        self.secrets.extend(secrets);
    }

    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Prints one step; returns whether it passed.
    pub fn step(&mut self, step: &str, outcome: &Outcome) -> anyhow::Result<bool> {
        match outcome {
            Outcome::Pass { found, note } => {
                self.head(GREEN, "✓", step, found)?;
                if let Some(note) = note {
                    self.indented(&format!("note: {note}"))?;
                }
            }
            Outcome::Fail { found, todo } => {
                self.failed = true;
                self.head(RED, "✗", step, found)?;
                self.indented(&format!("→ {todo}"))?;
            }
            Outcome::Skip { needs } => {
                self.failed = true;
                self.head(DIM, "·", step, &format!("skipped: needs {needs}"))?;
            }
        }
        Ok(outcome.passed())
    }

    fn head(&self, colour: &str, mark: &str, step: &str, found: &str) -> anyhow::Result<()> {
        let mut lines = found.lines();
        let first = self.clean(lines.next().unwrap_or_default());
        if self.colour {
            stdout::line(format_args!("{colour}{mark}{RESET} {step}: {first}"))?;
        } else {
            stdout::line(format_args!("{mark} {step}: {first}"))?;
        }
        for more in lines {
            self.indented(more)?;
        }
        Ok(())
    }

    fn indented(&self, text: &str) -> anyhow::Result<()> {
        for line in text.lines() {
            stdout::line(format_args!("  {}", self.clean(line)))?;
        }
        Ok(())
    }

    /// Known secrets masked, then anything else shaped like a Meta token.
    fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            let value = secret.expose_secret();
            if value.len() >= 4 && out.contains(value) {
                out = out.replace(value, &crate::mask::mask_str(value));
            }
        }
        crate::mask::mask_meta_tokens(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_secret_is_masked() {
        let mut report = Report::new(&EnvSnapshot::default());
        report.hide([SecretString::from("EAAGsecretsecretsecret9Qf".to_string())]);
        let shown = report.clean("token EAAGsecretsecretsecret9Qf here");
        assert!(!shown.contains("secretsecret"), "{shown}");
    }

    #[test]
    fn only_a_pass_passes() {
        assert!(Outcome::pass("ok").passed());
        assert!(!Outcome::fail("bad", "fix").passed());
        assert!(!Outcome::skip("x").passed());
    }
}
