//! The FAPI 2.0 Security Profile (final) and Message Signing rules llave holds third
//! parties' clients to, as plain functions: which algorithms, how far in the future a JWT's
//! `iat`/`nbf` may be, who a client assertion is addressed to, and what a signed request
//! object (RFC 9101, JAR) must say. The server applies them to clients registered `fapi`.

use serde_json::Value;

use crate::{ErrorCode, OAuthError};

/// FAPI 2.0 §5.4.1: PS256, ES256 or EdDSA (Ed25519) only.
pub const ALGORITHMS: [&str; 3] = ["PS256", "ES256", "EdDSA"];

/// FAPI 2.0 §5.3.2.1 item 14 (and §5.3.3.1 for request objects): a JWT with an `iat` or
/// `nbf` up to 10 seconds in the future is accepted …
pub const FUTURE_ACCEPTED_SECONDS: i64 = 10;
/// … and one 60 seconds or more in the future is refused (between the two, llave accepts).
pub const FUTURE_REFUSED_SECONDS: i64 = 60;

/// FAPI 2.0 §5.3.2.1 item 11: authorization codes live at most 60 seconds.
pub const CODE_SECONDS: i64 = 60;
/// FAPI 2.0 §5.3.2.2 item 3: a `request_uri` lives less than 600 seconds.
pub const REQUEST_URI_MAX_SECONDS: i64 = 600;

/// FAPI 2.0 Message Signing §5.3.1: a request object's `exp` at most 60 minutes after its
/// `nbf`.
pub const REQUEST_OBJECT_MAX_SECONDS: i64 = 3600;

/// Is `alg` one FAPI 2.0 allows?
pub fn algorithm_allowed(alg: &str) -> bool {
    ALGORITHMS.contains(&alg)
}

/// `iat` and `nbf`, where present, are numbers less than a minute in the future.
pub fn times_ok(claims: &Value, now: i64) -> bool {
    ["iat", "nbf"].iter().all(|name| match claims.get(name) {
        None => true,
        Some(value) => value.as_i64().is_some_and(|t| t < now + FUTURE_REFUSED_SECONDS),
    })
}

/// A client assertion's claims beyond RFC 7523 (signature, `iss`, `sub`, `exp` and `jti`
/// are checked by the caller): FAPI 2.0 §5.3.2.1 item 8 — the `aud` is the issuer
/// identifier as a single string; the token endpoint's URL, or an array even holding the
/// issuer, is refused — and the times above.
pub fn assertion_claims_ok(claims: &Value, issuer: &str, now: i64) -> bool {
    claims.get("aud").and_then(Value::as_str) == Some(issuer) && times_ok(claims, now)
}

/// The claims of a signed request object (RFC 9101 §4 and FAPI 2.0 Message Signing §5.3.1),
/// its signature already verified with the client's registered key: `iss` the client,
/// `aud` the issuer (a string, or an array holding it), `exp` in the future and at most 60
/// minutes after `nbf`, `nbf` present and neither a minute in the future nor more than 60
/// minutes in the past, and `client_id` (if present) the client's.
pub fn check_request_object(claims: &Value, issuer: &str, client_id: &str, now: i64) -> Result<(), OAuthError> {
    let invalid = |why: &str| OAuthError::new(ErrorCode::InvalidRequestObject, why);
    if claims.get("iss").and_then(Value::as_str) != Some(client_id) {
        return Err(invalid("the request object's iss must be the client_id"));
    }
    if claims.get("client_id").is_some_and(|c| c.as_str() != Some(client_id)) {
        return Err(invalid("the request object's client_id is another client's"));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == issuer,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if !audience_ok {
        return Err(invalid("the request object's aud must be the issuer identifier"));
    }
    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
        return Err(invalid("the request object needs exp"));
    };
    let Some(nbf) = claims.get("nbf").and_then(Value::as_i64) else {
        return Err(invalid("the request object needs nbf"));
    };
    if exp <= now {
        return Err(invalid("the request object has expired"));
    }
    if exp - nbf > REQUEST_OBJECT_MAX_SECONDS {
        return Err(invalid("the request object's exp is more than 60 minutes after its nbf"));
    }
    if nbf < now - REQUEST_OBJECT_MAX_SECONDS {
        return Err(invalid("the request object's nbf is more than 60 minutes in the past"));
    }
    if !times_ok(claims, now) {
        return Err(invalid("the request object's nbf or iat is too far in the future"));
    }
    for nested in ["request", "request_uri"] {
        if claims.get(nested).is_some() {
            return Err(invalid("a request object cannot hold request or request_uri"));
        }
    }
    Ok(())
}

/// A request object's claims as authorization parameters (strings kept as they are, other
/// values as JSON text), without the JWT's own claims.
pub fn request_object_params(claims: &Value) -> Vec<(String, String)> {
    let Some(object) = claims.as_object() else { return Vec::new() };
    object
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "iss" | "aud" | "exp" | "nbf" | "iat" | "jti"))
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (name.clone(), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://llave.example";

    #[test]
    fn only_ps256_es256_and_eddsa() {
        assert!(algorithm_allowed("PS256") && algorithm_allowed("ES256") && algorithm_allowed("EdDSA"));
        for alg in ["RS256", "HS256", "none", "ES384", ""] {
            assert!(!algorithm_allowed(alg), "{alg}");
        }
    }

    #[test]
    fn iat_and_nbf_up_to_ten_seconds_ahead_pass_and_a_minute_ahead_fails() {
        let now = 1_000_000;
        assert!(times_ok(&json!({ "iat": now + FUTURE_ACCEPTED_SECONDS, "nbf": now + 8 }), now));
        assert!(times_ok(&json!({}), now));
        assert!(!times_ok(&json!({ "nbf": now + 60 }), now));
        assert!(!times_ok(&json!({ "iat": now + 3600 }), now));
        assert!(!times_ok(&json!({ "iat": "soon" }), now));
    }

    #[test]
    fn an_assertion_is_for_the_issuer_as_one_string() {
        let now = 1_000_000;
        assert!(assertion_claims_ok(&json!({ "aud": ISSUER, "iat": now }), ISSUER, now));
        assert!(!assertion_claims_ok(&json!({ "aud": format!("{ISSUER}/token") }), ISSUER, now));
        assert!(!assertion_claims_ok(&json!({ "aud": [ISSUER] }), ISSUER, now));
        assert!(!assertion_claims_ok(&json!({ "aud": ISSUER, "nbf": now + 61 }), ISSUER, now));
    }

    #[test]
    fn request_objects_are_checked_for_issuer_audience_and_times() {
        let now = 1_000_000;
        let good = json!({ "iss": "c1", "aud": ISSUER, "exp": now + 300, "nbf": now - 5, "client_id": "c1",
            "response_type": "code", "scope": "openid" });
        assert!(check_request_object(&good, ISSUER, "c1", now).is_ok());
        let with_array = json!({ "iss": "c1", "aud": [ISSUER, "x"], "exp": now + 300, "nbf": now });
        assert!(check_request_object(&with_array, ISSUER, "c1", now).is_ok());
        let cases = [
            json!({ "iss": "c2", "aud": ISSUER, "exp": now + 300, "nbf": now }),
            json!({ "iss": "c1", "aud": "https://elsewhere", "exp": now + 300, "nbf": now }),
            json!({ "iss": "c1", "aud": ISSUER, "nbf": now }),
            json!({ "iss": "c1", "aud": ISSUER, "exp": now + 300 }),
            json!({ "iss": "c1", "aud": ISSUER, "exp": now - 1, "nbf": now - 100 }),
            json!({ "iss": "c1", "aud": ISSUER, "exp": now + 4000, "nbf": now }),
            json!({ "iss": "c1", "aud": ISSUER, "exp": now + 300, "nbf": now + 120 }),
            json!({ "iss": "c1", "aud": ISSUER, "exp": now + 300, "nbf": now - 4000 }),
            json!({ "iss": "c1", "aud": ISSUER, "exp": now + 300, "nbf": now, "client_id": "c2" }),
        ];
        for claims in cases {
            let error = check_request_object(&claims, ISSUER, "c1", now).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidRequestObject, "{claims}");
        }
        let params = request_object_params(&good);
        assert!(params.contains(&("scope".into(), "openid".into())));
        assert!(!params.iter().any(|(k, _)| k == "exp" || k == "iss"));
    }
}
