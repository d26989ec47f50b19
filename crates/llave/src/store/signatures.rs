//! The hub's CAs, the certificates it issued and the signatures made with them.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AccountId, Store, StoreResult};

#[derive(Debug, Clone)]
pub struct CertificateRecord {
    pub serial: String,
    /// `person` or `seal`.
    pub kind: String,
    pub account_id: Option<AccountId>,
    pub entity_slug: Option<String>,
    pub subject: String,
    pub certificate: String,
    pub key_sealed: String,
    pub not_before: i64,
    pub not_after: i64,
    pub issued_at: i64,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SignatureRecord {
    pub id: String,
    pub account_id: Option<i64>,
    pub entity_slug: Option<String>,
    pub certificate_serial: String,
    pub document_name: String,
    pub document_sha256: String,
    /// `person` (from the account page), `request` (an entity asked) or `seal`.
    pub source: String,
    pub client_id: Option<String>,
    /// The `.p7s`, base64.
    #[serde(skip)]
    pub signature: String,
    /// The same signature as a compact JWS (ES256, `x5c`) over the document's digest.
    #[serde(skip)]
    pub jws: String,
    pub created_at: i64,
}

const SELECT_CERTIFICATE: &str = "SELECT serial, kind, account_id, entity_slug, subject, certificate, key_sealed, \
     not_before, not_after, issued_at, revoked_at, revocation_reason FROM certificates WHERE ";

fn certificate_from_row(row: &AnyRow) -> Result<CertificateRecord, sqlx::Error> {
    Ok(CertificateRecord {
        serial: row.try_get("serial")?,
        kind: row.try_get("kind")?,
        account_id: row.try_get::<Option<i64>, _>("account_id")?.map(AccountId),
        entity_slug: row.try_get("entity_slug")?,
        subject: row.try_get("subject")?,
        certificate: row.try_get("certificate")?,
        key_sealed: row.try_get("key_sealed")?,
        not_before: row.try_get("not_before")?,
        not_after: row.try_get("not_after")?,
        issued_at: row.try_get("issued_at")?,
        revoked_at: row.try_get("revoked_at")?,
        revocation_reason: row.try_get("revocation_reason")?,
    })
}

fn signature_from_row(row: &AnyRow) -> Result<SignatureRecord, sqlx::Error> {
    Ok(SignatureRecord {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        entity_slug: row.try_get("entity_slug")?,
        certificate_serial: row.try_get("certificate_serial")?,
        document_name: row.try_get("document_name")?,
        document_sha256: row.try_get("document_sha256")?,
        source: row.try_get("source")?,
        client_id: row.try_get("client_id")?,
        signature: row.try_get("signature")?,
        jws: row.try_get("jws")?,
        created_at: row.try_get("created_at")?,
    })
}

const SELECT_SIGNATURE: &str = "SELECT id, account_id, entity_slug, certificate_serial, document_name, \
     document_sha256, source, client_id, signature, jws, created_at FROM signatures WHERE ";

/// What `pki init` creates and the database keeps, for one CA (opened by
/// `signature::pki`).
#[derive(Debug, Clone)]
pub struct StoredAuthority {
    pub name: String,
    pub certificate_pem: String,
    pub key_sealed: String,
}

impl Store {
    /// Stores both CAs in one transaction; false (nothing written) if a PKI exists.
    pub async fn put_authorities(&self, authorities: &[StoredAuthority], now: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        for authority in authorities {
            let done = sqlx::query(
                "INSERT INTO pki_authorities (name, certificate, key_sealed, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(&authority.name)
            .bind(&authority.certificate_pem)
            .bind(&authority.key_sealed)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn authority(&self, name: &str) -> StoreResult<Option<StoredAuthority>> {
        let row = sqlx::query("SELECT name, certificate, key_sealed FROM pki_authorities WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(StoredAuthority {
                name: row.try_get("name")?,
                certificate_pem: row.try_get("certificate")?,
                key_sealed: row.try_get("key_sealed")?,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| e.into())
    }

    /// The person's newest certificate that is neither revoked nor expired.
    pub async fn current_person_certificate(
        &self,
        account: AccountId,
        now: i64,
    ) -> StoreResult<Option<CertificateRecord>> {
        let sql = format!(
            "{SELECT_CERTIFICATE} kind = 'person' AND account_id = $1 AND revoked_at IS NULL AND not_after > $2 \
             ORDER BY issued_at DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account.0).bind(now).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(certificate_from_row).transpose()?)
    }

    pub async fn certificates_of(&self, account: AccountId) -> StoreResult<Vec<CertificateRecord>> {
        let sql = format!("{SELECT_CERTIFICATE} account_id = $1 ORDER BY issued_at DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account.0).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(certificate_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn certificate(&self, serial: &str) -> StoreResult<Option<CertificateRecord>> {
        let sql = format!("{SELECT_CERTIFICATE} serial = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(serial).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(certificate_from_row).transpose()?)
    }

    /// `(serial, revoked_at)` of every revoked certificate, for the CRL.
    pub async fn revoked_certificates(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows =
            sqlx::query("SELECT serial, revoked_at FROM certificates WHERE revoked_at IS NOT NULL ORDER BY serial")
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("serial")?, r.try_get("revoked_at")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    pub async fn signatures_of(&self, account: AccountId) -> StoreResult<Vec<SignatureRecord>> {
        let sql = format!("{SELECT_SIGNATURE} account_id = $1 ORDER BY created_at DESC, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account.0).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(signature_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn signature_record(&self, id: &str) -> StoreResult<Option<SignatureRecord>> {
        let sql = format!("{SELECT_SIGNATURE} id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(signature_from_row).transpose()?)
    }
}

#[derive(Debug, Clone)]
pub struct SigningAct {
    pub id: String,
    pub account_id: AccountId,
    pub document_name: String,
    pub document_sha256: String,
    pub expires_at: i64,
    pub signature_id: Option<String>,
}

impl Store {
    pub async fn create_signing_act(&self, act: &SigningAct, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_acts (id, account_id, document_name, document_sha256, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&act.id)
        .bind(act.account_id.0)
        .bind(&act.document_name)
        .bind(&act.document_sha256)
        .bind(now)
        .bind(act.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The person's act, whatever its state.
    pub async fn signing_act(&self, id: &str, account: AccountId) -> StoreResult<Option<SigningAct>> {
        let row = sqlx::query(
            "SELECT id, account_id, document_name, document_sha256, expires_at, signature_id FROM signing_acts \
             WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(account.0)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(SigningAct {
                id: row.try_get("id")?,
                account_id: AccountId(row.try_get("account_id")?),
                document_name: row.try_get("document_name")?,
                document_sha256: row.try_get("document_sha256")?,
                expires_at: row.try_get("expires_at")?,
                signature_id: row.try_get("signature_id")?,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| e.into())
    }

    /// Claims an act for signing, once, while alive: false if it was spent or expired.
    pub async fn claim_signing_act(
        &self,
        id: &str,
        account: AccountId,
        signature_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE signing_acts SET signature_id = $1 \
             WHERE id = $2 AND account_id = $3 AND signature_id IS NULL AND expires_at > $4",
        )
        .bind(signature_id)
        .bind(id)
        .bind(account.0)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[derive(Debug, Clone)]
pub struct SignatureRequest {
    pub id: String,
    pub client_id: String,
    pub document_name: String,
    pub document_sha256: String,
    pub summary: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    /// The `sub` (as this entity knows the person) of the only person who may sign.
    pub subject: Option<String>,
    pub expires_at: i64,
    pub account_id: Option<AccountId>,
    pub signature_id: Option<String>,
    /// `signed` or `refused`, once the person answered.
    pub outcome: Option<String>,
}

const SELECT_REQUEST: &str = "SELECT id, client_id, document_name, document_sha256, summary, redirect_uri, state, \
     subject, expires_at, account_id, signature_id, outcome FROM signature_requests WHERE ";

fn request_from_row(row: &AnyRow) -> Result<SignatureRequest, sqlx::Error> {
    Ok(SignatureRequest {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        document_name: row.try_get("document_name")?,
        document_sha256: row.try_get("document_sha256")?,
        summary: row.try_get("summary")?,
        redirect_uri: row.try_get("redirect_uri")?,
        state: row.try_get("state")?,
        subject: row.try_get("subject")?,
        expires_at: row.try_get("expires_at")?,
        account_id: row.try_get::<Option<i64>, _>("account_id")?.map(AccountId),
        signature_id: row.try_get("signature_id")?,
        outcome: row.try_get("outcome")?,
    })
}

impl Store {
    pub async fn create_signature_request(&self, request: &SignatureRequest, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signature_requests (id, client_id, document_name, document_sha256, summary, redirect_uri, \
             state, subject, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&request.id)
        .bind(&request.client_id)
        .bind(&request.document_name)
        .bind(&request.document_sha256)
        .bind(&request.summary)
        .bind(&request.redirect_uri)
        .bind(&request.state)
        .bind(&request.subject)
        .bind(now)
        .bind(request.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn signature_request(&self, id: &str) -> StoreResult<Option<SignatureRequest>> {
        let sql = format!("{SELECT_REQUEST} id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(request_from_row).transpose()?)
    }

    /// Records the person's answer, once, while the request is alive; the code (its hash)
    /// the entity exchanges. False if it was answered already or expired.
    #[allow(clippy::too_many_arguments)]
    pub async fn answer_signature_request(
        &self,
        id: &str,
        account: AccountId,
        outcome: &str,
        signature_id: Option<&str>,
        code_hash: &str,
        code_expires_at: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE signature_requests SET account_id = $1, outcome = $2, signature_id = $3, code_hash = $4, \
             code_expires_at = $5 WHERE id = $6 AND outcome IS NULL AND expires_at > $7",
        )
        .bind(account.0)
        .bind(outcome)
        .bind(signature_id)
        .bind(code_hash)
        .bind(code_expires_at)
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Spends a code for the client that made the request; the request, once.
    pub async fn exchange_signature_code(
        &self,
        code_hash: &str,
        client_id: &str,
        now: i64,
    ) -> StoreResult<Option<SignatureRequest>> {
        let done = sqlx::query(
            "UPDATE signature_requests SET code_used_at = $1 WHERE code_hash = $2 AND client_id = $3 \
             AND code_used_at IS NULL AND code_expires_at > $1",
        )
        .bind(now)
        .bind(code_hash)
        .bind(client_id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let sql = format!("{SELECT_REQUEST} code_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(code_hash).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(request_from_row).transpose()?)
    }

    /// The entity's seal certificate that is neither revoked nor expired.
    pub async fn current_seal_certificate(
        &self,
        entity_slug: &str,
        now: i64,
    ) -> StoreResult<Option<CertificateRecord>> {
        let sql = format!(
            "{SELECT_CERTIFICATE} kind = 'seal' AND entity_slug = $1 AND revoked_at IS NULL AND not_after > $2 \
             ORDER BY issued_at DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(entity_slug).bind(now).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(certificate_from_row).transpose()?)
    }
}

impl Store {
    /// Gives back an act whose signature failed after it was claimed.
    pub async fn release_signing_act(&self, id: &str, signature_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE signing_acts SET signature_id = NULL WHERE id = $1 AND signature_id = $2")
            .bind(id)
            .bind(signature_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Gives back a request whose signature failed after it was answered.
    pub async fn release_signature_request(&self, id: &str, code_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE signature_requests SET account_id = NULL, outcome = NULL, signature_id = NULL, code_hash = NULL, \
             code_expires_at = NULL WHERE id = $1 AND code_hash = $2",
        )
        .bind(id)
        .bind(code_hash)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

impl super::Tx {
    /// Revokes every unrevoked person certificate of an account; the serials revoked.
    pub async fn revoke_person_certificates(
        &mut self,
        account: AccountId,
        reason: &str,
        now: i64,
    ) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE certificates SET revoked_at = $1, revocation_reason = $2 \
             WHERE account_id = $3 AND kind = 'person' AND revoked_at IS NULL RETURNING serial",
        )
        .bind(now)
        .bind(reason)
        .bind(account.0)
        .fetch_all(self.conn())
        .await?;
        Ok(rows.iter().map(|r| r.try_get("serial")).collect::<Result<_, _>>()?)
    }
}

impl super::Tx {
    pub async fn insert_certificate(&mut self, record: &CertificateRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO certificates (serial, kind, account_id, entity_slug, subject, certificate, key_sealed, \
             not_before, not_after, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&record.serial)
        .bind(&record.kind)
        .bind(record.account_id.map(|a| a.0))
        .bind(&record.entity_slug)
        .bind(&record.subject)
        .bind(&record.certificate)
        .bind(&record.key_sealed)
        .bind(record.not_before)
        .bind(record.not_after)
        .bind(record.issued_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn insert_signature(&mut self, record: &SignatureRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signatures (id, account_id, entity_slug, certificate_serial, document_name, document_sha256, \
             source, client_id, signature, jws, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&record.id)
        .bind(record.account_id)
        .bind(&record.entity_slug)
        .bind(&record.certificate_serial)
        .bind(&record.document_name)
        .bind(&record.document_sha256)
        .bind(&record.source)
        .bind(&record.client_id)
        .bind(&record.signature)
        .bind(&record.jws)
        .bind(record.created_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
