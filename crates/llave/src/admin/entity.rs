//! `llave entity add|list`, `llave client add|list|show|disable`, `llave keys rotate`.

use serde::Serialize;

use crate::oidc::clients::{self, NewClient, Registered};
use crate::store::entities::{ClientRecord, Entity};
use crate::store::{Event, EventKind, Store, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("an entity with the slug {0:?} already exists")]
    EntityExists(String),
    #[error("no client has the id {0:?}")]
    UnknownClient(String),
    #[error(transparent)]
    Client(#[from] clients::ClientError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An entity's slug: lower-case letters, digits and hyphens, 2 to 40 characters.
pub fn check_slug(slug: &str) -> Result<(), AdminError> {
    if crate::store::valid_slug(slug) {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!("invalid slug {slug:?}: use 2-40 lower-case letters, digits and hyphens")))
    }
}

/// Adds an entity and creates its own record store (a PostgreSQL schema or a SQLite file)
/// with its data key.
pub async fn add_entity(app: &crate::Services, slug: &str, name: &str) -> Result<Entity, AdminError> {
    add_entity_with_store(app, slug, name, None).await
}

/// `llave entity add … --store postgres://…`: the entity's records on a PostgreSQL server of
/// its own (a schema `llave_entity_<slug>` there), reached before the entity is registered.
pub async fn add_entity_with_store(
    app: &crate::Services,
    slug: &str,
    name: &str,
    store: Option<&str>,
) -> Result<Entity, AdminError> {
    check_slug(slug)?;
    if let Some(url) = store {
        reachable_store(url).await?;
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AdminError::Invalid("--name must have 1 to 200 characters".into()));
    }
    // Where its store will be, checked first (a PostgreSQL schema name has a length limit).
    crate::records::spoke::location_for(&app.store, slug).await?;
    // One act: the entity and `entity_registered`. Its store is made after the commit (a
    // schema or a file, outside the hub's transaction); `provision` is idempotent, and an
    // entity whose store a crash left unmade gets it at its first use.
    let registered = app
        .store
        .act("entity_registered", async |tx: &mut Tx| {
            let now = tx.at();
            let entity = tx.create_entity(slug, name, now).await?;
            tx.event(Event::system(EventKind::EntityRegistered, None, "cli", &format!("entity={slug}")));
            Ok::<_, StoreError>(entity)
        })
        .await;
    let entity = match registered {
        Ok(entity) => entity,
        Err(StoreError::Conflict(_)) => return Err(AdminError::EntityExists(slug.to_string())),
        Err(error) => return Err(error.into()),
    };
    crate::records::provision_at(app, &entity, store).await?;
    Ok(entity)
}

/// A `--store` URL: PostgreSQL, and answering now.
async fn reachable_store(url: &str) -> Result<(), AdminError> {
    if !crate::records::spoke::is_server_url(url) {
        return Err(AdminError::Invalid("--store must be a postgres:// URL (a PostgreSQL server)".into()));
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url)
        .await
        .map_err(|e| AdminError::Invalid(format!("the store's PostgreSQL server does not answer: {e}")))?;
    pool.close().await;
    Ok(())
}

/// What `llave entity set-store` did.
#[derive(Debug, Serialize)]
pub struct StoreMoved {
    pub entity: String,
    /// Records (versions) found in the new store.
    pub records: i64,
}

/// `llave entity set-store SLUG URL`: the entity's records are now read and written at `url`,
/// a PostgreSQL server of its own. Refused while the new store holds fewer records than the
/// current one (copy them first: the contents are sealed with the entity's data key, so a
/// copy of the table is all that moves). Running servers pick the new location up when
/// restarted.
pub async fn set_entity_store(app: &crate::Services, slug: &str, url: &str) -> Result<StoreMoved, AdminError> {
    reachable_store(url).await?;
    let entity = app
        .store
        .entity_by_slug(slug)
        .await?
        .ok_or_else(|| AdminError::Invalid(format!("no entity has the slug {slug:?}")))?;
    // Its store as it is, made now if it never was.
    let current = crate::records::provision(app, &entity).await?;
    let moved_to = crate::records::open_at(app, &entity, url).await?;
    let (had, has) = (current.count().await?, moved_to.count().await?);
    moved_to.close(app.store.backend()).await;
    if has < had {
        return Err(AdminError::Invalid(format!(
            "the store at the new URL holds {has} record versions and the current one {had}: copy the current \
             store's records table there first (e.g. pg_dump --schema of its schema, restored as schema \
             llave_entity_{}), then run set-store again",
            slug.replace('-', "_")
        )));
    }
    app.store
        .act("entity_store_moved", async |tx: &mut Tx| {
            if !tx.move_entity_store(entity.id, url).await? {
                return Err(StoreError::Data(format!("the entity {slug} has no store")));
            }
            tx.event(Event::system(EventKind::EntityStoreMoved, None, "cli", &format!("entity={slug}")));
            Ok::<_, StoreError>(())
        })
        .await?;
    app.spokes.forget(entity.id, app.store.backend()).await;
    Ok(StoreMoved { entity: slug.to_string(), records: has })
}

/// What `client list|show --json` prints (never the secret or its hash).
#[derive(Debug, Serialize)]
pub struct ClientView {
    pub client_id: String,
    /// The owner's slug: the entity's, or the third party's (then `third_party` is true).
    pub entity: String,
    pub third_party: bool,
    pub name: String,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub allowed_claims: Vec<String>,
    pub id_token_signed_response_alg: String,
    pub access_token_signed_response_alg: String,
    pub require_pushed_authorization_requests: bool,
    pub require_signed_request_object: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_uri: Option<String>,
    /// Held to the FAPI 2.0 Security Profile.
    pub fapi: bool,
    pub created_at: i64,
    pub disabled: bool,
}

impl From<&ClientRecord> for ClientView {
    fn from(c: &ClientRecord) -> ClientView {
        ClientView {
            client_id: c.client_id.clone(),
            entity: c.entity_slug.clone(),
            third_party: c.third_party.is_some(),
            name: c.name.clone(),
            token_endpoint_auth_method: c.auth_method.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            allowed_claims: c.allowed_claims.clone(),
            id_token_signed_response_alg: c.id_token_alg.clone(),
            access_token_signed_response_alg: c.access_token_alg.clone(),
            require_pushed_authorization_requests: c.require_par,
            require_signed_request_object: c.third_party.as_ref().is_some_and(|t| t.require_jar),
            notify_uri: c.third_party.as_ref().and_then(|t| t.notify_uri.clone()),
            fapi: c.fapi,
            created_at: c.created_at,
            disabled: c.disabled_at.is_some(),
        }
    }
}

impl ClientView {
    pub fn to_text(&self) -> String {
        format!(
            "{}  {} / {}  auth={} redirect_uris={}{}\n",
            self.client_id,
            self.entity,
            self.name,
            self.token_endpoint_auth_method,
            self.redirect_uris.join(","),
            if self.disabled { "  (disabled)" } else { "" }
        )
    }
}

pub async fn add_client(store: &Store, new: &NewClient) -> Result<Registered, AdminError> {
    Ok(clients::register(store, new).await?)
}

pub async fn show_client(store: &Store, client_id: &str) -> Result<ClientView, AdminError> {
    let client =
        store.client_by_id(client_id).await?.ok_or_else(|| AdminError::UnknownClient(client_id.to_string()))?;
    Ok(ClientView::from(&client))
}

/// Disables a client (`llave client disable`), as one act with `client_disabled`.
pub async fn disable_client(store: &Store, client_id: &str) -> Result<ClientView, AdminError> {
    store
        .act("client_disabled", async |tx: &mut Tx| {
            let now = tx.at();
            if tx.disable_client(client_id, now).await? {
                tx.event(Event::system(EventKind::ClientDisabled, None, "cli", &format!("client={client_id}")));
            }
            Ok::<_, StoreError>(())
        })
        .await?;
    show_client(store, client_id).await
}
