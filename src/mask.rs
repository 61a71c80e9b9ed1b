//! Masking of secrets for display: the only way a token is ever shown to a person.

use secrecy::{ExposeSecret, SecretString};

/// Characters kept visible at each end of a masked token.
const VISIBLE_CHARS: usize = 4;

/// Shortest token for which the ends are shown; shorter ones are hidden entirely so that
/// masking never reveals most of a short secret.
const MIN_LEN_TO_SHOW_ENDS: usize = 16;

/// Masks a token as `EAAG…x9Qf`: first and last four characters around an ellipsis.
///
/// Tokens shorter than 16 characters are shown as `…` alone, because four characters at each
/// end would give away too much of them.
pub fn mask_str(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() < MIN_LEN_TO_SHOW_ENDS {
        return "…".to_string();
    }
    let head: String = chars[..VISIBLE_CHARS].iter().collect();
    let tail: String = chars[chars.len() - VISIBLE_CHARS..].iter().collect();
    format!("{head}…{tail}")
}

/// Masks a [`SecretString`]; see [`mask_str`].
pub fn mask(token: &SecretString) -> String {
    mask_str(token.expose_secret())
}

/// Removes every occurrence of each secret from `text`, replacing it with its mask.
///
/// A safety net for text that came from outside (an error body that echoes a query string, a
/// child process's stderr): the secret never reaches a log line or the screen even when a
/// remote party repeats it back to us.
pub fn redact(text: &str, secrets: &[&SecretString]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        let value = secret.expose_secret();
        if value.len() >= 4 && out.contains(value) {
            out = out.replace(value, &mask_str(value));
        }
    }
    out
}

/// Anything shaped like a Meta access token (`EAA` + at least 16 more token characters).
static META_TOKEN: std::sync::LazyLock<Option<regex::Regex>> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"EAA[A-Za-z0-9]{16,}").ok());

/// Masks every Meta-token-shaped word in text from outside (an application's log line), so a
/// backend that logs its own token never puts it on tokentop's screen.
pub fn mask_meta_tokens(text: &str) -> std::borrow::Cow<'_, str> {
    match META_TOKEN.as_ref() {
        // Cheap check first: most lines hold no "EAA" at all.
        Some(re) if text.contains("EAA") => {
            re.replace_all(text, |c: &regex::Captures| mask_str(&c[0]))
        }
        _ => std::borrow::Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_long_token_to_ends() {
        assert_eq!(mask_str("EAAGabcdefghijklmnopx9Qf"), "EAAG…x9Qf");
    }

    #[test]
    fn hides_short_tokens_entirely() {
        assert_eq!(mask_str("short"), "…");
        assert_eq!(mask_str(""), "…");
    }

    #[test]
    fn handles_multibyte_characters() {
        assert_eq!(mask_str("ééééxxxxxxxxxxxxxxxxyyyy"), "éééé…yyyy");
    }

    #[test]
    fn meta_tokens_in_foreign_text_are_masked() {
        let line = "using token=EAAGm0PX4ZCpsBAKZCZAabcdefghijklmnop1234 for send; EAA is short";
        assert_eq!(
            mask_meta_tokens(line),
            "using token=EAAG…1234 for send; EAA is short"
        );
        assert!(matches!(
            mask_meta_tokens("plain line"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn redact_replaces_every_occurrence() {
        let secret = SecretString::from("EAAGsecretsecretsecretx9Qf");
        let text = "bad token EAAGsecretsecretsecretx9Qf and again EAAGsecretsecretsecretx9Qf";
        let out = redact(text, &[&secret]);
        assert!(!out.contains("secretsecret"));
        assert_eq!(out.matches("EAAG…x9Qf").count(), 2);
    }
}
