//! `llave staff grant|revoke`: staff roles given and taken, each one act with its event
//! (`role_granted`, `role_revoked`), so who held which role when is in the event log.

use crate::store::{AccountId, Event, EventKind, Store, StoreResult, Tx};

/// Gives `account` the `role` over `scope` (an entity slug, or `*`), `by` whom (`cli`,
/// `demo`); false, and nothing recorded, if it held it already.
pub async fn grant(store: &Store, account: AccountId, role: &str, scope: &str, by: &str) -> StoreResult<bool> {
    grant_at_office(store, account, role, scope, None, by).await
}

/// [`grant`], recording the office the role is held at (an officer's service centre, named
/// in what the people they help read). Given for a role already held, another office
/// replaces the old one (an event records it); true if anything changed.
pub async fn grant_at_office(
    store: &Store,
    account: AccountId,
    role: &str,
    scope: &str,
    office: Option<&str>,
    by: &str,
) -> StoreResult<bool> {
    let office = office.map(clean_office).filter(|o| !o.is_empty());
    store
        .act("role_granted", async |tx: &mut Tx| {
            let now = tx.at();
            let granted = tx.grant_role(account, role, scope, by, now).await?;
            let moved = match &office {
                Some(office) => tx.set_role_office(account, role, scope, office).await?,
                None => false,
            };
            if granted || moved {
                let mut detail = detail(role, scope);
                if let Some(office) = &office {
                    detail.push_str(&format!(" office={office}"));
                }
                tx.event(Event::system(EventKind::RoleGranted, Some(account), by, &detail));
            }
            Ok(granted || moved)
        })
        .await
}

/// An office's name as shown to people: printable characters, single spaces, at most 80,
/// none of the separators event details use (`;`, `=`).
pub fn clean_office(office: &str) -> String {
    let cleaned: String =
        office.chars().map(|c| if c.is_control() || c == ';' || c == '=' { ' ' } else { c }).take(80).collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_names_are_one_clean_line() {
        assert_eq!(clean_office("  Oficina\tTlalpan \n"), "Oficina Tlalpan");
        assert_eq!(clean_office("Módulo; office=X"), "Módulo office X");
        assert_eq!(clean_office(&"a".repeat(200)).len(), 80);
    }
}
