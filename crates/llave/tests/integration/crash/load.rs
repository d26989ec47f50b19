//! The mixed load of the crash test: tasks that drive llave over HTTP like browsers and
//! entity back ends, and write down every answer they RECEIVED (the acts llave owes them).
//! A request that fails to connect or whose answer is cut off (llave killed) ends the
//! journey; the next one starts once llave answers again. Nothing here decides the verdict.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::receivers::jwt_claims;
use crate::support::{Person, input_value};

/// What llave answered, as the clients saw it.
#[derive(Default, Debug)]
pub struct Ledger {
    /// (CURP, session cookie) of each sign-in answered with a session.
    pub sign_ins: Vec<(String, String)>,
    /// Session cookies whose sign-out was answered.
    pub sign_outs: Vec<String>,
    /// Session cookies that had a code-flow token answered (a grant the sign-out ends).
    pub sessions_with_grants: Vec<String>,
    /// (client_id, CURP of the person or none, the access token's jti) of each token answer.
    pub tokens: Vec<(String, Option<String>, String)>,
    /// CURPs whose sign-up was answered.
    pub sign_ups: Vec<String>,
    /// Password-reset requests answered.
    pub resets_asked: u64,
    /// Record ids whose creation was answered.
    pub records_written: Vec<String>,
    /// (record id, grant) of each read answered with the record.
    pub reads: Vec<(String, String)>,
    /// Answers that were neither a success nor a dropped connection: (step, status, body).
    pub unexpected: Vec<(String, u16, String)>,
}

/// What the load needs to know about the installation.
pub struct World {
    pub base: String,
    /// The relying party of the citizens' journeys (it has a back-channel logout URI).
    pub portal: (String, String),
    /// Entity B (writes records) and entity A (looks them up under an approved legal basis).
    pub holder: (String, String),
    pub reader: (String, String),
    /// Signed-up people: (CURP, e-mail, password).
    pub people: Vec<(String, String, String)>,
}

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A dropped connection or a cut-off answer: llave is down.
#[derive(Debug)]
pub struct Down;

pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One browser (or back end): its own cookies, no connection reuse across kills.
pub struct Browser {
    http: reqwest12::Client,
    base: String,
    cookies: HashMap<String, String>,
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        let http = reqwest12::Client::builder()
            .redirect(reqwest12::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        Browser { http, base: base.to_string(), cookies: HashMap::new() }
    }

    async fn send(&mut self, request: reqwest12::RequestBuilder) -> Result<Answer, Down> {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let request = if cookie.is_empty() { request } else { request.header("cookie", cookie) };
        let response = request.send().await.map_err(|_| Down)?;
        let status = response.status().as_u16();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
        for set in response.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || set.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
        // The answer counts as received only once its body has arrived whole.
        let body = response.text().await.map_err(|_| Down)?;
        Ok(Answer { status, location, body })
    }

    pub async fn get(&mut self, path: &str) -> Result<Answer, Down> {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub async fn post(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        basic: Option<&(String, String)>,
    ) -> Result<Answer, Down> {
        let mut request = self.http.post(format!("{}{path}", self.base)).form(fields);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        self.send(request).await
    }

    pub async fn json(&mut self, path: &str, token: &str, body: Value) -> Result<Answer, Down> {
        let request = self.http.post(format!("{}{path}", self.base)).bearer_auth(token).json(&body);
        self.send(request).await
    }

    /// Opens `page`, takes its CSRF token and posts `fields` with it to `action`.
    async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Result<Option<Answer>, Down> {
        let html = self.get(page).await?.body;
        let Some(token) = input_value(&html, "csrf_token") else { return Ok(None) };
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all, None).await.map(Some)
    }
}

/// The load: `stop` ends it; each task returns when its journey step notices.
pub struct Load {
    pub world: Arc<World>,
    pub ledger: Arc<Mutex<Ledger>>,
    pub stop: Arc<AtomicBool>,
    /// Seeds of the people signed up under load (unique across tasks).
    pub next_seed: Arc<AtomicU64>,
}

impl Load {
    fn record(&self, change: impl FnOnce(&mut Ledger)) {
        change(&mut self.ledger.lock().expect("ledger"));
    }

    fn unexpected(&self, step: &str, answer: &Answer) {
        let body: String = answer.body.chars().take(300).collect();
        self.record(|l| l.unexpected.push((step.to_string(), answer.status, body)));
    }

    /// Runs one kind of journey until stopped, pausing briefly after a failed one.
    pub async fn run(self: Arc<Self>, kind: Journey, task: usize) {
        let mut round = 0usize;
        while !self.stop.load(Ordering::SeqCst) {
            let finished = match kind {
                Journey::Citizen => self.citizen(task, round).await,
                Journey::Mail => self.mail().await,
                Journey::Records => self.records(round).await,
            };
            if finished.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            round += 1;
        }
    }

    /// Sign-in, authorization code + PKCE, the code and a refresh at /token, sign-out.
    async fn citizen(&self, task: usize, round: usize) -> Result<(), Down> {
        let w = &self.world;
        let (curp, _, password) = &w.people[(task * 2 + round % 2) % w.people.len()];
        let mut browser = Browser::new(&w.base);
        let fields = [("identifier", curp.as_str()), ("password", password.as_str()), ("next", "/account")];
        let Some(signed_in) = browser.submit("/signin", "/signin", &fields).await? else { return Ok(()) };
        let Some(session) = browser.cookies.get("llave_session").cloned().filter(|_| signed_in.status == 303) else {
            self.unexpected("sign-in", &signed_in);
            return Ok(());
        };
        self.record(|l| l.sign_ins.push((curp.clone(), session.clone())));

        let verifier = llave::crypto::random_token();
        let challenge = {
            use base64::Engine;
            use sha2::Digest;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
        };
        let path = format!(
            "/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20offline_access&state=s{round}\
             &nonce=n{round}&code_challenge={challenge}&code_challenge_method=S256",
            w.portal.0,
            crate::oidc::support::urlencode(REDIRECT)
        );
        let asked = browser.get(&path).await?;
        let redirect = if asked.status == 200 && asked.body.contains("name=\"decision\"") {
            let request = input_value(&asked.body, "request").unwrap_or_default();
            let token = input_value(&asked.body, "csrf_token").unwrap_or_default();
            let fields = [("csrf_token", token.as_str()), ("request", request.as_str()), ("decision", "allow")];
            browser.post("/authorize/consent", &fields, None).await?
        } else {
            asked
        };
        let code = redirect.location.as_deref().filter(|l| l.starts_with(REDIRECT)).and_then(|l| {
            url::Url::parse(l).ok()?.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned())
        });
        let Some(code) = code else {
            self.unexpected("authorize", &redirect);
            return Ok(());
        };
        let fields = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        let Some(tokens) = self.token(&mut browser, &w.portal, &fields, Some(curp)).await? else { return Ok(()) };
        self.record(|l| l.sessions_with_grants.push(session.clone()));
        if let Some(refresh) = tokens["refresh_token"].as_str() {
            let fields = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
            self.token(&mut browser, &w.portal, &fields, Some(curp)).await?;
        }

        let Some(signed_out) = browser.submit("/account", "/signout", &[]).await? else { return Ok(()) };
        if signed_out.status == 303 {
            self.record(|l| l.sign_outs.push(session));
        } else {
            self.unexpected("sign-out", &signed_out);
        }
        Ok(())
    }

    /// A /token request; a 200 answer is written down with its access token's jti.
    async fn token(
        &self,
        browser: &mut Browser,
        client: &(String, String),
        fields: &[(&str, &str)],
        person: Option<&String>,
    ) -> Result<Option<Value>, Down> {
        let answer = browser.post("/token", fields, Some(client)).await?;
        let body = answer.json();
        let jti =
            body["access_token"].as_str().and_then(jwt_claims).and_then(|c| c["jti"].as_str().map(str::to_string));
        match jti {
            Some(jti) if answer.status == 200 => {
                self.record(|l| l.tokens.push((client.0.clone(), person.cloned(), jti)));
                Ok(Some(body))
            }
            _ => {
                self.unexpected(fields[0].1, &answer);
                Ok(None)
            }
        }
    }

    /// A sign-up (a confirmation mail) and a password reset asked for the new account (a
    /// reset mail, sent by the worker's own act).
    async fn mail(&self) -> Result<(), Down> {
        let person = Person::synthetic(self.next_seed.fetch_add(1, Ordering::SeqCst));
        let mut browser = Browser::new(&self.world.base);
        let Some(signed_up) = browser.submit("/signup", "/signup", &person.signup_fields()).await? else {
            return Ok(());
        };
        if signed_up.status != 200 {
            self.unexpected("sign-up", &signed_up);
            return Ok(());
        }
        self.record(|l| l.sign_ups.push(person.curp.clone()));
        let fields = [("identifier", person.email.as_str())];
        let Some(asked) = browser.submit("/password/forgot", "/password/forgot", &fields).await? else { return Ok(()) };
        if asked.status == 200 {
            self.record(|l| l.resets_asked += 1);
        } else {
            self.unexpected("password reset", &asked);
        }
        Ok(())
    }

    /// B writes a proof of residence about a person; A looks it up (approved legal basis)
    /// and reads it through the grant.
    async fn records(&self, round: usize) -> Result<(), Down> {
        let w = &self.world;
        let (curp, _, _) = &w.people[round % w.people.len()];
        let mut browser = Browser::new(&w.base);
        let fields = [("grant_type", "client_credentials"), ("scope", "records:write")];
        let Some(token) = self.token(&mut browser, &w.holder, &fields, None).await? else { return Ok(()) };
        let token = token["access_token"].as_str().unwrap_or_default().to_string();
        let record = json!({
            "curp": curp, "kind": "proof_of_residence", "procedure": "constancia",
            "attributes": {"address": format!("Calle {round}"), "postal_code": "06000"},
            "valid_from": "2026-01-01", "valid_until": "2099-12-31",
        });
        let written = browser.json("/api/records", &token, record).await?;
        let Some(record_id) =
            written.json()["record_id"].as_str().map(str::to_string).filter(|_| written.status == 201)
        else {
            self.unexpected("record write", &written);
            return Ok(());
        };
        self.record(|l| l.records_written.push(record_id));

        let fields = [("grant_type", "client_credentials"), ("scope", "lookups")];
        let Some(token) = self.token(&mut browser, &w.reader, &fields, None).await? else { return Ok(()) };
        let token = token["access_token"].as_str().unwrap_or_default().to_string();
        let ask = json!({"curp": curp, "procedure": "permiso", "kind": "proof_of_residence"});
        let found = browser.json("/api/lookups", &token, ask).await?;
        let body = found.json();
        let (Some(record_id), Some(grant)) = (body["locator"]["record_id"].as_str(), body["grant"].as_str()) else {
            self.unexpected("lookup", &found);
            return Ok(());
        };
        let path = format!("/api/records/{record_id}/read");
        let read = browser.json(&path, &token, json!({"grant": grant, "procedure": "permiso"})).await?;
        if read.status == 200 && read.json()["attributes"]["postal_code"] == "06000" {
            self.record(|l| l.reads.push((record_id.to_string(), grant.to_string())));
        } else {
            self.unexpected("record read", &read);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Journey {
    Citizen,
    Mail,
    Records,
}
