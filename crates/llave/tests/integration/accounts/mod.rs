//! Accounts: sign-up, e-mail links, sign-in, sessions, pages, the registry, the CLI and
//! storage guarantees, each against SQLite and PostgreSQL.

mod cli;
mod links;
mod pages;
mod registry;
mod sessions;
mod signin;
mod signup;
mod storage;
