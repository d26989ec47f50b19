//! The hub's PKI: a root CA and an issuing CA (ECDSA P-256, made by `llave pki init`),
//! certificates for people (the name, and the CURP in `serialNumber`; key usage
//! `digitalSignature` and `nonRepudiation`) and for entities' seals, and the CRL. The CA keys
//! are sealed under the key-encryption key; this module only sees them while signing.

use std::time::{Duration, SystemTime};

use der::asn1::{Any, BitString, Ia5String, PrintableStringRef, SetOfVec, Uint, Utf8StringRef};
use der::oid::ObjectIdentifier;
use der::oid::db::rfc4519;
use der::referenced::OwnedToRef;
use der::{Decode, DecodePem, Encode, EncodePem};
use p256::ecdsa::{DerSignature, SigningKey, signature::Signer};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlDistributionPoints, CrlNumber};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, Version};

use std::sync::Arc;

use der::asn1::AnyRef;
use p256::ecdsa::VerifyingKey;
use p256::ecdsa::signature::Keypair;
use x509_cert::spki::{AlgorithmIdentifier, SignatureAlgorithmIdentifier};

use crate::hsm::Hsm;
use crate::keystore::KeyStore;

/// ecdsa-with-SHA256 (RFC 5758).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("the PKI is not initialised: run `llave pki init`")]
    NotInitialised,
    #[error("certificate encoding failed: {0}")]
    Encoding(String),
    #[error("a stored CA key cannot be opened: {0}")]
    Key(String),
}

fn enc(error: impl std::fmt::Display) -> PkiError {
    PkiError::Encoding(error.to_string())
}

/// A CA's key: sealed in the database under the KEK, or on a PKCS#11 token.
pub enum CaKey {
    Software(SigningKey),
    Token { hsm: Arc<Hsm>, reference: String, public: VerifyingKey },
}

impl Keypair for CaKey {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        match self {
            CaKey::Software(key) => *key.verifying_key(),
            CaKey::Token { public, .. } => *public,
        }
    }
}

impl Signer<DerSignature> for CaKey {
    fn try_sign(&self, message: &[u8]) -> Result<DerSignature, p256::ecdsa::Error> {
        match self {
            CaKey::Software(key) => key.try_sign(message),
            CaKey::Token { hsm, reference, .. } => {
                let digest = <sha2::Sha256 as sha2::Digest>::digest(message);
                let signature = hsm.sign_digest(reference, &digest).map_err(p256::ecdsa::Error::from_source)?;
                Ok(signature.to_der())
            }
        }
    }
}

impl SignatureAlgorithmIdentifier for CaKey {
    type Params = AnyRef<'static>;
    const SIGNATURE_ALGORITHM_IDENTIFIER: AlgorithmIdentifier<AnyRef<'static>> =
        <SigningKey as SignatureAlgorithmIdentifier>::SIGNATURE_ALGORITHM_IDENTIFIER;
}

/// A CA: its certificate and its key.
pub struct Authority {
    pub certificate: Certificate,
    key: CaKey,
}

impl Authority {
    pub fn pem(&self) -> Result<String, PkiError> {
        self.certificate.to_pem(der::pem::LineEnding::LF).map_err(enc)
    }
}

pub use crate::store::signatures::StoredAuthority;

pub fn sealed_key_purpose(name: &str) -> String {
    format!("ca-key:{name}")
}

impl StoredAuthority {
    pub fn open(&self, keystore: &KeyStore, hsm: Option<&Arc<Hsm>>) -> Result<Authority, PkiError> {
        let certificate = Certificate::from_pem(self.certificate_pem.as_bytes()).map_err(enc)?;
        if self.key_sealed.starts_with(crate::hsm::REFERENCE_PREFIX) {
            let hsm = hsm
                .ok_or_else(|| PkiError::Key("the CA key is on a PKCS#11 token: configure signature.pkcs11".into()))?;
            let public = hsm.verifying_key(&self.key_sealed).map_err(|e| PkiError::Key(e.to_string()))?;
            let key = CaKey::Token { hsm: hsm.clone(), reference: self.key_sealed.clone(), public };
            return Ok(Authority { certificate, key });
        }
        let der = keystore
            .open(&sealed_key_purpose(&self.name), &self.key_sealed)
            .map_err(|e| PkiError::Key(e.to_string()))?;
        let key = SigningKey::from_pkcs8_der(&der).map_err(|e| PkiError::Key(e.to_string()))?;
        Ok(Authority { certificate, key: CaKey::Software(key) })
    }
}

/// A distinguished name: `C=MX, O=…, [OU=…,] CN=…[, serialNumber=…]`.
pub fn name(common_name: &str, organization: &str, unit: Option<&str>, serial: Option<&str>) -> Result<Name, PkiError> {
    let mut rdns = Vec::new();
    let mut push = |oid: ObjectIdentifier, value: Any| -> Result<(), PkiError> {
        let atv = AttributeTypeAndValue { oid, value };
        rdns.push(RelativeDistinguishedName(SetOfVec::try_from(vec![atv]).map_err(enc)?));
        Ok(())
    };
    push(rfc4519::C, Any::encode_from(&PrintableStringRef::new("MX").map_err(enc)?).map_err(enc)?)?;
    push(rfc4519::O, Any::encode_from(&Utf8StringRef::new(organization).map_err(enc)?).map_err(enc)?)?;
    if let Some(unit) = unit {
        push(rfc4519::OU, Any::encode_from(&Utf8StringRef::new(unit).map_err(enc)?).map_err(enc)?)?;
    }
    push(rfc4519::CN, Any::encode_from(&Utf8StringRef::new(common_name).map_err(enc)?).map_err(enc)?)?;
    if let Some(serial) = serial {
        push(rfc4519::SERIAL_NUMBER, Any::encode_from(&PrintableStringRef::new(serial).map_err(enc)?).map_err(enc)?)?;
    }
    Ok(RdnSequence(rdns))
}

/// The value of one attribute of a name (`CN`, `serialNumber`, …), as text.
pub fn name_attribute(name: &Name, oid: ObjectIdentifier) -> Option<String> {
    name.0.iter().flat_map(|rdn| rdn.0.iter()).find(|atv| atv.oid == oid).and_then(|atv| {
        atv.value
            .decode_as::<Utf8StringRef<'_>>()
            .map(|s| s.as_str().to_string())
            .or_else(|_| atv.value.decode_as::<PrintableStringRef<'_>>().map(|s| s.as_str().to_string()))
            .ok()
    })
}

/// 128 random bits, positive: a certificate serial number.
pub fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::new(&bytes).expect("16 bytes make a valid serial number")
}

pub fn serial_hex(serial: &SerialNumber) -> String {
    serial.as_bytes().iter().map(|b| format!("{b:02X}")).collect()
}

fn validity(days: i64) -> Result<Validity, PkiError> {
    // A minute back, so a certificate is usable at once on a clock a little behind.
    let not_before = SystemTime::now() - Duration::from_secs(60);
    let not_after = SystemTime::now() + Duration::from_secs(days.max(1) as u64 * 86_400);
    let unix = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    Ok(Validity { not_before: time_at(unix(not_before))?, not_after: time_at(unix(not_after))? })
}

/// A new CA key: on the token when there is one, otherwise in memory (to be sealed).
fn new_ca_key(hsm: Option<&Arc<Hsm>>, label: &str) -> Result<CaKey, PkiError> {
    match hsm {
        Some(hsm) => {
            let (reference, public) = hsm.generate(label).map_err(|e| PkiError::Key(e.to_string()))?;
            Ok(CaKey::Token { hsm: hsm.clone(), reference, public })
        }
        None => Ok(CaKey::Software(SigningKey::random(&mut rand_core::OsRng))),
    }
}

/// Creates the root CA and the issuing CA it certifies, with their keys on the PKCS#11
/// token when one is given, sealed under the KEK otherwise.
pub fn create_authorities(
    keystore: &KeyStore,
    hsm: Option<&Arc<Hsm>>,
    hub_name: &str,
    root_days: i64,
    issuing_days: i64,
) -> Result<[StoredAuthority; 2], PkiError> {
    let root_key = new_ca_key(hsm, "llave-ca-root")?;
    let root_name = name(&format!("{hub_name} Raíz"), hub_name, Some("Autoridad certificadora"), None)?;
    let root_spki = SubjectPublicKeyInfoOwned::from_key(root_key.verifying_key()).map_err(enc)?;
    let builder = CertificateBuilder::new(
        Profile::Root,
        random_serial(),
        validity(root_days)?,
        root_name.clone(),
        root_spki,
        &root_key,
    )
    .map_err(enc)?;
    let root = builder.build::<DerSignature>().map_err(enc)?;

    let issuing_key = new_ca_key(hsm, "llave-ca-issuing")?;
    let issuing_name = name(&format!("{hub_name} Emisora"), hub_name, Some("Autoridad certificadora"), None)?;
    let issuing_spki = SubjectPublicKeyInfoOwned::from_key(issuing_key.verifying_key()).map_err(enc)?;
    let profile = Profile::SubCA { issuer: root_name, path_len_constraint: Some(0) };
    let builder = CertificateBuilder::new(
        profile,
        random_serial(),
        validity(issuing_days)?,
        issuing_name,
        issuing_spki,
        &root_key,
    )
    .map_err(enc)?;
    let issuing = builder.build::<DerSignature>().map_err(enc)?;

    let stored = |label: &str, certificate: &Certificate, key: &CaKey| -> Result<StoredAuthority, PkiError> {
        let key_sealed = match key {
            CaKey::Software(key) => {
                let der = key.to_pkcs8_der().map_err(enc)?;
                keystore.seal(&sealed_key_purpose(label), der.as_bytes())
            }
            CaKey::Token { reference, .. } => reference.clone(),
        };
        Ok(StoredAuthority {
            name: label.to_string(),
            certificate_pem: certificate.to_pem(der::pem::LineEnding::LF).map_err(enc)?,
            key_sealed,
        })
    };
    Ok([stored("root", &root, &root_key)?, stored("issuing", &issuing, &issuing_key)?])
}

/// What a certificate is for.
pub enum Holder<'a> {
    /// A person: full name and CURP.
    Person { name: &'a str, curp: &'a str },
    /// An entity's seal: its name and slug.
    Seal { name: &'a str, slug: &'a str },
}

/// Issues an end-entity certificate for `public` under the issuing CA.
pub fn issue(
    issuing: &Authority,
    hub_name: &str,
    holder: Holder<'_>,
    public: &p256::PublicKey,
    days: i64,
    crl_url: &str,
) -> Result<Certificate, PkiError> {
    let subject = match holder {
        Holder::Person { name: full_name, curp } => name(full_name, hub_name, Some("Firma de persona"), Some(curp))?,
        Holder::Seal { name: entity, slug } => name(entity, hub_name, Some("Sello de entidad"), Some(slug))?,
    };
    let spki = SubjectPublicKeyInfoOwned::from_key(*public).map_err(enc)?;
    let profile = Profile::Leaf {
        issuer: issuing.certificate.tbs_certificate.subject.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let mut builder =
        CertificateBuilder::new(profile, random_serial(), validity(days)?, subject, spki, &issuing.key).map_err(enc)?;
    let point = DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![GeneralName::UniformResourceIdentifier(
            Ia5String::new(crl_url).map_err(enc)?,
        )])),
        reasons: None,
        crl_issuer: None,
    };
    builder.add_extension(&CrlDistributionPoints(vec![point])).map_err(enc)?;
    builder.build::<DerSignature>().map_err(enc)
}

/// A revoked certificate, for the CRL.
pub struct Revoked {
    pub serial_hex: String,
    pub revoked_at: i64,
}

/// RFC 5280 §4.1.2.5 / RFC 5652 §11.3: UTCTime through 2049, GeneralizedTime after.
pub fn time_at(unix: i64) -> Result<Time, PkiError> {
    let duration = Duration::from_secs(unix.max(0) as u64);
    match der::asn1::UtcTime::from_unix_duration(duration) {
        Ok(utc) => Ok(Time::UtcTime(utc)),
        Err(_) => Time::try_from(SystemTime::UNIX_EPOCH + duration).map_err(enc),
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect()
}

/// The CRL (DER) of the issuing CA: every revoked certificate, valid for a day.
pub fn crl(issuing: &Authority, revoked: &[Revoked], now: i64) -> Result<Vec<u8>, PkiError> {
    let algorithm = AlgorithmIdentifierOwned { oid: ECDSA_WITH_SHA256, parameters: None };
    let entries = revoked
        .iter()
        .map(|r| {
            Ok(RevokedCert {
                serial_number: SerialNumber::new(&hex_bytes(&r.serial_hex)).map_err(enc)?,
                revocation_date: time_at(r.revoked_at)?,
                crl_entry_extensions: None,
            })
        })
        .collect::<Result<Vec<_>, PkiError>>()?;
    let issuer = issuing.certificate.tbs_certificate.subject.clone();
    let number = CrlNumber(Uint::new(&now.max(1).to_be_bytes()).map_err(enc)?);
    let key_id =
        AuthorityKeyIdentifier::try_from(issuing.certificate.tbs_certificate.subject_public_key_info.owned_to_ref())
            .map_err(enc)?;
    let extensions: Vec<Extension> =
        vec![number.to_extension(&issuer, &[]).map_err(enc)?, key_id.to_extension(&issuer, &[]).map_err(enc)?];
    let tbs = TbsCertList {
        version: Version::V2,
        signature: algorithm.clone(),
        issuer,
        this_update: time_at(now)?,
        next_update: Some(time_at(now + 86_400)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(extensions),
    };
    let signature: DerSignature = issuing.key.sign(&tbs.to_der().map_err(enc)?);
    let list = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(signature.as_bytes()).map_err(enc)?,
    };
    list.to_der().map_err(enc)
}

/// A certificate from PEM or DER.
pub fn parse_certificate(bytes: &[u8]) -> Result<Certificate, PkiError> {
    Certificate::from_pem(bytes).or_else(|_| Certificate::from_der(bytes)).map_err(enc)
}

pub fn open_key(keystore: &KeyStore, purpose: &str, sealed: &str) -> Result<SigningKey, PkiError> {
    let der = keystore.open(purpose, sealed).map_err(|e| PkiError::Key(e.to_string()))?;
    SigningKey::from_pkcs8_der(&der).map_err(|e| PkiError::Key(e.to_string()))
}
