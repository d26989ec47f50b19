//! C2SP `tlog-witness` (`add-checkpoint`) and `tlog-cosignature` (Ed25519, type 0x04), pure:
//! the request's format, the witness's checks and its answer, and the cosignature a log
//! checks before publishing it. The caller keeps the witness's state (the latest checkpoint
//! it cosigned per origin) and persists it before answering.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::{Hash, empty_root, verify_consistency};
use crate::note::{Checkpoint, Note, NoteVerifier};

const COSIGNATURE: u8 = 0x04;

fn cosigner_key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([COSIGNATURE])
        .chain_update(public)
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// What a cosignature signs: `cosignature/v1`, `time T`, then the checkpoint's text.
fn cosigned_message(text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

/// A witness's key and name.
pub struct Cosigner {
    pub name: String,
    key: SigningKey,
}

impl Cosigner {
    pub fn new(name: &str, key: SigningKey) -> Cosigner {
        Cosigner { name: name.to_string(), key }
    }

    /// `<name>+<hex key id>+<base64(0x04 ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        let public = self.key.verifying_key().to_bytes();
        let mut bytes = vec![COSIGNATURE];
        bytes.extend_from_slice(&public);
        let id: String = cosigner_key_id(&self.name, &public).iter().map(|b| format!("{b:02x}")).collect();
        format!("{}+{id}+{}", self.name, STANDARD.encode(bytes))
    }

    /// The cosignature line (with its newline) of a checkpoint's text at `timestamp`.
    pub fn cosign(&self, text: &str, timestamp: u64) -> String {
        let public = self.key.verifying_key().to_bytes();
        let signature = self.key.sign(cosigned_message(text, timestamp).as_bytes());
        let mut bytes = cosigner_key_id(&self.name, &public).to_vec();
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        format!("\u{2014} {} {}\n", self.name, STANDARD.encode(bytes))
    }
}

/// A witness's verifier key, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignerKey {
    pub name: String,
    id: [u8; 4],
    key: [u8; 32],
}

impl CosignerKey {
    pub fn parse(text: &str) -> Option<CosignerKey> {
        let mut parts = text.trim().splitn(3, '+');
        let (name, id, key) = (parts.next()?, parts.next()?, parts.next()?);
        let id = u32::from_str_radix(id, 16).ok()?.to_be_bytes();
        let key = STANDARD.decode(key).ok()?;
        if key.len() != 33 || key[0] != COSIGNATURE || !crate::note::valid_name(name) {
            return None;
        }
        let key: [u8; 32] = key[1..].try_into().ok()?;
        (cosigner_key_id(name, &key) == id).then(|| CosignerKey { name: name.to_string(), id, key })
    }

    /// The lines of `answer` that are valid cosignatures by this key of `text`.
    pub fn valid_lines<'a>(&self, text: &str, answer: &'a str) -> Vec<&'a str> {
        answer
            .lines()
            .filter(|line| {
                let Some(rest) = line.strip_prefix("\u{2014} ") else { return false };
                let Some((name, signature)) = rest.split_once(' ') else { return false };
                let Ok(bytes) = STANDARD.decode(signature) else { return false };
                if name != self.name || bytes.len() != 4 + 8 + 64 || bytes[..4] != self.id {
                    return false;
                }
                let timestamp = u64::from_be_bytes(bytes[4..12].try_into().expect("8 bytes"));
                let (Ok(key), Ok(signature)) =
                    (VerifyingKey::from_bytes(&self.key), Signature::from_slice(&bytes[12..]))
                else {
                    return false;
                };
                key.verify(cosigned_message(text, timestamp).as_bytes(), &signature).is_ok()
            })
            .collect()
    }
}

/// An `add-checkpoint` request body.
pub fn request(old: u64, proof: &[Hash], note: &str) -> String {
    let mut body = format!("old {old}\n");
    for hash in proof {
        body.push_str(&STANDARD.encode(hash));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body
}

/// The latest checkpoint a witness cosigned for one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    pub size: u64,
    pub root: Hash,
}

/// The witness's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200: cosignature lines; the caller persists `latest` first.
    Cosigned { lines: String, latest: Latest },
    /// 400
    BadRequest(String),
    /// 403
    Forbidden,
    /// 404
    UnknownOrigin,
    /// 409: the size of the latest cosigned checkpoint.
    Conflict(u64),
    /// 422; `evidence` when the log signed something inconsistent with what the witness
    /// cosigned before (a fork, or a split view: another root for the same size).
    Unprocessable { reason: String, evidence: Option<String> },
}

/// Runs the `add-checkpoint` checks of C2SP tlog-witness.
pub fn add_checkpoint(
    body: &str,
    logs: &[NoteVerifier],
    latest: impl Fn(&str) -> Option<Latest>,
    cosigner: &Cosigner,
    now: u64,
) -> Answer {
    let bad = |why: &str| Answer::BadRequest(why.to_string());
    let Some((head, note)) = body.split_once("\n\n") else { return bad("no empty line before the checkpoint") };
    let mut lines = head.split('\n');
    let Some(old) = lines.next().and_then(|l| l.strip_prefix("old ")) else { return bad("no old size line") };
    if old.len() > 1 && old.starts_with('0') {
        return bad("the old size has leading zeroes");
    }
    let Ok(old) = old.parse::<u64>() else { return bad("the old size is not a number") };
    let mut proof = Vec::new();
    for line in lines {
        match STANDARD.decode(line).ok().and_then(|h| Hash::try_from(h).ok()) {
            Some(hash) => proof.push(hash),
            None => return bad("a proof line is not a base64 hash"),
        }
    }
    if proof.len() > 63 {
        return bad("more than 63 proof lines");
    }
    let Ok(parsed) = Note::parse(note) else { return bad("the checkpoint is not a signed note") };
    let Ok(checkpoint) = Checkpoint::parse(&parsed.text) else { return bad("malformed checkpoint") };
    let Some(verifier) = logs.iter().find(|v| v.name == checkpoint.origin) else { return Answer::UnknownOrigin };
    if parsed.verified_by(verifier).is_err() {
        return Answer::Forbidden;
    }
    if old > checkpoint.size {
        return bad("the old size is larger than the checkpoint's");
    }
    let current = latest(&checkpoint.origin);
    let current_size = current.as_ref().map_or(0, |l| l.size);
    if old != current_size {
        return Answer::Conflict(current_size);
    }
    let unprocessable =
        |reason: &str, evidence: Option<String>| Answer::Unprocessable { reason: reason.into(), evidence };
    if checkpoint.size == 0 && checkpoint.root != empty_root() {
        return unprocessable("a tree of size 0 must have the empty root", None);
    }
    match &current {
        None if !proof.is_empty() => return unprocessable("a proof from size 0 must be empty", None),
        None => {}
        Some(current) if current.size == checkpoint.size && (current.root != checkpoint.root || !proof.is_empty()) => {
            let evidence = format!(
                "split view: {} signed two checkpoints of size {}: root {} (cosigned) and root {}",
                checkpoint.origin,
                checkpoint.size,
                STANDARD.encode(current.root),
                STANDARD.encode(checkpoint.root)
            );
            return unprocessable("another root for a size already cosigned (a split view)", Some(evidence));
        }
        Some(current) if current.size == checkpoint.size => {}
        Some(current)
            if verify_consistency(current.size, checkpoint.size, &current.root, &checkpoint.root, &proof).is_err() =>
        {
            let evidence = (current.size > 0).then(|| {
                    format!(
                        "fork: {} signed a checkpoint of size {} (root {}) that is not consistent with the cosigned one of size {} (root {})",
                        checkpoint.origin,
                        checkpoint.size,
                        STANDARD.encode(checkpoint.root),
                        current.size,
                        STANDARD.encode(current.root)
                    )
                });
            return unprocessable("the consistency proof does not verify", evidence);
        }
        Some(_) => {}
    }
    Answer::Cosigned {
        lines: cosigner.cosign(&parsed.text, now),
        latest: Latest { size: checkpoint.size, root: checkpoint.root },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{Levels, consistency_proof, leaf_hash, tree_hash};
    use crate::note::NoteSigner;

    #[test]
    fn a_witness_cosigns_growth_and_refuses_conflicts_forks_and_split_views() {
        let log = NoteSigner::new("example.com/log", SigningKey::from_bytes(&[1; 32]));
        let logs = vec![NoteVerifier::parse(&log.verifier_key()).unwrap()];
        let witness = Cosigner::new("witness.example/w1", SigningKey::from_bytes(&[2; 32]));
        let mut levels = Levels::from_leaves((0u8..10).map(|i| leaf_hash(&[i])).collect());
        let signed = |levels: &mut Levels, size: u64| {
            let root = tree_hash(levels, size).unwrap();
            log.sign(&Checkpoint { origin: log.name.clone(), size, root, extensions: vec![] }.text()).unwrap()
        };
        let mut state: Option<Latest> = None;
        // First contact: old 0, no proof.
        let note5 = signed(&mut levels, 5);
        let answer = add_checkpoint(&request(0, &[], &note5), &logs, |_| state.clone(), &witness, 1_700_000_000);
        let Answer::Cosigned { lines, latest } = answer else { panic!("{answer:?}") };
        let key = CosignerKey::parse(&witness.verifier_key()).unwrap();
        assert_eq!(key.valid_lines(&Note::parse(&note5).unwrap().text, &lines).len(), 1);
        state = Some(latest);
        // A stale old size: 409 with the witness's size.
        let note8 = signed(&mut levels, 8);
        assert_eq!(
            add_checkpoint(&request(0, &[], &note8), &logs, |_| state.clone(), &witness, 1),
            Answer::Conflict(5)
        );
        // Growth with a proof: cosigned.
        let proof = consistency_proof(&mut levels, 5, 8).unwrap();
        assert!(matches!(
            add_checkpoint(&request(5, &proof, &note8), &logs, |_| state.clone(), &witness, 2),
            Answer::Cosigned { .. }
        ));
        // A bad proof: 422.
        let answer = add_checkpoint(&request(5, &[[0; 32]], &note8), &logs, |_| state.clone(), &witness, 2);
        assert!(matches!(answer, Answer::Unprocessable { evidence: Some(_), .. }), "{answer:?}");
        // A split view: same size, another root, signed by the log.
        let mut other = Levels::from_leaves((0u8..5).map(|i| leaf_hash(&[i + 100])).collect());
        let forged = signed(&mut other, 5);
        let answer = add_checkpoint(&request(5, &[], &forged), &logs, |_| state.clone(), &witness, 3);
        let Answer::Unprocessable { evidence: Some(evidence), .. } = answer else { panic!("{answer:?}") };
        assert!(evidence.starts_with("split view"));
        // Unknown origin, bad signature.
        let stranger = NoteSigner::new("other.example/log", SigningKey::from_bytes(&[3; 32]));
        let note = stranger.sign("other.example/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
        assert_eq!(add_checkpoint(&request(0, &[], &note), &logs, |_| None, &witness, 4), Answer::UnknownOrigin);
        let impostor = NoteSigner::new("example.com/log", SigningKey::from_bytes(&[4; 32]));
        let note = impostor.sign("example.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
        assert_eq!(add_checkpoint(&request(0, &[], &note), &logs, |_| None, &witness, 4), Answer::Forbidden);
    }
}
