//! The tamper-evident audit log (issue 16, docs/audit.md): every event of every act, in the
//! order the sequencer finds it committed, is a leaf of an RFC 6962 Merkle tree whose
//! signed checkpoints (C2SP `tlog-checkpoint`, Ed25519 signed notes) and tiles (C2SP
//! `tlog-tiles`) are published under `/audit/`, so anyone with the log's public key checks
//! that it was never rewritten (`llave audit verify`, or Go's `sumdb/tlog`).
//!
//! - [`entry`]: the pseudonymous canonical entry of an event;
//! - [`sequencer`]: appends new events as leaves and signs checkpoints (one at a time
//!   across nodes), in a background task of every server;
//! - [`routes`]: `/audit/checkpoint`, `/audit/key`, `/audit/tile/…`, `/audit/proof/{event}`;
//! - [`verify`]: the verifier behind `llave audit verify`, over HTTP (and a database);
//! - [`key`]: the log's signing key (a file in the data directory).
//!
//! The Merkle tree itself (hashing, proofs, tiles, notes) is the pure crate `tlog`.

pub mod auditors;
pub mod entry;
pub mod key;
pub mod routes;
pub mod sequencer;
pub mod verify;
pub mod witnesses;

use crate::config::Config;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the audit log key {0}: {1}")]
    Key(String, String),
    #[error("the audit log's stored hashes do not add up: {0}")]
    Tree(#[from] tlog::merkle::ProofError),
    #[error("event {0} is not in the audit log")]
    NotLogged(i64),
    #[error("the audit origin {0:?} is not a valid key name (no spaces, no +)")]
    Origin(String),
    #[error("the audit log key could not sign the checkpoint: {0}")]
    Sign(String),
    #[error("audit.key_on_token needs a PKCS#11 token: configure signature.pkcs11")]
    NoToken,
}

/// What the log needs at run time: its signer, its pseudonym secret and its origin.
pub struct Log {
    pub signer: tlog::note::NoteSigner,
    pub pseudonyms: entry::Pseudonyms,
    /// The last size each witness (by URL) said it cosigned.
    pub witness_sizes: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("origin", &self.signer.name).finish_non_exhaustive()
    }
}

/// Name of the server secret keying pseudonyms and content hashes.
pub const PSEUDONYM_SECRET: &str = "audit_pseudonym_key";
/// Name of the server secret fixing the origin the first node derived (so a node or a
/// command with another issuer setting never signs under another name).
const ORIGIN_SECRET: &str = "audit_origin";

impl Log {
    /// The log of this installation: its key (a file or on the token, made if missing),
    /// its secret and origin.
    pub async fn open(
        config: &Config,
        store: &Store,
        hsm: Option<&std::sync::Arc<crate::hsm::Hsm>>,
    ) -> Result<Log, AuditError> {
        let now = crate::crypto::now();
        let origin = match &config.audit.origin {
            Some(origin) => origin.clone(),
            None => store.server_secret(ORIGIN_SECRET, &derived_origin(&config.issuer()), now).await?,
        };
        if !tlog::note::valid_name(&origin) {
            return Err(AuditError::Origin(origin));
        }
        let signer = if config.audit.key_on_token {
            let hsm = hsm.ok_or(AuditError::NoToken)?;
            tlog::note::NoteSigner::new(&origin, key::TokenKey::open(hsm.clone())?)
        } else {
            tlog::note::NoteSigner::new(&origin, key::open_file(&config.audit_key_file())?)
        };
        let secret = store.server_secret(PSEUDONYM_SECRET, &crate::crypto::random_token(), now).await?;
        Ok(Log { signer, pseudonyms: entry::Pseudonyms::new(secret.as_bytes()), witness_sizes: Default::default() })
    }

    pub fn origin(&self) -> &str {
        &self.signer.name
    }

    /// The verifier key, as Go's `sumdb/note` reads it.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }
}

/// `https://llave.cdmx.gob.mx` → `llave.cdmx.gob.mx/audit`.
pub fn derived_origin(issuer: &str) -> String {
    let host = issuer.split_once("://").map_or(issuer, |(_, rest)| rest).trim_end_matches('/');
    format!("{host}/audit")
}

/// A C2SP `tlog-proof` that event `event_id` is in the log: its index, the inclusion proof
/// and the newest checkpoint (the log is brought up to date first), with the entry itself
/// as the `extra` data so the leaf hash can be recomputed offline.
pub async fn prove(store: &Store, log: &Log, event_id: i64) -> Result<tlog::proof::TlogProof, AuditError> {
    let checkpoint = sequencer::sequence(store, log).await?;
    let (index, entry) = store.audit_leaf_of_event(event_id).await?.ok_or(AuditError::NotLogged(event_id))?;
    let (index, size) = (index as u64, checkpoint.size as u64);
    let mut conn = store.pool().acquire().await.map_err(StoreError::from)?;
    let proof = sequencer::with_hashes(&mut conn, |source| tlog::merkle::inclusion_proof(source, index, size)).await?;
    Ok(tlog::proof::TlogProof { extra: Some(entry), index, proof, checkpoint: checkpoint.note })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_origin_follows_the_issuer() {
        assert_eq!(super::derived_origin("https://llave.cdmx.gob.mx/"), "llave.cdmx.gob.mx/audit");
        assert_eq!(super::derived_origin("http://localhost:8080"), "localhost:8080/audit");
    }
}
