//! Typed configuration. Sources, lowest precedence first: the defaults documented on each
//! field below, the data directory's `llave.toml` (`data_dir`), a TOML file (`--config`),
//! `LLAVE_*` environment variables (nested keys with `__`, e.g.
//! `LLAVE_SESSION__IDLE_MINUTES`), then command-line flags.

pub mod data_dir;
mod env;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds to: `IP:PORT`, an IP address (port 8080) or
    /// `localhost:PORT`. Default `127.0.0.1:8080`.
    #[serde(deserialize_with = "listen_address")]
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`. Default: `sqlite://DATA_DIR/llave.db`.
    pub database_url: Option<String>,
    /// A PostgreSQL replica (a hot standby) that answers the read-mostly requests:
    /// discovery's JWKS and the public catalog (`--database-replica`,
    /// `LLAVE_DATABASE_REPLICA`). Needs a `postgres://` database; refused with SQLite.
    /// Default none: the primary answers everything.
    pub database_replica: Option<String>,
    /// Public URL people and entities reach llave at (the OIDC issuer). Default
    /// `http://LISTEN`. Cookies are `Secure` when it is https.
    pub issuer: Option<String>,
    /// Where llave keeps its files (SQLite database, e-mail outbox). Created if missing.
    /// Default `./llave-data`.
    pub data_dir: PathBuf,
    /// Population registry: none (the CURP alone is checked), `file:PATH` (a JSON file,
    /// see docs/registry.md) or an `http(s)://` base URL of a registry web service.
    pub registry: Option<String>,
    pub mail: MailConfig,
    pub outbox: OutboxConfig,
    pub session: SessionConfig,
    pub password: PasswordConfig,
    pub throttle: ThrottleConfig,
    pub oidc: OidcConfig,
    pub assurance: AssuranceConfig,
    pub signature: SignatureConfig,
    pub records: RecordsConfig,
    pub requisitions: RequisitionsConfig,
    pub audit: AuditConfig,
    /// File holding the key-encryption key that seals secrets at rest (TOTP secrets, …).
    /// Created with 256 random bits if missing; every node needs the same file, and a
    /// backup of the database is useless without it. Default `DATA_DIR/kek.key`.
    pub kek_file: Option<PathBuf>,
    /// Take the client address from the last `X-Forwarded-For` hop. Only behind a proxy
    /// that sets it. Default false.
    pub trust_forwarded_for: bool,
    /// Largest request body accepted, in bytes. Default 64 KiB.
    pub max_body_bytes: usize,
    /// The IANA time zone the pages show times in (`LLAVE_TIME_ZONE`). Default
    /// `America/Mexico_City`; start-up refuses a name the bundled database does not know.
    pub time_zone: String,
    pub dev: DevConfig,
    /// Address of the separate listener that serves Prometheus metrics at `/metrics`
    /// (`--metrics-listen`, `LLAVE_METRICS_LISTEN`): same forms as `listen`. Default: none,
    /// no metrics are served. The main listener never serves them.
    #[serde(deserialize_with = "optional_listen_address")]
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds `serve` lets requests in flight finish after SIGTERM or SIGINT, having
    /// stopped accepting connections (`--shutdown-timeout`, `LLAVE_SHUTDOWN_TIMEOUT`); then
    /// it exits anyway. Default 20; 1 to 3600.
    pub shutdown_timeout: i64,
    /// How log lines are written to standard error: `text` (the default) or `json`, one
    /// object per line with the request's id (`--log-format`, `LLAVE_LOG_FORMAT`).
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Development mode (`llave serve --dev`): what helps someone trying llave on their own
/// machine and must never face the world.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevConfig {
    /// Serve the development outbox (`/dev/outbox`, every e-mail's links, when mail goes to
    /// files) and the demo entity sites (`/demo/`). Refused at start-up unless `listen` is
    /// a loopback address. Default false.
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// `smtp://host:port`, `smtp://host:port?tls=required` (STARTTLS) or `smtps://host:465`,
    /// with optional `user:password@`. Default: none, mail is written to `DATA_DIR/outbox/`.
    pub smtp_url: Option<String>,
    /// Sender of every message. Default `Llave <no-reply@llave.localhost>`.
    pub from: String,
}

/// The outbox worker (mail, back-channel logouts): see docs/ARCHITECTURE.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// How long a node holds a message it claimed before any node may take it again: the
    /// wait before a message claimed by a node that died is delivered. Longer than the
    /// slowest delivery (SMTP times out after 15 s, HTTP after 5 s). Default 120; 20 to 3600.
    pub lease_seconds: i64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig { lease_seconds: 120 }
    }
}

/// The tamper-evident audit log (docs/audit.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// A new signed checkpoint follows new events within this many seconds (the sequencer
    /// also runs as soon as an act of this node commits). Default 10; 1 to 3600.
    pub checkpoint_seconds: i64,
    /// The log's name: the checkpoints' origin line and its key's name. Default: the
    /// issuer's host (and port and path) followed by `/audit`, fixed by the first node
    /// that starts (e.g. `llave.cdmx.gob.mx/audit`). No spaces, no `+`.
    pub origin: Option<String>,
    /// File holding the log's Ed25519 signing key (base64 of its 32-byte seed), made if
    /// missing; every node needs the same file. Default `DATA_DIR/audit-log.key`.
    pub key_file: Option<PathBuf>,
    /// Keep the log's key on the PKCS#11 token of `signature.pkcs11` instead of in
    /// `key_file`: an Ed25519 key pair labelled `llave-audit-log`, made on the token (not
    /// extractable) when it has none, signing there. Default false.
    pub key_on_token: bool,
    /// Witnesses (C2SP tlog-witness) each new checkpoint is submitted to; their
    /// cosignatures are published with it. Default: none.
    pub witnesses: Vec<WitnessConfig>,
}

/// A witness of the audit log: `[[audit.witnesses]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Its submission prefix: `add-checkpoint` is POSTed to `URL/add-checkpoint`.
    pub url: String,
    /// Its verifier key (`name+id+base64(0x04 ‖ key)`): cosignatures by other keys are dropped.
    pub key: String,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { checkpoint_seconds: 10, origin: None, key_file: None, key_on_token: false, witnesses: Vec::new() }
    }
}

/// Lifetimes of what the OpenID Connect provider issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// Access tokens (JWT, RFC 9068). Short: a revoked grant's tokens are refused by
    /// UserInfo and introspection at once, but a resource server that only checks the
    /// signature trusts one until it expires. Default 300 (5 minutes); 60 to 3600.
    pub access_token_seconds: u32,
    /// ID tokens. Default 300; 60 to 3600.
    pub id_token_seconds: u32,
    /// Refresh tokens, each rotation starting a new period. Default 30 days; 1 to 365.
    pub refresh_token_days: u32,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig { access_token_seconds: 300, id_token_seconds: 300, refresh_token_days: 30 }
    }
}

/// Electronic signatures: the PKI's names and lifetimes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignatureConfig {
    /// Organisation in every certificate (`O=`), and the CAs' names. Default `Llave`.
    pub hub_name: String,
    /// Lifetime of the root CA made by `llave pki init`. Default 7300 days (20 years).
    pub root_days: i64,
    /// Lifetime of the issuing CA. Default 3650 days (10 years).
    pub issuing_days: i64,
    /// Lifetime of a person's signing certificate. Default 730 days; 1 to 1825.
    pub person_certificate_days: i64,
    /// Largest document accepted for signing or verification, in bytes (only its SHA-256
    /// is kept). Default 25 MiB.
    pub max_document_bytes: usize,
    /// Keep the CA keys on a PKCS#11 token (an HSM) instead of sealed in the database.
    /// Must be set before `llave pki init`. Default: none.
    pub pkcs11: Option<Pkcs11Config>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// The PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The token's user PIN (better set as `LLAVE_SIGNATURE__PKCS11__PIN`).
    pub pin: String,
}

impl Default for SignatureConfig {
    fn default() -> Self {
        SignatureConfig {
            hub_name: "Llave".into(),
            root_days: 7300,
            issuing_days: 3650,
            person_certificate_days: 730,
            max_document_bytes: 25 << 20,
            pkcs11: None,
        }
    }
}

/// Entity records, reuse between entities and ARCO requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordsConfig {
    /// Largest file (PDF, PNG, JPEG or WebP) attached to a record, in bytes. Default 5 MiB.
    pub max_file_bytes: usize,
    /// How long a read grant answered by a look-up stays usable. Default 300 seconds;
    /// 10 to 3600.
    pub grant_seconds: i64,
    /// Business days an entity has to answer an ARCO request (LGPDPPSO art. 51: 20).
    pub arco_business_days: u32,
    /// Official non-working days besides the ones the law fixes (Federal Labour Law art.
    /// 74), as `YYYY-MM-DD`: local holidays, days the entities' offices close.
    pub holidays: Vec<String>,
    /// How many times an hour one client may name, by CURP, a person who has no account
    /// (`unknown_person`) before it is answered 429: the answer tells who has an account,
    /// so it is rationed and logged. Default 60; 1 to 100000.
    pub unknown_person_per_hour: i64,
}

impl Default for RecordsConfig {
    fn default() -> Self {
        RecordsConfig {
            max_file_bytes: 5 << 20,
            grant_seconds: 300,
            arco_business_days: 20,
            holidays: Vec::new(),
            unknown_person_per_hour: 60,
        }
    }
}

/// Authorities' requisitions of a person's records (docs/requisitions.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequisitionsConfig {
    /// Longest non-disclosure order, in days from the filing (an extension too, from the
    /// day it is asked for): the person is told at the latest then. Default 180; 1 to 3650.
    pub max_nondisclosure_days: i64,
    /// Days after the second approval by which the authority must attest that it destroyed
    /// (or why it retained) what it received; later, it is flagged as overdue. Default 90;
    /// 1 to 3650.
    pub attestation_days: i64,
}

impl Default for RequisitionsConfig {
    fn default() -> Self {
        RequisitionsConfig { max_nondisclosure_days: 180, attestation_days: 90 }
    }
}

/// Levels of assurance: how long a re-proof counts and who verifies identities remotely.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssuranceConfig {
    /// How long a re-proof (level 3: a passkey, or a fresh remote re-verification) counts.
    /// Default 10 minutes; 1 to 60.
    pub reproof_minutes: i64,
    /// A remote identity verification provider (protocol in docs/verification.md).
    /// Default: none; people are verified in person by officers.
    pub remote: Option<RemoteProviderConfig>,
    /// Serve the reference verification provider under `/referencia/verificacion` and use
    /// it when no `remote` provider is configured. For development and tests only: it
    /// approves whoever clicks its button. Default false.
    pub reference_provider: bool,
}

impl Default for AssuranceConfig {
    fn default() -> Self {
        AssuranceConfig { reproof_minutes: 10, remote: None, reference_provider: false }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteProviderConfig {
    /// Shown to people ("Verificación remota por NAME").
    pub name: String,
    /// The `iss` of the provider's signed results.
    pub issuer: String,
    /// Where llave starts a verification session (POST, JSON).
    pub start_url: String,
    /// The provider's public keys (JWK Set) that sign results.
    pub jwks_url: String,
    /// Bearer credential llave presents when starting a session.
    pub api_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// A session unused for this long ends. Default 30 minutes.
    pub idle_minutes: i64,
    /// A session ends this long after sign-in, used or not. Default 12 hours.
    pub absolute_hours: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordConfig {
    /// Argon2id memory cost in KiB. Default 19456 (19 MiB, OWASP's first recommended set).
    pub argon2_memory_kib: u32,
    /// Argon2id iterations. Default 2.
    pub argon2_iterations: u32,
    /// Argon2id lanes. Default 1.
    pub argon2_parallelism: u32,
    /// Hashes computed at once; more wait. Default: the number of CPUs.
    pub max_concurrent_hashes: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Failed sign-ins per account identifier that cost nothing; after them each further
    /// attempt waits a delay that doubles (2 s up to 15 minutes) and is refused unchecked
    /// until it has passed. Nothing locks an account: the right password passes from a device
    /// the person used before (its own budget). Default 5.
    pub account_failures: i64,
    /// Failed attempts per client address that cost nothing, then the same growing delays.
    /// Default 100.
    pub address_failures: i64,
    /// Quiet period after which a key's failures are forgotten. Default 15 minutes.
    pub window_minutes: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            database_replica: None,
            issuer: None,
            data_dir: PathBuf::from("llave-data"),
            registry: None,
            mail: MailConfig::default(),
            outbox: OutboxConfig::default(),
            audit: AuditConfig::default(),
            session: SessionConfig::default(),
            password: PasswordConfig::default(),
            throttle: ThrottleConfig::default(),
            oidc: OidcConfig::default(),
            assurance: AssuranceConfig::default(),
            signature: SignatureConfig::default(),
            records: RecordsConfig::default(),
            requisitions: RequisitionsConfig::default(),
            kek_file: None,
            trust_forwarded_for: false,
            max_body_bytes: 64 * 1024,
            time_zone: crate::calendar::DEFAULT_TIME_ZONE.into(),
            dev: DevConfig::default(),
            metrics_listen: None,
            shutdown_timeout: 20,
            log_format: LogFormat::Text,
        }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig { smtp_url: None, from: "Llave <no-reply@llave.localhost>".into() }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { idle_minutes: 30, absolute_hours: 12 }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig {
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_concurrent_hashes: None,
        }
    }
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig { account_failures: 5, address_failures: 100, window_minutes: 15 }
    }
}

/// Values given on the command line; `None` leaves the lower sources in charge.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_replica: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<DevConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

impl Config {
    /// Merges defaults, the data directory's `llave.toml`, the TOML file, `LLAVE_*`
    /// variables and the flags.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, Box<figment::Error>> {
        let layered = |data_file: Option<&Path>| {
            let mut figment = Figment::from(Serialized::defaults(Config::default()));
            if let Some(data_file) = data_file {
                figment = figment.merge(Toml::file_exact(data_file));
            }
            if let Some(file) = file {
                figment = figment.merge(Toml::file_exact(file));
            }
            // Scalar values stay text; numbers and flags are read from it at extraction.
            env::merge(figment).merge(Serialized::defaults(overrides))
        };
        // Where the data directory is comes from the other sources; its own file cannot move it.
        let data_dir = layered(None).extract_inner_lossy::<PathBuf>("data_dir").map_err(Box::new)?;
        let data_file = data_dir::file(&data_dir);
        let data_file = (data_file.is_file() && file.is_none_or(|f| !same_file(f, &data_file))).then_some(data_file);
        layered(data_file.as_deref())
            .extract_lossy::<Config>()
            .map_err(Box::new)
            .and_then(|config| config.checked().map_err(|message| Box::new(figment::Error::from(message))))
    }

    /// Values that parse but make no sense are refused at start, with the key named.
    fn checked(self) -> Result<Config, String> {
        let ranges: [(&str, i64, i64, i64); 18] = [
            ("shutdown_timeout", self.shutdown_timeout, 1, 3600),
            ("requisitions.max_nondisclosure_days", self.requisitions.max_nondisclosure_days, 1, 3650),
            ("requisitions.attestation_days", self.requisitions.attestation_days, 1, 3650),
            ("outbox.lease_seconds", self.outbox.lease_seconds, 20, 3600),
            ("audit.checkpoint_seconds", self.audit.checkpoint_seconds, 1, 3600),
            ("records.grant_seconds", self.records.grant_seconds, 10, 3600),
            ("records.arco_business_days", self.records.arco_business_days.into(), 1, 60),
            ("records.unknown_person_per_hour", self.records.unknown_person_per_hour, 1, 100_000),
            ("records.max_file_bytes", self.records.max_file_bytes as i64, 1024, 50 << 20),
            ("signature.root_days", self.signature.root_days, 365, 36_500),
            ("signature.issuing_days", self.signature.issuing_days, 365, 36_500),
            ("signature.person_certificate_days", self.signature.person_certificate_days, 1, 1825),
            ("assurance.reproof_minutes", self.assurance.reproof_minutes, 1, 60),
            ("oidc.access_token_seconds", self.oidc.access_token_seconds.into(), 60, 3600),
            ("oidc.id_token_seconds", self.oidc.id_token_seconds.into(), 60, 3600),
            ("oidc.refresh_token_days", self.oidc.refresh_token_days.into(), 1, 365),
            ("session.idle_minutes", self.session.idle_minutes, 1, 24 * 60),
            ("session.absolute_hours", self.session.absolute_hours, 1, 24 * 30),
        ];
        for (key, value, low, high) in ranges {
            if !(low..=high).contains(&value) {
                return Err(format!("{key} = {value} is out of range ({low} to {high})"));
            }
        }
        if self.dev.enabled && !self.listen.ip().is_loopback() {
            // Every reset link and the demo sites would face the network.
            return Err(format!(
                "development mode (--dev, [dev] enabled, LLAVE_DEV__ENABLED) is refused on the listen address {}: \
                 it serves every e-mail's links at /dev/outbox and the demo sites, so only on a loopback address \
                 (127.0.0.1, ::1 or localhost); leave development mode off anywhere else",
                self.listen
            ));
        }
        if let Some(replica) = &self.database_replica {
            let postgres = |url: &str| url.starts_with("postgres://") || url.starts_with("postgresql://");
            if !postgres(&self.database_url()) {
                return Err(format!(
                    "database_replica = {replica:?} (--database-replica, LLAVE_DATABASE_REPLICA) needs a PostgreSQL \
                     database: this installation's database is {}; SQLite has no replicas, so leave the replica out",
                    self.database_url()
                ));
            }
            if !postgres(replica) {
                return Err(format!("database_replica = {replica:?} must be a postgres:// URL"));
            }
        }
        if let Some(bad) = self.records.holidays.iter().find(|d| crate::calendar::parse_date(d).is_none()) {
            return Err(format!("records.holidays: {bad:?} is not a YYYY-MM-DD date"));
        }
        if let Some(remote) = &self.assurance.remote {
            // The API key and the people's CURPs travel to these addresses.
            for (key, value) in
                [("assurance.remote.start_url", &remote.start_url), ("assurance.remote.jwks_url", &remote.jwks_url)]
            {
                if !secure_or_loopback(value) {
                    return Err(format!("{key} = {value:?} must be an https URL (http only on this machine)"));
                }
            }
        }
        Ok(self)
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("llave.db").display()),
        }
    }

    /// The public base URL, without a trailing slash.
    pub fn issuer(&self) -> String {
        match &self.issuer {
            Some(issuer) => issuer.trim_end_matches('/').to_string(),
            // WebAuthn refuses IP addresses as relying-party ids: on this machine, say localhost.
            None if self.listen.ip().is_loopback() => format!("http://localhost:{}", self.listen.port()),
            None => format!("http://{}", self.listen),
        }
    }

    pub fn kek_file(&self) -> PathBuf {
        self.kek_file.clone().unwrap_or_else(|| self.data_dir.join("kek.key"))
    }

    pub fn audit_key_file(&self) -> PathBuf {
        self.audit.key_file.clone().unwrap_or_else(|| self.data_dir.join("audit-log.key"))
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }
}

/// The same file, whichever way its path is written.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// An address to listen on: `IP:PORT`, an IP address alone (port 8080), `localhost` or
/// `localhost:PORT` (the loopback address 127.0.0.1).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    const PORT: u16 = 8080;
    let text = text.trim();
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    if let Ok(ip) = text.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, PORT));
    }
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if text.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(loopback, PORT));
    }
    if let Some(port) = text.strip_prefix("localhost:").and_then(|p| p.parse::<u16>().ok()) {
        return Ok(SocketAddr::new(loopback, port));
    }
    Err(format!("{text:?} is not an address to listen on: IP:PORT, an IP address (port 8080) or localhost:PORT"))
}

fn listen_address<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_listen(&text).map_err(serde::de::Error::custom)
}

fn optional_listen_address<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<SocketAddr>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        Some(text) => parse_listen(&text).map(Some).map_err(serde::de::Error::custom),
        None => Ok(None),
    }
}

/// `https://…`, or `http://` to this machine (loopback addresses, `localhost`).
fn secure_or_loopback(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(url) if url.scheme() == "https" => true,
        Ok(url) if url.scheme() == "http" => match url.host() {
            Some(url::Host::Domain(host)) => host == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let config = Config::default();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.issuer(), "http://localhost:8080", "localhost: passkeys refuse IP addresses");
        assert!(config.database_url().starts_with("sqlite://llave-data"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn flags_override_file() {
        // In a jail: other tests set LLAVE_* variables in theirs, at the same time.
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "llave.toml",
                "listen = \"127.0.0.1:9000\"\nissuer = \"https://llave.example\"\n[session]\nidle_minutes = 5\n",
            )?;
            let flags = Overrides { listen: Some("127.0.0.1:9100".parse().unwrap()), ..Overrides::default() };
            let config = Config::load(Some(Path::new("llave.toml")), &flags).map_err(|e| e.to_string())?;
            assert_eq!(config.listen.port(), 9100);
            assert_eq!(config.issuer(), "https://llave.example");
            assert_eq!(config.session.idle_minutes, 5);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn token_lifetimes_are_configured_and_checked() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("llave.toml", "[oidc]\naccess_token_seconds = 120\nrefresh_token_days = 7\n")?;
            let config =
                Config::load(Some(Path::new("llave.toml")), &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.oidc.access_token_seconds, 120);
            assert_eq!(config.oidc.refresh_token_days, 7);
            assert_eq!(config.oidc.id_token_seconds, 300);
            jail.set_env("LLAVE_OIDC__ACCESS_TOKEN_SECONDS", "5");
            let refused = Config::load(Some(Path::new("llave.toml")), &Overrides::default()).unwrap_err().to_string();
            assert!(refused.contains("oidc.access_token_seconds = 5 is out of range"), "{refused}");
            jail.set_env("LLAVE_OIDC__ACCESS_TOKEN_SECONDS", "300");
            jail.set_env("LLAVE_SESSION__IDLE_MINUTES", "0");
            let refused = Config::load(Some(Path::new("llave.toml")), &Overrides::default()).unwrap_err().to_string();
            assert!(refused.contains("session.idle_minutes"), "{refused}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn environment_variables_override_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("llave.toml", "listen = \"127.0.0.1:9000\"\n")?;
            jail.set_env("LLAVE_LISTEN", "127.0.0.1:9200");
            jail.set_env("LLAVE_DATABASE_URL", "postgres://db.example/llave");
            jail.set_env("LLAVE_SESSION__IDLE_MINUTES", "7");
            jail.set_env("LLAVE_LOG", "debug");
            jail.set_env("LLAVE_CONFIG", "llave.toml");
            let config =
                Config::load(Some(Path::new("llave.toml")), &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.listen.port(), 9200);
            assert_eq!(config.database_url(), "postgres://db.example/llave");
            assert_eq!(config.session.idle_minutes, 7);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn operations_settings_come_from_the_file_the_environment_and_the_flags() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(
                (config.metrics_listen, config.shutdown_timeout, config.log_format),
                (None, 20, LogFormat::Text)
            );
            jail.create_file("llave.toml", "metrics_listen = \"localhost:9100\"\nshutdown_timeout = 5\n")?;
            let config =
                Config::load(Some(Path::new("llave.toml")), &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.metrics_listen, Some("127.0.0.1:9100".parse().unwrap()));
            assert_eq!(config.shutdown_timeout, 5);
            jail.set_env("LLAVE_METRICS_LISTEN", "0.0.0.0:9200");
            jail.set_env("LLAVE_SHUTDOWN_TIMEOUT", "40");
            jail.set_env("LLAVE_LOG_FORMAT", "json");
            let config = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.metrics_listen, Some("0.0.0.0:9200".parse().unwrap()));
            assert_eq!((config.shutdown_timeout, config.log_format), (40, LogFormat::Json));
            let flags = Overrides {
                metrics_listen: Some("127.0.0.1:9300".parse().unwrap()),
                shutdown_timeout: Some(3),
                log_format: Some(LogFormat::Text),
                ..Overrides::default()
            };
            let config = Config::load(None, &flags).map_err(|e| e.to_string())?;
            assert_eq!(config.metrics_listen, Some("127.0.0.1:9300".parse().unwrap()));
            assert_eq!((config.shutdown_timeout, config.log_format), (3, LogFormat::Text));
            jail.set_env("LLAVE_SHUTDOWN_TIMEOUT", "0");
            let refused = Config::load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(refused.contains("shutdown_timeout = 0 is out of range"), "{refused}");
            jail.set_env("LLAVE_SHUTDOWN_TIMEOUT", "20");
            jail.set_env("LLAVE_METRICS_LISTEN", "somewhere");
            assert!(Config::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_an_error() {
        let dir = std::env::temp_dir().join(format!("llave-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("llave.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        assert!(Config::load(Some(&file), &Overrides::default()).is_err());
    }
}

#[cfg(test)]
mod remote_provider_tests {
    use super::*;

    fn with_remote(start_url: &str) -> Result<Config, String> {
        let mut config = Config::default();
        config.assurance.remote = Some(RemoteProviderConfig {
            name: "Proveedor".into(),
            issuer: "https://proveedor.example".into(),
            start_url: start_url.into(),
            jwks_url: "https://proveedor.example/jwks.json".into(),
            api_key: "secreto".into(),
        });
        config.checked()
    }

    #[test]
    fn a_remote_provider_is_reached_over_https_or_on_this_machine() {
        assert!(with_remote("https://proveedor.example/sessions").is_ok());
        assert!(with_remote("http://127.0.0.1:9000/sessions").is_ok());
        assert!(with_remote("http://localhost:9000/sessions").is_ok());
        let refused = with_remote("http://proveedor.example/sessions").unwrap_err();
        assert!(refused.contains("assurance.remote.start_url"), "{refused}");
        assert!(with_remote("ftp://proveedor.example/").is_err());
    }
}
