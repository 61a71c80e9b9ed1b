//! [`GraphClient`]: one shared HTTP client and the Graph API calls tokentop makes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};

use super::body::{MAX_BODY_BYTES, ReadError, Received, read_response};
use super::error::GraphError;
use super::parse;
use super::proof::{AppCredentials, appsecret_proof_secret};
use super::request_counts::{Endpoint, RequestCounts, RequestOutcome};
use super::served_versions::ServedVersions;
use super::types::{
    Analytics, ExchangedToken, Granularity, OutgoingMessage, PhoneHealth, SendResult, TokenInfo,
    WithUsage,
};
use super::usage::parse_usage;
use crate::config::GraphSettings;

/// First API version whose phone number node has `whatsapp_business_manager_messaging_limit`.
const NEW_LIMIT_FIELD_SINCE_MAJOR: u32 = 24;
const NEW_LIMIT_FIELD: &str = "whatsapp_business_manager_messaging_limit";
const OLD_LIMIT_FIELD: &str = "messaging_limit_tier";
const HEALTH_FIELDS: &str =
    "display_phone_number,verified_name,quality_rating,status,throughput,health_status";

/// A Graph API client; cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct GraphClient {
    pub(crate) http: reqwest::Client,
    inner: Arc<Api>,
    counts: RequestCounts,
    served: ServedVersions,
}

#[derive(Debug)]
struct Api {
    base_url: String,
    version: String,
    version_major: u32,
    request_timeout: Duration,
}

/// Installs the process-wide TLS provider (ring) that every reqwest client needs; harmless
/// when it is installed already. `GraphClient::new` calls it; code that builds its own
/// reqwest client (tests) calls it first.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Idle connections kept to the Graph API host.
const MAX_IDLE_CONNECTIONS: usize = 4;

impl GraphClient {
    /// Checks the base URL and version and builds the one HTTP client used for every call.
    pub fn new(settings: &GraphSettings) -> Result<Self, GraphError> {
        let base_url = validate_base_url(&settings.base_url)?;
        let version_major = parse_version(&settings.version)?;
        if settings.request_timeout.is_zero() {
            return Err(GraphError::other(
                "graph request timeout must be above zero (e.g. 30s)",
            ));
        }
        install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tokentop/", env!("CARGO_PKG_VERSION")))
            // Many accounts polling at once must not leave one idle connection (and its
            // buffers) each behind: a few suffice.
            .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| {
                GraphError::other(format!("cannot build the HTTP client: {}", e.without_url()))
            })?;
        Ok(Self {
            http,
            counts: RequestCounts::new(),
            served: ServedVersions::new(),
            inner: Arc::new(Api {
                base_url,
                version: settings.version.clone(),
                version_major,
                request_timeout: settings.request_timeout,
            }),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// Every request made so far by this client and its clones, by endpoint and outcome.
    pub fn request_counts(&self) -> RequestCounts {
        self.counts.clone()
    }

    /// The calls Meta answered with another version than the configured one, seen by this
    /// client and its clones.
    pub fn served_versions(&self) -> ServedVersions {
        self.served.clone()
    }

    /// Inspects `token` with the app token. A dead token is `Ok` with `is_valid: false`.
    pub async fn debug_token(
        &self,
        app: &AppCredentials,
        token: &SecretString,
    ) -> Result<TokenInfo, GraphError> {
        let app_token = app.app_token();
        let secrets = [token, &app.app_secret, &app_token];
        let path = self.versioned("debug_token");
        let request = self.http.get(self.url(&path)).query(&[
            ("input_token", token.expose_secret()),
            ("access_token", app_token.expose_secret()),
        ]);
        let received = self
            .execute(Endpoint::DebugToken, &path, request, &secrets)
            .await?;
        parse::token_info(received.raw(), &secrets)
    }

    /// Exchanges a still-valid token for a new one (`set_token_expires_in_60_days` for
    /// expiring system-user tokens).
    pub async fn exchange(
        &self,
        app: &AppCredentials,
        token: &SecretString,
        expires_in_60_days: bool,
    ) -> Result<ExchangedToken, GraphError> {
        let secrets = [token, &app.app_secret];
        let path = self.versioned("oauth/access_token");
        let mut query = vec![
            ("grant_type", "fb_exchange_token"),
            ("client_id", app.app_id.as_str()),
            ("client_secret", app.app_secret.expose_secret()),
            ("fb_exchange_token", token.expose_secret()),
        ];
        if expires_in_60_days {
            query.push(("set_token_expires_in_60_days", "true"));
        }
        let request = self.http.get(self.url(&path)).query(&query);
        let received = self
            .execute(Endpoint::OauthAccessToken, &path, request, &secrets)
            .await?;
        parse::exchanged(received.raw(), &secrets)
    }

    /// Revokes `old`, authenticated with its replacement `new`.
    pub async fn revoke(
        &self,
        app: &AppCredentials,
        old: &SecretString,
        new: &SecretString,
    ) -> Result<(), GraphError> {
        let secrets = [old, new, &app.app_secret];
        let path = self.versioned("oauth/revoke");
        let request = self.http.get(self.url(&path)).query(&[
            ("client_id", app.app_id.as_str()),
            ("client_secret", app.app_secret.expose_secret()),
            ("revoke_token", old.expose_secret()),
            ("access_token", new.expose_secret()),
        ]);
        let received = self
            .execute(Endpoint::Revoke, &path, request, &secrets)
            .await?;
        parse::revoked(received.raw(), &secrets)
    }

    /// Sends a template or text message from `phone_number_id`.
    pub async fn send_message(
        &self,
        app: &AppCredentials,
        token: &SecretString,
        phone_number_id: &str,
        message: &OutgoingMessage,
    ) -> Result<WithUsage<SendResult>, GraphError> {
        let node = validate_node_id("phone number id", phone_number_id)?;
        let path = self.versioned(&format!("{node}/messages"));
        let request = self.http.post(self.url(&path)).json(&message.to_json());
        let (received, secrets) = self
            .execute_as_user(Endpoint::Messages, &path, request, app, token, &[])
            .await?;
        let value = parse::send_result(received.raw(), &secrets.as_refs())?;
        Ok(with_usage(value, &received))
    }

    /// Quality, status, limit tier and `health_status` of a phone number.
    pub async fn phone_health(
        &self,
        app: &AppCredentials,
        token: &SecretString,
        phone_number_id: &str,
    ) -> Result<WithUsage<PhoneHealth>, GraphError> {
        let node = validate_node_id("phone number id", phone_number_id)?;
        let path = self.versioned(node);
        let fields = self.health_fields();
        let request = self.http.get(self.url(&path));
        let (received, secrets) = self
            .execute_as_user(
                Endpoint::PhoneNumber,
                &path,
                request,
                app,
                token,
                &[("fields", &fields)],
            )
            .await?;
        let value = parse::phone_health(received.raw(), &secrets.as_refs())?;
        Ok(with_usage(value, &received))
    }

    /// Sent/delivered counts of a WhatsApp Business Account between two unix times.
    pub async fn waba_analytics(
        &self,
        app: &AppCredentials,
        token: &SecretString,
        waba_id: &str,
        start_unix: i64,
        end_unix: i64,
        granularity: Granularity,
    ) -> Result<WithUsage<Analytics>, GraphError> {
        let node = validate_node_id("WhatsApp Business Account id", waba_id)?;
        if end_unix <= start_unix {
            return Err(GraphError::other(format!(
                "analytics window is empty: end ({end_unix}) must be after start ({start_unix})"
            )));
        }
        let path = self.versioned(node);
        let fields = format!(
            "analytics.start({start_unix}).end({end_unix}).granularity({})",
            granularity.as_param()
        );
        let request = self.http.get(self.url(&path));
        let (received, secrets) = self
            .execute_as_user(
                Endpoint::Analytics,
                &path,
                request,
                app,
                token,
                &[("fields", &fields)],
            )
            .await?;
        let value = parse::analytics(received.raw(), &secrets.as_refs())?;
        Ok(with_usage(value, &received))
    }

    /// The `fields` of a phone-health read (REFERENCE.md section 8), direct or batched.
    pub(crate) fn health_fields(&self) -> String {
        format!("{HEALTH_FIELDS},{}", self.limit_field())
    }

    /// The field holding the messaging limit tier in this API version.
    pub fn limit_field(&self) -> &'static str {
        if self.inner.version_major >= NEW_LIMIT_FIELD_SINCE_MAJOR {
            NEW_LIMIT_FIELD
        } else {
            OLD_LIMIT_FIELD
        }
    }

    /// `/{version}/{rest}`: the path as logged (never with a query string).
    pub(crate) fn versioned(&self, rest: &str) -> String {
        format!("/{}/{rest}", self.inner.version)
    }

    /// Whether `path` (as [`versioned`](Self::versioned) builds it) names the configured version.
    fn asks_for_configured_version(&self, path: &str) -> bool {
        path.strip_prefix('/')
            .and_then(|rest| rest.strip_prefix(self.inner.version.as_str()))
            .is_some_and(|rest| rest.starts_with('/'))
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base_url)
    }

    /// A call made with a user or system-user token: bearer auth plus `appsecret_proof`.
    pub(super) async fn execute_as_user(
        &self,
        endpoint: Endpoint,
        path: &str,
        request: RequestBuilder,
        app: &AppCredentials,
        token: &SecretString,
        query: &[(&str, &str)],
    ) -> Result<(Received, UserSecrets), GraphError> {
        let secrets = UserSecrets {
            token: token.clone(),
            app_secret: app.app_secret.clone(),
            proof: appsecret_proof_secret(&app.app_secret, token),
        };
        let request = request
            .bearer_auth(token.expose_secret())
            .query(query)
            .query(&[("appsecret_proof", secrets.proof.expose_secret())]);
        let received = self
            .execute(endpoint, path, request, &secrets.as_refs())
            .await?;
        Ok((received, secrets))
    }

    /// Sends the request and reads the whole body; transport failures become transient errors.
    /// Every Graph request goes through here, so this is where each one is counted, once, and
    /// where the version that answered it is noted.
    pub(crate) async fn execute(
        &self,
        endpoint: Endpoint,
        path: &str,
        request: RequestBuilder,
        secrets: &[&SecretString],
    ) -> Result<Received, GraphError> {
        let started = Instant::now();
        let outcome = read_response(request, MAX_BODY_BYTES).await;
        let latency_ms = started.elapsed().as_millis();
        let result = match outcome {
            Ok(received) => {
                tracing::debug!(
                    endpoint = endpoint.label(),
                    path,
                    status = received.http_status,
                    latency_ms,
                    "graph request"
                );
                // An unversioned call (a batch's `/`) is answered in the app's default
                // version: only a call for the configured version says whether it was upgraded.
                if self.asks_for_configured_version(path) {
                    self.served.observe(&self.inner.version, &received.headers);
                }
                Ok(received)
            }
            Err(ReadError::TooLarge { http_status, limit }) => {
                let message = format!(
                    "the Graph API answer is larger than {} MiB, the most tokentop reads; it was dropped unread",
                    limit / (1024 * 1024)
                );
                tracing::debug!(endpoint = endpoint.label(), path, latency_ms, "{message}");
                Err(GraphError::transient(message).with_status(http_status))
            }
            Err(ReadError::Transport(err)) => {
                let err = GraphError::from_transport(&err, self.inner.request_timeout, secrets);
                tracing::debug!(endpoint = endpoint.label(), path, latency_ms, error = %err, "graph request failed");
                Err(err)
            }
        };
        self.counts
            .record(endpoint, RequestOutcome::of(&result, secrets));
        result
    }
}

/// The secrets of a user-token call, kept so that parsing can redact with them.
pub(super) struct UserSecrets {
    token: SecretString,
    app_secret: SecretString,
    proof: SecretString,
}

impl UserSecrets {
    pub(super) fn as_refs(&self) -> [&SecretString; 3] {
        [&self.token, &self.app_secret, &self.proof]
    }
}

fn with_usage<T>(value: T, received: &Received) -> WithUsage<T> {
    WithUsage {
        value,
        usage: parse_usage(&received.headers),
    }
}

fn validate_base_url(base_url: &str) -> Result<String, GraphError> {
    let trimmed = base_url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| {
        GraphError::other(format!(
            "graph base URL {trimmed:?} is not a URL ({e}); expected e.g. https://graph.facebook.com"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
        return Err(GraphError::other(format!(
            "graph base URL {trimmed:?} must be http:// or https:// without a query string, e.g. https://graph.facebook.com"
        )));
    }
    Ok(trimmed.to_string())
}

/// Accepts `v{major}.{minor}` (e.g. `v25.0`) and returns the major version.
pub(super) fn parse_version(version: &str) -> Result<u32, GraphError> {
    let invalid = || {
        GraphError::other(format!(
            "graph API version {version:?} is not valid: expected `v` + digits + `.` + digits, e.g. v25.0"
        ))
    };
    super::versions::version_number(version)
        .map(|(major, _)| major)
        .ok_or_else(invalid)
}

/// Node ids go into the URL path, so only id-like values are allowed there.
pub(crate) fn validate_node_id<'a>(what: &str, id: &'a str) -> Result<&'a str, GraphError> {
    let ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(id)
    } else {
        Err(GraphError::other(format!(
            "{what} {id:?} is not valid: expected a numeric id such as 106540352242922"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_must_be_v_digits_dot_digits() {
        assert_eq!(parse_version("v25.0").ok(), Some(25));
        assert_eq!(parse_version("v3.10").ok(), Some(3));
        for bad in [
            "25.0", "v25", "v25.", "v.0", "v25.0.1", "V25.0", "v2x.0", "",
        ] {
            assert!(parse_version(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn base_url_loses_trailing_slashes() {
        assert_eq!(
            validate_base_url("http://127.0.0.1:9/").ok().as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert!(validate_base_url("ftp://example.com").is_err());
        assert!(validate_base_url("not a url").is_err());
    }

    #[test]
    fn node_ids_cannot_escape_the_path() {
        assert!(validate_node_id("id", "106540352242922").is_ok());
        assert!(validate_node_id("id", "../debug_token").is_err());
        assert!(validate_node_id("id", "1?x=2").is_err());
        assert!(validate_node_id("id", "").is_err());
    }
}
