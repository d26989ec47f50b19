//! What the bank checks before it believes anything llave sent, as plain functions over the
//! bytes it received (no HTTP here, so each check is unit-tested): a JWS signed by the hub
//! (the ID token, the consent artefact, the shared data, a state notice) against the hub's
//! published JWKS; and a record's seal against the certificate chain it carries, up to the
//! hub's root certificate. The bank verifies on its own, with its own code, as an outside
//! bank would: it does not call into llave's signature module.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use der::{Decode, Encode};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, Signature, VerifyingKey};
use serde_json::Value;
use x509_cert::Certificate;

/// `typ` of the JWSs the hub signs for the bank (the contract of issue 17).
pub const ARTEFACT_TYP: &str = "consent-artefact+jwt";
pub const SHARED_DATA_TYP: &str = "shared-data+jwt";
pub const NOTICE_TYP: &str = "consent-state+jwt";
pub const SEAL_TYP: &str = "llave-seal+jwt";

/// id-ecPublicKey (RFC 5480) and ecdsa-with-SHA256 (RFC 5758).
const ID_EC_PUBLIC_KEY: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ECDSA_WITH_SHA256: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// Why something did not verify, in words the bank's page can show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(why: impl Into<String>) -> Refused {
    Refused(why.into())
}

/// What a hub JWS must be.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The header's `typ`, when the contract fixes one (the ID token has none).
    pub typ: Option<&'a str>,
    pub issuer: &'a str,
    /// The bank's client id: every JWS the hub signs for it names it in `aud`.
    pub audience: &'a str,
    /// Whether `exp` is required and checked (the ID token); the artefact's expiry is its
    /// own `expires`, a date, and the others have none.
    pub expires: bool,
}

/// Verifies a compact JWS signed by the hub with one of the ES256 keys of its JWKS and
/// answers its claims.
pub fn hub_jws(token: &str, jwks: &JwkSet, expect: &Expect) -> Result<Value, Refused> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| refused(format!("no es un JWS: {e}")))?;
    if header.alg != Algorithm::ES256 {
        return Err(refused(format!("firmado con {:?}, no con ES256", header.alg)));
    }
    if let Some(typ) = expect.typ
        && header.typ.as_deref() != Some(typ)
    {
        return Err(refused(format!("el tipo no es {typ}")));
    }
    let Some(kid) = header.kid.as_deref() else { return Err(refused("la firma no dice con qué llave se hizo")) };
    let jwk = jwks
        .keys
        .iter()
        .find(|k| k.common.key_id.as_deref() == Some(kid))
        .ok_or_else(|| refused("ninguna llave publicada por Llave lo firmó"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| refused(format!("llave publicada inservible: {e}")))?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[expect.issuer]);
    validation.set_audience(&[expect.audience]);
    if expect.expires {
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    } else {
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["aud", "iss"]);
    }
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| refused(format!("la firma o los datos no son válidos: {e}")))
}

/// A consent state Llave told the bank of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub grant_id: String,
    pub consent_artefact_id: String,
    /// `ACTIVE`, `PAUSED` or `REVOKED`.
    pub state: String,
    pub iat: i64,
}

/// Verifies a state notification (`consent-state+jwt`) and reads it.
pub fn notice(body: &str, jwks: &JwkSet, issuer: &str, client_id: &str) -> Result<Notice, Refused> {
    let expect = Expect { typ: Some(NOTICE_TYP), issuer, audience: client_id, expires: false };
    let claims = hub_jws(body.trim(), jwks, &expect)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    let state = text("state");
    if !["ACTIVE", "PAUSED", "REVOKED"].contains(&state.as_str()) {
        return Err(refused(format!("estado desconocido {state:?}")));
    }
    let (grant_id, consent_artefact_id) = (text("grant_id"), text("consent_artefact_id"));
    if grant_id.is_empty() || text("jti").is_empty() {
        return Err(refused("al aviso le falta grant_id o jti"));
    }
    let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or_default();
    Ok(Notice { grant_id, consent_artefact_id, state, iat })
}

/// A seal that verified: who sealed it (the certificate's common name and its
/// `serialNumber`, the entity's slug) and what it seals.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub sealer: String,
    pub sealer_slug: String,
    pub claims: Value,
}

/// The hub's root certificate from its PEM.
pub fn root_certificate(pem: &str) -> Result<Certificate, Refused> {
    use der::DecodePem;
    Certificate::from_pem(pem.as_bytes()).map_err(|e| refused(format!("el certificado raíz no se puede leer: {e}")))
}

fn verifying_key(certificate: &Certificate) -> Option<VerifyingKey> {
    let spki = &certificate.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
        return None;
    }
    VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).ok()
}

fn is_ca(certificate: &Certificate) -> bool {
    use x509_cert::ext::pkix::BasicConstraints;
    certificate.tbs_certificate.extensions.iter().flatten().any(|ext| {
        ext.extn_id == der::oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS
            && BasicConstraints::from_der(ext.extn_value.as_bytes()).is_ok_and(|bc| bc.ca)
    })
}

/// RFC 5280 §6.1.3: `issuer` is a CA, names itself as the certificate's issuer, and its key
/// made the certificate's signature (ECDSA P-256 SHA-256).
fn signed_by(certificate: &Certificate, issuer: &Certificate) -> bool {
    let Some(key) = verifying_key(issuer) else { return false };
    let Ok(tbs) = certificate.tbs_certificate.to_der() else { return false };
    let Ok(signature) = DerSignature::from_bytes(certificate.signature.raw_bytes()) else { return false };
    is_ca(issuer)
        && certificate.signature_algorithm.oid == ECDSA_WITH_SHA256
        && certificate.tbs_certificate.issuer == issuer.tbs_certificate.subject
        && key.verify(&tbs, &signature).is_ok()
}

fn valid_at(certificate: &Certificate, now: i64) -> bool {
    let validity = &certificate.tbs_certificate.validity;
    let unix = |t: &x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
    unix(&validity.not_before) <= now && now <= unix(&validity.not_after)
}

/// The value of a name attribute (CN, serialNumber) as text.
fn attribute(name: &x509_cert::name::Name, oid: der::oid::ObjectIdentifier) -> Option<String> {
    use der::asn1::{PrintableStringRef, Utf8StringRef};
    name.0.iter().flat_map(|rdn| rdn.0.iter()).find(|atv| atv.oid == oid).and_then(|atv| {
        atv.value
            .decode_as::<Utf8StringRef<'_>>()
            .map(|s| s.as_str().to_string())
            .or_else(|_| atv.value.decode_as::<PrintableStringRef<'_>>().map(|s| s.as_str().to_string()))
            .ok()
    })
}

/// Verifies a record's seal: a compact JWS (`llave-seal+jwt`, ES256) whose `x5c` holds the
/// sealing certificate and the CA that issued it; the CA is certified by `root`, the leaf by
/// the CA, all valid `now`, and the leaf's key made the signature. Answers who sealed it and
/// the sealed claims.
pub fn seal(seal: &str, root: &Certificate, now: i64) -> Result<Sealed, Refused> {
    let mut parts = seal.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused("el sello no es un JWS"));
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| refused("el encabezado del sello no se puede leer"))?;
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err(refused("el sello no está hecho con ES256"));
    }
    if header.get("typ").and_then(Value::as_str) != Some(SEAL_TYP) {
        return Err(refused(format!("el tipo del sello no es {SEAL_TYP}")));
    }
    let chain: Vec<Certificate> = header
        .get("x5c")
        .and_then(Value::as_array)
        .map(|x5c| {
            x5c.iter()
                .map(|c| c.as_str().and_then(|c| STANDARD.decode(c).ok()).and_then(|d| Certificate::from_der(&d).ok()))
                .collect::<Option<Vec<_>>>()
        })
        .unwrap_or_default()
        .unwrap_or_default();
    let [leaf, issuing, ..] = chain.as_slice() else {
        return Err(refused("el sello no trae su cadena de certificados (x5c)"));
    };
    if !signed_by(issuing, root) {
        return Err(refused("la autoridad que emitió el certificado del sello no es de Llave"));
    }
    if !signed_by(leaf, issuing) {
        return Err(refused("el certificado del sello no lo emitió esa autoridad"));
    }
    if is_ca(leaf) {
        return Err(refused("el sello está hecho con el certificado de una autoridad"));
    }
    if ![leaf, issuing, root].iter().all(|c| valid_at(c, now)) {
        return Err(refused("un certificado de la cadena no está vigente"));
    }
    let key = verifying_key(leaf).ok_or_else(|| refused("el certificado del sello no tiene una llave P-256"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or_else(|| refused("la firma del sello no se puede leer"))?;
    let signed = format!("{header_b64}.{payload_b64}");
    if key.verify(signed.as_bytes(), &signature).is_err() {
        return Err(refused("la firma del sello no corresponde a los datos"));
    }
    let claims = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| refused("los datos sellados no se pueden leer"))?;
    let subject = &leaf.tbs_certificate.subject;
    Ok(Sealed {
        sealer: attribute(subject, der::oid::db::rfc4519::CN).unwrap_or_default(),
        sealer_slug: attribute(subject, der::oid::db::rfc4519::SERIAL_NUMBER).unwrap_or_default(),
        claims,
    })
}

/// A record as the shared data carries it agrees with what its seal seals: the same record
/// and version, kind, holder, attributes and dates, for this person and this artefact; and
/// the sealing certificate is the holder's.
pub fn seal_matches(record: &Value, sealed: &Sealed, sub: &str, artefact_id: &str) -> Result<(), Refused> {
    for field in ["record_id", "version", "kind", "attributes", "valid_from", "valid_until"] {
        if record.get(field).unwrap_or(&Value::Null) != sealed.claims.get(field).unwrap_or(&Value::Null) {
            return Err(refused(format!("el dato «{field}» no es el que se selló")));
        }
    }
    let holder_slug = record.pointer("/holder/slug").and_then(Value::as_str).unwrap_or_default();
    let sealed_holder = sealed.claims.get("holder").map(|h| h.get("slug").unwrap_or(h));
    if sealed_holder.and_then(Value::as_str) != Some(holder_slug) {
        return Err(refused("el sello nombra a otra dependencia como titular"));
    }
    if sealed.sealer_slug != holder_slug {
        return Err(refused("el sello no es de la dependencia que guarda el documento"));
    }
    if sealed.claims.get("sub").and_then(Value::as_str) != Some(sub) {
        return Err(refused("el sello es de otra persona"));
    }
    if sealed.claims.get("consent_artefact_id").and_then(Value::as_str) != Some(artefact_id) {
        return Err(refused("el sello es de otro permiso"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    use serde_json::json;
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::Validity;

    use crate::signature::pki::{name, random_serial};

    fn validity() -> Validity {
        Validity::from_now(std::time::Duration::from_secs(86_400)).unwrap()
    }

    /// A root, an issuing CA under it, and an entity's seal certificate under that.
    struct Pki {
        root: Certificate,
        issuing: Certificate,
        issuing_key: SigningKey,
    }

    fn pki() -> Pki {
        let root_key = SigningKey::random(&mut rand_core::OsRng);
        let root_name = name("Prueba Raíz", "Prueba", Some("Autoridad certificadora"), None).unwrap();
        let spki = SubjectPublicKeyInfoOwned::from_key(*root_key.verifying_key()).unwrap();
        let root =
            CertificateBuilder::new(Profile::Root, random_serial(), validity(), root_name.clone(), spki, &root_key)
                .unwrap()
                .build::<DerSignature>()
                .unwrap();
        let issuing_key = SigningKey::random(&mut rand_core::OsRng);
        let issuing_name = name("Prueba Emisora", "Prueba", Some("Autoridad certificadora"), None).unwrap();
        let spki = SubjectPublicKeyInfoOwned::from_key(*issuing_key.verifying_key()).unwrap();
        let profile = Profile::SubCA { issuer: root_name, path_len_constraint: Some(0) };
        let issuing = CertificateBuilder::new(profile, random_serial(), validity(), issuing_name, spki, &root_key)
            .unwrap()
            .build::<DerSignature>()
            .unwrap();
        Pki { root, issuing, issuing_key }
    }

    fn leaf(pki: &Pki, key: &SigningKey) -> Certificate {
        let subject =
            name("Alcaldía Cuauhtémoc", "Prueba", Some("Sello de entidad"), Some("alcaldia-cuauhtemoc")).unwrap();
        let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).unwrap();
        let profile = Profile::Leaf {
            issuer: pki.issuing.tbs_certificate.subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        };
        CertificateBuilder::new(profile, random_serial(), validity(), subject, spki, &pki.issuing_key)
            .unwrap()
            .build::<DerSignature>()
            .unwrap()
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let signature: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    fn record() -> Value {
        json!({ "record_id": "r1", "version": 1, "kind": "proof_of_residence",
            "holder": { "slug": "alcaldia-cuauhtemoc", "name": "Alcaldía Cuauhtémoc" },
            "attributes": { "calle": "Lerma 71", "codigo_postal": "06500" },
            "valid_from": "2026-01-01", "valid_until": null })
    }

    fn sealed_by(key: &SigningKey, chain: &[&Certificate]) -> String {
        let x5c: Vec<String> = chain.iter().map(|c| STANDARD.encode(c.to_der().unwrap())).collect();
        let header = json!({ "alg": "ES256", "typ": SEAL_TYP, "x5c": x5c });
        let mut claims = record();
        claims["holder"] = json!({ "slug": "alcaldia-cuauhtemoc", "name": "Alcaldía Cuauhtémoc" });
        claims["sub"] = json!("pairwise-sub");
        claims["consent_artefact_id"] = json!("art-1");
        claims["iat"] = json!(1);
        sign(key, &header, &claims)
    }

    #[test]
    fn a_seal_by_a_certificate_chained_to_the_root_verifies() {
        let pki = pki();
        let key = SigningKey::random(&mut rand_core::OsRng);
        let certificate = leaf(&pki, &key);
        let seal = sealed_by(&key, &[&certificate, &pki.issuing]);
        let sealed = super::seal(&seal, &pki.root, crate::crypto::now()).unwrap();
        assert_eq!(sealed.sealer, "Alcaldía Cuauhtémoc");
        assert_eq!(sealed.sealer_slug, "alcaldia-cuauhtemoc");
        seal_matches(&record(), &sealed, "pairwise-sub", "art-1").unwrap();
        // What the shared data says must be what was sealed.
        let mut changed = record();
        changed["attributes"]["calle"] = json!("Otra calle 1");
        assert!(seal_matches(&changed, &sealed, "pairwise-sub", "art-1").is_err());
        assert!(seal_matches(&record(), &sealed, "someone-else", "art-1").is_err());
        assert!(seal_matches(&record(), &sealed, "pairwise-sub", "art-2").is_err());
    }

    #[test]
    fn a_seal_with_a_tampered_payload_is_refused() {
        let pki = pki();
        let key = SigningKey::random(&mut rand_core::OsRng);
        let certificate = leaf(&pki, &key);
        let seal = sealed_by(&key, &[&certificate, &pki.issuing]);
        let parts: Vec<&str> = seal.split('.').collect();
        let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["attributes"]["calle"] = json!("Otra calle 1");
        let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        let refused = super::seal(&tampered, &pki.root, crate::crypto::now()).unwrap_err();
        assert!(refused.0.contains("no corresponde"), "{refused}");
    }

    #[test]
    fn a_seal_whose_certificate_comes_from_another_ca_is_refused() {
        let ours = pki();
        let theirs = pki();
        let key = SigningKey::random(&mut rand_core::OsRng);
        // A leaf of another PKI, with that PKI's issuing CA: the chain stops short of our root.
        let certificate = leaf(&theirs, &key);
        let seal = sealed_by(&key, &[&certificate, &theirs.issuing]);
        assert!(super::seal(&seal, &ours.root, crate::crypto::now()).is_err());
        // The same leaf presented with our issuing CA: that CA did not sign it.
        let seal = sealed_by(&key, &[&certificate, &ours.issuing]);
        let refused = super::seal(&seal, &ours.root, crate::crypto::now()).unwrap_err();
        assert!(refused.0.contains("no lo emitió"), "{refused}");
        // A seal signed by another key than the certificate's.
        let other = SigningKey::random(&mut rand_core::OsRng);
        let certificate = leaf(&ours, &key);
        let seal = sealed_by(&other, &[&certificate, &ours.issuing]);
        assert!(super::seal(&seal, &ours.root, crate::crypto::now()).is_err());
        // No chain at all, or garbage.
        for bad in ["", "a.b", "a.b.c", "a.b.c.d"] {
            assert!(super::seal(bad, &ours.root, crate::crypto::now()).is_err(), "{bad}");
        }
        // Out of the certificates' validity.
        let seal = sealed_by(&key, &[&certificate, &ours.issuing]);
        assert!(super::seal(&seal, &ours.root, crate::crypto::now() + 3 * 86_400).is_err());
    }

    /// The hub's signing key and its JWKS.
    fn hub_key(kid: &str) -> (SigningKey, JwkSet) {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let jwks = json!({ "keys": [{ "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()) }] });
        // The key also round-trips through PKCS#8, as the hub's keys are stored.
        let _ = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        (key, serde_json::from_value(jwks).unwrap())
    }

    fn notice_claims() -> Value {
        json!({ "iss": "https://llave.example", "aud": "demo-banco-del-ejemplo", "jti": "n1", "iat": 1,
            "grant_id": "g1", "consent_artefact_id": "a1", "state": "REVOKED" })
    }

    #[test]
    fn a_notice_signed_by_the_hub_verifies_and_a_bad_signature_is_refused() {
        let (key, jwks) = hub_key("hub-1");
        let header = json!({ "alg": "ES256", "typ": NOTICE_TYP, "kid": "hub-1" });
        let good = sign(&key, &header, &notice_claims());
        let read = notice(&good, &jwks, "https://llave.example", "demo-banco-del-ejemplo").unwrap();
        assert_eq!((read.grant_id.as_str(), read.state.as_str()), ("g1", "REVOKED"));

        // Signed by another key under the hub's kid.
        let (other, _) = hub_key("hub-1");
        let forged = sign(&other, &header, &notice_claims());
        assert!(notice(&forged, &jwks, "https://llave.example", "demo-banco-del-ejemplo").is_err());
        // A good signature, its payload changed.
        let parts: Vec<&str> = good.split('.').collect();
        let mut claims = notice_claims();
        claims["state"] = json!("ACTIVE");
        let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert!(notice(&tampered, &jwks, "https://llave.example", "demo-banco-del-ejemplo").is_err());
        // Another audience, another issuer, another typ, an unknown state, no kid.
        assert!(notice(&good, &jwks, "https://llave.example", "another-client").is_err());
        assert!(notice(&good, &jwks, "https://other.example", "demo-banco-del-ejemplo").is_err());
        let artefact = sign(&key, &json!({ "alg": "ES256", "typ": ARTEFACT_TYP, "kid": "hub-1" }), &notice_claims());
        assert!(notice(&artefact, &jwks, "https://llave.example", "demo-banco-del-ejemplo").is_err());
        let mut claims = notice_claims();
        claims["state"] = json!("GONE");
        let odd = sign(&key, &header, &claims);
        assert!(notice(&odd, &jwks, "https://llave.example", "demo-banco-del-ejemplo").is_err());
        let no_kid = sign(&key, &json!({ "alg": "ES256", "typ": NOTICE_TYP }), &notice_claims());
        assert!(notice(&no_kid, &jwks, "https://llave.example", "demo-banco-del-ejemplo").is_err());
        for garbage in ["", "x", "a.b.c", "\u{0}"] {
            assert!(notice(garbage, &jwks, "https://llave.example", "demo-banco-del-ejemplo").is_err());
        }
    }
}
