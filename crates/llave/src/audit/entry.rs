//! The audit entry: what a leaf of the public tree holds about one event. Canonical JSON
//! (RFC 8785: keys sorted, no whitespace, integers only, strings escaped as ECMAScript
//! does), with no personal data: the person is a pseudonym (a keyed hash of the account id
//! under the hub's audit secret), staff, officers and auditors (who are people too) keyed
//! hashes of their identifiers, entities and procedures by their public ids, and the
//! contents (basis, record id, purpose, detail) by keyed hashes. The clear event stays in
//! the database; with the secret, the operator (and `llave audit verify --database`)
//! re-computes every entry from its row. Documented field by field in docs/audit.md.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::store::audit::StoredEvent;

/// The keyed hash behind pseudonyms and content hashes: HMAC-SHA-256 under the hub's audit
/// secret (`server_secrets.audit_pseudonym_key`), with the field's name as a domain.
pub struct Pseudonyms {
    key: ring::hmac::Key,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms(..)")
    }
}

impl Pseudonyms {
    pub fn new(secret: &[u8]) -> Pseudonyms {
        Pseudonyms { key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret) }
    }

    /// `base64url(HMAC(secret, domain ‖ 0x00 ‖ value))`.
    pub fn hash(&self, domain: &str, value: &str) -> String {
        let mut context = ring::hmac::Context::with_key(&self.key);
        context.update(domain.as_bytes());
        context.update(&[0]);
        context.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(context.sign().as_ref())
    }
}

/// Entry format version: a change is a new version, never an edit of this one.
pub const VERSION: u8 = 1;

/// The entry of an event (RFC 8785 canonical JSON; fields declared in sorted order).
pub fn encode(event: &StoredEvent, pseudonyms: &Pseudonyms) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        account: Option<String>,
        act: &'a str,
        actor: Actor<'a>,
        at: i64,
        basis: Option<String>,
        detail: Option<String>,
        holder: Option<i64>,
        id: i64,
        kind: &'a str,
        outcome: &'a str,
        procedure: Option<&'a str>,
        purpose: Option<String>,
        record: Option<String>,
        seq: i64,
        v: u8,
    }
    #[derive(serde::Serialize)]
    struct Actor<'a> {
        entity: Option<i64>,
        id: String,
        kind: &'a str,
    }
    let content = |domain: &str, value: Option<&str>| value.map(|v| pseudonyms.hash(domain, v));
    // People acting (staff, officers, auditors) are named by a keyed hash of their
    // identifier; entities' clients and llave itself by their public ids.
    let actor_id = match event.actor_kind.as_str() {
        "entity" | "system" => event.actor.clone(),
        _ if event.actor.is_empty() => String::new(),
        _ => pseudonyms.hash("actor", &event.actor),
    };
    let entry = Entry {
        account: event.account_id.map(|a| pseudonyms.hash("person", &a.to_string())),
        act: &event.act_id,
        actor: Actor { entity: event.actor_entity_id, id: actor_id, kind: &event.actor_kind },
        at: event.at,
        basis: content("basis", event.basis.as_deref()),
        detail: content("detail", event.detail.as_deref()),
        holder: event.holder_entity_id,
        id: event.id,
        kind: &event.kind,
        outcome: &event.outcome,
        procedure: event.procedure_slug.as_deref(),
        purpose: content("purpose", Some(event.purpose.as_str()).filter(|p| !p.is_empty())),
        record: content("record", event.record_id.as_deref()),
        seq: event.seq,
        v: VERSION,
    };
    serde_json::to_vec(&entry).unwrap_or_default()
}

/// The person's pseudonym, as entries name them.
pub fn person(pseudonyms: &Pseudonyms, account_id: i64) -> String {
    pseudonyms.hash("person", &account_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> StoredEvent {
        StoredEvent {
            id: 42,
            act_id: "act-1".into(),
            seq: 0,
            at: 1_780_000_000,
            kind: "record_access".into(),
            outcome: "read".into(),
            account_id: Some(7),
            actor_kind: "staff".into(),
            actor: "GOMC800101HDFRRR09".into(),
            actor_entity_id: None,
            basis: Some("Ley, art. 5".into()),
            record_id: Some("rec-1".into()),
            holder_entity_id: Some(3),
            procedure_slug: Some("licencia".into()),
            purpose: "auditoría".into(),
            detail: None,
        }
    }

    #[test]
    fn the_entry_is_canonical_and_pseudonymous() {
        let pseudonyms = Pseudonyms::new(b"secret");
        let text = String::from_utf8(encode(&event(), &pseudonyms)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        // Keys sorted at every level, no whitespace: RFC 8785 for this shape.
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(text.starts_with(r#"{"account":""#) && !text.contains(' '), "{text}");
        assert!(text.contains(r#""actor":{"entity":null,"id":""#), "{text}");
        assert!(text.ends_with(r#""seq":0,"v":1}"#), "{text}");
        for clear in ["GOMC800101HDFRRR09", "rec-1", "Ley", "auditor", "\"account\":7"] {
            assert!(!text.contains(clear), "{clear} is in {text}");
        }
        assert!(text.contains(r#""procedure":"licencia""#) && text.contains(r#""holder":3"#));
        // The same event, the same entry; another secret, other pseudonyms.
        assert_eq!(encode(&event(), &pseudonyms), text.as_bytes());
        assert_ne!(encode(&event(), &Pseudonyms::new(b"other")), text.as_bytes());
    }
}
