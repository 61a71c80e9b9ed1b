//! The engine's view of the Graph API, as a trait so tests can substitute a fake source.

use futures_util::future::BoxFuture;
use secrecy::SecretString;

use crate::graph::{
    Analytics, AppCredentials, ExchangedToken, Granularity, GraphClient, GraphError,
    OutgoingMessage, PhoneHealth, PhoneHealthResult, PhoneRead, SendResult, TokenInfo, WithUsage,
};

/// A window of WABA analytics to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalyticsWindow {
    pub start_unix: i64,
    pub end_unix: i64,
    pub granularity: Granularity,
}

/// The Graph calls the token engine makes.
pub trait TokenSource: Send + Sync + 'static {
    /// `debug_token` for many tokens of one app (batched by the implementation).
    fn inspect_many<'a>(
        &'a self,
        app: &'a AppCredentials,
        tokens: &'a [SecretString],
    ) -> BoxFuture<'a, Result<Vec<Result<TokenInfo, GraphError>>, GraphError>>;

    /// `fb_exchange_token`.
    fn exchange<'a>(
        &'a self,
        app: &'a AppCredentials,
        token: &'a SecretString,
        expires_in_60_days: bool,
    ) -> BoxFuture<'a, Result<ExchangedToken, GraphError>>;

    /// `POST /{phone-number-id}/messages`.
    fn send<'a>(
        &'a self,
        app: &'a AppCredentials,
        token: &'a SecretString,
        phone_number_id: &'a str,
        message: &'a OutgoingMessage,
    ) -> BoxFuture<'a, Result<WithUsage<SendResult>, GraphError>>;

    /// Phone-number health fields.
    fn phone_health<'a>(
        &'a self,
        app: &'a AppCredentials,
        token: &'a SecretString,
        phone_number_id: &'a str,
    ) -> BoxFuture<'a, Result<WithUsage<PhoneHealth>, GraphError>>;

    /// Phone-number health of many accounts of one app, each read with its own token; one
    /// result per read, in order. `Err` when nothing could be read (the request failed).
    /// The default asks [`TokenSource::phone_health`] once per read; the Graph client batches.
    fn phone_health_many<'a>(
        &'a self,
        app: &'a AppCredentials,
        reads: &'a [PhoneRead],
    ) -> BoxFuture<'a, Result<Vec<PhoneHealthResult>, GraphError>> {
        Box::pin(async move {
            let mut results = Vec::with_capacity(reads.len());
            for read in reads {
                results.push(
                    self.phone_health(app, &read.token, &read.phone_number_id)
                        .await,
                );
            }
            Ok(results)
        })
    }

    /// WABA delivery analytics.
    fn analytics<'a>(
        &'a self,
        app: &'a AppCredentials,
        token: &'a SecretString,
        waba_id: &'a str,
        window: AnalyticsWindow,
    ) -> BoxFuture<'a, Result<WithUsage<Analytics>, GraphError>>;
}

impl TokenSource for GraphClient {
    fn inspect_many<'a>(
        &'a self,
        app: &'a AppCredentials,
        tokens: &'a [SecretString],
    ) -> BoxFuture<'a, Result<Vec<Result<TokenInfo, GraphError>>, GraphError>> {
        Box::pin(async move {
            // One token needs no batch envelope.
            if let [token] = tokens {
                return Ok(vec![self.debug_token(app, token).await]);
            }
            self.debug_tokens(app, tokens).await
        })
    }

    fn exchange<'a>(
        &'a self,
        app: &'a AppCredentials,
        token: &'a SecretString,
        expires_in_60_days: bool,
    ) -> BoxFuture<'a, Result<ExchangedToken, GraphError>> {
        Box::pin(GraphClient::exchange(self, app, token, expires_in_60_days))
    }

    fn send<'a>(
        &'a self,
        app: &'a AppCredentials,
        token: &'a SecretString,
        phone_number_id: &'a str,
        message: &'a OutgoingMessage,
    ) -> BoxFuture<'a, Result<WithUsage<SendResult>, GraphError>> {
        Box::pin(self.send_message(app, token, phone_number_id, message))
    }

    fn phone_health<'a>(
        &'a self,
        app: &'a AppCredentials,
        token: &'a SecretString,
        phone_number_id: &'a str,
    ) -> BoxFuture<'a, Result<WithUsage<PhoneHealth>, GraphError>> {
        Box::pin(GraphClient::phone_health(self, app, token, phone_number_id))
    }

    fn phone_health_many<'a>(
        &'a self,
        app: &'a AppCredentials,
        reads: &'a [PhoneRead],
    ) -> BoxFuture<'a, Result<Vec<PhoneHealthResult>, GraphError>> {
        Box::pin(async move {
            // One read needs no batch envelope: a single account polls as it always did.
            if let [read] = reads {
                let result =
                    GraphClient::phone_health(self, app, &read.token, &read.phone_number_id).await;
                return Ok(vec![result]);
            }
            self.phone_healths(app, reads).await
        })
    }

    fn analytics<'a>(
        &'a self,
        app: &'a AppCredentials,
        token: &'a SecretString,
        waba_id: &'a str,
        window: AnalyticsWindow,
    ) -> BoxFuture<'a, Result<WithUsage<Analytics>, GraphError>> {
        Box::pin(self.waba_analytics(
            app,
            token,
            waba_id,
            window.start_unix,
            window.end_unix,
            window.granularity,
        ))
    }
}

/// An error that arose inside tokentop rather than at Meta (lock timeout, missing settings,
/// shutdown), in the same type so callers handle one kind of failure.
pub fn local_error(message: &str) -> GraphError {
    GraphError::without_envelope(crate::graph::ErrorClass::Local, message)
}
