//! llave: a citizen identity hub for city governments. This crate wires the capabilities
//! (accounts today; single sign-on, assurance, catalog, signatures, exchange, citizen file
//! and audit as they come) to shared infrastructure (configuration, storage, web plumbing,
//! i18n, mail) and builds the HTTP application from a [`Config`].

pub mod account_page;
pub mod accounts;
pub mod admin;
pub mod app;
pub mod assurance;
pub mod audit;
pub mod calendar;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod consent;
pub mod crypto;
pub mod demo_sites;
pub mod hsm;
pub mod i18n;
pub mod keys;
pub mod keystore;
pub mod mail;
pub mod metrics;
pub mod oidc;
pub mod outbox;
pub mod reactions;
pub mod records;
pub mod registry;
pub mod requisitions;
pub mod signature;
pub mod store;
pub mod third_parties;
pub mod web;
pub mod witness;

use std::future::IntoFuture;
use std::ops::Deref;
use std::sync::Arc;

pub use config::Config;
use store::Store;

/// Everything a request handler may use, shared by all requests.
pub struct Services {
    pub config: Config,
    pub store: Store,
    pub mailer: Box<dyn mail::Mailer>,
    pub registry: Option<Box<dyn registry::PopulationRegistry>>,
    pub passwords: accounts::password::Passwords,
    pub csrf_key: Vec<u8>,
    /// Key of the pairwise subject identifiers (shared by every node).
    pub subject_key: Vec<u8>,
    pub keys: keys::Keys,
    /// The published catalog and its search index.
    pub catalog: catalog::Cache,
    /// Outgoing HTTP (back-channel logout, verification providers).
    pub http: reqwest::Client,
    /// Seals secrets at rest under the key-encryption key.
    pub keystore: keystore::KeyStore,
    /// The WebAuthn relying party; `None` when the issuer's host is an IP address.
    pub webauthn: Option<webauthn_rs::Webauthn>,
    /// The remote identity verification provider, if one is configured.
    pub verifier: Option<assurance::remote::Provider>,
    /// The reference verification provider, when it is served.
    pub reference: Option<assurance::reference::Reference>,
    /// The PKCS#11 token holding the CA keys, when one is configured.
    pub hsm: Option<Arc<hsm::Hsm>>,
    /// The entities' own record stores, opened on first use.
    pub spokes: records::Spokes,
    /// The tamper-evident audit log: its signing key, pseudonym secret and origin.
    pub audit: audit::Log,
    /// The injectable clock the requisition rules read (tests advance it).
    pub clock: clock::Clock,
    /// What sign-in asks after a right password: assurance's second factor.
    pub second_step: accounts::SecondStep,
}

#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

impl Services {
    /// Cookies are `Secure` and `__Host-` prefixed when people reach llave over https.
    pub fn cookie_policy(&self) -> web::cookies::CookiePolicy {
        web::cookies::CookiePolicy { secure: self.config.issuer().starts_with("https://") }
    }

    /// Serve the development outbox page: development mode is on (`--dev`, which start-up
    /// allows only on a loopback listen address) and mail goes to files. The issuer's text
    /// decides nothing: anyone can choose an issuer that looks local.
    pub fn dev_outbox_enabled(&self) -> bool {
        self.config.dev.enabled && self.config.mail.smtp_url.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error(
        "no llave data at {0}: run `llave init` to create it there, or point --data-dir (LLAVE_DATA_DIR) or \
         --database at an existing installation"
    )]
    NoData(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    #[error(transparent)]
    Mail(#[from] mail::MailError),
    #[error(transparent)]
    Password(#[from] accounts::password::HashError),
    #[error("time_zone: {0}")]
    TimeZone(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    #[error(transparent)]
    KeyStore(#[from] keystore::KeyStoreError),
    #[error("the PKCS#11 token cannot be used: {0}")]
    Hsm(#[from] hsm::HsmError),
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
}

/// Connects to the database, applies migrations and assembles the services.
pub async fn start(config: Config) -> Result<AppState, StartError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
    let store = connect(&config).await?;
    store.migrate().await?;
    assemble(config, store).await
}

/// For the commands that work on an existing installation: like `start`, but the data
/// directory (and its SQLite database, when the data is there) must already exist; nothing
/// is created where the command happens to run. `llave init`, `demo`, `migrate` and
/// `serve` are the ones that may make a data directory.
pub async fn open(config: Config) -> Result<AppState, StartError> {
    let shown = |path: &std::path::Path| std::path::absolute(path).unwrap_or(path.to_path_buf()).display().to_string();
    if !config.data_dir.is_dir() {
        return Err(StartError::NoData(shown(&config.data_dir)));
    }
    if let Some(file) = sqlite_file(&config.database_url())
        && !file.is_file()
    {
        return Err(StartError::NoData(shown(&file)));
    }
    let store = connect(&config).await?;
    store.migrate().await?;
    assemble(config, store).await
}

/// The database, with its read replica when one is configured.
async fn connect(config: &Config) -> Result<Store, StartError> {
    let mut store = Store::connect(&config.database_url()).await?;
    if let Some(replica) = &config.database_replica {
        store.attach_replica(replica)?;
    }
    Ok(store)
}

/// The file of a `sqlite://PATH` database URL (not an in-memory one).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// Assembles the services over an already migrated store, with the audit log's sequencer
/// running in the background (as `serve` runs it).
pub async fn services(config: Config, store: Store) -> Result<AppState, StartError> {
    let state = assemble(config, store).await?;
    audit::sequencer::spawn(&state);
    Ok(state)
}

/// The services without the audit log's background sequencer: one-shot commands bring the
/// log up to date themselves when they need it (`llave audit prove`), and leave it to the
/// servers otherwise.
/// The services without the background sequencer: for one-shot commands and for tests that
/// run the sequencer themselves, step by step.
pub async fn assemble(config: Config, store: Store) -> Result<AppState, StartError> {
    calendar::set_time_zone(calendar::time_zone(&config.time_zone).map_err(StartError::TimeZone)?);
    let mailer: Box<dyn mail::Mailer> = match &config.mail.smtp_url {
        Some(url) => Box::new(mail::SmtpMailer::new(url, &config.mail.from)?),
        None => Box::new(
            mail::FileMailer::new(config.outbox_dir(), &config.mail.from)
                .map_err(|e| StartError::DataDir(config.outbox_dir().display().to_string(), e))?,
        ),
    };
    let registry = config.registry.as_deref().map(registry::open).transpose()?;
    let passwords = accounts::password::Passwords::new(&config.password)?;
    install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| StartError::Http(e.to_string()))?;
    // Before anything is made in the database: a node without the cluster's KEK stops here.
    let keystore = keystore::KeyStore::open_shared(&config.kek_file(), &store).await?;
    let csrf_key = store.server_secret("csrf_key", &crypto::random_token(), crypto::now()).await?;
    let subject_key = store.server_secret("subject_key", &crypto::random_token(), crypto::now()).await?;
    let webauthn = assurance::passkeys::relying_party(&config.issuer());
    let reference = if config.assurance.reference_provider {
        Some(assurance::reference::Reference::start(&store, &config.issuer()).await?)
    } else {
        None
    };
    let verifier = assurance::remote::Provider::configured(&config, reference.as_ref());
    store.set_reactor(Arc::new(reactions::Reactions));
    let hsm = config.signature.pkcs11.as_ref().map(hsm::Hsm::open).transpose()?.map(Arc::new);
    let audit = audit::Log::open(&config, &store, hsm.as_ref()).await?;
    let state = AppState(Arc::new(Services {
        config,
        store,
        mailer,
        registry,
        passwords,
        csrf_key: csrf_key.into_bytes(),
        subject_key: subject_key.into_bytes(),
        keys: keys::Keys::default(),
        catalog: catalog::Cache::default(),
        http,
        keystore,
        webauthn,
        verifier,
        reference,
        hsm,
        spokes: records::Spokes::default(),
        audit,
        clock: clock::Clock::system(),
        second_step: |app, account, next| Box::pin(assurance::security::second_step(app, account, next)),
    }));
    outbox::spawn_worker(&state);
    Ok(state)
}

/// rustls needs one process-wide crypto provider; llave uses `ring` everywhere.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Runs the HTTP server (and the metrics listener, when `metrics_listen` is set) until
/// SIGINT or SIGTERM; then stops accepting connections, lets the requests in flight finish
/// for up to `shutdown_timeout` seconds, and returns.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let listen = config.listen;
    let metrics_listen = config.metrics_listen;
    let grace = std::time::Duration::from_secs(config.shutdown_timeout.clamp(1, 3600) as u64);
    let app = start(config).await?;
    let bind = |address: std::net::SocketAddr| async move {
        tokio::net::TcpListener::bind(address).await.map_err(|e| ServeError::Bind(address.to_string(), e))
    };
    let listener = bind(listen).await?;
    let metrics_listener = match metrics_listen {
        Some(address) => Some(bind(address).await?),
        None => None,
    };
    let url = app.config.issuer();
    println!("llave is running: open {url}/ in your browser");
    if app.config.dev.enabled {
        println!("development mode: e-mails at {url}/dev/outbox, the demo sites under {url}/demo/");
    }
    tracing::info!(%listen, database = app.store.backend().name(), "llave listening");
    let router = app::router(app.clone());
    audit::sequencer::spawn(&app);
    let janitor = tokio::spawn(purge_periodically(app.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let metrics = metrics_listener.map(|listener| {
        tracing::info!(listen = %metrics_listen.map(|a| a.to_string()).unwrap_or_default(), "metrics listening");
        let server = axum::serve(listener, web::metrics::router(app.clone()))
            .with_graceful_shutdown(until_stopped(stopped.clone()));
        tokio::spawn(server.into_future())
    });
    let server = axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(until_stopped(stopped.clone()));
    let mut server = tokio::spawn(server.into_future());
    let ended = tokio::select! {
        () = shutdown_signal() => None,
        ended = &mut server => Some(ended),
    };
    let _ = stop.send(true);
    let result = match ended {
        // The server ended by itself: an error of its listener.
        Some(ended) => {
            ended.map_err(|e| ServeError::Io(std::io::Error::other(e))).and_then(|r| r.map_err(ServeError::Io))
        }
        None => {
            tracing::info!(
                limit_seconds = grace.as_secs(),
                "stopping: no new connections, finishing requests in flight"
            );
            match tokio::time::timeout(grace, &mut server).await {
                Ok(_) => tracing::info!("every request in flight finished"),
                Err(_) => {
                    tracing::warn!(limit_seconds = grace.as_secs(), "requests still in flight at the limit; exiting");
                    server.abort();
                }
            }
            Ok(())
        }
    };
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    janitor.abort();
    app.spokes.close(app.store.backend()).await;
    app.store.close().await;
    result
}

/// How often `serve` deletes what has expired.
pub const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

async fn purge_periodically(app: AppState) {
    let node = crypto::random_id();
    let mut tick = tokio::time::interval(PURGE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match purge_if_due(&app, &node, crypto::now()).await {
            Ok(Some(purged)) => {
                let total: u64 = purged.iter().map(|(_, n)| n).sum();
                tracing::debug!(total, ?purged, "expired rows deleted");
            }
            Ok(None) => tracing::debug!("another node purged this round"),
            Err(error) => tracing::warn!(%error, "cannot delete expired rows"),
        }
    }
}

/// The purge, by node `node`, if no node of the cluster purged in the last round: every
/// node ticks every [`PURGE_EVERY`], and the first whose tick finds the lease ended takes it
/// for a little less than a round. `None` when another node holds it.
pub async fn purge_if_due(
    app: &Services,
    node: &str,
    now: i64,
) -> Result<Option<Vec<(&'static str, u64)>>, store::StoreError> {
    let lease = PURGE_EVERY.as_secs() as i64 - 60;
    if !app.store.take_job_lease("purge", node, now, now + lease).await? {
        return Ok(None);
    }
    app.store.purge_expired(now, app.config.throttle.window_minutes * 60).await.map(Some)
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error(transparent)]
    Io(std::io::Error),
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
