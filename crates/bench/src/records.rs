//! `llave-bench records`: an entity's look-up plus grant plus read, per second and latency
//! percentiles, with `--records` records (default 1 million) spread over `--stores` entity
//! stores (default 20), on PostgreSQL by default. Each step is what an entity's back end
//! does for one application: `POST /api/lookups` (the locator and a grant) then
//! `POST /api/records/{id}/read` (the contents, from the holder's store, logged).
//!
//! The load: `--records / --per-person` people (cloned from one account made through
//! llave), each with `--per-person` records of different kinds in different stores, one of
//! them a proof of residence; the reading entity knows each person by its pairwise `sub`
//! and holds their standing consent to reuse the proof of residence for its procedure.
//! Loading goes through llave's own store code (contents sealed with each entity's key),
//! in bulk; then `llave serve` runs in a child process and the steps go over HTTP.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use sqlx::Row;

use crate::database::{self, Choice};
use crate::load::{self, Failure, Stats};
use crate::server::{self, Llave};

#[derive(Parser)]
pub struct Args {
    /// The llave binary to run.
    #[arg(long, default_value = "target/release/llave")]
    llave: std::path::PathBuf,
    /// postgres://… (a fresh schema there) or sqlite; repeatable.
    #[arg(long = "database", default_values_t = ["postgres://postgres@127.0.0.1:5432/test".to_string()])]
    databases: Vec<String>,
    /// Records in all.
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// Entity stores they are spread over.
    #[arg(long, default_value_t = 20)]
    stores: usize,
    /// Records per person (each of another kind, in another store).
    #[arg(long, default_value_t = 10)]
    per_person: usize,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 18392)]
    port: u16,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

const READER: &str = "lector";
const PROCEDURE: &str = "tramite-de-prueba";
const KIND: &str = "proof_of_residence";

struct Outcome {
    backend: &'static str,
    load_seconds: f64,
    steps: Stats,
    peak_mib: Option<f64>,
}

pub async fn main(args: Args) -> ExitCode {
    if args.per_person == 0 || args.per_person > args.stores || args.per_person > 16 {
        eprintln!("--per-person must be between 1 and min(--stores, 16)");
        return ExitCode::FAILURE;
    }
    let args = &args;
    let Some(outcomes) = database::each(&args.databases, "records", |choice, dir, url| async move {
        measure(args, &choice, &dir, url).await
    })
    .await
    else {
        return ExitCode::FAILURE;
    };
    if args.json {
        let backends: Vec<_> = outcomes
            .iter()
            .map(|o| {
                serde_json::json!({
                    "backend": o.backend,
                    "load_seconds": crate::report::round2(o.load_seconds),
                    "lookup_grant_read": o.steps.json(),
                    "peak_rss_mib": o.peak_mib.map(crate::report::round2),
                })
            })
            .collect();
        let report = serde_json::json!({
            "records": args.records, "stores": args.stores, "per_person": args.per_person,
            "workers": args.concurrency, "seconds": args.seconds, "backends": backends,
        });
        println!("{report}");
        return ExitCode::SUCCESS;
    }
    println!(
        "llave-bench records: {} records in {} entity stores ({} people × {}), {} workers, {} s",
        args.records,
        args.stores,
        args.records / args.per_person,
        args.per_person,
        args.concurrency,
        args.seconds
    );
    for o in &outcomes {
        let s = &o.steps;
        println!(
            "{:<9} loaded in {:.0} s; look-up + grant + read {:>8.1}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} ok, {} failed){}",
            o.backend,
            o.load_seconds,
            s.per_second(),
            s.percentile_ms(0.50),
            s.percentile_ms(0.99),
            s.ok,
            s.failed,
            s.first_failure.as_deref().map(|f| format!(" first failure: {f}")).unwrap_or_default()
        );
        println!(
            "{:<9} server peak RSS {}",
            o.backend,
            o.peak_mib.map(|m| format!("{m:.1} MiB")).unwrap_or_else(|| "?".into())
        );
    }
    ExitCode::SUCCESS
}

async fn measure(args: &Args, choice: &Choice, dir: &Path, database: Option<String>) -> Result<Outcome, String> {
    let started = Instant::now();
    let (client_id, secret, subs) = load_data(args, dir, database.clone()).await?;
    let load_seconds = started.elapsed().as_secs_f64();
    eprintln!("loaded {} records in {load_seconds:.0} s", args.records);
    let llave = Llave { binary: args.llave.clone(), data_dir: dir.to_path_buf(), database };
    let mut child = llave.serve(args.port)?;
    let base = format!("http://127.0.0.1:{}", args.port);
    if let Err(error) = server::wait_ready(&mut child, &base, &llave.log_path()).await {
        server::stop(&mut child).await;
        return Err(error);
    }
    let result = run_load(args, &base, &client_id, &secret, subs).await;
    let peak_mib = child.id().and_then(server::peak_rss_kib).map(|k| k as f64 / 1024.0);
    server::stop(&mut child).await;
    Ok(Outcome { backend: choice.backend(), load_seconds, steps: result?, peak_mib })
}

fn fail(what: &str) -> impl Fn(sqlx::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Entities, stores, people, records, subjects and consents; returns the reader's client
/// and the people's subs.
async fn load_data(args: &Args, dir: &Path, database: Option<String>) -> Result<(String, String, Vec<String>), String> {
    let config = llave::Config { data_dir: dir.to_path_buf(), database_url: database, ..llave::Config::default() };
    let app = llave::start(config).await.map_err(|e| e.to_string())?;
    let store = &app.store;
    let now = llave::crypto::now();

    // The holders and the reader, with the reader's procedure asking for a proof of residence.
    let mut holders = Vec::with_capacity(args.stores);
    for n in 0..args.stores {
        let slug = format!("entidad-{n:02}");
        holders.push(
            llave::admin::entity::add_entity(&app, &slug, &format!("Entidad {n}")).await.map_err(|e| e.to_string())?,
        );
    }
    let reader = llave::admin::entity::add_entity(&app, READER, "Entidad lectora").await.map_err(|e| e.to_string())?;
    let registered = llave::admin::entity::add_client(
        store,
        &llave::oidc::clients::NewClient {
            entity: READER.into(),
            name: "Trámites en línea".into(),
            redirect_uris: vec!["https://lector.example/cb".into()],
            ..Default::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let catalog = serde_json::json!({"procedures": [{
        "slug": PROCEDURE, "entity": READER, "name": "Trámite de prueba", "description": "Prueba de carga.",
        "who_may_apply": "Cualquiera.", "requirements": [{"kind": KIND, "description": "Reciente", "stage": "application"}],
        "legal_basis": [{"law": "Ley de prueba"}], "steps": ["Solicita"], "response_deadline": "1 día",
        "cost": {"kind": "free"}, "channels": {"offices": ["Central"]}, "level": "urn:llave:loa:1",
        "yearly_volume": 1, "tags": [], "status": "published"}]});
    llave::catalog::import(store, &catalog.to_string(), "bench", now).await.map_err(|e| format!("{e:?}"))?;

    // People: one made through llave, the rest cloned from it in the database.
    let people = args.records / args.per_person;
    let mut synth = curp::Synth::new(77);
    let person = synth.person();
    let input = llave::accounts::signup::SignupInput::synthetic(
        &synth.curp(&person),
        &person,
        "modelo@bench.localhost".into(),
        "bench carga nopal 2026 tuna".into(),
    );
    llave::admin::citizen::add(&app, &input, true).await.map_err(|e| e.to_string())?;
    clone_accounts(store, people.saturating_sub(1)).await?;
    let ids: Vec<i64> = sqlx::query("SELECT id FROM accounts ORDER BY id")
        .fetch_all(store.pool())
        .await
        .map_err(fail("accounts"))?
        .iter()
        .map(|r| r.get::<i64, _>(0))
        .collect();

    // Records: person i's j-th is of kind j, in store (i + j) mod stores; kind 0 is the
    // proof of residence.
    let kinds: Vec<&str> = std::iter::once(KIND)
        .chain(llave::catalog::model::REQUIREMENT_KINDS.iter().map(|(k, _, _, _)| *k).filter(|k| *k != KIND))
        .take(args.per_person)
        .collect();
    let content = llave::records::spoke::Content {
        attributes: serde_json::json!({"folio": "A-000000", "domicilio": "Calle de prueba 1, colonia Centro", "cp": "06000"}),
        file_name: None,
    };
    let sha = llave::records::hex_sha256(&serde_json::to_vec(&content.attributes).unwrap_or_default());
    for (s, holder) in holders.iter().enumerate() {
        let spoke = app.spokes.get(&app, holder.id).await.map_err(|e| e.to_string())?;
        let mut chunk: Vec<(String, i64, &str)> = Vec::with_capacity(5000);
        let batch = Batch { spoke: &spoke, store, holder: holder.id, content: &content, sha: &sha, now };
        for (i, account) in ids.iter().enumerate() {
            for (j, kind) in kinds.iter().enumerate() {
                if (i + j) % args.stores == s {
                    chunk.push((llave::crypto::random_id(), *account, kind));
                }
            }
            if chunk.len() >= 5000 {
                batch.write(&std::mem::take(&mut chunk)).await?;
            }
        }
        batch.write(&chunk).await?;
        eprintln!("store {} of {}: {} records", s + 1, args.stores, spoke.count().await.map_err(|e| e.to_string())?);
    }

    // The reader knows everyone by their pairwise sub and holds their consent.
    let client = store.client_by_id(&registered.client_id).await.map_err(|e| e.to_string())?.ok_or("no client")?;
    let pairs: Vec<(String, i64)> =
        ids.iter().map(|id| (llave::oidc::tokens::subject(&app, &client, *id), *id)).collect();
    store.remember_subjects(reader.id, &pairs).await.map_err(|e| e.to_string())?;
    sqlx::query(
        "INSERT INTO reuse_consents (id, account_id, reader_entity_id, procedure_slug, kind, holder_entity_id, granted_at) \
         SELECT 'c-' || record_id, account_id, $1, $2, kind, entity_id, $3 FROM record_index WHERE kind = $4",
    )
    .bind(reader.id)
    .bind(PROCEDURE)
    .bind(now)
    .bind(KIND)
    .execute(store.pool())
    .await
    .map_err(fail("consents"))?;
    if store.backend() == llave::store::Backend::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await.map_err(fail("analyze"))?;
    }
    app.spokes.close(store.backend()).await;
    store.close().await;
    let secret = registered.client_secret.ok_or("the client has no secret")?;
    Ok((registered.client_id, secret, pairs.into_iter().map(|(sub, _)| sub).collect()))
}

/// Where a batch of records goes, and what they hold.
struct Batch<'a> {
    spoke: &'a llave::records::spoke::Spoke,
    store: &'a llave::store::Store,
    holder: i64,
    content: &'a llave::records::spoke::Content,
    sha: &'a str,
    now: i64,
}

impl Batch<'_> {
    /// Writes the records to the holder's store and indexes them.
    async fn write(&self, records: &[(String, i64, &str)]) -> Result<(), String> {
        let versions: Vec<llave::records::spoke::NewVersion> = records
            .iter()
            .map(|(id, account, kind)| llave::records::spoke::NewVersion {
                record_id: id,
                version: 1,
                account_id: *account,
                kind,
                procedure: None,
                content: self.content,
                file: None,
                file_sha256: None,
                sha256: self.sha,
                valid_from: None,
                valid_until: None,
                written_by: "bench",
                now: self.now,
            })
            .collect();
        self.spoke.insert_many(&versions).await.map_err(|e| e.to_string())?;
        let locators: Vec<llave::store::records::Locator> = records
            .iter()
            .map(|(id, account, kind)| llave::store::records::Locator {
                record_id: id.clone(),
                entity_id: self.holder,
                account_id: *account,
                kind: kind.to_string(),
                procedure: None,
                version: 1,
                valid_from: None,
                valid_until: None,
                created_at: self.now,
                updated_at: self.now,
                withdrawn_at: None,
            })
            .collect();
        self.store.index_many(&locators).await.map_err(|e| e.to_string())
    }
}

/// `count` more accounts, copies of the first with their own CURP and e-mail.
async fn clone_accounts(store: &llave::store::Store, count: usize) -> Result<(), String> {
    if count == 0 {
        return Ok(());
    }
    let columns: Vec<String> = match store.backend() {
        llave::store::Backend::Postgres => sqlx::query(
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = current_schema() \
             AND table_name = 'accounts' AND column_name <> 'id' ORDER BY ordinal_position",
        )
        .fetch_all(store.pool())
        .await
        .map_err(fail("columns"))?
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect(),
        llave::store::Backend::Sqlite => {
            sqlx::query("SELECT name FROM pragma_table_info('accounts') WHERE name <> 'id'")
                .fetch_all(store.pool())
                .await
                .map_err(fail("columns"))?
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect()
        }
    };
    let values: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "curp" => "'BNCH' || substr('00000000000000' || g.n, -14, 14)".to_string(),
            "email" | "email_normalized" => "'p' || g.n || '@bench.localhost'".to_string(),
            other => format!("a.{other}"),
        })
        .collect();
    let series = match store.backend() {
        llave::store::Backend::Postgres => format!("(SELECT generate_series(1, {count}) AS n) g"),
        llave::store::Backend::Sqlite => format!(
            "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) SELECT n FROM s) g"
        ),
    };
    let sql = format!(
        "INSERT INTO accounts ({}) SELECT {} FROM accounts a, {series} WHERE a.id = (SELECT MIN(id) FROM accounts)",
        columns.join(", "),
        values.join(", ")
    );
    let sql = if store.backend() == llave::store::Backend::Postgres {
        // PostgreSQL's substr takes no negative start: the last 14 characters with right().
        sql.replace("substr('00000000000000' || g.n, -14, 14)", "right('00000000000000' || g.n, 14)")
    } else {
        sql
    };
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(store.pool()).await.map_err(fail("clone accounts"))?;
    Ok(())
}

async fn run_load(args: &Args, base: &str, client_id: &str, secret: &str, subs: Vec<String>) -> Result<Stats, String> {
    let http = reqwest::Client::new();
    let token = server::service_token(&http, base, client_id, secret, "lookups").await?;
    let subs = std::sync::Arc::new(subs);
    // Each worker walks the people from its own offset, by a stride prime to their number.
    let states: Vec<(reqwest::Client, usize)> =
        (0..args.concurrency).map(|n| (http.clone(), n * subs.len() / args.concurrency.max(1))).collect();
    let base = base.to_string();
    load::run(states, args.seconds, move |(client, n)| {
        let (base, token, subs) = (base.clone(), token.clone(), subs.clone());
        async move {
            let sub = &subs[n % subs.len()];
            let outcome = step(&client, &base, &token, sub).await;
            ((client, n + 7919), outcome)
        }
    })
    .await
}

/// One application: the look-up, then the read with its grant.
async fn step(client: &reqwest::Client, base: &str, token: &str, sub: &str) -> Result<(), Failure> {
    let lookup = serde_json::json!({"sub": sub, "procedure": PROCEDURE, "kind": KIND});
    let answer: serde_json::Value = match client
        .post(format!("{base}/api/lookups"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(lookup.to_string())
        .send()
        .await
    {
        Ok(response) if response.status().is_success() => {
            response.json().await.map_err(|e| Failure::new(e.to_string()))?
        }
        Ok(response) => return Err(Failure::new(format!("look-up answered {}", response.status()))),
        Err(e) => return Err(Failure::new(e.to_string())),
    };
    let (Some(record), Some(grant)) = (answer["locator"]["record_id"].as_str(), answer["grant"].as_str()) else {
        return Err(Failure::new(format!("look-up found nothing: {answer}")));
    };
    let read = serde_json::json!({"grant": grant, "procedure": PROCEDURE});
    match client
        .post(format!("{base}/api/records/{record}/read"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(read.to_string())
        .send()
        .await
    {
        Ok(response) if response.status().is_success() => match response.json::<serde_json::Value>().await {
            Ok(v) if v["attributes"]["domicilio"].is_string() => Ok(()),
            Ok(v) => Err(Failure::new(format!("read gave {v}"))),
            Err(e) => Err(Failure::new(e.to_string())),
        },
        Ok(response) => Err(Failure::new(format!("read answered {}", response.status()))),
        Err(e) => Err(Failure::new(e.to_string())),
    }
}
