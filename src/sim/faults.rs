//! Fault injection settings for the Graph endpoints (never the `/_sim/` control endpoints).

use serde::{Deserialize, Serialize};

/// Faults to inject into Graph responses. Every field is optional in JSON; absent means off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Probability (0..=1) of answering HTTP 500/503 with a transient code 2 envelope.
    pub error_5xx_probability: f64,
    /// Probability (0..=1) of answering a rate-limit error (code 4, or 80007 on a WABA).
    pub rate_limit_probability: f64,
    /// Probability (0..=1) of answering HTTP 200 with a truncated, non-JSON body.
    pub malformed_probability: f64,
    /// Delay added before every Graph response, in milliseconds.
    pub latency_ms: u64,
    /// When set, every message send fails with this message-level error code (e.g. 131026).
    pub message_failure_code: Option<i64>,
}

/// The fault drawn for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    ServerError,
    RateLimit,
    Malformed,
}

impl Faults {
    /// Checks the probabilities; the error names the offending field and the allowed range.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let probabilities = [
            ("error_5xx_probability", self.error_5xx_probability),
            ("rate_limit_probability", self.rate_limit_probability),
            ("malformed_probability", self.malformed_probability),
        ];
        for (name, value) in probabilities {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!(
                    "field `{name}` is {value}; allowed: a number from 0 to 1"
                ));
            }
        }
        Ok(())
    }

    /// Draws at most one fault, in the order 5xx, rate limit, malformed.
    pub(crate) fn draw(&self) -> Option<Fault> {
        let draws = [
            (self.error_5xx_probability, Fault::ServerError),
            (self.rate_limit_probability, Fault::RateLimit),
            (self.malformed_probability, Fault::Malformed),
        ];
        // `random::<f64>()` is in [0, 1), so probability 1 always fires and 0 never does;
        // out-of-range values set through `SimHandle` saturate instead of panicking.
        draws
            .into_iter()
            .find(|(probability, _)| rand::random::<f64>() < *probability)
            .map(|(_, fault)| fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certain_and_impossible_faults() {
        let none = Faults::default();
        assert_eq!(none.draw(), None);
        let all = Faults {
            error_5xx_probability: 1.0,
            rate_limit_probability: 1.0,
            ..Faults::default()
        };
        assert_eq!(all.draw(), Some(Fault::ServerError));
        let rate = Faults {
            rate_limit_probability: 1.0,
            ..Faults::default()
        };
        assert_eq!(rate.draw(), Some(Fault::RateLimit));
    }

    #[test]
    fn validate_names_the_field() {
        let bad = Faults {
            malformed_probability: 1.5,
            ..Faults::default()
        };
        let message = bad.validate().unwrap_err();
        assert!(message.contains("malformed_probability"), "{message}");
        assert!(Faults::default().validate().is_ok());
    }

    #[test]
    fn all_fields_optional_in_json() {
        let faults: Faults = serde_json::from_str(r#"{"latency_ms":5}"#).unwrap();
        assert_eq!(faults.latency_ms, 5);
        assert_eq!(faults.message_failure_code, None);
    }
}
