//! The demo's two entity sites, served by llave itself under `/demo/{slug}/` so that
//! `llave demo` shows the hub-and-spoke story in a browser: the Alcaldía Cuauhtémoc issues a
//! proof of residence (a record in its own store); Semovi, asked for a driver's licence,
//! asks at sign-in to reuse it, the person consents on llave's page, Semovi looks it up and
//! reads it once through the hub, and the read is in the person's access log.
//!
//! Each site behaves like an outside one: a confidential OpenID Connect relying party and
//! records-API client that talks to llave over HTTP (`rp`), with its own signed cookies
//! and CSRF token (`session`), and plain pages in Spanish (`pages`: they are the entities'
//! pages, not llave's, so they do not go through the message files). A site exists only
//! in development mode (`llave serve --dev`) where `llave demo` registered its client;
//! anywhere else `/demo/…` is a 404.
//!
//! Beside them, a bank (`bank`, at `/demo/banco/`): not an entity but a third party
//! outside government, a FAPI 2.0 client that opens an account with the person's consent.

pub mod bank;
mod pages;
mod rp;
mod session;

use crate::Services;
use crate::crypto::{now, random_token};
use crate::oidc::clients::{register_in, secret_hash};
use crate::store::entities::ClientRecord;
use crate::store::{Event, EventKind, StoreError, StoreResult, Tx};

pub use pages::routes;

/// One demo site: the entity it belongs to and what it offers.
#[derive(Debug)]
pub struct Site {
    /// The entity's slug, also the site's path: `/demo/{slug}/`.
    pub slug: &'static str,
    pub entity_name: &'static str,
    /// The client's name, shown on llave's consent page.
    pub client_name: &'static str,
}

/// Entity B: issues proofs of residence.
pub const ALCALDIA: Site = Site {
    slug: "alcaldia-cuauhtemoc",
    entity_name: "Alcaldía Cuauhtémoc",
    client_name: "Trámites en línea de la Alcaldía Cuauhtémoc",
};

/// Entity A: issues driver's licences, reusing the proof of residence B holds.
pub const SEMOVI: Site =
    Site { slug: "semovi", entity_name: "Secretaría de Movilidad", client_name: "Licencias en línea de Semovi" };

pub const SITES: [&Site; 2] = [&ALCALDIA, &SEMOVI];

/// The procedure each site runs, and what it reuses: `constancia-de-residencia` issues a
/// `proof_of_residence`; `licencia-de-conducir` lists one among its requirements.
pub const RESIDENCE_PROCEDURE: &str = "constancia-de-residencia";
pub const LICENCE_PROCEDURE: &str = "licencia-de-conducir";
pub const RESIDENCE_KIND: &str = "proof_of_residence";

impl Site {
    fn by_slug(slug: &str) -> Option<&'static Site> {
        SITES.into_iter().find(|s| s.slug == slug)
    }

    /// Fixed, so a second `llave demo` finds the client again.
    pub fn client_id(&self) -> String {
        format!("demo-{}", self.slug)
    }

    fn secret_name(&self) -> String {
        format!("demo_site_secret:{}", self.slug)
    }

    pub fn url(&self, issuer: &str) -> String {
        format!("{issuer}/demo/{}/", self.slug)
    }

    pub fn redirect_uri(&self, issuer: &str) -> String {
        format!("{issuer}/demo/{}/callback", self.slug)
    }
}

/// Registers the demo sites' clients, or brings them up to date (the redirect URI follows
/// the issuer): `llave demo` calls it. Each client's secret is kept among the server's
/// secrets, where the site finds it. Answers each site with its address.
pub async fn register(app: &Services) -> StoreResult<Vec<(&'static Site, String)>> {
    let issuer = app.config.issuer();
    let mut urls = Vec::new();
    for site in SITES {
        let secret = app.store.server_secret(&site.secret_name(), &random_token(), now()).await?;
        let redirect_uris = vec![site.redirect_uri(&issuer)];
        match app.store.client_by_id(&site.client_id()).await? {
            Some(client) if client.redirect_uris != redirect_uris => {
                app.store
                    .act("client_changed", async |tx: &mut Tx| {
                        if tx.set_client_redirect_uris(&client.client_id, &redirect_uris).await? {
                            let detail = format!("client={} redirect_uris", client.client_id);
                            tx.event(Event::system(EventKind::ClientChanged, None, "demo", &detail));
                        }
                        Ok::<_, StoreError>(())
                    })
                    .await?;
            }
            Some(_) => {}
            None => {
                let entity = app.store.entity_by_slug(site.slug).await?.ok_or_else(|| {
                    crate::store::StoreError::Data(format!("the demo entity {} is missing", site.slug))
                })?;
                let record = ClientRecord {
                    client_id: site.client_id(),
                    entity_id: Some(entity.id),
                    entity_slug: entity.slug.clone(),
                    entity_name: entity.name.clone(),
                    name: site.client_name.to_string(),
                    secret_hash: Some(secret_hash(&secret)),
                    auth_method: "client_secret_basic".into(),
                    redirect_uris,
                    post_logout_redirect_uris: Vec::new(),
                    backchannel_logout_uri: None,
                    jwks: None,
                    allowed_claims: Vec::new(),
                    id_token_alg: "RS256".into(),
                    access_token_alg: "RS256".into(),
                    require_par: false,
                    created_at: now(),
                    disabled_at: None,
                    third_party: None,
                    fapi: false,
                };
                app.store.act("client_registered", async |tx: &mut Tx| register_in(tx, &record, "demo").await).await?;
            }
        }
        urls.push((site, site.url(&issuer)));
    }
    Ok(urls)
}

/// A site that can serve: its client is registered and enabled.
pub(crate) struct Live {
    pub site: &'static Site,
    pub client_id: String,
    pub secret: String,
    pub issuer: String,
    /// Signs the site's cookies.
    pub cookie_key: Vec<u8>,
}

/// The site at `/demo/{slug}/`, if `llave demo` made it.
pub(crate) async fn live(app: &Services, slug: &str) -> StoreResult<Option<Live>> {
    let Some(site) = Site::by_slug(slug) else { return Ok(None) };
    let issuer = app.config.issuer();
    // Demo sites write into real entities' stores: only ever on a developer's machine, in
    // development mode (which start-up allows only on a loopback listen address). The
    // issuer's text decides nothing: `http://localhostx.example.gob.mx` looks local.
    if !app.config.dev.enabled {
        return Ok(None);
    }
    match app.store.client_by_id(&site.client_id()).await? {
        Some(client) if client.disabled_at.is_none() && client.redirect_uris.contains(&site.redirect_uri(&issuer)) => {}
        _ => return Ok(None),
    }
    let secret = app.store.server_secret(&site.secret_name(), &random_token(), now()).await?;
    let cookie_key = app.store.server_secret("demo_sites_cookie_key", &random_token(), now()).await?;
    Ok(Some(Live { site, client_id: site.client_id(), secret, issuer, cookie_key: cookie_key.into_bytes() }))
}
