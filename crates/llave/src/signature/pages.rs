//! The person's signature pages (`/firma`: upload a document, see its name and
//! fingerprint, confirm with the password and a second factor or a passkey, download the
//! `.p7s`), and verification for anyone: a page (`/verificar`) and a JSON API
//! (`POST /api/signatures/verify`). Documents are never stored: only their SHA-256.

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::cms::{self, Status, Verdict};
use crate::AppState;
use crate::accounts::Actor;
use crate::accounts::signin::{self, SignInOutcome};
use crate::assurance::passkeys::{self, Purpose};
use crate::assurance::totp::{self, Check};
use crate::crypto::{now, random_id};
use crate::store::signatures::SigningAct;
use crate::web::client::ClientMeta;
use crate::web::csrf::CsrfToken;
use crate::web::error::{PageError, PageResult};
use crate::web::form::CsrfForm;
use crate::web::page::{Chrome, FieldErrors, render};
use crate::web::session::SignedIn;

/// How long a person has to confirm a signature after uploading the document.
const ACT_SECONDS: i64 = 10 * 60;
/// Largest signature file read.
const MAX_SIGNATURE_BYTES: usize = 1 << 20;

pub fn routes(max_document_bytes: usize) -> Router<AppState> {
    let uploads = Router::new()
        .route("/firma/documento", post(upload))
        .route("/verificar", post(verify_page_submit))
        .route("/api/signatures/verify", post(verify_api))
        .layer(DefaultBodyLimit::max(max_document_bytes + MAX_SIGNATURE_BYTES + 64 * 1024));
    Router::new()
        .route("/firma", get(home))
        .route("/firma/acto/{id}", get(act_page).post(act_confirm))
        .route("/firma/acto/{id}/passkey/begin", post(act_passkey_begin))
        .route("/firma/acto/{id}/passkey/finish", post(act_passkey_finish))
        .route("/firma/firmas/{file}", get(download))
        .route("/firma/revocar", post(revoke))
        .route("/verificar", get(verify_page))
        .merge(uploads)
}

// ----- multipart -----

struct Upload {
    name: String,
    digest: [u8; 32],
    /// Kept for the `signature` field only.
    bytes: Vec<u8>,
}

#[derive(Default)]
struct Uploaded {
    csrf_token: String,
    files: Vec<(String, Upload)>,
}

impl Uploaded {
    fn file(&self, field: &str) -> Option<&Upload> {
        self.files.iter().find(|(name, _)| name == field).map(|(_, upload)| upload)
    }
}

/// Reads a multipart form: text fields and files, hashing each file as it streams; only
/// the `signature` field's bytes are kept.
/// Why a multipart body was refused.
enum UploadError {
    Malformed,
    /// A document over `signature.max_document_bytes`, or a signature over 1 MiB.
    TooLarge,
}

async fn read_multipart(mut multipart: Multipart, max_document: usize) -> Result<Uploaded, UploadError> {
    let mut uploaded = Uploaded::default();
    while let Some(mut field) = multipart.next_field().await.map_err(|_| UploadError::Malformed)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "csrf_token" {
            uploaded.csrf_token = field.text().await.map_err(|_| UploadError::Malformed)?.chars().take(200).collect();
            continue;
        }
        let file_name: String = field.file_name().unwrap_or("").chars().filter(|c| !c.is_control()).take(200).collect();
        let keep = name == "signature";
        let mut hasher = Sha256::new();
        let mut bytes = Vec::new();
        let mut size = 0usize;
        let limit = if keep { MAX_SIGNATURE_BYTES } else { max_document };
        while let Some(chunk) = field.chunk().await.map_err(|_| UploadError::TooLarge)? {
            size += chunk.len();
            if size > limit {
                return Err(UploadError::TooLarge);
            }
            hasher.update(&chunk);
            if keep {
                bytes.extend_from_slice(&chunk);
            }
        }
        // An empty file input sends an empty part: nothing was chosen.
        if size == 0 {
            continue;
        }
        uploaded.files.push((name, Upload { name: file_name, digest: hasher.finalize().into(), bytes }));
    }
    Ok(uploaded)
}

fn upload_error(c: &Chrome, error: UploadError) -> PageError {
    match error {
        UploadError::TooLarge => {
            PageError::new(StatusCode::PAYLOAD_TOO_LARGE, c.lang, "error-too-large-title", "error-too-large")
        }
        UploadError::Malformed => {
            PageError::new(StatusCode::BAD_REQUEST, c.lang, "error-bad-request-title", "error-bad-request")
        }
    }
}

fn csrf_ok(token: Option<&CsrfToken>, submitted: &str) -> bool {
    token.is_some_and(|t| !submitted.is_empty() && t.matches(submitted))
}

// ----- the person's signature page -----

struct SignatureRow {
    id: String,
    name: String,
    sha256: String,
    when: String,
    source: String,
}

#[derive(Template)]
#[template(path = "signature/home.html")]
struct HomePage {
    c: Chrome,
    errors: FieldErrors,
    verified: bool,
    ready: bool,
    certificate: Option<String>,
    signatures: Vec<SignatureRow>,
}

async fn home_page(app: &AppState, c: Chrome, s: &SignedIn, errors: FieldErrors, status: StatusCode) -> PageResult {
    let internal = |e| PageError::internal(c.lang, e);
    let verified = crate::assurance::identity_verified(&s.account);
    let ready = app.store.authority("issuing").await.map_err(internal)?.is_some();
    let certificate = app.store.current_person_certificate(s.account.id, now()).await.map_err(internal)?.map(|cert| {
        c.t_with(
            "sign-certificate",
            &[("serial", cert.serial), ("until", crate::calendar::format_time(cert.not_after))],
        )
    });
    let signatures = app
        .store
        .signatures_of(s.account.id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|r| SignatureRow {
            id: r.id,
            name: r.document_name,
            sha256: r.document_sha256,
            when: crate::calendar::format_time(r.created_at),
            source: c.t(&format!("sign-source-{}", r.source)),
        })
        .collect();
    let page = HomePage { c: c.signed_in(), errors, verified, ready, certificate, signatures };
    Ok(render(status, &page))
}

async fn home(State(app): State<AppState>, c: Chrome, s: SignedIn) -> PageResult {
    home_page(&app, c, &s, FieldErrors::default(), StatusCode::OK).await
}

async fn upload(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    csrf: Option<axum::Extension<CsrfToken>>,
    multipart: Multipart,
) -> PageResult {
    let uploaded =
        read_multipart(multipart, app.config.signature.max_document_bytes).await.map_err(|e| upload_error(&c, e))?;
    if !csrf_ok(csrf.as_ref().map(|e| &e.0), &uploaded.csrf_token) {
        return Err(PageError::csrf(c.lang));
    }
    let Some(document) = uploaded.file("document") else {
        let mut errors = FieldErrors::default();
        errors.add("document", c.t("sign-choose-document"));
        return home_page(&app, c, &s, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    if !crate::assurance::identity_verified(&s.account) {
        return home_page(&app, c, &s, FieldErrors::default(), StatusCode::FORBIDDEN).await;
    }
    let now = now();
    let act = SigningAct {
        id: random_id(),
        account_id: s.account.id,
        document_name: if document.name.is_empty() { "documento".into() } else { document.name.clone() },
        document_sha256: cms::hex(&document.digest),
        expires_at: now + ACT_SECONDS,
        signature_id: None,
    };
    app.store.create_signing_act(&act, now).await.map_err(|e| PageError::internal(c.lang, e))?;
    Ok(Redirect::to(&format!("/firma/acto/{}", act.id)).into_response())
}

#[derive(Template)]
#[template(path = "signature/confirm.html")]
struct ConfirmPage {
    c: Chrome,
    errors: FieldErrors,
    /// Where the fresh-authentication form goes.
    action: String,
    name: String,
    sha256: String,
    totp: bool,
    passkeys: bool,
}

async fn live_act(app: &AppState, c: &Chrome, s: &SignedIn, id: &str) -> Result<SigningAct, PageError> {
    let act = app.store.signing_act(id, s.account.id).await.map_err(|e| PageError::internal(c.lang, e))?;
    match act {
        Some(act) if act.signature_id.is_none() && act.expires_at > now() => Ok(act),
        Some(_) => Err(PageError::new(StatusCode::GONE, c.lang, "sign-act-gone-title", "sign-act-gone")),
        None => Err(PageError::not_found(c.lang)),
    }
}

async fn confirm_page(
    app: &AppState,
    c: Chrome,
    s: &SignedIn,
    act: &SigningAct,
    errors: FieldErrors,
    status: StatusCode,
) -> PageResult {
    let factors =
        crate::assurance::security::Factors::of(app, &s.account).await.map_err(|e| PageError::internal(c.lang, e))?;
    let page = ConfirmPage {
        c: c.signed_in(),
        errors,
        action: format!("/firma/acto/{}", act.id),
        name: act.document_name.clone(),
        sha256: act.document_sha256.clone(),
        totp: factors.totp,
        passkeys: factors.passkeys_usable(app),
    };
    Ok(render(status, &page))
}

async fn act_page(State(app): State<AppState>, c: Chrome, s: SignedIn, Path(id): Path<String>) -> PageResult {
    let act = live_act(&app, &c, &s, &id).await?;
    confirm_page(&app, c, &s, &act, FieldErrors::default(), StatusCode::OK).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConfirmForm {
    password: String,
    code: String,
}

/// Signs the act's document, once, and sends the person to its download.
async fn sign_act(
    app: &AppState,
    c: &Chrome,
    s: &SignedIn,
    act: &SigningAct,
    actor: &Actor,
) -> Result<String, PageError> {
    let signature_id = random_id();
    let internal = |e: &dyn std::fmt::Display| PageError::internal(c.lang, e);
    if !crate::assurance::identity_verified(&s.account) {
        return Err(PageError::new(StatusCode::FORBIDDEN, c.lang, "sign-title", "sign-needs-verification"));
    }
    let digest = super::parse_sha256(&act.document_sha256).ok_or_else(|| internal(&"a stored digest is not hex"))?;
    if !app.store.claim_signing_act(&act.id, s.account.id, &signature_id, now()).await.map_err(|e| internal(&e))? {
        return Err(PageError::new(StatusCode::GONE, c.lang, "sign-act-gone-title", "sign-act-gone"));
    }
    let signed =
        super::sign_with_id(app, &signature_id, &s.account, &act.document_name, &digest, "person", None, actor).await;
    if let Err(error) = signed {
        // Nothing was signed: the act can be tried again.
        app.store.release_signing_act(&act.id, &signature_id).await.map_err(|e| internal(&e))?;
        return Err(internal(&error));
    }
    Ok(format!("/firma?firmado={signature_id}#firmas"))
}

async fn act_confirm(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> PageResult {
    let act = live_act(&app, &c, &s, &id).await?;
    let actor = Actor::from(&client);
    let errors = fresh_authentication(&app, &c, &s.account, &form.password, &form.code, &actor).await?;
    if !errors.is_empty() {
        return confirm_page(&app, c, &s, &act, errors, StatusCode::UNAUTHORIZED).await;
    }
    let to = sign_act(&app, &c, &s, &act, &actor).await?;
    Ok(Redirect::to(&to).into_response())
}

/// Fresh authentication inside a signing act: the password and the authenticator app's
/// code. The problems by field; none when the person proved it is them.
pub(super) async fn fresh_authentication(
    app: &AppState,
    c: &Chrome,
    account: &crate::store::Account,
    password: &str,
    code: &str,
    actor: &Actor,
) -> Result<FieldErrors, PageError> {
    let internal = |e: &dyn std::fmt::Display| PageError::internal(c.lang, e);
    let mut errors = FieldErrors::default();
    match signin::authenticate(app, &account.curp, password, actor, None).await.map_err(|e| internal(&e))? {
        SignInOutcome::Success(_) => {}
        SignInOutcome::Invalid => errors.add("password", c.t("password-current-wrong")),
        SignInOutcome::Throttled(_) => errors.add("password", c.t("signin-throttled")),
    }
    if !errors.is_empty() {
        return Ok(errors);
    }
    if !totp::enabled(app, account.id).await.map_err(|e| internal(&e))? {
        errors.add("code", c.t("sign-needs-factor"));
        return Ok(errors);
    }
    match totp::check(app, account, code, false, actor).await.map_err(|e| internal(&e))? {
        Check::Accepted => {}
        Check::Wrong => errors.add("code", c.t("totp-wrong")),
        Check::Throttled => errors.add("code", c.t("signin-throttled")),
    }
    Ok(errors)
}

/// A passkey ceremony inside a signing act: the options for the page's script.
pub(super) async fn passkey_begin(app: &AppState, c: &Chrome, account: &crate::store::Account) -> Response {
    match passkeys::begin_authentication(app, Purpose::SecondStep(account.id)).await {
        Ok((ceremony, options)) => Json(json!({ "ceremony": ceremony, "options": options })).into_response(),
        Err(error) => {
            tracing::info!(%error, "passkey for signing refused");
            (StatusCode::BAD_REQUEST, Json(json!({ "error": c.t("passkey-refused") }))).into_response()
        }
    }
}

/// The passkey's answer inside a signing act: `Ok` when it proved the person.
pub(super) async fn passkey_proof(
    app: &AppState,
    c: &Chrome,
    account: &crate::store::Account,
    ceremony: &str,
    credential: &str,
) -> Result<(), Response> {
    let purpose = Purpose::SecondStep(account.id);
    passkeys::finish_authentication(app, purpose, ceremony, credential).await.map(|_| ()).map_err(|error| {
        tracing::info!(%error, "passkey for signing refused");
        (StatusCode::BAD_REQUEST, Json(json!({ "error": c.t("passkey-refused") }))).into_response()
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Empty {}

async fn act_passkey_begin(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    if let Err(error) = live_act(&app, &c, &s, &id).await {
        return error.into_response();
    }
    passkey_begin(&app, &c, &s.account).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasskeyForm {
    ceremony: String,
    credential: String,
}

async fn act_passkey_finish(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<PasskeyForm>,
) -> Response {
    let act = match live_act(&app, &c, &s, &id).await {
        Ok(act) => act,
        Err(error) => return error.into_response(),
    };
    if let Err(refusal) = passkey_proof(&app, &c, &s.account, &form.ceremony, &form.credential).await {
        return refusal;
    }
    match sign_act(&app, &c, &s, &act, &Actor::from(&client)).await {
        Ok(to) => Json(json!({ "redirect": to })).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `GET /firma/firmas/{id}.p7s`: the person's own signature file.
async fn download(State(app): State<AppState>, c: Chrome, s: SignedIn, Path(file): Path<String>) -> PageResult {
    let id = file.strip_suffix(".p7s").unwrap_or(&file);
    let record = app.store.signature_record(id).await.map_err(|e| PageError::internal(c.lang, e))?;
    let Some(record) = record.filter(|r| r.account_id == Some(s.account.id.0)) else {
        return Err(PageError::not_found(c.lang));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&record.signature)
        .map_err(|e| PageError::internal(c.lang, e))?;
    let safe: String = record
        .document_name
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() || ".-_".contains(ch) { ch } else { '_' })
        .collect();
    let disposition = format!("attachment; filename=\"{safe}.p7s\"");
    Ok(([(CONTENT_TYPE, "application/pkcs7-signature".to_string()), (CONTENT_DISPOSITION, disposition)], bytes)
        .into_response())
}

async fn revoke(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(_): CsrfForm<Empty>,
) -> PageResult {
    super::revoke_person(&app, &s.account, "person_asked", &Actor::from(&client))
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    Ok(Redirect::to("/firma?revocado=1").into_response())
}

// ----- verification, for anyone -----

#[derive(Template)]
#[template(path = "signature/verify.html")]
struct VerifyPage {
    c: Chrome,
    errors: FieldErrors,
    verdict: Option<VerdictView>,
}

struct VerdictView {
    ok: bool,
    /// A seal names an entity (its slug, shown whole); a person's CURP is masked.
    seal: bool,
    headline: String,
    signer: String,
    curp: String,
    signed_at: String,
    document_unchanged: String,
    valid_then: String,
    revoked_now: String,
    sha256: String,
}

/// A CURP shown to anyone: its first 4 and last 2 characters.
pub fn masked_curp(curp: &str) -> String {
    let chars: Vec<char> = curp.chars().collect();
    if chars.len() < 7 {
        return "•".repeat(chars.len());
    }
    format!(
        "{}{}{}",
        chars[..4].iter().collect::<String>(),
        "•".repeat(chars.len() - 6),
        chars[chars.len() - 2..].iter().collect::<String>()
    )
}

fn view(c: &Chrome, verdict: &Verdict) -> VerdictView {
    let status = match verdict.status {
        Status::Valid => "valid",
        Status::DocumentChanged => "document-changed",
        Status::SignatureInvalid => "signature-invalid",
        Status::UntrustedChain => "untrusted-chain",
        Status::Revoked => "revoked",
        Status::CertificateExpired => "certificate-expired",
        Status::Malformed => "malformed",
    };
    let yes_no = |b: bool| if b { c.t("yes") } else { c.t("no") };
    VerdictView {
        ok: verdict.status == Status::Valid,
        seal: verdict.signer.as_ref().is_some_and(|s| s.organizational_unit == "Sello de entidad"),
        headline: c.t(&format!("verdict-{status}")),
        signer: verdict.signer.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
        curp: verdict
            .signer
            .as_ref()
            .map(|s| {
                if s.organizational_unit == "Sello de entidad" {
                    s.serial_number.clone()
                } else {
                    masked_curp(&s.serial_number)
                }
            })
            .unwrap_or_default(),
        signed_at: verdict.signed_at.map(crate::calendar::format_time).unwrap_or_default(),
        // Each line states only what was checked.
        document_unchanged: match verdict.document_unchanged {
            Some(true) => c.t("yes"),
            Some(false) => c.t("verdict-document-was-changed"),
            None => c.t("verdict-not-checked"),
        },
        valid_then: verdict.certificate_valid_then.map(yes_no).unwrap_or_else(|| c.t("verdict-not-checked")),
        revoked_now: match verdict.revoked_at {
            Some(at) => c.t_with("verdict-revoked-since", &[("when", crate::calendar::format_time(at))]),
            None => c.t("no"),
        },
        sha256: verdict.document_sha256.clone(),
    }
}

async fn verify_page(c: Chrome, s: Option<SignedIn>) -> Response {
    let c = if s.is_some() { c.signed_in() } else { c };
    render(StatusCode::OK, &VerifyPage { c, errors: FieldErrors::default(), verdict: None })
}

async fn verified(app: &AppState, uploaded: &Uploaded) -> Result<Option<Verdict>, super::SignatureError> {
    let (Some(document), Some(signature)) = (uploaded.file("document"), uploaded.file("signature")) else {
        return Ok(None);
    };
    Ok(Some(super::verify_here(app, &document.digest, &signature.bytes).await?))
}

async fn verify_page_submit(
    State(app): State<AppState>,
    c: Chrome,
    s: Option<SignedIn>,
    csrf: Option<axum::Extension<CsrfToken>>,
    multipart: Multipart,
) -> PageResult {
    let c = if s.is_some() { c.signed_in() } else { c };
    let uploaded =
        read_multipart(multipart, app.config.signature.max_document_bytes).await.map_err(|e| upload_error(&c, e))?;
    if !csrf_ok(csrf.as_ref().map(|e| &e.0), &uploaded.csrf_token) {
        return Err(PageError::csrf(c.lang));
    }
    match verified(&app, &uploaded).await {
        Ok(Some(verdict)) => {
            let verdict = Some(view(&c, &verdict));
            Ok(render(StatusCode::OK, &VerifyPage { c, errors: FieldErrors::default(), verdict }))
        }
        Ok(None) => {
            let mut errors = FieldErrors::default();
            if uploaded.file("document").is_none() {
                errors.add("document", c.t("verify-choose-document"));
            }
            if uploaded.file("signature").is_none() {
                errors.add("signature", c.t("verify-choose-signature"));
            }
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &VerifyPage { c, errors, verdict: None }))
        }
        Err(super::SignatureError::Pki(super::pki::PkiError::NotInitialised)) => {
            Err(PageError::new(StatusCode::SERVICE_UNAVAILABLE, c.lang, "verify-title", "sign-not-ready"))
        }
        Err(error) => Err(PageError::internal(c.lang, error)),
    }
}

/// `POST /api/signatures/verify` (multipart `document`, `signature`): the verdict as JSON.
async fn verify_api(State(app): State<AppState>, multipart: Multipart) -> Response {
    let uploaded = match read_multipart(multipart, app.config.signature.max_document_bytes).await {
        Ok(uploaded) => uploaded,
        Err(UploadError::TooLarge) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(json!({ "error": "the document or the signature is too large" })),
            )
                .into_response();
        }
        Err(UploadError::Malformed) => {
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": "malformed multipart body" }))).into_response();
        }
    };
    match verified(&app, &uploaded).await {
        Ok(Some(verdict)) => Json(verdict).into_response(),
        Ok(None) => {
            (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "error": "send the fields document and signature" })))
                .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "verification failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "verification unavailable" }))).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn curps_are_masked_but_for_four_and_two() {
        assert_eq!(super::masked_curp("GOMC800101HDFRRL09"), "GOMC••••••••••••09");
    }
}
