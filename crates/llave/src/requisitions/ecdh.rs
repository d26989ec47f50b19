//! CMS key agreement for an authority whose certificate holds an EC (P-256) key (RFC 5753,
//! `dhSinglePass-stdDH-sha256kdf-scheme` with AES-256 key wrap): an ephemeral key agrees a
//! secret with the authority's public key, ANSI X9.63 with SHA-256 derives the
//! key-encryption key from it, and RFC 3394 wraps the content-encryption key with that. The
//! `cms` crate's builder has key transport (RSA) only; this is its missing recipient, built
//! on its types and OpenSSL's `cms -decrypt` reads it.

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit};
use cms::builder::{RecipientInfoBuilder, RecipientInfoType};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::enveloped_data::{
    KeyAgreeRecipientIdentifier, KeyAgreeRecipientInfo, OriginatorIdentifierOrKey, OriginatorPublicKey,
    RecipientEncryptedKey, RecipientInfo,
};
use der::asn1::{Any, BitString, ObjectIdentifier, OctetString};
use der::{Encode, Sequence};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::spki::AlgorithmIdentifierOwned;

const DH_SINGLE_PASS_STD_DH_SHA256_KDF: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.1.11.1");
const ID_AES256_WRAP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.45");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// `ECC-CMS-SharedInfo` (RFC 5753 §7.2): what the KDF mixes in besides the shared secret.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EccCmsSharedInfo {
    key_info: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    entity_u_info: Option<OctetString>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT")]
    supp_pub_info: OctetString,
}

/// Whether the certificate's EC key is on the curve this module agrees keys on.
pub fn supported(certificate: &Certificate) -> bool {
    let spki = &certificate.tbs_certificate.subject_public_key_info;
    spki.algorithm.oid == ID_EC_PUBLIC_KEY
        && spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok()) == Some(PRIME256V1)
}

/// The recipient: the authority's certificate.
pub struct EcdhRecipient<'a> {
    pub certificate: &'a Certificate,
}

fn fail(e: impl std::fmt::Display) -> cms::builder::Error {
    cms::builder::Error::Builder(e.to_string())
}

impl RecipientInfoBuilder for EcdhRecipient<'_> {
    fn recipient_info_type(&self) -> RecipientInfoType {
        RecipientInfoType::Kari
    }

    fn recipient_info_version(&self) -> CmsVersion {
        CmsVersion::V3
    }

    fn build(&mut self, content_encryption_key: &[u8]) -> Result<RecipientInfo, cms::builder::Error> {
        let tbs = &self.certificate.tbs_certificate;
        let bytes = tbs.subject_public_key_info.subject_public_key.as_bytes().ok_or_else(|| fail("no EC point"))?;
        let recipient = p256::PublicKey::from_sec1_bytes(bytes).map_err(fail)?;
        let ephemeral = p256::NonZeroScalar::random(&mut rand_core::OsRng);
        let ephemeral_public = p256::PublicKey::from_secret_scalar(&ephemeral);
        let shared = (recipient.to_projective() * *ephemeral).to_affine().to_encoded_point(false);
        let z = shared.x().ok_or_else(|| fail("the shared point is the identity"))?;
        let wrap = AlgorithmIdentifierOwned { oid: ID_AES256_WRAP, parameters: None };
        let shared_info = EccCmsSharedInfo {
            key_info: wrap.clone(),
            entity_u_info: None,
            supp_pub_info: OctetString::new(256u32.to_be_bytes().to_vec()).map_err(fail)?,
        }
        .to_der()
        .map_err(fail)?;
        // ANSI X9.63 KDF with SHA-256: one block gives the 256-bit key-encryption key.
        let kek: [u8; 32] =
            Sha256::new().chain_update(z).chain_update(1u32.to_be_bytes()).chain_update(&shared_info).finalize().into();
        let wrapped = aes256_wrap(&kek, content_encryption_key).ok_or_else(|| fail("the key is not 8-byte blocks"))?;
        Ok(RecipientInfo::Kari(KeyAgreeRecipientInfo {
            version: CmsVersion::V3,
            originator: OriginatorIdentifierOrKey::OriginatorKey(OriginatorPublicKey {
                algorithm: AlgorithmIdentifierOwned { oid: ID_EC_PUBLIC_KEY, parameters: None },
                public_key: BitString::from_bytes(ephemeral_public.to_encoded_point(false).as_bytes()).map_err(fail)?,
            }),
            ukm: None,
            key_enc_alg: AlgorithmIdentifierOwned {
                oid: DH_SINGLE_PASS_STD_DH_SHA256_KDF,
                parameters: Some(Any::encode_from(&wrap).map_err(fail)?),
            },
            recipient_enc_keys: vec![RecipientEncryptedKey {
                rid: KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                    issuer: tbs.issuer.clone(),
                    serial_number: tbs.serial_number.clone(),
                }),
                enc_key: OctetString::new(wrapped).map_err(fail)?,
            }],
        }))
    }
}

/// AES-256 key wrap (RFC 3394 §2.2.1); `None` unless the key is whole 64-bit blocks (≥ 2).
pub fn aes256_wrap(kek: &[u8; 32], key: &[u8]) -> Option<Vec<u8>> {
    if !key.len().is_multiple_of(8) || key.len() < 16 {
        return None;
    }
    let cipher = aes::Aes256::new(GenericArray::from_slice(kek));
    let mut a = [0xA6u8; 8];
    let mut r: Vec<[u8; 8]> = key
        .chunks_exact(8)
        .map(|c| {
            let mut block = [0u8; 8];
            block.copy_from_slice(c);
            block
        })
        .collect();
    let n = r.len() as u64;
    for j in 0..6u64 {
        for (i, ri) in r.iter_mut().enumerate() {
            let mut block = GenericArray::from([0u8; 16]);
            block[..8].copy_from_slice(&a);
            block[8..].copy_from_slice(ri);
            cipher.encrypt_block(&mut block);
            let t = n * j + i as u64 + 1;
            for (x, (b, tb)) in a.iter_mut().zip(block[..8].iter().zip(t.to_be_bytes())) {
                *x = b ^ tb;
            }
            ri.copy_from_slice(&block[8..]);
        }
    }
    let mut out = a.to_vec();
    for block in r {
        out.extend_from_slice(&block);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn aes256_wrap_matches_rfc_3394_section_4_6() {
        let kek: [u8; 32] = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F").try_into().unwrap();
        let key = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
        let expected = hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21");
        assert_eq!(aes256_wrap(&kek, &key), Some(expected));
        assert_eq!(aes256_wrap(&kek, &key[..12]), None);
    }
}
