//! Token-signing keys: ES256 (the default for the clients registered since issue 19: FAPI
//! 2.0 excludes RS256), RS256 (for older libraries, per client) and EdDSA. All three sign
//! with `ring`. Keys live in the database so every node signs with the same ones; each
//! node caches them briefly. `llave keys rotate` makes new current keys; the retired ones
//! stay in the JWKS until every token they signed has expired.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::json;

use crate::crypto::{now, random_id};
use crate::store::oidc::KeyRecord;
use crate::store::{Store, StoreError};

/// How long a retired key stays published: longer than any token it signed lives.
pub const RETIRED_KEY_PUBLISHED_SECONDS: i64 = 24 * 3600;
/// How long a node trusts its cached copy of the key set.
const CACHE_FOR: Duration = Duration::from_secs(30);

pub const ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];
/// What a new client's ID and access tokens are signed with unless it registers another.
pub const DEFAULT_ALGORITHM: &str = "ES256";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("stored key {0} cannot be read: {1}")]
    Load(String, String),
    #[error("unsupported algorithm {0}")]
    Algorithm(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct LoadedKey {
    pub kid: String,
    pub alg: Algorithm,
    pub alg_name: String,
    pub decoding: DecodingKey,
    pub jwk: serde_json::Value,
    pub current: bool,
    /// Every algorithm signs with `ring` (constant-time; RSA about three times faster than
    /// the pure-Rust `rsa` crate behind `jsonwebtoken`, P-256 about twice as fast as `p256`):
    /// the token endpoint's main cost is this signature.
    signer: FastSigner,
    verifier: FastVerifier,
}

/// The public half, for `ring` to verify with (about three times faster than the RustCrypto
/// verifiers behind `jsonwebtoken` for P-256): every API request verifies an access token.
enum FastVerifier {
    Rsa(ring::signature::RsaPublicKeyComponents<Vec<u8>>),
    Ecdsa(Vec<u8>),
    Ed25519(Vec<u8>),
}

enum FastSigner {
    /// RSA through OpenSSL: RS256 signatures at its speed (issue 19).
    Rsa(openssl::pkey::PKey<openssl::pkey::Private>),
    Ecdsa(ring::signature::EcdsaKeyPair),
    Ed25519(ring::signature::Ed25519KeyPair),
}

impl LoadedKey {
    /// A compact JWS of `claims` with this key: header `alg`, `kid` and `typ`.
    pub fn sign_jwt(&self, typ: &str, claims: &serde_json::Value) -> Result<String, String> {
        let header = json!({ "alg": self.alg_name, "kid": self.kid, "typ": typ });
        let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        let claims = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
        let mut jwt = format!("{}.{}", b64(&header), b64(&claims));
        let rng = ring::rand::SystemRandom::new();
        let signature = match &self.signer {
            FastSigner::Rsa(key) => {
                // RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3): OpenSSL's default padding.
                let failed = |_| "RSA signing failed".to_string();
                let mut signer =
                    openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key).map_err(failed)?;
                signer.update(jwt.as_bytes()).map_err(failed)?;
                signer.sign_to_vec().map_err(failed)?
            }
            FastSigner::Ecdsa(pair) => {
                pair.sign(&rng, jwt.as_bytes()).map_err(|_| "ECDSA signing failed".to_string())?.as_ref().to_vec()
            }
            FastSigner::Ed25519(pair) => pair.sign(jwt.as_bytes()).as_ref().to_vec(),
        };
        jwt.push('.');
        jwt.push_str(&b64(&signature));
        Ok(jwt)
    }
}

impl LoadedKey {
    /// The claims of a compact JWS this key signed, if the signature verifies and the
    /// header names this key's algorithm and id. Claims are not checked here.
    pub fn verify_jwt(&self, token: &str) -> Option<serde_json::Value> {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let signed = &token[..header.len() + 1 + claims.len()];
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let verified = match &self.verifier {
            FastVerifier::Rsa(public) => {
                public.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
            }
            FastVerifier::Ecdsa(point) => {
                ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(signed.as_bytes(), &signature)
            }
            FastVerifier::Ed25519(public) => ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public)
                .verify(signed.as_bytes(), &signature),
        };
        verified.ok()?;
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header["alg"] != self.alg_name.as_str() || header["kid"] != self.kid.as_str() {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
    }
}

pub struct KeyRing {
    pub keys: Vec<LoadedKey>,
}

impl KeyRing {
    /// The newest current key for an algorithm.
    pub fn signing(&self, alg: &str) -> Option<&LoadedKey> {
        self.keys.iter().find(|k| k.current && k.alg_name == alg)
    }

    pub fn by_kid(&self, kid: &str) -> Option<&LoadedKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn jwks(&self) -> serde_json::Value {
        json!({ "keys": self.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new key pair: PKCS#8 PEM of the private key and the public JWK.
pub fn generate(alg: &str) -> Result<KeyRecord, KeyError> {
    use rand_core::OsRng;
    let kid = random_id();
    let fail = |e: &dyn std::fmt::Display| KeyError::Generate(e.to_string());
    let (private_pem, jwk) = match alg {
        "RS256" => {
            use rsa::pkcs8::EncodePrivateKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).map_err(|e| fail(&e))?;
            let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).map_err(|e| fail(&e))?.to_string();
            let public = key.to_public_key();
            let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())});
            (pem, jwk)
        }
        "ES256" => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use p256::pkcs8::EncodePrivateKey;
            let key = p256::SecretKey::random(&mut OsRng);
            let pem = key.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).map_err(|e| fail(&e))?.to_string();
            let point = key.public_key().to_encoded_point(false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(KeyError::Generate("P-256 point without coordinates".into()));
            };
            let jwk = json!({"kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
                "x": b64(x), "y": b64(y)});
            (pem, jwk)
        }
        "EdDSA" => {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
            let pem = key
                .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .map_err(|e| fail(&e))?
                .to_string();
            let jwk = json!({"kty": "OKP", "use": "sig", "alg": "EdDSA", "kid": kid, "crv": "Ed25519",
                "x": b64(key.verifying_key().as_bytes())});
            (pem, jwk)
        }
        other => return Err(KeyError::Algorithm(other.to_string())),
    };
    Ok(KeyRecord {
        kid,
        alg: alg.to_string(),
        private_pem,
        public_jwk: jwk.to_string(),
        created_at: now(),
        retired_at: None,
    })
}

pub fn load(record: &KeyRecord) -> Result<LoadedKey, KeyError> {
    let bad = |e: &dyn std::fmt::Display| KeyError::Load(record.kid.clone(), e.to_string());
    let jwk: serde_json::Value = serde_json::from_str(&record.public_jwk).map_err(|e| bad(&e))?;
    let field = |name: &str| jwk.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let (_, der) = p256::pkcs8::SecretDocument::from_pem(&record.private_pem).map_err(|e| bad(&e))?;
    let der = der.as_bytes();
    let (alg, decoding, signer) = match record.alg.as_str() {
        "RS256" => (
            Algorithm::RS256,
            DecodingKey::from_rsa_components(&field("n"), &field("e")).map_err(|e| bad(&e))?,
            FastSigner::Rsa(openssl::pkey::PKey::private_key_from_pkcs8(der).map_err(|e| bad(&e))?),
        ),
        "ES256" => (
            Algorithm::ES256,
            DecodingKey::from_ec_components(&field("x"), &field("y")).map_err(|e| bad(&e))?,
            FastSigner::Ecdsa(
                ring::signature::EcdsaKeyPair::from_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &ring::rand::SystemRandom::new(),
                )
                .map_err(|e| bad(&e))?,
            ),
        ),
        "EdDSA" => (
            Algorithm::EdDSA,
            DecodingKey::from_ed_components(&field("x")).map_err(|e| bad(&e))?,
            FastSigner::Ed25519(ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| bad(&e))?),
        ),
        other => return Err(KeyError::Algorithm(other.to_string())),
    };
    let bytes = |name: &str| URL_SAFE_NO_PAD.decode(field(name)).map_err(|e| bad(&e));
    let verifier = match &signer {
        FastSigner::Rsa(_) => {
            FastVerifier::Rsa(ring::signature::RsaPublicKeyComponents { n: bytes("n")?, e: bytes("e")? })
        }
        FastSigner::Ecdsa(_) => FastVerifier::Ecdsa([vec![0x04], bytes("x")?, bytes("y")?].concat()),
        FastSigner::Ed25519(_) => FastVerifier::Ed25519(bytes("x")?),
    };
    Ok(LoadedKey {
        signer,
        verifier,
        kid: record.kid.clone(),
        alg,
        alg_name: record.alg.clone(),
        decoding,
        jwk,
        current: record.retired_at.is_none(),
    })
}

/// The node's view of the key set: loaded from the database, refreshed every 30 seconds,
/// created on first use.
pub struct Keys {
    cache: RwLock<Option<(Instant, Arc<KeyRing>)>>,
}

impl Default for Keys {
    fn default() -> Self {
        Keys { cache: RwLock::new(None) }
    }
}

impl Keys {
    pub async fn ring(&self, store: &Store) -> Result<Arc<KeyRing>, KeyError> {
        if let Ok(guard) = self.cache.read()
            && let Some((at, ring)) = guard.as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return Ok(ring.clone());
        }
        let ring = Arc::new(self.reload(store).await?);
        if let Ok(mut guard) = self.cache.write() {
            *guard = Some((Instant::now(), ring.clone()));
        }
        Ok(ring)
    }

    /// Forget the cached set (after a rotation on this node).
    pub fn invalidate(&self) {
        if let Ok(mut guard) = self.cache.write() {
            *guard = None;
        }
    }

    async fn reload(&self, store: &Store) -> Result<KeyRing, KeyError> {
        let retired_after = now() - RETIRED_KEY_PUBLISHED_SECONDS;
        let mut records = store.published_keys(retired_after, now()).await?;
        let mut missing = false;
        for alg in ALGORITHMS {
            if !records.iter().any(|r| r.alg == alg && r.retired_at.is_none()) {
                let record = tokio::task::spawn_blocking(move || generate(alg))
                    .await
                    .map_err(|e| KeyError::Generate(e.to_string()))??;
                // Whoever inserts first (this request, another, another node) makes the key
                // every node signs with; the others' keys are dropped unused.
                store.insert_first_signing_key(&record).await?;
                missing = true;
            }
        }
        if missing {
            records = store.published_keys(retired_after, now()).await?;
        }
        Ok(KeyRing { keys: records.iter().map(load).collect::<Result<_, _>>()? })
    }
}

/// `llave keys rotate`: new current keys for every algorithm; the old ones are retired
/// (still published for a day). Returns the new key ids.
pub async fn rotate(store: &Store) -> Result<Vec<(String, String)>, KeyError> {
    let mut made = Vec::new();
    for alg in ALGORITHMS {
        let record = tokio::task::spawn_blocking(move || generate(alg))
            .await
            .map_err(|e| KeyError::Generate(e.to_string()))??;
        store.rotate_signing_key(&record, now()).await?;
        made.push((alg.to_string(), record.kid));
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in ALGORITHMS {
            let record = generate(alg).unwrap();
            let key = load(&record).unwrap();
            let token = key.sign_jwt("JWT", &json!({"sub": "x", "exp": now() + 60})).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(
                (header.alg, header.kid.as_deref(), header.typ.as_deref()),
                (key.alg, Some(key.kid.as_str()), Some("JWT"))
            );
            let mut validation = jsonwebtoken::Validation::new(key.alg);
            validation.validate_aud = false;
            let decoded = jsonwebtoken::decode::<serde_json::Value>(&token, &key.decoding, &validation).unwrap();
            assert_eq!(decoded.claims["sub"], "x", "{alg}");
            assert_eq!(key.verify_jwt(&token).expect("ring verifies its own")["sub"], "x", "{alg}");
            let other = load(&generate(alg).unwrap()).unwrap();
            assert!(other.verify_jwt(&token).is_none(), "{alg}: another key's token");
            // A flipped byte in the signature is refused.
            let mut tampered = token.clone().into_bytes();
            let last = tampered.len() - 2;
            tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(tampered).unwrap();
            assert!(jsonwebtoken::decode::<serde_json::Value>(&tampered, &key.decoding, &validation).is_err(), "{alg}");
            assert!(key.verify_jwt(&tampered).is_none(), "{alg}: ring refuses the tampered token");
            // Claims changed under the same signature are refused too.
            let mut parts: Vec<&str> = token.split('.').collect();
            let forged = b64(br#"{"sub":"y","exp":9999999999}"#);
            parts[1] = &forged;
            assert!(key.verify_jwt(&parts.join(".")).is_none(), "{alg}: forged claims");
        }
    }
}
