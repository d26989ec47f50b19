//! The key store's PKCS#11 implementation (an HSM; SoftHSM in tests): the CA keys are made
//! on the token, never leave it (sensitive, not extractable), and sign there. llave keeps
//! only a reference (`pkcs11:id=HEX`) in the database.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use p256::ecdsa::{Signature, VerifyingKey};

use crate::config::Pkcs11Config;

/// The DER of the secp256r1 (P-256) OID: the curve's `CKA_EC_PARAMS`.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// The DER of the Ed25519 OID (1.3.101.112, RFC 8410): an Edwards key's `CKA_EC_PARAMS`.
const ED25519_PARAMS: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];
/// How a PKCS#11 key is named in the database.
pub const REFERENCE_PREFIX: &str = "pkcs11:id=";

#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    #[error("PKCS#11: {0}")]
    Pkcs11(#[from] CkError),
    #[error("no token labelled {0:?} in the PKCS#11 module")]
    NoToken(String),
    #[error("no key {0} on the token")]
    NoKey(String),
    #[error("the token answered a malformed key or signature")]
    Malformed,
}

pub struct Hsm {
    context: Pkcs11,
    slot: Slot,
    pin: String,
}

impl std::fmt::Debug for Hsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hsm").field("slot", &self.slot).finish_non_exhaustive()
    }
}

impl Hsm {
    /// Loads the module and finds the token by its label.
    pub fn open(config: &Pkcs11Config) -> Result<Hsm, HsmError> {
        let context = Pkcs11::new(&config.module)?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(error) => return Err(error.into()),
        }
        let slot = context
            .get_slots_with_initialized_token()?
            .into_iter()
            .find(|slot| context.get_token_info(*slot).is_ok_and(|info| info.label().trim() == config.token_label))
            .ok_or_else(|| HsmError::NoToken(config.token_label.clone()))?;
        Ok(Hsm { context, slot, pin: config.pin.clone() })
    }

    fn session(&self) -> Result<Session, HsmError> {
        let session = self.context.open_rw_session(self.slot)?;
        match session.login(UserType::User, Some(&AuthPin::from(self.pin.clone()))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(error) => Err(error.into()),
        }
    }

    /// Makes a P-256 key pair on the token; its reference and public key.
    pub fn generate(&self, label: &str) -> Result<(String, VerifyingKey), HsmError> {
        let session = self.session()?;
        let (id, public_template, private_template) = templates(label, &P256_PARAMS);
        let (public, _) = session.generate_key_pair(&Mechanism::EccKeyPairGen, &public_template, &private_template)?;
        let key = public_key(&session, public)?;
        Ok((format!("{REFERENCE_PREFIX}{}", hex(&id)), key))
    }

    fn find(&self, session: &Session, reference: &str, class: ObjectClass) -> Result<ObjectHandle, HsmError> {
        let id = reference
            .strip_prefix(REFERENCE_PREFIX)
            .and_then(unhex)
            .ok_or_else(|| HsmError::NoKey(reference.to_string()))?;
        session
            .find_objects(&[Attribute::Class(class), Attribute::Id(id)])?
            .into_iter()
            .next()
            .ok_or_else(|| HsmError::NoKey(reference.to_string()))
    }

    /// The public key of a key pair on the token.
    pub fn verifying_key(&self, reference: &str) -> Result<VerifyingKey, HsmError> {
        let session = self.session()?;
        let handle = self.find(&session, reference, ObjectClass::PUBLIC_KEY)?;
        public_key(&session, handle)
    }

    /// ECDSA over a SHA-256 digest, on the token.
    pub fn sign_digest(&self, reference: &str, digest: &[u8]) -> Result<Signature, HsmError> {
        let session = self.session()?;
        let handle = self.find(&session, reference, ObjectClass::PRIVATE_KEY)?;
        let raw = session.sign(&Mechanism::Ecdsa, handle, digest)?;
        Signature::from_slice(&raw).map_err(|_| HsmError::Malformed)
    }
}

impl Hsm {
    /// The public key of the Ed25519 key pair labelled `label` on the token, made there
    /// (sensitive, not extractable) if the token has none: the audit log's key.
    pub fn ed25519_key(&self, label: &str) -> Result<[u8; 32], HsmError> {
        let session = self.session()?;
        if let Some(handle) = self.find_ed25519(&session, label, ObjectClass::PUBLIC_KEY)? {
            return ed25519_public(&session, handle);
        }
        let (_, public_template, private_template) = templates(label, &ED25519_PARAMS);
        let (public, _) =
            session.generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public_template, &private_template)?;
        ed25519_public(&session, public)
    }

    /// A pure Ed25519 signature of `message` by the key labelled `label`, on the token.
    pub fn sign_ed25519(&self, label: &str, message: &[u8]) -> Result<[u8; 64], HsmError> {
        let session = self.session()?;
        let handle = self
            .find_ed25519(&session, label, ObjectClass::PRIVATE_KEY)?
            .ok_or_else(|| HsmError::NoKey(format!("labelled {label:?}")))?;
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519));
        let raw = session.sign(&mechanism, handle, message)?;
        raw.try_into().map_err(|_| HsmError::Malformed)
    }

    fn find_ed25519(
        &self,
        session: &Session,
        label: &str,
        class: ObjectClass,
    ) -> Result<Option<ObjectHandle>, HsmError> {
        let template = [
            Attribute::Class(class),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        Ok(session.find_objects(&template)?.into_iter().next())
    }
}

/// A new key pair's templates, with a random 16-byte `CKA_ID`: token objects labelled
/// `label` on the curve `params`; the private key sensitive, not extractable, only to sign.
fn templates(label: &str, params: &[u8]) -> ([u8; 16], Vec<Attribute>, Vec<Attribute>) {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("the operating system's random source is available");
    let public = vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::EcParams(params.to_vec()),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    let private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    (id, public, private)
}

/// An Edwards key's `CKA_EC_POINT`: the 32 bytes, as a DER OCTET STRING or bare.
fn ed25519_public(session: &Session, handle: ObjectHandle) -> Result<[u8; 32], HsmError> {
    let attributes = session.get_attributes(handle, &[AttributeType::EcPoint])?;
    let Some(Attribute::EcPoint(point)) = attributes.into_iter().next() else {
        return Err(HsmError::Malformed);
    };
    let raw = match point.as_slice() {
        [0x04, 32, rest @ ..] if rest.len() == 32 => rest,
        raw => raw,
    };
    raw.try_into().map_err(|_| HsmError::Malformed)
}

/// `CKA_EC_POINT` is a DER OCTET STRING around the SEC1 point.
fn public_key(session: &Session, handle: ObjectHandle) -> Result<VerifyingKey, HsmError> {
    let attributes = session.get_attributes(handle, &[AttributeType::EcPoint])?;
    let Some(Attribute::EcPoint(point)) = attributes.into_iter().next() else {
        return Err(HsmError::Malformed);
    };
    let sec1 = match point.as_slice() {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        raw => raw,
    };
    VerifyingKey::from_sec1_bytes(sec1).map_err(|_| HsmError::Malformed)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len() / 2).map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}
