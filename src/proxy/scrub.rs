//! Removing whatever credentials an application put into a request, so that only the token
//! tokentop adds reaches Meta. Pure.

use std::borrow::Cow;

use super::json_keys::Shape;

/// Query and form parameters that carry credentials.
const CREDENTIAL_PARAMS: [&str; 3] = ["access_token", "appsecret_proof", "appsecret_time"];

/// Whether a parameter name reaches Meta as a credential. Meta's front end (PHP-style) reads
/// `access.token`, `access token` and `access[token` as `access_token`, and `access_token[]`
/// as an array named `access_token`; any case counts, to be safe.
pub fn is_credential(key: &str) -> bool {
    // Every spelling is at least as long as `access_token` and starts `acc` or `app`: most
    // keys (`messaging_product`, `to`, `fields`) are ruled out without an allocation.
    let trimmed = key.trim();
    let prefix = trimmed.as_bytes().get(..3).unwrap_or_default();
    if trimmed.len() < "access_token".len()
        || !(prefix.eq_ignore_ascii_case(b"acc") || prefix.eq_ignore_ascii_case(b"app"))
    {
        return false;
    }
    let lower = trimmed.to_ascii_lowercase();
    let base = match lower.find('[') {
        Some(open) if lower[open..].contains(']') => &lower[..open],
        _ => lower.as_str(),
    };
    let normalized: String = base
        .chars()
        .map(|c| if matches!(c, '.' | ' ' | '[') { '_' } else { c })
        .collect();
    CREDENTIAL_PARAMS.contains(&normalized.as_str())
}

/// A last look at bytes that could not be parsed with certainty (JSON a lenient parser may
/// still accept): does anything in them look like a credential's name, in any case and with
/// any separator or escape between its words?
pub fn mentions_credential(bytes: &[u8]) -> bool {
    let lower = bytes.to_ascii_lowercase();
    let near = |first: &[u8], second: &[u8]| {
        memchr::memmem::find_iter(&lower, first).any(|at| {
            let after = &lower[at + first.len()..];
            memchr::memmem::find(&after[..after.len().min(second.len() + 8)], second).is_some()
        })
    };
    near(b"access", b"token")
        || near(b"appsecret", b"proof")
        || near(b"appsecret", b"time")
        || memchr::memmem::find(&lower, b"\\u").is_some()
}

/// The query (or an urlencoded form body) without credential parameters, other pairs as sent.
pub fn without_credentials(encoded: &[u8]) -> Vec<u8> {
    let kept = form_urlencoded::parse(encoded).filter(|(key, _)| !is_credential(key));
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in kept {
        out.append_pair(&key, &value);
    }
    out.finish().into_bytes()
}

/// True when the urlencoded text holds a credential parameter.
pub fn has_credentials(encoded: &[u8]) -> bool {
    form_urlencoded::parse(encoded).any(|(key, _)| is_credential(&key))
}

/// A JSON body without top-level credential keys; the bytes as sent when it has none (or is
/// JSON but not an object: Meta will say what is wrong with it). `None` when it is not JSON
/// at all: the caller decides what a body that cannot be read with certainty may carry.
pub fn json_without_credentials(body: &[u8]) -> Option<Cow<'_, [u8]>> {
    // Read once without building it; built and rewritten only when a credential is there.
    if super::json_keys::shape(body)? != (Shape::Object { credential: true }) {
        return Some(Cow::Borrowed(body));
    }
    let serde_json::Value::Object(mut object) = serde_json::from_slice(body).ok()? else {
        return Some(Cow::Borrowed(body));
    };
    let before = object.len();
    object.retain(|key, _| !is_credential(key));
    if object.len() == before {
        return Some(Cow::Borrowed(body));
    }
    Some(match serde_json::to_vec(&object) {
        Ok(bytes) => Cow::Owned(bytes),
        Err(_) => Cow::Borrowed(body),
    })
}

/// True when a multipart body has a part named like a credential. Such a body is refused
/// rather than rewritten: a media upload is forwarded byte for byte.
pub fn multipart_has_credentials(body: &[u8]) -> bool {
    let mut scanner = CredentialScanner::default();
    scanner.feed(body) || scanner.finish()
}

/// Longest `Content-Disposition` line looked at; a longer one is taken as naming a credential
/// (no client needs one, and the proxy cannot tell what a parser upstream makes of it).
const MAX_DISPOSITION_LINE: usize = 16 * 1024;

/// Finds a multipart part named like a credential, in a body seen whole or chunk by chunk (a
/// streamed upload is stopped before the chunk that completes such a line goes upstream).
///
/// Every line starting with `Content-Disposition:` is read, wherever it is, rather than only
/// the part headers a boundary delimits: a parser upstream may split parts differently, and a
/// file that happens to hold such a line is refused, which is harmless. The part's name counts
/// in any spelling a parser may accept: quoted or not, spaces around `=`, any case, `name*=`
/// (RFC 5987) and percent-encoded.
#[derive(Debug, Default)]
pub struct CredentialScanner {
    /// The current line so far, while it may still be a `Content-Disposition` line.
    line: Vec<u8>,
    /// The current line cannot be one: skip to the next newline.
    skipping: bool,
}

impl CredentialScanner {
    /// Looks at the next bytes; true when a credential part was found.
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        let mut rest = chunk;
        loop {
            let newline = memchr::memchr(b'\n', rest);
            let segment = &rest[..newline.unwrap_or(rest.len())];
            if !self.skipping {
                // Only the start of a segment is needed to rule the line out.
                let room = MAX_DISPOSITION_LINE + 1 - self.line.len().min(MAX_DISPOSITION_LINE);
                self.line
                    .extend_from_slice(&segment[..segment.len().min(room)]);
                if !could_be_disposition(&self.line) {
                    self.skipping = true;
                    self.line.clear();
                } else if self.line.len() > MAX_DISPOSITION_LINE {
                    return true;
                }
            }
            let Some(at) = newline else {
                return false;
            };
            if self.end_line() {
                return true;
            }
            rest = &rest[at + 1..];
        }
    }

    /// The body ended; true when its last line names a credential.
    pub fn finish(&mut self) -> bool {
        self.end_line()
    }

    fn end_line(&mut self) -> bool {
        let found = !self.skipping && disposition_is_suspect(&self.line);
        self.line.clear();
        self.skipping = false;
        found
    }
}

const DISPOSITION: &[u8] = b"content-disposition:";

/// The line so far is, or may still become, a `Content-Disposition:` header line.
fn could_be_disposition(line: &[u8]) -> bool {
    let trimmed = trim_start(line);
    let n = trimmed.len().min(DISPOSITION.len());
    trimmed[..n].eq_ignore_ascii_case(&DISPOSITION[..n])
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// A complete `Content-Disposition:` line whose `name` (or `name*`) is a credential, or whose
/// name cannot be read with certainty (continued, encoded, folded away).
fn disposition_is_suspect(line: &[u8]) -> bool {
    let trimmed = trim_start(line);
    if trimmed.len() < DISPOSITION.len()
        || !trimmed[..DISPOSITION.len()].eq_ignore_ascii_case(DISPOSITION)
    {
        return false;
    }
    let params = String::from_utf8_lossy(&trimmed[DISPOSITION.len()..]);
    let mut named = false;
    let suspect = params.split(';').any(|param| {
        let Some((key, value)) = param.split_once('=') else {
            return false;
        };
        let key = key.trim().to_ascii_lowercase();
        // RFC 2231 continuations (`name*0=acc; name*1=ess_token`) and RFC 2047 encoded words
        // (`=?utf-8?q?access=5Ftoken?=`) spell a name this scanner cannot join with certainty.
        if key.starts_with("name*") && key.len() > 5 || (key == "name" && value.contains("=?")) {
            return true;
        }
        if key != "name" && key != "name*" {
            return false;
        }
        named = true;
        let mut value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        if key == "name*" {
            // charset'language'value
            value = value.rsplit('\'').next().unwrap_or(value);
        }
        let unescaped = value.replace('\\', "");
        let decoded: String = form_urlencoded::parse(format!("n={unescaped}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        [unescaped.as_str(), decoded.as_str()]
            .iter()
            .any(|name| is_credential(name))
    });
    // A form-data part always has a name: a disposition line without one has it folded onto
    // the next line (obsolete line folding), where this scanner does not look.
    suspect || !named
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_form_lose_only_their_credentials() {
        let query = b"fields=id%2Cname&access_token=EAAGsecret&appsecret_proof=abc&limit=5";
        let kept = String::from_utf8(without_credentials(query)).unwrap();
        assert_eq!(kept, "fields=id%2Cname&limit=5");
        assert!(has_credentials(query));
        assert!(!has_credentials(kept.as_bytes()));
        assert_eq!(without_credentials(b""), b"");
    }

    #[test]
    fn json_bodies_lose_top_level_credentials_and_keep_the_rest() {
        let body = br#"{"messaging_product":"whatsapp","access_token":"EAAGsecret","to":"1555"}"#;
        let kept: serde_json::Value =
            serde_json::from_slice(&json_without_credentials(body).unwrap()).unwrap();
        assert_eq!(
            kept,
            serde_json::json!({"messaging_product":"whatsapp","to":"1555"})
        );
        let clean = br#"{"to":"1555"}"#;
        assert!(matches!(
            json_without_credentials(clean),
            Some(Cow::Borrowed(_))
        ));
        assert!(json_without_credentials(b"not json").is_none());
    }

    #[test]
    fn multipart_credentials_are_found() {
        let body =
            b"--b\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\nEAAG\r\n--b--";
        assert!(multipart_has_credentials(body));
        let media = b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n...\r\n--b--";
        assert!(!multipart_has_credentials(media));
    }

    #[test]
    fn multipart_credentials_are_found_in_any_spelling() {
        for disposition in [
            "Content-Disposition: form-data; name=access_token",
            "content-disposition: form-data; name = \"access_token\"",
            "CONTENT-DISPOSITION:form-data;NAME='appsecret_proof'",
            "Content-Disposition: form-data; name*=UTF-8''access_token",
            "Content-Disposition: form-data; name=\"access%5Ftoken\"",
            "Content-Disposition: form-data; name=\"Access_Token\"",
            "  Content-Disposition: form-data; filename=\"a\"; name=\"appsecret_time\"",
        ] {
            let body = format!(
                "--b\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nimage/png\r\n\
                 --b\r\n{disposition}\r\n\r\nEAAG\r\n--b--\r\n"
            );
            assert!(multipart_has_credentials(body.as_bytes()), "{disposition}");
            // Fed in every possible pair of chunks, it is found as well.
            for split in 0..body.len() {
                let mut scanner = CredentialScanner::default();
                let (a, b) = body.as_bytes().split_at(split);
                assert!(
                    scanner.feed(a) || scanner.feed(b) || scanner.finish(),
                    "{disposition} split at {split}"
                );
            }
        }
        for innocent in [
            "Content-Disposition: form-data; name=\"file\"; filename=\"access_token.png\"",
            "Content-Disposition: form-data; name=\"messaging_product\"",
            "X-Content-Disposition: form-data; name=\"access_token\"",
        ] {
            let body = format!("--b\r\n{innocent}\r\n\r\nx\r\n--b--\r\n");
            assert!(!multipart_has_credentials(body.as_bytes()), "{innocent}");
        }
        // Binary content without newlines is skipped, whatever its size.
        let mut scanner = CredentialScanner::default();
        assert!(!scanner.feed(&vec![0xffu8; 1 << 20]));
        assert!(!scanner.finish());
        // An endless Content-Disposition line is refused.
        let mut scanner = CredentialScanner::default();
        assert!(scanner.feed(format!("Content-Disposition: {}", "x".repeat(20_000)).as_bytes()));
    }

    #[test]
    fn credential_names_count_in_every_spelling_meta_reads() {
        for name in [
            "access_token",
            "ACCESS_TOKEN",
            "access.token",
            "access token",
            "access[token",
            "access_token[]",
            "access_token[0]",
            "appsecret.proof",
            " appsecret_time ",
        ] {
            assert!(is_credential(name), "{name}");
        }
        for name in ["access", "token", "access_tokens", "fields", "access]token"] {
            assert!(!is_credential(name), "{name}");
        }
        let query = b"access.token=EAAGsecret&fields=id";
        assert!(has_credentials(query));
        assert_eq!(without_credentials(query), b"fields=id");
        let body = br#"{"access.token":"EAAGsecret","to":"1"}"#;
        assert_eq!(&*json_without_credentials(body).unwrap(), br#"{"to":"1"}"#);
    }

    #[test]
    fn names_that_cannot_be_read_with_certainty_are_refused() {
        for disposition in [
            // RFC 2231 continuation.
            "Content-Disposition: form-data; name*0=\"acc\"; name*1=\"ess_token\"",
            "Content-Disposition: form-data; name*0*=UTF-8''acc; name*1*=ess_token",
            // RFC 2047 encoded word.
            "Content-Disposition: form-data; name=\"=?utf-8?q?access=5Ftoken?=\"",
            // Folded: the name is on the next line.
            "Content-Disposition: form-data;\r\n name=\"access_token\"",
            "Content-Disposition: form-data; name=\"access.token\"",
        ] {
            let body = format!("--b\r\n{disposition}\r\n\r\nEAAG\r\n--b--\r\n");
            assert!(multipart_has_credentials(body.as_bytes()), "{disposition}");
        }
    }

    #[test]
    fn unparsable_bytes_that_mention_a_credential_are_told() {
        assert!(mentions_credential(b"{'access_token': 'EAAG',}"));
        assert!(mentions_credential(b"{\"Access-Token\": 1,}"));
        assert!(mentions_credential(br#"{"\u0061ccess_token": 1,}"#));
        assert!(mentions_credential(b"{appsecret__proof: 1}"));
        assert!(!mentions_credential(
            b"{\"to\": \"1555\", \"text\": {\"body\": \"hi\"},}"
        ));
    }
}
