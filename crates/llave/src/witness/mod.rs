//! `llave witness serve`: a C2SP `tlog-witness` that an auditor's office or another
//! government runs beside (never inside) the hub. It cosigns a log's checkpoint only if it
//! is consistent with the last one it cosigned for that log (an `add-checkpoint` with the
//! old size and a consistency proof): 409 for a stale old size, 422 for a proof that fails
//! or another root for a size already cosigned (a split view). It keeps, per log, the
//! latest checkpoint it cosigned (a JSON file, replaced atomically before each answer) and
//! every piece of evidence of misbehaviour it saw (`misbehaviour.log`, and
//! `GET /misbehaviour`). The checks themselves are `tlog::witness`.
//!
//! It needs no llave installation: its own key file, state directory and the verifier
//! keys of the logs it witnesses.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tlog::note::NoteVerifier;
use tlog::witness::{Answer, Cosigner, Latest};

/// How the witness is run.
pub struct Options {
    pub listen: SocketAddr,
    /// The witness's name (its cosignatures' key name), e.g. `auditoria.cdmx.gob.mx/witness`.
    pub name: String,
    /// Its Ed25519 key (base64 seed), made if missing.
    pub key_file: PathBuf,
    /// Where it keeps its state and the evidence it saw.
    pub state_dir: PathBuf,
    /// Verifier keys of the logs it witnesses.
    pub logs: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("the witness name {0:?} is not a valid key name (no spaces, no +)")]
    Name(String),
    #[error("the log key {0:?} is not a verifier key (name+id+key)")]
    LogKey(String),
    #[error(transparent)]
    Key(#[from] crate::keystore::KeyStoreError),
    #[error("the state directory {0}: {1}")]
    State(String, std::io::Error),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
}

struct Witness {
    cosigner: Cosigner,
    logs: Vec<NoteVerifier>,
    state_dir: PathBuf,
    /// Latest cosigned checkpoint per origin; the lock makes check-and-persist atomic.
    latest: tokio::sync::Mutex<BTreeMap<String, (u64, String)>>,
}

impl Witness {
    fn state_file(&self) -> PathBuf {
        self.state_dir.join("witness-state.json")
    }

    fn persist(&self, latest: &BTreeMap<String, (u64, String)>) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(latest).unwrap_or_default();
        let temporary = self.state_dir.join("witness-state.json.new");
        std::fs::write(&temporary, text)?;
        std::fs::File::open(&temporary)?.sync_all()?;
        std::fs::rename(&temporary, self.state_file())
    }

    fn report(&self, evidence: &str, body: &str) {
        tracing::error!(%evidence, "the log misbehaved");
        eprintln!("witness: MISBEHAVIOUR: {evidence}");
        let entry = format!("{} {evidence}\n{}\n\n", crate::crypto::now(), body.replace("\n\n", "\n|\n"));
        let path = self.state_dir.join("misbehaviour.log");
        let appended = std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut f| {
            use std::io::Write;
            f.write_all(entry.as_bytes())?;
            f.sync_all()
        });
        if let Err(error) = appended {
            tracing::error!(%error, "cannot record the evidence");
        }
    }
}

/// The witness's own verifier key, for the hubs that submit to it.
pub fn verifier_key(name: &str, key_file: &std::path::Path) -> Result<String, WitnessError> {
    Ok(Cosigner::new(name, crate::keystore::ed25519_key_file(key_file)?).verifier_key())
}

/// Runs the witness until SIGINT or SIGTERM.
pub async fn serve(options: Options, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), WitnessError> {
    if !tlog::note::valid_name(&options.name) {
        return Err(WitnessError::Name(options.name));
    }
    let logs = options
        .logs
        .iter()
        .map(|k| NoteVerifier::parse(k).map_err(|_| WitnessError::LogKey(k.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let shown = options.state_dir.display().to_string();
    std::fs::create_dir_all(&options.state_dir).map_err(|e| WitnessError::State(shown.clone(), e))?;
    let key = crate::keystore::ed25519_key_file(&options.key_file)?;
    let witness = Witness {
        cosigner: Cosigner::new(&options.name, key),
        logs,
        state_dir: options.state_dir.clone(),
        latest: Default::default(),
    };
    let latest: BTreeMap<String, (u64, String)> = match std::fs::read_to_string(witness.state_file()) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| WitnessError::State(shown.clone(), std::io::Error::other(e.to_string())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(WitnessError::State(shown, e)),
    };
    *witness.latest.lock().await = latest;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| WitnessError::Bind(options.listen.to_string(), e))?;
    let address = listener.local_addr().map_err(|e| WitnessError::Bind(options.listen.to_string(), e))?;
    println!("witness {} listening on http://{address}", witness.cosigner.verifier_key());
    let app = Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/misbehaviour", get(misbehaviour))
        .with_state(Arc::new(witness));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| WitnessError::Bind(options.listen.to_string(), e))
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: String) -> Response {
    let mut latest = witness.latest.lock().await;
    let known = |origin: &str| {
        latest.get(origin).and_then(|(size, root)| {
            let root = STANDARD.decode(root).ok()?.try_into().ok()?;
            Some(Latest { size: *size, root })
        })
    };
    let answer =
        tlog::witness::add_checkpoint(&body, &witness.logs, known, &witness.cosigner, crate::crypto::now() as u64);
    match answer {
        Answer::Cosigned { lines, latest: cosigned } => {
            let origin =
                body.split_once("\n\n").and_then(|(_, note)| note.lines().next()).unwrap_or_default().to_string();
            let mut next = latest.clone();
            next.insert(origin, (cosigned.size, STANDARD.encode(cosigned.root)));
            // Persisted before answering: a cosignature is never given for a state lost.
            if let Err(error) = witness.persist(&next) {
                tracing::error!(%error, "cannot persist the witness state");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            *latest = next;
            (StatusCode::OK, lines).into_response()
        }
        Answer::Conflict(size) => {
            (StatusCode::CONFLICT, [(CONTENT_TYPE, "text/x.tlog.size")], format!("{size}\n")).into_response()
        }
        Answer::BadRequest(why) => (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
        Answer::Forbidden => (StatusCode::FORBIDDEN, "no valid signature by a key of this log\n").into_response(),
        Answer::UnknownOrigin => (StatusCode::NOT_FOUND, "unknown log\n").into_response(),
        Answer::Unprocessable { reason, evidence } => {
            if let Some(evidence) = &evidence {
                witness.report(evidence, &body);
            }
            (StatusCode::UNPROCESSABLE_ENTITY, format!("{reason}\n")).into_response()
        }
    }
}

/// The evidence of misbehaviour seen so far (empty if none).
async fn misbehaviour(State(witness): State<Arc<Witness>>) -> Response {
    let text = std::fs::read_to_string(witness.state_dir.join("misbehaviour.log")).unwrap_or_default();
    ([(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}
