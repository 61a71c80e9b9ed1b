//! Reading the phones of many accounts at once: grouped by app (a Graph batch is sent under
//! one app's token, and each item carries its account's own token), one
//! [`TokenSource::phone_health_many`] call per app, so 1,000 accounts of one app cost 20 HTTP
//! requests instead of 1,000.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use secrecy::SecretString;

use crate::engine::source::{TokenSource, local_error};
use crate::graph::{AppCredentials, PhoneHealthResult, PhoneRead};

/// One account's phone read, with the app its batch runs under.
pub(crate) struct PhoneAsk {
    pub app: AppCredentials,
    pub read: PhoneRead,
}

/// Reads every asked phone; one result per ask, in order. A failed request or a panicking
/// source fails the asks of that app only; a missing item fails that ask only.
pub(crate) async fn read_phones(
    source: &dyn TokenSource,
    asks: Vec<PhoneAsk>,
) -> Vec<PhoneHealthResult> {
    let count = asks.len();
    let mut results: Vec<Option<PhoneHealthResult>> = (0..count).map(|_| None).collect();
    // Apps one after another: one batch request in flight at a time is plenty, and it keeps
    // the connections to Meta few.
    for (app, group) in group_by_app(asks) {
        let (indices, reads): (Vec<usize>, Vec<PhoneRead>) = group.into_iter().unzip();
        // Each answer is moved to its ask (a round's answers used to be cloned, and dropped).
        let mut answers = match read_group(source, &app, &reads).await {
            Ok(items) => Ok(items.into_iter()),
            Err(err) => Err(err),
        };
        for index in indices {
            let answer = match &mut answers {
                Ok(items) => items.next().unwrap_or_else(|| {
                    Err(local_error(
                        "the phone-health answer has fewer items than asked",
                    ))
                }),
                Err(err) => Err(err.clone()),
            };
            if let Some(slot) = results.get_mut(index) {
                *slot = Some(answer);
            }
        }
    }
    results
        .into_iter()
        .map(|result| result.unwrap_or_else(|| Err(local_error("this phone was not read"))))
        .collect()
}

type Group = (AppCredentials, Vec<(usize, PhoneRead)>);

/// Groups asks by app id and secret, keeping the order of first appearance.
fn group_by_app(asks: Vec<PhoneAsk>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for (index, ask) in asks.into_iter().enumerate() {
        let key = format!(
            "{}|{}",
            ask.app.app_id,
            crate::engine::store::fingerprint(&ask.app.app_secret)
        );
        let position = *by_key.entry(key).or_insert_with(|| {
            groups.push((ask.app.clone(), Vec::new()));
            groups.len().saturating_sub(1)
        });
        if let Some((_, members)) = groups.get_mut(position) {
            members.push((index, ask.read));
        }
    }
    groups
}

/// One app's reads; a panicking source becomes an error for each of them (as in the
/// inspector), so one bad answer cannot stop health polling for every account.
async fn read_group(
    source: &dyn TokenSource,
    app: &AppCredentials,
    reads: &[PhoneRead],
) -> Result<Vec<PhoneHealthResult>, crate::graph::GraphError> {
    AssertUnwindSafe(source.phone_health_many(app, reads))
        .catch_unwind()
        .await
        .unwrap_or_else(|payload| {
            let secrets: Vec<&SecretString> = reads
                .iter()
                .map(|r| &r.token)
                .chain([&app.app_secret])
                .collect();
            let what = crate::engine::account::panic_text(payload.as_ref(), &secrets);
            tracing::error!("phone health read panicked: {what}");
            Err(local_error(&format!("phone health read panicked: {what}")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(app_id: &str, secret: &str, phone: &str) -> PhoneAsk {
        PhoneAsk {
            app: AppCredentials::new(app_id, SecretString::from(secret.to_string())),
            read: PhoneRead {
                token: SecretString::from(format!("EAAGtoken{phone}")),
                phone_number_id: phone.to_string(),
            },
        }
    }

    #[test]
    fn asks_are_grouped_by_app_id_and_secret_in_order() {
        let groups = group_by_app(vec![
            ask("1", "s", "10"),
            ask("2", "s", "20"),
            ask("1", "s", "11"),
            ask("1", "other", "12"),
        ]);
        let shape: Vec<(String, Vec<usize>)> = groups
            .iter()
            .map(|(app, members)| {
                (
                    app.app_id.clone(),
                    members.iter().map(|(i, _)| *i).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("1".to_string(), vec![0, 2]),
                ("2".to_string(), vec![1]),
                ("1".to_string(), vec![3]),
            ]
        );
    }
}
