//! Languages: Spanish (es-MX) first, English second. Messages live in Fluent files under
//! `locales/`; nothing a person reads is written in the code. The language is the
//! `llave_lang` cookie set by the visible switch, else the best `Accept-Language` match,
//! else Spanish.

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{Loader, static_loader};
use unic_langid::{LanguageIdentifier, langid};

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "es-MX",
        // Bidi isolation marks would show up in plain-text e-mails and HTML attributes.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

pub const LANG_COOKIE: &str = "llave_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Es,
    En,
}

static ES_MX: LanguageIdentifier = langid!("es-MX");
static EN: LanguageIdentifier = langid!("en");

impl Lang {
    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "es" => Some(Lang::Es),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The BCP 47 tag, for `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es-MX",
            Lang::En => "en",
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Es => Lang::En,
            Lang::En => Lang::Es,
        }
    }

    fn id(self) -> &'static LanguageIdentifier {
        match self {
            Lang::Es => &ES_MX,
            Lang::En => &EN,
        }
    }

    /// The message `key` in this language.
    pub fn t(self, key: &str) -> String {
        LOCALES.lookup(self.id(), key)
    }

    /// The message `key`, if this language has one.
    pub fn try_t(self, key: &str) -> Option<String> {
        LOCALES.try_lookup(self.id(), key)
    }

    /// The message `key` with named arguments.
    pub fn t_with(self, key: &str, args: &[(&'static str, String)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> =
            args.iter().map(|(name, value)| (Cow::Borrowed(*name), FluentValue::from(value.clone()))).collect();
        LOCALES.lookup_with_args(self.id(), key, &args)
    }

    /// Picks the language from the cookie, then `Accept-Language` (RFC 9110 §12.5.4).
    pub fn negotiate(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = cookie.and_then(Lang::parse) {
            return lang;
        }
        let Some(header) = accept_language else {
            return Lang::default();
        };
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag)
                && quality > 0.0
                && best.is_none_or(|(q, _)| quality > q)
            {
                best = Some((quality, lang));
            }
        }
        best.map(|(_, lang)| lang).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_unless_asked_otherwise() {
        assert_eq!(Lang::negotiate(None, None), Lang::Es);
        assert_eq!(Lang::negotiate(None, Some("fr-FR, de;q=0.8")), Lang::Es);
        assert_eq!(Lang::negotiate(None, Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("en;q=0.5, es-MX;q=0.9")), Lang::Es);
        assert_eq!(Lang::negotiate(Some("en"), Some("es-MX")), Lang::En);
        assert_eq!(Lang::negotiate(Some("xx"), Some("en")), Lang::En);
    }

    #[test]
    fn messages_exist_in_both_languages() {
        assert_eq!(Lang::Es.t("signin-button"), "Iniciar sesión");
        assert_eq!(Lang::En.t("signin-button"), "Sign in");
        assert_eq!(Lang::Es.t("signup-button"), "Crear cuenta");
        assert_eq!(Lang::En.t("signup-button"), "Create account");
    }
}
