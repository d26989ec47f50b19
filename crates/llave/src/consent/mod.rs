//! Consent: what the person allowed, in one model, one repository (`store::consent`) and one
//! page (`/permisos`).
//!
//! Two kinds today, a third (institutions outside government) next:
//! - **sign-in consent**: a client may receive these scopes and claims (asked on the
//!   consent page of the authorization endpoint; OpenID Connect Core §3.1.2.4);
//! - **reuse consent**: entity A may look up and read, for procedure P, the record of kind K
//!   that entity B holds about the person (asked during sign-in with RFC 9396 authorization
//!   details, see [`reuse`]).
//!
//! Withdrawing either is one act with its `consent_withdrawn` event: a sign-in consent's
//! grants are revoked with it (the client's tokens stop working at once); a withdrawn reuse
//! consent stops look-ups and the reads of grants given under it.

pub mod artefacts;
pub mod reuse;
pub mod routes;
pub mod sharing;
pub mod words;

use crate::Services;
use crate::accounts::Actor;
use crate::store::{AccountId, Event, EventKind, StoreError};

/// One thing the person allowed, as the consent page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consent {
    SignIn {
        client_id: String,
        client_name: String,
        entity_name: String,
        /// The scopes consented to.
        scope: String,
        allowed_claims: Vec<String>,
        granted_at: i64,
    },
    Reuse {
        id: String,
        reader_entity_id: i64,
        holder_entity_id: i64,
        procedure: String,
        kind: String,
        granted_at: i64,
        withdrawn_at: Option<i64>,
    },
}

/// Every consent of the person: the standing sign-in consents, then the reuse consents
/// (standing and withdrawn), newest first within each kind.
pub async fn of_person(app: &Services, account: AccountId) -> Result<Vec<Consent>, StoreError> {
    let mut consents: Vec<Consent> = app
        .store
        .account_connections(account)
        .await?
        .into_iter()
        .filter_map(|c| {
            let scope = c.consented_scope?;
            Some(Consent::SignIn {
                client_id: c.client_id,
                client_name: c.client_name,
                entity_name: c.entity_name,
                scope,
                allowed_claims: c.allowed_claims,
                granted_at: c.consented_at.unwrap_or_default(),
            })
        })
        .collect();
    let mut reuse = app.store.reuse_consents_of(account.0).await?;
    reuse.sort_by_key(|c| std::cmp::Reverse(c.granted_at));
    consents.extend(reuse.into_iter().map(|c| Consent::Reuse {
        id: c.id,
        reader_entity_id: c.reader_entity_id,
        holder_entity_id: c.holder_entity_id,
        procedure: c.procedure,
        kind: c.kind,
        granted_at: c.granted_at,
        withdrawn_at: c.withdrawn_at,
    }));
    Ok(consents)
}

/// Which consent to withdraw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdraw<'a> {
    /// The sign-in consent given to this client.
    SignIn(&'a str),
    /// The reuse consent with this id.
    Reuse(&'a str),
}

/// Withdraws one of the person's consents, as one act with its event; false when there was
/// nothing of theirs to withdraw (unknown, someone else's, already withdrawn).
pub async fn withdraw(
    app: &Services,
    account: AccountId,
    which: Withdraw<'_>,
    actor: &Actor,
) -> Result<bool, StoreError> {
    let mut tx = app.store.begin_act("consent_withdrawn").await?;
    let now = tx.at();
    let (withdrawn, detail) = match which {
        Withdraw::SignIn(client_id) => {
            (tx.withdraw_consent(account, client_id, now).await?, format!("client_id={client_id}"))
        }
        Withdraw::Reuse(id) => (tx.withdraw_reuse_consent(account.0, id, now).await?, format!("reuse={id}")),
    };
    if !withdrawn {
        return Ok(false);
    }
    tx.event(Event::security(EventKind::ConsentWithdrawn, Some(account), &actor.address, &actor.user_agent, &detail));
    tx.commit().await?;
    Ok(true)
}
