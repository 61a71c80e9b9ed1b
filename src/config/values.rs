//! Pure validators for single values, shared by the file reader and the environment overrides.

use std::time::Duration;

use super::duration::{DURATION_FORMS, format_duration, parse_parts};
use super::issues::Invalid;
use super::settings::RefreshBefore;

/// A duration within `min..=max`.
pub(crate) fn duration_in(text: &str, min: Duration, max: Duration) -> Result<Duration, Invalid> {
    let allowed = format!("{DURATION_FORMS}, {}", range_text(min, max));
    let duration = parse_parts(text)
        .map_err(|detail| Invalid::new(format!("not a duration ({detail})"), allowed.clone()))?;
    if duration < min || duration > max {
        return Err(Invalid::new("out of range", allowed));
    }
    Ok(duration)
}

fn range_text(min: Duration, max: Duration) -> String {
    if min.is_zero() {
        format!("at most {}", format_duration(max))
    } else {
        format!("from {} to {}", format_duration(min), format_duration(max))
    }
}

/// `refresh-before`: a duration before expiry or a share of the lifetime such as "33%".
pub(crate) fn refresh_before(
    text: &str,
    min: Duration,
    max: Duration,
) -> Result<RefreshBefore, Invalid> {
    let allowed = format!(
        "a percentage of the token lifetime from \"1%\" to \"99%\", or {DURATION_FORMS}, {}",
        range_text(min, max)
    );
    if let Some(number) = text.trim().strip_suffix('%') {
        return match number.trim().parse::<u8>() {
            Ok(percent) if (1..=99).contains(&percent) => {
                Ok(RefreshBefore::ShareOfLifetime(percent))
            }
            _ => Err(Invalid::new("not a percentage from 1 to 99", allowed)),
        };
    }
    duration_in(text, min, max)
        .map(RefreshBefore::Fixed)
        .map_err(|invalid| Invalid::new(invalid.problem, allowed))
}

/// `[graph] base-url`: an http(s) URL with a host; the trailing slash is dropped.
pub(crate) fn base_url(text: &str) -> Result<String, Invalid> {
    const ALLOWED: &str =
        "an http:// or https:// URL with a host, e.g. \"https://graph.facebook.com\"";
    let url = reqwest::Url::parse(text.trim())
        .map_err(|err| Invalid::new(format!("not a URL ({err})"), ALLOWED))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Invalid::new(
            format!("unsupported scheme {:?}", url.scheme()),
            ALLOWED,
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Invalid::new("no host", ALLOWED));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Invalid::new("has a query or fragment", ALLOWED));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// A URL for people: a password in it is replaced by `***` (a user name stays, to tell which).
pub fn url_without_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only fails for URLs that cannot carry credentials, which this one does.
            let _ = parsed.set_password(Some("***"));
            parsed.as_str().trim_end_matches('/').to_string()
        }
        _ => url.to_string(),
    }
}

/// Whether `url` carries a password (`redis://user:PASSWORD@host`); unparsable counts as yes.
pub(crate) fn url_has_password(url: &str) -> bool {
    reqwest::Url::parse(url).map_or(true, |parsed| parsed.password().is_some())
}

/// `[graph] version`: `v<digits>.<digits>`, each part a number the Graph client can use
/// (so `config check` refuses exactly what `GraphClient::new` would).
pub(crate) fn graph_version(text: &str) -> Result<String, Invalid> {
    let valid = text
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            is_digits(major)
                && is_digits(minor)
                && major.parse::<u32>().is_ok()
                && minor.parse::<u32>().is_ok()
        });
    if valid {
        Ok(text.to_string())
    } else {
        Err(Invalid::new(
            "not a Graph API version",
            "\"v\" followed by <digits>.<digits> (each below 4294967296), e.g. \"v25.0\"",
        ))
    }
}

/// App, phone-number and business-account ids: digits only.
pub(crate) fn digits_id(text: &str) -> Result<String, Invalid> {
    if is_digits(text) && text.len() <= 32 {
        Ok(text.to_string())
    } else {
        Err(Invalid::new(
            "not a numeric id",
            "digits only (at most 32), e.g. \"1234567890\"",
        ))
    }
}

/// A test recipient: digits with the country code, an optional leading `+` is dropped.
pub(crate) fn phone_number(text: &str) -> Result<String, Invalid> {
    let digits = text.trim().strip_prefix('+').unwrap_or(text.trim());
    if is_digits(digits) && (7..=15).contains(&digits.len()) {
        Ok(digits.to_string())
    } else {
        Err(Invalid::new(
            "not a phone number",
            "7 to 15 digits with the country code, optionally after a +, e.g. \"+4915123456789\"",
        ))
    }
}

/// What an account name may be, for every message that refuses one.
pub(crate) const ACCOUNT_NAME_ALLOWED: &str =
    "1 to 32 characters from A-Z, a-z, 0-9, _, . and -, not starting with - or .";

/// Account names become file names (`tokens/NAME.json`) and command-line arguments, so they
/// are kept plain: no path separators, no leading `-` (an option) or `.` (a hidden file).
pub(crate) fn account_name(text: &str) -> Result<String, Invalid> {
    let valid = (1..=32).contains(&text.len())
        && !text.starts_with(['-', '.'])
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(text.to_string())
    } else {
        Err(Invalid::new(
            "not a valid account name",
            ACCOUNT_NAME_ALLOWED,
        ))
    }
}

/// A free-form name or text that must not be empty.
pub(crate) fn non_empty(text: &str) -> Result<String, Invalid> {
    if text.trim().is_empty() {
        Err(Invalid::new("empty", "a non-empty string"))
    } else {
        Ok(text.to_string())
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `[serve] listen` / `--listen`: an IP address and port such as "127.0.0.1:9477". Host
/// names are refused so that what is exposed never depends on DNS.
pub(crate) fn listen_addr(text: &str) -> Result<std::net::SocketAddr, Invalid> {
    const ALLOWED: &str = "an IP address and port, e.g. \"127.0.0.1:9477\" (loopback only) or \"0.0.0.0:9477\" (every interface: set [serve] bearer-token too)";
    text.trim()
        .parse()
        .map_err(|_| Invalid::new("not an IP address and port", ALLOWED))
}

/// A size such as "16MiB", "512KiB", "100MB" or a number of bytes, within `min..=max`.
pub(crate) fn byte_size(text: &str, min: u64, max: u64) -> Result<u64, Invalid> {
    const ALLOWED: &str = "a size such as \"16MiB\", \"512KiB\", \"100MB\" or a number of bytes";
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(Invalid::new("unknown unit", ALLOWED)),
    };
    let bytes = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| Invalid::new("not a size", ALLOWED))?;
    if !(min..=max).contains(&bytes) {
        let range = format!("{ALLOWED}, from {min} to {max} bytes");
        return Err(Invalid::new("out of range", range));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_accepts_http_and_https_and_trims_slash() {
        assert_eq!(
            base_url("https://graph.facebook.com/").as_deref(),
            Ok("https://graph.facebook.com")
        );
        assert_eq!(
            base_url("http://127.0.0.1:8080").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        assert!(base_url("ftp://x").is_err());
        assert!(base_url("graph.facebook.com").is_err());
    }

    #[test]
    fn passwords_in_urls_are_not_shown() {
        let shown = url_without_password("https://ops:hunter2@graph.example.com/base");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(shown, "https://ops:***@graph.example.com/base");
        assert_eq!(
            url_without_password("https://graph.facebook.com"),
            "https://graph.facebook.com"
        );
    }

    #[test]
    fn version_needs_v_digits_dot_digits() {
        assert!(graph_version("v25.0").is_ok());
        assert!(graph_version("v99999999999.0").is_err());
        assert!(graph_version("v25.99999999999").is_err());
        for bad in ["25.0", "v25", "v25.x", "v.0", "vv25.0"] {
            assert!(graph_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refresh_before_takes_percent_or_duration() {
        let (min, max) = (Duration::from_secs(60), Duration::from_secs(90 * 86_400));
        assert_eq!(
            refresh_before("33%", min, max),
            Ok(RefreshBefore::ShareOfLifetime(33))
        );
        assert_eq!(
            refresh_before("2d", min, max),
            Ok(RefreshBefore::Fixed(Duration::from_secs(172_800)))
        );
        for bad in ["0%", "100%", "x%", "5x"] {
            assert!(refresh_before(bad, min, max).is_err(), "{bad}");
        }
    }

    #[test]
    fn account_names_are_plain_file_names() {
        for good in ["prod", "PROD_2", "eu-west.1", "_x"] {
            assert!(account_name(good).is_ok(), "{good}");
        }
        for bad in ["-rf", ".hidden", "a/b", "a b", "", "é", &"x".repeat(33)] {
            let err = account_name(bad).unwrap_err();
            assert!(err.allowed.contains("not starting with -"), "{bad}");
        }
    }

    #[test]
    fn phone_number_strips_plus() {
        assert_eq!(
            phone_number("+4915123456789").as_deref(),
            Ok("4915123456789")
        );
        assert!(phone_number("12-34").is_err());
    }
}
