//! The package an authority downloads, built at download time and kept nowhere: the
//! person's records of the kinds asked for, in the date range, read from the holders' own
//! stores (the records capability's located reads), as one JSON document; sealed by the hub
//! (CMS SignedData with the content inside, like the entities' seals) and encrypted to the
//! authority's certificate (CMS EnvelopedData, AES-256-CBC, the key by RSA PKCS #1 v1.5 or,
//! for an EC certificate, by ECDH key agreement: `ecdh`):
//!
//! ```text
//! openssl cms -decrypt -inform DER -in PACKAGE -recip cert.pem -inkey key.pem -out sealed.p7m
//! openssl cms -verify -inform DER -in sealed.p7m -CAfile hub-root.pem -out records.json
//! ```

use base64::Engine;
use cms::builder::{ContentEncryptionAlgorithm, EnvelopedDataBuilder, KeyEncryptionInfo, KeyTransRecipientInfoBuilder};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::ContentInfo;
use cms::enveloped_data::RecipientIdentifier;
use der::asn1::Any;
use der::{Encode, oid::ObjectIdentifier};
use rsa::pkcs8::DecodePublicKey;

use crate::Services;
use crate::calendar;
use crate::records;
use crate::store::requisitions::{Authority, Requisition};

const ID_ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");

/// The name on the hub's own seal certificate (an entity seal of the hub itself).
pub const HUB_SEAL_SLUG: &str = "llave-hub";

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("the records cannot be read: {0}")]
    Records(String),
    #[error("the hub's seal is not available: {0}")]
    Seal(String),
    #[error("the package cannot be encrypted to the authority's certificate: {0}")]
    Encrypt(String),
}

/// What was put in the package: the record ids and the document.
pub struct Assembled {
    pub records: Vec<String>,
    pub document: Vec<u8>,
}

/// Reads the records the requisition asks for from their holders' stores.
pub async fn assemble(
    app: &Services,
    r: &Requisition,
    authority: &Authority,
    curp: &str,
    now: i64,
) -> Result<Assembled, PackageError> {
    let fail = |e: crate::store::StoreError| PackageError::Records(e.to_string());
    let entities = app.store.list_entities().await.map_err(fail)?;
    let mut items = Vec::new();
    let mut ids = Vec::new();
    for kind in &r.kinds {
        for locator in app.store.records_of_kind(r.account_id, kind, None).await.map_err(fail)? {
            let spoke = app.spokes.get(app, locator.entity_id).await.map_err(fail)?;
            let holder = entities.iter().find(|e| e.id == locator.entity_id);
            let mut versions = Vec::new();
            for version in records::located_history(app, &locator).await.map_err(fail)? {
                let day = calendar::format_date(calendar::city_date(version.created_at));
                if day < r.date_from || day > r.date_to {
                    continue;
                }
                let file = match &version.file {
                    Some(info) => spoke.file(&locator.record_id, version.version).await.map_err(fail)?.map(|bytes| {
                        serde_json::json!({
                            "name": info.name, "content_type": info.content_type, "sha256": info.sha256,
                            "content_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
                        })
                    }),
                    None => None,
                };
                versions.push(serde_json::json!({
                    "version": version.version,
                    "created_at": version.created_at,
                    "attributes": version.content.attributes,
                    "sha256": version.sha256,
                    "valid_from": version.valid_from,
                    "valid_until": version.valid_until,
                    "file": file,
                }));
            }
            if versions.is_empty() {
                continue;
            }
            ids.push(locator.record_id.clone());
            items.push(serde_json::json!({
                "record_id": locator.record_id,
                "kind": locator.kind,
                "holder": {"slug": holder.map(|h| h.slug.clone()), "name": holder.map(|h| h.name.clone())},
                "versions": versions,
            }));
        }
    }
    let document = serde_json::json!({
        "requisition": r.id,
        "authority": {"slug": authority.slug, "name": authority.name},
        "legal_basis": {"law": r.law, "article": r.article, "case_number": r.case_number},
        "person": {"curp": curp},
        "kinds": r.kinds,
        "date_from": r.date_from,
        "date_to": r.date_to,
        "assembled_at": now,
        "records": items,
    });
    let document = serde_json::to_vec_pretty(&document).map_err(|e| PackageError::Records(e.to_string()))?;
    Ok(Assembled { records: ids, document })
}

/// Seals the document with the hub's seal (its chain included) and encrypts the sealed
/// document to the authority: the DER of a CMS ContentInfo of EnvelopedData.
pub async fn seal_and_encrypt(
    app: &Services,
    authority: &Authority,
    document: &[u8],
    now: i64,
) -> Result<Vec<u8>, PackageError> {
    let seal = |e: crate::signature::SignatureError| PackageError::Seal(e.to_string());
    let (_, certificate, key) =
        crate::signature::seal_credentials(app, HUB_SEAL_SLUG, &app.config.signature.hub_name).await.map_err(seal)?;
    let issuing = crate::signature::issuing(app).await.map_err(seal)?;
    let root = crate::signature::root(app).await.map_err(seal)?;
    let sealed =
        crate::signature::cms::sign_attached(document, &certificate, &[&issuing.certificate, &root], &key, now)
            .map_err(|e| PackageError::Seal(e.to_string()))?;
    encrypt(authority, &sealed)
}

/// CMS EnvelopedData of `content` for the authority's certificate.
pub fn encrypt(authority: &Authority, content: &[u8]) -> Result<Vec<u8>, PackageError> {
    let fail = |e: &dyn std::fmt::Display| PackageError::Encrypt(e.to_string());
    let (certificate, algorithm) =
        super::authorities::parse_certificate(authority.certificate_pem.as_bytes()).map_err(|e| fail(&e))?;
    let mut rng = rand_core::OsRng;
    let mut key_rng = rand_core::OsRng;
    let mut builder =
        EnvelopedDataBuilder::new(None, content, ContentEncryptionAlgorithm::Aes256Cbc, None).map_err(|e| fail(&e))?;
    if algorithm == "rsa" {
        let spki = certificate.tbs_certificate.subject_public_key_info.to_der().map_err(|e| fail(&e))?;
        let public = rsa::RsaPublicKey::from_public_key_der(&spki).map_err(|e| fail(&e))?;
        let recipient = RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: certificate.tbs_certificate.issuer.clone(),
            serial_number: certificate.tbs_certificate.serial_number.clone(),
        });
        let recipient_info = KeyTransRecipientInfoBuilder::new(recipient, KeyEncryptionInfo::Rsa(public), &mut key_rng)
            .map_err(|e| fail(&e))?;
        builder.add_recipient_info(recipient_info).map_err(|e| fail(&e))?;
    } else if super::ecdh::supported(&certificate) {
        builder.add_recipient_info(super::ecdh::EcdhRecipient { certificate: &certificate }).map_err(|e| fail(&e))?;
    } else {
        return Err(PackageError::Encrypt("EC keys must be on the P-256 curve (prime256v1)".into()));
    }
    let enveloped = builder.build_with_rng(&mut rng).map_err(|e| fail(&e))?;
    let info =
        ContentInfo { content_type: ID_ENVELOPED_DATA, content: Any::encode_from(&enveloped).map_err(|e| fail(&e))? };
    info.to_der().map_err(|e| fail(&e))
}
