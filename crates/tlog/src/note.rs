//! C2SP `signed-note` with Ed25519 keys (algorithm byte 0x01), as Go's
//! `golang.org/x/mod/sumdb/note` reads and writes it, and the C2SP `tlog-checkpoint` body.
//!
//! A note is its text (ending in a newline), an empty line, then one line per signature:
//! `— <name> <base64(key id ‖ signature)>`. The key id is the first 4 bytes of
//! `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)`; the verifier key is written
//! `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

const ED25519: u8 = 0x01;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note")]
    Malformed,
    #[error("malformed verifier key")]
    BadKey,
    #[error("no valid signature by {0}")]
    Unsigned(String),
    #[error("malformed checkpoint")]
    BadCheckpoint,
}

/// A key name must be non-empty and hold no spaces and no `+` (signed-note).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([ED25519])
        .chain_update(public)
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// An Ed25519 private key wherever it lives: in memory ([`SigningKey`]) or on a token that
/// signs and never gives the key out (llave's PKCS#11 key store). Signing on a token can fail.
pub trait Ed25519Key: Send + Sync {
    fn public(&self) -> [u8; 32];
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], String>;
}

impl Ed25519Key for SigningKey {
    fn public(&self) -> [u8; 32] {
        self.verifying_key().to_bytes()
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], String> {
        Ok(Signer::sign(self, message).to_bytes())
    }
}

/// A signer: a name and an Ed25519 key.
pub struct NoteSigner {
    pub name: String,
    key: Box<dyn Ed25519Key>,
}

impl NoteSigner {
    pub fn new(name: &str, key: impl Ed25519Key + 'static) -> NoteSigner {
        NoteSigner { name: name.to_string(), key: Box::new(key) }
    }

    pub fn public(&self) -> [u8; 32] {
        self.key.public()
    }

    /// `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        verifier_key(&self.name, &self.public())
    }

    /// The signature line for `text` (without its newline); an error when the key's token
    /// refuses to sign.
    pub fn signature_line(&self, text: &str) -> Result<String, String> {
        let signature = self.key.sign(text.as_bytes())?;
        let mut bytes = key_id(&self.name, &self.public()).to_vec();
        bytes.extend_from_slice(&signature);
        Ok(format!("\u{2014} {} {}", self.name, STANDARD.encode(bytes)))
    }

    /// The signed note of `text` (which must end in a newline).
    pub fn sign(&self, text: &str) -> Result<String, String> {
        Ok(format!("{text}\n{}\n", self.signature_line(text)?))
    }
}

pub fn verifier_key(name: &str, public: &[u8; 32]) -> String {
    let mut bytes = vec![ED25519];
    bytes.extend_from_slice(public);
    let id: String = key_id(name, public).iter().map(|b| format!("{b:02x}")).collect();
    format!("{name}+{id}+{}", STANDARD.encode(bytes))
}

/// A parsed verifier key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    pub name: String,
    pub id: [u8; 4],
    pub key: [u8; 32],
}

impl NoteVerifier {
    pub fn parse(text: &str) -> Result<NoteVerifier, NoteError> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadKey);
        };
        if !valid_name(name) || id.len() != 8 {
            return Err(NoteError::BadKey);
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| NoteError::BadKey)?.to_be_bytes();
        let key = STANDARD.decode(key).map_err(|_| NoteError::BadKey)?;
        if key.len() != 33 || key[0] != ED25519 {
            return Err(NoteError::BadKey);
        }
        let key: [u8; 32] = key[1..].try_into().map_err(|_| NoteError::BadKey)?;
        if key_id(name, &key) != id {
            return Err(NoteError::BadKey);
        }
        Ok(NoteVerifier { name: name.to_string(), id, key })
    }

    fn verifies(&self, text: &str, signature: &[u8]) -> bool {
        let (Ok(key), Ok(signature)) = (VerifyingKey::from_bytes(&self.key), Signature::from_slice(signature)) else {
            return false;
        };
        key.verify(text.as_bytes(), &signature).is_ok()
    }
}

/// A note split into its text and its signature lines (name, key id, signature bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<(String, [u8; 4], Vec<u8>)>,
}

impl Note {
    pub fn parse(note: &str) -> Result<Note, NoteError> {
        let split = note.rfind("\n\n").ok_or(NoteError::Malformed)?;
        let text = &note[..split + 1];
        let lines = &note[split + 2..];
        if !lines.ends_with('\n') {
            return Err(NoteError::Malformed);
        }
        let mut signatures = Vec::new();
        for line in lines.lines() {
            let rest = line.strip_prefix("\u{2014} ").ok_or(NoteError::Malformed)?;
            let (name, signature) = rest.split_once(' ').ok_or(NoteError::Malformed)?;
            let bytes = STANDARD.decode(signature).map_err(|_| NoteError::Malformed)?;
            if bytes.len() < 5 || !valid_name(name) {
                return Err(NoteError::Malformed);
            }
            signatures.push((name.to_string(), [bytes[0], bytes[1], bytes[2], bytes[3]], bytes[4..].to_vec()));
        }
        if signatures.is_empty() {
            return Err(NoteError::Malformed);
        }
        Ok(Note { text: text.to_string(), signatures })
    }

    /// The text, if `verifier` signed it.
    pub fn verified_by(&self, verifier: &NoteVerifier) -> Result<&str, NoteError> {
        let signed = self.signatures.iter().any(|(name, id, signature)| {
            name == &verifier.name && id == &verifier.id && verifier.verifies(&self.text, signature)
        });
        if signed { Ok(&self.text) } else { Err(NoteError::Unsigned(verifier.name.clone())) }
    }
}

/// A C2SP `tlog-checkpoint`: origin, tree size, root hash (and extension lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root));
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let body = text.strip_suffix('\n').ok_or(NoteError::BadCheckpoint)?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or(NoteError::BadCheckpoint)?;
        let size = lines.next().ok_or(NoteError::BadCheckpoint)?;
        if size.is_empty() || (size.len() > 1 && size.starts_with('0')) || !size.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NoteError::BadCheckpoint);
        }
        let size = size.parse().map_err(|_| NoteError::BadCheckpoint)?;
        let root =
            STANDARD.decode(lines.next().ok_or(NoteError::BadCheckpoint)?).map_err(|_| NoteError::BadCheckpoint)?;
        let root: Hash = root.try_into().map_err(|_| NoteError::BadCheckpoint)?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(NoteError::BadCheckpoint);
        }
        Ok(Checkpoint { origin: origin.to_string(), size, root, extensions })
    }

    /// Opens a signed checkpoint: `verifier` must have signed it and its origin must be the
    /// verifier's name.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Checkpoint, NoteError> {
        let parsed = Note::parse(note)?;
        let checkpoint = Checkpoint::parse(parsed.verified_by(verifier)?)?;
        if checkpoint.origin != verifier.name {
            return Err(NoteError::Unsigned(verifier.name.clone()));
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_sumdb_note_example_verifies() {
        // The example of golang.org/x/mod/sumdb/note's documentation.
        let verifier =
            NoteVerifier::parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").unwrap();
        let note = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let parsed = Note::parse(note).unwrap();
        assert_eq!(
            parsed.verified_by(&verifier).unwrap(),
            "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
        );
        let tampered = note.replace("answer", "question");
        assert!(Note::parse(&tampered).unwrap().verified_by(&verifier).is_err());
    }

    #[test]
    fn checkpoints_sign_and_open() {
        let signer = NoteSigner::new("example.com/log", SigningKey::from_bytes(&[9; 32]));
        let checkpoint =
            Checkpoint { origin: "example.com/log".into(), size: 12, root: [3; 32], extensions: Vec::new() };
        let note = signer.sign(&checkpoint.text()).unwrap();
        let verifier = NoteVerifier::parse(&signer.verifier_key()).unwrap();
        assert_eq!(Checkpoint::open(&note, &verifier).unwrap(), checkpoint);
        let other = NoteSigner::new("example.com/log", SigningKey::from_bytes(&[8; 32]));
        assert!(Checkpoint::open(&note, &NoteVerifier::parse(&other.verifier_key()).unwrap()).is_err());
        assert!(Checkpoint::parse("o\n012\nAAAA\n").is_err());
    }
}
