//! `llave staff grant|revoke`: staff roles given and taken, each one act with its event
//! (`role_granted`, `role_revoked`), so who held which role when is in the event log.

use crate::store::{AccountId, Event, EventKind, Store, StoreResult, Tx};

/// Gives `account` the `role` over `scope` (an entity slug, or `*`), `by` whom (`cli`,
/// `demo`); false, and nothing recorded, if it held it already.
pub async fn grant(store: &Store, account: AccountId, role: &str, scope: &str, by: &str) -> StoreResult<bool> {
    store
        .act("role_granted", async |tx: &mut Tx| {
            let now = tx.at();
            let granted = tx.grant_role(account, role, scope, by, now).await?;
            if granted {
                tx.event(Event::system(EventKind::RoleGranted, Some(account), by, &detail(role, scope)));
            }
            Ok(granted)
        })
        .await
}

/// Takes the `role` over `scope` from `account`; false, and nothing recorded, if it did
/// not hold it.
pub async fn revoke(store: &Store, account: AccountId, role: &str, scope: &str, by: &str) -> StoreResult<bool> {
    store
        .act("role_revoked", async |tx: &mut Tx| {
            let revoked = tx.revoke_role(account, role, scope).await?;
            if revoked {
                tx.event(Event::system(EventKind::RoleRevoked, Some(account), by, &detail(role, scope)));
            }
            Ok(revoked)
        })
        .await
}

fn detail(role: &str, scope: &str) -> String {
    format!("role={role} scope={scope}")
}
