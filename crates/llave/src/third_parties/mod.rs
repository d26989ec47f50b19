//! Third parties: organisations outside government (a bank, an employer, a landlord, a
//! school) that ask a person for data the government holds, by the person's consent, for one
//! of a published list of purposes. They are registered apart from entities
//! (`llave third-party add`); their clients (`llave client add --third-party`) are held to
//! the FAPI 2.0 Security Profile (`oidc::fapi`). The purposes are open data at
//! `/datos/propositos.json` (`routes.rs`).

pub mod grants;
pub mod routes;
pub mod shared_data;

use crate::store::third_parties::ThirdParty;
use crate::store::{Event, EventKind, Store, StoreError, Tx};

pub use crate::consent::sharing::{PURPOSES, Purpose, purpose};

#[derive(Debug, thiserror::Error)]
pub enum ThirdPartyError {
    #[error("{0}")]
    Invalid(String),
    #[error("unknown purpose code {0:?} (llave third-party purposes lists them)")]
    UnknownPurpose(String),
    #[error("a third party with the slug {0:?} already exists")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `llave third-party add` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewThirdParty {
    pub slug: String,
    pub legal_name: String,
    pub tax_id: String,
    pub purposes: Vec<String>,
}

/// A slug: lower-case letters, digits and hyphens, 2 to 40 characters (as an entity's).
fn check_slug(slug: &str) -> Result<(), ThirdPartyError> {
    if crate::store::valid_slug(slug) {
        Ok(())
    } else {
        Err(ThirdPartyError::Invalid(format!("invalid slug {slug:?}: use 2-40 lower-case letters, digits and hyphens")))
    }
}

/// A Mexican RFC (the tax id): 3 letters (a company) or 4 (a person), the date of
/// incorporation or birth as YYMMDD, and a 3-character homoclave. Returned upper-cased.
pub fn parse_tax_id(text: &str) -> Result<String, ThirdPartyError> {
    let rfc: String = text.trim().to_uppercase();
    let chars: Vec<char> = rfc.chars().collect();
    let letters = match chars.len() {
        12 => 3,
        13 => 4,
        _ => {
            return Err(ThirdPartyError::Invalid(format!("invalid --tax-id {text:?}: an RFC has 12 or 13 characters")));
        }
    };
    let name_ok = chars[..letters].iter().all(|c| c.is_ascii_uppercase() || *c == 'Ñ' || *c == '&');
    let date = &chars[letters..letters + 6];
    let date_ok = date.iter().all(char::is_ascii_digit) && {
        let month = date[2].to_digit(10).unwrap_or(0) * 10 + date[3].to_digit(10).unwrap_or(0);
        let day = date[4].to_digit(10).unwrap_or(0) * 10 + date[5].to_digit(10).unwrap_or(0);
        (1..=12).contains(&month) && (1..=31).contains(&day)
    };
    let homoclave_ok = chars[letters + 6..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if name_ok && date_ok && homoclave_ok {
        Ok(rfc)
    } else {
        Err(ThirdPartyError::Invalid(format!("invalid --tax-id {text:?}: not an RFC")))
    }
}

/// The purpose codes asked for, each published, without repeats, in the order given.
pub fn parse_purposes(codes: &[String]) -> Result<Vec<String>, ThirdPartyError> {
    let mut out: Vec<String> = Vec::new();
    for code in codes.iter().flat_map(|c| c.split(',')).map(str::trim).filter(|c| !c.is_empty()) {
        if purpose(code).is_none() {
            return Err(ThirdPartyError::UnknownPurpose(code.to_string()));
        }
        if !out.iter().any(|c| c == code) {
            out.push(code.to_string());
        }
    }
    if out.is_empty() {
        return Err(ThirdPartyError::Invalid("--purposes needs at least one purpose code".into()));
    }
    Ok(out)
}

/// Registers a third party (`llave third-party add`), as one act with its
/// `third_party_registered` event.
pub async fn register(store: &Store, new: &NewThirdParty, by: &str) -> Result<ThirdParty, ThirdPartyError> {
    check_slug(&new.slug)?;
    let legal_name = new.legal_name.trim();
    if legal_name.is_empty() || legal_name.chars().count() > 200 || legal_name.chars().any(char::is_control) {
        return Err(ThirdPartyError::Invalid("--legal-name must have 1 to 200 characters".into()));
    }
    let tax_id = parse_tax_id(&new.tax_id)?;
    let purposes = parse_purposes(&new.purposes)?;
    let registered = store
        .act("third_party_registered", async |tx: &mut Tx| {
            let now = tx.at();
            let third_party = tx.create_third_party(&new.slug, legal_name, &tax_id, &purposes, now).await?;
            let detail = format!("third_party={} purposes={}", new.slug, purposes.join(","));
            tx.event(Event::system(EventKind::ThirdPartyRegistered, None, by, &detail));
            Ok::<_, StoreError>(third_party)
        })
        .await;
    match registered {
        Ok(third_party) => Ok(third_party),
        Err(StoreError::Conflict(_)) => Err(ThirdPartyError::Exists(new.slug.clone())),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_ids_of_companies_and_people_parse_and_others_do_not() {
        assert_eq!(parse_tax_id("bej990101ab1").unwrap(), "BEJ990101AB1");
        assert_eq!(parse_tax_id("GOMA800229XY9").unwrap(), "GOMA800229XY9");
        for bad in ["", "BEJ990101", "BEJ991301AB1", "BEJ990132AB1", "B3J990101AB1", "BEJ990101AB-"] {
            assert!(parse_tax_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn purposes_must_be_published_codes() {
        let asked = vec!["apertura_cuenta,credito".to_string(), "credito".to_string()];
        assert_eq!(parse_purposes(&asked).unwrap(), vec!["apertura_cuenta", "credito"]);
        assert!(matches!(parse_purposes(&["casino".into()]), Err(ThirdPartyError::UnknownPurpose(c)) if c == "casino"));
        assert!(parse_purposes(&[]).is_err());
    }

    #[test]
    fn every_purpose_has_a_code_a_title_and_a_description() {
        for p in PURPOSES {
            assert!(p.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{}", p.code);
            assert!(!p.title.is_empty() && !p.description.is_empty());
        }
        assert!(purpose("apertura_cuenta").is_some());
    }
}
