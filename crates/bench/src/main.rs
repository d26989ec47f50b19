//! `llave-bench`: load benchmarks against a llave server running as a child process, each
//! a subcommand. `signin` measures password sign-ins next to raw Argon2id hashes; `oidc`
//! measures the token endpoint (`refresh_token`, `client_credentials`) and discovery/JWKS
//! on SQLite and PostgreSQL, next to the reference provider `oidc-provider` run the same way;
//! `catalog` measures catalog search over a synthetic catalog; `signature` seals and
//! verifications; `records` look-ups and grant reads over a million entity records; `audit`
//! the tamper-evident log's cost, checkpoints, proofs and verification; `sharing` shared-data
//! fetches by a third party (DPoP, signed answers) and the FAPI code flow's added latency
//! over the plain one; `all` runs them all into one JSON document and `compare` shows what
//! changed between two.
//! See docs/bench/README.md.

mod all;
mod audit;
mod catalog;
mod cluster;
mod codeflow;
mod database;
mod load;
mod oidc;
mod records;
mod reference;
mod report;
mod server;
mod sharing;
mod signature;
mod signin;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "llave-bench", about = "Load benchmarks against a running llave.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign-ins per second against llave, next to raw Argon2id hashes per second.
    Signin(signin::Args),
    /// Token endpoint and discovery/JWKS throughput and peak memory, llave next to oidc-provider.
    Oidc(oidc::Args),
    /// Catalog search latency and throughput over a synthetic catalog.
    Catalog(catalog::Args),
    /// Entity seals and public signature verifications per second.
    Signature(signature::Args),
    /// Look-up + grant + read of another entity's record per second, over a million records.
    Records(records::Args),
    /// The audit log: acts per second with and without it, checkpoints, proofs, verify.
    Audit(audit::Args),
    /// Shared-data fetches per second by a third party (DPoP-bound, one consent artefact
    /// each), and the FAPI 2.0 code flow's latency next to the plain one.
    Sharing(sharing::Args),
    /// The closed-loop load of scripts/cluster-test, through a balancer, with every
    /// acknowledged write checked in the database at the end.
    ClusterLoad(cluster::Args),
    /// Every benchmark, one after the other, into one JSON document (`--json FILE`).
    All(all::AllArgs),
    /// Each figure's change between two documents of `all`; regressions over 10 % flagged.
    Compare(all::CompareArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    // reqwest is built with rustls but no crypto provider (llave's choice): install llave's.
    llave::install_crypto_provider();
    match Cli::parse().command {
        Command::Signin(args) => signin::main(args).await,
        Command::Oidc(args) => oidc::main(args).await,
        Command::Catalog(args) => catalog::main(args).await,
        Command::Signature(args) => signature::main(args).await,
        Command::Records(args) => records::main(args).await,
        Command::Audit(args) => audit::main(args).await,
        Command::Sharing(args) => sharing::main(args).await,
        Command::ClusterLoad(args) => cluster::main(args).await,
        Command::All(args) => all::all(args).await,
        Command::Compare(args) => all::compare(args),
    }
}
