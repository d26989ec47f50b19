//! Reads a migrated database's schema into a [`Schema`] through each backend's own
//! catalogs: SQLite's `sqlite_master` and table-valued pragmas, PostgreSQL's
//! `information_schema` and `pg_catalog` (within the connection's `current_schema()`, the
//! test's own schema). Left out as legitimately backend-specific: sqlx's `_sqlx_migrations`,
//! SQLite's internal tables, FTS5 virtual tables and their shadow tables.

use std::collections::BTreeSet;

use llave::store::Store;
use sqlx::Row;

use super::model::{Column, Family, ForeignKey, Generated, Index, Schema, Table};

const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// The shadow tables SQLite's FTS5 keeps for a virtual table `t`: `t_data`, `t_idx`, …
const FTS5_SHADOWS: [&str; 5] = ["data", "idx", "content", "docsize", "config"];

pub async fn sqlite_schema(store: &Store) -> Schema {
    let pool = store.pool();
    let rows = sqlx::query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )
    .fetch_all(pool)
    .await
    .expect("sqlite_master");
    let all: Vec<(String, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    let virtual_tables: BTreeSet<&str> = all
        .iter()
        .filter(|(_, sql)| sql.to_uppercase().starts_with("CREATE VIRTUAL TABLE"))
        .map(|(name, _)| name.as_str())
        .collect();
    let is_shadow =
        |name: &str| virtual_tables.iter().any(|vt| FTS5_SHADOWS.iter().any(|suffix| name == format!("{vt}_{suffix}")));
    let triggered: BTreeSet<String> = sqlx::query("SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger'")
        .fetch_all(pool)
        .await
        .expect("triggers")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut schema = Schema::default();
    for (name, sql) in &all {
        if name == MIGRATIONS_TABLE || virtual_tables.contains(name.as_str()) || is_shadow(name) {
            continue;
        }
        let mut table = sqlite_table(store, name, sql).await;
        table.has_triggers = triggered.contains(name);
        schema.tables.insert(name.clone(), table);
    }
    // `REFERENCES t` without columns means t's primary key (sqlite.org/foreignkeys.html §3).
    let primary_keys: Vec<(String, Vec<String>)> =
        schema.tables.iter().map(|(name, table)| (name.clone(), table.primary_key.clone())).collect();
    for table in schema.tables.values_mut() {
        table.foreign_keys = std::mem::take(&mut table.foreign_keys)
            .into_iter()
            .map(|mut key| {
                if key.referenced.is_empty()
                    && let Some((_, primary_key)) = primary_keys.iter().find(|(name, _)| *name == key.table)
                {
                    key.referenced = primary_key.clone();
                }
                key
            })
            .collect();
    }
    schema
}

async fn sqlite_table(store: &Store, name: &str, sql: &str) -> Table {
    let pool = store.pool();
    let mut table = Table::default();
    let columns = sqlx::query("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info($1) ORDER BY cid")
        .bind(name)
        .fetch_all(pool)
        .await
        .expect("pragma_table_info");
    let mut primary_key: Vec<(i64, String)> = Vec::new();
    for row in &columns {
        let (column, declared, not_null, default, pk): (String, String, i64, Option<String>, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        if pk > 0 {
            primary_key.push((pk, column.clone()));
        }
        table.columns.insert(
            column,
            Column {
                family: Family::of_sqlite(&declared),
                // SQLite lets NULL into a primary key column that is not an INTEGER PRIMARY
                // KEY unless NOT NULL is declared (a documented legacy quirk); PostgreSQL never
                // does. No query writes a NULL key, so a key column counts as NOT NULL here.
                nullable: not_null == 0 && pk == 0,
                default: default.map(|text| normalize_default(&text)),
                generated: Generated::No,
            },
        );
    }
    primary_key.sort();
    table.primary_key = primary_key.into_iter().map(|(_, column)| column).collect();
    // A single INTEGER PRIMARY KEY column is the row id (sqlite.org/lang_createtable.html#rowid).
    if let [key] = table.primary_key.as_slice()
        && let Some(column) = table.columns.get_mut(key)
        && columns
            .iter()
            .any(|row| row.get::<String, _>(0) == *key && row.get::<String, _>(1).eq_ignore_ascii_case("INTEGER"))
    {
        column.generated =
            if sql.to_uppercase().contains("AUTOINCREMENT") { Generated::Identity } else { Generated::RowId };
    }
    let indexes = sqlx::query("SELECT name, \"unique\", origin, partial FROM pragma_index_list($1)")
        .bind(name)
        .fetch_all(pool)
        .await
        .expect("pragma_index_list");
    for row in &indexes {
        let (index, unique, origin, partial): (String, i64, String, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if origin == "pk" {
            continue;
        }
        let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
            .bind(&index)
            .fetch_all(pool)
            .await
            .expect("pragma_index_info")
            .iter()
            .map(|row| row.get::<Option<String>, _>(0).unwrap_or_else(|| "<expression>".into()))
            .collect();
        table.indexes.insert(Index { columns, unique: unique != 0, partial: partial != 0 });
    }
    let keys = sqlx::query(
        "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list($1) ORDER BY id, seq",
    )
    .bind(name)
    .fetch_all(pool)
    .await
    .expect("pragma_foreign_key_list");
    let mut current: Option<(i64, ForeignKey)> = None;
    for row in &keys {
        let (id, referenced, from, to, on_delete): (i64, String, String, Option<String>, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        if current.as_ref().is_some_and(|(current_id, _)| *current_id != id)
            && let Some((_, key)) = current.take()
        {
            table.foreign_keys.insert(key);
        }
        let (_, key) = current.get_or_insert_with(|| {
            (id, ForeignKey { columns: vec![], table: referenced, referenced: vec![], on_delete })
        });
        key.columns.push(from);
        key.referenced.extend(to);
    }
    if let Some((_, key)) = current {
        table.foreign_keys.insert(key);
    }
    table.checks = count_checks(sql);
    table
}

/// SQLite keeps no catalog of CHECK constraints, only the table's `CREATE` text (which
/// `ALTER TABLE … ADD COLUMN` extends): count `CHECK (` outside `--` comments.
fn count_checks(sql: &str) -> usize {
    sql.lines()
        .map(|line| line.split("--").next().unwrap_or_default().to_uppercase())
        .map(|line| line.match_indices("CHECK").filter(|(at, _)| line[at + 5..].trim_start().starts_with('(')).count())
        .sum()
}

/// A default as written: PostgreSQL adds `::type` casts (`'x'::text`), SQLite keeps the text.
fn normalize_default(text: &str) -> String {
    let mut text = text.trim();
    while let Some(at) = text.rfind("::")
        && text[at + 2..].chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
    {
        text = text[..at].trim_end();
    }
    text.to_string()
}

pub async fn postgres_schema(store: &Store) -> Schema {
    let pool = store.pool();
    let mut schema = Schema::default();
    let tables = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(pool)
    .await
    .expect("information_schema.tables");
    for row in &tables {
        schema.tables.insert(row.get(0), Table::default());
    }
    let columns = sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, column_default::text, \
         is_identity::text, identity_generation::text \
         FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    .fetch_all(pool)
    .await
    .expect("information_schema.columns");
    for row in &columns {
        let (table, column, data_type, nullable, default, identity, generation): (
            String,
            String,
            String,
            String,
            Option<String>,
            String,
            Option<String>,
        ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4), row.get(5), row.get(6));
        let Some(table) = schema.tables.get_mut(&table) else { continue };
        let serial = default.as_deref().is_some_and(|text| text.starts_with("nextval("));
        let generated = match (identity.as_str(), generation.as_deref(), serial) {
            ("YES", Some("ALWAYS"), _) => Generated::Identity,
            ("YES", _, _) => Generated::IdentityByDefault,
            (_, _, true) => Generated::Serial,
            _ => Generated::No,
        };
        table.columns.insert(
            column,
            Column {
                family: Family::of_postgres(&data_type),
                nullable: nullable == "YES",
                default: if serial { None } else { default.map(|text| normalize_default(&text)) },
                generated,
            },
        );
    }
    let primary_keys = sqlx::query(
        "SELECT tc.table_name::text, kcu.column_name::text FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage kcu ON kcu.constraint_schema = tc.constraint_schema \
           AND kcu.constraint_name = tc.constraint_name AND kcu.table_name = tc.table_name \
         WHERE tc.table_schema = current_schema() AND tc.constraint_type = 'PRIMARY KEY' \
         ORDER BY tc.table_name, kcu.ordinal_position",
    )
    .fetch_all(pool)
    .await
    .expect("primary keys");
    for row in &primary_keys {
        if let Some(table) = schema.tables.get_mut(&row.get::<String, _>(0)) {
            table.primary_key.push(row.get(1));
        }
    }
    // Every index but the primary key's, a UNIQUE constraint's included; key columns only
    // (indnkeyatts), an expression as `<expression>` (attribute number 0).
    let indexes = sqlx::query(
        "SELECT t.relname::text, i.relname::text, x.indisunique, x.indpred IS NOT NULL, \
           COALESCE(a.attname::text, '<expression>') \
         FROM pg_index x \
         JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, position) \
         LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum AND k.attnum <> 0 \
         WHERE n.nspname = current_schema() AND NOT x.indisprimary AND k.position <= x.indnkeyatts \
         ORDER BY 1, 2, k.position",
    )
    .fetch_all(pool)
    .await
    .expect("pg_index");
    let mut current: Option<(String, String, Index)> = None;
    for row in &indexes {
        let (table, index, unique, partial, column): (String, String, bool, bool, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        if current.as_ref().is_some_and(|(_, name, _)| *name != index) {
            insert_index(&mut schema, current.take());
        }
        current
            .get_or_insert_with(|| (table, index, Index { columns: vec![], unique, partial }))
            .2
            .columns
            .push(column);
    }
    insert_index(&mut schema, current);
    let keys = sqlx::query(
        "SELECT c.conname::text, t.relname::text, r.relname::text, a.attname::text, ra.attname::text, \
           c.confdeltype::text \
         FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid \
         JOIN pg_class r ON r.oid = c.confrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(attnum, referenced, position) \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum \
         JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = k.referenced \
         WHERE c.contype = 'f' AND n.nspname = current_schema() \
         ORDER BY 2, 1, k.position",
    )
    .fetch_all(pool)
    .await
    .expect("foreign keys");
    let mut current: Option<(String, String, ForeignKey)> = None;
    for row in &keys {
        let (constraint, table, referenced, column, referenced_column, on_delete): (
            String,
            String,
            String,
            String,
            String,
            String,
        ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
        if current.as_ref().is_some_and(|(name, owner, _)| *name != constraint || *owner != table)
            && let Some((_, owner, key)) = current.take()
            && let Some(owner) = schema.tables.get_mut(&owner)
        {
            owner.foreign_keys.insert(key);
        }
        let on_delete = match on_delete.as_str() {
            "r" => "RESTRICT",
            "c" => "CASCADE",
            "n" => "SET NULL",
            "d" => "SET DEFAULT",
            _ => "NO ACTION",
        };
        let key = &mut current
            .get_or_insert_with(|| {
                (
                    constraint,
                    table,
                    ForeignKey { columns: vec![], table: referenced, referenced: vec![], on_delete: on_delete.into() },
                )
            })
            .2;
        key.columns.push(column);
        key.referenced.push(referenced_column);
    }
    if let Some((_, owner, key)) = current
        && let Some(owner) = schema.tables.get_mut(&owner)
    {
        owner.foreign_keys.insert(key);
    }
    let checks = sqlx::query(
        "SELECT t.relname::text, COUNT(*) FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE c.contype = 'c' AND n.nspname = current_schema() GROUP BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("check constraints");
    for row in &checks {
        if let Some(table) = schema.tables.get_mut(&row.get::<String, _>(0)) {
            table.checks = usize::try_from(row.get::<i64, _>(1)).unwrap_or(usize::MAX);
        }
    }
    let triggered = sqlx::query(
        "SELECT DISTINCT t.relname::text FROM pg_trigger g \
         JOIN pg_class t ON t.oid = g.tgrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE NOT g.tgisinternal AND n.nspname = current_schema()",
    )
    .fetch_all(pool)
    .await
    .expect("triggers");
    for row in &triggered {
        if let Some(table) = schema.tables.get_mut(&row.get::<String, _>(0)) {
            table.has_triggers = true;
        }
    }
    schema
}

fn insert_index(schema: &mut Schema, index: Option<(String, String, Index)>) {
    if let Some((table, _, index)) = index
        && let Some(table) = schema.tables.get_mut(&table)
    {
        table.indexes.insert(index);
    }
}
