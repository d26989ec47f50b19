//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), validated by an
//! ordered list of small checks in the manner of node-oidc-provider. The first checks
//! decide whether an error may be sent back to the client at all: an unknown client or a
//! redirect URI that is not registered exactly never redirects (RFC 6749 §4.1.2.1); after
//! that, every error goes back to the client's redirect URI with `state`.

use std::collections::{BTreeSet, HashMap};

use crate::errors::{ErrorCode, OAuthError};
use crate::pkce::CodeChallenge;
use crate::redirect_uri::RedirectUri;
use crate::scope::Scope;

const MAX_STATE: usize = 1024;
const MAX_NONCE: usize = 512;

/// What the checks need to know of the registered client.
#[derive(Debug, Clone)]
pub struct ClientPolicy<'a> {
    pub client_id: &'a str,
    pub redirect_uris: &'a [RedirectUri],
    pub require_par: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    FormPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Prompt {
    None,
    Login,
    Consent,
    SelectAccount,
}

#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: RedirectUri,
    pub response_mode: ResponseMode,
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: CodeChallenge,
    pub prompt: BTreeSet<Prompt>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    pub acr_values: Vec<String>,
    pub claims: Option<serde_json::Value>,
}

/// Why a request is refused, and where the refusal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Shown to the person on an error page; nothing is sent to the redirect URI.
    NoRedirect(OAuthError),
    /// Sent back to the client's (registered) redirect URI.
    Redirect { redirect_uri: RedirectUri, response_mode: ResponseMode, state: Option<String>, error: OAuthError },
}

/// The request's parameters, each at most once (RFC 6749 §3.1).
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Params, OAuthError> {
        let mut map = HashMap::new();
        for (key, value) in pairs {
            if map.insert(key.clone(), value).is_some() {
                return Err(OAuthError::invalid_request(format!("parameter {key} appears more than once")));
            }
        }
        Ok(Params(map))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// Checks whose failure may not be redirected: the client and its redirect URI.
pub fn check_redirect_uri(params: &Params, client: &ClientPolicy) -> Result<RedirectUri, OAuthError> {
    let Some(given) = params.get("redirect_uri") else {
        return Err(OAuthError::invalid_request("redirect_uri is required"));
    };
    // RFC 9700 §4.1.3: exact string comparison with a registered URI.
    client
        .redirect_uris
        .iter()
        .find(|registered| registered.as_str() == given)
        .cloned()
        .ok_or_else(|| OAuthError::invalid_request("redirect_uri is not registered for this client"))
}

fn check_response_mode(params: &Params) -> Result<ResponseMode, OAuthError> {
    match params.get("response_mode") {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(_) => Err(OAuthError::invalid_request("unsupported response_mode")),
    }
}

fn check_request_object(params: &Params) -> Result<(), OAuthError> {
    if params.get("request").is_some() {
        return Err(OAuthError::new(ErrorCode::RequestNotSupported, "request objects are not supported; use PAR"));
    }
    Ok(())
}

fn check_par(client: &ClientPolicy, from_par: bool) -> Result<(), OAuthError> {
    if client.require_par && !from_par {
        return Err(OAuthError::invalid_request("this client must use pushed authorization requests"));
    }
    Ok(())
}

fn check_response_type(params: &Params) -> Result<(), OAuthError> {
    match params.get("response_type") {
        Some("code") => Ok(()),
        None => Err(OAuthError::invalid_request("response_type is required")),
        Some(_) => Err(OAuthError::new(ErrorCode::UnsupportedResponseType, "only response_type=code is supported")),
    }
}

fn check_scope(params: &Params) -> Result<Scope, OAuthError> {
    let scope = Scope::parse(params.get("scope").unwrap_or(""))?;
    if !scope.contains("openid") {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "scope must include openid"));
    }
    Ok(scope)
}

fn check_state_and_nonce(params: &Params) -> Result<(), OAuthError> {
    if params.get("state").is_some_and(|s| s.len() > MAX_STATE) {
        return Err(OAuthError::invalid_request("state is too long"));
    }
    if params.get("nonce").is_some_and(|n| n.len() > MAX_NONCE) {
        return Err(OAuthError::invalid_request("nonce is too long"));
    }
    Ok(())
}

fn check_prompt(params: &Params) -> Result<BTreeSet<Prompt>, OAuthError> {
    let mut prompt = BTreeSet::new();
    for value in params.get("prompt").unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
        prompt.insert(match value {
            "none" => Prompt::None,
            "login" => Prompt::Login,
            "consent" => Prompt::Consent,
            "select_account" => Prompt::SelectAccount,
            _ => {
                return Err(OAuthError::invalid_request(format!("unsupported prompt value {value}")));
            }
        });
    }
    // OIDC Core §3.1.2.1: none with any other value is an error.
    if prompt.contains(&Prompt::None) && prompt.len() > 1 {
        return Err(OAuthError::invalid_request("prompt=none cannot be combined with other values"));
    }
    Ok(prompt)
}

fn check_max_age(params: &Params) -> Result<Option<i64>, OAuthError> {
    match params.get("max_age") {
        None => Ok(None),
        Some(text) => match text.parse::<i64>() {
            Ok(age) if age >= 0 => Ok(Some(age)),
            _ => Err(OAuthError::invalid_request("max_age must be a non-negative integer")),
        },
    }
}

fn check_claims(params: &Params) -> Result<Option<serde_json::Value>, OAuthError> {
    match params.get("claims") {
        None => Ok(None),
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value @ serde_json::Value::Object(_)) => Ok(Some(value)),
            _ => Err(OAuthError::invalid_request("claims must be a JSON object")),
        },
    }
}

/// Runs every check in order. `from_par` says the parameters came from a pushed request.
pub fn validate(params: &Params, client: &ClientPolicy, from_par: bool) -> Result<AuthorizationRequest, Rejection> {
    if params.get("client_id") != Some(client.client_id) {
        return Err(Rejection::NoRedirect(OAuthError::invalid_request("client_id does not match")));
    }
    let redirect_uri = check_redirect_uri(params, client).map_err(Rejection::NoRedirect)?;
    let state = params.get("state").map(str::to_string).filter(|s| s.len() <= MAX_STATE);
    let redirect = |response_mode: ResponseMode| {
        let redirect_uri = redirect_uri.clone();
        let state = state.clone();
        move |error: OAuthError| Rejection::Redirect { redirect_uri, response_mode, state, error }
    };
    let response_mode = check_response_mode(params).map_err(redirect(ResponseMode::Query))?;
    let back = redirect(response_mode);
    check_request_object(params).map_err(back.clone())?;
    check_par(client, from_par).map_err(back.clone())?;
    check_response_type(params).map_err(back.clone())?;
    check_state_and_nonce(params).map_err(back.clone())?;
    let scope = check_scope(params).map_err(back.clone())?;
    let code_challenge = CodeChallenge::parse(params.get("code_challenge"), params.get("code_challenge_method"))
        .map_err(back.clone())?;
    let prompt = check_prompt(params).map_err(back.clone())?;
    let max_age = check_max_age(params).map_err(back.clone())?;
    let claims = check_claims(params).map_err(back)?;
    let scope = scope.with_claims_of(claims.as_ref());
    Ok(AuthorizationRequest {
        client_id: client.client_id.to_string(),
        redirect_uri,
        response_mode,
        scope,
        state,
        nonce: params.get("nonce").map(str::to_string),
        code_challenge,
        prompt,
        max_age,
        login_hint: params.get("login_hint").map(|h| h.chars().take(256).collect()),
        ui_locales: params.get("ui_locales").map(|h| h.chars().take(64).collect()),
        acr_values: params
            .get("acr_values")
            .unwrap_or("")
            .split(' ')
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect(),
        claims,
    })
}

/// OIDC Core §3.1.2.1: `prompt=login` and `max_age` ask for an authentication made for
/// this request. Whether a code may be issued to a session authenticated at `auth_time`:
/// `fresh_for_this_request` says the session was opened by a sign-in made after this
/// very request asked for one (the authorization server's own proof). Checked wherever a
/// code is issued, not only where the sign-in is asked for.
pub fn needs_fresh_sign_in(
    request: &AuthorizationRequest,
    auth_time: i64,
    now: i64,
    fresh_for_this_request: bool,
) -> bool {
    if fresh_for_this_request {
        return false;
    }
    request.prompt.contains(&Prompt::Login) || request.max_age.is_some_and(|max| now.saturating_sub(auth_time) > max)
}

/// The `acr` requirements of a request, each a list of values any one of which meets it:
/// `acr_values`, and an essential `acr` in `claims` (OIDC Core §5.5.1.1). They hold
/// together: a looser `acr_values` never lowers an essential `acr` (finding 13.10a).
pub fn acr_requirements(request: &AuthorizationRequest) -> Vec<Vec<String>> {
    let mut requirements = Vec::new();
    if !request.acr_values.is_empty() {
        requirements.push(request.acr_values.clone());
    }
    let acr = request.claims.as_ref().and_then(|c| c.get("id_token")).and_then(|c| c.get("acr"));
    // A voluntary `acr` claim request is a preference, not a requirement.
    if let Some(acr) = acr.filter(|acr| acr.get("essential").and_then(|e| e.as_bool()) == Some(true)) {
        let mut values = Vec::new();
        if let Some(value) = acr.get("value").and_then(|v| v.as_str()) {
            values.push(value.to_string());
        }
        if let Some(list) = acr.get("values").and_then(|v| v.as_array()) {
            values.extend(list.iter().filter_map(|v| v.as_str()).map(str::to_string));
        }
        if !values.is_empty() {
            requirements.push(values);
        }
    }
    requirements
}

/// Every `acr` value a request names, in its requirements.
pub fn requested_acr(request: &AuthorizationRequest) -> Vec<String> {
    acr_requirements(request).into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(extra: &[(&str, &str)]) -> Params {
        let mut pairs: Vec<(String, String)> = [
            ("client_id", "agua-web"),
            ("redirect_uri", "https://agua.example/cb"),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", "xyz"),
            ("nonce", "n-1"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (key, value) in extra {
            pairs.retain(|(k, _)| k != key);
            pairs.push((key.to_string(), value.to_string()));
        }
        Params::from_pairs(pairs).unwrap()
    }

    fn client(uris: &[RedirectUri]) -> ClientPolicy<'_> {
        ClientPolicy { client_id: "agua-web", redirect_uris: uris, require_par: false }
    }

    fn registered() -> Vec<RedirectUri> {
        vec![RedirectUri::parse("https://agua.example/cb").unwrap()]
    }

    #[test]
    fn a_good_request_passes() {
        let uris = registered();
        let request = validate(&params(&[]), &client(&uris), false).unwrap();
        assert_eq!(request.state.as_deref(), Some("xyz"));
        assert_eq!(request.scope.to_string(), "openid profile");
    }

    #[test]
    fn a_redirect_uri_not_registered_exactly_never_redirects() {
        let uris = registered();
        for uri in ["https://agua.example/cb/", "https://agua.example/cb?x=1", "https://evil.example/cb", ""] {
            let result = validate(&params(&[("redirect_uri", uri)]), &client(&uris), false);
            assert!(matches!(result, Err(Rejection::NoRedirect(_))), "{uri}");
        }
    }

    #[test]
    fn later_errors_go_back_with_state() {
        let uris = registered();
        let cases = [
            (("code_challenge_method", "plain"), ErrorCode::InvalidRequest),
            (("response_type", "token"), ErrorCode::UnsupportedResponseType),
            (("scope", "profile"), ErrorCode::InvalidScope),
            (("prompt", "none login"), ErrorCode::InvalidRequest),
            (("max_age", "-1"), ErrorCode::InvalidRequest),
            (("request", "eyJ..."), ErrorCode::RequestNotSupported),
            (("claims", "[1]"), ErrorCode::InvalidRequest),
        ];
        for ((key, value), code) in cases {
            match validate(&params(&[(key, value)]), &client(&uris), false) {
                Err(Rejection::Redirect { error, state, .. }) => {
                    assert_eq!(error.code, code, "{key}={value}");
                    assert_eq!(state.as_deref(), Some("xyz"));
                }
                other => panic!("{key}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn pkce_is_required() {
        let uris = registered();
        let mut pairs = vec![];
        for key in ["client_id", "redirect_uri", "response_type", "scope"] {
            pairs.push((key.to_string(), params(&[]).get(key).unwrap().to_string()));
        }
        let result = validate(&Params::from_pairs(pairs).unwrap(), &client(&uris), false);
        assert!(matches!(result, Err(Rejection::Redirect { error, .. }) if error.code == ErrorCode::InvalidRequest));
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let pairs = vec![("state".to_string(), "a".to_string()), ("state".to_string(), "b".to_string())];
        assert!(Params::from_pairs(pairs).is_err());
    }

    #[test]
    fn prompt_login_and_max_age_need_a_sign_in_made_for_the_request() {
        let uris = registered();
        let login = validate(&params(&[("prompt", "login")]), &client(&uris), false).unwrap();
        assert!(needs_fresh_sign_in(&login, 1000, 1000, false), "an old session never does for prompt=login");
        assert!(!needs_fresh_sign_in(&login, 1000, 1000, true));
        let aged = validate(&params(&[("max_age", "60")]), &client(&uris), false).unwrap();
        assert!(!needs_fresh_sign_in(&aged, 1000, 1060, false));
        assert!(needs_fresh_sign_in(&aged, 1000, 1061, false));
        assert!(!needs_fresh_sign_in(&aged, 1000, 5000, true));
        let plain = validate(&params(&[]), &client(&uris), false).unwrap();
        assert!(!needs_fresh_sign_in(&plain, 0, i64::MAX, false));
    }

    #[test]
    fn essential_acr_in_claims_counts() {
        let uris = registered();
        let claims = r#"{"id_token":{"acr":{"essential":true,"values":["urn:llave:loa:2"]}}}"#;
        let request =
            validate(&params(&[("claims", claims), ("acr_values", "urn:llave:loa:1")]), &client(&uris), false).unwrap();
        assert_eq!(requested_acr(&request), ["urn:llave:loa:1", "urn:llave:loa:2"]);
        let voluntary = r#"{"id_token":{"acr":{"values":["urn:llave:loa:3"]}}}"#;
        let request = validate(&params(&[("claims", voluntary)]), &client(&uris), false).unwrap();
        assert!(requested_acr(&request).is_empty(), "only an essential acr insists");
        let both = r#"{"id_token":{"acr":{"essential":true,"value":"urn:llave:loa:3"}}}"#;
        let request =
            validate(&params(&[("claims", both), ("acr_values", "urn:llave:loa:1")]), &client(&uris), false).unwrap();
        assert_eq!(acr_requirements(&request), [vec!["urn:llave:loa:1"], vec!["urn:llave:loa:3"]]);
    }
}
