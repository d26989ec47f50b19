//! `llave audit verify`: fetches the newest checkpoint and every tile and entry bundle from
//! a hub, checks the checkpoint's signature, recomputes the tree from the entries, and
//! compares every tile the hub serves with it. With a checkpoint saved earlier (`--since`),
//! checks that the log only grew: the earlier tree is a prefix of this one (a consistency
//! proof between them), not a smaller tree (a rollback) nor another tree of the same size
//! (a fork, a split view). With a database (`--database`), re-encodes every event row and
//! compares it with its published entry, and looks for rows the log never had. Needs no
//! data directory: only the hub's URL (and the database's).

use std::collections::HashMap;

use tlog::merkle::{Levels, TILE_WIDTH, leaf_hash};
use tlog::note::{Checkpoint, NoteVerifier};
use tlog::tiles::Tile;

use super::entry::{Pseudonyms, encode};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot fetch {0}: {1}")]
    Fetch(String, String),
    #[error("the verifier key is not valid: {0}")]
    Key(String),
    #[error("the checkpoint is not validly signed by {0}: {1}")]
    Signature(String, String),
    #[error("{0} is malformed")]
    Malformed(String),
    #[error("the published log does not add up: {0}")]
    Tree(String),
    #[error(
        "the log shrank: the saved checkpoint has {old} entries, the hub's has {new} (restored from a backup, or rewritten)"
    )]
    Shrank { old: u64, new: u64 },
    #[error(
        "the log forked (a split view): the saved checkpoint and the hub's disagree about the first {size} entries"
    )]
    Forked { size: u64 },
    #[error("the saved checkpoint is of another log ({0})")]
    OtherLog(String),
    #[error("the database differs from the published log: first bad index {index} ({reason})")]
    BadIndex { index: u64, reason: String },
    #[error("the database: {0}")]
    Database(String),
}

/// What `verify` was asked to check.
pub struct Request<'a> {
    pub url: &'a str,
    /// The verifier key (`name+id+key`); `None`: the hub's own `/audit/key` (trust on first use).
    pub key: Option<&'a str>,
    /// A signed checkpoint saved by an earlier run.
    pub since: Option<&'a str>,
    pub database: Option<&'a str>,
}

/// What was verified.
#[derive(Debug, serde::Serialize)]
pub struct Verified {
    pub origin: String,
    pub size: u64,
    pub root: String,
    /// The verified signed checkpoint (what `--save` keeps).
    #[serde(skip)]
    pub note: String,
    /// The size of the `--since` checkpoint this one is consistent with.
    pub consistent_with: Option<u64>,
    /// Event rows matched with their leaves (`--database`).
    pub database_events: Option<u64>,
}

/// Bundles fetched at once.
const PARALLEL: usize = 16;

pub async fn verify(http: &reqwest::Client, request: Request<'_>) -> Result<Verified, VerifyError> {
    let base = audit_base(request.url);
    let key_text = match request.key {
        Some(key) => key.to_string(),
        None => String::from_utf8_lossy(&get(http, &format!("{base}key")).await?).into_owned(),
    };
    let verifier = NoteVerifier::parse(key_text.trim()).map_err(|e| VerifyError::Key(e.to_string()))?;
    let note = String::from_utf8(get(http, &format!("{base}checkpoint")).await?)
        .map_err(|_| VerifyError::Malformed("the checkpoint".into()))?;
    let checkpoint =
        Checkpoint::open(&note, &verifier).map_err(|e| VerifyError::Signature(verifier.name.clone(), e.to_string()))?;
    let size = checkpoint.size;

    let mut database = match request.database {
        Some(url) => Some(DatabaseCheck::open(url).await?),
        None => None,
    };
    // Every entry, hashed into the tree's levels as it arrives.
    let mut levels = Levels::default();
    levels.0.push(Vec::new());
    let bundles = size.div_ceil(TILE_WIDTH);
    let mut next = 0;
    while next < bundles {
        let window: Vec<Tile> =
            (next..(next + PARALLEL as u64).min(bundles)).filter_map(|n| Tile::for_size(None, n, size)).collect();
        next += window.len() as u64;
        for (tile, bytes) in window.iter().zip(fetch_all(http, &base, &window).await?) {
            let entries = tlog::tiles::parse_bundle(&bytes)
                .ok_or_else(|| VerifyError::Malformed(format!("{base}{}", tile.path())))?;
            if entries.len() as u64 != tile.width {
                return Err(VerifyError::Tree(format!(
                    "{} holds {} entries, not {}",
                    tile.path(),
                    entries.len(),
                    tile.width
                )));
            }
            if let Some(database) = database.as_mut() {
                database.compare(tile.start(), &entries).await?;
            }
            for entry in &entries {
                levels.push(leaf_hash(entry));
            }
        }
    }
    let root = tlog::merkle::tree_hash(&mut levels, size).map_err(|e| VerifyError::Tree(e.to_string()))?;
    if root != checkpoint.root {
        return Err(VerifyError::Tree("the entries do not hash to the checkpoint's root".into()));
    }
    // The hash tiles a mirror or a tile-aware client would read must agree too.
    for level in 0..levels.0.len() as u32 {
        let tiles: Vec<Tile> = (0..).map_while(|n| Tile::for_size(Some(level), n, size)).collect();
        for chunk in tiles.chunks(PARALLEL) {
            for (tile, bytes) in chunk.iter().zip(fetch_all(http, &base, chunk).await?) {
                let expected = &levels.0[level as usize][tile.start() as usize..(tile.start() + tile.width) as usize];
                if bytes != tlog::tiles::tile_bytes(expected) {
                    return Err(VerifyError::Tree(format!(
                        "the tile {} differs from the entries' hashes",
                        tile.path()
                    )));
                }
            }
        }
    }
    let consistent_with = match request.since {
        Some(saved) => Some(check_since(saved, &verifier, &checkpoint, &mut levels)?),
        None => None,
    };
    let database_events = match database {
        Some(database) => Some(database.finish(size).await?),
        None => None,
    };
    use base64::Engine;
    Ok(Verified {
        origin: checkpoint.origin.clone(),
        size,
        root: base64::engine::general_purpose::STANDARD.encode(root),
        note,
        consistent_with,
        database_events,
    })
}

/// The saved checkpoint must be a prefix of the hub's tree.
fn check_since(
    saved: &str,
    verifier: &NoteVerifier,
    now: &Checkpoint,
    levels: &mut Levels,
) -> Result<u64, VerifyError> {
    let old = Checkpoint::open(saved, verifier).map_err(|e| VerifyError::OtherLog(e.to_string()))?;
    if old.size > now.size {
        return Err(VerifyError::Shrank { old: old.size, new: now.size });
    }
    if old.size == now.size {
        return if old.root == now.root { Ok(old.size) } else { Err(VerifyError::Forked { size: old.size }) };
    }
    if old.size == 0 {
        return if old.root == tlog::merkle::empty_root() { Ok(0) } else { Err(VerifyError::Forked { size: 0 }) };
    }
    let proof =
        tlog::merkle::consistency_proof(levels, old.size, now.size).map_err(|e| VerifyError::Tree(e.to_string()))?;
    tlog::merkle::verify_consistency(old.size, now.size, &old.root, &now.root, &proof)
        .map_err(|_| VerifyError::Forked { size: old.size })?;
    Ok(old.size)
}

/// `https://hub` or `https://hub/audit` → `https://hub/audit/`.
fn audit_base(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.ends_with("/audit") { format!("{url}/") } else { format!("{url}/audit/") }
}

async fn get(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, VerifyError> {
    let failed = |e: String| VerifyError::Fetch(url.to_string(), e);
    let response = http.get(url).send().await.map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("the hub answered {}", response.status())));
    }
    Ok(response.bytes().await.map_err(|e| failed(e.to_string()))?.to_vec())
}

/// The tiles' bytes, in order, fetched at once.
async fn fetch_all(http: &reqwest::Client, base: &str, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, VerifyError> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, tile) in tiles.iter().enumerate() {
        let (http, url) = (http.clone(), format!("{base}{}", tile.path()));
        tasks.spawn(async move { (i, get(&http, &url).await) });
    }
    let mut out = vec![Vec::new(); tiles.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, bytes) = done.map_err(|e| VerifyError::Fetch(base.to_string(), e.to_string()))?;
        out[i] = bytes?;
    }
    Ok(out)
}

/// `--database`: every published entry against the event row it names.
struct DatabaseCheck {
    store: Store,
    pseudonyms: Pseudonyms,
    /// The event id of every leaf, in leaf order.
    leaf_ids: Vec<i64>,
    first_bad: Option<(u64, String)>,
}

impl DatabaseCheck {
    async fn open(url: &str) -> Result<DatabaseCheck, VerifyError> {
        let failed = |e: String| VerifyError::Database(e);
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            let path = path.split('?').next().unwrap_or(path);
            if !std::path::Path::new(path).is_file() {
                return Err(failed(format!("no database at {path}")));
            }
        }
        let store = Store::connect(url).await.map_err(|e| failed(e.to_string()))?;
        let secret = store
            .existing_server_secret(super::PSEUDONYM_SECRET)
            .await
            .map_err(|e| failed(e.to_string()))?
            .ok_or_else(|| failed("it holds no audit secret: it is not this log's database".into()))?;
        Ok(DatabaseCheck {
            store,
            pseudonyms: Pseudonyms::new(secret.as_bytes()),
            leaf_ids: Vec::new(),
            first_bad: None,
        })
    }

    fn bad(&mut self, index: u64, reason: String) {
        if self.first_bad.as_ref().is_none_or(|(first, _)| index < *first) {
            self.first_bad = Some((index, reason));
        }
    }

    /// Entries `start …`: each must be the encoding of the row it names.
    async fn compare(&mut self, start: u64, entries: &[Vec<u8>]) -> Result<(), VerifyError> {
        #[derive(serde::Deserialize)]
        struct Named {
            id: i64,
        }
        let ids: Vec<Option<i64>> =
            entries.iter().map(|e| serde_json::from_slice::<Named>(e).ok().map(|n| n.id)).collect();
        let (lo, hi) = ids.iter().flatten().fold((i64::MAX, i64::MIN), |(lo, hi), id| (lo.min(*id), hi.max(*id)));
        let rows: HashMap<i64, _> = if lo <= hi {
            self.store
                .stored_events(lo, hi)
                .await
                .map_err(|e| VerifyError::Database(e.to_string()))?
                .into_iter()
                .map(|row| (row.id, row))
                .collect()
        } else {
            HashMap::new()
        };
        for (offset, (entry, id)) in entries.iter().zip(ids).enumerate() {
            let index = start + offset as u64;
            let Some(id) = id else {
                self.bad(index, "the entry names no event".into());
                self.leaf_ids.push(i64::MIN);
                continue;
            };
            self.leaf_ids.push(id);
            match rows.get(&id) {
                None => self.bad(index, format!("event {id} is missing")),
                Some(row) if encode(row, &self.pseudonyms) != *entry => {
                    self.bad(index, format!("event {id} differs from its entry"))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Rows the log should have (at or below the checkpoint's floor) but has no leaf for:
    /// inserted afterwards. The bad index is where they stand: the first leaf of a later event.
    async fn finish(mut self, size: u64) -> Result<u64, VerifyError> {
        let failed = |e: crate::store::StoreError| VerifyError::Database(e.to_string());
        let floor = match self.store.audit_checkpoint(size as i64).await.map_err(failed)? {
            Some(checkpoint) => checkpoint.event_floor,
            None => return Err(VerifyError::Database(format!("it has no checkpoint of size {size}: another log?"))),
        };
        let mut logged = self.leaf_ids.clone();
        logged.sort_unstable();
        for id in self.store.event_ids_up_to(floor).await.map_err(failed)? {
            if logged.binary_search(&id).is_err() {
                let index = self.leaf_ids.iter().position(|leaf| *leaf > id).unwrap_or(self.leaf_ids.len()) as u64;
                self.bad(index, format!("event {id} is not in the log"));
            }
        }
        self.store.close().await;
        match self.first_bad {
            Some((index, reason)) => Err(VerifyError::BadIndex { index, reason }),
            None => Ok(self.leaf_ids.len() as u64),
        }
    }
}
