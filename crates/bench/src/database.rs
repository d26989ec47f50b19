//! The databases llave runs on during a bench: a fresh SQLite file in the run's temporary
//! directory, or a fresh PostgreSQL schema in the given database (selected through the
//! connection's `search_path`, as the integration tests do), dropped afterwards.

use llave::store::Store;

/// What `--database` asked for.
#[derive(Debug, Clone)]
pub enum Choice {
    /// `sqlite`: a fresh file in the run's data directory.
    FreshSqlite,
    /// `sqlite://PATH`: that file, as it is.
    Sqlite(String),
    /// `postgres://…`: a fresh schema in that database.
    Postgres(String),
}

impl Choice {
    pub fn parse(value: &str) -> Result<Choice, String> {
        match value {
            "sqlite" => Ok(Choice::FreshSqlite),
            url if url.starts_with("sqlite:") => Ok(Choice::Sqlite(url.to_string())),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Choice::Postgres(url.to_string()))
            }
            other => Err(format!("--database {other:?}: expected sqlite, sqlite://PATH or postgres://…")),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Choice::FreshSqlite | Choice::Sqlite(_) => "sqlite",
            Choice::Postgres(_) => "postgres",
        }
    }
}

/// A database ready for `llave --database`; `None` leaves llave its default (a SQLite
/// file in its data directory).
pub struct Prepared {
    pub url: Option<String>,
    schema: Option<(String, String)>,
}

pub async fn prepare(choice: &Choice, run: usize) -> Result<Prepared, String> {
    match choice {
        Choice::FreshSqlite => Ok(Prepared { url: None, schema: None }),
        Choice::Sqlite(url) => Ok(Prepared { url: Some(url.clone()), schema: None }),
        Choice::Postgres(url) => {
            let schema = format!("llave_bench_{}_{run}", std::process::id());
            execute(url, &format!("CREATE SCHEMA {schema}")).await?;
            let separator = if url.contains('?') { '&' } else { '?' };
            Ok(Prepared {
                url: Some(format!("{url}{separator}options=-c%20search_path%3D{schema}")),
                schema: Some((url.clone(), schema)),
            })
        }
    }
}

impl Prepared {
    /// Drops the PostgreSQL schema, if the bench made one.
    pub async fn discard(self) -> Result<(), String> {
        match self.schema {
            Some((url, schema)) => {
                // The entities' record stores are schemas named after llave's.
                let store = Store::connect(&url).await.map_err(|e| format!("cannot connect to {url}: {e}"))?;
                let stores: Vec<String> =
                    sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname::text, $1)")
                        .bind(format!("{schema}_e_"))
                        .fetch_all(store.pool())
                        .await
                        .unwrap_or_default();
                store.close().await;
                for entity_store in stores {
                    execute(&url, &format!("DROP SCHEMA \"{entity_store}\" CASCADE")).await?;
                }
                execute(&url, &format!("DROP SCHEMA {schema} CASCADE")).await
            }
            None => Ok(()),
        }
    }
}

async fn execute(url: &str, statement: &str) -> Result<(), String> {
    let store = Store::connect(url).await.map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let outcome = sqlx::query(sqlx::AssertSqlSafe(statement.to_string())).execute(store.pool()).await;
    store.close().await;
    outcome.map(|_| ()).map_err(|e| format!("{statement}: {e}"))
}

/// Runs `measure` once per `--database` value, each on a fresh database and in a fresh
/// temporary data directory (`llave-bench-NAME-PID-RUN`), cleaned up afterwards. Stops at
/// the first failure, which it prints naming the database (`None`).
pub async fn each<T, F, Fut>(specs: &[String], name: &str, measure: F) -> Option<Vec<T>>
where
    F: Fn(Choice, std::path::PathBuf, Option<String>) -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let mut outcomes = Vec::with_capacity(specs.len());
    for (run, spec) in specs.iter().enumerate() {
        let result = async {
            let choice = Choice::parse(spec)?;
            let prepared = prepare(&choice, run).await?;
            let dir = std::env::temp_dir().join(format!("llave-bench-{name}-{}-{run}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let outcome = measure(choice, dir.clone(), prepared.url.clone()).await;
            let _ = std::fs::remove_dir_all(&dir);
            prepared.discard().await?;
            outcome
        }
        .await;
        match result {
            Ok(outcome) => outcomes.push(outcome),
            Err(error) => {
                eprintln!("llave-bench {name} ({spec}): {error}");
                return None;
            }
        }
    }
    Some(outcomes)
}
