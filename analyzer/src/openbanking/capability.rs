//! Endpoints as open-banking capabilities: the UK Open Banking (Read/Write API 3.x) and Berlin
//! Group NextGenPSD2 path families built in, overrides from configuration first.
//!
//! Matching reads the literal segments of the path template, so it works on learned and
//! declared templates alike (`/open-banking/v3.1/aisp/accounts/{AccountId}`).

use serde::{Deserialize, Serialize};

/// A capability override: templates starting with `path` (a trailing `*` is ignored), for one
/// method or all, are `capability` (a built-in name, or `bank_defined:<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityRule {
    pub path: String,
    #[serde(default)]
    pub method: Option<String>,
    pub capability: String,
}

/// The built-in capabilities, and the PSD2 role (ETSI TS 119 495) each needs.
pub const BUILT_IN: [(&str, Option<&str>); 7] = [
    ("account_information", Some("PSP_AI")),
    ("payment_initiation", Some("PSP_PI")),
    ("funds_confirmation", Some("PSP_IC")),
    ("vrp", Some("PSP_PI")),
    ("events", None),
    ("consents", None),
    ("token", None),
];

/// The PSD2 role a capability needs (`None`: any TPP, or not a PSD2 service).
pub fn required_role(capability: &str) -> Option<&'static str> {
    BUILT_IN
        .iter()
        .find(|(c, _)| *c == capability)
        .and_then(|(_, r)| *r)
}

/// The capability of an endpoint, or `None` when it is none of them.
pub fn capability_of(rules: &[CapabilityRule], method: &str, path: &str) -> Option<String> {
    for r in rules {
        let prefix = r.path.trim_end_matches('*');
        let method_ok = r
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        if method_ok && path.starts_with(prefix) {
            return Some(r.capability.clone());
        }
    }
    built_in(path).map(str::to_string)
}

fn built_in(path: &str) -> Option<&'static str> {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .map(str::to_ascii_lowercase)
        .collect();
    let has = |names: &[&str]| segments.iter().any(|s| names.contains(&s.as_str()));
    // OAuth 2.0 / OpenID Connect endpoints of the bank's authorisation server.
    if has(&[
        "token",
        "authorize",
        "register",
        "par",
        "userinfo",
        "jwks",
        "introspect",
    ]) || segments.iter().any(|s| s == ".well-known")
    {
        return Some("token");
    }
    if segments.iter().any(|s| s.ends_with("consents")) {
        return Some("consents");
    }
    if has(&[
        "events",
        "event-subscriptions",
        "callback-urls",
        "event-notifications",
    ]) {
        return Some("events");
    }
    if segments.iter().any(|s| s.contains("vrp")) {
        return Some("vrp");
    }
    if has(&["cbpii", "funds-confirmations"]) {
        return Some("funds_confirmation");
    }
    if has(&[
        "pisp",
        "payments",
        "bulk-payments",
        "periodic-payments",
        "signing-baskets",
    ]) {
        return Some("payment_initiation");
    }
    if has(&["aisp", "accounts", "card-accounts"]) {
        return Some("account_information");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uk_and_berlin_group_families() {
        for (path, want) in [
            (
                "/open-banking/v3.1/aisp/accounts/{AccountId}/balances",
                Some("account_information"),
            ),
            (
                "/open-banking/v3.1/aisp/account-access-consents",
                Some("consents"),
            ),
            (
                "/open-banking/v3.1/pisp/domestic-payments",
                Some("payment_initiation"),
            ),
            (
                "/open-banking/v3.1/pisp/domestic-vrp-consents",
                Some("consents"),
            ),
            ("/open-banking/v3.1/vrp/domestic-vrps", Some("vrp")),
            (
                "/open-banking/v3.1/cbpii/funds-confirmations",
                Some("funds_confirmation"),
            ),
            ("/open-banking/v3.1/events", Some("events")),
            ("/as/token.oauth2", None),
            ("/oauth2/token", Some("token")),
            (
                "/v1/accounts/{account-id}/transactions",
                Some("account_information"),
            ),
            (
                "/v1/payments/sepa-credit-transfers",
                Some("payment_initiation"),
            ),
            ("/v1/consents/{consentId}", Some("consents")),
            ("/v2/funds-confirmations", Some("funds_confirmation")),
            ("/health", None),
        ] {
            assert_eq!(capability_of(&[], "GET", path).as_deref(), want, "{path}");
        }
    }

    #[test]
    fn overrides_come_first_and_respect_method() {
        let rules = vec![CapabilityRule {
            path: "/v1/accounts/*".into(),
            method: Some("POST".into()),
            capability: "bank_defined:onboarding".into(),
        }];
        assert_eq!(
            capability_of(&rules, "post", "/v1/accounts/x").as_deref(),
            Some("bank_defined:onboarding")
        );
        assert_eq!(
            capability_of(&rules, "GET", "/v1/accounts/x").as_deref(),
            Some("account_information")
        );
        assert_eq!(required_role("payment_initiation"), Some("PSP_PI"));
        assert_eq!(required_role("bank_defined:onboarding"), None);
    }
}
