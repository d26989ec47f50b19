//! Requesting authorities (`llave authority add|list`): a slug, a name, the mandate that lets
//! them ask, and the X.509 certificate whose public key (RSA or EC) their packages are
//! encrypted to. Registering one is an act with its `authority_registered` event.

use der::{Decode, DecodePem, Encode};
use x509_cert::Certificate;

use crate::Services;
use crate::store::requisitions::Authority;
use crate::store::{Event, EventKind, StoreError, Tx};

const RSA_ENCRYPTION: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("the slug must be 2 to 40 lower-case letters, digits or hyphens, e.g. fiscalia-cdmx")]
    Slug,
    #[error("the {0} is required")]
    Missing(&'static str),
    #[error("the certificate is not an X.509 certificate in PEM or DER: {0}")]
    Certificate(String),
    #[error("the certificate's public key is neither RSA nor EC; packages cannot be encrypted to it")]
    KeyAlgorithm,
    #[error("an authority with the slug {0:?} is registered already")]
    Duplicate(String),
    #[error(transparent)]
    Store(StoreError),
}

/// The certificate (PEM, or DER) parsed, and its key's algorithm: `rsa` or `ec`.
pub fn parse_certificate(bytes: &[u8]) -> Result<(Certificate, &'static str), AuthorityError> {
    let certificate = match std::str::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN") => Certificate::from_pem(text.trim().as_bytes()),
        _ => Certificate::from_der(bytes),
    }
    .map_err(|e| AuthorityError::Certificate(e.to_string()))?;
    let algorithm = certificate.tbs_certificate.subject_public_key_info.algorithm.oid;
    let kind = if algorithm == RSA_ENCRYPTION {
        "rsa"
    } else if algorithm == EC_PUBLIC_KEY {
        "ec"
    } else {
        return Err(AuthorityError::KeyAlgorithm);
    };
    Ok((certificate, kind))
}

/// Registers an authority (`by`: who, e.g. `cli`).
pub async fn register(
    app: &Services,
    slug: &str,
    name: &str,
    mandate: &str,
    certificate: &[u8],
    by: &str,
) -> Result<Authority, AuthorityError> {
    let slug = slug.trim();
    if !crate::store::valid_slug(slug) {
        return Err(AuthorityError::Slug);
    }
    let name = name.trim();
    if name.is_empty() {
        return Err(AuthorityError::Missing("name"));
    }
    let mandate = mandate.trim();
    if mandate.is_empty() {
        return Err(AuthorityError::Missing("mandate"));
    }
    let (parsed, key_algorithm) = parse_certificate(certificate)?;
    let pem = der::EncodePem::to_pem(&parsed, der::pem::LineEnding::LF)
        .map_err(|e| AuthorityError::Certificate(e.to_string()))?;
    // Re-encoding proves the DER round-trips (what the envelope will name as recipient).
    parsed.to_der().map_err(|e| AuthorityError::Certificate(e.to_string()))?;
    let authority = Authority {
        slug: slug.to_string(),
        name: name.to_string(),
        mandate: mandate.to_string(),
        certificate_pem: pem,
        key_algorithm: key_algorithm.to_string(),
        created_at: app.clock.now(),
    };
    let detail = format!("authority={slug} key={key_algorithm}");
    app.store
        .act("authority_registered", async |tx: &mut Tx| {
            tx.add_authority(&authority).await?;
            tx.event(Event::system(EventKind::AuthorityRegistered, None, by, &detail));
            Ok::<_, StoreError>(())
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => AuthorityError::Duplicate(slug.to_string()),
            other => AuthorityError::Store(other),
        })?;
    Ok(authority)
}
