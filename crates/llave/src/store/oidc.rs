//! OpenID Connect state: signing keys, authorization codes, grants with their refresh and
//! access tokens, consents and spent client-assertion `jti`s. Every token llave issues is
//! persisted; a code or a refresh token is spent by one conditional `UPDATE`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AccountId, Store, StoreResult};

#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: String,
    pub private_pem: String,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct CodeRecord {
    pub client_id: String,
    pub account_id: AccountId,
    pub session_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub claims: Option<String>,
    pub acr: String,
    pub amr: String,
    pub auth_time: i64,
    /// The JWK thumbprint the code is bound to (RFC 9449 §10, `dpop_jkt`).
    pub dpop_jkt: Option<String>,
    /// What the person allowed a third party (`consent::sharing::Granted`, JSON).
    pub sharing: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GrantRecord {
    pub id: String,
    pub client_id: String,
    pub account_id: Option<AccountId>,
    pub session_id: Option<String>,
    pub scope: String,
    pub claims: Option<String>,
    pub acr: String,
    pub amr: String,
    pub auth_time: i64,
    pub revoked_at: Option<i64>,
    /// The JWK thumbprint its tokens are bound to (RFC 9449): each refresh must prove it.
    pub dpop_jkt: Option<String>,
}

/// How spending a code went: the protocol engine's grants decide over it.
pub use oidc::grants::Spent;

/// A refresh token as stored (its hash is the key).
#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    pub grant_id: String,
    pub used_at: Option<i64>,
    pub expires_at: i64,
}

fn key_from_row(row: &AnyRow) -> Result<KeyRecord, sqlx::Error> {
    Ok(KeyRecord {
        kid: row.try_get("kid")?,
        alg: row.try_get("alg")?,
        private_pem: row.try_get("private_pem")?,
        public_jwk: row.try_get("public_jwk")?,
        created_at: row.try_get("created_at")?,
        retired_at: row.try_get("retired_at")?,
    })
}

fn grant_from_row(row: &AnyRow) -> Result<GrantRecord, sqlx::Error> {
    Ok(GrantRecord {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        account_id: row.try_get::<Option<i64>, _>("account_id")?.map(AccountId),
        session_id: row.try_get("session_id")?,
        scope: row.try_get("scope")?,
        claims: row.try_get("claims")?,
        acr: row.try_get("acr")?,
        amr: row.try_get("amr")?,
        auth_time: row.try_get("auth_time")?,
        revoked_at: row.try_get("revoked_at")?,
        dpop_jkt: row.try_get("dpop_jkt")?,
    })
}

macro_rules! select_grant {
    ($rest:literal) => {
        concat!(
            "SELECT g.id, g.client_id, g.account_id, g.session_id, g.scope, g.claims, g.acr, g.amr, ",
            "g.auth_time, g.revoked_at, g.dpop_jkt FROM grants g ",
            $rest
        )
    };
}

impl Store {
    /// Inserts the first current key of its algorithm; false, with nothing written, when
    /// another request or node inserted one first (one current key per algorithm is a
    /// unique index, migration 0014).
    pub async fn insert_first_signing_key(&self, key: &KeyRecord) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_pem, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_pem)
        .bind(&key.public_jwk)
        .bind(key.created_at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Makes `key` the current key of its algorithm and retires the one before, in one
    /// transaction.
    pub async fn rotate_signing_key(&self, key: &KeyRecord, now: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE alg = $2 AND retired_at IS NULL")
            .bind(now)
            .bind(&key.alg)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_pem, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_pem)
        .bind(&key.public_jwk)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keys still published: current ones and those retired after `published_after`.
    /// The keys to publish: current ones, those retired after `retired_after`, and those
    /// that signed a consent artefact still serving as proof at `now` (docs/operators.md).
    pub async fn published_keys(&self, retired_after: i64, now: i64) -> StoreResult<Vec<KeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, alg, private_pem, public_jwk, created_at, retired_at FROM signing_keys \
             WHERE retired_at IS NULL OR retired_at > $1 \
             OR kid IN (SELECT a.kid FROM consent_artefacts a WHERE a.proof_until > $2) \
             ORDER BY created_at DESC, kid",
        )
        .bind(retired_after)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn insert_code(&self, code_hash: &str, code: &CodeRecord, now: i64, expires_at: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, account_id, session_id, redirect_uri, \
             code_challenge, scope, nonce, claims, acr, amr, auth_time, created_at, expires_at, dpop_jkt, sharing) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(code_hash)
        .bind(&code.client_id)
        .bind(code.account_id.0)
        .bind(&code.session_id)
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(&code.scope)
        .bind(code.nonce.as_deref())
        .bind(code.claims.as_deref())
        .bind(&code.acr)
        .bind(&code.amr)
        .bind(code.auth_time)
        .bind(now)
        .bind(expires_at)
        .bind(code.dpop_jkt.as_deref())
        .bind(code.sharing.as_deref())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Spends a code once (RFC 6749 §4.1.2: a code works once).
    pub async fn use_code(&self, code_hash: &str, now: i64) -> StoreResult<Spent<CodeRecord>> {
        let row = sqlx::query(
            "UPDATE authorization_codes SET used_at = $1 \
             WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING client_id, account_id, session_id, redirect_uri, code_challenge, scope, nonce, \
             claims, acr, amr, auth_time, dpop_jkt, sharing",
        )
        .bind(now)
        .bind(code_hash)
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = row {
            return Ok(Spent::Fresh(CodeRecord {
                client_id: row.try_get("client_id")?,
                account_id: AccountId(row.try_get("account_id")?),
                session_id: row.try_get("session_id")?,
                redirect_uri: row.try_get("redirect_uri")?,
                code_challenge: row.try_get("code_challenge")?,
                scope: row.try_get("scope")?,
                nonce: row.try_get("nonce")?,
                claims: row.try_get("claims")?,
                acr: row.try_get("acr")?,
                amr: row.try_get("amr")?,
                auth_time: row.try_get("auth_time")?,
                dpop_jkt: row.try_get("dpop_jkt")?,
                sharing: row.try_get("sharing")?,
            }));
        }
        let row = sqlx::query("SELECT used_at, grant_id FROM authorization_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) if row.try_get::<Option<i64>, _>("used_at")?.is_some() => {
                Spent::Replayed(row.try_get("grant_id")?)
            }
            _ => Spent::Unknown,
        })
    }

    pub async fn grant_by_id(&self, id: &str) -> StoreResult<Option<GrantRecord>> {
        let row = sqlx::query(select_grant!("WHERE g.id = $1")).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(grant_from_row).transpose()?)
    }

    pub async fn revoke_grant(&self, id: &str, reason: &str, now: i64) -> StoreResult<()> {
        revoke_grant_on(self.pool(), id, reason, now).await
    }

    /// A presented refresh token as stored, for `oidc::grants::refresh_token` to judge
    /// (live, used before, expired). Nothing is spent here: `record_issue` spends it with
    /// what replaces it, in one conditional `UPDATE`.
    pub async fn refresh_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<RefreshTokenRecord>> {
        let row = sqlx::query("SELECT used_at, expires_at, grant_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(RefreshTokenRecord {
            grant_id: row.try_get("grant_id")?,
            used_at: row.try_get("used_at")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    /// Records what a token answer issues (its access token, its refresh token) and spends
    /// the refresh token it replaces, in one transaction: a crash leaves either the old
    /// token live or the new ones recorded, never neither. False, with nothing written, when
    /// the token to spend was spent meanwhile (two requests raced with one token).
    /// One act with its `tokens_issued` event (detail: the grant and what was issued).
    ///
    /// Group commit ([`Store::grouped_act`]): on SQLite the answers that arrive together
    /// share one transaction and one fsync; on PostgreSQL, which groups the WAL flushes of
    /// concurrent commits itself, each answer is its own transaction. Either way this returns
    /// after the transaction holding the answer committed, so an answer never leaves before
    /// its tokens are durable.
    pub async fn record_issue(&self, write: IssueWrite, now: i64) -> StoreResult<bool> {
        if self.backend() == super::Backend::Postgres && write.artefact.is_none() {
            return self.issue_in_one_statement(&write, now).await;
        }
        let write = std::sync::Arc::new(write);
        self.grouped_act(
            "tokens_issued",
            std::sync::Arc::new(move |act: &mut super::act::Tx| {
                let write = write.clone();
                Box::pin(async move { issue_in(act, &write, now).await })
            }),
        )
        .await
    }

    /// The grant of an unused, unexpired refresh token (introspection, revocation).
    pub async fn refresh_token_grant(&self, token_hash: &str, now: i64) -> StoreResult<Option<(String, i64)>> {
        let row = sqlx::query(
            "SELECT grant_id, expires_at FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => Some((row.try_get("grant_id")?, row.try_get("expires_at")?)),
            None => None,
        })
    }

    /// The live grant behind an access token's `jti`, if neither is revoked.
    pub async fn access_token_grant(&self, jti: &str, now: i64) -> StoreResult<Option<GrantRecord>> {
        let row = sqlx::query(select_grant!(
            "JOIN access_tokens t ON t.grant_id = g.id WHERE t.jti = $1 AND t.expires_at > $2 AND g.revoked_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM clients c WHERE c.client_id = g.client_id AND c.disabled_at IS NOT NULL)"
        ))
        .bind(jti)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(grant_from_row).transpose()?)
    }

    /// Records a client assertion's `jti`; false if it was seen before (RFC 7523 §3).
    pub async fn spend_jti(&self, jti: &str, expires_at: i64) -> StoreResult<bool> {
        let done = sqlx::query("INSERT INTO used_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Revokes a grant (its access and refresh tokens stop working at once), alone or in an act.
pub(super) async fn revoke_grant_on<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: &str,
    reason: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE grants SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
        .bind(now)
        .bind(reason)
        .bind(id)
        .execute(executor)
        .await?;
    Ok(())
}

async fn insert_grant_on<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    grant: &GrantRecord,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO grants (id, client_id, account_id, session_id, scope, claims, acr, amr, auth_time, created_at, \
         dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&grant.id)
    .bind(&grant.client_id)
    .bind(grant.account_id.map(|a| a.0))
    .bind(grant.session_id.as_deref())
    .bind(&grant.scope)
    .bind(grant.claims.as_deref())
    .bind(&grant.acr)
    .bind(&grant.amr)
    .bind(grant.auth_time)
    .bind(now)
    .bind(grant.dpop_jkt.as_deref())
    .execute(executor)
    .await?;
    Ok(())
}

/// Writes one answer in `act`: false, with nothing written, if the refresh token it spends
/// was spent already.
async fn issue_in(act: &mut super::act::Tx, write: &IssueWrite, now: i64) -> StoreResult<bool> {
    let tx = act.conn();
    if let Some(old) = &write.spend_refresh {
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(old)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if spent != 1 {
            return Ok(false);
        }
    }
    if let Some(grant) = &write.new_grant {
        insert_grant_on(&mut *tx, grant, now).await?;
    }
    if let Some(given) = &write.artefact {
        act.insert_artefact(&given.artefact).await?;
        act.event(given.event.clone());
        if let Some((old, old_token_grant)) = &given.supersedes {
            if !act.supersede_artefact(old, &given.artefact.id, now).await? {
                return Err(super::StoreError::Conflict("grant"));
            }
            act.revoke_token_grant(old_token_grant, "consent_replaced", now).await?;
        }
    }
    let tx = act.conn();
    if let Some(code_hash) = &write.from_code {
        sqlx::query("UPDATE authorization_codes SET grant_id = $1 WHERE code_hash = $2")
            .bind(&write.grant_id)
            .bind(code_hash)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("INSERT INTO access_tokens (jti, grant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(&write.access_jti)
        .bind(&write.grant_id)
        .bind(now)
        .bind(write.access_expires_at)
        .execute(&mut *tx)
        .await?;
    if let Some(hash) = &write.refresh_hash {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(&write.grant_id)
        .bind(now)
        .bind(write.refresh_expires_at)
        .execute(&mut *tx)
        .await?;
    }
    act.event(issued_event(write, now));
    Ok(true)
}

/// The `tokens_issued` event of an answer (detail: the grant and what was issued).
fn issued_event(write: &IssueWrite, now: i64) -> super::Event {
    let issued = match (write.refresh_hash.is_some(), write.spend_refresh.is_some()) {
        (true, true) => "access, refresh (rotated)",
        (true, false) => "access, refresh",
        (false, _) => "access",
    };
    super::Event {
        at: now,
        kind: super::EventKind::TokensIssued,
        outcome: super::Outcome::Ok,
        account: write.account,
        actor_kind: super::ActorKind::Entity,
        actor: write.client_id.clone(),
        actor_entity_id: write.entity_id,
        basis: None,
        record_id: None,
        holder_entity_id: None,
        procedure: None,
        purpose: String::new(),
        client_address: String::new(),
        user_agent: String::new(),
        detail: Some(format!("grant {} ({issued})", write.grant_id)),
    }
}

impl Store {
    /// PostgreSQL: a token answer as **one statement** (a data-modifying `WITH`), atomic by
    /// itself with no `BEGIN`/`COMMIT` around it: the refresh token spent (if any; nothing
    /// else happens if it was spent meanwhile), the grant (if new), the code's link, the
    /// access and refresh tokens, and the act's row with its `tokens_issued` event. One
    /// round trip where the act's transaction took five to seven (issue 15's benchmarks).
    /// The act has no reactions (none answers `tokens_issued`) and no outbox message; the
    /// audit sequencer's barrier waits for it as for any writer of `events`. Foreign keys
    /// between rows of one statement are checked at its end.
    async fn issue_in_one_statement(&self, write: &IssueWrite, now: i64) -> StoreResult<bool> {
        let sql = format!(
            "WITH spent AS (UPDATE refresh_tokens SET used_at = $1 \
               WHERE token_hash = $2::text AND used_at IS NULL AND expires_at > $1 RETURNING 1), \
             go AS (SELECT 1 AS ok WHERE $2::text IS NULL OR EXISTS (SELECT 1 FROM spent)), \
             g AS (INSERT INTO grants (id, client_id, account_id, session_id, scope, claims, acr, amr, auth_time, \
               created_at, dpop_jkt) SELECT $3::text, $4::text, $5::bigint, $6::text, $7::text, $8::text, $9::text, \
               $10::text, $11::bigint, $1, $12::text FROM go WHERE $13::boolean), \
             c AS (UPDATE authorization_codes SET grant_id = $14::text \
               WHERE code_hash = $15::text AND EXISTS (SELECT 1 FROM go)), \
             a AS (INSERT INTO access_tokens (jti, grant_id, created_at, expires_at) \
               SELECT $16::text, $14::text, $1, $17::bigint FROM go), \
             r AS (INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) \
               SELECT $18::text, $14::text, $1, $19::bigint FROM go WHERE $18::text IS NOT NULL), \
             act AS (INSERT INTO acts (id, name, at, events) SELECT $20::text, 'tokens_issued', $1, 1 FROM go), \
             ev AS (INSERT INTO events ({columns}, tx) SELECT $21::text, $22::bigint, $23::bigint, $24::text, \
               $25::text, $26::bigint, $27::text, $28::text, $29::bigint, $30::text, $31::text, $32::bigint, \
               $33::text, $34::text, $35::text, $36::text, $37::text, {tx} FROM go) \
             SELECT COUNT(*) AS written FROM go",
            columns = super::events::EVENT_COLUMNS,
            tx = super::events::POSTGRES_TX,
        );
        let grant = write.new_grant.as_ref();
        let act = super::act::act_id();
        let event = issued_event(write, now);
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(write.spend_refresh.as_deref())
            .bind(grant.map(|g| g.id.as_str()).unwrap_or(""))
            .bind(grant.map(|g| g.client_id.as_str()).unwrap_or(""))
            .bind(grant.and_then(|g| g.account_id.map(|a| a.0)))
            .bind(grant.and_then(|g| g.session_id.as_deref()))
            .bind(grant.map(|g| g.scope.as_str()).unwrap_or(""))
            .bind(grant.and_then(|g| g.claims.as_deref()))
            .bind(grant.map(|g| g.acr.as_str()).unwrap_or(""))
            .bind(grant.map(|g| g.amr.as_str()).unwrap_or(""))
            .bind(grant.map(|g| g.auth_time).unwrap_or(0))
            .bind(grant.and_then(|g| g.dpop_jkt.as_deref()))
            .bind(grant.is_some())
            .bind(write.grant_id.as_str())
            .bind(write.from_code.as_deref())
            .bind(write.access_jti.as_str())
            .bind(write.access_expires_at)
            .bind(write.refresh_hash.as_deref())
            .bind(write.refresh_expires_at)
            .bind(act.as_str());
        let row = super::events::bind_event(query, &act, 0, &event).fetch_one(self.pool()).await?;
        let written: i64 = row.try_get("written")?;
        if written == 1 {
            self.audit_wake().notify_one();
        }
        Ok(written == 1)
    }
}

/// What one token answer writes.
pub struct IssueWrite {
    /// Who the tokens are issued to, for the event: the client, its entity and the person
    /// (none for an entity's back end acting for itself).
    pub client_id: String,
    pub entity_id: Option<i64>,
    pub account: Option<AccountId>,
    pub grant_id: String,
    pub access_jti: String,
    pub access_expires_at: i64,
    pub refresh_hash: Option<String>,
    pub refresh_expires_at: i64,
    /// The hash of the refresh token this answer replaces.
    pub spend_refresh: Option<String>,
    /// A grant this answer creates, and the code it comes from.
    pub new_grant: Option<GrantRecord>,
    pub from_code: Option<String>,
    /// A consent artefact this answer gives a third party (after the grant it covers).
    pub artefact: Option<ArtefactWrite>,
}

/// A consent artefact written with the tokens it covers, the artefact it supersedes (Grant
/// Management merge or replace: revoked, its tokens with it) and its event.
#[derive(Debug, Clone)]
pub struct ArtefactWrite {
    pub artefact: super::artefacts::Artefact,
    /// The artefact replaced and its token grant.
    pub supersedes: Option<(String, String)>,
    pub event: super::Event,
}

/// A client that took part in a session, and where to tell it the session ended.
#[derive(Debug, Clone)]
pub struct SessionClient {
    pub client_id: String,
    pub backchannel_logout_uri: Option<String>,
    pub account_id: AccountId,
}

impl Store {
    pub async fn insert_pushed_request(
        &self,
        request_uri: &str,
        client_id: &str,
        params: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO pushed_requests (request_uri, client_id, params, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(request_uri)
            .bind(client_id)
            .bind(params)
            .bind(now)
            .bind(expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The parameters pushed under `request_uri` by `client_id`, while unexpired.
    pub async fn pushed_request(&self, request_uri: &str, client_id: &str, now: i64) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "SELECT params FROM pushed_requests WHERE request_uri = $1 AND client_id = $2 AND expires_at > $3",
        )
        .bind(request_uri)
        .bind(client_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("params")?),
            None => None,
        })
    }

    /// Ends a pushed request once it produced a code (RFC 9126 §2.2: one-time use): its
    /// parameters, or `None` if it was already spent (a concurrent use won).
    pub async fn spend_pushed_request(&self, request_uri: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("DELETE FROM pushed_requests WHERE request_uri = $1 RETURNING params")
            .bind(request_uri)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("params")?),
            None => None,
        })
    }

    /// Revokes an access token alone (RFC 7009 for an access token).
    pub async fn revoke_access_token(&self, jti: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM access_tokens WHERE jti = $1").bind(jti).execute(self.pool()).await?;
        Ok(())
    }

    pub async fn record_logout_attempt(&self, id: &str, status: &str, delivered_at: Option<i64>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE logout_deliveries SET attempts = attempts + 1, last_status = $1, delivered_at = $2 WHERE id = $3",
        )
        .bind(status)
        .bind(delivered_at)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

/// A client the person has signed in to or given consent to, for the account page.
#[derive(Debug, Clone)]
pub struct Connection {
    pub client_id: String,
    pub client_name: String,
    pub entity_name: String,
    pub allowed_claims: Vec<String>,
    /// The scope the person consented to, if the consent still stands.
    pub consented_scope: Option<String>,
    pub consented_at: Option<i64>,
    /// The last time the person signed in to the client (an authorization code was issued).
    pub last_sign_in: Option<i64>,
}

impl Store {
    /// Every client the person has a standing consent for or has signed in to, newest first.
    pub async fn account_connections(&self, account: AccountId) -> StoreResult<Vec<Connection>> {
        let rows = sqlx::query(
            "SELECT c.client_id, c.name AS client_name, COALESCE(e.name, t.legal_name) AS entity_name, c.allowed_claims, \
                    cs.scope, cs.granted_at, \
                    (SELECT MAX(x.at) FROM ( \
                        SELECT a.created_at AS at FROM authorization_codes a \
                         WHERE a.account_id = $1 AND a.client_id = c.client_id \
                        UNION ALL SELECT g.created_at FROM grants g \
                         WHERE g.account_id = $1 AND g.client_id = c.client_id) x) AS last_sign_in \
             FROM clients c LEFT JOIN entities e ON e.id = c.entity_id \
             LEFT JOIN third_parties t ON t.id = c.third_party_id \
             LEFT JOIN consents cs ON cs.client_id = c.client_id AND cs.account_id = $1 \
             WHERE cs.account_id IS NOT NULL \
                OR EXISTS (SELECT 1 FROM authorization_codes a WHERE a.account_id = $1 AND a.client_id = c.client_id) \
                OR EXISTS (SELECT 1 FROM grants g WHERE g.account_id = $1 AND g.client_id = c.client_id) \
             ORDER BY COALESCE(e.name, t.legal_name), c.name",
        )
        .bind(account.0)
        .fetch_all(self.pool())
        .await?;
        let mut connections = rows
            .iter()
            .map(|row| {
                Ok(Connection {
                    client_id: row.try_get("client_id")?,
                    client_name: row.try_get("client_name")?,
                    entity_name: row.try_get("entity_name")?,
                    allowed_claims: serde_json::from_str(&row.try_get::<String, _>("allowed_claims")?)
                        .unwrap_or_default(),
                    consented_scope: row.try_get("scope")?,
                    consented_at: row.try_get("granted_at")?,
                    last_sign_in: row.try_get("last_sign_in")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        connections.sort_by_key(|c| std::cmp::Reverse(c.last_sign_in.or(c.consented_at)));
        Ok(connections)
    }
}

impl super::Tx {
    /// The clients a session signed in to (their grants), for logout.
    pub async fn session_clients(&mut self, session_id: &str) -> StoreResult<Vec<SessionClient>> {
        let rows = sqlx::query(
            "SELECT DISTINCT g.client_id, c.backchannel_logout_uri, g.account_id FROM grants g \
             JOIN clients c ON c.client_id = g.client_id WHERE g.session_id = $1 AND g.account_id IS NOT NULL",
        )
        .bind(session_id)
        .fetch_all(self.conn())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SessionClient {
                    client_id: row.try_get("client_id")?,
                    backchannel_logout_uri: row.try_get("backchannel_logout_uri")?,
                    account_id: AccountId(row.try_get("account_id")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    pub async fn revoke_session_grants(&mut self, session_id: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE grants SET revoked_at = $1, revoked_reason = 'logout' WHERE session_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(session_id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn insert_logout_delivery(
        &mut self,
        id: &str,
        client_id: &str,
        session_id: &str,
        uri: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO logout_deliveries (id, client_id, session_id, uri, created_at, attempts) VALUES ($1, $2, $3, $4, $5, 0)",
        )
        .bind(id)
        .bind(client_id)
        .bind(session_id)
        .bind(uri)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
