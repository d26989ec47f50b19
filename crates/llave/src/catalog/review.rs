//! Legal bases that allow reuse without consent are a decision of the hub, not of the entity
//! that benefits. A catalog editor may mark a procedure's legal basis `allows_reuse`, but the
//! mark takes effect only once people holding the hub role `legal_reviewer` approve that
//! basis; until then (pending, or rejected) every look-up needs the person's consent, as if
//! no such basis existed.
//!
//! A decision is about one text: the law, the article, the entity and the requirement kinds
//! the procedure lists (those are what the basis would let the entity read). Changing any of
//! them leaves the basis pending again (`fingerprint`). Nobody who edits the procedure's
//! entity, or who edited the procedure, may decide on it; a procedure that lists a sensitive
//! kind of record (`model::Sensitivity`) needs two different reviewers' approval, and any
//! reviewer's rejection stands until the reviewer changes it. Pure: no I/O.

use serde::Serialize;

use super::model::{LegalBasis, Procedure, is_sensitive};
use crate::store::roles::HUB;

/// The hub role that decides on legal bases (`llave staff grant --role legal-reviewer`).
pub const ROLE: &str = crate::store::roles::LEGAL_REVIEWER;
/// The role of an entity's catalog editors (scope: the entity's slug).
pub const EDITOR_ROLE: &str = "catalog_editor";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    Rejected,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Decision> {
        match text {
            "approved" => Some(Decision::Approved),
            "rejected" => Some(Decision::Rejected),
            _ => None,
        }
    }
}

/// One reviewer's decision on one text of a procedure's basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    /// The procedure's slug.
    pub procedure: String,
    pub fingerprint: String,
    pub reviewer_account_id: i64,
    pub decision: Decision,
    pub at: i64,
}

impl Review {
    /// How the reviewer is named in histories, like every other actor (`account:N`).
    pub fn reviewer(&self) -> String {
        actor_label(self.reviewer_account_id)
    }
}

pub fn actor_label(account_id: i64) -> String {
    format!("account:{account_id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BasisState {
    Pending,
    Approved,
    Rejected,
}

impl BasisState {
    pub fn as_str(self) -> &'static str {
        match self {
            BasisState::Pending => "pending",
            BasisState::Approved => "approved",
            BasisState::Rejected => "rejected",
        }
    }
}

/// A basis that would allow reuse without consent, with where its review stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewedBasis {
    pub procedure: String,
    pub procedure_name: String,
    pub entity: String,
    pub law: String,
    pub article: Option<String>,
    pub url: Option<String>,
    /// The requirement kinds the basis would let the entity read, sorted.
    pub kinds: Vec<String>,
    pub fingerprint: String,
    pub state: BasisState,
    pub approvals: usize,
    pub required: usize,
    pub reviews: Vec<Review>,
}

impl ReviewedBasis {
    /// "Law, article", as the access log names it.
    pub fn citation(&self) -> String {
        citation(&self.law, self.article.as_deref())
    }
}

pub fn citation(law: &str, article: Option<&str>) -> String {
    match article {
        Some(article) => format!("{law}, {article}"),
        None => law.to_string(),
    }
}

/// The requirement kinds a procedure lists, sorted, each once.
pub fn kinds_of(procedure: &Procedure) -> Vec<String> {
    let mut kinds: Vec<String> = procedure.requirements.iter().map(|r| r.kind.clone()).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// What a decision is about: the basis's law and article, the entity it lets read and
/// the kinds it lets it read. Any change to one of them needs a new decision.
pub fn fingerprint(procedure: &Procedure, basis: &LegalBasis) -> String {
    serde_json::json!([procedure.entity, basis.law, basis.article, kinds_of(procedure)]).to_string()
}

/// Distinct approvals a procedure's basis needs: two when it lists a sensitive kind.
pub fn approvals_required(procedure: &Procedure) -> usize {
    if procedure.requirements.iter().any(|r| is_sensitive(&r.kind)) { 2 } else { 1 }
}

/// Every basis of `procedure` that would allow reuse, with its state given `reviews`
/// (the reviews of any procedure; those of others are ignored).
pub fn reviewed(procedure: &Procedure, reviews: &[Review]) -> Vec<ReviewedBasis> {
    let required = approvals_required(procedure);
    procedure
        .legal_basis
        .iter()
        .filter(|b| b.allows_reuse)
        .map(|basis| {
            let fingerprint = fingerprint(procedure, basis);
            let mine: Vec<Review> = reviews
                .iter()
                .filter(|r| r.procedure == procedure.slug && r.fingerprint == fingerprint)
                .cloned()
                .collect();
            // One row per reviewer (a database constraint), so these are distinct people.
            let approvals = mine.iter().filter(|r| r.decision == Decision::Approved).count();
            let state = if mine.iter().any(|r| r.decision == Decision::Rejected) {
                BasisState::Rejected
            } else if approvals >= required {
                BasisState::Approved
            } else {
                BasisState::Pending
            };
            ReviewedBasis {
                procedure: procedure.slug.clone(),
                procedure_name: procedure.name.clone(),
                entity: procedure.entity.clone(),
                law: basis.law.clone(),
                article: basis.article.clone(),
                url: basis.url.clone(),
                kinds: kinds_of(procedure),
                fingerprint,
                state,
                approvals,
                required,
                reviews: mine,
            }
        })
        .collect()
}

/// The approved basis that lets the procedure's entity reuse records without consent, if
/// any: only an approved one counts.
pub fn effective(procedure: &Procedure, reviews: &[Review]) -> Option<ReviewedBasis> {
    reviewed(procedure, reviews).into_iter().find(|b| b.state == BasisState::Approved)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only a legal reviewer decides on legal bases")]
    NotReviewer,
    #[error("a catalog editor of the procedure's entity cannot decide on its legal basis")]
    EditorOfEntity,
    #[error("whoever edited the procedure cannot decide on its legal basis")]
    EditedIt,
    #[error("the basis changed since the page was shown, or does not allow reuse")]
    Changed,
}

/// Whether a person may record a decision on the basis with `fingerprint` of `procedure`:
/// `roles` are theirs, `editors` the actors of the procedure's saved versions.
pub fn may_decide(
    roles: &[(String, String)],
    account_id: i64,
    editors: &[String],
    procedure: &Procedure,
    fingerprint: &str,
) -> Result<(), Refusal> {
    if !roles.iter().any(|(role, scope)| role == ROLE && scope == HUB) {
        return Err(Refusal::NotReviewer);
    }
    if roles.iter().any(|(role, scope)| role == EDITOR_ROLE && (scope == &procedure.entity || scope == HUB)) {
        return Err(Refusal::EditorOfEntity);
    }
    if editors.contains(&actor_label(account_id)) {
        return Err(Refusal::EditedIt);
    }
    if !procedure.legal_basis.iter().any(|b| b.allows_reuse && self::fingerprint(procedure, b) == fingerprint) {
        return Err(Refusal::Changed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::Requirement;
    use crate::catalog::model::tests::licencia;

    fn reuse() -> Procedure {
        let mut p = licencia();
        p.legal_basis[0].allows_reuse = true;
        p
    }

    fn review(p: &Procedure, reviewer: i64, decision: Decision) -> Review {
        Review {
            procedure: p.slug.clone(),
            fingerprint: fingerprint(p, &p.legal_basis[0]),
            reviewer_account_id: reviewer,
            decision,
            at: 1,
        }
    }

    fn reviewer() -> Vec<(String, String)> {
        vec![(ROLE.to_string(), HUB.to_string())]
    }

    #[test]
    fn a_basis_takes_effect_only_when_approved() {
        let p = reuse();
        assert_eq!(reviewed(&p, &[])[0].state, BasisState::Pending);
        assert!(effective(&p, &[]).is_none());
        let approved = [review(&p, 7, Decision::Approved)];
        assert_eq!(effective(&p, &approved).map(|b| b.citation()), Some("Reglamento de Tránsito, Art. 58".into()));
        let rejected = [review(&p, 7, Decision::Approved), review(&p, 8, Decision::Rejected)];
        assert_eq!(reviewed(&p, &rejected)[0].state, BasisState::Rejected);
        assert!(effective(&p, &rejected).is_none());
    }

    #[test]
    fn changing_the_text_entity_or_kinds_makes_it_pending_again() {
        let p = reuse();
        let approved = [review(&p, 7, Decision::Approved)];
        let mut changed = p.clone();
        changed.legal_basis[0].article = Some("Art. 59".into());
        assert_eq!(reviewed(&changed, &approved)[0].state, BasisState::Pending);
        let mut more = p.clone();
        more.requirements.push(Requirement {
            kind: "tax_id".into(),
            description: "RFC".into(),
            stage: "review".into(),
        });
        assert_eq!(reviewed(&more, &approved)[0].state, BasisState::Pending);
        let mut moved = p.clone();
        moved.entity = "sacmex".into();
        assert!(effective(&moved, &approved).is_none());
        let mut url = p.clone();
        url.legal_basis[0].url = None;
        assert!(effective(&url, &approved).is_some(), "the link is not what was decided");
    }

    #[test]
    fn a_sensitive_kind_needs_two_different_reviewers() {
        let mut p = reuse();
        p.requirements.push(Requirement {
            kind: "medical_certificate".into(),
            description: "Certificado médico".into(),
            stage: "application".into(),
        });
        let one = [review(&p, 7, Decision::Approved)];
        let basis = &reviewed(&p, &one)[0];
        assert_eq!((basis.state, basis.approvals, basis.required), (BasisState::Pending, 1, 2));
        let two = [review(&p, 7, Decision::Approved), review(&p, 8, Decision::Approved)];
        assert_eq!(reviewed(&p, &two)[0].state, BasisState::Approved);
    }

    #[test]
    fn editors_and_non_reviewers_cannot_decide() {
        let p = reuse();
        let print = fingerprint(&p, &p.legal_basis[0]);
        assert_eq!(may_decide(&[], 7, &[], &p, &print), Err(Refusal::NotReviewer));
        let mut editor = reviewer();
        editor.push((EDITOR_ROLE.into(), "semovi".into()));
        assert_eq!(may_decide(&editor, 7, &[], &p, &print), Err(Refusal::EditorOfEntity));
        assert_eq!(may_decide(&reviewer(), 7, &["account:7".into()], &p, &print), Err(Refusal::EditedIt));
        assert_eq!(may_decide(&reviewer(), 7, &[], &p, "[]"), Err(Refusal::Changed));
        let mut other = reviewer();
        other.push((EDITOR_ROLE.into(), "sacmex".into()));
        assert_eq!(may_decide(&other, 7, &["account:9".into()], &p, &print), Ok(()));
    }
}
