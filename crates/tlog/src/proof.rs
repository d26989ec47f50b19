//! C2SP `tlog-proof`: `c2sp.org/tlog-proof@v1`, an optional `extra` line, `index N`, the
//! inclusion proof (one base64 hash a line), an empty line, then the signed checkpoint.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::merkle::Hash;

pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque data (llave puts the entry itself here, so the leaf hash can be recomputed).
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    pub fn text(&self) -> String {
        let mut text = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            text.push_str(&format!("extra {}\n", STANDARD.encode(extra)));
        }
        text.push_str(&format!("index {}\n", self.index));
        for hash in &self.proof {
            text.push_str(&STANDARD.encode(hash));
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.checkpoint);
        text
    }

    pub fn parse(text: &str) -> Option<TlogProof> {
        let rest = text.strip_prefix(HEADER)?.strip_prefix('\n')?;
        let (head, checkpoint) = rest.split_once("\n\n")?;
        let mut lines = head.split('\n');
        let mut line = lines.next()?;
        let mut extra = None;
        if let Some(data) = line.strip_prefix("extra ") {
            extra = Some(STANDARD.decode(data).ok()?);
            line = lines.next()?;
        }
        let index = line.strip_prefix("index ")?;
        if index.len() > 1 && index.starts_with('0') {
            return None;
        }
        let index = index.parse().ok()?;
        let proof = lines.map(|l| STANDARD.decode(l).ok()?.try_into().ok()).collect::<Option<Vec<Hash>>>()?;
        Some(TlogProof { extra, index, proof, checkpoint: checkpoint.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_round_trip() {
        let proof = TlogProof {
            extra: Some(b"entry".to_vec()),
            index: 7,
            proof: vec![[1; 32], [2; 32]],
            checkpoint: "log\n8\nAAAA\n\n\u{2014} log abc=\n".into(),
        };
        let text = proof.text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra ZW50cnk=\nindex 7\n"));
        assert_eq!(TlogProof::parse(&text), Some(proof.clone()));
        let bare = TlogProof { extra: None, proof: vec![], ..proof };
        assert_eq!(TlogProof::parse(&bare.text()), Some(bare));
    }
}
