//! Requesting authorities and their requisitions (migration 0017, docs/requisitions.md).
//! Every step that may happen once — each approval, the rejection, the delivery, the
//! attestation — is one conditional `UPDATE`, so two people (or two nodes) racing cannot
//! both win; the rules that explain a refusal live in `requisitions`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, StoreResult, Tx, conflict_or};

/// A requesting authority: a prosecutor's office, a court, the tax authority.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Authority {
    pub slug: String,
    pub name: String,
    pub mandate: String,
    /// The X.509 certificate packages are encrypted to (PEM).
    pub certificate_pem: String,
    /// `rsa` or `ec`.
    pub key_algorithm: String,
    pub created_at: i64,
}

/// Where a requisition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Filed; it has none or one of its two approvals.
    Pending,
    /// Both approvals: it may be delivered.
    Approved,
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "pending" => Status::Pending,
            "approved" => Status::Approved,
            "rejected" => Status::Rejected,
            _ => return None,
        })
    }
}

/// One requisition, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Requisition {
    pub id: String,
    pub authority_slug: String,
    /// The person whose records are asked for.
    pub account_id: i64,
    pub requester_id: i64,
    /// Kinds of record (the catalog's requirement vocabulary).
    pub kinds: Vec<String>,
    /// The date range, `YYYY-MM-DD`, both included (the city's days).
    pub date_from: String,
    pub date_to: String,
    pub law: String,
    pub article: String,
    pub case_number: String,
    pub justification: String,
    /// The person is told from this time on; `None`: at once.
    pub nondisclosure_until: Option<i64>,
    pub status: Status,
    pub filed_at: i64,
    pub first_approver_id: Option<i64>,
    pub first_approved_at: Option<i64>,
    pub second_approver_id: Option<i64>,
    pub second_approved_at: Option<i64>,
    pub rejected_by: Option<i64>,
    pub rejected_at: Option<i64>,
    pub rejection_reason: Option<String>,
    /// The authority attests destruction or retention by then (set at approval).
    pub attestation_due: Option<i64>,
    pub delivered_at: Option<i64>,
    /// The record ids the package held.
    pub delivered_records: Vec<String>,
    pub package_sha256: Option<String>,
    pub attested_at: Option<i64>,
    /// `destroyed` or `retained`.
    pub attestation: Option<String>,
    pub attestation_basis: Option<String>,
    /// An extension of the non-disclosure order waiting for its two approvals.
    pub extension_until: Option<i64>,
    pub extension_requested_at: Option<i64>,
    pub extension_approver_id: Option<i64>,
}

impl Requisition {
    /// Whether the person is told at `now`: at once without a non-disclosure order, else
    /// once it ended. (An extension counts once approved: it moves `nondisclosure_until`.)
    pub fn disclosed_at(&self, now: i64) -> bool {
        self.nondisclosure_until.is_none_or(|until| now >= until)
    }
}

const COLUMNS: &str = "id, authority_slug, account_id, requester_id, kinds, date_from, date_to, law, article, \
     case_number, justification, nondisclosure_until, status, filed_at, first_approver_id, first_approved_at, \
     second_approver_id, second_approved_at, rejected_by, rejected_at, rejection_reason, attestation_due, \
     delivered_at, delivered_records, package_sha256, attested_at, attestation, attestation_basis, \
     extension_until, extension_requested_at, extension_approver_id";

fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn requisition(row: &AnyRow) -> StoreResult<Requisition> {
    let status: String = row.try_get("status")?;
    let delivered: Option<String> = row.try_get("delivered_records")?;
    Ok(Requisition {
        id: row.try_get("id")?,
        authority_slug: row.try_get("authority_slug")?,
        account_id: row.try_get("account_id")?,
        requester_id: row.try_get("requester_id")?,
        kinds: list(&row.try_get::<String, _>("kinds")?),
        date_from: row.try_get("date_from")?,
        date_to: row.try_get("date_to")?,
        law: row.try_get("law")?,
        article: row.try_get("article")?,
        case_number: row.try_get("case_number")?,
        justification: row.try_get("justification")?,
        nondisclosure_until: row.try_get("nondisclosure_until")?,
        status: Status::parse(&status).ok_or_else(|| StoreError::Data(format!("requisition status {status:?}")))?,
        filed_at: row.try_get("filed_at")?,
        first_approver_id: row.try_get("first_approver_id")?,
        first_approved_at: row.try_get("first_approved_at")?,
        second_approver_id: row.try_get("second_approver_id")?,
        second_approved_at: row.try_get("second_approved_at")?,
        rejected_by: row.try_get("rejected_by")?,
        rejected_at: row.try_get("rejected_at")?,
        rejection_reason: row.try_get("rejection_reason")?,
        attestation_due: row.try_get("attestation_due")?,
        delivered_at: row.try_get("delivered_at")?,
        delivered_records: delivered.as_deref().map(list).unwrap_or_default(),
        package_sha256: row.try_get("package_sha256")?,
        attested_at: row.try_get("attested_at")?,
        attestation: row.try_get("attestation")?,
        attestation_basis: row.try_get("attestation_basis")?,
        extension_until: row.try_get("extension_until")?,
        extension_requested_at: row.try_get("extension_requested_at")?,
        extension_approver_id: row.try_get("extension_approver_id")?,
    })
}

fn authority(row: &AnyRow) -> StoreResult<Authority> {
    Ok(Authority {
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        mandate: row.try_get("mandate")?,
        certificate_pem: row.try_get("certificate_pem")?,
        key_algorithm: row.try_get("key_algorithm")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn requesting_authority(&self, slug: &str) -> StoreResult<Option<Authority>> {
        let row = sqlx::query("SELECT * FROM requesting_authorities WHERE slug = $1")
            .bind(slug)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(authority).transpose()
    }

    pub async fn list_requesting_authorities(&self) -> StoreResult<Vec<Authority>> {
        let rows = sqlx::query("SELECT * FROM requesting_authorities ORDER BY slug").fetch_all(self.pool()).await?;
        rows.iter().map(authority).collect()
    }

    pub async fn requisition(&self, id: &str) -> StoreResult<Option<Requisition>> {
        let sql = format!("SELECT {COLUMNS} FROM requisitions WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(requisition).transpose()
    }

    /// Requisitions matching `condition` (a fixed SQL condition with at most one
    /// parameter, `$1`), newest first.
    async fn requisitions_where(&self, condition: &str, parameter: Option<Param<'_>>) -> StoreResult<Vec<Requisition>> {
        let sql = format!("SELECT {COLUMNS} FROM requisitions WHERE {condition} ORDER BY filed_at DESC, id");
        let query = sqlx::query(sqlx::AssertSqlSafe(sql));
        let query = match parameter {
            Some(Param::Text(text)) => query.bind(text.to_string()),
            Some(Param::Number(n)) => query.bind(n),
            None => query,
        };
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(requisition).collect()
    }

    /// Every requisition, newest first (`llave requisitions report`).
    pub async fn all_requisitions(&self) -> StoreResult<Vec<Requisition>> {
        self.requisitions_where("1 = 1", None).await
    }

    /// An authority's requisitions, newest first.
    pub async fn requisitions_of_authority(&self, slug: &str) -> StoreResult<Vec<Requisition>> {
        self.requisitions_where("authority_slug = $1", Some(Param::Text(slug))).await
    }

    /// What waits for approvers: pending requisitions, and extensions asked for.
    pub async fn requisitions_awaiting_approval(&self) -> StoreResult<Vec<Requisition>> {
        self.requisitions_where("status = 'pending' OR (status = 'approved' AND extension_until IS NOT NULL)", None)
            .await
    }

    /// Delivered requisitions whose attestation is past due at `now` and not made.
    pub async fn overdue_requisitions(&self, now: i64) -> StoreResult<Vec<Requisition>> {
        self.requisitions_where(
            "status = 'approved' AND delivered_at IS NOT NULL AND attested_at IS NULL AND attestation_due < $1",
            Some(Param::Number(now)),
        )
        .await
    }

    /// A person's requisitions, newest first (the file keeps those still undisclosed out).
    pub async fn requisitions_about(&self, account_id: i64) -> StoreResult<Vec<Requisition>> {
        self.requisitions_where("account_id = $1", Some(Param::Number(account_id))).await
    }
}

enum Param<'a> {
    Text(&'a str),
    Number(i64),
}

/// The requisition's changes, each in the act that records its event.
impl Tx {
    /// Registers an authority; a second one with the same slug is a conflict.
    pub async fn add_authority(&mut self, a: &Authority) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO requesting_authorities (slug, name, mandate, certificate_pem, key_algorithm, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&a.slug)
        .bind(&a.name)
        .bind(&a.mandate)
        .bind(&a.certificate_pem)
        .bind(&a.key_algorithm)
        .bind(a.created_at)
        .execute(self.conn())
        .await
        .map_err(|e| conflict_or(e, |_| "slug"))?;
        Ok(())
    }

    pub async fn file_requisition(&mut self, r: &Requisition) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO requisitions (id, authority_slug, account_id, requester_id, kinds, date_from, date_to, law, \
             article, case_number, justification, nondisclosure_until, status, filed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13)",
        )
        .bind(&r.id)
        .bind(&r.authority_slug)
        .bind(r.account_id)
        .bind(r.requester_id)
        .bind(r.kinds.join(","))
        .bind(&r.date_from)
        .bind(&r.date_to)
        .bind(&r.law)
        .bind(&r.article)
        .bind(&r.case_number)
        .bind(&r.justification)
        .bind(r.nondisclosure_until)
        .bind(r.filed_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn changed(&mut self, sql: &'static str, binds: Vec<Param<'_>>) -> StoreResult<bool> {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = match bind {
                Param::Text(text) => query.bind(text.to_string()),
                Param::Number(n) => query.bind(n),
            };
        }
        Ok(query.execute(self.conn()).await?.rows_affected() == 1)
    }

    /// The first approval: by anyone but the requester, while pending and unapproved.
    pub async fn approve_first(&mut self, id: &str, approver: i64, at: i64) -> StoreResult<bool> {
        self.changed(
            "UPDATE requisitions SET first_approver_id = $1, first_approved_at = $2 \
             WHERE id = $3 AND status = 'pending' AND first_approver_id IS NULL AND requester_id <> $1",
            vec![Param::Number(approver), Param::Number(at), Param::Text(id)],
        )
        .await
    }

    /// The second approval, by neither the requester nor the first approver: in effect, with
    /// the attestation's deadline.
    pub async fn approve_second(&mut self, id: &str, approver: i64, at: i64, due: i64) -> StoreResult<bool> {
        self.changed(
            "UPDATE requisitions SET second_approver_id = $1, second_approved_at = $2, status = 'approved', \
             attestation_due = $3 WHERE id = $4 AND status = 'pending' AND first_approver_id IS NOT NULL \
             AND first_approver_id <> $1 AND requester_id <> $1",
            vec![Param::Number(approver), Param::Number(at), Param::Number(due), Param::Text(id)],
        )
        .await
    }

    pub async fn reject_requisition(&mut self, id: &str, by: i64, at: i64, reason: &str) -> StoreResult<bool> {
        self.changed(
            "UPDATE requisitions SET status = 'rejected', rejected_by = $1, rejected_at = $2, rejection_reason = $3 \
             WHERE id = $4 AND status = 'pending' AND requester_id <> $1",
            vec![Param::Number(by), Param::Number(at), Param::Text(reason), Param::Text(id)],
        )
        .await
    }

    /// The one delivery: false if it was delivered already (or is not approved).
    pub async fn mark_delivered(&mut self, id: &str, at: i64, records: &[String], sha256: &str) -> StoreResult<bool> {
        let records = records.join(",");
        self.changed(
            "UPDATE requisitions SET delivered_at = $1, delivered_records = $2, package_sha256 = $3 \
             WHERE id = $4 AND status = 'approved' AND delivered_at IS NULL",
            vec![Param::Number(at), Param::Text(&records), Param::Text(sha256), Param::Text(id)],
        )
        .await
    }

    /// The authority's attestation, once, after delivery.
    pub async fn attest(&mut self, id: &str, at: i64, attestation: &str, basis: &str) -> StoreResult<bool> {
        self.changed(
            "UPDATE requisitions SET attested_at = $1, attestation = $2, attestation_basis = $3 \
             WHERE id = $4 AND delivered_at IS NOT NULL AND attested_at IS NULL",
            vec![Param::Number(at), Param::Text(attestation), Param::Text(basis), Param::Text(id)],
        )
        .await
    }

    /// Asks to extend the non-disclosure order to `until` (replacing an extension asked for
    /// and not yet approved).
    pub async fn ask_extension(&mut self, id: &str, until: i64, at: i64) -> StoreResult<bool> {
        self.changed(
            "UPDATE requisitions SET extension_until = $1, extension_requested_at = $2, extension_approver_id = NULL \
             WHERE id = $3 AND status = 'approved' AND nondisclosure_until IS NOT NULL AND nondisclosure_until > $2",
            vec![Param::Number(until), Param::Number(at), Param::Text(id)],
        )
        .await
    }

    /// The extension's first approval.
    pub async fn approve_extension_first(&mut self, id: &str, approver: i64) -> StoreResult<bool> {
        self.changed(
            "UPDATE requisitions SET extension_approver_id = $1 WHERE id = $2 AND extension_until IS NOT NULL \
             AND extension_approver_id IS NULL AND requester_id <> $1",
            vec![Param::Number(approver), Param::Text(id)],
        )
        .await
    }

    /// The extension's second approval: the order's new end is in effect.
    pub async fn approve_extension_second(&mut self, id: &str, approver: i64) -> StoreResult<bool> {
        self.changed(
            "UPDATE requisitions SET nondisclosure_until = extension_until, extension_until = NULL, \
             extension_requested_at = NULL, extension_approver_id = NULL WHERE id = $2 \
             AND extension_until IS NOT NULL AND extension_approver_id IS NOT NULL AND extension_approver_id <> $1 \
             AND requester_id <> $1",
            vec![Param::Number(approver), Param::Text(id)],
        )
        .await
    }
}
