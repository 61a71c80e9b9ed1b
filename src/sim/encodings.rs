//! POST bodies the way Meta accepts them: JSON, form-urlencoded and multipart, with nested
//! values of form and multipart bodies sent as JSON-encoded strings (as `facebook-business` does).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart};
use axum::http::{Extensions, HeaderMap, Request, header};
use serde_json::{Map, Value};

use super::request::parse_urlencoded;

/// Parameters that authenticate a call rather than describe it.
pub(crate) const AUTH_PARAMS: [&str; 3] = ["access_token", "appsecret_proof", "appsecret_time"];

/// A multipart part that carries a file (it has a file name, or bytes that are not UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilePart {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub len: usize,
}

/// A decoded request body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RequestBody {
    Empty,
    /// An `application/json` body.
    Json(Value),
    /// Form fields, in order.
    Fields(Vec<(String, String)>),
    /// Multipart text fields, in order, and the file parts apart: a file's bytes are not text,
    /// so only what describes it (name, file name, type, byte length) is kept.
    Multipart {
        fields: Vec<(String, String)>,
        files: Vec<FilePart>,
    },
    /// A body that could not be decoded; the text says why.
    Invalid(String),
}

impl RequestBody {
    /// The body's top-level fields as parameters: JSON strings as they are, other JSON values
    /// as JSON text, so `access_token` and `appsecret_proof` are found in any encoding.
    pub(crate) fn params(&self) -> Vec<(String, String)> {
        match self {
            RequestBody::Fields(pairs) | RequestBody::Multipart { fields: pairs, .. } => {
                pairs.clone()
            }
            RequestBody::Json(Value::Object(map)) => map
                .iter()
                .map(|(key, value)| {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (key.clone(), text)
                })
                .collect(),
            RequestBody::Json(_) | RequestBody::Empty | RequestBody::Invalid(_) => Vec::new(),
        }
    }
}

/// Decodes a body by its `Content-Type`. `extensions` are the HTTP request's: they carry the
/// router's body limit, which the multipart parser applies again (without them it would
/// stop at axum's default of 2 MB).
pub(crate) async fn decode(
    headers: &HeaderMap,
    extensions: &Extensions,
    body: Bytes,
) -> RequestBody {
    if body.is_empty() {
        return RequestBody::Empty;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    // The boundary parameter is case-sensitive: only the media type is lowercased.
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => form(&body),
        "multipart/form-data" => multipart(content_type, extensions, body).await,
        "application/json" => json(&body),
        essence if essence.ends_with("+json") => json(&body),
        // Undocumented at Meta: a body without a known type. Graph servers observed in captures
        // read it as JSON when it looks like JSON and as a form otherwise; the simulator does too.
        _ if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => json(&body),
        _ => form(&body),
    }
}

fn form(body: &[u8]) -> RequestBody {
    RequestBody::Fields(parse_urlencoded(&String::from_utf8_lossy(body)))
}

fn json(body: &[u8]) -> RequestBody {
    match serde_json::from_slice(body) {
        Ok(value) => RequestBody::Json(value),
        Err(_) => RequestBody::Invalid("the request body is not valid JSON".to_string()),
    }
}

async fn multipart(content_type: &str, extensions: &Extensions, body: Bytes) -> RequestBody {
    let Ok(mut request) = Request::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
    else {
        return RequestBody::Invalid("the multipart Content-Type is not valid".to_string());
    };
    *request.extensions_mut() = extensions.clone();
    let mut parts = match Multipart::from_request(request, &()).await {
        Ok(parts) => parts,
        Err(rejection) => return RequestBody::Invalid(format!("multipart body: {rejection}")),
    };
    let mut fields = Vec::new();
    let mut files = Vec::new();
    loop {
        match parts.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                let file_name = field.file_name().map(str::to_string);
                let content_type = field.content_type().map(str::to_string);
                let bytes = match field.bytes().await {
                    Ok(bytes) => bytes,
                    Err(err) => return RequestBody::Invalid(format!("multipart field: {err}")),
                };
                match (file_name.is_some(), std::str::from_utf8(&bytes)) {
                    (false, Ok(text)) => fields.push((name, text.to_string())),
                    _ => files.push(FilePart {
                        name,
                        file_name,
                        content_type,
                        len: bytes.len(),
                    }),
                }
            }
            Ok(None) => return RequestBody::Multipart { fields, files },
            Err(err) => return RequestBody::Invalid(format!("multipart body: {err}")),
        }
    }
}

/// A JSON object from form-style pairs: a value that is a JSON object or array is decoded
/// (`template={"name":..}`), anything else stays a string (`to=15551234567` is not a number).
/// The first occurrence of a key wins, as with [`super::request::GraphRequest::param`].
pub(crate) fn object_from_pairs<'a>(pairs: impl Iterator<Item = &'a (String, String)>) -> Value {
    let mut object = Map::new();
    for (key, text) in pairs {
        if object.contains_key(key) || AUTH_PARAMS.contains(&key.as_str()) {
            continue;
        }
        let trimmed = text.trim_start();
        let nested = (trimmed.starts_with('{') || trimmed.starts_with('['))
            .then(|| serde_json::from_str::<Value>(text).ok())
            .flatten();
        object.insert(
            key.clone(),
            nested.unwrap_or_else(|| Value::String(text.clone())),
        );
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        headers
    }

    #[tokio::test]
    async fn each_encoding_yields_the_same_params() {
        let form = decode(
            &headers("application/x-www-form-urlencoded"),
            &Extensions::new(),
            Bytes::from_static(b"access_token=EAAGx&to=1555"),
        )
        .await;
        let json_body = decode(
            &headers("application/json; charset=utf-8"),
            &Extensions::new(),
            Bytes::from_static(br#"{"access_token":"EAAGx","to":"1555"}"#),
        )
        .await;
        let multipart = decode(
            &headers("multipart/form-data; boundary=XyZ"),
            &Extensions::new(),
            Bytes::from_static(
                b"--XyZ\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\nEAAGx\r\n\
                  --XyZ\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\n1555\r\n--XyZ--\r\n",
            ),
        )
        .await;
        for body in [form, json_body, multipart] {
            let params = body.params();
            assert_eq!(
                params,
                vec![
                    ("access_token".to_string(), "EAAGx".to_string()),
                    ("to".to_string(), "1555".to_string())
                ],
                "{body:?}"
            );
        }
    }

    #[tokio::test]
    async fn binary_file_parts_keep_their_length_not_their_text() {
        let mut body =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nimage/png\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\
Content-Type: image/png\r\n\r\n"
                .to_vec();
        body.extend_from_slice(&[0x89, b'P', b'N', b'G', 0xff, 0x00, 0xfe, b'\r', b'\n', 0x80]);
        body.extend_from_slice(
            b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"raw\"\r\n\r\n",
        );
        body.extend_from_slice(&[0xc3, 0x28]);
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        let decoded = decode(
            &headers("multipart/form-data; boundary=XyZ"),
            &Extensions::new(),
            Bytes::from(body),
        )
        .await;
        let RequestBody::Multipart { fields, files } = &decoded else {
            panic!("{decoded:?}");
        };
        assert_eq!(fields, &vec![("type".to_string(), "image/png".to_string())]);
        assert_eq!(
            files,
            &vec![
                FilePart {
                    name: "file".into(),
                    file_name: Some("a.png".into()),
                    content_type: Some("image/png".into()),
                    len: 10,
                },
                FilePart {
                    name: "raw".into(),
                    file_name: None,
                    content_type: None,
                    len: 2,
                },
            ]
        );
        assert_eq!(decoded.params(), fields.clone());
    }

    #[tokio::test]
    async fn broken_bodies_say_what_was_wrong() {
        let bad_json = decode(
            &headers("application/json"),
            &Extensions::new(),
            Bytes::from_static(b"{"),
        )
        .await;
        assert!(matches!(bad_json, RequestBody::Invalid(ref why) if why.contains("JSON")));
        let bad_multipart = decode(
            &headers("multipart/form-data"),
            &Extensions::new(),
            Bytes::from_static(b"--x\r\n"),
        )
        .await;
        assert!(
            matches!(bad_multipart, RequestBody::Invalid(ref why) if why.contains("multipart"))
        );
        assert_eq!(
            decode(&HeaderMap::new(), &Extensions::new(), Bytes::new()).await,
            RequestBody::Empty
        );
    }

    #[test]
    fn nested_values_are_decoded_and_scalars_stay_strings() {
        let pairs = [
            ("to".to_string(), "15551234567".to_string()),
            (
                "template".to_string(),
                r#"{"name":"hello_world"}"#.to_string(),
            ),
            ("access_token".to_string(), "EAAGx".to_string()),
            ("to".to_string(), "ignored".to_string()),
            ("text".to_string(), "{not json".to_string()),
        ];
        assert_eq!(
            object_from_pairs(pairs.iter()),
            json!({"to":"15551234567","template":{"name":"hello_world"},"text":"{not json"})
        );
    }
}
