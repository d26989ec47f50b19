//! Reading and writing cookies. Every cookie llave sets is `HttpOnly` and `SameSite`, and
//! `Secure` with the `__Host-` prefix when the issuer is https (RFC 6265bis §4.1.3.2).

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// The value of the cookie `name`, if the request carries it.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_string())
}

#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    /// The name a cookie is sent under: `__Host-` prefixed when secure.
    pub fn name(self, base: &str) -> String {
        if self.secure { format!("__Host-{base}") } else { base.to_string() }
    }

    /// A `Set-Cookie` value. `max_age` None makes a browser-session cookie.
    pub fn set(self, base: &str, value: &str, max_age: Option<i64>, same_site: &str) -> String {
        let mut cookie = format!("{}={value}; Path=/; HttpOnly; SameSite={same_site}", self.name(base));
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie
    }

    pub fn clear(self, base: &str) -> String {
        self.set(base, "", Some(0), "Lax")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_many() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, "a=1; llave_session=abc.def; b=2".parse().unwrap());
        assert_eq!(get(&headers, "llave_session").as_deref(), Some("abc.def"));
        assert_eq!(get(&headers, "missing"), None);
    }

    #[test]
    fn secure_cookies_use_the_host_prefix() {
        let policy = CookiePolicy { secure: true };
        let cookie = policy.set("llave_session", "x", None, "Lax");
        assert!(cookie.starts_with("__Host-llave_session=x; Path=/; HttpOnly; SameSite=Lax"));
        assert!(cookie.ends_with("; Secure"));
    }
}
