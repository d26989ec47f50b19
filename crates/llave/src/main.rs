//! The `llave` binary: parses the command line and hands over to the library.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use llave::accounts::signup::SignupInput;
use llave::admin::entity as admin;
use llave::config::{Config, Overrides};

/// Where the settings are: shown under `llave serve --help`, so SMTP, the HSM, the remote
/// verification provider and logging can be found without the docs.
const SETTINGS_HELP: &str = "\
Settings, lowest precedence first: defaults, DATA_DIR/llave.toml, the --config file, LLAVE_*
environment variables (LLAVE_KEY; LLAVE_SECTION__KEY inside a section), flags. Sections:
  [mail]               smtp_url, from: the SMTP server (default: files in DATA_DIR/outbox/)
                       LLAVE_MAIL__SMTP_URL, LLAVE_MAIL__FROM
  [signature.pkcs11]   module, token_label, pin: the CA keys on an HSM (a PKCS#11 token)
                       LLAVE_SIGNATURE__PKCS11__MODULE, ..._TOKEN_LABEL, ..._PIN
  [assurance.remote]   name, issuer, start_url, jwks_url, api_key: a remote identity
                       verification provider   LLAVE_ASSURANCE__REMOTE__NAME, ...
  [assurance]          reproof_minutes, reference_provider (development only)
  [dev]                enabled: the development outbox and demo sites, loopback only
                       (--dev, LLAVE_DEV__ENABLED)
  [audit]              checkpoint_seconds, origin, key_file: the tamper-evident audit log
                       LLAVE_AUDIT__CHECKPOINT_SECONDS, ...
  [session] [oidc] [password] [throttle] [records] [signature]: lifetimes and limits
  top level            listen, issuer, database_url, data_dir, registry, kek_file,
                       trust_forwarded_for, max_body_bytes, metrics_listen,
                       shutdown_timeout, log_format
Logging: LLAVE_LOG=FILTER on standard error, e.g. LLAVE_LOG=info,sqlx=warn (the default for
serve; other commands: warn); levels error, warn, info, debug, trace. JSON lines with each
request's id: --log-format json (LLAVE_LOG_FORMAT=json).
Every key with its default and range: docs/operators.md.";

#[derive(Parser)]
#[command(
    name = "llave",
    version,
    about = "Citizen identity hub: accounts keyed by CURP, single sign-on, signatures.",
    after_help = "Start with `llave init` (or `llave demo`), then `llave serve`. \
                  `llave serve --help` lists the settings (SMTP, HSM, remote verification, logging)."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the installation is: every command takes these, before or after its name.
#[derive(Args)]
#[command(next_help_heading = "Installation options")]
struct GlobalArgs {
    /// TOML settings file (above DATA_DIR/llave.toml, below LLAVE_* variables).
    #[arg(long, global = true, env = "LLAVE_CONFIG", hide_env_values = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// sqlite://PATH or postgres://… [env: LLAVE_DATABASE_URL] [default: sqlite://DATA_DIR/llave.db].
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    /// Data directory [env: LLAVE_DATA_DIR] [default: ./llave-data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log lines as text or as one JSON object per line [env: LLAVE_LOG_FORMAT] [default: text].
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    log_format: Option<llave::config::LogFormat>,
}

/// Where the server answers: `serve`, and `demo` (its sites' addresses follow them).
#[derive(Args)]
#[command(next_help_heading = "Server options")]
struct ServerArgs {
    /// Address to listen on: IP:PORT, an IP (port 8080) or localhost:PORT [env: LLAVE_LISTEN]
    /// [default: 127.0.0.1:8080].
    #[arg(long, value_parser = llave::config::parse_listen, value_name = "ADDRESS")]
    listen: Option<SocketAddr>,
    /// Public URL of this llave [env: LLAVE_ISSUER] [default: http://localhost:PORT on a
    /// loopback address, else http://LISTEN].
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// A PostgreSQL replica for read-mostly answers (JWKS, the public catalog); PostgreSQL
    /// databases only [env: LLAVE_DATABASE_REPLICA] [default: none].
    #[arg(long, value_name = "URL")]
    database_replica: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Make a data directory here (or at --data-dir): its settings file, the database and
    /// the key-encryption key; prints what it made.
    Init {
        /// Print what was made as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run the web server (migrations are applied first).
    #[command(after_help = SETTINGS_HELP)]
    Serve {
        #[command(flatten)]
        server: ServerArgs,
        /// Population registry: file:PATH or an http(s) URL [env: LLAVE_REGISTRY] [default: the
        /// data directory's llave.toml, else none].
        #[arg(long, value_name = "SPEC", help_heading = "Server options")]
        registry: Option<String>,
        /// Development mode: serve the e-mail outbox at /dev/outbox and the demo sites under
        /// /demo/. Only on a loopback listen address [env: LLAVE_DEV__ENABLED].
        #[arg(long, help_heading = "Server options")]
        dev: bool,
        /// Serve Prometheus metrics at /metrics on this separate address (same forms as
        /// --listen) [env: LLAVE_METRICS_LISTEN] [default: none].
        #[arg(long, value_parser = llave::config::parse_listen, value_name = "ADDRESS", help_heading = "Server options")]
        metrics_listen: Option<SocketAddr>,
        /// After SIGTERM or SIGINT, stop accepting and let requests in flight finish for up to
        /// this many seconds, then exit [env: LLAVE_SHUTDOWN_TIMEOUT] [default: 20].
        #[arg(long, value_name = "SECONDS", help_heading = "Server options")]
        shutdown_timeout: Option<i64>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Delete expired codes, token records, e-mail links and throttle windows (serve does
    /// this every 15 minutes).
    Purge {
        /// Print the counts as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Fill the database with demo people (idempotent), configure the demo population
    /// registry, and print how to sign in and the command that serves the demo.
    Demo {
        #[command(flatten)]
        server: ServerArgs,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Manage citizen accounts.
    #[command(subcommand)]
    Citizen(CitizenCommand),
    /// Manage entities (government bodies).
    #[command(subcommand)]
    Entity(EntityCommand),
    /// Manage OpenID Connect clients of entities and of third parties.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Third parties (banks, employers, landlords, schools) that ask people for data by
    /// consent, held to FAPI 2.0 (docs/third-parties.md).
    #[command(subcommand)]
    ThirdParty(ThirdPartyCommand),
    /// Manage token-signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The catalog of procedures and services.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Staff roles: hub staff, catalog editors of an entity, officers, legal reviewers
    /// (`llave staff grant --help` says what each may do).
    #[command(subcommand)]
    Staff(StaffCommand),
    /// The hub's certification authorities (electronic signatures).
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Entity records, read by hub staff or an auditor (every read is logged).
    #[command(subcommand)]
    Record(RecordCommand),
    /// The tamper-evident audit log: its key, proofs, verification (docs/audit.md).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Requesting authorities (prosecutors, courts, the tax authority) whose requisitions of a
    /// person's records need two approvals (docs/requisitions.md).
    #[command(subcommand)]
    Authority(AuthorityCommand),
    /// Requisitions of people's records by authorities: the report of every one, with the
    /// destruction attestations that are overdue.
    #[command(subcommand)]
    Requisitions(RequisitionsCommand),
    /// A witness of audit logs (C2SP tlog-witness), run by an auditor's office or another
    /// government beside the hub; needs no llave installation.
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// Verify a detached signature (`.p7s`) of a document; exits 0 only if it is valid.
    Verify {
        /// The signed document.
        document: std::path::PathBuf,
        /// Its detached CMS signature (DER or PEM).
        signature: std::path::PathBuf,
        /// The root certificate (PEM file or http(s) URL). Default: this installation's.
        #[arg(long)]
        root: Option<String>,
        /// The CRL (DER/PEM file or http(s) URL). Default: this installation's, when --root
        /// is not given; otherwise revocation is not checked.
        #[arg(long)]
        crl: Option<String>,
        /// Print the verdict as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum WitnessCommand {
    /// Serve POST /add-checkpoint: cosign each log checkpoint consistent with the last one
    /// cosigned (409 stale size, 422 bad proof or split view, reported in
    /// STATE_DIR/misbehaviour.log and at GET /misbehaviour).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090", value_parser = llave::config::parse_listen)]
        listen: SocketAddr,
        #[command(flatten)]
        identity: WitnessIdentity,
        /// Verifier key of a log to witness (`llave audit key` of its hub); repeat for several.
        #[arg(long = "log", value_name = "VKEY", required = true)]
        logs: Vec<String>,
    },
    /// Print the witness's verifier key (for the hubs' [[audit.witnesses]] key).
    Key {
        #[command(flatten)]
        identity: WitnessIdentity,
    },
}

#[derive(Args)]
struct WitnessIdentity {
    /// The witness's name, e.g. auditoria.cdmx.gob.mx/witness.
    #[arg(long)]
    name: String,
    /// Where the witness keeps its state and the evidence it saw.
    #[arg(long, default_value = "llave-witness", value_name = "DIR")]
    state_dir: PathBuf,
    /// Its Ed25519 key file, made if missing [default: STATE_DIR/witness.key].
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

impl WitnessIdentity {
    fn key_file(&self) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| self.state_dir.join("witness.key"))
    }
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print the log's verifier key (`<name>+<key id>+<key>`, as Go's sumdb/note reads it;
    /// also served at /audit/key).
    Key {
        /// Print the key and origin as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print a C2SP tlog-proof that an event is in the log: its 0-based index, the inclusion
    /// proof and the newest checkpoint (the log is brought up to date first).
    Prove {
        /// The event's id (`events.id`).
        event_id: i64,
        /// Print index, entry and proof as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Verify a hub's published log: the checkpoint's signature, every entry and tile, with
    /// --since that the log only grew, with --database that every event row is its leaf.
    /// Needs no data directory; exits 0 only if everything checks.
    Verify {
        /// The hub's base URL (its /audit/ is read).
        #[arg(long)]
        url: String,
        /// File holding the log's verifier key. Default: the hub's /audit/key (trust on first use).
        #[arg(long, value_name = "KEYFILE")]
        key: Option<PathBuf>,
        /// A checkpoint saved by an earlier run (--save): the log must have only grown since.
        #[arg(long, value_name = "CHECKPOINT_FILE")]
        since: Option<PathBuf>,
        /// Save the checkpoint verified now (for the next --since).
        #[arg(long, value_name = "CHECKPOINT_FILE")]
        save: Option<PathBuf>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RecordCommand {
    /// Show a record and its history. The read goes into the access log the person sees,
    /// with who read it, why and under which law.
    Show {
        /// The record's id. Ids may begin with `-` (they are base64url): taken as the id, not
        /// as an option.
        #[arg(allow_hyphen_values = true)]
        record_id: String,
        /// Who reads (a name or a CURP).
        #[arg(long)]
        by: String,
        /// `staff` (hub staff) or `auditor`.
        #[arg(long = "as", default_value = "staff", value_parser = ["staff", "auditor"])]
        reader_kind: String,
        /// Why it is read.
        #[arg(long)]
        purpose: String,
        /// The law that allows the read.
        #[arg(long)]
        legal_basis: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Create the root and issuing CAs (once); write the root certificate to DATA_DIR/pki/root.pem.
    Init {
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a person's signing certificates (the hub's decision); the CRL lists them at once.
    Revoke {
        /// The CURP of the person whose certificates are revoked.
        #[arg(long)]
        curp: String,
        /// Why, for the record (e.g. key_compromise, hub_decision).
        #[arg(long, default_value = "hub_decision")]
        reason: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuthorityCommand {
    /// Register a requesting authority with the X.509 certificate its packages are encrypted to.
    Add {
        /// Short name used in commands and URLs, e.g. fiscalia-cdmx.
        #[arg(long)]
        slug: String,
        /// The authority's full name, e.g. Fiscalía General de Justicia de la Ciudad de México.
        #[arg(long)]
        name: String,
        /// The law that lets it ask for people's data, in words.
        #[arg(long)]
        mandate: String,
        /// Its encryption certificate (PEM or DER file) with an RSA or EC public key.
        #[arg(long, value_name = "FILE")]
        certificate: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Every registered authority.
    List {
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RequisitionsCommand {
    /// Every requisition, its state, and whether its destruction attestation is overdue;
    /// exits 0 either way.
    Report {
        /// Judge the deadlines as of this day (YYYY-MM-DD, the end of it) instead of now.
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Give an account a role.
    Grant(RoleArgs),
    /// Take a role away.
    Revoke(RoleArgs),
    /// Every role held.
    List {
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct RoleArgs {
    /// The account's CURP.
    #[arg(long)]
    curp: String,
    /// The role to grant or revoke.
    #[arg(long, value_enum)]
    role: StaffRole,
    /// The entity, for catalog-editor.
    #[arg(long)]
    entity: Option<String>,
    /// The requesting authority, for requester (`llave authority list`).
    #[arg(long)]
    authority: Option<String>,
    /// The office, for officer (e.g. "Oficina Tlalpan"): people helped there read
    /// "con ayuda de <name>, <office>". Given again, it moves the officer.
    #[arg(long)]
    office: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StaffRole {
    /// Edits every entity's catalog and sees the simplification report.
    HubStaff,
    /// Edits one entity's procedures (--entity).
    CatalogEditor,
    /// Verifies people's identity in person at a service centre and restores access for
    /// people who lost every factor.
    Officer,
    /// Approves or rejects the legal bases that would let an entity reuse records without
    /// the person's consent (/catalogo/revision-legal); never those of an entity they edit.
    LegalReviewer,
    /// Reads the events of the audit trail by person, entity, officer, kind and time
    /// (/auditoria and /auditoria/eventos.json); never changes anything; every read is logged.
    Auditor,
    /// Files requisitions of people's records for one requesting authority (--authority),
    /// downloads their packages once approved, and attests their destruction (/requisiciones).
    Requester,
    /// Approves or rejects requisitions (two different approvers, neither the requester).
    RequisitionApprover,
}

#[derive(Subcommand)]
enum EntityCommand {
    /// Register an entity.
    Add {
        /// Short name used in URLs and the API, e.g. semovi (lower case letters, digits, hyphens).
        #[arg(long)]
        slug: String,
        /// The entity's full name, e.g. Secretaría de Movilidad.
        #[arg(long)]
        name: String,
        /// Keep its records on a PostgreSQL server of its own (postgres://…; a schema
        /// llave_entity_<slug> there) [default: the hub's database].
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Move an entity's record store to a PostgreSQL server of its own (copy its records
    /// there first); restart the servers afterwards.
    SetStore {
        /// The entity's slug.
        slug: String,
        /// postgres://… of the server.
        url: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List entities.
    List {
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client; prints client_id and, for a confidential client, client_secret once.
    Add {
        /// The entity the client belongs to (its slug).
        #[arg(long, required_unless_present = "third_party", conflicts_with = "third_party")]
        entity: Option<String>,
        /// The third party the client belongs to (its slug): a FAPI 2.0 client, confidential,
        /// private_key_jwt with --jwks-file, pushed requests and DPoP.
        #[arg(long)]
        third_party: Option<String>,
        /// Where llave notifies the third party (consent changes); https.
        #[arg(long, requires = "third_party")]
        notify_uri: Option<String>,
        /// Require signed request objects (JAR, RFC 9101) at the PAR endpoint.
        #[arg(long, requires = "third_party")]
        require_jar: bool,
        /// The client's name, shown to people on the consent page.
        #[arg(long)]
        name: String,
        /// Exact redirect URI (repeatable); https unless the host is loopback.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where the client may send people after they sign out (exact URI, repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Where llave posts a logout token when a person signs out (OpenID Connect Back-Channel Logout).
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// A public client (no secret; PKCE only).
        #[arg(long)]
        public: bool,
        /// client_secret_basic (default), client_secret_post or private_key_jwt.
        #[arg(long)]
        auth_method: Option<String>,
        /// The client's public keys (JWKS JSON) for private_key_jwt.
        #[arg(long)]
        jwks_file: Option<PathBuf>,
        /// A restricted claim this client may receive (curp).
        #[arg(long = "allow-claim")]
        allow_claims: Vec<String>,
        /// ID token signing algorithm: ES256 (default), RS256 (for older libraries) or EdDSA.
        #[arg(long, value_parser = ["RS256", "ES256", "EdDSA"])]
        id_token_alg: Option<String>,
        /// Access token signing algorithm: ES256 (default), RS256 (for older libraries) or EdDSA.
        #[arg(long, value_parser = ["RS256", "ES256", "EdDSA"])]
        access_token_alg: Option<String>,
        /// Require pushed authorization requests (RFC 9126).
        #[arg(long)]
        require_par: bool,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        /// Only this entity's clients (its slug).
        #[arg(long)]
        entity: Option<String>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show a client.
    Show {
        /// The client's client_id.
        client_id: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Disable a client: it can no longer sign anyone in or get tokens.
    Disable {
        /// The client's client_id.
        client_id: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ThirdPartyCommand {
    /// Register a third party with the purposes it may ask for.
    Add {
        /// Short name used in URLs, e.g. banco-ejemplo (lower case letters, digits, hyphens).
        #[arg(long)]
        slug: String,
        /// Its legal name, e.g. "Banco del Ejemplo, S.A." (shown to people on the consent page).
        #[arg(long)]
        legal_name: String,
        /// Its RFC (Mexican tax id), 12 characters for a company.
        #[arg(long)]
        tax_id: String,
        /// Purpose codes it may ask for, comma-separated (`llave third-party purposes`).
        #[arg(long, value_delimiter = ',', required = true)]
        purposes: Vec<String>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List third parties.
    List {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The published purpose codes, with their Spanish title and description (also at
    /// /datos/propositos.json).
    Purposes {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Check a catalog file (JSON; see docs) and write it only if every row is good.
    Import {
        /// The catalog file (JSON).
        file: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The simplification report: procedures by yearly volume, what could be spared, the
    /// citizen-hours it would save.
    Report {
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the whole catalog.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Json,
    Csv,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make new current signing keys; the old ones stay published until their tokens expire.
    Rotate {
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CitizenCommand {
    /// Create an account (service centres, tests); the password is read from stdin.
    Add {
        /// The person's CURP (18 characters).
        #[arg(long)]
        curp: String,
        /// Given names, as declared (they must agree with the CURP).
        #[arg(long)]
        given_names: String,
        /// First surname.
        #[arg(long)]
        first_surname: String,
        /// Second surname, if any.
        #[arg(long, default_value = "")]
        second_surname: String,
        /// YYYY-MM-DD
        #[arg(long)]
        birth_date: String,
        /// H, M or X
        #[arg(long)]
        sex: String,
        /// Two-letter state code, NE for born abroad.
        #[arg(long)]
        state: String,
        /// E-mail address; a confirmation link is sent unless --email-confirmed.
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The operator checked the e-mail address in person (no confirmation link).
        #[arg(long)]
        email_confirmed: bool,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show an account.
    Show {
        /// The account's CURP.
        curp: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("llave: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("llave: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The account a role is for, and a check that its entity exists.
async fn staff_account(app: &llave::AppState, curp: &str, scope: &str) -> anyhow::Result<llave::store::AccountId> {
    let curp = curp.trim().to_uppercase();
    let Some(account) = app.store.account_by_curp(&curp).await? else {
        anyhow::bail!("no account has the CURP {curp}");
    };
    if scope != llave::store::roles::HUB && app.store.entity_by_slug(scope).await?.is_none() {
        anyhow::bail!("no entity has the slug {scope:?}");
    }
    Ok(account.id)
}

/// A file's bytes, or a URL's (http or https).
async fn fetch(source: &str) -> anyhow::Result<Vec<u8>> {
    if source.starts_with("http://") || source.starts_with("https://") {
        llave::install_crypto_provider();
        let response = reqwest::get(source).await.map_err(|e| anyhow::anyhow!("cannot fetch {source}: {e}"))?;
        anyhow::ensure!(response.status().is_success(), "{source} answered {}", response.status());
        Ok(response.bytes().await?.to_vec())
    } else {
        std::fs::read(source).map_err(|e| anyhow::anyhow!("cannot read {source}: {e}"))
    }
}

/// The exact command that serves what `llave demo` just made: the same installation, in
/// development mode.
fn serve_command(global: &GlobalArgs, server: &ServerArgs) -> String {
    let mut command = String::from("llave");
    let quoted = |path: &std::path::Path| {
        let text = path.display().to_string();
        if text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:+=@".contains(c)) {
            text
        } else {
            format!("'{}'", text.replace('\'', "'\\''"))
        }
    };
    if let Some(config) = &global.config {
        command.push_str(&format!(" --config {}", quoted(config)));
    }
    if let Some(dir) = &global.data_dir {
        command.push_str(&format!(" --data-dir {}", quoted(dir)));
    }
    if let Some(database) = &global.database {
        command.push_str(&format!(" --database {}", quoted(std::path::Path::new(database))));
    }
    command.push_str(" serve --dev");
    if let Some(listen) = server.listen {
        command.push_str(&format!(" --listen {listen}"));
    }
    if let Some(issuer) = &server.issuer {
        command.push_str(&format!(" --issuer {}", quoted(std::path::Path::new(issuer))));
    }
    command
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (server, registry, dev) = match &cli.command {
        Command::Serve { server, registry, dev, .. } => (Some(server), registry.clone(), *dev),
        Command::Demo { server, .. } => (Some(server), None, false),
        _ => (None, None, false),
    };
    let (metrics_listen, shutdown_timeout) = match &cli.command {
        Command::Serve { metrics_listen, shutdown_timeout, .. } => (*metrics_listen, *shutdown_timeout),
        _ => (None, None),
    };
    let overrides = Overrides {
        listen: server.and_then(|s| s.listen),
        database_url: cli.global.database.clone(),
        database_replica: server.and_then(|s| s.database_replica.clone()),
        issuer: server.and_then(|s| s.issuer.clone()),
        data_dir: cli.global.data_dir.clone(),
        registry,
        dev: dev.then_some(llave::config::DevConfig { enabled: true }),
        metrics_listen,
        shutdown_timeout,
        log_format: cli.global.log_format,
    };
    let config = Config::load(cli.global.config.as_deref(), &overrides)?;
    init_tracing(
        matches!(cli.command, Command::Serve { .. } | Command::Witness(WitnessCommand::Serve { .. })),
        config.log_format,
    );
    llave::install_crypto_provider();

    match cli.command {
        Command::Init { json } => {
            let report = llave::admin::init::run(config).await?;
            if json { print_json(&report)? } else { print!("{}", report.to_text()) }
        }
        Command::Serve { .. } => llave::serve(config).await?,
        Command::Migrate => {
            // A database URL that cannot be used makes nothing.
            llave::store::Backend::from_url(&config.database_url())?;
            std::fs::create_dir_all(&config.data_dir)?;
            let store = llave::store::Store::connect(&config.database_url()).await?;
            let versions = store.migrate().await?;
            println!("database is at migration {versions} ({})", store.backend().name());
        }
        Command::Purge { json } => {
            let app = llave::open(config).await?;
            let purged = app.store.purge_expired(llave::crypto::now(), app.config.throttle.window_minutes * 60).await?;
            if json {
                let map: serde_json::Map<String, serde_json::Value> =
                    purged.iter().map(|(table, n)| (table.to_string(), serde_json::json!(n))).collect();
                print_json(&map)?;
            } else {
                for (table, n) in purged {
                    println!("{table}: {n} deleted");
                }
            }
        }
        Command::Demo { json, server } => {
            let issuer = config.issuer();
            let app = llave::start(config).await?;
            let mut report = llave::admin::demo::run(&app).await.map_err(anyhow::Error::msg)?;
            report.serve_command = serve_command(&cli.global, &server);
            if json { print_json(&report)? } else { print!("{}", report.to_text(&issuer)) }
        }
        Command::Citizen(CitizenCommand::Add {
            curp,
            given_names,
            first_surname,
            second_surname,
            birth_date,
            sex,
            state,
            email,
            password_stdin: _,
            email_confirmed,
            json,
        }) => {
            let mut password = String::new();
            std::io::stdin().take(4096).read_to_string(&mut password)?;
            let password = password.lines().next().unwrap_or("").to_string();
            let input = SignupInput {
                curp,
                given_names,
                first_surname,
                second_surname,
                birth_date,
                sex,
                state,
                email,
                password,
            };
            let app = llave::open(config).await?;
            let view = llave::admin::citizen::add(&app, &input, email_confirmed).await?;
            if json { print_json(&view)? } else { print!("created account {}\n{}", view.id, view.to_text()) }
        }
        Command::Entity(command) => {
            let app = llave::open(config).await?;
            match command {
                EntityCommand::Add { slug, name, store, json } => {
                    let entity = admin::add_entity_with_store(&app, &slug, &name, store.as_deref()).await?;
                    if json { print_json(&entity)? } else { println!("entity {} added: {}", entity.slug, entity.name) }
                }
                EntityCommand::SetStore { slug, url, json } => {
                    let moved = admin::set_entity_store(&app, &slug, &url).await?;
                    if json {
                        print_json(&moved)?
                    } else {
                        println!(
                            "the records of {} are now read and written on the new server ({} record versions there); \
                             restart the running servers",
                            moved.entity, moved.records
                        )
                    }
                }
                EntityCommand::List { json } => {
                    let entities = app.store.list_entities().await?;
                    if json {
                        print_json(&entities)?
                    } else {
                        for e in entities {
                            println!("{}  {}", e.slug, e.name);
                        }
                    }
                }
            }
        }
        Command::Client(command) => {
            let app = llave::open(config).await?;
            match command {
                ClientCommand::Add {
                    entity,
                    third_party,
                    notify_uri,
                    require_jar,
                    name,
                    redirect_uris,
                    post_logout_redirect_uris,
                    backchannel_logout_uri,
                    public,
                    auth_method,
                    jwks_file,
                    allow_claims,
                    id_token_alg,
                    access_token_alg,
                    require_par,
                    json,
                } => {
                    let jwks = match jwks_file {
                        Some(path) => Some(
                            std::fs::read_to_string(&path)
                                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
                        ),
                        None => None,
                    };
                    let new = llave::oidc::clients::NewClient {
                        entity: entity.unwrap_or_default(),
                        third_party,
                        notify_uri,
                        require_jar,
                        name,
                        redirect_uris,
                        post_logout_redirect_uris,
                        backchannel_logout_uri,
                        public,
                        auth_method,
                        jwks,
                        allowed_claims: allow_claims,
                        id_token_alg,
                        access_token_alg,
                        require_par,
                    };
                    let registered = admin::add_client(&app.store, &new).await?;
                    if json {
                        print_json(&registered)?
                    } else {
                        println!("client_id:     {}", registered.client_id);
                        if let Some(secret) = &registered.client_secret {
                            println!("client_secret: {secret}\n(shown once: store it now; llave keeps only its hash)");
                        }
                    }
                }
                ClientCommand::List { entity, json } => {
                    let clients: Vec<_> =
                        app.store.list_clients(entity.as_deref()).await?.iter().map(admin::ClientView::from).collect();
                    if json {
                        print_json(&clients)?
                    } else {
                        for c in clients {
                            print!("{}", c.to_text());
                        }
                    }
                }
                ClientCommand::Show { client_id, json } => {
                    let view = admin::show_client(&app.store, &client_id).await?;
                    if json { print_json(&view)? } else { print!("{}", view.to_text()) }
                }
                ClientCommand::Disable { client_id, json } => {
                    let view = admin::disable_client(&app.store, &client_id).await?;
                    if json { print_json(&view)? } else { print!("disabled {}", view.to_text()) }
                }
            }
        }
        Command::ThirdParty(ThirdPartyCommand::Purposes { json }) => {
            let purposes = llave::third_parties::PURPOSES;
            if json {
                print_json(&purposes)?
            } else {
                for p in purposes {
                    println!("{}  {}\n    {}", p.code, p.title, p.description);
                }
            }
        }
        Command::ThirdParty(command) => {
            let app = llave::open(config).await?;
            match command {
                ThirdPartyCommand::Add { slug, legal_name, tax_id, purposes, json } => {
                    let new = llave::third_parties::NewThirdParty { slug, legal_name, tax_id, purposes };
                    let third = llave::third_parties::register(&app.store, &new, "cli").await?;
                    if json {
                        print_json(&third)?
                    } else {
                        println!("third party {} added: {} ({})", third.slug, third.legal_name, third.tax_id);
                    }
                }
                ThirdPartyCommand::List { json } => {
                    let all = app.store.list_third_parties().await?;
                    if json {
                        print_json(&all)?
                    } else {
                        for t in all {
                            println!("{}  {}  {}  {}", t.slug, t.tax_id, t.legal_name, t.purposes.join(","));
                        }
                    }
                }
                ThirdPartyCommand::Purposes { .. } => {}
            }
        }
        Command::Pki(PkiCommand::Init { json }) => {
            let app = llave::open(config).await?;
            let outcome = llave::signature::init(&app).await?;
            if json {
                print_json(&outcome)?
            } else {
                let what = if outcome.created { "created the root and issuing CAs" } else { "the PKI already exists" };
                println!("{what}; root certificate: {}\n{}", outcome.root_file, outcome.root_pem.trim_end());
            }
        }
        Command::Pki(PkiCommand::Revoke { curp, reason, json }) => {
            let app = llave::open(config).await?;
            let curp = curp.trim().to_uppercase();
            let Some(account) = app.store.account_by_curp(&curp).await? else {
                anyhow::bail!("no account has the CURP {curp}");
            };
            let reason: String = reason.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect();
            let revoked =
                llave::signature::revoke_person(&app, &account, &reason, &llave::accounts::Actor::cli()).await?;
            if json {
                print_json(&serde_json::json!({ "curp": curp, "revoked": revoked }))?
            } else {
                println!("{} certificate(s) of {curp} revoked: {}", revoked.len(), revoked.join(", "));
            }
        }
        Command::Record(RecordCommand::Show { record_id, by, reader_kind, purpose, legal_basis, json }) => {
            let (by, purpose, legal_basis) = (by.trim(), purpose.trim(), legal_basis.trim());
            if by.is_empty() || purpose.is_empty() || legal_basis.is_empty() {
                anyhow::bail!("--by, --purpose and --legal-basis must not be empty");
            }
            let app = llave::open(config).await?;
            let (locator, versions) =
                llave::records::read_as_staff(&app, &record_id, &reader_kind, by, purpose, legal_basis).await.map_err(
                    |f| match f {
                        llave::records::Failure::Refused { description, .. } => anyhow::anyhow!(description),
                        llave::records::Failure::Internal(cause) => anyhow::anyhow!(cause),
                    },
                )?;
            let holder = app.store.entity_by_id(locator.entity_id).await?.map(|e| e.slug).unwrap_or_default();
            let view = serde_json::json!({
                "record_id": locator.record_id,
                "entity": holder,
                "kind": locator.kind,
                "current_version": locator.version,
                "withdrawn_at": locator.withdrawn_at,
                "versions": versions.iter().map(llave::records::api::version_json).collect::<Vec<_>>(),
            });
            if json {
                print_json(&view)?
            } else {
                println!("{}", serde_json::to_string_pretty(&view)?);
            }
        }
        Command::Audit(command) => audit(command, config, cli.global.database.as_deref()).await?,
        Command::Witness(WitnessCommand::Key { identity }) => {
            println!("{}", llave::witness::verifier_key(&identity.name, &identity.key_file())?);
        }
        Command::Witness(WitnessCommand::Serve { listen, identity, logs }) => {
            let options = llave::witness::Options {
                listen,
                name: identity.name.clone(),
                key_file: identity.key_file(),
                state_dir: identity.state_dir.clone(),
                logs,
            };
            llave::witness::serve(options, llave::shutdown_signal()).await?;
        }
        Command::Verify { document, signature, root, crl, json } => {
            let read = |path: &std::path::Path| {
                std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
            };
            let (document, signature) = (read(&document)?, read(&signature)?);
            let (root, crl) = match root {
                Some(root) => {
                    let root = llave::signature::pki::parse_certificate(&fetch(&root).await?)
                        .map_err(|e| anyhow::anyhow!("the root certificate cannot be read: {e}"))?;
                    let crl = match crl {
                        Some(crl) => Some(fetch(&crl).await?),
                        None => None,
                    };
                    (root, crl)
                }
                None => {
                    let app = llave::open(config).await?;
                    let root = llave::signature::root(&app).await?;
                    let crl = match crl {
                        Some(crl) => fetch(&crl).await?,
                        None => llave::signature::crl(&app).await?,
                    };
                    (root, Some(crl))
                }
            };
            let crl = match crl {
                Some(bytes) => Some(
                    llave::signature::cms::parse_crl(&bytes)
                        .ok_or_else(|| anyhow::anyhow!("the CRL cannot be read"))?,
                ),
                None => None,
            };
            let verdict =
                llave::signature::cms::verify(&document, &signature, &root, crl.as_ref(), llave::crypto::now());
            if json {
                print_json(&verdict)?
            } else {
                print!("{}", llave::signature::verdict_text(&verdict));
            }
            if verdict.status != llave::signature::cms::Status::Valid {
                std::process::exit(1);
            }
        }
        Command::Keys(KeysCommand::Rotate { json }) => {
            let app = llave::open(config).await?;
            let made = llave::keys::rotate(&app.store).await?;
            let made: Vec<_> = made.into_iter().map(|(alg, kid)| serde_json::json!({"alg": alg, "kid": kid})).collect();
            if json {
                print_json(&made)?
            } else {
                for key in made {
                    println!("new {} key {}", key["alg"].as_str().unwrap_or(""), key["kid"].as_str().unwrap_or(""));
                }
            }
        }
        Command::Catalog(CatalogCommand::Import { file, json }) => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let app = llave::open(config).await?;
            match llave::catalog::import(&app.store, &text, "cli", llave::crypto::now()).await {
                Ok(counts) if json => print_json(&counts)?,
                Ok(counts) => println!(
                    "catalog imported: {} created, {} updated, {} unchanged, {} equivalences",
                    counts.created, counts.updated, counts.unchanged, counts.equivalences
                ),
                Err(llave::catalog::ImportError::Rows(rows)) => {
                    for row in &rows {
                        eprintln!("{}: {row}", file.display());
                    }
                    anyhow::bail!("{} bad row(s) in {}; nothing was imported", rows.len(), file.display());
                }
                Err(error) => return Err(error.into()),
            }
        }
        Command::Staff(command) => {
            let app = llave::open(config).await?;
            let target = |role: StaffRole, entity: Option<String>| -> anyhow::Result<(&'static str, String)> {
                match (role, entity) {
                    (StaffRole::HubStaff, None) => Ok(("hub_staff", llave::store::roles::HUB.to_string())),
                    (StaffRole::HubStaff, Some(_)) => anyhow::bail!("hub-staff is for the whole hub: no --entity"),
                    (StaffRole::CatalogEditor, Some(entity)) => Ok(("catalog_editor", entity)),
                    (StaffRole::CatalogEditor, None) => anyhow::bail!("catalog-editor needs --entity SLUG"),
                    (StaffRole::Officer, None) => Ok(("officer", llave::store::roles::HUB.to_string())),
                    (StaffRole::Officer, Some(_)) => anyhow::bail!("officer is for the whole hub: no --entity"),
                    (StaffRole::LegalReviewer, None) => {
                        Ok((llave::catalog::review::ROLE, llave::store::roles::HUB.to_string()))
                    }
                    (StaffRole::LegalReviewer, Some(_)) => {
                        anyhow::bail!("legal-reviewer is for the whole hub: no --entity")
                    }
                    (StaffRole::Auditor, None) => {
                        Ok((llave::audit::auditors::ROLE, llave::store::roles::HUB.to_string()))
                    }
                    (StaffRole::Auditor, Some(_)) => anyhow::bail!("auditor is for the whole hub: no --entity"),
                    (StaffRole::Requester, _) => anyhow::bail!("requester is for an authority: --authority SLUG"),
                    (StaffRole::RequisitionApprover, None) => {
                        Ok((llave::requisitions::APPROVER, llave::store::roles::HUB.to_string()))
                    }
                    (StaffRole::RequisitionApprover, Some(_)) => {
                        anyhow::bail!("requisition-approver is for the whole hub: no --entity")
                    }
                }
            };
            let granting = matches!(command, StaffCommand::Grant(_));
            match command {
                StaffCommand::Grant(RoleArgs { curp, role, entity, authority, office, json })
                | StaffCommand::Revoke(RoleArgs { curp, role, entity, authority, office, json }) => {
                    let (role, scope, account) = match (role, authority) {
                        (StaffRole::Requester, Some(slug)) if entity.is_none() => {
                            let slug = slug.trim().to_string();
                            if app.store.requesting_authority(&slug).await?.is_none() {
                                anyhow::bail!("no requesting authority has the slug {slug:?} (llave authority list)");
                            }
                            let account = staff_account(&app, &curp, llave::store::roles::HUB).await?;
                            (llave::requisitions::REQUESTER, slug, account)
                        }
                        (_, Some(_)) => anyhow::bail!("--authority is only for the requester role"),
                        (role, None) => {
                            let (role, scope) = target(role, entity)?;
                            (role, scope.clone(), staff_account(&app, &curp, &scope).await?)
                        }
                    };
                    if office.is_some() && (!granting || role != llave::assurance::officer::ROLE) {
                        anyhow::bail!("--office is for granting the officer role");
                    }
                    let result = if granting {
                        let office = office.as_deref();
                        let done =
                            llave::admin::staff::grant_at_office(&app.store, account, role, &scope, office, "cli")
                                .await?;
                        if done { "granted" } else { "already held" }
                    } else {
                        let done = llave::admin::staff::revoke(&app.store, account, role, &scope, "cli").await?;
                        if done { "revoked" } else { "not held" }
                    };
                    let answer = serde_json::json!({"curp": curp, "role": role, "scope": scope, "result": result});
                    if json { print_json(&answer)? } else { println!("{role} ({scope}) for {curp}: {result}") }
                }
                StaffCommand::List { json } => {
                    let roles = app.store.list_roles().await?;
                    if json {
                        print_json(&roles)?
                    } else {
                        for r in roles {
                            match &r.office {
                                Some(office) => println!("{}  {}  {}  {office}", r.curp, r.role, r.scope),
                                None => println!("{}  {}  {}", r.curp, r.role, r.scope),
                            }
                        }
                    }
                }
            }
        }
        Command::Authority(AuthorityCommand::Add { slug, name, mandate, certificate, json }) => {
            let bytes = std::fs::read(&certificate)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", certificate.display()))?;
            let app = llave::open(config).await?;
            let authority =
                llave::requisitions::authorities::register(&app, &slug, &name, &mandate, &bytes, "cli").await?;
            let answer = serde_json::json!({
                "slug": authority.slug, "name": authority.name, "mandate": authority.mandate,
                "key_algorithm": authority.key_algorithm, "result": "registered",
            });
            if json {
                print_json(&answer)?
            } else {
                println!("authority {} registered ({} key)", authority.slug, authority.key_algorithm)
            }
        }
        Command::Authority(AuthorityCommand::List { json }) => {
            let app = llave::open(config).await?;
            let authorities = app.store.list_requesting_authorities().await?;
            if json {
                print_json(&serde_json::json!({ "authorities": authorities }))?
            } else {
                for a in authorities {
                    println!("{}  {}  ({} key)  {}", a.slug, a.name, a.key_algorithm, a.mandate);
                }
            }
        }
        Command::Requisitions(RequisitionsCommand::Report { as_of, json }) => {
            let now = match as_of.as_deref() {
                Some(day) => {
                    let date = llave::calendar::parse_date(day.trim())
                        .ok_or_else(|| anyhow::anyhow!("--as-of must be a date, YYYY-MM-DD"))?;
                    llave::calendar::city_day_start(date) + 86_400 - 1
                }
                None => llave::crypto::now(),
            };
            let app = llave::open(config).await?;
            let lines = llave::requisitions::report(&app, now).await?;
            let overdue = lines.iter().filter(|l| l.overdue).count();
            if json {
                print_json(&serde_json::json!({ "as_of": now, "requisitions": lines, "overdue": overdue }))?
            } else {
                for l in &lines {
                    let flag = if l.overdue { "  OVERDUE: no destruction attestation" } else { "" };
                    let due = l.attestation_due.map(llave::calendar::format_time).unwrap_or_else(|| "-".into());
                    println!(
                        "{}  {}  {}  {}  attestation due {due}{flag}",
                        l.id,
                        l.authority,
                        l.case_number,
                        l.status.as_str()
                    );
                }
                println!("{} requisition(s), {overdue} overdue", lines.len());
            }
        }
        Command::Catalog(CatalogCommand::Report { json }) => {
            let app = llave::open(config).await?;
            let report = llave::catalog::report(&app.store).await?;
            if json { print_json(&report)? } else { print!("{}", report.to_text()) }
        }
        Command::Catalog(CatalogCommand::Export { format }) => {
            let app = llave::open(config).await?;
            let text = match format {
                ExportFormat::Json => llave::catalog::export_json(&app.store).await?,
                ExportFormat::Csv => llave::catalog::export_csv(&app.store).await?,
            };
            print!("{text}");
        }
        Command::Citizen(CitizenCommand::Show { curp, json }) => {
            let app = llave::open(config).await?;
            let view = llave::admin::citizen::show(&app, &curp).await?;
            if json { print_json(&view)? } else { print!("{}", view.to_text()) }
        }
    }
    Ok(())
}

async fn audit(command: AuditCommand, config: Config, database: Option<&str>) -> anyhow::Result<()> {
    match command {
        AuditCommand::Key { json } => {
            let app = llave::open(config).await?;
            let key = app.audit.verifier_key();
            if json {
                print_json(&serde_json::json!({"origin": app.audit.origin(), "verifier_key": key}))?
            } else {
                println!("{key}");
            }
        }
        AuditCommand::Prove { event_id, json } => {
            let app = llave::open(config).await?;
            let proof = llave::audit::prove(&app.store, &app.audit, event_id).await?;
            if json {
                use base64::Engine;
                let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
                print_json(&serde_json::json!({
                    "event": event_id,
                    "index": proof.index,
                    "entry": proof.extra.as_deref().map(String::from_utf8_lossy),
                    "inclusion_proof": proof.proof.iter().map(|h| b64(h)).collect::<Vec<_>>(),
                    "checkpoint": proof.checkpoint,
                    "tlog_proof": proof.text(),
                }))?
            } else {
                print!("{}", proof.text());
            }
        }
        AuditCommand::Verify { url, key, since, save, json } => {
            let read = |path: &std::path::Path| {
                std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
            };
            let key = key.as_deref().map(read).transpose()?;
            let since = since.as_deref().map(read).transpose()?;
            let http = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))?;
            let request =
                llave::audit::verify::Request { url: &url, key: key.as_deref(), since: since.as_deref(), database };
            let verified = llave::audit::verify::verify(&http, request).await?;
            if let Some(path) = save {
                std::fs::write(&path, &verified.note)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            }
            if json {
                print_json(&verified)?
            } else {
                println!("audit log {} verified: {} entries, root {}", verified.origin, verified.size, verified.root);
                if let Some(old) = verified.consistent_with {
                    println!("consistent with the saved checkpoint of {old} entries: the log only grew");
                }
                if let Some(events) = verified.database_events {
                    println!("database: {events} event rows match their entries");
                }
            }
        }
    }
    Ok(())
}

fn init_tracing(server: bool, format: llave::config::LogFormat) {
    let default = if server { "info,sqlx=warn" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LLAVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        llave::config::LogFormat::Text => builder.try_init(),
        // One object per line; the fields of the spans it happened in (the request's id
        // among them) are carried on every line.
        llave::config::LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn a_record_id_that_begins_with_a_hyphen_is_an_id() {
        // base64url ids begin with `-` one time in 64: `record show` must take them.
        let args = ["llave", "record", "show", "-Nq3", "--by", "Auditoría", "--purpose", "p", "--legal-basis", "l"];
        let matches = Cli::command().try_get_matches_from(args);
        assert!(matches.is_ok(), "{:?}", matches.err());
    }

    /// The help clap prints for `llave ARGS… --help`.
    fn help(args: &[&str]) -> String {
        let mut all = vec!["llave"];
        all.extend_from_slice(args);
        all.push("--help");
        match Cli::command().try_get_matches_from(all) {
            Err(error) if error.kind() == clap::error::ErrorKind::DisplayHelp => error.to_string(),
            other => panic!("{args:?} printed no help: {:?}", other.err()),
        }
    }

    #[test]
    fn every_command_and_argument_has_help_text() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} (the command)"));
                }
                walk(sub, &path, missing);
            }
        }
        let mut command = Cli::command();
        command.build();
        let mut missing = Vec::new();
        walk(&command, "llave", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    #[test]
    fn a_commands_own_options_come_first_and_server_options_only_where_they_apply() {
        let add = help(&["citizen", "add"]);
        let at = |text: &str| add.find(text).unwrap_or_else(|| panic!("{text} not in {add}"));
        assert!(at("--curp") < at("--given-names") && at("--given-names") < at("--first-surname"), "{add}");
        assert!(at("--json") < at("--data-dir") && at("--json") < at("--database"), "its own options first: {add}");
        for command in [&["citizen", "add"][..], &["verify"], &["citizen", "show"], &["entity", "add"], &["migrate"]] {
            let text = help(command);
            for server in ["--listen", "--issuer", "--registry", "--dev"] {
                assert!(!text.contains(server), "{command:?} shows {server}: {text}");
            }
        }
        let serve = help(&["serve"]);
        for expected in ["--listen", "--issuer", "--registry", "--dev", "Server options", "--data-dir"] {
            assert!(serve.contains(expected), "serve --help lacks {expected}: {serve}");
        }
    }

    #[test]
    fn the_settings_are_discoverable_from_the_help() {
        let serve = help(&["serve"]);
        for expected in [
            "[mail]",
            "LLAVE_MAIL__SMTP_URL",
            "[signature.pkcs11]",
            "LLAVE_SIGNATURE__PKCS11__",
            "[assurance.remote]",
            "LLAVE_ASSURANCE__REMOTE__",
            "LLAVE_LOG",
            "LLAVE_DEV__ENABLED",
            "docs/operators.md",
        ] {
            assert!(serve.contains(expected), "serve --help lacks {expected}: {serve}");
        }
        let top = help(&[]);
        assert!(top.contains("[env: LLAVE_CONFIG]") && !top.contains("LLAVE_CONFIG="), "{top}");
        assert!(top.contains("serve --help"), "{top}");
        assert!(help(&["staff"]).contains("officer"), "the staff summary names the officer role");
        assert!(help(&["staff", "grant"]).contains("officer"));
    }
}
