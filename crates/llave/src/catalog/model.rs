//! A procedure or service of the catalog, as imported, exported and stored, and the rules
//! a valid one follows. Pure: no I/O. Text fields are kept as written (HTML included) and
//! escaped wherever they are shown.

use serde::{Deserialize, Serialize};

/// Whether records of a kind reveal what the law protects most (Ley General de Protección
/// de Datos Personales en Posesión de Sujetos Obligados, art. 3 fr. X: health, disability,
/// criminal record, biometrics): reusing them without consent needs two legal reviewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    Ordinary,
    Sensitive,
}

use Sensitivity::{Ordinary, Sensitive};

/// The controlled vocabulary of requirement kinds: code, Spanish name, English name, and
/// whether records of that kind are sensitive personal data.
pub const REQUIREMENT_KINDS: &[(&str, &str, &str, Sensitivity)] = &[
    ("official_id", "Identificación oficial", "Official ID", Ordinary),
    ("curp", "CURP", "CURP", Ordinary),
    ("proof_of_residence", "Comprobante de domicilio", "Proof of residence", Ordinary),
    ("birth_certificate", "Acta de nacimiento", "Birth certificate", Ordinary),
    ("marriage_certificate", "Acta de matrimonio", "Marriage certificate", Ordinary),
    ("photograph", "Fotografía", "Photograph", Ordinary),
    ("payment_receipt", "Comprobante de pago", "Payment receipt", Ordinary),
    ("vehicle_registration", "Tarjeta de circulación", "Vehicle registration", Ordinary),
    ("driving_test", "Examen de manejo", "Driving test", Ordinary),
    ("medical_certificate", "Certificado médico", "Medical certificate", Sensitive),
    ("tax_id", "RFC / constancia de situación fiscal", "Tax ID (RFC)", Ordinary),
    ("property_deed", "Escritura o título de propiedad", "Property deed", Ordinary),
    ("power_of_attorney", "Poder notarial o carta poder", "Power of attorney", Ordinary),
    ("proof_of_income", "Comprobante de ingresos", "Proof of income", Ordinary),
    ("voter_card", "Credencial para votar (INE)", "Voter card (INE)", Ordinary),
    ("application_form", "Formato de solicitud", "Application form", Ordinary),
    ("death_certificate", "Acta de defunción", "Death certificate", Ordinary),
    ("proof_of_studies", "Constancia de estudios o boleta", "Proof of studies", Ordinary),
    ("land_use_certificate", "Certificado de uso de suelo", "Land use certificate", Ordinary),
    ("property_tax_receipt", "Boleta o recibo del impuesto predial", "Property tax receipt", Ordinary),
    ("criminal_record", "Constancia de antecedentes penales", "Criminal record certificate", Sensitive),
    ("disability_certificate", "Certificado de discapacidad", "Disability certificate", Sensitive),
    ("health_record", "Expediente o constancia de salud", "Health record", Sensitive),
    ("biometric_data", "Huellas dactilares u otros datos biométricos", "Fingerprints or other biometrics", Sensitive),
    ("other", "Otro documento", "Other document", Ordinary),
];

/// When in the process a requirement is asked for.
pub const STAGES: &[&str] = &["application", "review", "delivery"];
pub const STATUSES: &[&str] = &["draft", "published", "retired"];
pub const LEVELS: &[&str] = &["urn:llave:loa:1", "urn:llave:loa:2", "urn:llave:loa:3"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Procedure {
    /// Stable identifier in URLs and files: lower-case letters, digits and hyphens.
    pub slug: String,
    /// The slug of the entity that runs it.
    pub entity: String,
    pub name: String,
    /// What it is for, in plain language.
    pub description: String,
    pub who_may_apply: String,
    #[serde(default)]
    pub requirements: Vec<Requirement>,
    #[serde(default)]
    pub legal_basis: Vec<LegalBasis>,
    #[serde(default)]
    pub steps: Vec<String>,
    /// E.g. "10 días hábiles".
    pub response_deadline: String,
    /// How long the result is valid, e.g. "3 años"; absent when it does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<String>,
    pub cost: Cost,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
    pub channels: Channels,
    /// The assurance level it needs: `urn:llave:loa:1|2|3`.
    pub level: String,
    pub yearly_volume: i64,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Other names people type for it ("licencia de manejo", "boleta predial"): searched
    /// like its name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub synonyms: Vec<String>,
    pub status: String,
    /// The kind of document the procedure's result is (a birth certificate, a vehicle
    /// registration), when it is one: the entity then holds it, and other procedures that
    /// ask for it could reuse it through Llave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// One of `REQUIREMENT_KINDS`.
    pub kind: String,
    pub description: String,
    /// One of `STAGES`.
    pub stage: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    pub law: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// This law lets the entity reuse what the person gave another entity without asking
    /// their consent (the hub still logs every read, naming this basis).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allows_reuse: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Cost {
    Free,
    /// An amount in Mexican pesos.
    Amount {
        mxn: f64,
    },
    /// A rule in words ("depends on the vehicle's value").
    Rule {
        text: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    /// Where to start online, on the entity's site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_url: Option<String>,
    /// Offices where it is done in person.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offices: Vec<String>,
}

/// A declared equivalence: `accepted_kind` is accepted where `kind` is asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Equivalence {
    pub kind: String,
    pub accepted_kind: String,
    pub note: String,
}

/// A requirement kind's name in `lang`; the code itself for an unknown kind.
/// An amount the Mexican way: `$1,500.00 MXN` (comma thousands, point decimals).
pub fn pesos(mxn: f64) -> String {
    let cents = (mxn * 100.0).round() as i64;
    let (sign, cents) = if cents < 0 { ("-", -cents) } else { ("", cents) };
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}${grouped}.{:02} MXN", cents % 100)
}

pub fn kind_name(lang: crate::i18n::Lang, code: &str) -> String {
    REQUIREMENT_KINDS
        .iter()
        .find(|(k, _, _, _)| *k == code)
        .map(|(_, es, en, _)| if lang == crate::i18n::Lang::En { en } else { es }.to_string())
        .unwrap_or_else(|| code.to_string())
}

pub fn is_kind(code: &str) -> bool {
    REQUIREMENT_KINDS.iter().any(|(k, _, _, _)| *k == code)
}

/// Whether records of this kind are sensitive personal data (an unknown kind is not).
pub fn is_sensitive(code: &str) -> bool {
    REQUIREMENT_KINDS.iter().any(|(k, _, _, sensitivity)| *k == code && *sensitivity == Sensitive)
}

const MAX_SHORT: usize = 200;
const MAX_LONG: usize = 5000;

fn text(problems: &mut Vec<String>, field: &str, value: &str, max: usize) {
    let chars = value.chars().count();
    if value.trim().is_empty() {
        problems.push(format!("{field} is empty"));
    } else if chars > max {
        problems.push(format!("{field} is longer than {max} characters ({chars})"));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        problems.push(format!("{field} has control characters"));
    }
}

fn web_url(problems: &mut Vec<String>, field: &str, value: &str) {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {}
        _ => problems.push(format!("{field} is not an http(s) URL: {value:?}")),
    }
}

impl Procedure {
    /// Every problem with this procedure, in words; empty when it is valid. Whether its
    /// entity exists and whether its slug and name are unique is for the caller to check.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let slug_ok = !self.slug.is_empty()
            && self.slug.len() <= 100
            && self.slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.slug.starts_with('-');
        if !slug_ok {
            problems.push(format!("slug {:?} must be lower-case letters, digits and hyphens (at most 100)", self.slug));
        }
        text(&mut problems, "name", &self.name, MAX_SHORT);
        text(&mut problems, "description", &self.description, MAX_LONG);
        text(&mut problems, "who_may_apply", &self.who_may_apply, MAX_LONG);
        text(&mut problems, "response_deadline", &self.response_deadline, MAX_SHORT);
        if let Some(validity) = &self.validity {
            text(&mut problems, "validity", validity, MAX_SHORT);
        }
        for (n, requirement) in self.requirements.iter().enumerate() {
            let field = format!("requirements[{n}]");
            if !is_kind(&requirement.kind) {
                problems.push(format!("{field}.kind {:?} is not a known requirement kind", requirement.kind));
            }
            if !STAGES.contains(&requirement.stage.as_str()) {
                problems.push(format!("{field}.stage {:?} must be one of {}", requirement.stage, STAGES.join(", ")));
            }
            text(&mut problems, &format!("{field}.description"), &requirement.description, MAX_LONG);
        }
        for (n, basis) in self.legal_basis.iter().enumerate() {
            text(&mut problems, &format!("legal_basis[{n}].law"), &basis.law, MAX_SHORT);
            if let Some(url) = &basis.url {
                web_url(&mut problems, &format!("legal_basis[{n}].url"), url);
            }
        }
        for (n, step) in self.steps.iter().enumerate() {
            text(&mut problems, &format!("steps[{n}]"), step, MAX_LONG);
        }
        match &self.cost {
            Cost::Free => {}
            Cost::Amount { mxn } if !mxn.is_finite() || *mxn < 0.0 => {
                problems.push(format!("cost.mxn {mxn} must be zero or more"));
            }
            Cost::Amount { .. } => {}
            Cost::Rule { text: rule } => text(&mut problems, "cost.text", rule, MAX_LONG),
        }
        for (n, variant) in self.variants.iter().enumerate() {
            text(&mut problems, &format!("variants[{n}].code"), &variant.code, 20);
            text(&mut problems, &format!("variants[{n}].name"), &variant.name, MAX_SHORT);
        }
        if self.channels.online_url.is_none() && self.channels.offices.is_empty() {
            problems.push("channels needs an online_url, offices, or both".into());
        }
        if let Some(url) = &self.channels.online_url {
            web_url(&mut problems, "channels.online_url", url);
        }
        for (n, office) in self.channels.offices.iter().enumerate() {
            text(&mut problems, &format!("channels.offices[{n}]"), office, MAX_SHORT);
        }
        if !LEVELS.contains(&self.level.as_str()) {
            problems.push(format!("level {:?} must be one of {}", self.level, LEVELS.join(", ")));
        }
        if self.yearly_volume < 0 {
            problems.push(format!("yearly_volume {} must be zero or more", self.yearly_volume));
        }
        for (n, tag) in self.tags.iter().enumerate() {
            text(&mut problems, &format!("tags[{n}]"), tag, 60);
        }
        if let Some(kind) = &self.result_kind
            && !is_kind(kind)
        {
            problems.push(format!("result_kind {kind:?} is not a known requirement kind"));
        }
        if !STATUSES.contains(&self.status.as_str()) {
            problems.push(format!("status {:?} must be one of {}", self.status, STATUSES.join(", ")));
        }
        problems
    }
}

impl Equivalence {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (field, kind) in [("kind", &self.kind), ("accepted_kind", &self.accepted_kind)] {
            if !is_kind(kind) {
                problems.push(format!("{field} {kind:?} is not a known requirement kind"));
            }
        }
        if self.kind == self.accepted_kind {
            problems.push("a kind is trivially equivalent to itself".into());
        }
        text(&mut problems, "note", &self.note, MAX_LONG);
        problems
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn licencia() -> Procedure {
        Procedure {
            slug: "licencia-de-conducir-a".into(),
            entity: "semovi".into(),
            name: "Licencia de conducir".into(),
            description: "Permiso para conducir automóviles particulares.".into(),
            who_may_apply: "Personas mayores de 18 años que viven en la ciudad.".into(),
            requirements: vec![
                Requirement {
                    kind: "official_id".into(),
                    description: "INE o pasaporte".into(),
                    stage: "application".into(),
                },
                Requirement {
                    kind: "proof_of_residence".into(),
                    description: "No mayor a 3 meses".into(),
                    stage: "application".into(),
                },
                Requirement {
                    kind: "payment_receipt".into(),
                    description: "Pago de derechos".into(),
                    stage: "delivery".into(),
                },
            ],
            synonyms: Vec::new(),
            legal_basis: vec![LegalBasis {
                law: "Reglamento de Tránsito".into(),
                article: Some("Art. 58".into()),
                url: Some("https://data.consejeria.cdmx.gob.mx/reglamento-transito".into()),
                allows_reuse: false,
            }],
            steps: vec!["Solicita en línea".into(), "Acude a la oficina".into()],
            response_deadline: "Inmediato".into(),
            validity: Some("3 años".into()),
            cost: Cost::Amount { mxn: 1000.0 },
            variants: vec![Variant { code: "A".into(), name: "Automovilista".into() }],
            channels: Channels {
                online_url: Some("https://licencias.semovi.cdmx.gob.mx/".into()),
                offices: vec!["Módulo Insurgentes".into()],
            },
            level: "urn:llave:loa:2".into(),
            yearly_volume: 600_000,
            tags: vec!["movilidad".into()],
            status: "published".into(),
            result_kind: None,
        }
    }

    #[test]
    fn amounts_read_the_mexican_way() {
        assert_eq!(pesos(1500.0), "$1,500.00 MXN");
        assert_eq!(pesos(85.0), "$85.00 MXN");
        assert_eq!(pesos(1_234_567.891), "$1,234,567.89 MXN");
        assert_eq!(pesos(0.0), "$0.00 MXN");
    }

    #[test]
    fn a_complete_procedure_is_valid() {
        assert_eq!(licencia().problems(), Vec::<String>::new());
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut bad = licencia();
        bad.slug = "Licencia A".into();
        bad.requirements[0].kind = "passport_photo".into();
        bad.requirements[1].stage = "later".into();
        bad.cost = Cost::Amount { mxn: -5.0 };
        bad.channels = Channels { online_url: Some("javascript:alert(1)".into()), offices: vec![] };
        bad.level = "urn:llave:loa:9".into();
        bad.yearly_volume = -1;
        bad.name = "  ".into();
        let problems = bad.problems().join("\n");
        for expected in [
            "slug",
            "requirements[0].kind \"passport_photo\"",
            "requirements[1].stage",
            "cost.mxn -5",
            "channels.online_url",
            "level",
            "yearly_volume -1",
            "name is empty",
        ] {
            assert!(problems.contains(expected), "{expected} missing from:\n{problems}");
        }
    }

    #[test]
    fn html_is_kept_as_written() {
        let mut html = licencia();
        html.description = "<script>alert(1)</script> Trámite".into();
        assert!(html.problems().is_empty(), "escaped on output, not refused");
    }
}
