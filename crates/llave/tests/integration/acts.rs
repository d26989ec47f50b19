//! Acts, events and the outbox at the store (`store::act`, `store::events`,
//! `store::outbox`): an act commits its change, its events and its outbox rows together or
//! nothing; reactions run inside it; the log is append-only; outbox claims are exclusive
//! across nodes and a lease that ends is claimed again.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use llave::store::{AccountId, Event, EventKind, Reactor, Store, StoreError, Tx};
use sqlx::Row;

use crate::both_backends;
use crate::support::{Backend, FreshDatabase};

/// A migrated database of its own, with no llave services (so no outbox worker) on it.
async fn database(backend: Backend) -> FreshDatabase {
    let db = FreshDatabase::new(backend).await;
    db.store.migrate().await.expect("migrate");
    db
}

fn event(kind: EventKind, account: i64) -> Event {
    Event::security(kind, Some(AccountId(account)), "203.0.113.7", "test", "detail")
}

both_backends! {
    async fn an_act_commits_its_events_and_outbox_rows_together_or_nothing(backend: Backend) {
        let db = database(backend).await;
        // Failed: nothing of it remains, neither the events nor the message.
        let failed: Result<(), StoreError> = db
            .store
            .act("test_failed", async |tx: &mut Tx| {
                tx.event(event(EventKind::SignIn, 1));
                tx.enqueue("mail", "{}", "es").await?;
                Err(StoreError::Data("the change failed".into()))
            })
            .await;
        assert!(failed.is_err());
        // Dropped without a commit: the same.
        {
            let mut tx = db.store.begin_act("test_dropped").await.unwrap();
            tx.event(event(EventKind::SignIn, 1));
            tx.enqueue("mail", "{}", "es").await.unwrap();
        }
        assert_eq!(db.count("SELECT COUNT(*) FROM acts").await, 0);
        assert_eq!(db.count("SELECT COUNT(*) FROM events").await, 0);
        assert_eq!(db.count("SELECT COUNT(*) FROM outbox").await, 0);

        let mut tx = db.store.begin_act("test_committed").await.unwrap();
        tx.event(event(EventKind::SignIn, 1));
        tx.event(event(EventKind::SignOut, 1));
        let message = tx.enqueue("mail", "{}", "es").await.unwrap();
        let act = tx.id().to_string();
        let written = tx.commit().await.unwrap();
        assert_eq!(written.len(), 2);
        let row = sqlx::query("SELECT name, events FROM acts WHERE id = $1")
            .bind(&act)
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(row.try_get::<String, _>("name").unwrap(), "test_committed");
        assert_eq!(row.try_get::<i64, _>("events").unwrap(), 2);
        let kinds: Vec<(i64, String)> = sqlx::query("SELECT seq, kind FROM events WHERE act_id = $1 ORDER BY seq")
            .bind(&act)
            .fetch_all(db.store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.try_get("seq").unwrap(), r.try_get("kind").unwrap()))
            .collect();
        assert_eq!(kinds, [(0, "sign_in".to_string()), (1, "sign_out".to_string())]);
        let queued: String = sqlx::query("SELECT act_id FROM outbox WHERE message_id = $1")
            .bind(&message)
            .fetch_one(db.store.pool())
            .await
            .unwrap()
            .try_get("act_id")
            .unwrap();
        assert_eq!(queued, act, "the message names the act that queued it");
        // The security page's view shows the events, as before they were one table.
        assert_eq!(db.count("SELECT COUNT(*) FROM security_events WHERE account_id = 1").await, 2);
        db.finish().await;
    }
}

both_backends! {
    async fn events_and_acts_cannot_be_edited_or_deleted(backend: Backend) {
        let db = database(backend).await;
        db.store.record("test", event(EventKind::SignIn, 3)).await.unwrap();
        for statement in [
            "UPDATE events SET kind = 'sign_out'",
            "DELETE FROM events",
            "UPDATE acts SET events = 0",
            "DELETE FROM acts",
            "INSERT INTO security_events (at, kind, account_id, client_address, user_agent, detail) \
             VALUES (1, 'sign_in', 3, '', '', '')",
        ] {
            let refused = sqlx::query(statement).execute(db.store.pool()).await;
            assert!(refused.is_err(), "{statement} was allowed");
        }
        assert_eq!(db.count("SELECT COUNT(*) FROM events WHERE kind = 'sign_in'").await, 1);
        db.finish().await;
    }
}

/// Answers `sign_out` with a `session_ended` event, and fails on `lockout`.
struct TestReactions;

impl Reactor for TestReactions {
    fn react<'a>(
        &'a self,
        tx: &'a mut Tx,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>> {
        Box::pin(async move {
            match event.kind {
                EventKind::SignOut => {
                    tx.event(Event::security(EventKind::SessionEnded, event.account, "", "", "by reaction"));
                    tx.enqueue("mail", "{}", "es").await?;
                    Ok(())
                }
                EventKind::Lockout => Err(StoreError::Data("the reaction failed".into())),
                _ => Ok(()),
            }
        })
    }
}

both_backends! {
    async fn reactions_run_inside_the_act_and_their_failure_undoes_it(backend: Backend) {
        let db = database(backend).await;
        db.store.set_reactor(Arc::new(TestReactions));
        let written = {
            let mut tx = db.store.begin_act("test_sign_out").await.unwrap();
            tx.event(event(EventKind::SignOut, 5));
            tx.commit().await.unwrap()
        };
        let kinds: Vec<EventKind> = written.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::SignOut, EventKind::SessionEnded]);
        assert_eq!(db.count("SELECT events FROM acts WHERE name = 'test_sign_out'").await, 2);
        assert_eq!(db.count("SELECT COUNT(*) FROM outbox").await, 1);

        let mut tx = db.store.begin_act("test_lockout").await.unwrap();
        tx.event(event(EventKind::Lockout, 5));
        assert!(tx.commit().await.is_err(), "a failed reaction fails the act");
        assert_eq!(db.count("SELECT COUNT(*) FROM acts WHERE name = 'test_lockout'").await, 0);
        assert_eq!(db.count("SELECT COUNT(*) FROM events WHERE kind = 'lockout'").await, 0);
        db.finish().await;
    }
}

both_backends! {
    async fn outbox_claims_are_exclusive_across_nodes(backend: Backend) {
        let db = database(backend).await;
        const MESSAGES: usize = 60;
        let mut tx = db.store.begin_act("test_queue").await.unwrap();
        for n in 0..MESSAGES {
            tx.enqueue("mail", &format!("{{\"n\":{n}}}"), "es").await.unwrap();
        }
        tx.commit().await.unwrap();
        // Two nodes (two stores, two pools), two workers each, claiming at once.
        let second = Store::connect(&db.url).await.unwrap();
        let now = llave::crypto::now();
        let mut workers = Vec::new();
        for store in [db.store.clone(), db.store.clone(), second.clone(), second.clone()] {
            workers.push(tokio::spawn(async move {
                let mut claimed = Vec::new();
                while let Some(message) = store.claim_outbox(now, 120).await.unwrap() {
                    claimed.push(message.message_id.clone());
                    store.outbox_done(message.id, now).await.unwrap();
                }
                claimed
            }));
        }
        let mut times: HashMap<String, usize> = HashMap::new();
        for worker in workers {
            for id in worker.await.unwrap() {
                *times.entry(id).or_default() += 1;
            }
        }
        assert_eq!(times.len(), MESSAGES, "every message was claimed");
        assert!(times.values().all(|&n| n == 1), "a message was claimed twice: {times:?}");
        assert_eq!(db.count("SELECT COUNT(*) FROM outbox WHERE done_at IS NULL").await, 0);
        second.close().await;
        db.finish().await;
    }
}

both_backends! {
    async fn a_claim_whose_lease_ended_is_claimed_again_with_the_same_message_id(backend: Backend) {
        let db = database(backend).await;
        let mut tx = db.store.begin_act("test_queue").await.unwrap();
        let id = tx.enqueue("backchannel_logout", "{}", "").await.unwrap();
        tx.commit().await.unwrap();
        let now = llave::crypto::now();
        let first = db.store.claim_outbox(now, 10).await.unwrap().expect("due");
        assert_eq!((first.message_id.as_str(), first.attempts), (id.as_str(), 1));
        // The node that claimed it died: nobody takes it while the lease lasts …
        assert!(db.store.claim_outbox(now + 5, 10).await.unwrap().is_none());
        // … and anyone does once it ended, with the same id for the receiver to recognise.
        let again = db.store.claim_outbox(now + 11, 10).await.unwrap().expect("lease over");
        assert_eq!((again.message_id.as_str(), again.attempts), (id.as_str(), 2));
        // A failure schedules the next attempt; not due before it.
        db.store.outbox_failed(again.id, now + 100, "unreachable").await.unwrap();
        assert!(db.store.claim_outbox(now + 50, 10).await.unwrap().is_none());
        assert!(db.store.claim_outbox(now + 100, 10).await.unwrap().is_some());
        db.finish().await;
    }
}

both_backends! {
    async fn nodes_starting_together_agree_on_one_signing_key_per_algorithm(backend: Backend) {
        let db = database(backend).await;
        // Four nodes (each its own key cache, two on a second pool), asked for keys at once
        // on an empty database: each generates keys, one insert per algorithm wins.
        let second = Store::connect(&db.url).await.unwrap();
        let mut nodes = Vec::new();
        for store in [db.store.clone(), db.store.clone(), second.clone(), second.clone()] {
            nodes.push(tokio::spawn(async move {
                let keys = llave::keys::Keys::default();
                let ring = keys.ring(&store).await.unwrap();
                let mut current: Vec<String> = ["RS256", "ES256", "EdDSA"]
                    .iter()
                    .map(|alg| ring.signing(alg).expect("a current key").kid.clone())
                    .collect();
                current.sort();
                current
            }));
        }
        let mut seen = Vec::new();
        for node in nodes {
            seen.push(node.await.unwrap());
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "nodes sign with different keys: {seen:?}");
        assert_eq!(db.count("SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NULL").await, 3);
        // A rotation keeps one current key per algorithm; the old ones stay published.
        llave::keys::rotate(&db.store).await.unwrap();
        assert_eq!(db.count("SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NULL").await, 3);
        assert_eq!(db.count("SELECT COUNT(*) FROM signing_keys").await, 6);
        second.close().await;
        db.finish().await;
    }
}

both_backends! {
    /// `Store::grouped_act`: many acts at once (one transaction on SQLite), each with its own
    /// row and events; an act that changes nothing leaves no record, and one that fails
    /// takes nothing of the others with it; events of many statements' worth are all kept.
    async fn grouped_acts_commit_each_act_with_its_events_and_fail_alone(backend: Backend) {
        let db = database(backend).await;
        sqlx::query("CREATE TABLE group_test (n BIGINT PRIMARY KEY)").execute(db.store.pool()).await.unwrap();
        let mut acts = Vec::new();
        for n in 0..60_i64 {
            let store = db.store.clone();
            acts.push(tokio::spawn(async move {
                let write: llave::store::act::GroupedWrite = Arc::new(move |tx: &mut Tx| {
                    Box::pin(async move {
                        if n % 10 == 3 {
                            // Changes nothing: no row, no act, no event.
                            return Ok(false);
                        }
                        // n = 7 writes a row that clashes with the one n = 0 wrote: it fails.
                        let key = if n == 7 { 0 } else { n };
                        sqlx::query("INSERT INTO group_test (n) VALUES ($1)").bind(key).execute(tx.conn()).await?;
                        tx.event(event(EventKind::SignIn, n));
                        if n == 11 {
                            for _ in 0..150 {
                                tx.event(event(EventKind::SignOut, n));
                            }
                        }
                        Ok(true)
                    })
                });
                (n, store.grouped_act("test_grouped", write).await)
            }));
        }
        let mut wrote = 0;
        for act in acts {
            let (n, outcome) = act.await.unwrap();
            match n {
                7 => assert!(outcome.is_err(), "the clashing act fails"),
                n if n % 10 == 3 => assert!(!outcome.unwrap(), "act {n} changed nothing"),
                n => {
                    assert!(outcome.unwrap(), "act {n} committed");
                    wrote += 1;
                }
            }
        }
        assert_eq!(wrote, 53);
        assert_eq!(db.count("SELECT COUNT(*) FROM group_test").await, 53);
        assert_eq!(db.count("SELECT COUNT(*) FROM acts WHERE name = 'test_grouped'").await, 53);
        assert_eq!(db.count("SELECT COUNT(*) FROM events").await, 53 + 150);
        // Every act's row counts its own events, numbered from 0.
        assert_eq!(db.count("SELECT COUNT(*) FROM acts a WHERE a.events <> (SELECT COUNT(*) FROM events e WHERE e.act_id = a.id)").await, 0);
        assert_eq!(db.count("SELECT MAX(seq) FROM events").await, 150);
    }
}
