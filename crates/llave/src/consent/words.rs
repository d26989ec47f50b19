//! What a client receives, in words: the list the consent page and the account page show
//! for a client's scopes and claims.

use crate::web::page::Chrome;

/// What a client receives, in words, for the consent page and the account page.
pub fn consent_items<'a>(c: &Chrome, scopes: impl Iterator<Item = &'a str>, allowed_claims: &[String]) -> Vec<String> {
    let mut items = vec![c.t("consent-item-sub")];
    for scope in scopes {
        match scope {
            "profile" => items.push(c.t("consent-item-profile")),
            "email" => items.push(c.t("consent-item-email")),
            "phone" => items.push(c.t("consent-item-phone")),
            "offline_access" => items.push(c.t("consent-item-offline")),
            _ => {}
        }
    }
    if allowed_claims.iter().any(|claim| claim == "curp") {
        items.push(c.t("consent-item-curp"));
    }
    items
}
