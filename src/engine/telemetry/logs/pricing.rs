//! The `pricing` object of a message status (REFERENCE.md section 13): what Meta charges the
//! message as, with its category folded into a closed label set so metrics stay bounded.

/// Meta's pricing categories; anything else (a category Meta adds later) is [`Self::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PricingCategory {
    Authentication,
    AuthenticationInternational,
    Marketing,
    MarketingLite,
    ReferralConversion,
    Service,
    Utility,
    Other,
}

impl PricingCategory {
    /// Every label, in label order.
    pub const ALL: [PricingCategory; 8] = [
        Self::Authentication,
        Self::AuthenticationInternational,
        Self::Marketing,
        Self::MarketingLite,
        Self::ReferralConversion,
        Self::Service,
        Self::Utility,
        Self::Other,
    ];

    /// The label in metrics and JSON (Meta's word, with `_` for the international one).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authentication => "authentication",
            Self::AuthenticationInternational => "authentication_international",
            Self::Marketing => "marketing",
            Self::MarketingLite => "marketing_lite",
            Self::ReferralConversion => "referral_conversion",
            Self::Service => "service",
            Self::Utility => "utility",
            Self::Other => "other",
        }
    }

    /// Meta's word: case-insensitive, and the international category written with a hyphen
    /// (Meta's status page) or an underscore (its conversation list) alike.
    pub fn parse(word: &str) -> Self {
        let word = word.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|category| *category != Self::Other && category.as_str() == word)
            .unwrap_or(Self::Other)
    }
}

/// What Meta says a message is charged as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    pub category: PricingCategory,
    /// `PMP` (per-message pricing), or `CBP` on webhooks sent before July 2025.
    pub pricing_model: Option<String>,
    /// `regular` (charged), `free_customer_service`, `free_entry_point`.
    pub kind: Option<String>,
    /// Announced for removal by Meta: `kind` and `category` say the same.
    pub billable: Option<bool>,
}

impl Pricing {
    /// The `pricing` value of a status, read leniently: an object without a category is
    /// [`PricingCategory::Other`]; anything that is not an object is no pricing at all.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        let object = value.as_object()?;
        let text = |key: &str| object.get(key)?.as_str().map(str::to_string);
        Some(Self {
            category: text("category")
                .map_or(PricingCategory::Other, |c| PricingCategory::parse(&c)),
            pricing_model: text("pricing_model"),
            kind: text("type"),
            billable: object.get("billable").and_then(serde_json::Value::as_bool),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_fold_into_the_known_labels_or_other() {
        for category in PricingCategory::ALL {
            assert_eq!(PricingCategory::parse(category.as_str()), category);
        }
        assert_eq!(
            PricingCategory::parse("authentication-international"),
            PricingCategory::AuthenticationInternational
        );
        assert_eq!(
            PricingCategory::parse("MARKETING"),
            PricingCategory::Marketing
        );
        assert_eq!(
            PricingCategory::parse("brand_new_category"),
            PricingCategory::Other
        );
    }

    #[test]
    fn pricing_reads_leniently() {
        let pricing = Pricing::from_json(&serde_json::json!({
            "billable": false, "pricing_model": "PMP", "type": "free_customer_service",
            "category": "utility"
        }))
        .unwrap();
        assert_eq!(pricing.category, PricingCategory::Utility);
        assert_eq!(pricing.billable, Some(false));
        assert_eq!(pricing.kind.as_deref(), Some("free_customer_service"));
        let bare = Pricing::from_json(&serde_json::json!({"category": 5})).unwrap();
        assert_eq!(bare.category, PricingCategory::Other);
        assert!(Pricing::from_json(&serde_json::json!("marketing")).is_none());
    }
}
