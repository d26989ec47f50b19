//! Events: what happened, to whom, by whom, on what basis, with what outcome — one table
//! (`events`, migration 0012) for the security events (sign-up, sign-in, failures, resets,
//! sessions ended, factors, verification, signatures) and the access log of the records
//! (reads, look-ups and refusals). Every event is written by the act that caused it, in the
//! same transaction ([`super::act`]); the database refuses updates and deletes. The pages
//! read the views `security_events` and `record_access` over it.
//!
//! [`Event::encode`] is the stable encoding the audit log hashes (docs/events.md).

use sqlx::AnyConnection;
use sqlx::Row;

use super::{AccountId, Store, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    SignUp,
    EmailConfirmed,
    SignIn,
    SignInFailed,
    Lockout,
    Throttled,
    SignOut,
    SessionEnded,
    PasswordChanged,
    PasswordResetRequested,
    PasswordReset,
    ConsentWithdrawn,
    TotpEnabled,
    TotpRemoved,
    RecoveryCodesCreated,
    RecoveryCodeUsed,
    SecondFactorFailed,
    PasskeyAdded,
    PasskeyRenamed,
    PasskeyRemoved,
    IdentityVerified,
    AssuranceLowered,
    AssuranceRestored,
    SteppedUp,
    VerificationStarted,
    VerificationRefused,
    AccessRecovered,
    OfficerLookup,
    CertificateIssued,
    CertificateRevoked,
    /// An officer recorded the person's request to revoke their signature (`detail`: the
    /// reason); the signature capability revokes in reaction.
    SignatureRevocationAsked,
    DocumentSigned,
    SessionExpired,
    /// An access token (and perhaps a refresh and an ID token) issued to a client.
    TokensIssued,
    /// A read of, look-up of or refusal about an entity's record (the access log).
    RecordAccess,
    /// A procedure of the catalog created or updated (`procedure`; `detail`: which).
    CatalogChanged,
    /// A legal reviewer approved or rejected a procedure's legal basis (`detail`: the decision
    /// and the citation).
    LegalBasisDecided,
    /// A staff role given to an account (`detail`: `role=… scope=…`).
    RoleGranted,
    /// A staff role taken from an account (`detail`: `role=… scope=…`).
    RoleRevoked,
    /// An entity registered with the hub (`detail`: `entity=<slug>`).
    EntityRegistered,
    /// An entity's record store moved to another location, e.g. a PostgreSQL server of its
    /// own (`detail`: `entity=<slug>`; never the URL, which may hold a password).
    EntityStoreMoved,
    /// A client of an entity registered (`detail`: `entity=<slug> client=<id> auth=<method>`),
    /// or of a third party (`detail`: `third_party=<slug> client=<id> auth=private_key_jwt fapi`).
    ClientRegistered,
    /// A third party registered (`detail`: `third_party=<slug> purposes=<code,…>`).
    ThirdPartyRegistered,
    /// A client's registration changed (`detail`: `client=<id>` and what changed, e.g. `redirect_uris`).
    ClientChanged,
    /// A client disabled (`detail`: `client=<id>`).
    ClientDisabled,
    /// An entity stored a record about a person in its own store (`record_id`, `holder`).
    RecordStored,
    /// An entity stored a new version of its record (`detail`: `version=N`).
    RecordUpdated,
    /// An entity withdrew its record (`detail`: `version=N`).
    RecordWithdrawn,
    /// A look-up answered with a one-read grant on a record (`actor`: the reader's client;
    /// `basis`; `record_id`, `holder`, `procedure`; `detail`: `grant <id> (<basis>) expires_at=…`).
    RecordGrantIssued,
    /// An auditor read the events (`detail`: the filters; `account`: the person, when the
    /// read was about one).
    AuditorRead,
    /// A requesting authority registered (`detail`: `authority=<slug> key=<rsa|ec>`).
    AuthorityRegistered,
    /// An authority's requester filed a requisition of the person's records (`basis`: the
    /// law, article and case; `detail`: `requisition=<id> authority=<slug> kinds=… from=… to=…
    /// nondisclosure_until=<unix or ->`). Kept off the person's pages until the
    /// non-disclosure order ends; in the log from the start.
    RequisitionFiled,
    /// One of the two approvals (`detail`: `requisition=<id> approval=1|2`).
    RequisitionApproved,
    /// An approver rejected it (`detail`: `requisition=<id> reason=…`).
    RequisitionRejected,
    /// The authority downloaded its one package (`detail`: `requisition=<id> records=<ids>
    /// sha256=<package>`).
    RequisitionDelivered,
    /// The authority attested destruction or retention (`detail`: `requisition=<id>
    /// attestation=destroyed|retained basis=…`).
    RequisitionAttested,
    /// A longer non-disclosure order asked for (`detail`: `requisition=<id> until=<unix>`).
    RequisitionExtensionAsked,
    /// An approval of the extension (`detail`: `requisition=<id> approval=1|2`; at 2 the
    /// new end is in effect).
    RequisitionExtended,
    /// An officer opened an account for a person who was present (`detail`: the officer, the
    /// document checked, the officer's name and office).
    AccountOpenedAtCounter,
    /// An officer gave a person a printed one-time activation code (`detail`: as above).
    ActivationCodeIssued,
    /// The person chose their password with an activation code and signed in (`detail`:
    /// the officer who issued the code, their name and office).
    AccountActivated,
    /// The person allowed a third party to fetch data (`actor`: the third party's client;
    /// `purpose`: the purpose code; `detail`: `artefact=<id> grant=<grant_id>
    /// third_party=<slug> items=<item,…> fetch=<once|P…> expires=<unix>`).
    SharingConsentGiven,
    /// A consent artefact paused, resumed, revoked or replaced (`detail`: `artefact=<id>
    /// grant=<grant_id> state=<ACTIVE|PAUSED|REVOKED> by=<person|third_party|merge|replace>`).
    SharingConsentChanged,
    /// A third party fetched shared data (`outcome` read; `actor`: its client; `detail`:
    /// `artefact=<id> items=<item,…> records=<record id,…>`).
    SharedDataFetched,
    /// A fetch of shared data refused (`outcome` refused; `detail`: `artefact=<id>
    /// reason=<paused|revoked|expired|too_frequent|not_covered>`).
    SharedDataRefused,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SignUp => "sign_up",
            EventKind::EmailConfirmed => "email_confirmed",
            EventKind::SignIn => "sign_in",
            EventKind::SignInFailed => "sign_in_failed",
            EventKind::Lockout => "lockout",
            EventKind::Throttled => "throttled",
            EventKind::SignOut => "sign_out",
            EventKind::SessionEnded => "session_ended",
            EventKind::PasswordChanged => "password_changed",
            EventKind::PasswordResetRequested => "password_reset_requested",
            EventKind::PasswordReset => "password_reset",
            EventKind::ConsentWithdrawn => "consent_withdrawn",
            EventKind::TotpEnabled => "totp_enabled",
            EventKind::TotpRemoved => "totp_removed",
            EventKind::RecoveryCodesCreated => "recovery_codes_created",
            EventKind::RecoveryCodeUsed => "recovery_code_used",
            EventKind::SecondFactorFailed => "second_factor_failed",
            EventKind::PasskeyAdded => "passkey_added",
            EventKind::PasskeyRenamed => "passkey_renamed",
            EventKind::PasskeyRemoved => "passkey_removed",
            EventKind::IdentityVerified => "identity_verified",
            EventKind::AssuranceLowered => "assurance_lowered",
            EventKind::AssuranceRestored => "assurance_restored",
            EventKind::SteppedUp => "stepped_up",
            EventKind::VerificationStarted => "verification_started",
            EventKind::VerificationRefused => "verification_refused",
            EventKind::AccessRecovered => "access_recovered",
            EventKind::OfficerLookup => "officer_lookup",
            EventKind::CertificateIssued => "certificate_issued",
            EventKind::CertificateRevoked => "certificate_revoked",
            EventKind::SignatureRevocationAsked => "signature_revocation_asked",
            EventKind::DocumentSigned => "document_signed",
            EventKind::SessionExpired => "session_expired",
            EventKind::TokensIssued => "tokens_issued",
            EventKind::RecordAccess => "record_access",
            EventKind::CatalogChanged => "catalog_changed",
            EventKind::LegalBasisDecided => "legal_basis_decided",
            EventKind::RoleGranted => "role_granted",
            EventKind::RoleRevoked => "role_revoked",
            EventKind::EntityRegistered => "entity_registered",
            EventKind::EntityStoreMoved => "entity_store_moved",
            EventKind::ClientRegistered => "client_registered",
            EventKind::ThirdPartyRegistered => "third_party_registered",
            EventKind::ClientChanged => "client_changed",
            EventKind::ClientDisabled => "client_disabled",
            EventKind::RecordStored => "record_stored",
            EventKind::RecordUpdated => "record_updated",
            EventKind::RecordWithdrawn => "record_withdrawn",
            EventKind::RecordGrantIssued => "record_grant_issued",
            EventKind::AuditorRead => "auditor_read",
            EventKind::AuthorityRegistered => "authority_registered",
            EventKind::RequisitionFiled => "requisition_filed",
            EventKind::RequisitionApproved => "requisition_approved",
            EventKind::RequisitionRejected => "requisition_rejected",
            EventKind::RequisitionDelivered => "requisition_delivered",
            EventKind::RequisitionAttested => "requisition_attested",
            EventKind::RequisitionExtensionAsked => "requisition_extension_asked",
            EventKind::RequisitionExtended => "requisition_extended",
            EventKind::AccountOpenedAtCounter => "account_opened_at_counter",
            EventKind::ActivationCodeIssued => "activation_code_issued",
            EventKind::AccountActivated => "account_activated",
            EventKind::SharingConsentGiven => "sharing_consent_given",
            EventKind::SharingConsentChanged => "sharing_consent_changed",
            EventKind::SharedDataFetched => "shared_data_fetched",
            EventKind::SharedDataRefused => "shared_data_refused",
        }
    }
}

/// How an act ended for the one it concerned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed,
    Refused,
    /// A record was read (the access log's word).
    Read,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
            Outcome::Read => "read",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        Some(match text {
            "ok" => Outcome::Ok,
            "failed" => Outcome::Failed,
            "refused" => Outcome::Refused,
            "read" => Outcome::Read,
            _ => return None,
        })
    }

    /// What a security event of `kind` says about its outcome.
    pub fn of(kind: EventKind) -> Outcome {
        match kind {
            EventKind::SignInFailed | EventKind::SecondFactorFailed => Outcome::Failed,
            EventKind::Lockout
            | EventKind::Throttled
            | EventKind::VerificationRefused
            | EventKind::SharedDataRefused => Outcome::Refused,
            EventKind::SharedDataFetched => Outcome::Read,
            _ => Outcome::Ok,
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// The person the event is about, or someone at their browser.
    Person,
    /// An entity's back end (a client).
    Entity,
    /// Hub staff or an officer.
    Staff,
    Auditor,
    /// llave itself (a reaction, the janitor, the command line).
    System,
    /// A third party's back end (a bank, an employer), outside government.
    ThirdParty,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Person => "person",
            ActorKind::Entity => "entity",
            ActorKind::Staff => "staff",
            ActorKind::Auditor => "auditor",
            ActorKind::System => "system",
            ActorKind::ThirdParty => "third_party",
        }
    }

    pub fn parse(text: &str) -> Option<ActorKind> {
        Some(match text {
            "person" => ActorKind::Person,
            "entity" => ActorKind::Entity,
            "staff" => ActorKind::Staff,
            "auditor" => ActorKind::Auditor,
            "system" => ActorKind::System,
            "third_party" => ActorKind::ThirdParty,
            _ => return None,
        })
    }
}

/// One event. `detail` never holds a secret (docs/LOGGING.md); `client_address` and
/// `user_agent` are kept for the person's security page and left out of [`Event::encode`].
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Set by the act (one clock reading per act).
    pub at: i64,
    pub kind: EventKind,
    pub outcome: Outcome,
    /// To whom.
    pub account: Option<AccountId>,
    /// By whom: the kind, an identifier (a client id, a staff member's CURP; empty for the
    /// person themselves), and the entity acting, if one is.
    pub actor_kind: ActorKind,
    pub actor: String,
    pub actor_entity_id: Option<i64>,
    /// On what basis (a legal basis, `consent <id>`), where one is needed.
    pub basis: Option<String>,
    /// On what: a record, its holder and the procedure it was read for.
    pub record_id: Option<String>,
    pub holder_entity_id: Option<i64>,
    pub procedure: Option<String>,
    pub purpose: String,
    pub client_address: String,
    pub user_agent: String,
    pub detail: Option<String>,
}

impl Event {
    /// A security event: `kind` happened to `account`, from a browser at `address`.
    pub fn security(
        kind: EventKind,
        account: Option<AccountId>,
        address: &str,
        user_agent: &str,
        detail: &str,
    ) -> Event {
        Event {
            at: 0,
            kind,
            outcome: Outcome::of(kind),
            account,
            actor_kind: ActorKind::Person,
            actor: String::new(),
            actor_entity_id: None,
            basis: None,
            record_id: None,
            holder_entity_id: None,
            procedure: None,
            purpose: String::new(),
            client_address: address.to_string(),
            user_agent: user_agent.to_string(),
            detail: Some(detail.to_string()),
        }
    }

    /// An event of an operator or of llave itself (`actor`: who at the command line, e.g.
    /// `cli`), about `account` if it concerns one.
    pub fn system(kind: EventKind, account: Option<AccountId>, actor: &str, detail: &str) -> Event {
        Event {
            actor_kind: ActorKind::System,
            actor: actor.to_string(),
            client_address: String::new(),
            user_agent: String::new(),
            ..Event::security(kind, account, "", "", detail)
        }
    }

    /// The session an event of ending one names (its `detail`).
    pub fn ended_session(&self) -> Option<&str> {
        match self.kind {
            EventKind::SignOut | EventKind::SessionEnded | EventKind::SessionExpired => {
                self.detail.as_deref().filter(|d| !d.is_empty())
            }
            _ => None,
        }
    }

    /// The stable encoding (version 1) the audit log hashes: canonical JSON, fields in a
    /// fixed order, no whitespace, the browser's address and user agent left out.
    /// Documented field by field in docs/events.md; changing it needs a new version.
    pub fn encode(&self, act: &str, seq: i64) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Encoded<'a> {
            v: u8,
            act: &'a str,
            seq: i64,
            at: i64,
            kind: &'a str,
            outcome: &'a str,
            account: Option<i64>,
            actor: Actor<'a>,
            basis: Option<&'a str>,
            record: Option<&'a str>,
            holder: Option<i64>,
            procedure: Option<&'a str>,
            purpose: &'a str,
            detail: Option<&'a str>,
        }
        #[derive(serde::Serialize)]
        struct Actor<'a> {
            kind: &'a str,
            id: &'a str,
            entity: Option<i64>,
        }
        let encoded = Encoded {
            v: 1,
            act,
            seq,
            at: self.at,
            kind: self.kind.as_str(),
            outcome: self.outcome.as_str(),
            account: self.account.map(|a| a.0),
            actor: Actor { kind: self.actor_kind.as_str(), id: &self.actor, entity: self.actor_entity_id },
            basis: self.basis.as_deref(),
            record: self.record_id.as_deref(),
            holder: self.holder_entity_id,
            procedure: self.procedure.as_deref(),
            purpose: &self.purpose,
            detail: self.detail.as_deref(),
        };
        serde_json::to_vec(&encoded).unwrap_or_default()
    }
}

/// The columns of an event row, in the order [`bind_event`] binds them (after `act_id`).
pub(super) const EVENT_COLUMNS: &str = "act_id, seq, at, kind, outcome, account_id, actor_kind, actor, actor_entity_id, basis, \
     record_id, holder_entity_id, procedure_slug, purpose, client_address, user_agent, detail";
const PER_EVENT: usize = 17;

/// On PostgreSQL every event row also records the transaction that inserts it (column `tx`):
/// the audit sequencer reads only the events of transactions at or above its horizon
/// (`audit::sequencer`). SQLite leaves it empty.
pub(super) const POSTGRES_TX: &str = "pg_current_xact_id()::text::bigint";

/// Events written by one statement at most (PostgreSQL takes at most 65,535 parameters).
const EVENTS_PER_STATEMENT: usize = 64;

/// Writes the act's row and its events (called by [`super::Tx::commit`]) in as few
/// statements as the backend allows: on PostgreSQL the act's row and its first events are
/// one statement (a data-modifying `WITH`), so an act of one event costs one round trip.
pub(super) async fn insert_act(
    conn: &mut AnyConnection,
    backend: super::Backend,
    act: (&str, &str, i64),
    events: &[Event],
) -> StoreResult<()> {
    let (id, name, at) = act;
    let mut chunks = events.chunks(EVENTS_PER_STATEMENT);
    let first = chunks.next().unwrap_or_default();
    let together = backend == super::Backend::Postgres && !first.is_empty();
    if !together {
        sqlx::query("INSERT INTO acts (id, name, at, events) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(name)
            .bind(at)
            .bind(events.len() as i64)
            .execute(&mut *conn)
            .await?;
    }
    let mut seq = 0;
    for (i, chunk) in std::iter::once(first).chain(chunks).enumerate() {
        if chunk.is_empty() {
            continue;
        }
        let with_act = together && i == 0;
        let offset = if with_act { 4 } else { 0 };
        let mut sql = String::new();
        if with_act {
            sql.push_str("WITH act AS (INSERT INTO acts (id, name, at, events) VALUES ($1, $2, $3, $4)) ");
        }
        let postgres = backend == super::Backend::Postgres;
        sql.push_str("INSERT INTO events (");
        sql.push_str(EVENT_COLUMNS);
        sql.push_str(if postgres { ", tx) VALUES " } else { ") VALUES " });
        for row in 0..chunk.len() {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for column in 0..PER_EVENT {
                if column > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", offset + row * PER_EVENT + column + 1));
            }
            if postgres {
                sql.push_str(", ");
                sql.push_str(POSTGRES_TX);
            }
            sql.push(')');
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if with_act {
            query = query.bind(id).bind(name).bind(at).bind(events.len() as i64);
        }
        for e in chunk {
            query = bind_event(query, id, seq, e);
            seq += 1;
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

pub(super) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

pub(super) fn bind_event<'q>(query: AnyQuery<'q>, act: &'q str, seq: i64, e: &'q Event) -> AnyQuery<'q> {
    query
        .bind(act)
        .bind(seq)
        .bind(e.at)
        .bind(e.kind.as_str())
        .bind(e.outcome.as_str())
        .bind(e.account.map(|a| a.0))
        .bind(e.actor_kind.as_str())
        .bind(&e.actor)
        .bind(e.actor_entity_id)
        .bind(e.basis.as_deref())
        .bind(e.record_id.as_deref())
        .bind(e.holder_entity_id)
        .bind(e.procedure.as_deref())
        .bind(&e.purpose)
        .bind(&e.client_address)
        .bind(&e.user_agent)
        .bind(e.detail.as_deref())
}

/// One entry of a person's security page; `detail` never holds a secret (see docs/LOGGING.md).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecurityEvent {
    pub at: i64,
    pub kind: String,
    pub account_id: Option<i64>,
    pub client_address: String,
    pub user_agent: String,
    pub detail: String,
}

impl Store {
    /// Newest first.
    pub async fn events_for_account(&self, account: AccountId, limit: i64) -> StoreResult<Vec<SecurityEvent>> {
        let rows = sqlx::query(
            "SELECT at, kind, account_id, client_address, user_agent, detail FROM security_events \
             WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(account.0)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SecurityEvent {
                    at: row.try_get("at")?,
                    kind: row.try_get("kind")?,
                    account_id: row.try_get("account_id")?,
                    client_address: row.try_get("client_address")?,
                    user_agent: row.try_get("user_agent")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_is_stable() {
        let mut event = Event::security(EventKind::SignIn, Some(AccountId(7)), "203.0.113.9", "Firefox", "password");
        event.at = 1_780_000_000;
        let encoded = String::from_utf8(event.encode("act-1", 0)).unwrap();
        assert_eq!(
            encoded,
            r#"{"v":1,"act":"act-1","seq":0,"at":1780000000,"kind":"sign_in","outcome":"ok","account":7,"actor":{"kind":"person","id":"","entity":null},"basis":null,"record":null,"holder":null,"procedure":null,"purpose":"","detail":"password"}"#
        );
        assert!(!encoded.contains("203.0.113.9"), "the address stays out of the audit encoding");
    }

    #[test]
    fn outcomes_follow_the_kind() {
        assert_eq!(Outcome::of(EventKind::SignInFailed), Outcome::Failed);
        assert_eq!(Outcome::of(EventKind::Throttled), Outcome::Refused);
        assert_eq!(Outcome::of(EventKind::PasswordReset), Outcome::Ok);
        for outcome in [Outcome::Ok, Outcome::Failed, Outcome::Refused, Outcome::Read] {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
    }
}
