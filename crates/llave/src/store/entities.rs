//! Entities (government bodies) and the OpenID Connect clients of entities and of third
//! parties (`store/third_parties.rs` holds the third parties themselves).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreResult, conflict_or};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Entity {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: i64,
}

/// How long [`Store::recent_client`] answers from memory.
pub const RECENT_CLIENT: std::time::Duration = std::time::Duration::from_secs(1);

/// A client as stored; lists are JSON arrays in text columns.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub client_id: String,
    /// The entity it belongs to; `None` for a third party's client (see `third_party`).
    pub entity_id: Option<i64>,
    /// The owner's slug and name: the entity's, or the third party's slug and legal name.
    pub entity_slug: String,
    pub entity_name: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub jwks: Option<String>,
    pub allowed_claims: Vec<String>,
    pub id_token_alg: String,
    /// What its access tokens are signed with (RS256, ES256 or EdDSA).
    pub access_token_alg: String,
    pub require_par: bool,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    /// The third party it belongs to, for a third party's client.
    pub third_party: Option<ThirdPartyClient>,
    /// Held to the FAPI 2.0 Security Profile (every third party's client is).
    pub fapi: bool,
}

/// What makes a client a third party's (migration 0020).
#[derive(Debug, Clone)]
pub struct ThirdPartyClient {
    pub third_party_id: i64,
    /// Where the third party is told of changes to what a person allowed it.
    pub notify_uri: Option<String>,
    /// Its authorization requests must be signed request objects (RFC 9101, FAPI 2.0
    /// Message Signing).
    pub require_jar: bool,
}

impl ClientRecord {
    /// The sector its pairwise subjects are computed in: the entity's slug, or the third
    /// party's under a prefix no entity slug can have (slugs have no `:`), so a third party
    /// named like an entity still sees other identifiers.
    pub fn sector(&self) -> String {
        match &self.third_party {
            Some(_) => format!("third-party:{}", self.entity_slug),
            None => self.entity_slug.clone(),
        }
    }
}

fn entity_from_row(row: &AnyRow) -> Result<Entity, sqlx::Error> {
    Ok(Entity {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

fn list(row: &AnyRow, column: &str) -> Result<Vec<String>, sqlx::Error> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn client_from_row(row: &AnyRow) -> Result<ClientRecord, sqlx::Error> {
    Ok(ClientRecord {
        client_id: row.try_get("client_id")?,
        entity_id: row.try_get("entity_id")?,
        entity_slug: row.try_get("slug")?,
        entity_name: row.try_get("entity_name")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        auth_method: row.try_get("auth_method")?,
        redirect_uris: list(row, "redirect_uris")?,
        post_logout_redirect_uris: list(row, "post_logout_redirect_uris")?,
        backchannel_logout_uri: row.try_get("backchannel_logout_uri")?,
        jwks: row.try_get("jwks")?,
        allowed_claims: list(row, "allowed_claims")?,
        id_token_alg: row.try_get("id_token_alg")?,
        access_token_alg: row.try_get("access_token_alg")?,
        require_par: row.try_get::<i64, _>("require_par")? != 0,
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
        third_party: match row.try_get::<Option<i64>, _>("third_party_id")? {
            Some(third_party_id) => Some(ThirdPartyClient {
                third_party_id,
                notify_uri: row.try_get("notify_uri")?,
                require_jar: row.try_get::<i64, _>("require_jar")? != 0,
            }),
            None => None,
        },
        fapi: row.try_get::<i64, _>("fapi")? != 0,
    })
}

macro_rules! select_client {
    ($condition:literal) => {
        concat!(
            "SELECT c.client_id, c.entity_id, COALESCE(e.slug, t.slug) AS slug, ",
            "COALESCE(e.name, t.legal_name) AS entity_name, c.name, c.secret_hash, ",
            "c.auth_method, c.redirect_uris, c.post_logout_redirect_uris, c.backchannel_logout_uri, ",
            "c.jwks, c.allowed_claims, c.id_token_alg, c.access_token_alg, c.require_par, c.created_at, c.disabled_at, ",
            "c.third_party_id, c.notify_uri, c.require_jar, c.fapi ",
            "FROM clients c LEFT JOIN entities e ON e.id = c.entity_id ",
            "LEFT JOIN third_parties t ON t.id = c.third_party_id ",
            $condition
        )
    };
}

fn json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

impl Store {
    pub async fn entity_by_slug(&self, slug: &str) -> StoreResult<Option<Entity>> {
        let row = sqlx::query("SELECT id, slug, name, created_at FROM entities WHERE slug = $1")
            .bind(slug)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(entity_from_row).transpose()?)
    }

    /// An entity by its id; from memory after the first read (an entity's row is written
    /// once and never changed or deleted).
    pub async fn entity_by_id(&self, id: i64) -> StoreResult<Option<Entity>> {
        if let Ok(known) = self.wiring.entities.read()
            && let Some(entity) = known.get(&id)
        {
            return Ok(Some(entity.clone()));
        }
        let row = sqlx::query("SELECT id, slug, name, created_at FROM entities WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let entity = row.as_ref().map(entity_from_row).transpose()?;
        if let (Some(entity), Ok(mut known)) = (&entity, self.wiring.entities.write()) {
            known.insert(id, entity.clone());
        }
        Ok(entity)
    }

    pub async fn list_entities(&self) -> StoreResult<Vec<Entity>> {
        let rows =
            sqlx::query("SELECT id, slug, name, created_at FROM entities ORDER BY slug").fetch_all(self.pool()).await?;
        Ok(rows.iter().map(entity_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn client_by_id(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let row =
            sqlx::query(select_client!("WHERE c.client_id = $1")).bind(client_id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(client_from_row).transpose()?)
    }

    /// A client as read at most [`RECENT_CLIENT`] ago by this process (the entity API asks
    /// on every request; a change made by this process is seen at once, one made by another
    /// node within that time). Whether the client is disabled is never taken from here:
    /// the access token's check reads it from the database (`access_token_grant`).
    pub async fn recent_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        if let Ok(recent) = self.wiring.clients.read()
            && let Some((read_at, client)) = recent.get(client_id)
            && read_at.elapsed() < RECENT_CLIENT
        {
            return Ok(Some(client.clone()));
        }
        let read_at = std::time::Instant::now();
        let client = self.client_by_id(client_id).await?;
        if let (Some(client), Ok(mut recent)) = (&client, self.wiring.clients.write()) {
            if recent.len() >= 10_000 {
                recent.retain(|_, (at, _)| at.elapsed() < RECENT_CLIENT);
            }
            recent.insert(client_id.to_string(), (read_at, client.clone()));
        }
        Ok(client)
    }

    pub async fn list_clients(&self, entity_slug: Option<&str>) -> StoreResult<Vec<ClientRecord>> {
        let rows = sqlx::query(select_client!(
            "WHERE $1 = '' OR e.slug = $1 OR t.slug = $1 ORDER BY COALESCE(e.slug, t.slug), c.name, c.client_id"
        ))
        .bind(entity_slug.unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(client_from_row).collect::<Result<_, _>>()?)
    }
}

/// Registrations and their changes, in the act that records them (`entity_registered`,
/// `client_registered`, `client_changed`, `client_disabled`).
impl super::Tx {
    pub async fn create_entity(&mut self, slug: &str, name: &str, now: i64) -> StoreResult<Entity> {
        let row = sqlx::query("INSERT INTO entities (slug, name, created_at) VALUES ($1, $2, $3) RETURNING id")
            .bind(slug)
            .bind(name)
            .bind(now)
            .fetch_one(self.conn())
            .await
            .map_err(|e| conflict_or(e, |_| "slug"))?;
        Ok(Entity { id: row.try_get("id")?, slug: slug.into(), name: name.into(), created_at: now })
    }

    pub async fn create_client(&mut self, client: &ClientRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO clients (client_id, entity_id, name, secret_hash, auth_method, redirect_uris, \
             post_logout_redirect_uris, backchannel_logout_uri, jwks, allowed_claims, id_token_alg, \
             access_token_alg, require_par, created_at, third_party_id, notify_uri, require_jar, fapi) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(&client.client_id)
        .bind(client.entity_id)
        .bind(&client.name)
        .bind(client.secret_hash.as_deref())
        .bind(&client.auth_method)
        .bind(json(&client.redirect_uris))
        .bind(json(&client.post_logout_redirect_uris))
        .bind(client.backchannel_logout_uri.as_deref())
        .bind(client.jwks.as_deref())
        .bind(json(&client.allowed_claims))
        .bind(&client.id_token_alg)
        .bind(&client.access_token_alg)
        .bind(i64::from(client.require_par))
        .bind(client.created_at)
        .bind(client.third_party.as_ref().map(|t| t.third_party_id))
        .bind(client.third_party.as_ref().and_then(|t| t.notify_uri.as_deref()))
        .bind(i64::from(client.third_party.as_ref().is_some_and(|t| t.require_jar)))
        .bind(i64::from(client.fapi))
        .execute(self.conn())
        .await
        .map_err(|e| conflict_or(e, |_| "client_id"))?;
        Ok(())
    }

    /// Replaces a client's redirect URIs (the demo sites' clients follow the issuer).
    pub async fn set_client_redirect_uris(&mut self, client_id: &str, redirect_uris: &[String]) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE clients SET redirect_uris = $1 WHERE client_id = $2")
            .bind(json(redirect_uris))
            .bind(client_id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a third party's client's notify URI (the demo bank's follows the issuer).
    pub async fn set_client_notify_uri(&mut self, client_id: &str, notify_uri: Option<&str>) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE clients SET notify_uri = $1 WHERE client_id = $2")
            .bind(notify_uri)
            .bind(client_id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a client's JWKS (the demo bank's follows the key kept among the secrets).
    pub async fn set_client_jwks(&mut self, client_id: &str, jwks: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE clients SET jwks = $1 WHERE client_id = $2")
            .bind(jwks)
            .bind(client_id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn disable_client(&mut self, client_id: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE clients SET disabled_at = $1 WHERE client_id = $2 AND disabled_at IS NULL")
            .bind(now)
            .bind(client_id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
