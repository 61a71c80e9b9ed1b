//! A Graph request in a transport-neutral form, so direct calls and batch items share routing.

use axum::http::Method;
use serde_json::Value;

use super::encodings::{RequestBody, object_from_pairs};

/// One Graph request: from HTTP, or from an item of a batch.
#[derive(Debug, Clone)]
pub(crate) struct GraphRequest {
    pub method: Method,
    pub path: String,
    /// Query parameters, followed by the body's top-level fields (any encoding).
    pub params: Vec<(String, String)>,
    /// The token of an `Authorization: Bearer` header.
    pub bearer: Option<String>,
    pub body: RequestBody,
}

/// The endpoint a request is for, parsed from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Batch,
    DebugToken,
    Exchange,
    Revoke,
    Messages {
        phone_id: String,
    },
    /// `POST /{v}/{phone-number-id}/media`: Upload Media.
    Media {
        phone_id: String,
    },
    /// `/{v}/{id}`: phone-number fields, or WABA analytics when `fields` starts with `analytics`.
    Node {
        id: String,
    },
    Unknown {
        object: String,
    },
}

impl GraphRequest {
    /// The first value of a query or form parameter.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The token the caller presented: `access_token` parameter, else the bearer header.
    pub(crate) fn access_token(&self) -> Option<&str> {
        self.param("access_token")
            .filter(|token| !token.is_empty())
            .or(self.bearer.as_deref())
    }

    /// The call's arguments as one JSON object: a JSON body as sent, otherwise the query and
    /// form (or multipart) fields with JSON-encoded nested values decoded. Auth parameters are
    /// left out.
    pub(crate) fn payload(&self) -> Result<Value, String> {
        match &self.body {
            RequestBody::Json(value) => Ok(value.clone()),
            RequestBody::Invalid(why) => Err(why.clone()),
            RequestBody::Empty | RequestBody::Fields(_) | RequestBody::Multipart { .. } => {
                Ok(object_from_pairs(self.params.iter()))
            }
        }
    }

    /// The version the path asks for (`/v25.0/...`); `None` for an unversioned path.
    pub(crate) fn version(&self) -> Option<&str> {
        self.path
            .split('/')
            .find(|segment| !segment.is_empty())
            .filter(|first| is_version(first))
    }

    pub(crate) fn route(&self) -> Route {
        let mut segments: Vec<&str> = self.path.split('/').filter(|s| !s.is_empty()).collect();
        if segments.first().is_some_and(|first| is_version(first)) {
            segments.remove(0);
        }
        match segments.as_slice() {
            [] => Route::Batch,
            ["debug_token"] => Route::DebugToken,
            ["oauth", "access_token"] => Route::Exchange,
            ["oauth", "revoke"] => Route::Revoke,
            [id, "messages"] if is_node_id(id) => Route::Messages {
                phone_id: (*id).to_string(),
            },
            [id, "media"] if is_node_id(id) => Route::Media {
                phone_id: (*id).to_string(),
            },
            [id] if is_node_id(id) => Route::Node {
                id: (*id).to_string(),
            },
            _ => Route::Unknown {
                object: segments.last().copied().unwrap_or_default().to_string(),
            },
        }
    }

    /// The stats key of the endpoint this request is for.
    pub(crate) fn endpoint(&self) -> &'static str {
        match self.route() {
            Route::Batch => "batch",
            Route::DebugToken => "debug_token",
            Route::Exchange => "exchange",
            Route::Revoke => "revoke",
            Route::Messages { .. } => "messages",
            Route::Media { .. } => "media",
            Route::Node { .. } if self.is_analytics() => "analytics",
            Route::Node { .. } => "phone_number",
            Route::Unknown { .. } => "unknown",
        }
    }

    pub(crate) fn is_analytics(&self) -> bool {
        self.param("fields")
            .is_some_and(|fields| fields.trim_start().starts_with("analytics"))
    }
}

/// `v25.0` and the like.
fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = rest.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

/// Graph object ids of phone numbers and WABAs are decimal.
fn is_node_id(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

/// Decodes `application/x-www-form-urlencoded` text (also a query string) into pairs.
pub(crate) fn parse_urlencoded(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(index + 1..index + 3).and_then(|pair| {
                    std::str::from_utf8(pair)
                        .ok()
                        .and_then(|s| u8::from_str_radix(s, 16).ok())
                });
                if let Some(byte) = hex {
                    out.push(byte);
                    index += 2;
                } else {
                    out.push(b'%');
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, query: &str) -> GraphRequest {
        GraphRequest {
            method: Method::GET,
            path: path.to_string(),
            params: parse_urlencoded(query),
            bearer: None,
            body: RequestBody::Empty,
        }
    }

    #[test]
    fn routes_versioned_and_unversioned_paths() {
        assert_eq!(request("/v25.0/debug_token", "").route(), Route::DebugToken);
        assert_eq!(request("/debug_token", "").route(), Route::DebugToken);
        assert_eq!(request("/", "").route(), Route::Batch);
        assert_eq!(request("/v21.0/", "").route(), Route::Batch);
        assert_eq!(
            request("/v25.0/oauth/access_token", "").route(),
            Route::Exchange
        );
        assert_eq!(
            request("/v25.0/123/messages", "").route(),
            Route::Messages {
                phone_id: "123".into()
            }
        );
        assert_eq!(
            request("/v25.0/abc", "").route(),
            Route::Unknown {
                object: "abc".into()
            }
        );
        assert_eq!(
            request("/v2x.0/123", "").route(),
            Route::Unknown {
                object: "123".into()
            }
        );
    }

    #[test]
    fn analytics_is_chosen_by_fields() {
        assert_eq!(
            request("/v25.0/1", "fields=analytics.start(1)").endpoint(),
            "analytics"
        );
        assert_eq!(
            request("/v25.0/1", "fields=status").endpoint(),
            "phone_number"
        );
    }

    #[test]
    fn decodes_percent_and_plus() {
        let pairs = parse_urlencoded("a=1%7C2&b=x+y&c&d=%zz");
        assert_eq!(pairs[0], ("a".into(), "1|2".into()));
        assert_eq!(pairs[1], ("b".into(), "x y".into()));
        assert_eq!(pairs[2], ("c".into(), String::new()));
        assert_eq!(pairs[3], ("d".into(), "%zz".into()));
    }
}
