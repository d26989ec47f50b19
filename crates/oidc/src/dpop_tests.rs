use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{Value, json};

use super::*;

const NOW: i64 = 1_800_000_000;
const TOKEN_URL: &str = "https://llave.example/token";
const NONCE_KEY: &[u8] = b"a server key for nonces";

struct Key {
    encoding: jsonwebtoken::EncodingKey,
    jwk: Value,
}

fn key() -> Key {
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    let point = secret.public_key().to_encoded_point(false);
    let jwk = json!({ "kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()) });
    Key { encoding: jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(), jwk }
}

/// A JWS written by hand, so its header can hold anything (a private member, say).
fn proof_with(key: &Key, typ: &str, jwk: Value, claims: Value) -> String {
    let header = json!({ "typ": typ, "alg": "ES256", "jwk": jwk });
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, jsonwebtoken::Algorithm::ES256).unwrap();
    format!("{input}.{signature}")
}

fn proof(key: &Key, claims: Value) -> String {
    proof_with(key, TYP, key.jwk.clone(), claims)
}

fn claims() -> Value {
    json!({ "jti": "j-1", "htm": "POST", "htu": TOKEN_URL, "iat": NOW })
}

fn expected() -> Expected<'static> {
    Expected { method: "POST", url: TOKEN_URL, now: NOW, nonce_key: None, jkt: None, access_token: None }
}

fn with(mut base: Value, name: &str, value: Value) -> Value {
    base[name] = value;
    base
}

#[test]
fn a_good_proof_gives_its_keys_thumbprint_and_jti() {
    let key = key();
    let verified = verify(&proof(&key, claims()), &expected()).unwrap();
    assert_eq!(verified.jkt, thumbprint(&key.jwk).unwrap());
    assert_eq!((verified.jti.as_str(), verified.iat), ("j-1", NOW));
    // The URL is compared without its query.
    let query = Expected { url: "https://llave.example/token?x=1", ..expected() };
    assert!(verify(&proof(&key, claims()), &query).is_ok());
}

#[test]
fn the_thumbprint_is_rfc_7638s() {
    // RFC 7638 §3.1's example key and thumbprint.
    let jwk = json!({ "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw" });
    assert_eq!(thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_eq!(thumbprint(&json!({ "kty": "oct", "k": "x" })), None);
}

#[test]
fn method_url_and_time_must_be_this_requests() {
    let key = key();
    let refused = |claims: Value| matches!(verify(&proof(&key, claims), &expected()), Err(DpopError::Invalid(_)));
    assert!(refused(with(claims(), "htm", json!("GET"))), "wrong htm");
    assert!(refused(with(claims(), "htu", json!("https://llave.example/userinfo"))), "wrong htu");
    assert!(refused(with(claims(), "htu", json!("https://otro.example/token"))), "another host");
    assert!(refused(with(claims(), "iat", json!(NOW - MAX_AGE_SECONDS - 1))), "too old");
    assert!(refused(with(claims(), "iat", json!(NOW + MAX_FUTURE_SECONDS + 1))), "too far ahead");
    assert!(refused(with(claims(), "jti", json!(""))), "no jti");
    assert!(!refused(with(claims(), "iat", json!(NOW + MAX_FUTURE_SECONDS))), "10 s ahead is fine");
    assert!(!refused(with(claims(), "iat", json!(NOW - MAX_AGE_SECONDS))), "a minute old is fine");
}

#[test]
fn the_header_must_be_a_dpop_proof_with_a_public_key() {
    let key = key();
    let not_dpop = proof_with(&key, "JWT", key.jwk.clone(), claims());
    assert!(matches!(verify(&not_dpop, &expected()), Err(DpopError::Invalid(_))));
    let mut private = key.jwk.clone();
    private["d"] = json!("c2VjcmV0");
    let leaked = proof_with(&key, TYP, private, claims());
    assert!(matches!(verify(&leaked, &expected()), Err(DpopError::Invalid(_))));
    // Signed by one key, carrying another: the signature does not verify.
    let other = self::key();
    let swapped = proof_with(&key, TYP, other.jwk.clone(), claims());
    assert!(matches!(verify(&swapped, &expected()), Err(DpopError::Invalid(_))));
    // alg none, or a tampered payload.
    let good = proof(&key, claims());
    let parts: Vec<&str> = good.split('.').collect();
    let none_header = URL_SAFE_NO_PAD.encode(json!({ "typ": TYP, "alg": "none", "jwk": key.jwk }).to_string());
    assert!(verify(&format!("{none_header}.{}.", parts[1]), &expected()).is_err());
    let payload = URL_SAFE_NO_PAD.encode(with(claims(), "jti", json!("j-2")).to_string());
    assert!(verify(&format!("{}.{payload}.{}", parts[0], parts[2]), &expected()).is_err());
    assert!(verify("not a jwt", &expected()).is_err());
}

#[test]
fn a_required_nonce_must_be_current() {
    let key = key();
    let asks = Expected { nonce_key: Some(NONCE_KEY), ..expected() };
    assert_eq!(verify(&proof(&key, claims()), &asks), Err(DpopError::UseNonce));
    let current = nonce(NONCE_KEY, NOW);
    assert!(verify(&proof(&key, with(claims(), "nonce", json!(current))), &asks).is_ok());
    // The previous window's nonce still works; older ones and other keys' do not.
    let previous = nonce(NONCE_KEY, NOW - NONCE_WINDOW_SECONDS);
    assert!(verify(&proof(&key, with(claims(), "nonce", json!(previous))), &asks).is_ok());
    let stale = nonce(NONCE_KEY, NOW - 2 * NONCE_WINDOW_SECONDS);
    assert_eq!(verify(&proof(&key, with(claims(), "nonce", json!(stale))), &asks), Err(DpopError::UseNonce));
    let foreign = nonce(b"another server", NOW);
    assert_eq!(verify(&proof(&key, with(claims(), "nonce", json!(foreign))), &asks), Err(DpopError::UseNonce));
    assert_eq!(DpopError::UseNonce.to_oauth().code, ErrorCode::UseDpopNonce);
}

#[test]
fn a_bound_key_and_an_access_token_must_match() {
    let key = key();
    let other = self::key();
    let bound = thumbprint(&key.jwk).unwrap();
    let to_key = Expected { jkt: Some(&bound), ..expected() };
    assert!(verify(&proof(&key, claims()), &to_key).is_ok());
    let refused = verify(&proof(&other, claims()), &to_key).unwrap_err();
    assert_eq!(refused.to_oauth().code, ErrorCode::InvalidDpopProof);

    let with_token = Expected { access_token: Some("the-token"), method: "GET", ..expected() };
    let get = with(claims(), "htm", json!("GET"));
    let ath = access_token_hash("the-token");
    assert!(verify(&proof(&key, with(get.clone(), "ath", json!(ath))), &with_token).is_ok());
    assert!(verify(&proof(&key, get.clone()), &with_token).is_err(), "no ath");
    let wrong = access_token_hash("another-token");
    assert!(verify(&proof(&key, with(get, "ath", json!(wrong))), &with_token).is_err());
}

#[test]
fn an_eddsa_proof_verifies_and_an_algorithm_not_matching_its_key_does_not() {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let signing = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let pem = signing.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).unwrap();
    let encoding = jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
    let jwk =
        json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()) });
    let sign = |alg: &str, algorithm: jsonwebtoken::Algorithm| {
        let header = json!({ "typ": TYP, "alg": alg, "jwk": jwk });
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims().to_string()));
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &encoding, algorithm).unwrap();
        format!("{input}.{signature}")
    };
    let verified = verify(&sign("EdDSA", jsonwebtoken::Algorithm::EdDSA), &expected()).unwrap();
    assert_eq!(verified.jkt, thumbprint(&jwk).unwrap());
    // An Ed25519 key claimed as ES256: refused before any signature check.
    let header = json!({ "typ": TYP, "alg": "ES256", "jwk": jwk });
    let forged =
        format!("{}.{}.AAAA", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims().to_string()));
    assert!(verify(&forged, &expected()).is_err());
}
