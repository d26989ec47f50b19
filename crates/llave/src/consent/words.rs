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

/// An item a third party asks for, in words: a claim, or a kind of record and who holds
/// the person's (`None`: the person has none in force).
pub fn sharing_item(c: &Chrome, item: &str, source: Option<&super::sharing::Source>) -> String {
    match item.strip_prefix(super::sharing::RECORD_PREFIX) {
        Some(kind) => {
            // "Tu comprobante de domicilio": the kind's name inside a sentence.
            let name = crate::catalog::model::kind_name(c.lang, kind);
            let mut letters = name.chars();
            let kind = match letters.next() {
                Some(first) => first.to_lowercase().chain(letters).collect(),
                None => name,
            };
            match source {
                Some(source) => c.t_with("share-item-record", &[("kind", kind), ("holder", source.name.clone())]),
                None => c.t_with("share-item-record-missing", &[("kind", kind)]),
            }
        }
        None => c.t(&format!("share-item-{item}")),
    }
}

/// How often a third party may fetch, in words.
pub fn frequency_words(c: &Chrome, sharing: &super::sharing::Sharing) -> String {
    match sharing.frequency() {
        Ok(super::sharing::Frequency::Every(period)) => {
            c.t_with("share-fetch-every", &[("period", duration_words(c, period))])
        }
        _ => c.t("share-fetch-once"),
    }
}

/// An ISO 8601 duration in words: "5 años", "1 mes y 2 semanas".
pub fn duration_words(c: &Chrome, span: jiff::Span) -> String {
    let parts: Vec<String> = [
        (i64::from(span.get_years()), "year"),
        (i64::from(span.get_months()), "month"),
        (i64::from(span.get_weeks()), "week"),
        (i64::from(span.get_days()), "day"),
        (i64::from(span.get_hours()), "hour"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, unit)| {
        if n == 1 {
            c.t(&format!("duration-{unit}-one"))
        } else {
            c.t_with(&format!("duration-{unit}s"), &[("n", n.to_string())])
        }
    })
    .collect();
    match parts.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => c.t_with("duration-and", &[("a", rest.join(", ")), ("b", last.clone())]),
    }
}
