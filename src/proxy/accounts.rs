//! The proxy following the running accounts: the ids it routes requests by and each
//! account's request slots are replaced when accounts are reloaded; a request already in
//! flight finishes on the proxy it started with.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::http::Request;
use hyper::body::Incoming;
use tokio::sync::{Semaphore, watch};

use super::route::AccountIds;
use super::{Inner, Proxy};
use crate::config::AccountSettings;

/// The ids requests are routed by, one entry per account.
pub(super) fn account_ids<'a>(
    accounts: impl IntoIterator<Item = &'a AccountSettings>,
) -> Vec<AccountIds> {
    accounts
        .into_iter()
        .map(|a| AccountIds {
            name: a.name.clone(),
            phone_number_id: a.phone_number_id.clone(),
            business_account_id: a.business_account_id.clone(),
            purpose: a.profile.purpose,
        })
        .collect()
}

impl Proxy {
    /// This proxy for another set of accounts: a kept account keeps its request slots (the
    /// requests waiting for one stay in line).
    fn with_accounts(&self, accounts: Vec<AccountIds>) -> Proxy {
        // By name, hashed once per reload (a fleet has thousands of accounts).
        let kept: HashMap<&str, &Arc<Semaphore>> = self
            .accounts
            .iter()
            .map(|a| a.name.as_str())
            .zip(&self.permits)
            .collect();
        let permits = accounts
            .iter()
            .map(|a| match kept.get(a.name.as_str()) {
                Some(slots) => Arc::clone(slots),
                None => Arc::new(Semaphore::new(self.max_concurrent)),
            })
            .collect();
        Proxy {
            inner: Arc::new(Inner {
                broker: self.broker.clone(),
                accounts,
                allow: self.allow.clone(),
                graph_path: self.graph_path.clone(),
                graph_uri: self.graph_uri.clone(),
                client_token: self.client_token,
                permits,
                max_concurrent: self.max_concurrent,
                retry_body_limit: self.retry_body_limit,
                max_request_body: self.max_request_body,
                timeout: self.timeout,
            }),
            upstream: self.upstream.clone(),
        }
    }
}

/// The proxy of the accounts running now, replaced on every reload until the engine stops.
pub(super) fn follow(proxy: Proxy) -> watch::Receiver<Proxy> {
    let mut directory = proxy.broker.accounts();
    let (current, followed) = watch::channel(proxy);
    tokio::spawn(async move {
        while directory.changed().await.is_ok() {
            let accounts = directory.borrow_and_update().clone();
            let ids = account_ids(accounts.links().map(|link| link.settings.as_ref()));
            let next = current.borrow().with_accounts(ids);
            current.send_replace(next);
        }
    });
    followed
}

/// The proxy's HTTP service: every request, whatever its method and path, goes to
/// [`super::forward::handle`], which routes it itself (`route.rs`), on the proxy of the
/// accounts running when it arrived. A plain hyper service: axum's router had only this one
/// fallback to find, and boxed each request's future and body on the way.
pub(super) fn service(
    current: watch::Receiver<Proxy>,
) -> impl crate::listener::Service<Body = super::bodies::ToClient> {
    hyper::service::service_fn(move |request: Request<Incoming>| {
        let proxy = current.borrow().clone();
        async move {
            let response = super::forward::handle(proxy, request).await;
            Ok::<_, Infallible>(response)
        }
    })
}
