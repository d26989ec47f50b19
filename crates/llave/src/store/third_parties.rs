//! Third parties: organisations outside government (banks, employers, landlords, schools)
//! that ask people for data by consent. Their clients are rows of `clients` with
//! `third_party_id` set (`store/entities.rs`).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreResult, conflict_or};

/// A registered third party, with the purpose codes it may ask for.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ThirdParty {
    pub id: i64,
    pub slug: String,
    pub legal_name: String,
    pub tax_id: String,
    pub purposes: Vec<String>,
    pub created_at: i64,
}

fn third_party_from_row(row: &AnyRow) -> Result<ThirdParty, sqlx::Error> {
    let purposes: String = row.try_get("purposes")?;
    Ok(ThirdParty {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        legal_name: row.try_get("legal_name")?,
        tax_id: row.try_get("tax_id")?,
        purposes: serde_json::from_str(&purposes).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        created_at: row.try_get("created_at")?,
    })
}

const COLUMNS: &str = "SELECT id, slug, legal_name, tax_id, purposes, created_at FROM third_parties";

impl Store {
    pub async fn third_party_by_slug(&self, slug: &str) -> StoreResult<Option<ThirdParty>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE slug = $1")))
            .bind(slug)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(third_party_from_row).transpose()?)
    }

    pub async fn list_third_parties(&self) -> StoreResult<Vec<ThirdParty>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{COLUMNS} ORDER BY slug"))).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(third_party_from_row).collect::<Result<_, _>>()?)
    }
}

/// Registering a third party, in the act that records it (`third_party_registered`).
impl super::Tx {
    /// Inserts a third party; a taken slug is a `Conflict`.
    pub async fn create_third_party(
        &mut self,
        slug: &str,
        legal_name: &str,
        tax_id: &str,
        purposes: &[String],
        now: i64,
    ) -> StoreResult<ThirdParty> {
        let codes = serde_json::to_string(purposes).unwrap_or_else(|_| "[]".into());
        let row = sqlx::query(
            "INSERT INTO third_parties (slug, legal_name, tax_id, purposes, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(slug)
        .bind(legal_name)
        .bind(tax_id)
        .bind(&codes)
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(|e| conflict_or(e, |_| "slug"))?;
        Ok(ThirdParty {
            id: row.try_get("id")?,
            slug: slug.into(),
            legal_name: legal_name.into(),
            tax_id: tax_id.into(),
            purposes: purposes.to_vec(),
            created_at: now,
        })
    }
}
