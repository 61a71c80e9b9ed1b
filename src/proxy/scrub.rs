//! Removing whatever credentials an application put into a request, so that only the token
//! tokentop adds reaches Meta. Pure.

use std::borrow::Cow;

/// Query and form parameters that carry credentials.
const CREDENTIAL_PARAMS: [&str; 3] = ["access_token", "appsecret_proof", "appsecret_time"];

fn is_credential(key: &str) -> bool {
    CREDENTIAL_PARAMS.contains(&key)
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
/// not a JSON object: Meta will say what is wrong with it).
pub fn json_without_credentials(body: &[u8]) -> Cow<'_, [u8]> {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(body) else {
        return Cow::Borrowed(body);
    };
    let before = object.len();
    object.retain(|key, _| !is_credential(key));
    if object.len() == before {
        return Cow::Borrowed(body);
    }
    match serde_json::to_vec(&object) {
        Ok(bytes) => Cow::Owned(bytes),
        Err(_) => Cow::Borrowed(body),
    }
}

/// True when a multipart body has a part named like a credential. Such a body is refused
/// rather than rewritten: a media upload is forwarded byte for byte.
pub fn multipart_has_credentials(body: &[u8]) -> bool {
    CREDENTIAL_PARAMS.iter().any(|name| {
        let needle = format!("name=\"{name}\"");
        memchr::memmem::find(body, needle.as_bytes()).is_some()
    })
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
            serde_json::from_slice(&json_without_credentials(body)).unwrap();
        assert_eq!(
            kept,
            serde_json::json!({"messaging_product":"whatsapp","to":"1555"})
        );
        let clean = br#"{"to":"1555"}"#;
        assert!(matches!(json_without_credentials(clean), Cow::Borrowed(_)));
        assert!(matches!(
            json_without_credentials(b"not json"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn multipart_credentials_are_found() {
        let body =
            b"--b\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\nEAAG\r\n--b--";
        assert!(multipart_has_credentials(body));
        let media = b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n...\r\n--b--";
        assert!(!multipart_has_credentials(media));
    }
}
