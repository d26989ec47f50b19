//! Electronic signatures bound to the CURP. The hub runs a small PKI (`pki`): a root CA, an
//! issuing CA, certificates for verified people and for entities' seals, and a CRL. People
//! sign detached CMS signatures at CAdES baseline-B (`cms`), which OpenSSL alone verifies
//! with the root certificate; llave verifies them too, offline (`llave verify`) and online.
//! A person's key is made by the hub when they first sign, sealed under the key-encryption
//! key, and opened only inside a signing act the person authenticated afresh.

pub mod api;
pub mod cms;
pub mod pages;
pub mod pki;
pub mod routes;

use p256::ecdsa::SigningKey;
use x509_cert::Certificate;

use crate::Services;
use crate::accounts::Actor;
use crate::crypto::{now, random_id};
use crate::store::signatures::{CertificateRecord, SignatureRecord};
use crate::store::{Account, AccountId, Event, EventKind, StoreError, Tx};
use pki::{Authority, Holder, PkiError};

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Cms(#[from] cms::CmsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("only people whose identity is verified (level 2) have a signature")]
    NotVerified,
}

/// What `llave pki init` did.
#[derive(Debug, serde::Serialize)]
pub struct InitOutcome {
    pub created: bool,
    pub root_pem: String,
    pub root_file: String,
}

/// Creates the root and issuing CAs if the installation has none; writes the root
/// certificate to `DATA_DIR/pki/root.pem` either way.
pub async fn init(app: &Services) -> Result<InitOutcome, SignatureError> {
    let config = &app.config.signature;
    let created = if app.store.authority("root").await?.is_none() {
        let authorities = pki::create_authorities(
            &app.keystore,
            app.hsm.as_ref(),
            &config.hub_name,
            config.root_days,
            config.issuing_days,
        )?;
        app.store.put_authorities(&authorities, now()).await?
    } else {
        false
    };
    let root_pem = app.store.authority("root").await?.ok_or(PkiError::NotInitialised)?.certificate_pem;
    let dir = app.config.data_dir.join("pki");
    let file = dir.join("root.pem");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&file, &root_pem))
        .map_err(|e| PkiError::Encoding(format!("cannot write {}: {e}", file.display())))?;
    Ok(InitOutcome { created, root_pem, root_file: file.display().to_string() })
}

pub async fn root(app: &Services) -> Result<Certificate, SignatureError> {
    let stored = app.store.authority("root").await?.ok_or(PkiError::NotInitialised)?;
    Ok(pki::parse_certificate(stored.certificate_pem.as_bytes())?)
}

pub async fn issuing(app: &Services) -> Result<Authority, SignatureError> {
    let stored = app.store.authority("issuing").await?.ok_or(PkiError::NotInitialised)?;
    Ok(stored.open(&app.keystore, app.hsm.as_ref())?)
}

/// The CRL's stable address.
pub fn crl_url(app: &Services) -> String {
    format!("{}/pki/crl", app.config.issuer())
}

/// The current CRL (DER), signed now.
pub async fn crl(app: &Services) -> Result<Vec<u8>, SignatureError> {
    let issuing = issuing(app).await?;
    let revoked = app
        .store
        .revoked_certificates()
        .await?
        .into_iter()
        .map(|(serial_hex, revoked_at)| pki::Revoked { serial_hex, revoked_at })
        .collect::<Vec<_>>();
    Ok(pki::crl(&issuing, &revoked, now())?)
}

/// Who holds a certificate llave issues on first use.
enum Owner<'a> {
    Person(&'a Account),
    Seal { slug: &'a str, name: &'a str },
}

impl Owner<'_> {
    /// The key is sealed under a purpose naming its certificate, so it cannot be swapped.
    fn key_purpose(&self, serial: &str) -> String {
        match self {
            Owner::Person(_) => format!("signing-key:{serial}"),
            Owner::Seal { .. } => format!("seal-key:{serial}"),
        }
    }
}

/// The owner's current certificate and key, made on first use.
/// A new person's certificate is one act with its `certificate_issued` event, recorded as
/// done by `actor`.
async fn credentials(
    app: &Services,
    owner: &Owner<'_>,
    now: i64,
    actor: Option<&Actor>,
) -> Result<(CertificateRecord, Certificate, SigningKey, bool), SignatureError> {
    let current = match owner {
        Owner::Person(account) => app.store.current_person_certificate(account.id, now).await?,
        Owner::Seal { slug, .. } => app.store.current_seal_certificate(slug, now).await?,
    };
    if let Some(record) = current {
        let certificate = pki::parse_certificate(record.certificate.as_bytes())?;
        let key = pki::open_key(&app.keystore, &owner.key_purpose(&record.serial), &record.key_sealed)?;
        return Ok((record, certificate, key, false));
    }
    let issuing = issuing(app).await?;
    let subject = match owner {
        Owner::Person(account) => format!(
            "{} {}{}",
            account.given_names,
            account.first_surname,
            account.second_surname.as_deref().map(|s| format!(" {s}")).unwrap_or_default()
        ),
        Owner::Seal { name, .. } => name.to_string(),
    };
    let (holder, kind, account_id, entity_slug) = match owner {
        Owner::Person(account) => {
            (Holder::Person { name: &subject, curp: &account.curp }, "person", Some(account.id), None)
        }
        Owner::Seal { slug, name } => (Holder::Seal { name, slug }, "seal", None, Some(slug.to_string())),
    };
    let key = SigningKey::random(&mut rand_core::OsRng);
    let certificate = pki::issue(
        &issuing,
        &app.config.signature.hub_name,
        holder,
        &p256::PublicKey::from(key.verifying_key()),
        app.config.signature.person_certificate_days,
        &crl_url(app),
    )?;
    let serial = pki::serial_hex(&certificate.tbs_certificate.serial_number);
    let der = p256::pkcs8::EncodePrivateKey::to_pkcs8_der(&key).map_err(|e| PkiError::Encoding(e.to_string()))?;
    let validity = &certificate.tbs_certificate.validity;
    let record = CertificateRecord {
        serial: serial.clone(),
        kind: kind.into(),
        account_id,
        entity_slug,
        subject,
        certificate: der::EncodePem::to_pem(&certificate, der::pem::LineEnding::LF)
            .map_err(|e| PkiError::Encoding(e.to_string()))?,
        key_sealed: app.keystore.seal(&owner.key_purpose(&serial), der.as_bytes()),
        not_before: validity.not_before.to_unix_duration().as_secs() as i64,
        not_after: validity.not_after.to_unix_duration().as_secs() as i64,
        issued_at: now,
        revoked_at: None,
        revocation_reason: None,
    };
    let mut tx = app.store.begin_act("certificate_issued").await?;
    tx.insert_certificate(&record).await?;
    if let (Some(account), Some(actor)) = (record.account_id, actor) {
        let detail = format!("serial={}", record.serial);
        tx.event(Event::security(
            EventKind::CertificateIssued,
            Some(account),
            &actor.address,
            &actor.user_agent,
            &detail,
        ));
    }
    tx.commit().await?;
    Ok((record, certificate, key, true))
}

/// The person's current certificate and key, made on first use. Only for verified people.
pub async fn person_credentials(
    app: &Services,
    account: &Account,
    actor: &Actor,
) -> Result<(CertificateRecord, Certificate, SigningKey), SignatureError> {
    if !crate::assurance::identity_verified(account) {
        return Err(SignatureError::NotVerified);
    }
    let now = now();
    let (record, certificate, key, _) = credentials(app, &Owner::Person(account), now, Some(actor)).await?;
    Ok((record, certificate, key))
}

/// The entity's seal certificate and key, made on first use.
pub async fn seal_credentials(
    app: &Services,
    entity_slug: &str,
    entity_name: &str,
) -> Result<(CertificateRecord, Certificate, SigningKey), SignatureError> {
    let (record, certificate, key, _) =
        credentials(app, &Owner::Seal { slug: entity_slug, name: entity_name }, now(), None).await?;
    Ok((record, certificate, key))
}

/// Signs a document by its digest with these credentials, in both forms (CMS and JWS), and
/// records the signature — with the person's `document_signed` event, when a person signs,
/// in the same act.
async fn sign_and_record(
    app: &Services,
    (record, certificate, key): (CertificateRecord, Certificate, SigningKey),
    template: SignatureRecord,
    digest: &[u8; 32],
    signer: Option<(AccountId, &Actor)>,
) -> Result<(SignatureRecord, Vec<u8>), SignatureError> {
    let issuing = issuing(app).await?;
    let root = root(app).await?;
    let now = now();
    let p7s = cms::sign_detached(digest, &certificate, &[&issuing.certificate, &root], &key, now)?;
    let document_name: String = template.document_name.chars().filter(|c| !c.is_control()).take(200).collect();
    let signature = SignatureRecord {
        jws: jws(&key, &[&certificate, &issuing.certificate], &document_name, digest, now)?,
        certificate_serial: record.serial,
        document_name,
        document_sha256: cms::hex(digest),
        signature: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &p7s),
        created_at: now,
        ..template
    };
    let mut tx = app.store.begin_act("document_signed").await?;
    tx.insert_signature(&signature).await?;
    if let Some((account, actor)) = signer {
        let detail = format!("document={} sha256={}", signature.document_name, signature.document_sha256);
        tx.event(Event::security(EventKind::DocumentSigned, Some(account), &actor.address, &actor.user_agent, &detail));
    }
    tx.commit().await?;
    Ok((signature, p7s))
}

/// Signs, as the person, a document of theirs (by its SHA-256); recorded in their history.
/// The caller has authenticated the person afresh for this act.
pub async fn sign_as_person(
    app: &Services,
    account: &Account,
    document_name: &str,
    digest: &[u8; 32],
    source: &str,
    client_id: Option<&str>,
    actor: &Actor,
) -> Result<(SignatureRecord, Vec<u8>), SignatureError> {
    sign_with_id(app, &random_id(), account, document_name, digest, source, client_id, actor).await
}

/// `sign_as_person` with the signature's id chosen by the caller (a signing act claims it
/// first, so one act makes one signature).
#[allow(clippy::too_many_arguments)]
pub async fn sign_with_id(
    app: &Services,
    id: &str,
    account: &Account,
    document_name: &str,
    digest: &[u8; 32],
    source: &str,
    client_id: Option<&str>,
    actor: &Actor,
) -> Result<(SignatureRecord, Vec<u8>), SignatureError> {
    let credentials = person_credentials(app, account, actor).await?;
    let template = SignatureRecord {
        id: id.to_string(),
        account_id: Some(account.id.0),
        entity_slug: None,
        certificate_serial: String::new(),
        document_name: document_name.to_string(),
        document_sha256: String::new(),
        source: source.to_string(),
        client_id: client_id.map(str::to_string),
        signature: String::new(),
        jws: String::new(),
        created_at: 0,
    };
    sign_and_record(app, credentials, template, digest, Some((account.id, actor))).await
}

/// Verifies against this installation's root and current CRL.
pub async fn verify_here(
    app: &Services,
    document: &[u8; 32],
    signature: &[u8],
) -> Result<cms::Verdict, SignatureError> {
    let root = root(app).await?;
    let crl = crl(app).await?;
    Ok(cms::verify_digest(document, signature, &root, cms::parse_crl(&crl).as_ref(), now()))
}

/// Revokes every signing certificate of the person, as an act of its own (the person on
/// the signature page, an officer at the desk, the command line).
pub async fn revoke_person(
    app: &Services,
    account: &Account,
    reason: &str,
    actor: &Actor,
) -> Result<Vec<String>, SignatureError> {
    let mut tx = app.store.begin_act("certificates_revoked").await?;
    let serials = revoke_in(&mut tx, account.id, reason, actor).await?;
    tx.commit().await?;
    Ok(serials)
}

/// Revokes every signing certificate of the person within an act, one event each (also the
/// reaction to a lost level or an officer's recovery: whoever held the lost factors may have
/// held the signature too).
pub async fn revoke_in(
    tx: &mut Tx,
    account: AccountId,
    reason: &str,
    actor: &Actor,
) -> Result<Vec<String>, StoreError> {
    let now = tx.at();
    let serials = tx.revoke_person_certificates(account, reason, now).await?;
    for serial in &serials {
        let detail = format!("serial={serial} reason={reason}");
        tx.event(Event::security(
            EventKind::CertificateRevoked,
            Some(account),
            &actor.address,
            &actor.user_agent,
            &detail,
        ));
    }
    Ok(serials)
}

/// A verdict for people reading a terminal.
pub fn verdict_text(verdict: &cms::Verdict) -> String {
    let when = |t: i64| crate::calendar::format_time(t);
    let status =
        serde_json::to_value(&verdict.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let mut out = format!("Verdict:     {status} — {}\n", verdict.reason);
    if let Some(signer) = &verdict.signer {
        out.push_str(&format!(
            "Signer:      {} ({}; {})\n",
            signer.name, signer.serial_number, signer.organizational_unit
        ));
        out.push_str(&format!(
            "Certificate: {} valid {} to {}\n",
            signer.certificate_serial,
            when(signer.not_before),
            when(signer.not_after)
        ));
    }
    if let Some(at) = verdict.signed_at {
        out.push_str(&format!("Signed at:   {}\n", when(at)));
    }
    // Each line states only what was checked.
    let document = match verdict.document_unchanged {
        Some(true) => "unchanged since signing",
        Some(false) => "changed after signing",
        None => "not checked",
    };
    let valid_then = match verdict.certificate_valid_then {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not checked",
    };
    out.push_str(&format!("Document:    {document}\nValid then:  {valid_then}\n"));
    let revoked = match (verdict.crl_checked, verdict.revoked_at) {
        (false, _) => "not checked (no CRL)".to_string(),
        (true, None) => "no".to_string(),
        (true, Some(at)) => format!("yes, since {}", when(at)),
    };
    out.push_str(&format!("Revoked now: {revoked}\nSHA-256:     {}\n", verdict.document_sha256));
    out
}

/// The JSON form of a signature: a compact JWS (ES256) whose header carries the chain in
/// `x5c` (RFC 7515 §4.1.6) and whose payload names the document by its SHA-256.
pub fn jws(
    key: &SigningKey,
    chain: &[&Certificate],
    document_name: &str,
    digest: &[u8; 32],
    signed_at: i64,
) -> Result<String, SignatureError> {
    let payload = serde_json::json!({
        "document_name": document_name,
        "document_sha256": cms::hex(digest),
        "iat": signed_at,
    });
    jws_with_chain(key, chain, "llave-signature+jwt", &payload)
}

/// A compact JWS (ES256) over `payload` whose header carries `typ` and the certificate
/// chain in `x5c`: anyone holding the hub's root certificate can verify who signed.
pub fn jws_with_chain(
    key: &SigningKey,
    chain: &[&Certificate],
    typ: &str,
    payload: &serde_json::Value,
) -> Result<String, SignatureError> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use p256::ecdsa::signature::Signer as _;
    let x5c = chain
        .iter()
        .map(|c| der::Encode::to_der(*c).map(|d| STANDARD.encode(d)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Encoding(e.to_string()))?;
    let header = serde_json::json!({ "alg": "ES256", "typ": typ, "x5c": x5c });
    let encode = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let input = format!("{}.{}", encode(&header), encode(payload));
    let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes())))
}

/// The JOSE `typ` of an entity's seal over data (a record it holds, shared with a third
/// party by the person's consent).
pub const SEAL_TYP: &str = "llave-seal+jwt";

/// An entity's seal over data it holds: a JWS by its seal certificate (made on first use),
/// with the chain to the hub's root in `x5c`. Not recorded among the entity's sealed
/// documents: what it seals is in the event of the act that delivers it.
pub async fn seal_data(
    app: &Services,
    entity_slug: &str,
    entity_name: &str,
    payload: &serde_json::Value,
) -> Result<String, SignatureError> {
    let (_, certificate, key) = seal_credentials(app, entity_slug, entity_name).await?;
    let issuing = issuing(app).await?;
    jws_with_chain(&key, &[&certificate, &issuing.certificate], SEAL_TYP, payload)
}

/// An entity seals a document it issues.
pub async fn seal(
    app: &Services,
    entity_slug: &str,
    entity_name: &str,
    client_id: &str,
    document_name: &str,
    digest: &[u8; 32],
) -> Result<(SignatureRecord, Vec<u8>), SignatureError> {
    let credentials = seal_credentials(app, entity_slug, entity_name).await?;
    let template = SignatureRecord {
        id: random_id(),
        account_id: None,
        entity_slug: Some(entity_slug.to_string()),
        certificate_serial: String::new(),
        document_name: document_name.to_string(),
        document_sha256: String::new(),
        source: "seal".into(),
        client_id: Some(client_id.to_string()),
        signature: String::new(),
        jws: String::new(),
        created_at: 0,
    };
    sign_and_record(app, credentials, template, digest, None).await
}

/// A SHA-256 given as 64 hex digits.
pub fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}
