//! The re-authentication marker (finding 13.4). When a request asks for a fresh sign-in
//! (`prompt=login`, or a `max_age` the session is older than), llave sends the person to
//! sign in again with a marker in the return address. The marker is an HMAC, under the
//! server's key, over its issue time, the session that was too old (or none), the client
//! and a digest of the request's parameters, and it lasts a few minutes. It proves a fresh
//! sign-in only for that request, only in a session other than the one that was too old,
//! opened at or after the marker's time: a marker captured and replayed on another
//! request, or used without signing in again, proves nothing.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The marker's name in the authorization request llave returns to.
pub const REAUTH_PARAM: &str = "llave_reauth";

/// Parameters llave adds to a request itself; they are not part of what the client asked.
const OWN_PARAMS: [&str; 2] = [REAUTH_PARAM, super::authorize::STEPUP_PARAM];

/// How long a marker proves anything: enough to sign in again, not enough to keep.
pub const MARKER_SECONDS: i64 = 300;

/// A digest of the request as the client sent it, whatever the order of its parameters.
fn request_digest(pairs: &[(String, String)]) -> String {
    let mut own: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| !OWN_PARAMS.contains(&k.as_str())).collect();
    own.sort();
    let mut hash = Sha256::new();
    for (key, value) in own {
        // Lengths first, so no two different lists hash alike.
        hash.update((key.len() as u64).to_be_bytes());
        hash.update(key.as_bytes());
        hash.update((value.len() as u64).to_be_bytes());
        hash.update(value.as_bytes());
    }
    URL_SAFE_NO_PAD.encode(hash.finalize())
}

/// A short name of a session that reveals nothing of it; `-` for no session.
fn session_tag(session_id: Option<&str>) -> String {
    match session_id {
        Some(id) => crate::crypto::token_hash(&format!("llave reauth session:{id}")).chars().take(16).collect(),
        None => "-".to_string(),
    }
}

fn mac(key: &[u8], at: i64, tag: &str, client_id: &str, digest: &str) -> Vec<u8> {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for part in ["llave reauth v2", &at.to_string(), tag, client_id, digest] {
        mac.update((part.len() as u64).to_be_bytes().as_slice());
        mac.update(part.as_bytes());
    }
    mac.finalize().into_bytes().to_vec()
}

/// A marker for this request, asked at `now` of the session `too_old` (none if nobody
/// was signed in).
pub fn mint(key: &[u8], now: i64, too_old: Option<&str>, client_id: &str, pairs: &[(String, String)]) -> String {
    let tag = session_tag(too_old);
    let mac = mac(key, now, &tag, client_id, &request_digest(pairs));
    format!("{now}.{tag}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// The session a fresh sign-in opened, as the marker check needs it.
pub struct Session<'a> {
    pub id: &'a str,
    pub auth_time: i64,
}

/// Whether the request's marker proves that `session` was opened by a sign-in made for
/// this very request, within the last `MARKER_SECONDS`.
pub fn proves_fresh_sign_in(
    key: &[u8],
    pairs: &[(String, String)],
    client_id: &str,
    session: &Session,
    now: i64,
) -> bool {
    let Some((_, marker)) = pairs.iter().find(|(k, _)| k == REAUTH_PARAM) else {
        return false;
    };
    let mut parts = marker.splitn(3, '.');
    let (Some(at), Some(tag), Some(given)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(at), Ok(given)) = (at.parse::<i64>(), URL_SAFE_NO_PAD.decode(given)) else {
        return false;
    };
    let expected = mac(key, at, tag, client_id, &request_digest(pairs));
    let authentic = bool::from(expected.as_slice().ct_eq(given.as_slice()));
    authentic
        && at <= now
        && now - at <= MARKER_SECONDS
        // The session that was too old cannot prove itself fresh, even in the same second.
        && tag != session_tag(Some(session.id))
        && session.auth_time >= at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = [("client_id", "agua"), ("state", "s1"), ("prompt", "login")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        pairs
    }

    const KEY: &[u8] = b"server key";

    #[test]
    fn a_marker_proves_a_new_session_for_its_own_request_for_minutes() {
        let marker = mint(KEY, 1000, Some("old"), "agua", &pairs(&[]));
        let with = pairs(&[(REAUTH_PARAM, &marker)]);
        let new = Session { id: "new", auth_time: 1000 };
        assert!(proves_fresh_sign_in(KEY, &with, "agua", &new, 1010));
        assert!(proves_fresh_sign_in(KEY, &with, "agua", &new, 1000 + MARKER_SECONDS));
        assert!(!proves_fresh_sign_in(KEY, &with, "agua", &new, 1001 + MARKER_SECONDS), "expired");
        assert!(
            !proves_fresh_sign_in(KEY, &with, "agua", &Session { id: "old", auth_time: 1000 }, 1010),
            "same session"
        );
        assert!(
            !proves_fresh_sign_in(KEY, &with, "agua", &Session { id: "new", auth_time: 999 }, 1010),
            "older sign-in"
        );
        assert!(!proves_fresh_sign_in(KEY, &with, "other", &new, 1010), "another client");
        let other_request = pairs(&[("nonce", "n2"), (REAUTH_PARAM, &marker)]);
        assert!(!proves_fresh_sign_in(KEY, &other_request, "agua", &new, 1010), "another request");
        assert!(!proves_fresh_sign_in(b"other key", &with, "agua", &new, 1010));
        for forged in ["", "1000", "1000.-.AAAA", "x.y.z", "1000.-.%%%"] {
            let forged = pairs(&[(REAUTH_PARAM, forged)]);
            assert!(!proves_fresh_sign_in(KEY, &forged, "agua", &new, 1010));
        }
    }

    #[test]
    fn the_order_of_parameters_does_not_matter() {
        let mut reordered = pairs(&[]);
        reordered.reverse();
        let marker = mint(KEY, 1000, None, "agua", &pairs(&[]));
        reordered.push((REAUTH_PARAM.to_string(), marker));
        assert!(proves_fresh_sign_in(KEY, &reordered, "agua", &Session { id: "s", auth_time: 1001 }, 1002));
    }
}
