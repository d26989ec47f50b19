//! System data in plain words for the person's pages (issue 14, item 6): the browser and
//! device behind a User-Agent, the ways a person signed in (`amr`), and the details of their
//! security history, instead of raw tokens like `pwd otp mfa`, `officer=…` or a session id.

use crate::i18n::Lang;

/// "Chrome en un teléfono Android", "Firefox on a Windows computer"; the operator's command
/// line for `llave-cli`; "un navegador" when the agent says nothing recognisable.
pub fn device(lang: Lang, user_agent: &str) -> String {
    let ua = user_agent;
    if ua.starts_with("llave-cli") {
        return lang.t("device-cli");
    }
    let browser = if ua.contains("Edg/") || ua.contains("EdgA/") || ua.contains("EdgiOS/") {
        Some("Edge")
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        Some("Opera")
    } else if ua.contains("SamsungBrowser/") {
        Some("Samsung Internet")
    } else if ua.contains("Firefox/") || ua.contains("FxiOS/") {
        Some("Firefox")
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") || ua.contains("Chromium/") {
        Some("Chrome")
    } else if ua.contains("Safari/") && (ua.contains("Macintosh") || ua.contains("iPhone") || ua.contains("iPad")) {
        Some("Safari")
    } else {
        None
    };
    let platform = if ua.contains("iPhone") {
        "device-iphone"
    } else if ua.contains("iPad") {
        "device-ipad"
    } else if ua.contains("Android") {
        if ua.contains("Mobile") { "device-android-phone" } else { "device-android-tablet" }
    } else if ua.contains("CrOS") {
        "device-chromebook"
    } else if ua.contains("Windows") {
        "device-windows"
    } else if ua.contains("Macintosh") || ua.contains("Mac OS X") {
        "device-mac"
    } else if ua.contains("Linux") || ua.contains("X11") {
        "device-linux"
    } else {
        "device-unknown"
    };
    let browser = browser.map(str::to_string).unwrap_or_else(|| lang.t("device-a-browser"));
    lang.t_with(platform, &[("browser", browser)])
}

/// The ways of signing in in a session's `amr` ("pwd otp mfa"): "contraseña y código de tu
/// app". `mfa` only says there were two; unknown methods are left out.
pub fn methods(lang: Lang, amr: &str) -> String {
    let words: Vec<String> = amr
        .split([' ', ','])
        .filter_map(|method| match method {
            "pwd" | "password" => Some("method-password"),
            "otp" | "totp" => Some("method-totp"),
            "hwk" | "swk" | "passkey" => Some("method-passkey"),
            "recovery" => Some("method-recovery-code"),
            "user" | "face" | "fpt" => Some("method-biometric"),
            _ => None,
        })
        .map(|key| lang.t(key))
        .fold(Vec::new(), |mut seen, word| {
            if !seen.contains(&word) {
                seen.push(word);
            }
            seen
        });
    match words.split_last() {
        None => String::new(),
        Some((last, [])) => capitalised(last),
        Some((last, rest)) => capitalised(&format!("{} {} {last}", rest.join(", "), lang.t("words-and"))),
    }
}

/// The detail of an event of `kind` in the person's history, in words: what the person can
/// recognise (the passkey's name, the provider, "con ayuda de personal de un módulo"), never
/// session ids, officers' CURPs or internal codes.
pub fn event_detail(lang: Lang, kind: &str, detail: &str) -> String {
    let detail = detail.trim();
    if detail.is_empty() || matches!(kind, "sign_out" | "session_ended" | "session_expired") {
        return String::new();
    }
    if let Some(name) = detail.strip_prefix("passkey=") {
        return lang.t_with("detail-passkey", &[("name", name.to_string())]);
    }
    if let Some(helped) = assisted(lang, detail) {
        return helped;
    }
    if let Some(rest) = detail.strip_prefix("provider=") {
        let provider = rest.split(" purpose=").next().unwrap_or(rest);
        return lang.t_with("detail-provider", &[("provider", provider.to_string())]);
    }
    match (kind, detail) {
        (_, "self") => lang.t("detail-self"),
        (_, "totp") => lang.t("method-totp"),
        (_, "recovery code") => lang.t("method-recovery-code"),
        (_, "second factor") => lang.t("detail-second-factor"),
        (_, "password") => lang.t("method-password"),
        ("sign_in" | "stepped_up" | "tokens_issued", methods_text) => methods(lang, methods_text),
        // Anything else is shown only if it is words, not a code: no `=`, no long token.
        (_, text) if !text.contains('=') && text.split_whitespace().all(|w| w.len() < 24) => text.to_string(),
        _ => String::new(),
    }
}

/// "Con ayuda de Ana López, Oficina Tlalpan" for the detail of an officer's act
/// (`officer=<CURP> …; helper=<name>; office=<office>`); "con ayuda de personal de un
/// módulo" for one recorded before officers' names and offices were; `None` for any other.
pub fn assisted(lang: Lang, detail: &str) -> Option<String> {
    if !detail.trim_start().starts_with("officer=") {
        return None;
    }
    let part = |name: &str| {
        detail.split("; ").find_map(|part| part.strip_prefix(name)).map(str::trim).filter(|v| !v.is_empty())
    };
    Some(match (part("helper="), part("office=")) {
        (Some(name), Some(office)) => {
            lang.t_with("detail-helped-by-at", &[("name", name.to_string()), ("office", office.to_string())])
        }
        (Some(name), None) => lang.t_with("detail-helped-by", &[("name", name.to_string())]),
        _ => lang.t("detail-officer"),
    })
}

/// The detail an officer's act records: who (CURP, for the audit), what they checked
/// (`extra`, e.g. `document=ine`), and the name and office the person will read.
pub fn assisted_detail(officer_curp: &str, extra: &str, name: &str, office: Option<&str>) -> String {
    let clean = |text: &str| text.replace([';', '='], " ").split_whitespace().collect::<Vec<_>>().join(" ");
    let mut detail = format!("officer={officer_curp}");
    if !extra.is_empty() {
        detail.push(' ');
        detail.push_str(extra);
    }
    detail.push_str(&format!("; helper={}", clean(name)));
    if let Some(office) = office.map(clean).filter(|o| !o.is_empty()) {
        detail.push_str(&format!("; office={office}"));
    }
    detail
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANDROID_CHROME: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
                                  Chrome/130.0.0.0 Mobile Safari/537.36";
    const WINDOWS_FIREFOX: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
    const IPHONE_SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                                 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

    #[test]
    fn devices_are_named_in_words() {
        assert_eq!(device(Lang::Es, ANDROID_CHROME), "Chrome en un teléfono Android");
        assert_eq!(device(Lang::En, WINDOWS_FIREFOX), "Firefox on a Windows computer");
        assert_eq!(device(Lang::Es, IPHONE_SAFARI), "Safari en un iPhone");
        assert_eq!(device(Lang::Es, "curl/8.0"), "Un navegador en un dispositivo desconocido");
        assert_eq!(device(Lang::Es, ""), "Un navegador en un dispositivo desconocido");
    }

    #[test]
    fn sign_in_methods_are_words() {
        assert_eq!(methods(Lang::Es, "pwd otp mfa"), "Contraseña y código de tu app");
        assert_eq!(methods(Lang::En, "pwd"), "Password");
        assert_eq!(methods(Lang::Es, "hwk user mfa"), "Llave de acceso y huella o rostro");
        assert_eq!(methods(Lang::Es, "mfa"), "");
    }

    #[test]
    fn details_hide_codes_and_ids() {
        assert_eq!(event_detail(Lang::Es, "sign_out", "AbCdEf0123456789"), "");
        assert_eq!(
            event_detail(Lang::Es, "access_recovered", "officer=MOXG800101HDFRRR09 document=ine"),
            "Con ayuda de personal de un módulo"
        );
        let detail = assisted_detail("MOXG800101HDFRRR09", "document=ine", "Ana López Ruiz", Some("Oficina Tlalpan"));
        assert_eq!(detail, "officer=MOXG800101HDFRRR09 document=ine; helper=Ana López Ruiz; office=Oficina Tlalpan");
        assert_eq!(
            event_detail(Lang::Es, "account_opened_at_counter", &detail),
            "Con ayuda de Ana López Ruiz, Oficina Tlalpan"
        );
        assert_eq!(
            event_detail(Lang::En, "account_activated", &detail),
            "With help from Ana López Ruiz, Oficina Tlalpan"
        );
        let no_office = assisted_detail("MOXG800101HDFRRR09", "", "Ana; office=X", None);
        assert_eq!(event_detail(Lang::Es, "identity_verified", &no_office), "Con ayuda de Ana office X");
        assert_eq!(event_detail(Lang::Es, "passkey_added", "passkey=Mi teléfono"), "Llave de acceso «Mi teléfono»");
        assert_eq!(event_detail(Lang::En, "verification_started", "provider=Verifica purpose=verify"), "With Verifica");
        assert_eq!(event_detail(Lang::Es, "sign_up", "self"), "Tú, en línea");
        assert_eq!(event_detail(Lang::Es, "sign_in", "pwd otp mfa"), "Contraseña y código de tu app");
        assert_eq!(event_detail(Lang::Es, "throttled", "second factor"), "Segundo paso de inicio de sesión");
        assert_eq!(event_detail(Lang::Es, "other", "key=value"), "");
        assert_eq!(event_detail(Lang::Es, "other", "hzXOsB0Qhs0123456789abcdefXYZ"), "");
    }
}
