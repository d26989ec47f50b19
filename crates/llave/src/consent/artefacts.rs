//! Consent artefacts, the acts: what a person allows a third party becomes an artefact the
//! hub signs (ES256, `typ` `consent-artefact+jwt`, verifiable with the keys at `/jwks`),
//! given to the third party with its tokens and kept for the person as a receipt. The person
//! pauses, resumes or revokes it from their file; the third party may revoke it (Grant
//! Management) and is told of every change the person makes by a signed notice (`typ`
//! `consent-state+jwt`) through the outbox. Every fetch and every refusal is counted on the
//! artefact and is an event. The rules are the pure [`super::sharing`]; this module reads,
//! signs and acts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::sharing::{self, Change, Granted, Refusal, Sharing, Source, State};
use crate::Services;
use crate::accounts::Actor;
use crate::crypto::random_id;
use crate::store::artefacts::Artefact;
use crate::store::entities::ClientRecord;
use crate::store::oidc::ArtefactWrite;
use crate::store::{AccountId, ActorKind, Event, EventKind, Outcome, StoreError, StoreResult};

/// The JOSE `typ` of an artefact.
pub const ARTEFACT_TYP: &str = "consent-artefact+jwt";
/// The JOSE `typ` of a notice of a change of state.
pub const NOTICE_TYP: &str = "consent-state+jwt";
/// The outbox kind of a notice to a third party.
pub const NOTICE: &str = "consent_notice";
/// The algorithm the hub signs artefacts, notices and shared data with.
pub const SIGNING_ALG: &str = "ES256";

/// Where each record item of a request would come from: the person's record of that kind in
/// force today, most recently updated first; a kind the person has no record of is absent.
pub async fn sources(app: &Services, account_id: i64, sharing: &Sharing) -> StoreResult<BTreeMap<String, Source>> {
    let today = crate::calendar::format_date(crate::calendar::city_date(app.clock.now()));
    let mut sources = BTreeMap::new();
    for kind in sharing.record_kinds() {
        let found = app.store.records_of_kind(account_id, kind, None).await?;
        let Some(locator) = found.into_iter().find(|l| l.in_force(&today)) else { continue };
        if let Some(entity) = app.store.entity_by_id(locator.entity_id).await? {
            let source = Source { entity_id: entity.id, entity: entity.slug, name: entity.name };
            sources.insert(format!("{}{kind}", sharing::RECORD_PREFIX), source);
        }
    }
    Ok(sources)
}

/// Signs `claims` with the hub's current ES256 key.
pub async fn sign(app: &Services, typ: &str, claims: &Value) -> Result<String, String> {
    let ring = app.keys.ring(&app.store).await.map_err(|e| e.to_string())?;
    let key = ring.signing(SIGNING_ALG).ok_or("the hub has no current ES256 key")?;
    key.sign_jwt(typ, claims)
}

/// Why an artefact could not be made at the token endpoint.
#[derive(Debug)]
pub enum PrepareError {
    /// The `grant_id` to merge or replace is not this client's for this person, or stands
    /// no more: `invalid_grant`.
    UnknownGrant,
    Internal(String),
}

impl From<StoreError> for PrepareError {
    fn from(error: StoreError) -> PrepareError {
        PrepareError::Internal(error.to_string())
    }
}

/// An artefact ready to be written with the tokens it covers.
pub struct Prepared {
    pub write: ArtefactWrite,
    pub grant_id: String,
    pub jws: String,
    /// The granted authorization details (RFC 9396 §7: in the token response).
    pub details: Value,
}

/// Makes the artefact for what the person allowed (`granted`, as the code carried it), for
/// the tokens of `token_grant_id`: signs it, and prepares its row and event. With Grant
/// Management merge or replace, it supersedes the grant's standing artefact.
pub async fn prepare(
    app: &Services,
    client: &ClientRecord,
    account_id: i64,
    sub: &str,
    token_grant_id: &str,
    granted: &str,
) -> Result<Prepared, PrepareError> {
    let mut granted: Granted =
        serde_json::from_str(granted).map_err(|e| PrepareError::Internal(format!("stored consent: {e}")))?;
    let organisation = app
        .store
        .third_party_by_slug(&client.entity_slug)
        .await?
        .ok_or_else(|| PrepareError::Internal(format!("third party {} is missing", client.entity_slug)))?;
    let previous = match &granted.grant_id {
        Some(grant_id) => {
            let standing = app.store.current_artefact_of_grant(grant_id).await?;
            let theirs = standing.filter(|a| a.client_id == client.client_id && a.account_id == account_id);
            let artefact = theirs.ok_or(PrepareError::UnknownGrant)?;
            if State::at(&artefact.state, artefact.expires_at, app.clock.now()) == State::Revoked {
                return Err(PrepareError::UnknownGrant);
            }
            Some(artefact)
        }
        None => None,
    };
    if let (Some(old), sharing::Action::Merge) = (&previous, granted.action) {
        let old_granted: Granted =
            serde_json::from_str(&old.details).map_err(|e| PrepareError::Internal(format!("stored artefact: {e}")))?;
        granted = sharing::merged(&old_granted, &granted);
    }
    let now = app.clock.now();
    let artefact_id = random_id();
    let grant_id = previous.as_ref().map(|a| a.grant_id.clone()).unwrap_or_else(|| token_grant_id.to_string());
    let issuer = app.config.issuer();
    let ids = sharing::Ids {
        issuer: &issuer,
        client_id: &client.client_id,
        artefact_id: &artefact_id,
        grant_id: &grant_id,
        sub,
        iat: now,
    };
    let org = sharing::Organisation {
        slug: &organisation.slug,
        legal_name: &organisation.legal_name,
        tax_id: &organisation.tax_id,
    };
    let claims = sharing::artefact_claims(&ids, &org, &granted);
    let jws = sign(app, ARTEFACT_TYP, &claims).await.map_err(PrepareError::Internal)?;
    let expires_at = granted.sharing.expires_at().map_err(PrepareError::Internal)?;
    let details_json = serde_json::to_string(&granted).map_err(|e| PrepareError::Internal(e.to_string()))?;
    let kid = jsonwebtoken::decode_header(&jws)
        .ok()
        .and_then(|h| h.kid)
        .ok_or_else(|| PrepareError::Internal("the artefact's signature has no kid".into()))?;
    // The third party may keep the data, and need to prove the consent, until the consent's
    // expiry plus the data life the person allowed: the key stays published as long.
    let data_life = sharing::duration(&granted.sharing.data_life, "data_life").map_err(PrepareError::Internal)?;
    let proof_until = sharing::add(expires_at, data_life).unwrap_or(i64::MAX);
    let artefact = Artefact {
        id: artefact_id.clone(),
        grant_id: grant_id.clone(),
        token_grant_id: token_grant_id.to_string(),
        client_id: client.client_id.clone(),
        account_id,
        subject: sub.to_string(),
        purpose: granted.sharing.purpose.clone(),
        details: details_json,
        jws: jws.clone(),
        state: "ACTIVE".into(),
        expires_at,
        created_at: now,
        state_at: now,
        superseded_by: None,
        fetches: 0,
        refusals: 0,
        last_fetch_at: None,
        kid,
        proof_until,
    };
    let fetch = match &granted.sharing.fetch {
        Value::String(once) => once.clone(),
        other => other.get("every").and_then(Value::as_str).unwrap_or("").to_string(),
    };
    let event = Event {
        actor_kind: ActorKind::ThirdParty,
        actor: client.client_id.clone(),
        purpose: granted.sharing.purpose.clone(),
        basis: Some(format!("consent artefact {artefact_id}")),
        ..Event::security(
            EventKind::SharingConsentGiven,
            Some(AccountId(account_id)),
            "",
            "",
            &format!(
                "artefact={artefact_id} grant={grant_id} third_party={} items={} fetch={fetch} expires={expires_at}{}",
                organisation.slug,
                granted.sharing.items.join(","),
                match (&previous, granted.action) {
                    (Some(_), sharing::Action::Merge) => " action=merge",
                    (Some(_), _) => " action=replace",
                    _ => "",
                }
            ),
        )
    };
    let details = granted_details(&granted.sharing, &artefact_id);
    let supersedes = previous.map(|a| (a.id, a.token_grant_id));
    Ok(Prepared { write: ArtefactWrite { artefact, supersedes, event }, grant_id, jws, details })
}

/// The granted details as the token response and Grant Management show them.
pub fn granted_details(sharing: &Sharing, artefact_id: &str) -> Value {
    let mut detail = serde_json::to_value(sharing).unwrap_or(Value::Null);
    detail["consent_artefact_id"] = json!(artefact_id);
    json!([detail])
}

/// Who changes an artefact.
#[derive(Debug, Clone)]
pub enum By<'a> {
    /// The person, from their file.
    Person(AccountId, &'a Actor),
    /// The third party's client, through Grant Management (revoke only).
    ThirdParty(&'a str),
}

/// Pauses, resumes or revokes an artefact, as one act with its event; revoking ends its
/// tokens at once. A change the person makes is notified to the third party (through the
/// outbox, when it registered a notification URI). `None`: not theirs, or the change does
/// not apply in the artefact's state.
pub async fn change(app: &Services, artefact_id: &str, change: Change, by: By<'_>) -> StoreResult<Option<State>> {
    let Some(artefact) = app.store.artefact_by_id(artefact_id).await? else { return Ok(None) };
    let owner = match by {
        By::Person(account, _) => artefact.account_id == account.0,
        By::ThirdParty(client_id) => artefact.client_id == client_id && change == Change::Revoke,
    };
    if !owner || artefact.superseded_by.is_some() {
        return Ok(None);
    }
    let now = app.clock.now();
    let Some(to) = change.apply(State::at(&artefact.state, artefact.expires_at, now)) else { return Ok(None) };
    let notify = match by {
        By::Person(..) => app.store.client_by_id(&artefact.client_id).await?.and_then(|c| c.third_party?.notify_uri),
        By::ThirdParty(_) => None,
    };
    let mut tx = app.store.begin_act("sharing_consent_changed").await?;
    if !tx.set_artefact_state(&artefact.id, &artefact.state, to, now).await? {
        return Ok(None);
    }
    if to == "REVOKED" {
        tx.revoke_token_grant(&artefact.token_grant_id, "consent_revoked", now).await?;
    }
    let detail = format!(
        "artefact={} grant={} state={to} by={}",
        artefact.id,
        artefact.grant_id,
        if matches!(by, By::Person(..)) { "person" } else { "third_party" }
    );
    let event = match by {
        By::Person(account, actor) => {
            Event::security(EventKind::SharingConsentChanged, Some(account), &actor.address, &actor.user_agent, &detail)
        }
        By::ThirdParty(client_id) => Event {
            actor_kind: ActorKind::ThirdParty,
            actor: client_id.to_string(),
            ..Event::security(EventKind::SharingConsentChanged, Some(AccountId(artefact.account_id)), "", "", &detail)
        },
    };
    tx.event(event);
    if let Some(uri) = notify {
        let notice = Notice {
            client_id: artefact.client_id.clone(),
            uri,
            grant_id: artefact.grant_id.clone(),
            artefact_id: artefact.id.clone(),
            state: to.to_string(),
        };
        let payload = serde_json::to_string(&notice).map_err(|e| StoreError::Data(e.to_string()))?;
        tx.enqueue(NOTICE, &payload, "es-MX").await?;
    }
    tx.commit().await?;
    Ok(Some(State::at(to, artefact.expires_at, now)))
}

/// A notice waiting in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Notice {
    client_id: String,
    uri: String,
    grant_id: String,
    artefact_id: String,
    state: String,
}

/// Delivers a notice (the outbox worker calls it): a JWS the hub signs, POSTed as
/// `application/jwt`; delivered when the third party answers 2xx. The message id is the
/// notice's `jti`, for the receiver to deduplicate.
pub async fn deliver_notice(app: &Services, message_id: &str, payload: &str) -> Result<(), String> {
    let notice: Notice = serde_json::from_str(payload).map_err(|e| e.to_string())?;
    let claims = json!({
        "iss": app.config.issuer(),
        "aud": notice.client_id,
        "jti": message_id,
        "iat": app.clock.now(),
        "grant_id": notice.grant_id,
        "consent_artefact_id": notice.artefact_id,
        "state": notice.state,
    });
    let jws = sign(app, NOTICE_TYP, &claims).await?;
    let sent = app
        .http
        .post(&notice.uri)
        .header(reqwest::header::CONTENT_TYPE, "application/jwt")
        .body(jws)
        .send()
        .await
        .map_err(|e| {
            format!(
                "notice to {} not delivered: {}",
                notice.client_id,
                if e.is_timeout() { "timeout" } else { "unreachable" }
            )
        })?;
    if sent.status().is_success() {
        Ok(())
    } else {
        Err(format!("notice to {} not delivered: {}", notice.client_id, sent.status().as_u16()))
    }
}

/// A record delivered in a fetch, for its event in the person's access log.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub record_id: String,
    pub holder_entity_id: i64,
    pub kind: String,
}

/// Records a fetch as one act: the count on the artefact (only if nobody fetched since it
/// was read: a `once` consent is fetched once however many ask at a time), its event, and a
/// `record_access` event for each record, in the person's access log. False when the
/// count did not apply (a concurrent fetch, a pause): nothing is written.
pub async fn record_fetch(
    app: &Services,
    artefact: &Artefact,
    legal_name: &str,
    items: &[String],
    records: &[Delivered],
) -> StoreResult<bool> {
    let now = app.clock.now();
    let mut tx = app.store.begin_act("shared_data_fetched").await?;
    if !tx.count_fetch(&artefact.id, artefact.fetches, now).await? {
        return Ok(false);
    }
    let account = Some(AccountId(artefact.account_id));
    let basis = Some(format!("consent artefact {}", artefact.id));
    let ids: Vec<&str> = records.iter().map(|r| r.record_id.as_str()).collect();
    tx.event(Event {
        actor_kind: ActorKind::ThirdParty,
        actor: artefact.client_id.clone(),
        basis: basis.clone(),
        purpose: artefact.purpose.clone(),
        ..Event::security(
            EventKind::SharedDataFetched,
            account,
            "",
            "",
            &format!("artefact={} items={} records={}", artefact.id, items.join(","), ids.join(",")),
        )
    });
    for record in records {
        tx.event(Event {
            outcome: Outcome::Read,
            actor_kind: ActorKind::ThirdParty,
            actor: artefact.client_id.clone(),
            basis: basis.clone(),
            record_id: Some(record.record_id.clone()),
            holder_entity_id: Some(record.holder_entity_id),
            purpose: format!("{legal_name}: {}", purpose_title(&artefact.purpose)),
            ..Event::security(
                EventKind::RecordAccess,
                account,
                "",
                "",
                &format!("artefact {} ({})", artefact.id, record.kind),
            )
        });
    }
    tx.commit().await?;
    Ok(true)
}

/// Records a refused fetch: counted on the artefact, and an event.
pub async fn record_refusal(app: &Services, artefact: &Artefact, refusal: &Refusal) -> StoreResult<()> {
    let mut tx = app.store.begin_act("shared_data_refused").await?;
    tx.count_refusal(&artefact.id).await?;
    tx.event(Event {
        actor_kind: ActorKind::ThirdParty,
        actor: artefact.client_id.clone(),
        basis: Some(format!("consent artefact {}", artefact.id)),
        purpose: artefact.purpose.clone(),
        ..Event::security(
            EventKind::SharedDataRefused,
            Some(AccountId(artefact.account_id)),
            "",
            "",
            &format!("artefact={} reason={}", artefact.id, refusal.reason()),
        )
    });
    tx.commit().await?;
    Ok(())
}

/// The title of a purpose code (the code itself if unpublished).
pub fn purpose_title(code: &str) -> String {
    sharing::purpose(code).map(|p| p.title.to_string()).unwrap_or_else(|| code.to_string())
}

/// An artefact as the person's file shows it.
#[derive(Debug, Clone)]
pub struct Shown {
    pub artefact: Artefact,
    pub granted: Option<Granted>,
    pub legal_name: String,
    pub tax_id: String,
    pub state: State,
}

/// The person's artefacts (standing ones, newest first), with the organisation's name.
pub async fn of_person(app: &Services, account_id: i64) -> StoreResult<Vec<Shown>> {
    let now = app.clock.now();
    let mut shown = Vec::new();
    for artefact in app.store.artefacts_of(account_id).await? {
        let client = app.store.client_by_id(&artefact.client_id).await?;
        let organisation = match &client {
            Some(client) => app.store.third_party_by_slug(&client.entity_slug).await?,
            None => None,
        };
        let (legal_name, tax_id) = match organisation {
            Some(o) => (o.legal_name, o.tax_id),
            None => (artefact.client_id.clone(), String::new()),
        };
        shown.push(Shown {
            granted: serde_json::from_str(&artefact.details).ok(),
            state: State::at(&artefact.state, artefact.expires_at, now),
            artefact,
            legal_name,
            tax_id,
        });
    }
    Ok(shown)
}

/// The receipt the person downloads: the signed artefact, what it says, and how to check
/// it. `None` when the artefact is not theirs.
pub async fn receipt(app: &Services, account: AccountId, artefact_id: &str) -> StoreResult<Option<Value>> {
    let Some(artefact) = app.store.artefact_by_id(artefact_id).await?.filter(|a| a.account_id == account.0) else {
        return Ok(None);
    };
    let claims = artefact
        .jws
        .split('.')
        .nth(1)
        .and_then(|payload| base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .unwrap_or(Value::Null);
    Ok(Some(json!({
        "consent_artefact": artefact.jws,
        "claims": claims,
        "state": State::at(&artefact.state, artefact.expires_at, app.clock.now()).as_str(),
        "verify": format!("A JWS (ES256) signed by {}: its key is among those at {}/jwks.", app.config.issuer(), app.config.issuer()),
    })))
}
