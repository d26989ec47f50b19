//! A third party's client as a bank's back end would drive it, in-process: keys, client
//! assertions, DPoP proofs, PAR, the browser through consent, and the token endpoint.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{Value, json};
use sha2::Digest;

use crate::oidc::support::{REDIRECT, callback_params, signed_in_person};
use crate::support::*;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A signing key: the private half for jsonwebtoken, the public JWK.
pub struct Key {
    pub encoding: jsonwebtoken::EncodingKey,
    pub jwk: Value,
    pub alg: jsonwebtoken::Algorithm,
    /// The private JWK (EC keys only), for a client library that imports it.
    pub private_jwk: Value,
}

impl Key {
    pub fn es256(kid: &str) -> Key {
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        let point = secret.public_key().to_encoded_point(false);
        let jwk = json!({ "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()) });
        let mut private_jwk = jwk.clone();
        private_jwk["d"] = json!(URL_SAFE_NO_PAD.encode(secret.to_bytes()));
        Key {
            encoding: jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            jwk,
            alg: jsonwebtoken::Algorithm::ES256,
            private_jwk,
        }
    }

    /// An RSA key (for PS256, and for the RS256 that FAPI refuses).
    pub fn rsa(kid: &str) -> Key {
        use rsa::pkcs8::EncodePrivateKey as _;
        use rsa::traits::PublicKeyParts;
        let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        let pem = private.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let public = private.to_public_key();
        let jwk = json!({ "kty": "RSA", "kid": kid, "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()), "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()) });
        Key {
            encoding: jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            jwk,
            alg: jsonwebtoken::Algorithm::PS256,
            private_jwk: Value::Null,
        }
    }

    /// The public JWK without `kid` and `use`: as a DPoP header carries it.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.jwk.clone();
        let object = jwk.as_object_mut().unwrap();
        object.remove("kid");
        object.remove("use");
        jwk
    }

    pub fn thumbprint(&self) -> String {
        ::oidc::dpop::thumbprint(&self.jwk).unwrap()
    }

    /// A JWS over `claims` with this header, written by hand so tests can put anything in it.
    pub fn sign(&self, header: Value, claims: &Value) -> String {
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, self.alg).unwrap();
        format!("{input}.{signature}")
    }

    pub fn alg_name(&self) -> &'static str {
        match self.alg {
            jsonwebtoken::Algorithm::PS256 => "PS256",
            jsonwebtoken::Algorithm::RS256 => "RS256",
            _ => "ES256",
        }
    }
}

/// A bank registered as a third party, with one FAPI client.
pub struct Bank {
    pub client_id: String,
    pub key: Key,
    pub issuer: String,
}

pub async fn third_party(app: &TestApp, slug: &str) {
    let new = llave::third_parties::NewThirdParty {
        slug: slug.into(),
        legal_name: "Banco del Ejemplo, S.A.".into(),
        tax_id: "BEJ990101AB1".into(),
        purposes: vec!["apertura_cuenta".into()],
    };
    llave::third_parties::register(&app.state.store, &new, "cli").await.unwrap();
}

/// A third party `banco` and its client, whose assertions are signed by `key`.
pub async fn bank_with(app: &TestApp, key: Key, require_jar: bool) -> Bank {
    if app.state.store.third_party_by_slug("banco").await.unwrap().is_none() {
        third_party(app, "banco").await;
    }
    let jwks = json!({ "keys": [key.jwk.clone()] }).to_string();
    let new = llave::oidc::clients::NewClient {
        third_party: Some("banco".into()),
        name: "Banca en línea".into(),
        redirect_uris: vec![REDIRECT.into()],
        jwks: Some(jwks),
        require_jar,
        ..Default::default()
    };
    let registered = llave::admin::entity::add_client(&app.state.store, &new).await.unwrap();
    assert!(registered.fapi && registered.client_secret.is_none());
    Bank { client_id: registered.client_id, key, issuer: app.state.config.issuer() }
}

pub async fn bank(app: &TestApp) -> Bank {
    bank_with(app, Key::es256("banco-1"), false).await
}

pub fn now(app: &TestApp) -> i64 {
    app.clock().now()
}

fn jti() -> String {
    llave::crypto::random_id()
}

impl Bank {
    /// A client assertion (RFC 7523) with these changes to the claims FAPI expects.
    pub fn assertion_with(&self, app: &TestApp, changes: Value) -> String {
        // Client authentication reads the system clock, not the injectable one.
        let _ = app;
        let now = llave::crypto::now();
        let mut claims = json!({ "iss": self.client_id, "sub": self.client_id, "aud": self.issuer,
            "jti": jti(), "iat": now, "exp": now + 60 });
        for (name, value) in changes.as_object().unwrap() {
            claims[name] = value.clone();
        }
        let header = json!({ "alg": self.key.alg_name(), "typ": "JWT", "kid": self.key.jwk["kid"] });
        self.key.sign(header, &claims)
    }

    pub fn assertion(&self, app: &TestApp) -> String {
        self.assertion_with(app, json!({}))
    }

    /// Form fields authenticating with `assertion`.
    pub fn credentials(assertion: &str) -> Vec<(String, String)> {
        vec![("client_assertion_type".into(), ASSERTION_TYPE.into()), ("client_assertion".into(), assertion.into())]
    }
}

/// A DPoP proof by `key` for `method` `path` on the issuer.
pub struct Proof<'a> {
    pub key: &'a Key,
    pub method: &'a str,
    pub url: String,
    pub iat: i64,
    pub nonce: Option<String>,
    pub ath: Option<String>,
    pub jti: String,
}

impl<'a> Proof<'a> {
    pub fn new(app: &TestApp, key: &'a Key, method: &'a str, path: &str) -> Proof<'a> {
        Proof {
            key,
            method,
            url: format!("{}{path}", app.state.config.issuer()),
            iat: now(app),
            nonce: None,
            ath: None,
            jti: jti(),
        }
    }

    pub fn with_nonce(mut self, app: &TestApp) -> Self {
        self.nonce = Some(llave::oidc::dpop::current_nonce(&app.state));
        self
    }

    pub fn for_token(mut self, token: &str) -> Self {
        self.ath = Some(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes())));
        self
    }

    pub fn jwt(&self) -> String {
        let header = json!({ "typ": "dpop+jwt", "alg": self.key.alg_name(), "jwk": self.key.public_jwk() });
        let mut claims = json!({ "jti": self.jti, "htm": self.method, "htu": self.url, "iat": self.iat });
        if let Some(nonce) = &self.nonce {
            claims["nonce"] = json!(nonce);
        }
        if let Some(ath) = &self.ath {
            claims["ath"] = json!(ath);
        }
        self.key.sign(header, &claims)
    }
}

/// A POSTed form with these headers.
pub async fn post(
    client: &mut Client,
    path: &str,
    fields: &[(String, String)],
    headers: &[(&str, String)],
) -> Response {
    let body = serde_urlencoded::to_string(fields).unwrap();
    for (name, value) in headers {
        client.extra_headers.push((name.to_string(), value.clone()));
    }
    let response = client.request("POST", path, Some(body.into_bytes())).await;
    client.extra_headers.clear();
    response
}

pub fn json(response: &Response) -> Value {
    serde_json::from_str(&response.body).unwrap_or(Value::Null)
}

pub fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// An authorization request's parameters and the PKCE verifier behind its challenge.
pub struct Request {
    pub params: Vec<(String, String)>,
    pub verifier: String,
    pub state: String,
}

pub fn request(bank: &Bank, scope: &str) -> Request {
    let verifier = llave::crypto::random_token();
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let state = jti();
    let params = fields(&[
        ("response_type", "code"),
        ("client_id", &bank.client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", &state),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    Request { params, verifier, state }
}

/// Pushes `params` (authenticated); the response.
pub async fn push(app: &TestApp, bank: &Bank, params: &[(String, String)], dpop: Option<String>) -> Response {
    let mut body = params.to_vec();
    body.extend(Bank::credentials(&bank.assertion(app)));
    let headers: Vec<(&str, String)> = dpop.into_iter().map(|p| ("DPoP", p)).collect();
    post(&mut app.client(), "/par", &body, &headers).await
}

/// Pushes and returns the request_uri.
pub async fn pushed(app: &TestApp, bank: &Bank, params: &[(String, String)]) -> String {
    let response = push(app, bank, params, None).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    json(&response)["request_uri"].as_str().unwrap().to_string()
}

pub fn front(bank: &Bank, request_uri: &str) -> String {
    format!("/authorize?client_id={}&request_uri={}", bank.client_id, crate::oidc::support::urlencode(request_uri))
}

/// A person signed in, through consent, to the callback's parameters.
pub async fn code_for(
    app: &TestApp,
    bank: &Bank,
    seed: u64,
    request: &Request,
) -> std::collections::HashMap<String, String> {
    let request_uri = pushed(app, bank, &request.params).await;
    let (_, mut browser) = signed_in_person(app, seed).await;
    crate::oidc::support::authorize(&mut browser, &front(bank, &request_uri)).await
}

/// A token request with an assertion and a proof by `dpop` (with the current nonce); the
/// response.
pub async fn token(app: &TestApp, bank: &Bank, grant: &[(&str, &str)], dpop: &Key) -> Response {
    let proof = Proof::new(app, dpop, "POST", "/token").with_nonce(app).jwt();
    token_with(app, bank, grant, Some(proof)).await
}

pub async fn token_with(app: &TestApp, bank: &Bank, grant: &[(&str, &str)], proof: Option<String>) -> Response {
    let mut body = fields(grant);
    body.extend(Bank::credentials(&bank.assertion(app)));
    let headers: Vec<(&str, String)> = proof.into_iter().map(|p| ("DPoP", p)).collect();
    post(&mut app.client(), "/token", &body, &headers).await
}

pub fn code_grant<'a>(code: &'a str, request: &'a Request) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &request.verifier),
    ]
}

pub fn error_of(response: &Response) -> String {
    json(response)["error"].as_str().unwrap_or("").to_string()
}

pub fn callback(location: &str) -> std::collections::HashMap<String, String> {
    callback_params(location)
}
