//! Sharing with third parties, the decisions: what a third party may ask for with RFC 9396
//! `data_sharing` authorization details, what the person allowed of it, the consent
//! artefact's claims, and whether a fetch of shared data may happen now. Pure: no I/O and
//! no clock of its own (every function takes `now`), so each rule has a unit test below.
//! The acts around them (sign the artefact, pause, revoke, notify) are in
//! [`super::artefacts`].
//!
//! A request names one purpose of the third party's registered list, the items (identity
//! claims and kinds of record), how often it may fetch (`"once"`, or `{"every": "P1M"}`),
//! how long it may keep what it receives (`data_life`) and until when the consent holds
//! (`expires`), with ISO 8601 durations and an RFC 3339 time:
//!
//! ```json
//! [{"type": "data_sharing", "purpose": "apertura_cuenta",
//!   "items": ["name", "curp", "birthdate", "record:proof_of_residence"],
//!   "fetch": "once", "data_life": "P5Y", "expires": "2027-01-01T00:00:00Z"}]
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A purpose a third party may ask for data for: a stable code, and plain Spanish text the
/// person reads on the consent page.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Purpose {
    pub code: &'static str,
    pub title: &'static str,
    pub description: &'static str,
}

/// The published purposes. A code is never reused for another meaning; a new purpose is a
/// new code.
pub const PURPOSES: &[Purpose] = &[
    Purpose {
        code: "apertura_cuenta",
        title: "Abrir una cuenta bancaria",
        description: "Confirmar quién eres y dónde vives para abrir una cuenta a tu nombre, como piden las leyes contra el lavado de dinero.",
    },
    Purpose {
        code: "credito",
        title: "Solicitar un crédito",
        description: "Revisar tu identidad y tus datos para estudiar un préstamo o una tarjeta de crédito que tú pediste.",
    },
    Purpose {
        code: "empleo",
        title: "Contratarte en un empleo",
        description: "Confirmar tu identidad y tus datos para darte de alta en un trabajo que aceptaste.",
    },
    Purpose {
        code: "arrendamiento",
        title: "Rentar una vivienda o un local",
        description: "Confirmar quién eres y dónde vives para firmar un contrato de arrendamiento.",
    },
    Purpose {
        code: "inscripcion_escolar",
        title: "Inscribirte en una escuela",
        description: "Confirmar tu identidad, o la de tu hija o hijo, para una inscripción en una escuela o universidad.",
    },
    Purpose {
        code: "seguro",
        title: "Contratar un seguro",
        description: "Confirmar tus datos para contratar o renovar una póliza de seguro a tu nombre.",
    },
    Purpose {
        code: "telefonia",
        title: "Contratar telefonía o internet",
        description: "Confirmar quién eres y dónde vives para contratar una línea telefónica o un servicio de internet.",
    },
];

/// The purpose with this code, if published.
pub fn purpose(code: &str) -> Option<&'static Purpose> {
    PURPOSES.iter().find(|p| p.code == code)
}

/// The `type` of the authorization details a third party asks with.
pub const DETAILS_TYPE: &str = "data_sharing";
/// An item naming a kind of record: `record:<kind>`.
pub const RECORD_PREFIX: &str = "record:";
/// The identity claims a third party may ask for.
pub const CLAIM_ITEMS: &[&str] = &["name", "curp", "birthdate", "email"];
/// The longest a consent may hold, from the moment it is asked.
pub const MAX_VALIDITY_SECONDS: i64 = 366 * 86_400;
/// At most this many items in one request.
const MAX_ITEMS: usize = 20;
/// The shortest period between fetches a third party may ask for.
const MIN_PERIOD_SECONDS: i64 = 86_400;
/// The longest a third party may keep what it receives.
const MAX_DATA_LIFE_YEARS: i64 = 10;

/// What the third party asked for, as it asked (checked by [`requested`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sharing {
    #[serde(rename = "type")]
    pub detail_type: String,
    pub purpose: String,
    pub items: Vec<String>,
    /// `"once"` or `{"every": "<ISO 8601 duration>"}`.
    pub fetch: Value,
    pub data_life: String,
    pub expires: String,
}

/// How often the third party may fetch.
#[derive(Debug, Clone)]
pub enum Frequency {
    /// One fetch in all.
    Once,
    /// One fetch per period (calendar arithmetic in UTC: `P1M` is a month, not 30 days).
    Every(jiff::Span),
}

impl PartialEq for Frequency {
    fn eq(&self, other: &Frequency) -> bool {
        match (self, other) {
            (Frequency::Once, Frequency::Once) => true,
            (Frequency::Every(a), Frequency::Every(b)) => a.fieldwise() == b.fieldwise(),
            _ => false,
        }
    }
}

impl Sharing {
    /// The frequency, as [`requested`] checked it.
    pub fn frequency(&self) -> Result<Frequency, String> {
        match &self.fetch {
            Value::String(once) if once == "once" => Ok(Frequency::Once),
            Value::Object(every) if every.len() == 1 => {
                let text =
                    every.get("every").and_then(Value::as_str).ok_or("fetch must be \"once\" or {\"every\": …}")?;
                Ok(Frequency::Every(duration(text, "fetch.every")?))
            }
            _ => Err("fetch must be \"once\" or {\"every\": \"<ISO 8601 duration>\"}".into()),
        }
    }

    /// `expires` as a Unix time.
    pub fn expires_at(&self) -> Result<i64, String> {
        self.expires
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_second())
            .map_err(|_| format!("expires {:?} is not an RFC 3339 time (e.g. 2027-01-01T00:00:00Z)", self.expires))
    }

    /// The record kinds among the items.
    pub fn record_kinds(&self) -> impl Iterator<Item = &str> {
        self.items.iter().filter_map(|item| item.strip_prefix(RECORD_PREFIX))
    }
}

/// An ISO 8601 duration (`P5Y`, `P1M`, `P2W`, `P1DT12H`), positive.
pub fn duration(text: &str, field: &str) -> Result<jiff::Span, String> {
    let bad = || format!("{field} {text:?} is not a positive ISO 8601 duration (e.g. P1M, P5Y)");
    if !text.starts_with('P') {
        return Err(bad());
    }
    let span: jiff::Span = text.parse().map_err(|_| bad())?;
    if !span.is_positive() {
        return Err(bad());
    }
    Ok(span)
}

/// `at` plus `span`, in the calendar (UTC); `None` past the representable range.
pub fn add(at: i64, span: jiff::Span) -> Option<i64> {
    let start = jiff::Timestamp::from_second(at).ok()?.to_zoned(jiff::tz::TimeZone::UTC);
    start.checked_add(span).ok().map(|end| end.timestamp().as_second())
}

/// The request's `data_sharing` details, checked: `Ok(None)` when it has none. Exactly one
/// detail; its purpose one the third party registered (`purposes`); each item a claim of
/// [`CLAIM_ITEMS`] or `record:<kind>` with a kind `is_kind` knows, once each; a frequency,
/// a data life, and an expiry after `now` and within [`MAX_VALIDITY_SECONDS`]. `Err` is the
/// description of an `invalid_authorization_details` error.
pub fn requested(
    details: Option<&str>,
    purposes: &[String],
    is_kind: impl Fn(&str) -> bool,
    now: i64,
) -> Result<Option<Sharing>, String> {
    let Some(text) = details else { return Ok(None) };
    let list: Vec<Value> =
        serde_json::from_str(text).map_err(|e| format!("authorization_details is not a valid array: {e}"))?;
    let [detail] = list.as_slice() else {
        return Err("authorization_details must hold exactly one data_sharing object".into());
    };
    if detail.get("type").and_then(Value::as_str) != Some(DETAILS_TYPE) {
        return Err(format!("a third party asks with authorization details of type {DETAILS_TYPE:?}"));
    }
    let sharing: Sharing =
        serde_json::from_value(detail.clone()).map_err(|e| format!("the data_sharing details are not valid: {e}"))?;
    if !purposes.contains(&sharing.purpose) {
        return Err(format!("purpose {:?} is not among the purposes this third party registered", sharing.purpose));
    }
    if sharing.items.is_empty() || sharing.items.len() > MAX_ITEMS {
        return Err(format!("items must name 1 to {MAX_ITEMS} items"));
    }
    for (n, item) in sharing.items.iter().enumerate() {
        let known = CLAIM_ITEMS.contains(&item.as_str()) || item.strip_prefix(RECORD_PREFIX).is_some_and(&is_kind);
        if !known {
            return Err(format!("unknown item {item:?}: name, curp, birthdate, email or record:<kind>"));
        }
        if sharing.items[..n].contains(item) {
            return Err(format!("item {item:?} is named twice"));
        }
    }
    if let Frequency::Every(period) = sharing.frequency()? {
        let next = add(now, period).ok_or("fetch.every is too long")?;
        if next - now < MIN_PERIOD_SECONDS {
            return Err("fetch.every must be at least one day (P1D)".into());
        }
    }
    let life = duration(&sharing.data_life, "data_life")?;
    let longest = add(now, jiff::Span::new().years(MAX_DATA_LIFE_YEARS)).unwrap_or(i64::MAX);
    if add(now, life).is_none_or(|end| end > longest) {
        return Err(format!("data_life must be at most P{MAX_DATA_LIFE_YEARS}Y"));
    }
    let expires_at = sharing.expires_at()?;
    if expires_at <= now {
        return Err("expires is in the past".into());
    }
    if expires_at > now + MAX_VALIDITY_SECONDS {
        return Err("expires is more than a year away".into());
    }
    Ok(Some(sharing))
}

/// Where a record item comes from: the entity holding the person's record of that kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub entity_id: i64,
    pub entity: String,
    pub name: String,
}

/// What Grant Management asked the new consent to do with an existing grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new grant (the default).
    #[default]
    Create,
    /// The grant's items and the new ones together.
    Merge,
    /// The new consent instead of the grant's.
    Replace,
}

impl Action {
    /// `grant_management_action`, with its `grant_id`: create needs none, merge and replace
    /// one.
    pub fn parse(action: Option<&str>, grant_id: Option<&str>) -> Result<(Action, Option<String>), String> {
        let action = match action {
            None | Some("create") => Action::Create,
            Some("merge") => Action::Merge,
            Some("replace") => Action::Replace,
            Some(other) => return Err(format!("grant_management_action {other:?}: create, merge or replace")),
        };
        match (action, grant_id) {
            (Action::Create, Some(_)) => Err("grant_id goes with grant_management_action merge or replace".into()),
            (Action::Create, None) => Ok((action, None)),
            (_, Some(id)) if !id.is_empty() && id.len() <= 64 => Ok((action, Some(id.to_string()))),
            _ => Err("grant_management_action merge and replace need a grant_id".into()),
        }
    }
}

/// What the person allowed on the consent page: the request narrowed to the ticked items,
/// the holder of each record item, and what to do with an existing grant. Carried by the
/// authorization code (`authorization_codes.sharing`) to the token endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Granted {
    pub sharing: Sharing,
    pub sources: BTreeMap<String, Source>,
    #[serde(default)]
    pub action: Action,
    #[serde(default)]
    pub grant_id: Option<String>,
}

/// The person's choice: the ticked items that were asked for, in the request's order. `None`
/// when nothing asked was ticked (the third party gets `access_denied`). A record item the
/// person has no record of cannot be ticked: `sources` lacks it.
pub fn allow(asked: &Sharing, ticked: &[String], sources: &BTreeMap<String, Source>) -> Option<Sharing> {
    let items: Vec<String> = asked
        .items
        .iter()
        .filter(|item| ticked.contains(item))
        .filter(|item| !item.starts_with(RECORD_PREFIX) || sources.contains_key(*item))
        .cloned()
        .collect();
    (!items.is_empty()).then(|| Sharing { items, ..asked.clone() })
}

/// Merge (Grant Management): the previous artefact's items, then the new ones not already
/// there; the new request's terms.
pub fn merged(previous: &Granted, new: &Granted) -> Granted {
    let mut items = previous.sharing.items.clone();
    items.extend(new.sharing.items.iter().filter(|i| !previous.sharing.items.contains(i)).cloned());
    let mut sources = previous.sources.clone();
    sources.extend(new.sources.clone());
    sources.retain(|item, _| items.contains(item));
    Granted { sharing: Sharing { items, ..new.sharing.clone() }, sources, ..new.clone() }
}

/// The organisation asking, as the artefact names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation<'a> {
    pub slug: &'a str,
    pub legal_name: &'a str,
    pub tax_id: &'a str,
}

/// The identifiers and times of one artefact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub artefact_id: &'a str,
    pub grant_id: &'a str,
    /// The person's pairwise identifier for this client.
    pub sub: &'a str,
    pub iat: i64,
}

/// The consent artefact's claims (the hub signs them, `typ` `consent-artefact+jwt`): who
/// may have what, for what, how often, how long, until when, from where.
pub fn artefact_claims(ids: &Ids<'_>, organisation: &Organisation<'_>, granted: &Granted) -> Value {
    let sources: serde_json::Map<String, Value> = granted
        .sources
        .iter()
        .map(|(item, source)| (item.clone(), json!({ "entity": source.entity, "name": source.name })))
        .collect();
    json!({
        "iss": ids.issuer,
        "aud": ids.client_id,
        "jti": ids.artefact_id,
        "grant_id": ids.grant_id,
        "sub": ids.sub,
        "third_party": { "slug": organisation.slug, "legal_name": organisation.legal_name, "tax_id": organisation.tax_id },
        "purpose": granted.sharing.purpose,
        "items": granted.sharing.items,
        "sources": sources,
        "fetch": granted.sharing.fetch,
        "data_life": granted.sharing.data_life,
        "expires": granted.sharing.expires,
        "iat": ids.iat,
    })
}

/// The state of an artefact, as the person and the third party read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Active,
    Paused,
    Revoked,
    Expired,
}

impl State {
    /// The state of a stored artefact (`ACTIVE`, `PAUSED`, `REVOKED`) at `now`: a consent past
    /// its expiry is `EXPIRED` unless revoked first.
    pub fn at(stored: &str, expires_at: i64, now: i64) -> State {
        match stored {
            "REVOKED" => State::Revoked,
            _ if now >= expires_at => State::Expired,
            "PAUSED" => State::Paused,
            _ => State::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "ACTIVE",
            State::Paused => "PAUSED",
            State::Revoked => "REVOKED",
            State::Expired => "EXPIRED",
        }
    }
}

/// What the person (or the third party, for revoke) asks of an artefact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Pause,
    Resume,
    Revoke,
}

impl Change {
    pub fn parse(text: &str) -> Option<Change> {
        match text {
            "pausar" | "pause" => Some(Change::Pause),
            "reanudar" | "resume" => Some(Change::Resume),
            "revocar" | "revoke" => Some(Change::Revoke),
            _ => None,
        }
    }

    /// The stored state after the change, or `None` when the change does not apply in
    /// `state` (resume what is not paused, anything once revoked or expired).
    pub fn apply(self, state: State) -> Option<&'static str> {
        match (self, state) {
            (_, State::Revoked | State::Expired) => None,
            (Change::Pause, State::Active) => Some("PAUSED"),
            (Change::Resume, State::Paused) => Some("ACTIVE"),
            (Change::Revoke, _) => Some("REVOKED"),
            _ => None,
        }
    }
}

/// Why a fetch of shared data is refused: each is the `error` of the 403 and the reason in
/// the refusal's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Paused,
    Revoked,
    Expired,
    /// Fetched as often as the artefact allows.
    TooFrequent,
    /// An item asked for that the artefact does not cover.
    NotCovered(String),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Paused => "consent_paused",
            Refusal::Revoked => "consent_revoked",
            Refusal::Expired => "consent_expired",
            Refusal::TooFrequent => "fetch_limit_reached",
            Refusal::NotCovered(_) => "not_covered",
        }
    }

    /// The reason as the person's file and the event name it.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Paused => "paused",
            Refusal::Revoked => "revoked",
            Refusal::Expired => "expired",
            Refusal::TooFrequent => "too_frequent",
            Refusal::NotCovered(_) => "not_covered",
        }
    }

    pub fn description(&self) -> String {
        match self {
            Refusal::Paused => "the person paused this consent".into(),
            Refusal::Revoked => "the consent was revoked".into(),
            Refusal::Expired => "the consent expired".into(),
            Refusal::TooFrequent => "the consent allows no further fetch yet".into(),
            Refusal::NotCovered(item) => format!("the consent does not cover {item:?}"),
        }
    }
}

/// What the fetch decision looks at: the stored artefact and what is asked.
#[derive(Debug, Clone)]
pub struct FetchFacts<'a> {
    pub stored_state: &'a str,
    pub expires_at: i64,
    pub frequency: &'a Frequency,
    pub fetches: i64,
    pub last_fetch_at: Option<i64>,
    /// The artefact's items.
    pub covered: &'a [String],
    /// The items asked for (`None`: all the artefact covers).
    pub asked: Option<&'a [String]>,
    pub now: i64,
}

/// May the third party fetch now? The items to deliver, or why not. Revoked, expired and
/// paused come first (whatever was asked), then coverage, then frequency.
pub fn fetch(facts: &FetchFacts<'_>) -> Result<Vec<String>, Refusal> {
    match State::at(facts.stored_state, facts.expires_at, facts.now) {
        State::Revoked => return Err(Refusal::Revoked),
        State::Expired => return Err(Refusal::Expired),
        State::Paused => return Err(Refusal::Paused),
        State::Active => {}
    }
    let items = match facts.asked {
        None => facts.covered.to_vec(),
        Some(asked) => {
            if let Some(outside) = asked.iter().find(|item| !facts.covered.contains(item)) {
                return Err(Refusal::NotCovered(outside.clone()));
            }
            asked.to_vec()
        }
    };
    let allowed = match (facts.frequency, facts.last_fetch_at) {
        (_, None) => facts.fetches == 0 || matches!(facts.frequency, Frequency::Every(_)),
        (Frequency::Once, Some(_)) => false,
        (Frequency::Every(period), Some(last)) => add(last, *period).is_some_and(|next| facts.now >= next),
    };
    if !allowed {
        return Err(Refusal::TooFrequent);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_083_200; // 2026-12-01T00:00:00Z

    fn purposes() -> Vec<String> {
        vec!["apertura_cuenta".into()]
    }

    fn is_kind(kind: &str) -> bool {
        kind == "proof_of_residence"
    }

    fn details(change: impl FnOnce(&mut Value)) -> String {
        let mut detail = json!({
            "type": "data_sharing", "purpose": "apertura_cuenta",
            "items": ["name", "curp", "birthdate", "record:proof_of_residence"],
            "fetch": "once", "data_life": "P5Y", "expires": "2027-01-01T00:00:00Z",
        });
        change(&mut detail);
        json!([detail]).to_string()
    }

    fn check(text: &str) -> Result<Option<Sharing>, String> {
        requested(Some(text), &purposes(), is_kind, NOW)
    }

    #[test]
    fn the_issues_example_is_accepted() {
        let sharing = check(&details(|_| {})).unwrap().unwrap();
        assert_eq!(sharing.items.len(), 4);
        assert_eq!(sharing.frequency().unwrap(), Frequency::Once);
        assert_eq!(sharing.expires_at().unwrap(), NOW + 31 * 86_400);
        assert_eq!(sharing.record_kinds().collect::<Vec<_>>(), ["proof_of_residence"]);
        assert_eq!(requested(None, &purposes(), is_kind, NOW), Ok(None));
    }

    #[test]
    fn a_monthly_fetch_is_a_calendar_month() {
        let sharing = check(&details(|d| d["fetch"] = json!({"every": "P1M"}))).unwrap().unwrap();
        let Frequency::Every(period) = sharing.frequency().unwrap() else { panic!("every") };
        // 2026-12-01 + P1M = 2027-01-01: 31 days; 2027-02-01 + P1M: 28 days.
        assert_eq!(add(NOW, period), Some(NOW + 31 * 86_400));
        assert_eq!(add(NOW + 62 * 86_400, period), Some(NOW + 90 * 86_400));
    }

    #[test]
    fn bad_details_are_refused_with_a_reason() {
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), "not a valid array"),
            ("[]".into(), "exactly one"),
            (format!("[{0}, {0}]", &details(|_| {})[1..details(|_| {}).len() - 1]), "exactly one"),
            (details(|d| d["type"] = json!("record_reuse")), "of type"),
            (details(|d| d["purpose"] = json!("credito")), "not among the purposes"),
            (details(|d| d["items"] = json!([])), "1 to 20"),
            (details(|d| d["items"] = json!(["salary"])), "unknown item"),
            (details(|d| d["items"] = json!(["record:birth_certificate"])), "unknown item"),
            (details(|d| d["items"] = json!(["name", "name"])), "twice"),
            (details(|d| d["fetch"] = json!("twice")), "fetch must be"),
            (details(|d| d["fetch"] = json!({"every": "PT1H"})), "at least one day"),
            (details(|d| d["fetch"] = json!({"every": "1 month"})), "ISO 8601"),
            (details(|d| d["data_life"] = json!("P0D")), "positive"),
            (details(|d| d["data_life"] = json!("P11Y")), "at most P10Y"),
            (details(|d| d["expires"] = json!("2026-11-30T00:00:00Z")), "in the past"),
            (details(|d| d["expires"] = json!("2028-12-31T00:00:00Z")), "more than a year"),
            (details(|d| d["expires"] = json!("tomorrow")), "RFC 3339"),
            (details(|d| d["locations"] = json!(["https://x"])), "not valid"),
        ];
        for (text, why) in cases {
            let error = check(&text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn grant_management_actions_need_a_grant_id_exactly_when_they_change_one() {
        assert_eq!(Action::parse(None, None), Ok((Action::Create, None)));
        assert_eq!(Action::parse(Some("create"), None), Ok((Action::Create, None)));
        assert_eq!(Action::parse(Some("merge"), Some("g1")), Ok((Action::Merge, Some("g1".into()))));
        assert_eq!(Action::parse(Some("replace"), Some("g1")), Ok((Action::Replace, Some("g1".into()))));
        assert!(Action::parse(Some("merge"), None).is_err());
        assert!(Action::parse(Some("create"), Some("g1")).is_err());
        assert!(Action::parse(Some("update"), Some("g1")).is_err());
    }

    fn source() -> Source {
        Source { entity_id: 2, entity: "alcaldia-cuauhtemoc".into(), name: "Alcaldía Cuauhtémoc".into() }
    }

    #[test]
    fn the_person_allows_only_what_was_asked_and_ticked() {
        let asked = check(&details(|_| {})).unwrap().unwrap();
        let sources = BTreeMap::from([("record:proof_of_residence".to_string(), source())]);
        let ticked = vec!["curp".to_string(), "email".to_string(), "record:proof_of_residence".to_string()];
        let allowed = allow(&asked, &ticked, &sources).unwrap();
        assert_eq!(allowed.items, ["curp", "record:proof_of_residence"]);
        // A record the person has nowhere cannot be allowed; nothing ticked is nothing.
        assert_eq!(allow(&asked, &["record:proof_of_residence".into()], &BTreeMap::new()), None);
        assert_eq!(allow(&asked, &[], &sources), None);
    }

    #[test]
    fn a_merge_keeps_the_old_items_and_adds_the_new() {
        let asked = check(&details(|_| {})).unwrap().unwrap();
        let old = Granted {
            sharing: Sharing { items: vec!["name".into(), "record:proof_of_residence".into()], ..asked.clone() },
            sources: BTreeMap::from([("record:proof_of_residence".to_string(), source())]),
            action: Action::Create,
            grant_id: None,
        };
        let new = Granted {
            sharing: Sharing { items: vec!["curp".into(), "name".into()], ..asked },
            sources: BTreeMap::new(),
            action: Action::Merge,
            grant_id: Some("g".into()),
        };
        let merged = merged(&old, &new);
        assert_eq!(merged.sharing.items, ["name", "record:proof_of_residence", "curp"]);
        assert!(merged.sources.contains_key("record:proof_of_residence"));
        assert_eq!(merged.action, Action::Merge);
    }

    #[test]
    fn the_artefact_names_everything_the_person_saw() {
        let asked = check(&details(|_| {})).unwrap().unwrap();
        let granted = Granted {
            sharing: asked,
            sources: BTreeMap::from([("record:proof_of_residence".to_string(), source())]),
            action: Action::Create,
            grant_id: None,
        };
        let ids = Ids { issuer: "https://llave", client_id: "c", artefact_id: "a", grant_id: "g", sub: "s", iat: NOW };
        let org = Organisation { slug: "banco", legal_name: "Banco, S.A.", tax_id: "BEJ990101AB1" };
        let claims = artefact_claims(&ids, &org, &granted);
        assert_eq!(claims["jti"], "a");
        assert_eq!(claims["third_party"]["tax_id"], "BEJ990101AB1");
        assert_eq!(claims["sources"]["record:proof_of_residence"]["entity"], "alcaldia-cuauhtemoc");
        assert_eq!(claims["fetch"], "once");
        assert_eq!(claims["data_life"], "P5Y");
        assert_eq!(claims["expires"], "2027-01-01T00:00:00Z");
    }

    #[test]
    fn states_and_changes() {
        assert_eq!(State::at("ACTIVE", NOW + 1, NOW), State::Active);
        assert_eq!(State::at("PAUSED", NOW + 1, NOW), State::Paused);
        assert_eq!(State::at("PAUSED", NOW, NOW), State::Expired);
        assert_eq!(State::at("REVOKED", NOW, NOW), State::Revoked);
        assert_eq!(Change::Pause.apply(State::Active), Some("PAUSED"));
        assert_eq!(Change::Pause.apply(State::Paused), None);
        assert_eq!(Change::Resume.apply(State::Paused), Some("ACTIVE"));
        assert_eq!(Change::Resume.apply(State::Active), None);
        assert_eq!(Change::Revoke.apply(State::Paused), Some("REVOKED"));
        assert_eq!(Change::Revoke.apply(State::Revoked), None);
        assert_eq!(Change::Revoke.apply(State::Expired), None);
        assert_eq!(Change::parse("revocar"), Some(Change::Revoke));
        assert_eq!(Change::parse("borrar"), None);
    }

    fn facts<'a>(frequency: &'a Frequency, covered: &'a [String]) -> FetchFacts<'a> {
        FetchFacts {
            stored_state: "ACTIVE",
            expires_at: NOW + 100,
            frequency,
            fetches: 0,
            last_fetch_at: None,
            covered,
            asked: None,
            now: NOW,
        }
    }

    #[test]
    fn a_fetch_is_refused_for_each_reason_in_order() {
        let covered = vec!["name".to_string(), "curp".to_string()];
        let once = Frequency::Once;
        assert_eq!(fetch(&facts(&once, &covered)), Ok(covered.clone()));
        let asked = vec!["curp".to_string()];
        assert_eq!(fetch(&FetchFacts { asked: Some(&asked), ..facts(&once, &covered) }), Ok(asked.clone()));
        let outside = vec!["email".to_string()];
        assert_eq!(
            fetch(&FetchFacts { asked: Some(&outside), ..facts(&once, &covered) }),
            Err(Refusal::NotCovered("email".into()))
        );
        let used = FetchFacts { fetches: 1, last_fetch_at: Some(NOW - 10), ..facts(&once, &covered) };
        assert_eq!(fetch(&used), Err(Refusal::TooFrequent));
        assert_eq!(fetch(&FetchFacts { stored_state: "PAUSED", ..used.clone() }), Err(Refusal::Paused));
        assert_eq!(fetch(&FetchFacts { expires_at: NOW, ..used.clone() }), Err(Refusal::Expired));
        assert_eq!(fetch(&FetchFacts { stored_state: "REVOKED", expires_at: NOW, ..used }), Err(Refusal::Revoked));
    }

    #[test]
    fn a_periodic_fetch_waits_its_period() {
        let covered = vec!["name".to_string()];
        let monthly = Frequency::Every(duration("P1M", "fetch.every").unwrap());
        let last = NOW - 30 * 86_400; // 2026-11-01: the next is 2026-12-01, now.
        let base = FetchFacts { fetches: 3, last_fetch_at: Some(last), ..facts(&monthly, &covered) };
        assert!(fetch(&base).is_ok());
        let early = FetchFacts { now: NOW - 1, ..base.clone() };
        assert_eq!(fetch(&early), Err(Refusal::TooFrequent));
    }

    #[test]
    fn refusals_have_the_documented_codes() {
        let codes: Vec<&str> = [
            Refusal::Paused,
            Refusal::Revoked,
            Refusal::Expired,
            Refusal::TooFrequent,
            Refusal::NotCovered("x".into()),
        ]
        .iter()
        .map(Refusal::code)
        .collect();
        assert_eq!(
            codes,
            ["consent_paused", "consent_revoked", "consent_expired", "fetch_limit_reached", "not_covered"]
        );
    }
}
