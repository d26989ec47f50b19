//! The reuse decisions, pure: whether a look-up may give entity A a grant to read what a
//! person gave entity B, and whether a grant still lets A read before it is spent. Both
//! take snapshots the async code read (the procedure as published, the basis legal
//! reviewers approved, the person's standing consents, the grant, `now`) and answer with
//! the refusal's code and description, exactly as the API returns them; the async code in
//! `records` reads, calls and acts (logs the refusal, makes or spends the grant).
//!
//! The rules (DESIGN.md §6): only the entity that runs the procedure asks, only for a kind
//! the catalog lists as its requirement; a basis reviewers approved spares the consent and
//! points to any holder but the reader itself, otherwise the person's standing consent
//! names the holders; a grant is one read, by its entity, of its record, for its procedure,
//! before it expires, while its consent or its basis still stands.

use crate::store::records::{Grant, Locator, ReuseConsent};

/// What a look-up or a grant rests on; its name is what the grant and the access log keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The person's standing consent to this reuse.
    Consent,
    /// A legal basis of the procedure that legal reviewers approved for reuse.
    LegalBasis,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Consent => "consent",
            Basis::LegalBasis => "legal_basis",
        }
    }

    pub fn parse(name: &str) -> Option<Basis> {
        match name {
            "consent" => Some(Basis::Consent),
            "legal_basis" => Some(Basis::LegalBasis),
            _ => None,
        }
    }
}

/// A refused look-up: the API's error code and its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub description: String,
}

/// What a look-up decides on.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    /// The procedure, as published.
    pub procedure: &'a str,
    /// The slug of the entity that runs it.
    pub run_by: &'a str,
    /// The requirement kinds the catalog lists for it.
    pub required_kinds: &'a [&'a str],
    /// The slug of the entity asking.
    pub reader: &'a str,
    /// The kind asked for.
    pub kind: &'a str,
    /// The citation of the procedure's basis legal reviewers approved for reuse, if any.
    pub approved_basis: Option<&'a str>,
    /// The person's standing (not withdrawn) consents to this reader, procedure and kind.
    pub consents: &'a [ReuseConsent],
}

/// On what the look-up may point the reader to a record, and so where to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed<'a> {
    /// Any holder but the reader, under this citation.
    LegalBasis(&'a str),
    /// The holders these consents name.
    Consent(&'a [ReuseConsent]),
}

impl Allowed<'_> {
    pub fn basis(&self) -> Basis {
        match self {
            Allowed::LegalBasis(_) => Basis::LegalBasis,
            Allowed::Consent(_) => Basis::Consent,
        }
    }
}

/// Whether the reader may look up this kind for this procedure, and on what basis.
pub fn lookup<'a>(facts: &Lookup<'a>) -> Result<Allowed<'a>, Refused> {
    if facts.run_by != facts.reader {
        return Err(Refused {
            code: "not_your_procedure",
            description: format!("procedure {} is run by another entity", facts.procedure),
        });
    }
    if !facts.required_kinds.contains(&facts.kind) {
        return Err(Refused {
            code: "kind_not_required",
            description: format!("the catalog does not list {:?} as a requirement of {}", facts.kind, facts.procedure),
        });
    }
    // Only a basis legal reviewers approved spares the consent (catalog::review).
    if let Some(citation) = facts.approved_basis {
        return Ok(Allowed::LegalBasis(citation));
    }
    if facts.consents.is_empty() {
        return Err(Refused {
            code: "consent_required",
            description: "the person has not consented to this reuse and the procedure's legal basis does not allow \
                          it without consent; ask for it at sign-in (authorization_details)"
                .into(),
        });
    }
    Ok(Allowed::Consent(facts.consents))
}

/// The record a look-up points to, and the consent it rests on (for a consent basis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub locator: Locator,
    pub consent_id: Option<String>,
}

/// Whether a record is in force on `today` (`YYYY-MM-DD`, the city's date): not withdrawn,
/// and within its validity.
pub fn in_force(locator: &Locator, today: &str) -> bool {
    locator.in_force(today)
}

/// Chooses among the person's records of the kind (`found`: all of them for a legal basis,
/// those of the consented holders for consent) the one to point to: in force, never the
/// reader's own (it reads those directly), the most recently updated under consent.
/// `None`: the person has no such record.
pub fn choose(allowed: &Allowed<'_>, reader_entity_id: i64, mut found: Vec<Locator>, today: &str) -> Option<Chosen> {
    match allowed {
        Allowed::LegalBasis(_) => {
            let locator = found.into_iter().filter(|l| l.entity_id != reader_entity_id).find(|l| in_force(l, today))?;
            Some(Chosen { locator, consent_id: None })
        }
        Allowed::Consent(consents) => {
            found.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then_with(|| a.record_id.cmp(&b.record_id)));
            let locator = found.into_iter().find(|l| in_force(l, today))?;
            let consent_id = consents.iter().find(|c| c.holder_entity_id == locator.entity_id).map(|c| c.id.clone());
            Some(Chosen { locator, consent_id })
        }
    }
}

/// What a grant read decides on.
#[derive(Debug, Clone, Copy)]
pub struct GrantRead<'a> {
    /// The grant found by the presented token.
    pub grant: Option<&'a Grant>,
    /// Whether a record has the id the reader named.
    pub record_exists: bool,
    pub reader_entity_id: i64,
    /// The record and procedure the reader named (the procedure trimmed).
    pub record_id: &'a str,
    pub procedure: &'a str,
    pub now: i64,
    /// For a consent grant: whether its consent is on record and not withdrawn.
    pub consent_stands: bool,
    /// For a legal-basis grant: the citation reviewers approve for its procedure today.
    pub approved_basis: Option<&'a str>,
}

/// Why a grant may not be spent (the description of the `invalid_grant` refusal), or
/// `None` when it may. The first failing rule answers.
pub fn grant_problem(facts: &GrantRead<'_>) -> Option<&'static str> {
    let Some(grant) = facts.grant else { return Some("the grant is unknown") };
    if grant.reader_entity_id != facts.reader_entity_id {
        return Some("the grant was given to another entity");
    }
    if grant.record_id != facts.record_id {
        return Some("the grant is for another record");
    }
    if grant.procedure != facts.procedure {
        return Some("the grant is for another procedure");
    }
    if grant.spent_at.is_some() {
        return Some("the grant was already used");
    }
    if grant.expires_at <= facts.now {
        return Some("the grant has expired");
    }
    if !facts.record_exists {
        return Some("no record has that id");
    }
    match Basis::parse(&grant.basis) {
        Some(Basis::Consent) if !facts.consent_stands => {
            Some("the person withdrew the consent the grant was given under")
        }
        // The basis must still be the one reviewers approve: a revoked or changed approval
        // ends the grants made under it.
        Some(Basis::LegalBasis)
            if facts.approved_basis.is_none() || facts.approved_basis != grant.legal_basis.as_deref() =>
        {
            Some("the legal basis the grant was given under is no longer approved")
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
