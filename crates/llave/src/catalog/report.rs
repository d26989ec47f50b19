//! The simplification report: for each procedure, busiest first, what the hub could spare
//! the people who apply, and the citizen-hours a year each suggestion would save. Pure:
//! computed from the catalog alone.
//!
//! The hours are estimates from fixed assumptions (`HOURS_TO_OBTAIN`, `HOURS_PER_VISIT`),
//! published with the report so anyone can argue with them.

use std::collections::HashSet;

use serde::Serialize;

use super::model::{Equivalence, Procedure};
use super::review::{Review, ReviewedBasis};

/// Hours a person spends obtaining a document of each kind (queues, copies, travel).
pub const HOURS_TO_OBTAIN: &[(&str, f64)] = &[
    ("official_id", 0.25),
    ("curp", 0.25),
    ("proof_of_residence", 0.75),
    ("birth_certificate", 1.5),
    ("marriage_certificate", 1.5),
    ("photograph", 0.5),
    ("payment_receipt", 0.5),
    ("vehicle_registration", 0.5),
    ("tax_id", 0.75),
    ("voter_card", 0.25),
];
const DEFAULT_HOURS_TO_OBTAIN: f64 = 0.5;
/// A requirement asked after the application often means one more trip or exchange.
pub const HOURS_PER_VISIT: f64 = 1.5;

fn hours_to_obtain(kind: &str) -> f64 {
    HOURS_TO_OBTAIN.iter().find(|(k, _)| *k == kind).map(|(_, h)| *h).unwrap_or(DEFAULT_HOURS_TO_OBTAIN)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Suggestion {
    /// Llave already knows it: the CURP of every account; the identity, at level 2 or 3.
    SatisfiedByLlave { requirement: String, why: String, hours_saved: f64 },
    /// Another requirement of the same procedure is declared equivalent to this one.
    RedundantByEquivalence { requirement: String, covered_by: String, hours_saved: f64 },
    /// Asked during review or at delivery: ask it with the application.
    AskedLate { requirement: String, stage: String, hours_saved: f64 },
    /// Other entities issue this document (their procedures' result; `entity` and
    /// `procedure` list each, comma-separated): reuse it through Llave instead of asking the
    /// person to bring it.
    HeldByAnotherEntity { requirement: String, entity: String, procedure: String, hours_saved: f64 },
    /// No law, regulation or article is recorded for it.
    NoLegalBasis,
}

impl Suggestion {
    /// The suggestion in words.
    pub fn describe(&self) -> String {
        match self {
            Suggestion::SatisfiedByLlave { requirement, why, .. } => {
                format!("drop {requirement}: Llave already has it ({why})")
            }
            Suggestion::RedundantByEquivalence { requirement, covered_by, .. } => {
                format!("drop {requirement}: {covered_by}, also asked, is accepted for it")
            }
            Suggestion::AskedLate { requirement, stage, .. } => {
                format!("ask {requirement} with the application, not at {stage}")
            }
            Suggestion::HeldByAnotherEntity { requirement, entity, procedure, .. } => {
                let issue = if entity.contains(", ") { "issue" } else { "issues" };
                format!("drop {requirement}: {entity} {issue} it ({procedure}); reuse it through Llave")
            }
            Suggestion::NoLegalBasis => "record its legal basis (none is registered)".to_string(),
        }
    }

    pub fn hours_saved(&self) -> f64 {
        match self {
            Suggestion::SatisfiedByLlave { hours_saved, .. }
            | Suggestion::HeldByAnotherEntity { hours_saved, .. }
            | Suggestion::RedundantByEquivalence { hours_saved, .. }
            | Suggestion::AskedLate { hours_saved, .. } => *hours_saved,
            Suggestion::NoLegalBasis => 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcedureReport {
    pub slug: String,
    pub entity: String,
    pub name: String,
    pub yearly_volume: i64,
    pub suggestions: Vec<Suggestion>,
    /// Citizen-hours a year if every suggestion were adopted.
    pub hours_saved_per_year: f64,
    /// Its bases that would allow reuse without consent, and where their review stands.
    pub reuse_bases: Vec<ReviewedBasis>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub procedures: Vec<ProcedureReport>,
    pub total_hours_saved_per_year: f64,
    pub assumptions: Assumptions,
}

#[derive(Debug, Clone, Serialize)]
pub struct Assumptions {
    pub hours_to_obtain: Vec<(String, f64)>,
    pub default_hours_to_obtain: f64,
    pub hours_per_visit: f64,
}

fn level_number(level: &str) -> u32 {
    level.rsplit(':').next().and_then(|n| n.parse().ok()).unwrap_or(1)
}

/// The report over every procedure that is not retired, busiest first.
pub fn build(procedures: &[Procedure], equivalences: &[Equivalence], reviews: &[Review]) -> Report {
    let mut reports: Vec<ProcedureReport> = procedures
        .iter()
        .filter(|p| p.status != "retired")
        .map(|p| {
            let mut suggestions = Vec::new();
            let kinds: HashSet<&str> = p.requirements.iter().map(|r| r.kind.as_str()).collect();
            let mut spared: HashSet<&str> = HashSet::new();
            for requirement in &p.requirements {
                let kind = requirement.kind.as_str();
                let why = match kind {
                    "curp" => Some("every Llave account is keyed by a checked CURP"),
                    "official_id" if level_number(&p.level) >= 2 => {
                        Some("the procedure needs Llave Verificada: the identity was checked against an official ID")
                    }
                    _ => None,
                };
                if let Some(why) = why
                    && spared.insert(kind)
                {
                    suggestions.push(Suggestion::SatisfiedByLlave {
                        requirement: kind.to_string(),
                        why: why.to_string(),
                        hours_saved: hours_to_obtain(kind),
                    });
                    continue;
                }
                // Every other entity that issues it (each borough issues its own residents'
                // proof of residence), named together.
                let issuers: Vec<&Procedure> = procedures
                    .iter()
                    .filter(|other| {
                        other.entity != p.entity
                            && other.status != "retired"
                            && other.result_kind.as_deref() == Some(kind)
                    })
                    .collect();
                if !issuers.is_empty() && spared.insert(kind) {
                    let mut entities: Vec<&str> = issuers.iter().map(|i| i.entity.as_str()).collect();
                    entities.dedup();
                    suggestions.push(Suggestion::HeldByAnotherEntity {
                        requirement: kind.to_string(),
                        entity: entities.join(", "),
                        procedure: issuers.iter().map(|i| i.slug.as_str()).collect::<Vec<_>>().join(", "),
                        hours_saved: hours_to_obtain(kind),
                    });
                    continue;
                }
                if let Some(equivalence) = equivalences.iter().find(|e| {
                    e.kind == kind
                        && kinds.contains(e.accepted_kind.as_str())
                        && !spared.contains(e.accepted_kind.as_str())
                }) && spared.insert(kind)
                {
                    suggestions.push(Suggestion::RedundantByEquivalence {
                        requirement: kind.to_string(),
                        covered_by: equivalence.accepted_kind.clone(),
                        hours_saved: hours_to_obtain(kind),
                    });
                    continue;
                }
                if requirement.stage != "application" {
                    suggestions.push(Suggestion::AskedLate {
                        requirement: kind.to_string(),
                        stage: requirement.stage.clone(),
                        hours_saved: HOURS_PER_VISIT,
                    });
                }
            }
            if p.legal_basis.is_empty() {
                suggestions.push(Suggestion::NoLegalBasis);
            }
            // `Sum` of no f64 is -0.0; adding +0.0 makes it a plain zero ("-0 hours").
            let per_application: f64 = suggestions.iter().map(Suggestion::hours_saved).sum::<f64>() + 0.0;
            ProcedureReport {
                slug: p.slug.clone(),
                entity: p.entity.clone(),
                name: p.name.clone(),
                yearly_volume: p.yearly_volume,
                hours_saved_per_year: per_application * p.yearly_volume as f64,
                suggestions,
                reuse_bases: super::review::reviewed(p, reviews),
            }
        })
        .collect();
    reports.sort_by(|a, b| b.yearly_volume.cmp(&a.yearly_volume).then(a.slug.cmp(&b.slug)));
    Report {
        total_hours_saved_per_year: reports.iter().map(|r| r.hours_saved_per_year).sum::<f64>() + 0.0,
        procedures: reports,
        assumptions: Assumptions {
            hours_to_obtain: HOURS_TO_OBTAIN.iter().map(|(k, h)| (k.to_string(), *h)).collect(),
            default_hours_to_obtain: DEFAULT_HOURS_TO_OBTAIN,
            hours_per_visit: HOURS_PER_VISIT,
        },
    }
}

impl Report {
    /// The report as text, for the command line.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "Simplification report: {} procedures; {} citizen-hours a year if every suggestion were adopted\n",
            self.procedures.len(),
            format_count(self.total_hours_saved_per_year)
        );
        for p in &self.procedures {
            out.push_str(&format!(
                "\n{} ({}, {}) — {} applications a year — {} hours a year\n",
                p.name,
                p.entity,
                p.slug,
                format_count(p.yearly_volume as f64),
                format_count(p.hours_saved_per_year)
            ));
            if p.suggestions.is_empty() {
                out.push_str("  nothing to suggest\n");
            }
            for s in &p.suggestions {
                let line = s.describe();
                out.push_str(&format!("  - {line}\n"));
            }
            for basis in &p.reuse_bases {
                out.push_str(&format!("  * {}\n", describe_basis(basis)));
            }
        }
        out
    }
}

/// A basis allowing reuse without consent and its review, in words: state, approvals,
/// who decided.
pub fn describe_basis(basis: &ReviewedBasis) -> String {
    let decided: Vec<String> =
        basis.reviews.iter().map(|r| format!("{} by {}", r.decision.as_str(), r.reviewer())).collect();
    format!(
        "reuse without consent under {}: {} ({} of {} approvals{}{})",
        basis.citation(),
        basis.state.as_str(),
        basis.approvals,
        basis.required,
        if decided.is_empty() { "" } else { "; " },
        decided.join(", ")
    )
}

/// A count rounded to a whole number with `,` between thousands ("2,550,000"), as the
/// command line prints it; never "-0".
pub fn format_count(value: f64) -> String {
    format_count_with(value, ',')
}

/// A count for a page in `lang`: Mexican Spanish and English both group thousands with a
/// comma and mark decimals with a point (NOM-008-SCFI allows either; Mexico uses these).
pub fn format_count_in(lang: crate::i18n::Lang, value: f64) -> String {
    let separator = match lang {
        crate::i18n::Lang::Es | crate::i18n::Lang::En => ',',
    };
    format_count_with(value, separator)
}

fn format_count_with(value: f64, separator: char) -> String {
    let rounded = value.round();
    if !rounded.is_finite() {
        return "0".into();
    }
    let negative = rounded < 0.0;
    let digits = format!("{:.0}", rounded.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if negative {
        out.push('-');
    }
    for (n, digit) in digits.chars().enumerate() {
        if n > 0 && (digits.len() - n) % 3 == 0 {
            out.push(separator);
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::Requirement;
    use crate::catalog::model::tests::licencia;

    #[test]
    fn suggestions_follow_level_equivalences_stage_and_legal_basis() {
        let mut p = licencia();
        p.requirements.push(Requirement {
            kind: "voter_card".into(),
            description: "INE".into(),
            stage: "application".into(),
        });
        p.requirements.push(Requirement {
            kind: "curp".into(),
            description: "CURP".into(),
            stage: "application".into(),
        });
        p.legal_basis.clear();
        let mut low = licencia();
        low.slug = "low".into();
        low.level = "urn:llave:loa:1".into();
        low.yearly_volume = 10;
        let equivalences = vec![Equivalence {
            kind: "proof_of_residence".into(),
            accepted_kind: "voter_card".into(),
            note: "INE con domicilio".into(),
        }];
        let mut registry = licencia();
        registry.slug = "acta".into();
        registry.entity = "registro-civil".into();
        registry.name = "Acta de nacimiento".into();
        registry.yearly_volume = 1;
        registry.result_kind = Some("birth_certificate".into());
        p.requirements.push(Requirement {
            kind: "birth_certificate".into(),
            description: "Acta".into(),
            stage: "application".into(),
        });
        let report = build(&[low, p, registry], &equivalences, &[]);
        assert_eq!(report.procedures[0].slug, "licencia-de-conducir-a", "busiest first");
        let s = &report.procedures[0].suggestions;
        assert!(
            s.iter()
                .any(|s| matches!(s, Suggestion::SatisfiedByLlave { requirement, .. } if requirement == "official_id"))
        );
        assert!(
            s.iter().any(|s| matches!(s, Suggestion::SatisfiedByLlave { requirement, .. } if requirement == "curp"))
        );
        assert!(s.iter().any(|s| matches!(s, Suggestion::RedundantByEquivalence { requirement, covered_by, .. }
            if requirement == "proof_of_residence" && covered_by == "voter_card")));
        assert!(
            s.iter()
                .any(|s| matches!(s, Suggestion::AskedLate { requirement, .. } if requirement == "payment_receipt"))
        );
        assert!(s.contains(&Suggestion::NoLegalBasis));
        assert!(s.iter().any(|s| matches!(s, Suggestion::HeldByAnotherEntity { requirement, entity, .. }
            if requirement == "birth_certificate" && entity == "registro-civil")));
        // 0.25 (official ID) + 0.75 (residence) + 1.5 (late payment) + 0.25 (CURP) + 1.5 (birth
        // certificate), 600,000 a year.
        assert!((report.procedures[0].hours_saved_per_year - 4.25 * 600_000.0).abs() < 1e-6);
        // At level 1 the official ID is still needed.
        assert!(
            !report.procedures[1]
                .suggestions
                .iter()
                .any(|s| matches!(s, Suggestion::SatisfiedByLlave { requirement, .. } if requirement == "official_id"))
        );
        assert!(report.to_text().contains("drop proof_of_residence: voter_card, also asked, is accepted for it"));
    }
}

#[cfg(test)]
mod number_tests {
    use super::*;
    use crate::catalog::model::tests::licencia;

    #[test]
    fn the_text_report_has_no_negative_zero_and_groups_thousands() {
        let mut quiet = licencia();
        quiet.requirements.clear();
        quiet.yearly_volume = 1_234_567;
        let report = build(&[quiet], &[], &[]);
        assert_eq!(report.procedures[0].suggestions.len(), 0);
        let text = report.to_text();
        assert!(!text.contains("-0"), "{text}");
        assert!(text.contains("— 0 hours a year"), "{text}");
        assert!(text.contains("1,234,567 applications a year"), "{text}");
        assert_eq!(format_count(2_550_000.4), "2,550,000");
        assert_eq!(format_count(-0.0), "0");
        assert_eq!(format_count(-1234.6), "-1,235");
        assert_eq!(format_count(999.0), "999");
    }
}
