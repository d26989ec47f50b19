//! The one integration-test binary: a module per capability, each test against SQLite
//! and PostgreSQL (see `support::both_backends!`).

mod support;

mod accessibility;
mod accounts;
mod acts;
mod architecture;
mod assurance;
mod audit;
mod bank_story;
mod browser;
mod catalog;
mod changes;
mod consent;
mod counter;
mod crash;
mod demo_story;
mod failover;
mod fapi;
mod hostile;
mod legal_basis;
mod mail;
pub mod oidc;
mod ops;
mod records;
mod records_file;
mod requisitions;
mod signature;
mod spokes_apart;
mod store_schema;
