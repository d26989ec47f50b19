//! The migrations: both dialects migrate to the same schema (tables, columns, types by
//! family, nullability, defaults, generated ids, keys, indexes, foreign keys, checks), ids
//! are identity columns on PostgreSQL, and a database migrated before `sqlx::migrate!`
//! (by the hand-kept `include_str!` table) migrates on with nothing to redo.

mod catalogs;
mod model;

use std::borrow::Cow;
use std::path::PathBuf;

use llave::store::Store;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, Row, SqlSafeStr};

use crate::both_backends;
use crate::support::{Backend, FreshDatabase as Fresh};

fn migrations_folder(backend: Backend) -> PathBuf {
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations").join(name)
}

/// The migrations as the hand-kept table in `store/mod.rs` listed them before
/// `sqlx::migrate!`: each file's SQL, its version, and the rest of its name, underscores
/// kept, as the description (`migrate!` turns them into spaces; sqlx compares checksums only).
fn hand_kept_migrations(backend: Backend) -> Vec<Migration> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(migrations_folder(backend))
        .expect("migrations folder")
        .map(|entry| entry.expect("folder entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "sql"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let stem = path.file_stem().and_then(|stem| stem.to_str()).expect("a file name");
            let (version, description) = stem.split_once('_').expect("NNNN_description.sql");
            let sql = std::fs::read_to_string(path).expect("migration file");
            // As `sqlx::migrate!` reads it: a file opening with this comment runs outside a
            // transaction (SQLite's 0020 rebuilds a table with foreign keys off).
            let no_tx = sql.starts_with("-- no-transaction");
            Migration::new(
                version.parse().expect("a numbered migration"),
                Cow::Owned(description.to_string()),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                no_tx,
            )
        })
        .collect()
}

/// `_sqlx_migrations` as (version, description, checksum, installed_on), by version.
async fn applied(store: &Store) -> Vec<(i64, String, Vec<u8>, String)> {
    sqlx::query(
        "SELECT version, description, checksum, CAST(installed_on AS TEXT) FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(store.pool())
    .await
    .expect("_sqlx_migrations")
    .iter()
    .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
    .collect()
}

both_backends! {
    async fn a_database_migrated_by_the_hand_kept_table_migrates_on_with_nothing_to_redo(backend: Backend) {
        let fresh = Fresh::new(backend).await;
        let old = hand_kept_migrations(backend);
        assert!(old.len() >= 11, "0001–0011 were in the hand-kept table");
        Migrator::with_migrations(old.clone()).run(fresh.store.pool()).await.expect("the old way migrates");
        let before = applied(&fresh.store).await;

        let versions = fresh.store.migrate().await.expect("sqlx::migrate! accepts what the old way applied");

        assert_eq!(versions, old.len(), "migrate() counts every version in the folder");
        assert_eq!(applied(&fresh.store).await, before, "nothing was applied again or rewritten");
        assert_eq!(before.iter().find(|row| row.0 == 3).map(|row| row.1.as_str()), Some("oidc_sessions"));
        fresh.finish().await;
    }
}

both_backends! {
    async fn a_database_at_0011_gets_only_the_later_migrations(backend: Backend) {
        let fresh = Fresh::new(backend).await;
        let deployed: Vec<Migration> = hand_kept_migrations(backend).into_iter().filter(|m| m.version <= 11).collect();
        Migrator::with_migrations(deployed).run(fresh.store.pool()).await.expect("the old way migrates to 0011");
        let before = applied(&fresh.store).await;

        let versions = fresh.store.migrate().await.expect("the new migrations apply on top");

        let after = applied(&fresh.store).await;
        assert_eq!(after.len(), versions);
        assert_eq!(after[..before.len()], before[..], "0001–0011 stay as the old way recorded them");
        assert!(after[before.len()..].iter().all(|row| row.0 > 11));
        fresh.finish().await;
    }
}

both_backends! {
    async fn an_applied_migration_whose_file_changed_is_refused(backend: Backend) {
        let fresh = Fresh::new(backend).await;
        let mut edited = hand_kept_migrations(backend);
        let first = &edited[0];
        edited[0] = Migration::new(
            first.version,
            first.description.clone(),
            MigrationType::Simple,
            AssertSqlSafe(format!("{}\n-- edited after it shipped\n", first.sql.as_str())).into_sql_str(),
            false,
        );
        Migrator::with_migrations(edited).run(fresh.store.pool()).await.expect("the edited file migrates");

        let refused = fresh.store.migrate().await;

        assert!(
            matches!(refused, Err(llave::store::StoreError::Migrate(sqlx::migrate::MigrateError::VersionMismatch(1)))),
            "{refused:?}"
        );
        fresh.finish().await;
    }
}

/// 0013 on a PostgreSQL database at 0011 holding rows: the BIGSERIAL id of
/// `identity_verifications` becomes an identity column GENERATED ALWAYS, every id is kept, and
/// the next id comes after the highest the old sequence handed out (an insert that rolled back
/// took one), so no id is ever reused. (`record_access`, the other BIGSERIAL table, became a
/// view over `events` in 0012.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_ids_become_identity_columns_keeping_every_id() {
    let fresh = Fresh::new(Backend::Postgres).await;
    let pool = fresh.store.pool();
    let deployed: Vec<Migration> =
        hand_kept_migrations(Backend::Postgres).into_iter().filter(|m| m.version <= 11).collect();
    Migrator::with_migrations(deployed).run(pool).await.expect("migrate to 0011");
    sqlx::query(
        "INSERT INTO accounts (curp, given_names, first_surname, birth_date, sex, birth_state, email, \
         email_normalized, password_hash, password_changed_at, created_at, created_by) \
         VALUES ('AAAA000101HDFAAA09', 'Ana', 'Pérez', '2000-01-01', 'M', 'DF', 'a@example.mx', 'a@example.mx', \
         'x', 1, 1, 'self')",
    )
    .execute(pool)
    .await
    .unwrap();
    let insert = "INSERT INTO identity_verifications (account_id, purpose, method, verifier, document_kind, \
                  document_number, reference, verified_at) \
                  SELECT id, 'verify', 'officer', 'x', 'ine', '1234', 'in person', 1 FROM accounts RETURNING id";
    let mut ids: Vec<i64> = Vec::new();
    for _ in 0..3 {
        ids.push(sqlx::query_scalar(insert).fetch_one(pool).await.unwrap());
    }
    // Two ids taken by inserts that never committed.
    let sequence = "SELECT nextval(pg_get_serial_sequence('identity_verifications', 'id'))";
    sqlx::query(sequence).execute(pool).await.unwrap();
    let last: i64 = sqlx::query_scalar(sequence).fetch_one(pool).await.unwrap();

    fresh.store.migrate().await.expect("0012 and 0013 apply");

    let kept: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM identity_verifications ORDER BY id").fetch_all(pool).await.unwrap();
    assert_eq!(kept, ids);
    let next: i64 = sqlx::query_scalar(insert).fetch_one(pool).await.unwrap();
    assert_eq!(next, last + 1);
    let overridden = sqlx::query(
        "INSERT INTO identity_verifications (id, account_id, purpose, method, verifier, document_kind, \
         document_number, reference, verified_at) SELECT 1000, id, 'verify', 'officer', 'x', 'ine', '1', 'r', 1 \
         FROM accounts",
    )
    .execute(pool)
    .await;
    assert!(overridden.is_err(), "GENERATED ALWAYS refuses an id given by an insert");
    let identities: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() \
         AND table_name IN ('identity_verifications', 'events') AND column_name = 'id' \
         AND is_identity = 'YES' AND identity_generation = 'ALWAYS' AND column_default IS NULL",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(identities, 2, "the ids are identity columns with no serial default left");
    fresh.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_dialects_migrate_to_the_same_schema() {
    let sqlite = Fresh::new(Backend::Sqlite).await;
    let postgres = Fresh::new(Backend::Postgres).await;
    sqlite.store.migrate().await.expect("migrate SQLite");
    postgres.store.migrate().await.expect("migrate PostgreSQL");
    let sqlite_schema = catalogs::sqlite_schema(&sqlite.store).await;
    let postgres_schema = catalogs::postgres_schema(&postgres.store).await;
    sqlite.finish().await;
    postgres.finish().await;

    // Each reader found every kind of thing, so the comparison cannot pass on two empty reads.
    for (name, schema) in [("sqlite", &sqlite_schema), ("postgres", &postgres_schema)] {
        let tables = || schema.tables.values();
        assert!(schema.tables.len() > 20, "{name}: the tables were read: {:?}", schema.tables.keys());
        assert!(tables().all(|table| !table.columns.is_empty()), "{name}: every table has columns");
        assert!(tables().filter(|table| !table.primary_key.is_empty()).count() > 20, "{name}: primary keys");
        assert!(tables().any(|table| table.indexes.iter().any(|index| index.unique && index.partial)), "{name}");
        assert!(tables().any(|table| table.indexes.iter().any(|index| !index.unique)), "{name}: indexes");
        assert!(tables().map(|table| table.foreign_keys.len()).sum::<usize>() > 20, "{name}: foreign keys");
        assert!(tables().any(|table| table.checks > 0), "{name}: CHECK constraints");
        assert!(tables().any(|table| table.has_triggers), "{name}: triggers");
        assert!(tables().any(|table| table.columns.values().any(|column| column.default.is_some())), "{name}");
    }
    let mut drift = model::differences(("sqlite", &sqlite_schema), ("postgres", &postgres_schema));
    drift.extend(model::postgres_id_drift(&postgres_schema).into_iter().map(|line| format!("postgres: {line}")));
    assert!(drift.is_empty(), "the dialects drifted apart:\n{}", drift.join("\n"));
}

both_backends! {
    /// Expand/contract: a node of the previous version that starts on a database a newer
    /// node migrated further (a migration it does not carry is applied) migrates nothing and
    /// keeps working, where sqlx alone refuses ("previously applied but is missing").
    async fn a_node_of_the_previous_version_starts_on_a_database_migrated_further(backend: Backend) {
        let fresh = Fresh::new(backend).await;
        let versions = fresh.store.migrate().await.expect("migrate");
        let mut newer = hand_kept_migrations(backend);
        newer.push(Migration::new(
            9999,
            Cow::Borrowed("a newer release's expansion"),
            MigrationType::Simple,
            AssertSqlSafe("CREATE TABLE newer_release_expansion (id BIGINT PRIMARY KEY)").into_sql_str(),
            false,
        ));
        Migrator::with_migrations(newer).run(fresh.store.pool()).await.expect("the newer release migrates");
        let before = applied(&fresh.store).await;
        assert_eq!(before.len(), versions + 1);

        assert_eq!(fresh.store.migrate().await.expect("the previous version starts"), versions);
        assert_eq!(applied(&fresh.store).await, before, "nothing is redone or undone");
        fresh.finish().await;
    }
}
