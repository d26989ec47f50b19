//! ARCO requests (access, rectification, cancellation, opposition; LGPDPPSO arts. 43–52) a
//! person files about a record, and the holding entity's answers.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreResult};

/// A request as stored, with the kind of the record it is about.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArcoRequest {
    pub id: String,
    pub account_id: i64,
    pub record_id: Option<String>,
    /// The record's kind (empty if the request names no record).
    pub kind: String,
    pub entity_id: i64,
    /// `access`, `rectification`, `cancellation` or `opposition`.
    pub right: String,
    pub message: String,
    pub filed_at: i64,
    /// `YYYY-MM-DD`, the last business day to answer.
    pub due_date: String,
    /// `pending`, `answered` or `rejected`.
    pub status: String,
    pub answer: Option<String>,
    pub answered_at: Option<i64>,
    pub answered_by: Option<String>,
}

fn arco_request(row: &AnyRow) -> Result<ArcoRequest, sqlx::Error> {
    Ok(ArcoRequest {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        record_id: row.try_get("record_id")?,
        kind: row.try_get::<Option<String>, _>("kind")?.unwrap_or_default(),
        entity_id: row.try_get("entity_id")?,
        right: row.try_get("arco_right")?,
        message: row.try_get("message")?,
        filed_at: row.try_get("filed_at")?,
        due_date: row.try_get("due_date")?,
        status: row.try_get("status")?,
        answer: row.try_get("answer")?,
        answered_at: row.try_get("answered_at")?,
        answered_by: row.try_get("answered_by")?,
    })
}

const SELECT: &str = "SELECT a.id, a.account_id, a.record_id, r.kind, a.entity_id, a.arco_right, a.message, \
                      a.filed_at, a.due_date, a.status, a.answer, a.answered_at, a.answered_by \
                      FROM arco_requests a LEFT JOIN record_index r ON r.record_id = a.record_id ";

impl Store {
    pub async fn add_arco_request(&self, r: &ArcoRequest) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO arco_requests (id, account_id, record_id, entity_id, arco_right, message, filed_at, due_date, \
             status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&r.id)
        .bind(r.account_id)
        .bind(r.record_id.as_deref())
        .bind(r.entity_id)
        .bind(&r.right)
        .bind(&r.message)
        .bind(r.filed_at)
        .bind(&r.due_date)
        .bind(&r.status)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn arco_request(&self, id: &str) -> StoreResult<Option<ArcoRequest>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE a.id = $1")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(arco_request).transpose()?)
    }

    /// A person's requests, newest first.
    pub async fn arco_requests_of(&self, account_id: i64) -> StoreResult<Vec<ArcoRequest>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE a.account_id = $1 ORDER BY a.filed_at DESC, a.id"
        )))
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(arco_request).collect::<Result<_, _>>()?)
    }

    /// An entity's queue: requests about its records, the nearest deadline first; only
    /// those with `status` when given.
    pub async fn arco_requests_for_entity(
        &self,
        entity_id: i64,
        status: Option<&str>,
    ) -> StoreResult<Vec<ArcoRequest>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE a.entity_id = $1 AND ($2 = '' OR a.status = $2) ORDER BY a.due_date, a.filed_at, a.id"
        )))
        .bind(entity_id)
        .bind(status.unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(arco_request).collect::<Result<_, _>>()?)
    }

    /// Answers a pending request of the entity; false if it is not pending (or not theirs).
    pub async fn answer_arco_request(
        &self,
        id: &str,
        entity_id: i64,
        status: &str,
        answer: &str,
        answered_by: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE arco_requests SET status = $1, answer = $2, answered_at = $3, answered_by = $4 \
             WHERE id = $5 AND entity_id = $6 AND status = 'pending'",
        )
        .bind(status)
        .bind(answer)
        .bind(now)
        .bind(answered_by)
        .bind(id)
        .bind(entity_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
