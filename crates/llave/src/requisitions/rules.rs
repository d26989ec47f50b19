//! The requisition rules as plain functions over plain data, tested without a server: who
//! may approve, reject, deliver and attest, what a filing must say, when the person is told
//! and when an attestation is overdue.

use time::Date;

use crate::calendar;
use crate::store::requisitions::{Requisition, Status};

/// Why a step is refused. Each has a code (the API's `error`) and a message key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a requester of the requisition's authority.
    NotRequester,
    /// Not a requisition approver.
    NotApprover,
    /// The requester cannot approve or reject their own requisition.
    OwnRequisition,
    /// The second approval must come from someone else than the first.
    ApprovedAlready,
    /// It was approved or rejected already.
    NotPending,
    /// Not (or not yet) approved by two approvers: nothing is delivered.
    NotApproved,
    /// The package was downloaded already: once only.
    DeliveredAlready,
    /// An attestation comes after the delivery.
    NotDelivered,
    AttestedAlready,
    /// Nothing to extend: no non-disclosure order, or it ended.
    NoOrder,
    /// No extension waits for approval.
    NoExtension,
    UnknownRequisition,
    UnknownAuthority,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotRequester => "not_requester",
            Refusal::NotApprover => "not_approver",
            Refusal::OwnRequisition => "own_requisition",
            Refusal::ApprovedAlready => "approved_already",
            Refusal::NotPending => "not_pending",
            Refusal::NotApproved => "not_approved",
            Refusal::DeliveredAlready => "delivered_already",
            Refusal::NotDelivered => "not_delivered",
            Refusal::AttestedAlready => "attested_already",
            Refusal::NoOrder => "no_order",
            Refusal::NoExtension => "no_extension",
            Refusal::UnknownRequisition => "unknown_requisition",
            Refusal::UnknownAuthority => "unknown_authority",
        }
    }

    /// The message, in the locales files.
    pub fn key(self) -> &'static str {
        match self {
            Refusal::NotRequester => "requisition-refused-not-requester",
            Refusal::NotApprover => "requisition-refused-not-approver",
            Refusal::OwnRequisition => "requisition-refused-own-requisition",
            Refusal::ApprovedAlready => "requisition-refused-approved-already",
            Refusal::NotPending => "requisition-refused-not-pending",
            Refusal::NotApproved => "requisition-refused-not-approved",
            Refusal::DeliveredAlready => "requisition-refused-delivered-already",
            Refusal::NotDelivered => "requisition-refused-not-delivered",
            Refusal::AttestedAlready => "requisition-refused-attested-already",
            Refusal::NoOrder => "requisition-refused-no-order",
            Refusal::NoExtension => "requisition-refused-no-extension",
            Refusal::UnknownRequisition => "requisition-refused-unknown-requisition",
            Refusal::UnknownAuthority => "requisition-refused-unknown-authority",
        }
    }

    /// 403 for who may not, 404 for what does not exist, 409 for a state that forbids it.
    pub fn status(self) -> u16 {
        match self {
            Refusal::NotRequester | Refusal::NotApprover | Refusal::OwnRequisition => 403,
            Refusal::UnknownRequisition | Refusal::UnknownAuthority => 404,
            _ => 409,
        }
    }
}

/// Which approval this one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    First,
    /// The second: the requisition (or the extension) is in effect.
    Second,
}

impl Stage {
    pub fn number(self) -> u8 {
        match self {
            Stage::First => 1,
            Stage::Second => 2,
        }
    }
}

/// An approval by `approver`: never the requester's, the second never the first's.
pub fn may_approve(r: &Requisition, approver: i64) -> Result<Stage, Refusal> {
    may_reject(r, approver)?;
    stage(r.first_approver_id, approver)
}

/// The first approval, or the second by another approver than `first`.
fn stage(first: Option<i64>, approver: i64) -> Result<Stage, Refusal> {
    match first {
        None => Ok(Stage::First),
        Some(first) if first == approver => Err(Refusal::ApprovedAlready),
        Some(_) => Ok(Stage::Second),
    }
}

/// A rejection, by any approver but the requester, while it is pending (and the same
/// conditions before an approval).
pub fn may_reject(r: &Requisition, approver: i64) -> Result<(), Refusal> {
    if r.status != Status::Pending {
        return Err(Refusal::NotPending);
    }
    if r.requester_id == approver {
        return Err(Refusal::OwnRequisition);
    }
    Ok(())
}

/// The one delivery of an approved requisition.
pub fn may_deliver(r: &Requisition) -> Result<(), Refusal> {
    if r.status != Status::Approved {
        return Err(Refusal::NotApproved);
    }
    if r.delivered_at.is_some() {
        return Err(Refusal::DeliveredAlready);
    }
    Ok(())
}

/// The one attestation, after the delivery.
pub fn may_attest(r: &Requisition) -> Result<(), Refusal> {
    if r.delivered_at.is_none() {
        return Err(Refusal::NotDelivered);
    }
    if r.attested_at.is_some() {
        return Err(Refusal::AttestedAlready);
    }
    Ok(())
}

/// Asking to extend the order: approved, with an order still running.
pub fn may_ask_extension(r: &Requisition, now: i64) -> Result<(), Refusal> {
    if r.status != Status::Approved {
        return Err(Refusal::NotApproved);
    }
    match r.nondisclosure_until {
        Some(until) if until > now => Ok(()),
        _ => Err(Refusal::NoOrder),
    }
}

/// An approval of the extension asked for: two approvers, neither the requester.
pub fn may_approve_extension(r: &Requisition, approver: i64) -> Result<Stage, Refusal> {
    if r.extension_until.is_none() {
        return Err(Refusal::NoExtension);
    }
    if r.requester_id == approver {
        return Err(Refusal::OwnRequisition);
    }
    stage(r.extension_approver_id, approver)
}

/// Whether the person is told: at once without an order, else once it ended. (An
/// extension counts only once approved: it moves `nondisclosure_until`.)
pub fn disclosed(r: &Requisition, now: i64) -> bool {
    r.disclosed_at(now)
}

/// Whether the authority's attestation is past due and not made.
pub fn overdue(r: &Requisition, now: i64) -> bool {
    r.status == Status::Approved
        && r.delivered_at.is_some()
        && r.attested_at.is_none()
        && r.attestation_due.is_some_and(|due| due < now)
}

/// What a requester sends to file a requisition (a form or the API), as text.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct FilingInput {
    pub curp: String,
    pub kinds: Vec<String>,
    /// `YYYY-MM-DD`, both included.
    pub date_from: String,
    pub date_to: String,
    pub law: String,
    pub article: String,
    pub case_number: String,
    pub justification: String,
    /// `YYYY-MM-DD`, or empty for none: the person is told from that day on.
    pub nondisclosure_until: String,
}

/// A filing that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filing {
    pub curp: String,
    pub kinds: Vec<String>,
    pub date_from: String,
    pub date_to: String,
    pub law: String,
    pub article: String,
    pub case_number: String,
    pub justification: String,
    /// The Unix time the person is told (the order's end day, at the city's midnight).
    pub nondisclosure_until: Option<i64>,
}

impl Filing {
    /// The requisition this filing makes: pending, nothing approved, delivered or attested.
    pub fn requisition(
        self,
        id: String,
        authority_slug: &str,
        account_id: i64,
        requester_id: i64,
        now: i64,
    ) -> Requisition {
        Requisition {
            id,
            authority_slug: authority_slug.to_string(),
            account_id,
            requester_id,
            kinds: self.kinds,
            date_from: self.date_from,
            date_to: self.date_to,
            law: self.law,
            article: self.article,
            case_number: self.case_number,
            justification: self.justification,
            nondisclosure_until: self.nondisclosure_until,
            status: Status::Pending,
            filed_at: now,
            first_approver_id: None,
            first_approved_at: None,
            second_approver_id: None,
            second_approved_at: None,
            rejected_by: None,
            rejected_at: None,
            rejection_reason: None,
            attestation_due: None,
            delivered_at: None,
            delivered_records: Vec::new(),
            package_sha256: None,
            attested_at: None,
            attestation: None,
            attestation_basis: None,
            extension_until: None,
            extension_requested_at: None,
            extension_approver_id: None,
        }
    }
}

/// A field's problem: the field's name and the message key.
pub type FieldProblem = (&'static str, &'static str);

/// Text a person typed: control characters out, trimmed, at most `max` characters.
fn clean(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect::<String>().trim().to_string()
}

/// Checks a filing on `today` (the city's date) with orders of at most `max_days`.
pub fn check_filing(input: &FilingInput, today: Date, max_days: i64) -> Result<Filing, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let curp = input.curp.trim().to_uppercase();
    if curp::Curp::parse(&curp).is_err() {
        problems.push(("curp", "requisition-error-curp"));
    }
    let mut kinds: Vec<String> = input.kinds.iter().map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect();
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() || !kinds.iter().all(|k| crate::catalog::model::is_kind(k)) {
        problems.push(("kinds", "requisition-error-kinds"));
    }
    let from = calendar::parse_date(input.date_from.trim());
    let to = calendar::parse_date(input.date_to.trim());
    if from.is_none() {
        problems.push(("date_from", "requisition-error-date"));
    }
    match (from, to) {
        (_, None) => problems.push(("date_to", "requisition-error-date")),
        (Some(f), Some(t)) if t < f => problems.push(("date_to", "requisition-error-range")),
        _ => {}
    }
    let law = clean(&input.law, 300);
    if law.is_empty() {
        problems.push(("law", "requisition-error-law"));
    }
    let article = clean(&input.article, 100);
    if article.is_empty() {
        problems.push(("article", "requisition-error-article"));
    }
    let case_number = clean(&input.case_number, 100);
    if case_number.is_empty() {
        problems.push(("case_number", "requisition-error-case"));
    }
    let justification = clean(&input.justification, 4000);
    if justification.chars().count() < 20 {
        problems.push(("justification", "requisition-error-justification"));
    }
    let order = input.nondisclosure_until.trim();
    let nondisclosure_until = if order.is_empty() {
        None
    } else {
        match calendar::parse_date(order) {
            None => {
                problems.push(("nondisclosure_until", "requisition-error-date"));
                None
            }
            Some(end) if end <= today => {
                problems.push(("nondisclosure_until", "requisition-error-order-past"));
                None
            }
            Some(end) if (end - today).whole_days() > max_days => {
                problems.push(("nondisclosure_until", "requisition-error-order-too-long"));
                None
            }
            Some(end) => Some(calendar::city_day_start(end)),
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let (Some(from), Some(to)) = (from, to) else { return Err(vec![("date_from", "requisition-error-date")]) };
    Ok(Filing {
        curp,
        kinds,
        date_from: calendar::format_date(from),
        date_to: calendar::format_date(to),
        law,
        article,
        case_number,
        justification,
        nondisclosure_until,
    })
}

/// A new end for an order, asked on `today`: after the current end, at most `max_days`
/// from today.
pub fn check_extension(text: &str, current_end: i64, today: Date, max_days: i64) -> Result<i64, &'static str> {
    let end = calendar::parse_date(text.trim()).ok_or("requisition-error-date")?;
    let until = calendar::city_day_start(end);
    if until <= current_end {
        return Err("requisition-error-extension-shorter");
    }
    if (end - today).whole_days() > max_days {
        return Err("requisition-error-order-too-long");
    }
    Ok(until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requisition() -> Requisition {
        let filing = Filing {
            curp: "GODE561231HDFRRN09".into(),
            kinds: vec!["proof_of_residence".into()],
            date_from: "2026-01-01".into(),
            date_to: "2026-12-31".into(),
            law: "Código Nacional de Procedimientos Penales".into(),
            article: "Art. 252".into(),
            case_number: "CI-FCIN/123/2026".into(),
            justification: "Investigación de un delito patrimonial en curso.".into(),
            nondisclosure_until: Some(1_000),
        };
        filing.requisition("r1".into(), "fiscalia", 1, 10, 0)
    }

    #[test]
    fn two_different_approvers_neither_the_requester() {
        let mut r = requisition();
        assert_eq!(may_approve(&r, 10), Err(Refusal::OwnRequisition));
        assert_eq!(may_approve(&r, 20), Ok(Stage::First));
        r.first_approver_id = Some(20);
        assert_eq!(may_approve(&r, 20), Err(Refusal::ApprovedAlready));
        assert_eq!(may_approve(&r, 10), Err(Refusal::OwnRequisition));
        assert_eq!(may_approve(&r, 30), Ok(Stage::Second));
        r.status = Status::Approved;
        assert_eq!(may_approve(&r, 40), Err(Refusal::NotPending));
    }

    #[test]
    fn only_an_approved_requisition_is_delivered_and_only_once() {
        let mut r = requisition();
        assert_eq!(may_deliver(&r), Err(Refusal::NotApproved));
        r.status = Status::Rejected;
        assert_eq!(may_deliver(&r), Err(Refusal::NotApproved));
        r.status = Status::Approved;
        assert_eq!(may_deliver(&r), Ok(()));
        r.delivered_at = Some(5);
        assert_eq!(may_deliver(&r), Err(Refusal::DeliveredAlready));
    }

    #[test]
    fn the_person_is_told_when_the_order_ends_and_a_missed_attestation_is_overdue() {
        let mut r = requisition();
        assert!(!disclosed(&r, 999));
        assert!(disclosed(&r, 1_000));
        r.nondisclosure_until = None;
        assert!(disclosed(&r, 0));
        r.status = Status::Approved;
        r.attestation_due = Some(2_000);
        assert!(!overdue(&r, 3_000), "nothing delivered, nothing to destroy");
        r.delivered_at = Some(1_500);
        assert!(!overdue(&r, 2_000));
        assert!(overdue(&r, 2_001));
        r.attested_at = Some(2_500);
        assert!(!overdue(&r, 3_000));
    }

    #[test]
    fn a_filing_needs_every_field_and_an_order_within_the_maximum() {
        let today = calendar::parse_date("2026-12-03").unwrap();
        let input = FilingInput {
            curp: "GOMC850101MDFRRR09".into(),
            kinds: vec!["proof_of_residence".into()],
            date_from: "2026-01-01".into(),
            date_to: "2026-12-01".into(),
            law: "Código Nacional de Procedimientos Penales".into(),
            article: "Art. 252".into(),
            case_number: "CI/1".into(),
            justification: "Investigación de un delito patrimonial.".into(),
            nondisclosure_until: "2027-01-02".into(),
        };
        let checked = check_filing(&input, today, 180);
        let problems = checked.as_ref().err().cloned().unwrap_or_default();
        assert!(problems.iter().all(|(field, _)| *field == "curp"), "{problems:?}");
        let too_long = FilingInput { nondisclosure_until: "2027-07-01".into(), ..input.clone() };
        let problems = check_filing(&too_long, today, 180).unwrap_err();
        assert!(problems.contains(&("nondisclosure_until", "requisition-error-order-too-long")));
        let empty = FilingInput::default();
        let fields: Vec<&str> = check_filing(&empty, today, 180).unwrap_err().iter().map(|(f, _)| *f).collect();
        for field in ["curp", "kinds", "date_from", "date_to", "law", "article", "case_number", "justification"] {
            assert!(fields.contains(&field), "{field} missing from {fields:?}");
        }
    }
}
