//! What a token must look like before tokentop stores, publishes or sends it.
//!
//! A token from outside (an exchange answer, the store, a prompt) is written into env-files,
//! piped to hooks and put in HTTP requests. An empty one would replace a working token; one
//! with a newline would inject a line into an env-file. So every token is checked here first,
//! and the error never quotes the token.

/// Shortest token accepted. Meta's user and system-user tokens are about 200 characters;
/// app tokens (`APP_ID|SECRET`) about 50.
pub const MIN_TOKEN_CHARS: usize = 16;
/// Longest token accepted; Meta's tokens are far shorter, but they have grown over the years.
pub const MAX_TOKEN_CHARS: usize = 4096;

/// The characters a token may hold besides ASCII letters and digits: base64 and base64url
/// symbols, `|` of app tokens, `.` and `~` of URL-safe forms, `%` of percent-encoding.
const EXTRA_CHARS: &[u8] = b"-_.|~+/=%";

/// Why a string is not a well-formed token. Never carries the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenShapeError {
    #[error("the token is empty")]
    Empty,
    #[error(
        "the token is {chars} characters long; a token has {MIN_TOKEN_CHARS} to {MAX_TOKEN_CHARS}"
    )]
    Length { chars: usize },
    #[error(
        "the token has {what} at character {position}; a token is one word of ASCII letters, digits and - _ . | ~ + / = %"
    )]
    Character { what: &'static str, position: usize },
}

/// Checks that `token` is one word of the token alphabet, of a sane length.
pub fn check_token_shape(token: &str) -> Result<(), TokenShapeError> {
    if token.is_empty() {
        return Err(TokenShapeError::Empty);
    }
    for (index, c) in token.chars().enumerate() {
        if let Some(what) = disallowed(c) {
            return Err(TokenShapeError::Character {
                what,
                position: index + 1,
            });
        }
    }
    // Every character is ASCII by now, so bytes are characters.
    let chars = token.len();
    if !(MIN_TOKEN_CHARS..=MAX_TOKEN_CHARS).contains(&chars) {
        return Err(TokenShapeError::Length { chars });
    }
    Ok(())
}

fn disallowed(c: char) -> Option<&'static str> {
    if c.is_ascii_alphanumeric() || (c.is_ascii() && EXTRA_CHARS.contains(&(c as u8))) {
        None
    } else if c.is_whitespace() {
        Some("whitespace")
    } else if c.is_control() {
        Some("a control character")
    } else if c.is_ascii() {
        Some("a punctuation character")
    } else {
        Some("a non-ASCII character")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "EAAGm0PX4ZCpsBAKZCZAabcdefghijklmnop1234";

    #[test]
    fn meta_and_app_tokens_are_well_formed() {
        assert_eq!(check_token_shape(GOOD), Ok(()));
        assert_eq!(
            check_token_shape("100000000000001|abcdefABCDEF0123456789_-"),
            Ok(())
        );
    }

    #[test]
    fn empty_blank_and_short_tokens_are_refused() {
        assert_eq!(check_token_shape(""), Err(TokenShapeError::Empty));
        assert!(matches!(
            check_token_shape("   "),
            Err(TokenShapeError::Character {
                what: "whitespace",
                position: 1
            })
        ));
        assert_eq!(
            check_token_shape("EAAGshort"),
            Err(TokenShapeError::Length { chars: 9 })
        );
        let long = "A".repeat(MAX_TOKEN_CHARS + 1);
        assert!(matches!(
            check_token_shape(&long),
            Err(TokenShapeError::Length { .. })
        ));
    }

    #[test]
    fn a_newline_or_control_character_cannot_inject_a_line() {
        let injected = format!("{GOOD}\nINJECTED_VAR=pwned");
        let err = check_token_shape(&injected).unwrap_err();
        assert_eq!(
            err,
            TokenShapeError::Character {
                what: "whitespace",
                position: GOOD.len() + 1
            }
        );
        assert!(check_token_shape(&format!("{GOOD}\u{7}")).is_err());
        assert!(check_token_shape(&format!("{GOOD}\"")).is_err());
        assert!(check_token_shape(&format!("{GOOD}é")).is_err());
    }

    #[test]
    fn the_error_never_quotes_the_token() {
        let err = check_token_shape(&format!("{GOOD} x")).unwrap_err();
        assert!(!err.to_string().contains("EAAGm0PX"), "{err}");
    }
}
