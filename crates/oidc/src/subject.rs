//! Pairwise subject identifiers (OIDC Core §8.1): each entity sees its own stable `sub`
//! for a person, and two entities cannot correlate theirs. `sub` = base64url(HMAC-SHA256(
//! key, "llave-sub-v1" ‖ entity ‖ account)); the key is the hub's secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub fn pairwise_sub(key: &[u8], entity_slug: &str, account_id: i64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(b"llave-sub-v1\0");
    mac.update(entity_slug.as_bytes());
    mac.update(b"\0");
    mac.update(account_id.to_string().as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_per_entity_and_different_across_entities() {
        let a = pairwise_sub(b"key", "agua", 7);
        assert_eq!(a, pairwise_sub(b"key", "agua", 7));
        assert_ne!(a, pairwise_sub(b"key", "movilidad", 7));
        assert_ne!(a, pairwise_sub(b"key", "agua", 8));
        assert_ne!(a, pairwise_sub(b"other", "agua", 7));
        // No ambiguity between ("ab", 1) and ("a", "b1")-like splits.
        assert_ne!(pairwise_sub(b"k", "a1", 1), pairwise_sub(b"k", "a", 11));
    }
}
