//! Accountable requisitions (issue 16, "Requisitions"; docs/requisitions.md). A requesting
//! authority (a prosecutor's office, a court, the tax authority; `authorities`) asks,
//! through a person holding its role `requester`, for one person's records of some kinds in
//! a date range, citing the law, the article and the case, with a justification and perhaps
//! a non-disclosure order. Two different hub staff with role `requisition_approver` —
//! neither the requester — approve it, or either rejects it with reasons; only then the
//! authority downloads, once, a package built at that moment from the holders' stores,
//! sealed by the hub and encrypted to the authority's certificate (`package`). The person
//! sees the requisition in their file at once, or when the order ends (an extension needs
//! two new approvals); the authority attests destruction or retention by a deadline set
//! at approval, and a missed one is flagged. Every step is an act with its event, so the
//! audit log holds the requisition from the start, pseudonymously.
//!
//! `rules` holds the decisions as plain functions; this module runs them against the
//! store; `pages` and `api` are the HTTP edge.

pub mod api;
pub mod authorities;
pub mod ecdh;
pub mod package;
pub mod pages;
pub mod rules;

use crate::Services;
use crate::calendar;
use crate::crypto::random_id;
use crate::records;
use crate::store::requisitions::{Requisition, Status};
use crate::store::roles::HUB;
use crate::store::{Account, AccountId, ActorKind, Event, EventKind, StoreError, Tx};
use rules::{FieldProblem, FilingInput, Refusal, Stage};

/// Files requisitions for one authority (scope: the authority's slug).
pub const REQUESTER: &str = "requester";
/// Approves or rejects requisitions (scope: the hub).
pub const APPROVER: &str = "requisition_approver";
/// Hub staff see the overdue attestations.
pub const HUB_STAFF: &str = "hub_staff";

#[derive(Debug, thiserror::Error)]
pub enum RequisitionError {
    #[error("refused: {}", .0.code())]
    Refused(Refusal),
    #[error("the filing has problems")]
    Invalid(Vec<FieldProblem>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Package(#[from] package::PackageError),
}

impl From<Refusal> for RequisitionError {
    fn from(refusal: Refusal) -> Self {
        RequisitionError::Refused(refusal)
    }
}

pub type Result<T> = std::result::Result<T, RequisitionError>;

/// A filing problem's message in `lang`; those about the order's length name `max_days`.
pub fn message(lang: crate::i18n::Lang, key: &str, max_days: i64) -> String {
    lang.t_with(key, &[("days", max_days.to_string())])
}

/// What a staff member may do with requisitions.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    /// The authorities they file for.
    pub requester_of: Vec<String>,
    pub approver: bool,
    pub hub_staff: bool,
}

impl Roles {
    pub fn any(&self) -> bool {
        !self.requester_of.is_empty() || self.approver || self.hub_staff
    }

    pub fn requests_for(&self, authority: &str) -> bool {
        self.requester_of.iter().any(|a| a == authority)
    }
}

pub async fn roles(app: &Services, account: AccountId) -> std::result::Result<Roles, StoreError> {
    let mut roles = Roles::default();
    for (role, scope) in app.store.roles_of(account).await? {
        match role.as_str() {
            REQUESTER => roles.requester_of.push(scope),
            APPROVER if scope == HUB => roles.approver = true,
            HUB_STAFF if scope == HUB => roles.hub_staff = true,
            _ => {}
        }
    }
    Ok(roles)
}

/// A requisition's event: about the person, by the staff member, on its legal basis.
fn event(kind: EventKind, r: &Requisition, by: &Account, detail: String) -> Event {
    Event {
        actor_kind: ActorKind::Staff,
        actor: by.curp.clone(),
        basis: Some(citation(r)),
        ..Event::system(kind, Some(AccountId(r.account_id)), "", &detail)
    }
}

/// The legal basis as one line: law, article, case.
pub fn citation(r: &Requisition) -> String {
    format!("{}, {} ({})", r.law, r.article, r.case_number)
}

async fn load(app: &Services, id: &str) -> Result<Requisition> {
    app.store.requisition(id.trim()).await?.ok_or(RequisitionError::Refused(Refusal::UnknownRequisition))
}

/// Files a requisition for `authority`, by one of its requesters.
pub async fn file(app: &Services, requester: &Account, authority: &str, input: &FilingInput) -> Result<Requisition> {
    let authority = authority.trim();
    let roles = roles(app, requester.id).await?;
    if app.store.requesting_authority(authority).await?.is_none() {
        return Err(Refusal::UnknownAuthority.into());
    }
    if !roles.requests_for(authority) {
        return Err(Refusal::NotRequester.into());
    }
    let now = app.clock.now();
    let today = calendar::city_date(now);
    let filing = rules::check_filing(input, today, app.config.requisitions.max_nondisclosure_days)
        .map_err(RequisitionError::Invalid)?;
    let Some(person) = app.store.account_by_curp(&filing.curp).await? else {
        return Err(RequisitionError::Invalid(vec![("curp", "requisition-error-no-account")]));
    };
    let requisition = filing.requisition(random_id(), authority, person.id.0, requester.id.0, now);
    let detail = format!(
        "requisition={} authority={} kinds={} from={} to={} nondisclosure_until={}",
        requisition.id,
        requisition.authority_slug,
        requisition.kinds.join(","),
        requisition.date_from,
        requisition.date_to,
        requisition.nondisclosure_until.map(|t| t.to_string()).unwrap_or_else(|| "-".into())
    );
    let filed = event(EventKind::RequisitionFiled, &requisition, requester, detail);
    app.store
        .act("requisition_filed", async |tx: &mut Tx| {
            tx.file_requisition(&requisition).await?;
            tx.event(filed);
            Ok::<_, StoreError>(())
        })
        .await?;
    Ok(requisition)
}

async fn approver(app: &Services, account: &Account) -> Result<()> {
    if roles(app, account.id).await?.approver { Ok(()) } else { Err(Refusal::NotApprover.into()) }
}

/// One approval; the second puts the requisition in effect and sets the attestation's
/// deadline.
pub async fn approve(app: &Services, by: &Account, id: &str) -> Result<Stage> {
    approver(app, by).await?;
    // Two approvers at the same moment may both see no approval: the one whose update loses
    // reads the requisition again and, if the rules allow, gives the second approval.
    for _ in 0..2 {
        let r = load(app, id).await?;
        let stage = rules::may_approve(&r, by.id.0)?;
        if approve_at(app, by, &r, stage).await? {
            return Ok(stage);
        }
    }
    let stored = load(app, id).await?;
    Err(rules::may_approve(&stored, by.id.0).err().unwrap_or(Refusal::NotPending).into())
}

/// The approval as one act; false if another act changed the requisition first.
async fn approve_at(app: &Services, by: &Account, r: &Requisition, stage: Stage) -> Result<bool> {
    let now = app.clock.now();
    let due = now + app.config.requisitions.attestation_days * 86_400;
    let approved =
        event(EventKind::RequisitionApproved, r, by, format!("requisition={} approval={}", r.id, stage.number()));
    let done = app
        .store
        .act("requisition_approved", async |tx: &mut Tx| {
            let done = match stage {
                Stage::First => tx.approve_first(&r.id, by.id.0, now).await?,
                Stage::Second => tx.approve_second(&r.id, by.id.0, now, due).await?,
            };
            if done {
                tx.event(approved);
            }
            Ok::<_, StoreError>(done)
        })
        .await?;
    Ok(done)
}

/// A rejection with reasons (required).
pub async fn reject(app: &Services, by: &Account, id: &str, reason: &str) -> Result<()> {
    approver(app, by).await?;
    let r = load(app, id).await?;
    rules::may_reject(&r, by.id.0)?;
    let reason: String = reason.chars().filter(|c| !c.is_control()).take(2000).collect();
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(RequisitionError::Invalid(vec![("reason", "requisition-error-reason")]));
    }
    let now = app.clock.now();
    let rejected = event(EventKind::RequisitionRejected, &r, by, format!("requisition={} reason={reason}", r.id));
    let done = app
        .store
        .act("requisition_rejected", async |tx: &mut Tx| {
            let done = tx.reject_requisition(&r.id, by.id.0, now, reason).await?;
            if done {
                tx.event(rejected);
            }
            Ok::<_, StoreError>(done)
        })
        .await?;
    if done { Ok(()) } else { Err(Refusal::NotPending.into()) }
}

/// A requisition of an authority `by` files for.
async fn own(app: &Services, by: &Account, id: &str) -> Result<Requisition> {
    let r = load(app, id).await?;
    if !roles(app, by.id).await?.requests_for(&r.authority_slug) {
        return Err(Refusal::NotRequester.into());
    }
    Ok(r)
}

/// The one download: the package (DER), built now; the delivery is an act with its event.
pub async fn download(app: &Services, by: &Account, id: &str) -> Result<Vec<u8>> {
    let r = own(app, by, id).await?;
    rules::may_deliver(&r)?;
    let authority = app.store.requesting_authority(&r.authority_slug).await?.ok_or(Refusal::UnknownAuthority)?;
    let person = app
        .store
        .account_by_id(AccountId(r.account_id))
        .await?
        .ok_or_else(|| StoreError::Data(format!("requisition {} names no account", r.id)))?;
    let now = app.clock.now();
    let assembled = package::assemble(app, &r, &authority, &person.curp, now).await?;
    let sealed = package::seal_and_encrypt(app, &authority, &assembled.document, now).await?;
    let sha256 = records::hex_sha256(&sealed);
    let delivered = event(
        EventKind::RequisitionDelivered,
        &r,
        by,
        format!("requisition={} records={} sha256={sha256}", r.id, assembled.records.join(",")),
    );
    // Committed before the package leaves: an unlogged delivery never happens, and the
    // conditional update lets only one download through.
    let done = app
        .store
        .act("requisition_delivered", async |tx: &mut Tx| {
            let done = tx.mark_delivered(&r.id, now, &assembled.records, &sha256).await?;
            if done {
                tx.event(delivered);
            }
            Ok::<_, StoreError>(done)
        })
        .await?;
    if done { Ok(sealed) } else { Err(Refusal::DeliveredAlready.into()) }
}

/// What the authority did with the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attestation {
    Destroyed,
    Retained,
}

impl Attestation {
    pub fn parse(text: &str) -> Option<Attestation> {
        match text.trim() {
            "destroyed" => Some(Attestation::Destroyed),
            "retained" => Some(Attestation::Retained),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Attestation::Destroyed => "destroyed",
            Attestation::Retained => "retained",
        }
    }
}

/// The authority's attestation, with the basis for retaining (or the manner of destroying).
pub async fn attest(app: &Services, by: &Account, id: &str, attestation: &str, basis: &str) -> Result<()> {
    let r = own(app, by, id).await?;
    rules::may_attest(&r)?;
    let Some(attestation) = Attestation::parse(attestation) else {
        return Err(RequisitionError::Invalid(vec![("attestation", "requisition-error-attestation")]));
    };
    let basis: String = basis.chars().filter(|c| !c.is_control()).take(2000).collect();
    let basis = basis.trim();
    if basis.is_empty() {
        return Err(RequisitionError::Invalid(vec![("basis", "requisition-error-basis")]));
    }
    let now = app.clock.now();
    let attested = event(
        EventKind::RequisitionAttested,
        &r,
        by,
        format!("requisition={} attestation={} basis={basis}", r.id, attestation.as_str()),
    );
    let done = app
        .store
        .act("requisition_attested", async |tx: &mut Tx| {
            let done = tx.attest(&r.id, now, attestation.as_str(), basis).await?;
            if done {
                tx.event(attested);
            }
            Ok::<_, StoreError>(done)
        })
        .await?;
    if done { Ok(()) } else { Err(Refusal::AttestedAlready.into()) }
}

/// Asks for a longer non-disclosure order (to the day `until`, `YYYY-MM-DD`).
pub async fn ask_extension(app: &Services, by: &Account, id: &str, until: &str) -> Result<i64> {
    let r = own(app, by, id).await?;
    let now = app.clock.now();
    rules::may_ask_extension(&r, now)?;
    let current = r.nondisclosure_until.unwrap_or(now);
    let until = rules::check_extension(
        until,
        current,
        calendar::city_date(now),
        app.config.requisitions.max_nondisclosure_days,
    )
    .map_err(|key| RequisitionError::Invalid(vec![("until", key)]))?;
    let asked = event(EventKind::RequisitionExtensionAsked, &r, by, format!("requisition={} until={until}", r.id));
    let done = app
        .store
        .act("requisition_extension_asked", async |tx: &mut Tx| {
            let done = tx.ask_extension(&r.id, until, now).await?;
            if done {
                tx.event(asked);
            }
            Ok::<_, StoreError>(done)
        })
        .await?;
    if done { Ok(until) } else { Err(Refusal::NoOrder.into()) }
}

/// An approval of the extension asked for; the second puts the new end in effect.
pub async fn approve_extension(app: &Services, by: &Account, id: &str) -> Result<Stage> {
    approver(app, by).await?;
    let r = load(app, id).await?;
    let stage = rules::may_approve_extension(&r, by.id.0)?;
    let extended =
        event(EventKind::RequisitionExtended, &r, by, format!("requisition={} approval={}", r.id, stage.number()));
    let done = app
        .store
        .act("requisition_extended", async |tx: &mut Tx| {
            let done = match stage {
                Stage::First => tx.approve_extension_first(&r.id, by.id.0).await?,
                Stage::Second => tx.approve_extension_second(&r.id, by.id.0).await?,
            };
            if done {
                tx.event(extended);
            }
            Ok::<_, StoreError>(done)
        })
        .await?;
    if done { Ok(stage) } else { Err(Refusal::NoExtension.into()) }
}

/// One line of `llave requisitions report` and of the staff page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportLine {
    pub id: String,
    pub authority: String,
    pub case_number: String,
    pub status: Status,
    pub filed_at: i64,
    pub delivered_at: Option<i64>,
    pub attestation_due: Option<i64>,
    pub attestation: Option<String>,
    pub overdue: bool,
}

/// Every requisition, with its overdue flag at `now`.
pub async fn report(app: &Services, now: i64) -> std::result::Result<Vec<ReportLine>, StoreError> {
    Ok(app
        .store
        .all_requisitions()
        .await?
        .into_iter()
        .map(|r| ReportLine {
            overdue: rules::overdue(&r, now),
            id: r.id,
            authority: r.authority_slug,
            case_number: r.case_number,
            status: r.status,
            filed_at: r.filed_at,
            delivered_at: r.delivered_at,
            attestation_due: r.attestation_due,
            attestation: r.attestation,
        })
        .collect())
}
