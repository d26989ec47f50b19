//! The verdict of the crash test, read from the database once the outbox has drained:
//! acts are whole, every answer the clients received is backed by its change and its events,
//! and every outbox message reached its receiver (deduplicated by message id). Each check
//! names what is missing, so a failure points at the act that lost something.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use llave::crypto::token_hash;
use llave::store::Store;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::load::Ledger;
use super::receivers::Received;

async fn rows(store: &Store, sql: &'static str) -> Vec<AnyRow> {
    sqlx::query(sql).fetch_all(store.pool()).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn text(row: &AnyRow, column: &str) -> String {
    row.try_get::<Option<String>, _>(column).unwrap_or_else(|e| panic!("{column}: {e}")).unwrap_or_default()
}

fn number(row: &AnyRow, column: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(column).unwrap_or_else(|e| panic!("{column}: {e}"))
}

struct Event {
    act: String,
    seq: i64,
    kind: String,
    outcome: String,
    account: Option<i64>,
    actor: String,
    record: String,
    detail: String,
}

async fn events(store: &Store) -> Vec<Event> {
    let sql = "SELECT act_id, seq, kind, outcome, account_id, actor, record_id, detail FROM events";
    rows(store, sql)
        .await
        .iter()
        .map(|r| Event {
            act: text(r, "act_id"),
            seq: number(r, "seq").unwrap_or(-1),
            kind: text(r, "kind"),
            outcome: text(r, "outcome"),
            account: number(r, "account_id"),
            actor: text(r, "actor"),
            record: text(r, "record_id"),
            detail: text(r, "detail"),
        })
        .collect()
}

/// 1. No event without its act; every act has exactly the events it counted, numbered
///    0..n without a gap.
pub async fn acts_are_whole(store: &Store) {
    let acts: HashMap<String, i64> = rows(store, "SELECT id, events FROM acts")
        .await
        .iter()
        .map(|r| (text(r, "id"), number(r, "events").unwrap_or(-1)))
        .collect();
    let mut seqs: HashMap<&str, BTreeSet<i64>> = HashMap::new();
    let all = events(store).await;
    for event in &all {
        assert!(acts.contains_key(&event.act), "event {} #{} has no act {}", event.kind, event.seq, event.act);
        seqs.entry(&event.act).or_default().insert(event.seq);
    }
    for (act, counted) in &acts {
        let written = seqs.get(act.as_str()).cloned().unwrap_or_default();
        let expected: BTreeSet<i64> = (0..*counted).collect();
        assert_eq!(written, expected, "act {act} counted {counted} events; these are there: {written:?}");
    }
    println!("crash test: {} acts and {} events, all whole", acts.len(), all.len());
}

/// Diagnostics for unexpected answers: the signing keys, by algorithm (two current keys of
/// one algorithm mean two processes or requests made one each).
pub async fn print_signing_keys(store: &Store) {
    let keys = rows(store, "SELECT alg, retired_at FROM signing_keys").await;
    let mut by_alg: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for key in &keys {
        let entry = by_alg.entry(text(key, "alg")).or_default();
        if number(key, "retired_at").is_none() { entry.0 += 1 } else { entry.1 += 1 }
    }
    println!("crash test: signing keys (current, retired) by algorithm: {by_alg:?}");
}

/// 2. Every answer a client received is backed by its change and its events.
pub async fn answers_are_backed(store: &Store, ledger: &Ledger) {
    let all = events(store).await;
    let accounts: HashMap<String, i64> = rows(store, "SELECT id, curp FROM accounts")
        .await
        .iter()
        .map(|r| (text(r, "curp"), number(r, "id").unwrap_or(-1)))
        .collect();
    let count = |kind: &str, account: i64| all.iter().filter(|e| e.kind == kind && e.account == Some(account)).count();

    // Sign-ups: the account and one sign_up event for it (every account came by sign-up).
    for curp in &ledger.sign_ups {
        let account = accounts.get(curp).unwrap_or_else(|| panic!("sign-up of {curp} answered, no account"));
        assert_eq!(count("sign_up", *account), 1, "sign-up of {curp} answered: one sign_up event");
    }
    for (curp, account) in &accounts {
        assert_eq!(count("sign_up", *account), 1, "account {curp} exists: one sign_up event");
    }

    // Sign-ins: the session and its sign_in event; sessions ⇔ sign_in events, per account.
    let sessions: HashMap<String, (String, i64, String)> =
        rows(store, "SELECT id, token_hash, account_id, ended_reason FROM sessions")
            .await
            .iter()
            .map(|r| {
                (text(r, "token_hash"), (text(r, "id"), number(r, "account_id").unwrap_or(-1), text(r, "ended_reason")))
            })
            .collect();
    for (curp, cookie) in &ledger.sign_ins {
        let (id, account, _) = sessions
            .get(&token_hash(cookie))
            .unwrap_or_else(|| panic!("sign-in of {curp} answered with a session that is not stored"));
        assert_eq!(Some(account), accounts.get(curp), "session {id} is {curp}'s");
        assert!(count("sign_in", *account) > 0, "sign-in of {curp} answered (session {id}): no sign_in event");
    }
    for (curp, account) in &accounts {
        let stored = sessions.values().filter(|(_, a, _)| a == account).count();
        assert_eq!(stored, count("sign_in", *account), "{curp}: sessions stored against sign_in events");
    }

    // Sign-outs: the session ended by sign-out, and a sign_out event naming it; in bulk too.
    for cookie in &ledger.sign_outs {
        let (id, account, reason) = &sessions[&token_hash(cookie)];
        assert_eq!(reason, "sign_out", "sign-out of session {id} answered: the session is not ended by sign-out");
        let logged = all.iter().any(|e| e.kind == "sign_out" && &e.detail == id && e.account == Some(*account));
        assert!(logged, "sign-out of session {id} answered: no sign_out event names it");
    }
    let ended = sessions.values().filter(|(_, _, reason)| reason == "sign_out").count();
    assert_eq!(
        ended,
        all.iter().filter(|e| e.kind == "sign_out").count(),
        "sessions ended by sign-out against sign_out events"
    );

    // Records written: in the index.
    let index: BTreeSet<String> =
        rows(store, "SELECT record_id FROM record_index").await.iter().map(|r| text(r, "record_id")).collect();
    for record in &ledger.records_written {
        assert!(index.contains(record), "record {record} written (201), not in record_index");
    }

    // Reads: the grant spent and a read event for the record; spent grants ⇔ read events.
    let grants: HashMap<String, (String, Option<i64>)> =
        rows(store, "SELECT token_hash, record_id, spent_at FROM record_grants")
            .await
            .iter()
            .map(|r| (text(r, "token_hash"), (text(r, "record_id"), number(r, "spent_at"))))
            .collect();
    for (record, grant) in &ledger.reads {
        let (granted, spent) = grants
            .get(&token_hash(grant))
            .unwrap_or_else(|| panic!("read of {record} answered: its grant is not stored"));
        assert_eq!(granted, record, "the grant read {record}");
        assert!(spent.is_some(), "read of {record} answered: the grant is not spent");
        let logged = all.iter().any(|e| e.kind == "record_access" && e.outcome == "read" && &e.record == record);
        assert!(logged, "read of {record} answered: no record_access/read event");
    }
    let spent = grants.values().filter(|(_, spent)| spent.is_some()).count();
    let reads = all.iter().filter(|e| e.kind == "record_access" && e.outcome == "read").count();
    assert_eq!(spent, reads, "spent grants against record_access/read events");

    // Password resets asked: each answer queued a job (the request is an act without events).
    let jobs = rows(store, "SELECT message_id FROM outbox WHERE kind = 'password_reset'").await.len() as u64;
    assert!(jobs >= ledger.resets_asked, "{} password resets answered, {jobs} jobs queued", ledger.resets_asked);

    tokens_are_backed(store, ledger, &all, &accounts).await;
}

/// Token answers: the access token stored, and a `tokens_issued` event by the client for the
/// person (the event's actor is the client id); access tokens ⇔ tokens_issued events.
async fn tokens_are_backed(store: &Store, ledger: &Ledger, all: &[Event], accounts: &HashMap<String, i64>) {
    let stored: BTreeSet<String> =
        rows(store, "SELECT jti FROM access_tokens").await.iter().map(|r| text(r, "jti")).collect();
    let mut answered: BTreeMap<(String, Option<i64>), usize> = BTreeMap::new();
    for (client, curp, jti) in &ledger.tokens {
        assert!(stored.contains(jti), "token answer to {client} (jti {jti}) received: the access token is not stored");
        let account = curp.as_ref().map(|c| accounts[c]);
        *answered.entry((client.clone(), account)).or_default() += 1;
    }
    let issued = all.iter().filter(|e| e.kind == "tokens_issued").collect::<Vec<_>>();
    for ((client, account), answers) in &answered {
        let events = issued.iter().filter(|e| &e.actor == client && e.account == *account).count();
        assert!(
            events >= *answers,
            "{answers} token answers to {client} for account {account:?} received, {events} tokens_issued events"
        );
    }
    assert_eq!(issued.len(), stored.len(), "access tokens stored against tokens_issued events");
}

/// 3. Every outbox message reached its receiver; duplicates (at-least-once) are counted.
pub async fn outbox_reached_receivers(store: &Store, mail: &Received, logouts: &Received, ledger: &Ledger) {
    let outbox = rows(store, "SELECT message_id, kind, done_at FROM outbox").await;
    let pending: Vec<String> =
        outbox.iter().filter(|r| number(r, "done_at").is_none()).map(|r| text(r, "message_id")).collect();
    assert!(pending.is_empty(), "outbox messages not delivered: {pending:?}");
    let of_kind = |kind: &str| -> BTreeSet<String> {
        outbox.iter().filter(|r| text(r, "kind") == kind).map(|r| text(r, "message_id")).collect()
    };
    for (what, kind, received) in [("mail", "mail", mail), ("back-channel logout", "backchannel_logout", logouts)] {
        let queued = of_kind(kind);
        let got: BTreeSet<String> = received.times.keys().cloned().collect();
        let lost: Vec<_> = queued.difference(&got).collect();
        let unknown: Vec<_> = got.difference(&queued).collect();
        assert!(lost.is_empty(), "{what}: queued, never received: {lost:?}");
        assert!(unknown.is_empty(), "{what}: received, never queued: {unknown:?}");
        let twice: Vec<_> = received.times.iter().filter(|(_, n)| **n > 1).collect();
        println!(
            "crash test: {what}: {} messages, each received; {} received more than once: {twice:?}",
            queued.len(),
            twice.len()
        );
    }
    // Each session signed out with a grant told the portal, by its session id.
    let sessions: HashMap<String, String> = rows(store, "SELECT id, token_hash FROM sessions")
        .await
        .iter()
        .map(|r| (text(r, "token_hash"), text(r, "id")))
        .collect();
    let told: BTreeSet<&String> = logouts.sessions.values().collect();
    for cookie in ledger.sign_outs.iter().filter(|c| ledger.sessions_with_grants.contains(c)) {
        let id = &sessions[&token_hash(cookie)];
        assert!(told.contains(id), "session {id} signed out with a grant: the portal got no logout token for it");
    }
}
