//! Redirect URIs: absolute, no fragment, https unless the host is a loopback address
//! (RFC 8252 §7.3), and compared by exact string match (RFC 9700 §4.1.3).

use url::Url;

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    #[error("not an absolute URL")]
    NotAbsolute,
    #[error("a redirect URI must not have a fragment")]
    Fragment,
    #[error("https is required except for loopback hosts (127.0.0.1, [::1], localhost)")]
    NotHttps,
    #[error("redirect URIs must not carry credentials")]
    Credentials,
}

impl RedirectUri {
    pub fn parse(text: &str) -> Result<RedirectUri, RedirectUriError> {
        let url = Url::parse(text).map_err(|_| RedirectUriError::NotAbsolute)?;
        if url.fragment().is_some() || text.contains('#') {
            return Err(RedirectUriError::Fragment);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectUriError::Credentials);
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            _ => return Err(RedirectUriError::NotHttps),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(RedirectUriError::NotAbsolute);
        }
        // Kept exactly as registered: comparison is by string, never normalised.
        Ok(RedirectUri(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This URI with query parameters appended (keeping any it already has).
    pub fn with_params(&self, params: &[(&str, &str)]) -> String {
        let mut url = match Url::parse(&self.0) {
            Ok(url) => url,
            Err(_) => return self.0.clone(),
        };
        {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in params {
                pairs.append_pair(key, value);
            }
        }
        url.to_string()
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(domain)) => domain == "localhost",
        None => false,
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = RedirectUriError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        RedirectUri::parse(&text)
    }
}

impl From<RedirectUri> for String {
    fn from(uri: RedirectUri) -> String {
        uri.0
    }
}

impl std::fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_or_loopback_only() {
        assert!(RedirectUri::parse("https://agua.cdmx.gob.mx/callback").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:3000/cb").is_ok());
        assert!(RedirectUri::parse("http://localhost/cb").is_ok());
        assert!(RedirectUri::parse("http://[::1]:8080/cb").is_ok());
        assert_eq!(RedirectUri::parse("http://agua.cdmx.gob.mx/cb"), Err(RedirectUriError::NotHttps));
        assert_eq!(RedirectUri::parse("https://x.mx/cb#frag"), Err(RedirectUriError::Fragment));
        assert_eq!(RedirectUri::parse("/cb"), Err(RedirectUriError::NotAbsolute));
        assert_eq!(RedirectUri::parse("https://u:p@x.mx/cb"), Err(RedirectUriError::Credentials));
        assert_eq!(RedirectUri::parse("javascript:alert(1)"), Err(RedirectUriError::NotHttps));
    }

    #[test]
    fn parameters_are_appended_and_encoded() {
        let uri = RedirectUri::parse("https://x.mx/cb?entity=agua").unwrap();
        assert_eq!(
            uri.with_params(&[("code", "a b"), ("state", "s&t")]),
            "https://x.mx/cb?entity=agua&code=a+b&state=s%26t"
        );
    }
}
