//! `llave-bench sharing`: sharing with third parties (issue 17) as a bank's back end meets
//! it, against `llave serve` in a child process, through llave's CLI and HTTP only.
//!
//! A third party `banco` and its FAPI client (`private_key_jwt` with an ES256 key made
//! here, its public half in a JWKS file) are registered with the CLI. Each fetch of shared
//! data needs its own consent artefact (`fetch: "once"`), so before the timed load the bench
//! makes `--artefacts` of them through the real flow, several people at once: PAR with a
//! client assertion, PKCE S256, `dpop_jkt` and `authorization_details`; the share page with
//! every item ticked; the code; the token endpoint with DPoP (the first answer asks for the
//! server's nonce, the retry carries it). The timed load then spends each DPoP-bound access
//! token once on `GET /api/shared-data`, each request with a fresh proof (`ath` included):
//! the hub verifies the proof, checks the artefact, counts the fetch, logs it in the
//! person's file and signs the answer. The load ends at `--seconds` or when the artefacts
//! run out, and the rate is over the time actually spent. (Access tokens live an hour in
//! this run's settings, so the first ones made are still good when the load reaches them.)
//! With `--residence` the bank asks also a proof of residence that an entity (`alcaldia`)
//! stores about each person beforehand through the records API: each fetch then reads it
//! from the holder's store and seals it with the holder's key.
//!
//! The FAPI flow's added latency: one worker runs `--flows` pairs, interleaved so both
//! meet the same noise, of the plain code flow of an entity's confidential client
//! (`client_secret_basic`, PKCE, no PAR, no DPoP, consent already given) and the FAPI flow
//! above (PAR, `private_key_jwt`, DPoP with the nonce retry, and the share page every time,
//! since each request is a new consent), each from the authorization request to the token
//! endpoint's answer, the person already signed in.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};

use crate::codeflow::{self, Browser};
use crate::database::{self, Choice};
use crate::load::{self, Failure, Stats};
use crate::server::{self, Llave};

#[derive(Parser)]
pub struct Args {
    /// The llave binary to run.
    #[arg(long, default_value = "target/release/llave")]
    llave: std::path::PathBuf,
    /// sqlite (a fresh file), sqlite://PATH or postgres://… (a fresh schema there); repeatable.
    #[arg(long = "database", default_values_t = ["sqlite".to_string(), "postgres://postgres@127.0.0.1:5432/test".to_string()])]
    databases: Vec<String>,
    /// Workers of the fetch load.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Longest the fetch load runs (it ends sooner when the artefacts run out).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Consent artefacts made before the load: one fetch each.
    #[arg(long, default_value_t = 4000)]
    artefacts: usize,
    /// People giving them, each signed in once, each a worker of the set-up.
    #[arg(long, default_value_t = 4)]
    people: usize,
    /// Plain and FAPI code flows timed one after the other for the added latency.
    #[arg(long, default_value_t = 200)]
    flows: usize,
    /// Ask also `record:proof_of_residence`, held by an entity (`alcaldia`) for each person:
    /// each fetch then reads it from the holder's store and seals it with its key.
    #[arg(long)]
    residence: bool,
    #[arg(long, default_value_t = 18393)]
    port: u16,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// What the bank asks: the identity items (no entity records needed), once, kept five
/// years, the consent valid 30 days; with `--residence` also this record.
const ITEMS: [&str; 3] = ["name", "curp", "birthdate"];
const RESIDENCE: &str = "record:proof_of_residence";
const REDIRECT_URI: &str = "https://banco.example/callback";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct Outcome {
    backend: &'static str,
    setup: Stats,
    fetches: Stats,
    plain: Stats,
    fapi: Stats,
    peak_mib: Option<f64>,
}

impl Outcome {
    /// FAPI minus plain, at `fraction`, in milliseconds.
    fn added_ms(&self, fraction: f64) -> f64 {
        self.fapi.percentile_ms(fraction) - self.plain.percentile_ms(fraction)
    }
}

pub async fn main(args: Args) -> ExitCode {
    if args.people == 0 || args.artefacts < 2 || args.concurrency == 0 || args.flows == 0 {
        eprintln!("--people, --concurrency and --flows must be at least 1, --artefacts at least 2");
        return ExitCode::FAILURE;
    }
    let args = &args;
    let Some(outcomes) = database::each(&args.databases, "sharing", |choice, dir, url| async move {
        measure(args, &choice, &dir, url).await
    })
    .await
    else {
        return ExitCode::FAILURE;
    };
    if args.json {
        let backends: Vec<_> = outcomes
            .iter()
            .map(|o| {
                json!({
                    "backend": o.backend,
                    "artefacts_made": o.setup.json(),
                    "shared_data": o.fetches.json(),
                    "plain_code_flow": o.plain.json(),
                    "fapi_code_flow": o.fapi.json(),
                    "fapi_added_p50_ms": crate::report::round2(o.added_ms(0.50)),
                    "fapi_added_p99_ms": crate::report::round2(o.added_ms(0.99)),
                    "peak_rss_mib": o.peak_mib.map(crate::report::round2),
                })
            })
            .collect();
        let report = json!({
            "workers": args.concurrency, "seconds": args.seconds, "artefacts": args.artefacts,
            "people": args.people, "flows": args.flows, "residence": args.residence, "backends": backends,
        });
        println!("{report}");
        return ExitCode::SUCCESS;
    }
    println!(
        "llave-bench sharing: {} artefacts ({}) made by {} people, fetched by {} workers (at most {} s); {} flows of each kind",
        args.artefacts,
        if args.residence { "identity and a sealed proof of residence" } else { "identity items" },
        args.people,
        args.concurrency,
        args.seconds,
        args.flows
    );
    for o in &outcomes {
        for (what, stats) in [
            ("artefacts made", &o.setup),
            ("shared-data", &o.fetches),
            ("plain flow", &o.plain),
            ("FAPI flow", &o.fapi),
        ] {
            println!(
                "{:<9} {:<15} {:>8.1}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} ok, {} failed in {:.1} s){}",
                o.backend,
                what,
                stats.per_second(),
                stats.percentile_ms(0.50),
                stats.percentile_ms(0.99),
                stats.ok,
                stats.failed,
                stats.elapsed.as_secs_f64(),
                stats.first_failure.as_deref().map(|f| format!(" first failure: {f}")).unwrap_or_default()
            );
        }
        println!(
            "{:<9} FAPI added latency: p50 {:+.2} ms, p99 {:+.2} ms; server peak RSS {}",
            o.backend,
            o.added_ms(0.50),
            o.added_ms(0.99),
            o.peak_mib.map(|m| format!("{m:.1} MiB")).unwrap_or_else(|| "?".into())
        );
    }
    ExitCode::SUCCESS
}

/// An ES256 key of the bank's: the private half for signing, the public JWK.
struct Key {
    encoding: jsonwebtoken::EncodingKey,
    /// `kty`, `crv`, `x`, `y`: what a DPoP header carries and the thumbprint is made of.
    public: Value,
    kid: String,
}

impl Key {
    fn es256(kid: &str) -> Result<Key, String> {
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let pem = secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| format!("PKCS#8: {e}"))?;
        let encoding =
            jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| format!("an ES256 key: {e}"))?;
        let point = secret.public_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err("a P-256 public key without coordinates".into());
        };
        let public =
            json!({ "kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y) });
        Ok(Key { encoding, public, kid: kid.to_string() })
    }

    /// The JWKS the client is registered with.
    fn jwks(&self) -> Value {
        let mut jwk = self.public.clone();
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!("ES256");
        json!({ "keys": [jwk] })
    }

    fn thumbprint(&self) -> String {
        thumbprint(&self.public)
    }

    /// A compact JWS over `claims` with `header`.
    fn sign(&self, header: &Value, claims: &Value) -> Result<String, String> {
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, jsonwebtoken::Algorithm::ES256)
            .map_err(|e| format!("signing: {e}"))?;
        Ok(format!("{input}.{signature}"))
    }
}

/// The JWK thumbprint of an EC public key (RFC 7638): SHA-256 of its required members in
/// lexicographic order without spaces, base64url.
fn thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap_or_default(),
        jwk["kty"].as_str().unwrap_or_default(),
        jwk["x"].as_str().unwrap_or_default(),
        jwk["y"].as_str().unwrap_or_default()
    );
    llave::crypto::token_hash(&canonical)
}

/// The claims of a DPoP proof (RFC 9449 §4.2): `ath` is the access token's SHA-256,
/// base64url, when one is presented with it.
fn proof_claims(method: &str, url: &str, iat: i64, nonce: Option<&str>, access_token: Option<&str>) -> Value {
    let mut claims = json!({ "jti": llave::crypto::random_id(), "htm": method, "htu": url, "iat": iat });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(token) = access_token {
        claims["ath"] = json!(llave::crypto::token_hash(token));
    }
    claims
}

/// RFC 3339 UTC (`2027-01-01T00:00:00Z`) of a Unix time, by the civil calendar.
fn rfc3339(unix: i64) -> String {
    let (days, seconds) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", seconds / 3600, seconds % 3600 / 60, seconds % 60)
}

/// The bank's back end: its client and keys, and the hub's issuer identifier (the audience
/// of its assertions and the base of its proofs' `htu`).
struct Bank {
    http: reqwest::Client,
    base: String,
    issuer: String,
    client_id: String,
    key: Key,
    dpop: Key,
}

/// What the token endpoint answered the bank.
struct Answer {
    status: StatusCode,
    nonce: Option<String>,
    body: String,
}

impl Bank {
    /// A client assertion (RFC 7523) as FAPI 2.0 wants it: `aud` the issuer, a fresh `jti`.
    fn assertion(&self) -> Result<String, String> {
        let now = llave::crypto::now();
        let claims = json!({ "iss": self.client_id, "sub": self.client_id, "aud": self.issuer,
            "jti": llave::crypto::random_id(), "iat": now, "exp": now + 60 });
        self.key.sign(&json!({ "alg": "ES256", "typ": "JWT", "kid": self.key.kid }), &claims)
    }

    /// A DPoP proof for `method` at the issuer's `path`.
    fn proof(
        &self,
        method: &str,
        path: &str,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> Result<String, String> {
        let claims = proof_claims(method, &format!("{}{path}", self.issuer), llave::crypto::now(), nonce, access_token);
        self.dpop.sign(&json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.dpop.public }), &claims)
    }

    async fn post(&self, path: &str, mut form: Vec<(&str, String)>, dpop: Option<String>) -> Result<Answer, String> {
        form.push(("client_assertion_type", ASSERTION_TYPE.to_string()));
        form.push(("client_assertion", self.assertion()?));
        let mut request = self.http.post(format!("{}{path}", self.base)).form(&form);
        if let Some(proof) = dpop {
            request = request.header("DPoP", proof);
        }
        let response = request.send().await.map_err(|e| format!("POST {path}: {e}"))?;
        let status = response.status();
        let nonce = response.headers().get("dpop-nonce").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = response.text().await.map_err(|e| format!("POST {path}: {e}"))?;
        Ok(Answer { status, nonce, body })
    }

    /// One FAPI 2.0 code flow with `browser`'s person, ticking every item: the token
    /// endpoint's JSON answer.
    async fn flow(&self, browser: &mut Browser, details: &str) -> Result<Value, String> {
        let verifier = llave::crypto::random_token();
        let state = llave::crypto::random_id();
        let pushed = self
            .post(
                "/par",
                vec![
                    ("response_type", "code".into()),
                    ("client_id", self.client_id.clone()),
                    ("redirect_uri", REDIRECT_URI.into()),
                    ("scope", "openid".into()),
                    ("state", state.clone()),
                    ("nonce", llave::crypto::random_id()),
                    // RFC 7636 §4.2: S256 is BASE64URL(SHA256(verifier)).
                    ("code_challenge", llave::crypto::token_hash(&verifier)),
                    ("code_challenge_method", "S256".into()),
                    ("dpop_jkt", self.dpop.thumbprint()),
                    ("authorization_details", details.to_string()),
                ],
                None,
            )
            .await?;
        if pushed.status != StatusCode::CREATED {
            return Err(format!("PAR answered {}: {}", pushed.status, pushed.body));
        }
        let pushed: Value = serde_json::from_str(&pushed.body).map_err(|e| format!("PAR: {e}"))?;
        let request_uri = pushed["request_uri"].as_str().ok_or_else(|| format!("PAR without request_uri: {pushed}"))?;

        let front = Url::parse_with_params(
            &format!("{}/authorize", self.base),
            [("client_id", self.client_id.as_str()), ("request_uri", request_uri)],
        )
        .map_err(|e| format!("authorization URL: {e}"))?;
        let (status, _, page) = browser.get(front.as_str()).await?;
        if status != StatusCode::OK || !page.contains("name=\"item\"") {
            return Err(format!("GET /authorize answered {status} without the share page: {page}"));
        }
        let csrf = codeflow::input_value(&page, "csrf_token").ok_or("the share page has no csrf_token field")?;
        let held = codeflow::input_value(&page, "request").ok_or("the share page has no request field")?;
        let items = checkboxes(&page, "item");
        let mut form = vec![("csrf_token", csrf.as_str()), ("request", held.as_str()), ("decision", "allow")];
        form.extend(items.iter().map(|item| ("item", item.as_str())));
        let (status, location, page) = browser.post("/authorize/consent", &form).await?;
        let location =
            location.ok_or_else(|| format!("POST /authorize/consent answered {status} without a redirect: {page}"))?;
        let callback = Url::parse(&location).map_err(|e| format!("redirect {location:?}: {e}"))?;
        let param = |name: &str| callback.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        if param("state").as_deref() != Some(state.as_str()) || param("iss").as_deref() != Some(self.issuer.as_str()) {
            return Err(format!("the redirect lost the state or the issuer: {location}"));
        }
        let code = param("code").ok_or_else(|| format!("no code in the redirect: {location}"))?;

        let grant = || {
            vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", code.clone()),
                ("redirect_uri", REDIRECT_URI.to_string()),
                ("code_verifier", verifier.clone()),
            ]
        };
        let first = self.post("/token", grant(), Some(self.proof("POST", "/token", None, None)?)).await?;
        let answer = match (first.status, first.nonce) {
            (StatusCode::BAD_REQUEST, Some(nonce)) if first.body.contains("use_dpop_nonce") => {
                self.post("/token", grant(), Some(self.proof("POST", "/token", Some(&nonce), None)?)).await?
            }
            (status, _) => return Err(format!("POST /token without a nonce answered {status}: {}", first.body)),
        };
        if answer.status != StatusCode::OK {
            return Err(format!("POST /token answered {}: {}", answer.status, answer.body));
        }
        let tokens: Value = serde_json::from_str(&answer.body).map_err(|e| format!("POST /token: {e}"))?;
        if tokens["token_type"] != "DPoP" || !tokens["access_token"].is_string() {
            return Err(format!("POST /token gave no DPoP access token: {}", answer.body));
        }
        Ok(tokens)
    }

    /// `GET /api/shared-data` with `access_token` and a fresh proof; the answer's status,
    /// content type and body. A `use_dpop_nonce` refusal is retried once with the nonce.
    async fn fetch(&self, http: &reqwest::Client, access_token: &str) -> Result<(StatusCode, String, String), String> {
        let path = "/api/shared-data";
        let mut nonce: Option<String> = None;
        loop {
            let proof = self.proof("GET", path, nonce.as_deref(), Some(access_token))?;
            let response = http
                .get(format!("{}{path}", self.base))
                .header("Authorization", format!("DPoP {access_token}"))
                .header("DPoP", proof)
                .send()
                .await
                .map_err(|e| format!("GET {path}: {e}"))?;
            let status = response.status();
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let (content_type, offered) = (header("content-type").unwrap_or_default(), header("dpop-nonce"));
            let asks_nonce = header("www-authenticate").is_some_and(|w| w.contains("use_dpop_nonce"));
            let body = response.text().await.map_err(|e| format!("GET {path}: {e}"))?;
            match offered {
                Some(offered) if status == StatusCode::UNAUTHORIZED && asks_nonce && nonce.is_none() => {
                    nonce = Some(offered)
                }
                _ => return Ok((status, content_type, body)),
            }
        }
    }
}

/// The values of every `<input … name="NAME" value="…">` of a page that is not disabled.
fn checkboxes(html: &str, name: &str) -> Vec<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let mut values = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&marker) {
        rest = &rest[start + marker.len()..];
        let Some(end) = rest.find('"') else { break };
        let disabled = rest[end..].split('>').next().is_some_and(|attributes| attributes.contains("disabled"));
        if !disabled {
            values.push(rest[..end].to_string());
        }
        rest = &rest[end..];
    }
    values
}

/// The `authorization_details` the bank asks with.
fn details(residence: bool) -> String {
    let mut items = ITEMS.to_vec();
    if residence {
        items.push(RESIDENCE);
    }
    json!([{
        "type": "data_sharing", "purpose": "apertura_cuenta", "items": items,
        "fetch": "once", "data_life": "P5Y", "expires": rfc3339(llave::crypto::now() + 30 * 86_400),
    }])
    .to_string()
}

async fn measure(args: &Args, choice: &Choice, dir: &Path, database: Option<String>) -> Result<Outcome, String> {
    let llave = Llave { binary: args.llave.clone(), data_dir: dir.to_path_buf(), database };
    llave.init().await?;
    // The set-up can outlast the default five minutes of an access token: the first ones
    // made must still be good when the load reaches them.
    let settings = dir.join("llave.toml");
    let mut text = std::fs::read_to_string(&settings).unwrap_or_default();
    text.push_str("\n[oidc]\naccess_token_seconds = 3600\n");
    std::fs::write(&settings, text).map_err(|e| format!("cannot write {}: {e}", settings.display()))?;
    llave
        .cli_json(&[
            "third-party",
            "add",
            "--slug",
            "banco",
            "--legal-name",
            "Banco del Ejemplo, S.A.",
            "--tax-id",
            "BEJ990101AB1",
            "--purposes",
            "apertura_cuenta",
        ])
        .await?;
    let key = Key::es256("banco-1")?;
    let jwks_file = dir.join("banco-jwks.json");
    std::fs::write(&jwks_file, key.jwks().to_string())
        .map_err(|e| format!("cannot write {}: {e}", jwks_file.display()))?;
    let jwks_path = jwks_file.display().to_string();
    let registered = llave
        .cli_json(&[
            "client",
            "add",
            "--third-party",
            "banco",
            "--name",
            "Banca",
            "--jwks-file",
            &jwks_path,
            "--redirect-uri",
            REDIRECT_URI,
        ])
        .await?;
    let client_id = registered["client_id"].as_str().ok_or("client add printed no client_id")?.to_string();
    llave.cli_json(&["entity", "add", "--slug", "bench", "--name", "Dependencia de prueba"]).await?;
    let plain = llave
        .cli_json(&["client", "add", "--entity", "bench", "--name", "Trámites", "--redirect-uri", REDIRECT_URI])
        .await?;
    let text = |key: &str| plain[key].as_str().map(str::to_string).ok_or(format!("client add printed no {key}"));
    let (plain_id, plain_secret) = (text("client_id")?, text("client_secret")?);
    // With --residence: the PKI (entities' seals), the holding entity and its client.
    let holder = if args.residence {
        llave.cli_json(&["pki", "init"]).await?;
        llave.cli_json(&["entity", "add", "--slug", "alcaldia", "--name", "Alcaldía Cuauhtémoc"]).await?;
        let client = llave
            .cli_json(&["client", "add", "--entity", "alcaldia", "--name", "Registros", "--redirect-uri", REDIRECT_URI])
            .await?;
        let text = |key: &str| client[key].as_str().map(str::to_string).ok_or(format!("client add printed no {key}"));
        Some((text("client_id")?, text("client_secret")?))
    } else {
        None
    };
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    let people = llave.add_users(args.people, seed).await?;

    let mut child = llave.serve(args.port)?;
    let base = format!("http://127.0.0.1:{}", args.port);
    if let Err(error) = server::wait_ready(&mut child, &base, &llave.log_path()).await {
        server::stop(&mut child).await;
        return Err(error);
    }
    let run = async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let discovery: Value = http
            .get(format!("{base}/.well-known/openid-configuration"))
            .send()
            .await
            .map_err(|e| format!("discovery: {e}"))?
            .json()
            .await
            .map_err(|e| format!("discovery: {e}"))?;
        let issuer = discovery["issuer"].as_str().ok_or("discovery without issuer")?.to_string();
        let bank = Arc::new(Bank { http, base: base.clone(), issuer, client_id, key, dpop: Key::es256("dpop")? });

        let mut browsers = Vec::with_capacity(people.len());
        for person in &people {
            browsers.push(codeflow::signed_in(&base, person).await?);
        }
        if let Some(holder) = &holder {
            for browser in &mut browsers {
                residence_of(&base, holder, browser).await?;
            }
        }
        let (setup, tokens) = make_artefacts(&bank, &mut browsers, args.artefacts, args.residence).await?;
        let tokens = check_one(&bank, tokens, args.residence).await?;
        let fetches = fetch_load(args, &bank, tokens).await?;

        let client =
            codeflow::Client { id: &plain_id, secret: &plain_secret, redirect_uri: REDIRECT_URI, scope: "openid" };
        let (plain, fapi) = added_latency(args, &bank, &mut browsers[0], &client).await?;
        Ok::<_, String>((setup, fetches, plain, fapi))
    }
    .await;
    let peak_mib = child.id().and_then(server::peak_rss_kib).map(|k| k as f64 / 1024.0);
    server::stop(&mut child).await;
    let (setup, fetches, plain, fapi) = run?;
    Ok(Outcome { backend: choice.backend(), setup, fetches, plain, fapi, peak_mib })
}

/// The person of `browser` signs in to the holding entity's client (which learns their
/// pairwise `sub` from the ID token); the entity then stores a proof of residence about
/// them with the records API.
async fn residence_of(base: &str, holder: &(String, String), browser: &mut Browser) -> Result<(), String> {
    let client = codeflow::Client { id: &holder.0, secret: &holder.1, redirect_uri: REDIRECT_URI, scope: "openid" };
    let (_, answer) = codeflow::one_code_flow(browser, &client).await?;
    let id_token = answer["id_token"].as_str().ok_or("no ID token for the holding entity")?;
    let payload = id_token.split('.').nth(1).ok_or("an ID token that is not a JWS")?;
    let claims: Value = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or("an ID token whose payload is not JSON")?;
    let sub = claims["sub"].as_str().ok_or("an ID token without sub")?;
    let token = server::service_token(&browser.http, base, &holder.0, &holder.1, "records:write").await?;
    let record = json!({ "sub": sub, "kind": "proof_of_residence",
        "attributes": { "street": "Calle de Dolores 17", "colonia": "Centro", "postal_code": "06000", "alcaldia": "Cuauhtémoc" },
        "valid_from": "2026-01-01" });
    let response = browser
        .http
        .post(format!("{base}/api/records"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(record.to_string())
        .send()
        .await
        .map_err(|e| format!("POST /api/records: {e}"))?;
    let status = response.status();
    if status != StatusCode::CREATED {
        return Err(format!("POST /api/records answered {status}: {}", response.text().await.unwrap_or_default()));
    }
    Ok(())
}

/// `count` artefacts through the FAPI flow, one worker per person: their access tokens.
async fn make_artefacts(
    bank: &Arc<Bank>,
    browsers: &mut Vec<Browser>,
    count: usize,
    residence: bool,
) -> Result<(Stats, Vec<String>), String> {
    let started = Instant::now();
    let workers = browsers.len();
    let mut handles = Vec::with_capacity(workers);
    for (n, mut browser) in browsers.drain(..).enumerate() {
        let bank = Arc::clone(bank);
        let share = count / workers + usize::from(n < count % workers);
        handles.push(tokio::spawn(async move {
            let details = details(residence);
            let (mut tokens, mut latencies) = (Vec::with_capacity(share), Vec::with_capacity(share));
            for _ in 0..share {
                let began = Instant::now();
                let answer = bank.flow(&mut browser, &details).await?;
                latencies.push(began.elapsed());
                tokens.push(answer["access_token"].as_str().unwrap_or_default().to_string());
            }
            Ok::<_, String>((browser, tokens, latencies))
        }));
    }
    let (mut tokens, mut latencies) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for handle in handles {
        let (browser, made, took) = handle.await.map_err(|e| format!("a set-up worker failed: {e}"))??;
        browsers.push(browser);
        tokens.extend(made);
        latencies.extend(took);
    }
    Ok((Stats::from_steps(latencies, Vec::new(), started.elapsed()), tokens))
}

/// Spends one token outside the load and checks the answer as a bank would: a JWS by a
/// key of the hub's JWKS, `typ` `shared-data+jwt`, with the items asked. The other tokens.
async fn check_one(bank: &Bank, mut tokens: Vec<String>, residence: bool) -> Result<Vec<String>, String> {
    let token = tokens.pop().ok_or("no artefact was made")?;
    let (status, content_type, body) = bank.fetch(&bank.http, &token).await?;
    if status != StatusCode::OK || content_type != "application/jwt" {
        return Err(format!("GET /api/shared-data answered {status} ({content_type}): {body}"));
    }
    let header = jsonwebtoken::decode_header(&body).map_err(|e| format!("the shared data is not a JWS: {e}"))?;
    if header.typ.as_deref() != Some("shared-data+jwt") || header.alg != jsonwebtoken::Algorithm::ES256 {
        return Err(format!("the shared data's header: {header:?}"));
    }
    let jwks: jsonwebtoken::jwk::JwkSet = bank
        .http
        .get(format!("{}/jwks", bank.base))
        .send()
        .await
        .map_err(|e| format!("GET /jwks: {e}"))?
        .json()
        .await
        .map_err(|e| format!("GET /jwks: {e}"))?;
    let jwk = header.kid.as_deref().and_then(|kid| jwks.find(kid)).ok_or("the shared data's kid is not in the JWKS")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| format!("the hub's JWK: {e}"))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[&bank.client_id]);
    validation.set_required_spec_claims(&["aud"]);
    let data = jsonwebtoken::decode::<Value>(&body, &key, &validation)
        .map_err(|e| format!("the shared data does not verify: {e}"))?
        .claims;
    if ITEMS.iter().any(|item| data["claims"].get(item).is_none()) || !data["consent_artefact_id"].is_string() {
        return Err(format!("the shared data lacks an item: {data}"));
    }
    if residence && !data["records"][0]["seal"].is_string() {
        return Err(format!("the shared data lacks the sealed proof of residence: {data}"));
    }
    // The same artefact again: fetched once, now refused.
    let (status, _, body) = bank.fetch(&bank.http, &token).await?;
    if status != StatusCode::FORBIDDEN || !body.contains("fetch_limit_reached") {
        return Err(format!("a second fetch of a \"once\" artefact answered {status}: {body}"));
    }
    Ok(tokens)
}

/// The timed load: each token spent once on `GET /api/shared-data`.
async fn fetch_load(args: &Args, bank: &Arc<Bank>, tokens: Vec<String>) -> Result<Stats, String> {
    let supply = Arc::new(Mutex::new(tokens));
    let states: Vec<_> =
        (0..args.concurrency).map(|_| (bank.http.clone(), Arc::clone(bank), Arc::clone(&supply))).collect();
    load::run(states, args.seconds, |(http, bank, supply)| async move {
        let token = supply.lock().ok().and_then(|mut tokens| tokens.pop());
        let Some(token) = token else {
            return ((http, bank, supply), Err(Failure::done()));
        };
        let outcome = match bank.fetch(&http, &token).await {
            Ok((StatusCode::OK, content_type, _)) if content_type == "application/jwt" => Ok(()),
            Ok((status, content_type, body)) => {
                Err(Failure::new(format!("shared-data answered {status} ({content_type}): {body}")))
            }
            Err(error) => Err(Failure::new(error)),
        };
        ((http, bank, supply), outcome)
    })
    .await
}

/// `--flows` plain and FAPI code flows, interleaved, one at a time.
async fn added_latency(
    args: &Args,
    bank: &Bank,
    browser: &mut Browser,
    client: &codeflow::Client<'_>,
) -> Result<(Stats, Stats), String> {
    // The person's consent to the entity's client, given once beforehand.
    codeflow::one_code_flow(browser, client).await?;
    let details = details(args.residence);
    let (mut plain, mut fapi) = (Vec::with_capacity(args.flows), Vec::with_capacity(args.flows));
    let (mut plain_failures, mut fapi_failures) = (Vec::new(), Vec::new());
    let (mut plain_time, mut fapi_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..args.flows {
        let began = Instant::now();
        match codeflow::one_code_flow(browser, client).await {
            Ok(_) => plain.push(began.elapsed()),
            Err(error) => plain_failures.push(error),
        }
        plain_time += began.elapsed();
        let began = Instant::now();
        match bank.flow(browser, &details).await {
            Ok(_) => fapi.push(began.elapsed()),
            Err(error) => fapi_failures.push(error),
        }
        fapi_time += began.elapsed();
    }
    Ok((Stats::from_steps(plain, plain_failures, plain_time), Stats::from_steps(fapi, fapi_failures, fapi_time)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_follows_the_civil_calendar() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(rfc3339(1_798_761_600), "2027-01-01T00:00:00Z");
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s_and_the_hubs() {
        // The P-256 key of RFC 7515 appendix A.3.
        let jwk = json!({ "kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRjmWpKFHsVyrlMWGHfLNBkZ4IFgQDp2jPQXSSY" });
        assert_eq!(thumbprint(&jwk), "HCPu-VXRMOdrKMlzGNrjEyxU_iKfTGVdLdRRGXfjd20");
        assert_eq!(oidc::dpop::thumbprint(&jwk).as_deref(), Some("HCPu-VXRMOdrKMlzGNrjEyxU_iKfTGVdLdRRGXfjd20"));
        let key = Key::es256("k").unwrap();
        assert_eq!(oidc::dpop::thumbprint(&key.public), Some(key.thumbprint()), "a key made here");
    }

    #[test]
    fn a_proof_carries_the_tokens_hash_and_the_nonce_when_given() {
        let claims = proof_claims("GET", "http://localhost:1/api/shared-data", 7, Some("n"), Some("token"));
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], "http://localhost:1/api/shared-data");
        assert_eq!(claims["iat"], 7);
        assert_eq!(claims["nonce"], "n");
        // base64url(SHA-256("token")).
        assert_eq!(claims["ath"], "PEaenWxYddN6Q_NT1PiOYfz4EsZu7jRXRlpAsNpBU-A");
        assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 16));
        let bare = proof_claims("POST", "http://localhost:1/token", 7, None, None);
        assert!(bare.get("nonce").is_none() && bare.get("ath").is_none());
    }

    #[test]
    fn enabled_checkboxes_only() {
        let html = r#"<input type="checkbox" name="item" value="name"> <input type="checkbox" name="item" value="record:x" disabled><input type="checkbox" name="item" value="curp">"#;
        assert_eq!(checkboxes(html, "item"), ["name", "curp"]);
    }
}
