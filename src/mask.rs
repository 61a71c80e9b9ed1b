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
    // Byte offsets of the character boundaries, so that multi-byte characters stay whole;
    // no copy of the token is made (this runs at every inspection of every account).
    let long_enough = token.chars().nth(MIN_LEN_TO_SHOW_ENDS - 1).is_some();
    let head_end = token.char_indices().nth(VISIBLE_CHARS).map(|(at, _)| at);
    let tail_start = token
        .char_indices()
        .nth_back(VISIBLE_CHARS - 1)
        .map(|(at, _)| at);
    match (long_enough, head_end, tail_start) {
        (true, Some(head_end), Some(tail_start)) => {
            let mut masked = String::with_capacity(head_end + 3 + token.len() - tail_start);
            masked.push_str(&token[..head_end]);
            masked.push('…');
            masked.push_str(&token[tail_start..]);
            masked
        }
        _ => "…".to_string(),
    }
}

/// Masks a [`SecretString`]; see [`mask_str`].
pub fn mask(token: &SecretString) -> String {
    mask_str(token.expose_secret())
}

/// Removes every occurrence of each secret from `text`, replacing it with its mask, then masks
/// every token-shaped word that is left (see [`mask_token_like`]).
///
/// A safety net for text that came from outside (an error body that echoes a query string, a
/// child process's stderr): the secret never reaches a log line or the screen even when a
/// remote party repeats it back to us, or hands us a token we do not know yet.
pub fn redact(text: &str, secrets: &[&SecretString]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        let value = secret.expose_secret();
        if value.len() >= 4 && out.contains(value) {
            out = out.replace(value, &mask_str(value));
        }
    }
    mask_token_like(&out).into_owned()
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

/// A secret-bearing key followed by its value (JSON `"key": "value"` or query `key=value`),
/// a Meta-shaped token, or a long unbroken run of token characters. Meta's tokens are about
/// 200 characters; ids, trace ids and wamids stay well below 64 unbroken characters.
static TOKEN_LIKE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
    regex::Regex::new(concat!(
        r#"(?P<key>(?:access_token|fb_exchange_token|client_secret|appsecret_proof|input_token)"?\s*[:=]\s*"?)"#,
        r#"(?P<value>[^"&\s,}]+)"#,
        r"|EAA[A-Za-z0-9]{16,}",
        r"|[A-Za-z0-9_\-|%+/=]{64,}",
    ))
    .ok()
});

/// Masks token-shaped words known or not: the values of secret-bearing keys, Meta-shaped
/// tokens and long runs of token characters. Used on every excerpt of a response body, so a
/// new token in a half-broken answer never reaches an error message.
pub fn mask_token_like(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(re) = TOKEN_LIKE.as_ref() else {
        return std::borrow::Cow::Borrowed(text);
    };
    re.replace_all(text, |c: &regex::Captures| {
        match (c.name("key"), c.name("value")) {
            (Some(key), Some(value)) => format!("{}{}", key.as_str(), mask_str(value.as_str())),
            _ => mask_str(&c[0]),
        }
    })
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
        assert_eq!(mask_str("abcdxxxxxxxxxxxxxxxxüöäß"), "abcd…üöäß");
        // Sixteen characters but more bytes: counted in characters, not bytes.
        assert_eq!(mask_str("éééééééééééééééé"), "éééé…éééé");
        assert_eq!(mask_str("ééééééééééééééé"), "…");
    }

    #[test]
    fn the_ends_show_from_sixteen_characters() {
        assert_eq!(mask_str("0123456789abcde"), "…");
        assert_eq!(mask_str("0123456789abcdef"), "0123…cdef");
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
    fn unknown_tokens_in_foreign_text_are_masked() {
        let body = r#"{"access_token":"XYZnotmetashapedbutsecret","token_type":"bearer"}junk"#;
        let out = mask_token_like(body);
        assert!(!out.contains("notmetashaped"), "{out}");
        assert!(out.contains(r#""access_token":"XYZn…cret""#), "{out}");
        let query = "GET /oauth/access_token?fb_exchange_token=abcdefghijklmnopqrstu&x=1";
        assert!(!mask_token_like(query).contains("ghijklmnop"));
        let long = format!("error near {}", "Zq9".repeat(30));
        assert!(!mask_token_like(&long).contains("Zq9Zq9Zq9Zq9"));
        let meta = "Error validating access token EAAGm0PX4ZCpsBAKZCZAabcdefghijklmnop1234";
        assert!(!mask_token_like(meta).contains("m0PX4ZCps"));
    }

    #[test]
    fn ordinary_error_text_is_left_alone() {
        let text = "(#100) Param to must be a phone number [fbtrace_id AOl1gSqZRMyPzEMw9OJXzYh] see https://developers.facebook.com/docs/graph-api wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI4QUFERjg0NDEzNDdBMUQ1QzYA";
        assert_eq!(mask_token_like(text), text);
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
