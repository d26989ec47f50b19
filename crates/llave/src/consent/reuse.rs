//! Consent to reuse, asked during sign-in. An entity that will look a record up for one of
//! its procedures says so in its authorization request, with RFC 9396 authorization
//! details:
//!
//! ```json
//! [{"type": "record_reuse", "procedure": "licencia-de-conducir", "kinds": ["proof_of_residence"]}]
//! ```
//!
//! The consent page then names, for each kind the person has a record of at another entity,
//! who holds it (B), what it is (K) and what for (P); what the person ticks becomes a
//! standing consent, listed in their file until they withdraw it.

use serde::Deserialize;

use crate::Services;
use crate::crypto::{now, random_id};
use crate::store::StoreResult;
use crate::store::entities::ClientRecord;
use crate::store::records::ReuseConsent;

/// What the consent needs to know of a published procedure (the caller reads the catalog).
#[derive(Debug, Clone)]
pub struct ProcedureFacts {
    pub name: String,
    /// The entity that runs it (its slug).
    pub entity: String,
    /// The kinds of record its requirements name.
    pub kinds: Vec<String>,
    /// An approved legal basis allows the reuse without consent.
    pub by_law: bool,
}

pub const DETAILS_TYPE: &str = "record_reuse";
const MAX_DETAILS: usize = 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Detail {
    #[serde(rename = "type")]
    detail_type: String,
    procedure: String,
    kinds: Vec<String>,
}

/// One procedure and the kinds the entity will look up for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Requested {
    pub procedure: String,
    pub procedure_name: String,
    /// The procedure's legal basis allows the reuse without consent: nothing to ask.
    pub by_law: bool,
    pub kinds: Vec<String>,
}

/// The request's `authorization_details`, checked against the published catalog
/// (`procedure` answers for a slug): each names one of the client's entity's procedures and
/// kinds the catalog lists for it. `Err` is the description of an
/// `invalid_authorization_details` error.
pub fn requested(
    details: Option<&str>,
    client: &ClientRecord,
    procedure: impl Fn(&str) -> Option<ProcedureFacts>,
) -> Result<Vec<Requested>, String> {
    let Some(text) = details else { return Ok(Vec::new()) };
    let details: Vec<Detail> =
        serde_json::from_str(text).map_err(|e| format!("authorization_details is not a valid array: {e}"))?;
    if details.len() > MAX_DETAILS {
        return Err(format!("at most {MAX_DETAILS} authorization details"));
    }
    let mut out = Vec::new();
    for detail in details {
        if detail.detail_type != DETAILS_TYPE {
            return Err(format!("unknown authorization details type {:?}", detail.detail_type));
        }
        let Some(facts) = procedure(&detail.procedure) else {
            return Err(format!("procedure {:?} is not in the published catalog", detail.procedure));
        };
        if facts.entity != client.entity_slug {
            return Err(format!("procedure {:?} is run by another entity", detail.procedure));
        }
        if detail.kinds.is_empty() {
            return Err("kinds must name at least one requirement kind".into());
        }
        let mut distinct = detail.kinds.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() != detail.kinds.len() {
            return Err(format!("kinds repeats a kind for {:?}", detail.procedure));
        }
        for kind in &detail.kinds {
            if !facts.kinds.contains(kind) {
                return Err(format!("the catalog does not list {kind:?} as a requirement of {:?}", detail.procedure));
            }
        }
        out.push(Requested {
            procedure: detail.procedure,
            procedure_name: facts.name,
            by_law: facts.by_law,
            kinds: detail.kinds,
        });
    }
    Ok(out)
}

/// A consent to ask for: reader (the client's entity) reads kind K held by B, for P.
#[derive(Debug, Clone)]
pub struct Offer {
    pub procedure: String,
    pub procedure_name: String,
    pub kind: String,
    pub holder_entity_id: i64,
    pub holder_name: String,
}

impl Offer {
    /// The value of its checkbox on the consent page.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.procedure, self.kind, self.holder_entity_id)
    }
}

/// What the person would be asked now: records they have at other entities, for the
/// requested kinds, not already covered by a standing consent, for procedures whose legal
/// basis does not already allow the reuse.
pub async fn offers(
    app: &Services,
    account_id: i64,
    client: &ClientRecord,
    requested: &[Requested],
) -> StoreResult<Vec<Offer>> {
    // Reuse between entities is for entities' clients; a third party asks by consent
    // artefact instead.
    let Some(entity_id) = client.entity_id else { return Ok(Vec::new()) };
    let today = crate::calendar::format_date(crate::calendar::city_date(now()));
    let mut offers: Vec<Offer> = Vec::new();
    for request in requested.iter().filter(|r| !r.by_law) {
        for kind in &request.kinds {
            let consents = app.store.reuse_consents_for(account_id, entity_id, &request.procedure, kind).await?;
            for locator in app.store.records_of_kind(account_id, kind, None).await? {
                if locator.entity_id == entity_id
                    || !locator.in_force(&today)
                    || consents.iter().any(|c| c.holder_entity_id == locator.entity_id)
                    || offers.iter().any(|o| {
                        o.procedure == request.procedure && &o.kind == kind && o.holder_entity_id == locator.entity_id
                    })
                {
                    continue;
                }
                let holder_name = match app.store.entity_by_id(locator.entity_id).await? {
                    Some(entity) => entity.name,
                    None => continue,
                };
                offers.push(Offer {
                    procedure: request.procedure.clone(),
                    procedure_name: request.procedure_name.clone(),
                    kind: kind.clone(),
                    holder_entity_id: locator.entity_id,
                    holder_name,
                });
            }
        }
    }
    Ok(offers)
}

/// Records the offers the person ticked as standing consents (in the act of the consent).
pub async fn accept(
    app: &Services,
    account_id: i64,
    client: &ClientRecord,
    offers: &[Offer],
    chosen: &[String],
) -> StoreResult<usize> {
    let Some(entity_id) = client.entity_id else { return Ok(0) };
    let mut saved = 0;
    let now = now();
    for offer in offers.iter().filter(|o| chosen.contains(&o.key())) {
        app.store
            .add_reuse_consent(&ReuseConsent {
                id: random_id(),
                account_id,
                reader_entity_id: entity_id,
                procedure: offer.procedure.clone(),
                kind: offer.kind.clone(),
                holder_entity_id: offer.holder_entity_id,
                granted_at: now,
                withdrawn_at: None,
            })
            .await?;
        saved += 1;
    }
    Ok(saved)
}
