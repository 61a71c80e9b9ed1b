//! The credential-rotation rule, pure: which token a refresh makes the credential of the next
//! exchange, and whether refreshing stops until re-auth because exchanges cannot gain more.

/// What is known about a new token and the credential it was exchanged from.
#[derive(Debug, Clone, Copy)]
pub(super) struct NewTokenFacts {
    /// When the new token expires (unix seconds); `None`: never, or not known.
    pub(super) expires_at: Option<i64>,
    /// Its inspection says it does not expire.
    pub(super) never_expires: bool,
    /// When the credential the exchange was made with expires, as last inspected.
    pub(super) credential_expires_at: Option<i64>,
    /// The credential is a separate long-lived token (not the access token itself).
    pub(super) separate_credential: bool,
    /// The exchange renews an expiring system-user token for another 60 days.
    pub(super) rolling: bool,
}

/// The rule's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rotation {
    /// The new token also becomes the separate long-lived credential.
    pub(super) replaces_credential: bool,
    /// Refreshing is capped until this unix second (the credential's expiry): re-auth needed.
    pub(super) capped_until: Option<i64>,
}

/// Rolling renewal replaces a system-user credential by its renewed self; a long-lived user
/// token that outlives the configured one becomes the credential, so it is used for the next
/// exchange instead of letting the old one run out. An exchange that could not move the expiry
/// past the credential's own will never do better: refreshing again only brings ever smaller
/// gains, so it stops until re-auth.
pub(super) fn rotate(facts: NewTokenFacts) -> Rotation {
    let outlives_credential = match (facts.expires_at, facts.credential_expires_at) {
        (Some(new), Some(old)) => new > old,
        (None, _) => facts.never_expires,
        (Some(_), None) => false,
    };
    let capped_until = match (facts.expires_at, facts.credential_expires_at) {
        (Some(new), Some(old)) if !facts.rolling && new <= old => Some(old),
        _ => None,
    };
    Rotation {
        replaces_credential: facts.separate_credential && (facts.rolling || outlives_credential),
        capped_until,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    /// A user-token exchange from a separate long-lived credential expiring in 50 days.
    fn facts(expires_at: Option<i64>) -> NewTokenFacts {
        NewTokenFacts {
            expires_at,
            never_expires: false,
            credential_expires_at: Some(NOW + 50 * DAY),
            separate_credential: true,
            rolling: false,
        }
    }

    #[test]
    fn a_rolling_renewal_replaces_the_credential_and_is_never_capped() {
        let renewed = NewTokenFacts {
            rolling: true,
            ..facts(Some(NOW + 60 * DAY))
        };
        let expected = Rotation {
            replaces_credential: true,
            capped_until: None,
        };
        assert_eq!(rotate(renewed), expected);
        // Even one that did not gain (Meta kept the expiry): rolling renewal goes on.
        let no_gain = NewTokenFacts {
            expires_at: Some(NOW + 50 * DAY),
            ..renewed
        };
        assert_eq!(rotate(no_gain), expected);
    }

    #[test]
    fn a_long_lived_user_token_that_outlives_the_configured_one_becomes_the_credential() {
        let rotation = rotate(facts(Some(NOW + 60 * DAY)));
        assert_eq!(
            rotation,
            Rotation {
                replaces_credential: true,
                capped_until: None
            }
        );
    }

    #[test]
    fn an_exchange_that_cannot_pass_the_credentials_expiry_is_capped_there() {
        for expires_at in [NOW + DAY, NOW + 50 * DAY] {
            assert_eq!(
                rotate(facts(Some(expires_at))),
                Rotation {
                    replaces_credential: false,
                    capped_until: Some(NOW + 50 * DAY)
                },
                "new token expiring at {expires_at}"
            );
        }
    }

    #[test]
    fn a_never_expiring_token_outlives_any_credential_but_an_unknown_expiry_does_not() {
        let never = NewTokenFacts {
            never_expires: true,
            ..facts(None)
        };
        assert_eq!(
            rotate(never),
            Rotation {
                replaces_credential: true,
                capped_until: None
            }
        );
        assert_eq!(
            rotate(facts(None)),
            Rotation {
                replaces_credential: false,
                capped_until: None
            }
        );
    }

    #[test]
    fn an_access_token_that_is_its_own_credential_is_never_replaced_but_can_be_capped() {
        let own = NewTokenFacts {
            separate_credential: false,
            ..facts(Some(NOW + 60 * DAY))
        };
        assert!(!rotate(own).replaces_credential);
        let short = NewTokenFacts {
            expires_at: Some(NOW + DAY),
            ..own
        };
        assert_eq!(rotate(short).capped_until, Some(NOW + 50 * DAY));
        // An uninspected credential caps nothing.
        let unknown = NewTokenFacts {
            credential_expires_at: None,
            ..short
        };
        assert_eq!(
            rotate(unknown),
            Rotation {
                replaces_credential: false,
                capped_until: None
            }
        );
    }
}
