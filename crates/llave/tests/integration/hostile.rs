//! Hostile input against every route of the route table: NUL, invalid UTF-8, control
//! characters and over-long values in the path, the query, the headers, form fields and JSON
//! bodies, anonymously, as a signed-in person and as an entity's back end. No answer may be a
//! 5xx (a 5xx on outside input is a bug, and each one writes an error line to the log).
//!
//! The routes come from the router itself (its `Debug` form lists every path it matches), so a
//! route added tomorrow is covered without touching this file.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tower::ServiceExt;

use crate::both_backends;
use crate::oidc::support::signed_in_person;
use crate::records::world;
use crate::support::*;

/// Every path pattern the router matches, as written in the route table (`/records/{id}`).
fn route_paths(router: &axum::Router) -> Vec<String> {
    let debug = format!("{router:?}");
    let mut paths = Vec::new();
    let mut rest = debug.as_str();
    // `Node { paths: {RouteId(3): "/signin", …} }`
    while let Some(start) = rest.find("RouteId(") {
        rest = &rest[start + "RouteId(".len()..];
        let Some(open) = rest.find("): \"") else { break };
        let after = &rest[open + 4..];
        let Some(close) = after.find('"') else { break };
        let path = &after[..close];
        if path.starts_with('/') && !paths.iter().any(|p| p == path) {
            paths.push(path.to_string());
        }
        rest = &after[close..];
    }
    // Routes that end the session last, so the signed-in caller stays signed in throughout.
    paths.sort_by_key(|p| (["signout", "logout", "salir", "/end"].iter().any(|w| p.contains(w)), p.clone()));
    paths
}

/// `pattern` with every `{parameter}` (and `{*rest}`) replaced by `value`.
fn fill(pattern: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map(|c| open + c + 1).unwrap_or(rest.len());
        out.push_str(value);
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

const PATH_VALUES: &[&str] = &["x", "%00", "a%00b", "%FF%FE", "a%0Ab", "a%0D%0Ab", "a%7Fb", "%09", "..%2F..%2Fetc"];

const QUERIES: &[&str] = &[
    "",
    "next=/%09/evil.example/x",
    "next=/%0d%0aSet-Cookie:%20a=b",
    "next=/%7f&return_to=/%00",
    "next=%FF%FE&q=%FF&session=%FF&page=%FF&lang=%FF",
    "session=%00&state=%00&code=%00&client_id=%00",
    "client_id=%FF&redirect_uri=%FF&response_type=code&scope=openid%FF&state=%01&code_challenge=%FF",
    "q=%01%02%03&id=-1&version=99999999999999999999&limit=-5&sub=%00&curp=%FF",
];

/// Form fields the pages and endpoints read, each set to a hostile value.
const FIELDS: &[&str] = &[
    "identifier",
    "password",
    "new_password",
    "next",
    "curp",
    "email",
    "given_names",
    "first_surname",
    "second_surname",
    "birth_date",
    "sex",
    "state",
    "code",
    "decision",
    "request",
    "request_uri",
    "q",
    "kind",
    "procedure",
    "reason",
    "slug",
    "id",
    "token",
    "grant_type",
    "refresh_token",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_verifier",
    "code_challenge",
    "id_token_hint",
    "post_logout_redirect_uri",
    "document_kind",
    "document_number",
    "details",
    "version",
    "text",
    "session",
    "device",
    "role",
];

const FIELD_VALUES: &[&str] = &["%00", "%FF%FE%FD", "%01%02%1B%7F", "a%0D%0Ab", "-1", "99999999999999999999999"];

fn json_bodies() -> Vec<Vec<u8>> {
    vec![
        br#"{"sub":"a\u0000b","curp":"\u0000","kind":"\u0000","procedure":"x\u0000"}"#.to_vec(),
        b"{\"sub\":\"\xff\xfe\",\"kind\":\"\xc3\x28\"}".to_vec(),
        br#"{"person":{"sub":"\u0001\u001b"},"kind":"proof_of_residence","procedure":"\u007f","attributes":{"a":"\u0000"}}"#
            .to_vec(),
        br#"{"version":-1,"valid_from":"9999-99-99","grant":"\u0000","purpose":"\u0000","reason":"\u0000"}"#.to_vec(),
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]".to_vec(),
        b"\x00\x01\x02".to_vec(),
    ]
}

fn authorizations(token: &str) -> Vec<String> {
    vec![
        String::new(),
        format!("Basic {}", STANDARD.encode(b"a\0b:s")),
        format!("Basic {}", STANDARD.encode(b"a%00b:s")),
        format!("Basic {}", STANDARD.encode(b"\xff\xfe:\xff")),
        "Basic %00".into(),
        format!("Bearer {token}"),
        "Bearer \u{1}".into(),
        "DPoP %FF".into(),
    ]
}

struct Caller<'a> {
    router: &'a axum::Router,
    cookies: String,
    csrf: String,
    failures: Vec<String>,
    sent: usize,
}

impl Caller<'_> {
    async fn send(&mut self, method: &str, uri: &str, headers: &[(&str, Vec<u8>)], body: Option<(&str, Vec<u8>)>) {
        let mut builder = Request::builder().method(method).uri(uri);
        if !self.cookies.is_empty() {
            builder = builder.header(header::COOKIE, &self.cookies);
        }
        for (name, value) in headers {
            builder = builder.header(*name, value.as_slice());
        }
        let request = match body {
            Some((content_type, bytes)) => builder.header(header::CONTENT_TYPE, content_type).body(Body::from(bytes)),
            None => builder.body(Body::empty()),
        };
        // A URI or header the HTTP layer itself refuses never reaches llave.
        let Ok(mut request) = request else { return };
        request.extensions_mut().insert(ConnectInfo(std::net::SocketAddr::from(([203, 0, 113, 66], 40000))));
        self.sent += 1;
        let response = self.router.clone().oneshot(request).await.expect("the router answers");
        if response.status().is_server_error() {
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
            let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            self.failures.push(format!("{method} {uri} {headers:?} → {status}: {text}"));
        }
    }

    fn form(&self, field_value: &str) -> Vec<u8> {
        let mut body = format!("csrf_token={}", self.csrf);
        for field in FIELDS {
            body.push_str(&format!("&{field}={field_value}"));
        }
        body.into_bytes()
    }

    /// Every hostile request this route can get.
    async fn attack(&mut self, pattern: &str, token: &str) {
        let values = if pattern.contains('{') { PATH_VALUES } else { &PATH_VALUES[..1] };
        for value in values {
            let path = fill(pattern, value);
            for method in ["GET", "POST", "PUT", "DELETE"] {
                self.send(method, &path, &[], None).await;
            }
        }
        let path = fill(pattern, "x");
        for query in QUERIES {
            let uri = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
            self.send("GET", &uri, &[], None).await;
        }
        for authorization in authorizations(token) {
            let mut headers = vec![
                ("accept-language", b"\xff\xfe;q=\x01".to_vec()),
                ("user-agent", b"\xff\x01".to_vec()),
                ("dpop", b"\xff".to_vec()),
                ("x-forwarded-for", b"\xff, 999.1.1.1".to_vec()),
            ];
            if !authorization.is_empty() {
                headers.push(("authorization", authorization.into_bytes()));
            }
            self.send("GET", &path, &headers, None).await;
            let form = Some(("application/x-www-form-urlencoded", self.form("x")));
            self.send("POST", &path, &headers, form).await;
        }
        let bearer = format!("Bearer {token}").into_bytes();
        for value in FIELD_VALUES {
            for method in ["POST", "PUT", "DELETE"] {
                let form = Some(("application/x-www-form-urlencoded", self.form(value)));
                self.send(method, &path, &[], form).await;
            }
            let form = Some(("application/x-www-form-urlencoded", self.form(value)));
            self.send("POST", &path, &[("authorization", bearer.clone())], form).await;
        }
        for json in json_bodies() {
            for method in ["POST", "PUT"] {
                let body = Some(("application/json", json.clone()));
                self.send(method, &path, &[("authorization", bearer.clone())], body).await;
            }
        }
        let multipart =
            b"--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n\xff\x00\r\n--b\r\nContent-Disposition: form-data; name=\"document\"; filename=\"\x00\xff\"\r\n\r\n\x00\x01\r\n--b--\r\n".to_vec();
        self.send("POST", &path, &[], Some(("multipart/form-data; boundary=b", multipart))).await;
    }
}

fn cookie_header(client: &Client) -> String {
    client.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
}

both_backends!(
    async fn no_route_answers_a_server_error_to_hostile_input(backend: Backend) {
        let world = world(backend).await;
        let app = &world.app;
        let token = world.token(&world.a, "lookups records:read records:write").await;
        let paths = route_paths(&app.router);
        assert!(paths.len() > 60, "the route table was not read: {paths:?}");
        for expected in ["/token", "/authorize", "/signin", "/api/records/{id}", "/lang/{code}", "/demo/{slug}"] {
            assert!(paths.iter().any(|p| p == expected), "{expected} missing from {paths:?}");
        }

        let mut anonymous = app.client();
        let signin = anonymous.get("/signin").await.body;
        let anonymous_csrf = input_value(&signin, "csrf_token").expect("a CSRF token on /signin");
        let (_, mut person) = signed_in_person(app, 7_331).await;
        let account = person.get("/account").await.body;
        let person_csrf = input_value(&account, "csrf_token").expect("a CSRF token on /account");

        let mut failures = Vec::new();
        let mut sent = 0;
        for (cookies, csrf) in [(cookie_header(&anonymous), anonymous_csrf), (cookie_header(&person), person_csrf)] {
            let mut caller = Caller { router: &app.router, cookies, csrf, failures: Vec::new(), sent: 0 };
            for path in &paths {
                caller.attack(path, &token).await;
            }
            // Cookies themselves are outside input too.
            caller.cookies = "llave_session=%00%FF; llave_csrf=\u{7f}; llave_lang=%FF; llave_device=%00".into();
            for path in &paths {
                caller.send("GET", &fill(path, "x"), &[], None).await;
            }
            failures.append(&mut caller.failures);
            sent += caller.sent;
        }
        assert!(sent >= paths.len() * 2 * 40, "only {sent} requests were sent");
        assert!(
            failures.is_empty(),
            "{} server errors, first ones:\n{}",
            failures.len(),
            failures[..failures.len().min(15)].join("\n")
        );
        world.app.finish().await;
    }
);

// The reported requests, exactly: each answered 4xx (or a safe redirect), never 500.
both_backends!(
    async fn reported_bad_locations_and_nul_values_get_no_server_error(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut browser = app.client();
        for path in ["/lang/en?next=/%0d%0aX:1", "/lang/en?next=/%7f", "/lang/en?next=/%00", "/demo/%0a", "/demo/a%7fb"]
        {
            let response = browser.get(path).await;
            assert!(!response.status.is_server_error(), "{path}: {}", response.status);
            if let Some(location) = response.location() {
                assert_eq!(location, "/", "{path}");
            }
        }
        // The open redirect: a tab that Chromium drops would make `//evil.example/x`.
        let response = browser.get("/lang/en?next=/%09/evil.example/x").await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        assert_eq!(response.location(), Some("/"));
        let response = browser.get("/lang/en?next=/tramites%3Fq%3Dagua").await;
        assert_eq!(response.location(), Some("/tramites?q=agua"));

        for authorization in [STANDARD.encode(b"a\0b:s"), STANDARD.encode(b"a%00b:s")] {
            for endpoint in ["/token", "/introspect", "/revoke", "/par"] {
                let response = browser
                    .request_with_header(
                        "POST",
                        endpoint,
                        ("authorization", &format!("Basic {authorization}")),
                        b"grant_type=client_credentials&token=x".to_vec(),
                    )
                    .await;
                assert_eq!(response.status, StatusCode::BAD_REQUEST, "{endpoint}: {}", response.body);
                assert!(response.body.contains("invalid_request"), "{endpoint}: {}", response.body);
            }
        }
        let assertion = format!(
            "{}.{}.c2ln",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256"}"#),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"iss":"a\u0000b","sub":"a"}"#),
        );
        let body = format!(
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
        );
        let response = browser.request("POST", "/token", Some(body.into_bytes())).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{}", response.body);
        assert!(response.body.contains("invalid_client"));
        let response = browser.get("/verificacion/regreso?session=%00").await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        app.finish().await;
    }
);

both_backends!(
    async fn an_entity_cannot_write_its_own_text_into_the_persons_file(backend: Backend) {
        let w = world(backend).await;
        let (person, mut browser) = signed_in_person(&w.app, 7_332).await;
        let stored = w.residence_at_b(&person.curp).await;
        let record = stored["record_id"].as_str().unwrap().to_string();
        let (_, sub) = w.sign_in_to_a(&mut browser, "licencia", false).await;
        let token = w.token(&w.a, "lookups records:read").await;
        let notice = format!("AVISO OFICIAL: su trámite fue cancelado, llame al 55 0000 0000 {}", "x".repeat(30_000));

        let (status, body) = w.lookup(&token, serde_json::json!({ "sub": sub }), "licencia", &notice).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = w.read(&token, &record, "no-such-grant", &notice).await;
        assert_eq!(status, 403, "{body}");

        let file = browser.get("/expediente").await;
        assert_eq!(file.status, StatusCode::OK);
        assert!(!file.body.contains("AVISO OFICIAL"), "the entity's text reached the person's file");
        assert!(file.body.contains("un tipo de documento desconocido"), "{}", file.body);
        let export = browser.get("/expediente.json").await;
        assert!(!export.body.contains("AVISO OFICIAL"), "the entity's text reached the export");
        let stored: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(MAX(LENGTH(purpose) + LENGTH(COALESCE(detail, '')) + LENGTH(COALESCE(procedure_slug, ''))), 0) \
             AS BIGINT) FROM record_access",
        )
            .fetch_one(w.app.state.store.pool())
            .await
            .unwrap();
        assert!(stored < 300, "an access row holds {stored} characters");
        w.app.finish().await;
    }
);

both_backends!(
    async fn naming_people_without_an_account_by_curp_is_rationed(backend: Backend) {
        let w = crate::records::world_with(TestApp::builder(backend).config(|c| c.records.unknown_person_per_hour = 2))
            .await;
        // B's clients may receive the CURP, so B may name people by it.
        let token = w.token(&w.b, "lookups").await;
        let mut synth = curp::Synth::new(99);
        let mut answers = Vec::new();
        for _ in 0..3 {
            let person = synth.person();
            let nobody = synth.curp(&person).to_string();
            let (status, body) =
                w.lookup(&token, serde_json::json!({ "curp": nobody }), "constancia", "official_id").await;
            answers.push((status, body["error"].as_str().unwrap_or_default().to_string()));
        }
        assert_eq!(answers[0], (404, "unknown_person".into()));
        assert_eq!(answers[1], (404, "unknown_person".into()));
        assert_eq!(answers[2], (429, "slow_down".into()));
        w.app.finish().await;
    }
);
