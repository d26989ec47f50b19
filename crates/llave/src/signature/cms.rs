//! Detached CMS SignedData (RFC 5652) at CAdES baseline-B (ETSI EN 319 122-1): signed
//! attributes content-type, message-digest, signing-time and signing-certificate-v2, an
//! ECDSA P-256 SHA-256 signature, and the signer's chain. `openssl cms -verify -binary
//! -content DOC -inform DER -in DOC.p7s -CAfile ROOT.pem -purpose any` accepts what this
//! makes; `verify` checks what OpenSSL (or anyone) made the same way.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, OctetString, SetOfVec};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode, Sequence};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;

use super::pki::ECDSA_WITH_SHA256;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// `IssuerSerial` (RFC 5035).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// `ESSCertIDv2` (RFC 5035) with the default hash algorithm, SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificateV2` (RFC 5035), without policies.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

#[derive(Debug, thiserror::Error)]
pub enum CmsError {
    #[error("encoding failed: {0}")]
    Encoding(String),
}

fn enc(error: impl std::fmt::Display) -> CmsError {
    CmsError::Encoding(error.to_string())
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, CmsError> {
    Ok(Attribute { oid, values: SetOfVec::try_from(vec![value]).map_err(enc)? })
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: ID_SHA256, parameters: None }
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A detached signature (DER) over a document whose SHA-256 is `digest`, by `key`, whose
/// certificate is `signer`; `chain` holds the CAs to include (issuing CA, root).
pub fn sign_detached(
    digest: &[u8; 32],
    signer: &Certificate,
    chain: &[&Certificate],
    key: &SigningKey,
    signed_at: i64,
) -> Result<Vec<u8>, CmsError> {
    sign(digest, None, signer, chain, key, signed_at)
}

/// The same signature with the content inside it (encapsulated, RFC 5652 §5.2): a sealed
/// package that `openssl cms -verify -inform DER -CAfile ROOT.pem` checks and prints.
pub fn sign_attached(
    content: &[u8],
    signer: &Certificate,
    chain: &[&Certificate],
    key: &SigningKey,
    signed_at: i64,
) -> Result<Vec<u8>, CmsError> {
    sign(&sha256(content), Some(content), signer, chain, key, signed_at)
}

fn sign(
    digest: &[u8; 32],
    content: Option<&[u8]>,
    signer: &Certificate,
    chain: &[&Certificate],
    key: &SigningKey,
    signed_at: i64,
) -> Result<Vec<u8>, CmsError> {
    let signer_der = signer.to_der().map_err(enc)?;
    let tbs = &signer.tbs_certificate;
    let signing_certificate = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetString::new(sha256(&signer_der).to_vec()).map_err(enc)?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer.clone())],
                serial_number: tbs.serial_number.clone(),
            }),
        }],
    };
    let time = super::pki::time_at(signed_at).map_err(enc)?;
    let attributes = vec![
        attribute(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA).map_err(enc)?)?,
        attribute(ID_SIGNING_TIME, Any::encode_from(&time).map_err(enc)?)?,
        attribute(ID_MESSAGE_DIGEST, Any::encode_from(&OctetString::new(digest.to_vec()).map_err(enc)?).map_err(enc)?)?,
        attribute(ID_SIGNING_CERTIFICATE_V2, Any::encode_from(&signing_certificate).map_err(enc)?)?,
    ];
    let signed_attrs: SetOfVec<Attribute> = SetOfVec::try_from(attributes).map_err(enc)?;
    // RFC 5652 §5.4: the signature covers the DER of the attributes as a SET.
    let signature: DerSignature = key.sign(&signed_attrs.to_der().map_err(enc)?);
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer.clone(),
            serial_number: tbs.serial_number.clone(),
        }),
        digest_alg: sha256_alg(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: AlgorithmIdentifierOwned { oid: ECDSA_WITH_SHA256, parameters: None },
        signature: OctetString::new(signature.as_bytes().to_vec()).map_err(enc)?,
        unsigned_attrs: None,
    };
    let mut certificates = vec![cms::cert::CertificateChoices::Certificate(signer.clone())];
    certificates.extend(chain.iter().map(|c| cms::cert::CertificateChoices::Certificate((*c).clone())));
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256_alg()]).map_err(enc)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: content
                .map(|c| OctetString::new(c.to_vec()).and_then(|o| Any::encode_from(&o)))
                .transpose()
                .map_err(enc)?,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certificates).map_err(enc)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).map_err(enc)?),
    };
    let info = ContentInfo { content_type: ID_SIGNED_DATA, content: Any::encode_from(&signed_data).map_err(enc)? };
    info.to_der().map_err(enc)
}

/// The verdict on a document and its signature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The signature is good, by a certificate the hub issued, valid when it signed.
    Valid,
    /// The document is not the one that was signed (a changed byte, another file).
    DocumentChanged,
    /// The signature itself is damaged or was not made by the certificate's key.
    SignatureInvalid,
    /// The certificate does not lead to the given root.
    UntrustedChain,
    /// The certificate was revoked before the signature was made.
    Revoked,
    /// The certificate was not valid (expired or not yet valid) when the signature was made.
    CertificateExpired,
    /// Not a CMS signature llave can read.
    Malformed,
}

/// Who signed, from the certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Signer {
    pub name: String,
    /// A person's CURP, or an entity's slug for a seal.
    pub serial_number: String,
    pub organizational_unit: String,
    pub certificate_serial: String,
    pub not_before: i64,
    pub not_after: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    pub status: Status,
    /// Why, in a sentence, for people and logs.
    pub reason: String,
    pub signer: Option<Signer>,
    /// Signing time claimed in the signature (Unix seconds).
    pub signed_at: Option<i64>,
    /// Whether the document is the one that was signed; `None` when the signature could not
    /// be read far enough to tell.
    pub document_unchanged: Option<bool>,
    /// Whether the certificate was valid (in its dates, not revoked) when it signed; `None`
    /// when that was not checked (an unreadable or broken signature, an unknown issuer). A
    /// changed document does not stop this check: the two are separate findings.
    pub certificate_valid_then: Option<bool>,
    /// When the certificate was revoked, if the CRL says it is.
    pub revoked_at: Option<i64>,
    /// Whether the CRL was checked at all.
    pub crl_checked: bool,
    pub document_sha256: String,
}

impl Verdict {
    fn new(status: Status, reason: &str, document: &[u8; 32]) -> Verdict {
        Verdict {
            status,
            reason: reason.to_string(),
            signer: None,
            signed_at: None,
            document_unchanged: None,
            certificate_valid_then: None,
            revoked_at: None,
            crl_checked: false,
            document_sha256: hex(document),
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn verifying_key(certificate: &Certificate) -> Option<VerifyingKey> {
    let spki = &certificate.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
        return None;
    }
    VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).ok()
}

/// Whether a certificate says it is a CA (basic constraints `cA`).
fn is_ca(certificate: &Certificate) -> bool {
    use x509_cert::ext::pkix::BasicConstraints;
    certificate.tbs_certificate.extensions.iter().flatten().any(|ext| {
        ext.extn_id == der::oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS
            && BasicConstraints::from_der(ext.extn_value.as_bytes()).is_ok_and(|bc| bc.ca)
    })
}

/// Whether `issuer` (a CA) signed `certificate` with its key (ECDSA P-256 SHA-256).
fn signed_by(certificate: &Certificate, issuer: &Certificate) -> bool {
    if !is_ca(issuer) {
        return false;
    }
    let Some(key) = verifying_key(issuer) else { return false };
    let Ok(tbs) = certificate.tbs_certificate.to_der() else { return false };
    let Ok(signature) = DerSignature::from_bytes(certificate.signature.raw_bytes()) else { return false };
    certificate.signature_algorithm.oid == ECDSA_WITH_SHA256
        && certificate.tbs_certificate.issuer == issuer.tbs_certificate.subject
        && key.verify(&tbs, &signature).is_ok()
}

fn unix(time: &Time) -> i64 {
    time.to_unix_duration().as_secs() as i64
}

/// Reads a signature file: DER, or PEM (`PKCS7`/`CMS`), or base64.
pub fn signature_bytes(input: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let text = String::from_utf8_lossy(input);
    if text.contains("-----BEGIN") {
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        return base64::engine::general_purpose::STANDARD.decode(body.trim()).unwrap_or_default();
    }
    // DER starts with a SEQUENCE; anything else may be the API's base64.
    if input.first() != Some(&0x30) {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(compact) {
            return bytes;
        }
    }
    input.to_vec()
}

/// Verifies a detached signature over `document` against `root`, with `crl` (of the CA that
/// issued the signer's certificate) when given.
pub fn verify(
    document: &[u8],
    signature: &[u8],
    root: &Certificate,
    crl: Option<&CertificateList>,
    now: i64,
) -> Verdict {
    verify_digest(&sha256(document), signature, root, crl, now)
}

/// `verify` for a document known by its SHA-256.
pub fn verify_digest(
    document: &[u8; 32],
    signature: &[u8],
    root: &Certificate,
    crl: Option<&CertificateList>,
    now: i64,
) -> Verdict {
    let malformed = |why: &str| Verdict::new(Status::Malformed, why, document);
    let bytes = signature_bytes(signature);
    let Ok(info) = ContentInfo::from_der(&bytes) else {
        return malformed("the signature file is not a CMS structure");
    };
    if info.content_type != ID_SIGNED_DATA {
        return malformed("the CMS structure is not SignedData");
    }
    let Ok(signed_data) = info.content.decode_as::<SignedData>() else {
        return malformed("the SignedData cannot be read");
    };
    let Some(signer_info) = signed_data.signer_infos.0.iter().next() else {
        return malformed("the signature has no signer");
    };
    if signed_data.signer_infos.0.len() != 1 {
        return malformed("the signature has more than one signer");
    }
    let certificates: Vec<&Certificate> = signed_data
        .certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|c| match c {
                    cms::cert::CertificateChoices::Certificate(c) => Some(c),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer_info.sid else {
        return malformed("the signer is not named by issuer and serial number");
    };
    let Some(signer_cert) = certificates
        .iter()
        .find(|c| c.tbs_certificate.issuer == sid.issuer && c.tbs_certificate.serial_number == sid.serial_number)
    else {
        return malformed("the signer's certificate is not in the signature");
    };
    let mut verdict = Verdict::new(Status::Valid, "", document);
    let subject = &signer_cert.tbs_certificate.subject;
    let validity = &signer_cert.tbs_certificate.validity;
    verdict.signer = Some(Signer {
        name: super::pki::name_attribute(subject, der::oid::db::rfc4519::CN).unwrap_or_default(),
        serial_number: super::pki::name_attribute(subject, der::oid::db::rfc4519::SERIAL_NUMBER).unwrap_or_default(),
        organizational_unit: super::pki::name_attribute(subject, der::oid::db::rfc4519::OU).unwrap_or_default(),
        certificate_serial: super::pki::serial_hex(&signer_cert.tbs_certificate.serial_number),
        not_before: unix(&validity.not_before),
        not_after: unix(&validity.not_after),
    });

    // 1. The signature over the signed attributes, by the certificate's key.
    let Some(attributes) = &signer_info.signed_attrs else {
        verdict.status = Status::Malformed;
        verdict.reason = "the signature has no signed attributes".into();
        return verdict;
    };
    let signed = attributes.to_der().unwrap_or_default();
    let good = verifying_key(signer_cert)
        .zip(DerSignature::from_bytes(signer_info.signature.as_bytes()).ok())
        .is_some_and(|(key, sig)| key.verify(&signed, &sig).is_ok());
    if signer_info.digest_alg.oid != ID_SHA256 || !good {
        verdict.status = Status::SignatureInvalid;
        verdict.reason = "the signature does not match the signer's certificate".into();
        return verdict;
    }
    let attribute =
        |oid: ObjectIdentifier| attributes.iter().find(|a| a.oid == oid).and_then(|a| a.values.iter().next());
    verdict.signed_at = attribute(ID_SIGNING_TIME)
        .and_then(|v| v.to_der().ok())
        .and_then(|d| Time::from_der(&d).ok())
        .map(|t| unix(&t));
    // CAdES-B: a content type of data, a signing time, and the signer's certificate bound
    // by its hash (so another certificate with the same key cannot be slipped in).
    let content_type = attribute(ID_CONTENT_TYPE).and_then(|v| v.decode_as::<ObjectIdentifier>().ok());
    let bound = attribute(ID_SIGNING_CERTIFICATE_V2)
        .and_then(|v| v.decode_as::<SigningCertificateV2>().ok())
        .and_then(|sc| sc.certs.into_iter().next())
        .zip(signer_cert.to_der().ok())
        .is_some_and(|(id, der)| id.cert_hash.as_bytes() == sha256(&der));
    if content_type != Some(ID_DATA) || verdict.signed_at.is_none() || !bound {
        verdict.status = Status::Malformed;
        verdict.reason =
            "the signature lacks the CAdES attributes (content type, signing time, signing certificate)".into();
        return verdict;
    }
    // 2. The document is the one signed. A changed document is the verdict, but the
    // certificate is still checked below, so each finding is stated on its own.
    let digest = attribute(ID_MESSAGE_DIGEST).and_then(|v| v.decode_as::<OctetString>().ok());
    let unchanged = digest.as_ref().map(|d| d.as_bytes()) == Some(&document[..]);
    verdict.document_unchanged = Some(unchanged);
    let changed = |mut verdict: Verdict| {
        if !unchanged {
            verdict.status = Status::DocumentChanged;
            verdict.reason = "the document is not the one that was signed".into();
        }
        verdict
    };
    // 3. The certificate leads to the root: signer ← an issuing CA in the signature ← root.
    let chained =
        certificates.iter().any(|ca| signed_by(signer_cert, ca) && signed_by(ca, root)) || signed_by(signer_cert, root);
    if !chained {
        verdict.status = Status::UntrustedChain;
        verdict.reason = "the signer's certificate was not issued under this root".into();
        return changed(verdict);
    }
    // 4. Valid when it signed; revoked since?
    let signed_at = verdict.signed_at.unwrap_or(now);
    let in_dates = (verdict.signer.as_ref().map(|s| s.not_before).unwrap_or(i64::MAX)
        ..=verdict.signer.as_ref().map(|s| s.not_after).unwrap_or(i64::MIN))
        .contains(&signed_at);
    if let Some(crl) = crl {
        let fresh = crl.tbs_cert_list.next_update.as_ref().is_none_or(|next| unix(next) >= now);
        let issuer_ok = fresh && certificates.iter().any(|ca| crl_signed_by(crl, ca) && signed_by(signer_cert, ca));
        verdict.crl_checked = issuer_ok;
        if issuer_ok {
            verdict.revoked_at = crl
                .tbs_cert_list
                .revoked_certificates
                .as_ref()
                .and_then(|list| list.iter().find(|r| r.serial_number == sid.serial_number))
                .map(|r| unix(&r.revocation_date));
        }
    }
    let revoked_before = verdict.revoked_at.is_some_and(|at| at <= signed_at);
    verdict.certificate_valid_then = Some(in_dates && !revoked_before);
    if !in_dates {
        verdict.status = Status::CertificateExpired;
        verdict.reason = "the certificate was not valid when the signature was made".into();
    } else if revoked_before {
        verdict.status = Status::Revoked;
        verdict.reason = "the certificate had been revoked when the signature was made".into();
    } else if verdict.revoked_at.is_some() {
        verdict.reason = "the signature is valid; the certificate was revoked after it signed".into();
    } else {
        verdict.reason = "the signature is valid".into();
    }
    changed(verdict)
}

/// Whether `issuer` signed the CRL.
fn crl_signed_by(crl: &CertificateList, issuer: &Certificate) -> bool {
    let Some(key) = verifying_key(issuer) else { return false };
    let Ok(tbs) = crl.tbs_cert_list.to_der() else { return false };
    let Ok(signature) = DerSignature::from_bytes(crl.signature.raw_bytes()) else { return false };
    crl.tbs_cert_list.issuer == issuer.tbs_certificate.subject && key.verify(&tbs, &signature).is_ok()
}

/// A CRL from DER or PEM.
pub fn parse_crl(bytes: &[u8]) -> Option<CertificateList> {
    let der = signature_bytes(bytes);
    CertificateList::from_der(&der).ok()
}
