//! [`SimHandle`]'s webhook methods: set the target, post account, quality and template events,
//! read the counters, wait until nothing is pending; and the hook an accepted send calls.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;

use super::state::{SimHandle, now_unix};
use super::webhook_events::{
    AccountUpdate, PhoneQualityUpdate, TemplateQualityUpdate, TemplateStatusUpdate,
};
use super::webhook_payloads::{MessageFacts, digits_only};
use super::webhook_settings::{WebhookError, WebhookStats};
use super::webhooks::SendingPhone;

impl SimHandle {
    /// Posts webhooks to `url` from now on, signed with `secret`, or when `None` with the
    /// `WebhookSettings::secret`, else the app secret. Bodies still being retried for an
    /// earlier target are dropped.
    pub fn set_webhook_target(
        &self,
        url: &str,
        secret: Option<SecretString>,
    ) -> Result<(), WebhookError> {
        self.webhooks().set_target(Some(url), secret)
    }

    /// Stops posting webhooks; statuses not yet posted and bodies being retried are dropped.
    pub fn clear_webhook_target(&self) {
        // Clearing never parses a URL, so it cannot fail.
        let _ = self.webhooks().set_target(None, None);
    }

    /// The target URL, if one is set.
    pub fn webhook_target(&self) -> Option<String> {
        self.webhooks().target_url()
    }

    /// The webhook counters so far.
    pub fn webhook_stats(&self) -> WebhookStats {
        self.webhooks().stats()
    }

    /// Waits until every status has been posted and every body acknowledged or dropped;
    /// `false` if that did not happen within `timeout`.
    pub async fn wait_webhooks_idle(&self, timeout: Duration) -> bool {
        self.webhooks().wait_idle(timeout).await
    }

    /// Posts an `account_update` and returns the body posted.
    pub fn post_account_update(&self, update: &AccountUpdate) -> Result<Value, WebhookError> {
        let body = update
            .body(&self.config().app_id, now_unix())
            .map_err(WebhookError::Invalid)?;
        self.webhooks().post_event(&body)?;
        Ok(body)
    }

    /// Posts a `phone_number_quality_update` and returns the body posted. Named by
    /// `phone_number_id`, the simulated phone's display number, WABA and limit fill the gaps,
    /// and a new `current_limit` becomes the phone's messaging limit.
    pub fn post_phone_quality(&self, update: &PhoneQualityUpdate) -> Result<Value, WebhookError> {
        let phone = update.phone_number_id.as_ref().map(|id| {
            let phone = self.lock().phones.get(id).cloned().unwrap_or_default();
            (id.clone(), phone)
        });
        let display = match (&update.display_phone_number, &phone) {
            (Some(display), _) => display.clone(),
            (None, Some((_, phone))) => phone.display_phone_number.clone(),
            (None, None) => {
                return Err(WebhookError::Invalid(
                    "give `phone_number_id` (a simulated phone) or `display_phone_number`"
                        .to_string(),
                ));
            }
        };
        let waba_id = match (&update.waba_id, &phone) {
            (Some(waba_id), _) => waba_id.clone(),
            (None, Some((_, phone))) => phone.waba_id.clone(),
            (None, None) => super::DEFAULT_WABA_ID.to_string(),
        };
        let current_limit = match (&update.current_limit, &phone) {
            (Some(limit), _) => limit.clone(),
            (None, Some((_, phone))) => phone.messaging_limit.clone(),
            (None, None) => "TIER_NOT_SET".to_string(),
        };
        let body = update
            .body(&display, &waba_id, &current_limit, now_unix())
            .map_err(WebhookError::Invalid)?;
        self.webhooks().post_event(&body)?;
        if let Some((id, mut phone)) = phone {
            phone.messaging_limit = current_limit;
            self.set_phone(&id, phone);
        }
        Ok(body)
    }

    /// Posts a `message_template_status_update` and returns the body posted.
    pub fn post_template_status(
        &self,
        update: &TemplateStatusUpdate,
    ) -> Result<Value, WebhookError> {
        let body = update.body(now_unix()).map_err(WebhookError::Invalid)?;
        self.webhooks().post_event(&body)?;
        Ok(body)
    }

    /// Posts a `message_template_quality_update` and returns the body posted.
    pub fn post_template_quality(
        &self,
        update: &TemplateQualityUpdate,
    ) -> Result<Value, WebhookError> {
        let body = update.body(now_unix()).map_err(WebhookError::Invalid)?;
        self.webhooks().post_event(&body)?;
        Ok(body)
    }

    /// Called for each send Meta accepted: schedules its status webhooks.
    pub(crate) fn send_accepted(&self, phone_number_id: &str, facts: MessageFacts) {
        let phone = self
            .lock()
            .phones
            .get(phone_number_id)
            .cloned()
            .unwrap_or_default();
        let sending = SendingPhone {
            waba_id: phone.waba_id,
            display_phone_number: digits_only(&phone.display_phone_number),
            phone_number_id: phone_number_id.to_string(),
        };
        self.webhooks().message_accepted(sending, facts);
    }
}
