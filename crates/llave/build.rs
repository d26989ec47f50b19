//! Rebuilds llave when a migration file is added, removed or changed: `sqlx::migrate!`
//! (`store/mod.rs`) embeds what it finds in `migrations/sqlite` and `migrations/postgres`,
//! but the compiler tracks only the files it included, not a new one beside them (sqlx's
//! documented remedy, `sqlx migrate build-script`). A directory here means every file in it.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
