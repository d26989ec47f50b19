//! Submitting checkpoints to witnesses (C2SP `tlog-witness`, `[[audit.witnesses]]`): each
//! new checkpoint goes to every witness with a consistency proof from the size the witness
//! last cosigned (learnt from a 409 the first time), and the cosignatures that verify under
//! the witness's key are kept and published with the checkpoint (`/audit/checkpoint`).
//! A witness that refuses — it holds a larger tree (the log was rolled back) or finds the
//! proof wrong (the log forked) — is logged as an error: the operators must know at once.

use tlog::witness::CosignerKey;

use crate::Services;
use crate::config::WitnessConfig;
use crate::store::audit::StoredCheckpoint;

/// One submission at a time in this process: the background sequencer and a command (or two
/// wake-ups) submitting the same size at once would both start from the size they last knew,
/// and the second, answered 409, would store no cosignature for the checkpoint it published.
static SUBMITTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Submits `checkpoint` to every configured witness that has not cosigned it yet.
pub async fn submit_all(app: &Services, checkpoint: &StoredCheckpoint) {
    let _one_at_a_time = SUBMITTING.lock().await;
    for witness in &app.config.audit.witnesses {
        if let Err(error) = submit(app, witness, checkpoint).await {
            tracing::error!(witness = %witness.url, %error, "a witness did not cosign the audit log's checkpoint");
        }
    }
}

async fn submit(app: &Services, witness: &WitnessConfig, checkpoint: &StoredCheckpoint) -> Result<(), String> {
    let key = CosignerKey::parse(&witness.key).ok_or("its key is not a cosigner verifier key")?;
    let size = checkpoint.size as u64;
    let known = app.audit.witness_sizes.lock().map(|sizes| sizes.get(&witness.url).copied()).unwrap_or(None);
    if known == Some(size) {
        return Ok(());
    }
    let mut old = known.unwrap_or(0);
    let text = tlog::note::Note::parse(&checkpoint.note).map_err(|e| e.to_string())?.text;
    let url = format!("{}/add-checkpoint", witness.url.trim_end_matches('/'));
    for _ in 0..3 {
        if old > size {
            return Err(format!(
                "it cosigned a tree of {old} entries, larger than ours ({size}): the log was rolled back"
            ));
        }
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            let mut conn = app.store.pool().acquire().await.map_err(|e| e.to_string())?;
            super::sequencer::with_hashes(&mut conn, |source| tlog::merkle::consistency_proof(source, old, size))
                .await
                .map_err(|e| e.to_string())?
        };
        let response = app
            .http
            .post(&url)
            .body(tlog::witness::request(old, &proof, &checkpoint.note))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.text().await.map_err(|e| e.to_string())?;
        match status.as_u16() {
            200 => {
                let lines: String = key.valid_lines(&text, &body).iter().map(|l| format!("{l}\n")).collect();
                if lines.is_empty() {
                    return Err("its answer holds no valid cosignature by its key".into());
                }
                app.store
                    .add_audit_cosignature(checkpoint.size, &key.name, &lines, crate::crypto::now())
                    .await
                    .map_err(|e| e.to_string())?;
                if let Ok(mut sizes) = app.audit.witness_sizes.lock() {
                    sizes.insert(witness.url.clone(), size);
                }
                return Ok(());
            }
            409 => old = body.trim().parse().map_err(|_| format!("a 409 without a size: {body}"))?,
            _ => return Err(format!("it answered {status}: {}", body.trim())),
        }
    }
    Err("it kept answering 409".into())
}
