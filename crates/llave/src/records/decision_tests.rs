//! Tables for the reuse decisions: one row per rule, positive and negative.

use super::*;

const NOW: i64 = 1_780_000_000;
const TODAY: &str = "2026-06-15";
const LAW: &str = "Ley de Movilidad, Art. 1";
const READER: i64 = 2;

fn consent(id: &str, holder: i64) -> ReuseConsent {
    ReuseConsent {
        id: id.into(),
        account_id: 7,
        reader_entity_id: READER,
        procedure: "licencia".into(),
        kind: "proof_of_residence".into(),
        holder_entity_id: holder,
        granted_at: NOW - 100,
        withdrawn_at: None,
    }
}

fn locator(record_id: &str, entity_id: i64, updated_at: i64) -> Locator {
    Locator {
        record_id: record_id.into(),
        entity_id,
        account_id: 7,
        kind: "proof_of_residence".into(),
        procedure: None,
        version: 1,
        valid_from: Some("2026-01-01".into()),
        valid_until: Some("2099-12-31".into()),
        created_at: updated_at,
        updated_at,
        withdrawn_at: None,
    }
}

fn grant(basis: &str) -> Grant {
    Grant {
        id: "g1".into(),
        record_id: "r1".into(),
        account_id: 7,
        reader_entity_id: READER,
        reader_client_id: "semovi-backend".into(),
        procedure: "licencia".into(),
        basis: basis.into(),
        consent_id: (basis == "consent").then(|| "c1".into()),
        legal_basis: (basis == "legal_basis").then(|| LAW.into()),
        created_at: NOW - 60,
        expires_at: NOW + 240,
        spent_at: None,
    }
}

#[test]
fn lookup_table() {
    let consents = [consent("c1", 1)];
    let kinds = ["official_id", "proof_of_residence"];
    let base = Lookup {
        procedure: "licencia",
        run_by: "semovi",
        required_kinds: &kinds,
        reader: "semovi",
        kind: "proof_of_residence",
        approved_basis: None,
        consents: &consents,
    };
    let consent_required = Err(Refused {
        code: "consent_required",
        description: "the person has not consented to this reuse and the procedure's legal basis does not allow it \
                      without consent; ask for it at sign-in (authorization_details)"
            .into(),
    });
    let not_yours =
        Err(Refused { code: "not_your_procedure", description: "procedure licencia is run by another entity".into() });
    let rows: Vec<(&str, Lookup, Result<Allowed, Refused>)> = vec![
        ("standing consent allows", base, Ok(Allowed::Consent(&consents))),
        (
            "an approved basis spares the consent",
            Lookup { approved_basis: Some(LAW), consents: &[], ..base },
            Ok(Allowed::LegalBasis(LAW)),
        ),
        (
            "an approved basis wins over a consent",
            Lookup { approved_basis: Some(LAW), ..base },
            Ok(Allowed::LegalBasis(LAW)),
        ),
        ("no basis and no consent", Lookup { consents: &[], ..base }, consent_required),
        ("another entity's procedure", Lookup { reader: "otra", ..base }, not_yours.clone()),
        (
            "another entity's procedure, even with a basis",
            Lookup { reader: "otra", approved_basis: Some(LAW), ..base },
            not_yours.clone(),
        ),
        (
            "another entity's procedure is checked before the kind",
            Lookup { reader: "otra", kind: "birth_certificate", ..base },
            not_yours,
        ),
        (
            "a kind the procedure does not require",
            Lookup { kind: "birth_certificate", approved_basis: Some(LAW), ..base },
            Err(Refused {
                code: "kind_not_required",
                description: "the catalog does not list \"birth_certificate\" as a requirement of licencia".into(),
            }),
        ),
    ];
    for (name, facts, expected) in rows {
        assert_eq!(lookup(&facts), expected, "{name}");
    }
    assert_eq!(Allowed::LegalBasis(LAW).basis().as_str(), "legal_basis");
    assert_eq!(Allowed::Consent(&consents).basis().as_str(), "consent");
}

#[test]
fn in_force_table() {
    let l = locator("r", 1, NOW);
    let rows = [
        ("valid today", l.clone(), true),
        ("valid from today", Locator { valid_from: Some(TODAY.into()), ..l.clone() }, true),
        ("valid until today", Locator { valid_until: Some(TODAY.into()), ..l.clone() }, true),
        ("no validity given", Locator { valid_from: None, valid_until: None, ..l.clone() }, true),
        ("not valid yet", Locator { valid_from: Some("2026-06-16".into()), ..l.clone() }, false),
        ("expired yesterday", Locator { valid_until: Some("2026-06-14".into()), ..l.clone() }, false),
        ("withdrawn", Locator { withdrawn_at: Some(NOW), ..l.clone() }, false),
    ];
    for (name, locator, expected) in rows {
        assert_eq!(in_force(&locator, TODAY), expected, "{name}");
    }
}

#[test]
fn choose_table() {
    let consents = [consent("c-at-1", 1), consent("c-at-3", 3)];
    let law = Allowed::LegalBasis(LAW);
    let by_consent = Allowed::Consent(&consents);
    let withdrawn = Locator { withdrawn_at: Some(NOW), ..locator("r-new", 3, NOW) };
    let chosen =
        |l: Locator, consent: Option<&str>| Some(Chosen { locator: l, consent_id: consent.map(str::to_string) });
    let rows: Vec<(&str, &Allowed, Vec<Locator>, Option<Chosen>)> = vec![
        ("law: another holder's record", &law, vec![locator("r1", 1, NOW)], chosen(locator("r1", 1, NOW), None)),
        (
            "law: the reader's own record is skipped",
            &law,
            vec![locator("own", READER, NOW), locator("r1", 1, NOW - 9)],
            chosen(locator("r1", 1, NOW - 9), None),
        ),
        ("law: only the reader's own record", &law, vec![locator("own", READER, NOW)], None),
        (
            "law: a record not in force is skipped",
            &law,
            vec![withdrawn.clone(), locator("r1", 1, NOW - 9)],
            chosen(locator("r1", 1, NOW - 9), None),
        ),
        (
            "law: the store's order decides",
            &law,
            vec![locator("r1", 1, NOW - 9), locator("r3", 3, NOW)],
            chosen(locator("r1", 1, NOW - 9), None),
        ),
        ("law: no record", &law, vec![], None),
        (
            "consent: the newest record, with its holder's consent",
            &by_consent,
            vec![locator("r1", 1, NOW - 9), locator("r3", 3, NOW)],
            chosen(locator("r3", 3, NOW), Some("c-at-3")),
        ),
        (
            "consent: a tie goes to the smaller record id",
            &by_consent,
            vec![locator("rb", 3, NOW), locator("ra", 1, NOW)],
            chosen(locator("ra", 1, NOW), Some("c-at-1")),
        ),
        (
            "consent: the newest is withdrawn",
            &by_consent,
            vec![withdrawn.clone(), locator("r1", 1, NOW - 9)],
            chosen(locator("r1", 1, NOW - 9), Some("c-at-1")),
        ),
        ("consent: nothing in force", &by_consent, vec![withdrawn], None),
    ];
    for (name, allowed, found, expected) in rows {
        assert_eq!(choose(allowed, READER, found, TODAY), expected, "{name}");
    }
}

#[test]
fn grant_read_table() {
    let consent_grant = grant("consent");
    let law_grant = grant("legal_basis");
    let spent = Grant { spent_at: Some(NOW - 1), ..grant("consent") };
    let expired = Grant { expires_at: NOW, ..grant("consent") };
    let odd_basis = grant("contract");
    let base = GrantRead {
        grant: Some(&consent_grant),
        record_exists: true,
        reader_entity_id: READER,
        record_id: "r1",
        procedure: "licencia",
        now: NOW,
        consent_stands: true,
        approved_basis: None,
    };
    let under_law = GrantRead { grant: Some(&law_grant), consent_stands: false, approved_basis: Some(LAW), ..base };
    let rows: Vec<(&str, GrantRead, Option<&str>)> = vec![
        ("a consent grant, consent standing", base, None),
        ("a legal-basis grant, basis still approved", under_law, None),
        ("unknown grant", GrantRead { grant: None, ..base }, Some("the grant is unknown")),
        (
            "another entity's grant",
            GrantRead { reader_entity_id: 9, ..base },
            Some("the grant was given to another entity"),
        ),
        ("another record", GrantRead { record_id: "r2", ..base }, Some("the grant is for another record")),
        ("another procedure", GrantRead { procedure: "permiso", ..base }, Some("the grant is for another procedure")),
        ("already used", GrantRead { grant: Some(&spent), ..base }, Some("the grant was already used")),
        ("expired (at its second)", GrantRead { grant: Some(&expired), ..base }, Some("the grant has expired")),
        ("live one second before", GrantRead { now: NOW + 239, ..base }, None),
        ("no such record", GrantRead { record_exists: false, ..base }, Some("no record has that id")),
        (
            "consent withdrawn",
            GrantRead { consent_stands: false, ..base },
            Some("the person withdrew the consent the grant was given under"),
        ),
        (
            "basis no longer approved",
            GrantRead { approved_basis: None, ..under_law },
            Some("the legal basis the grant was given under is no longer approved"),
        ),
        (
            "another basis approved now",
            GrantRead { approved_basis: Some("Ley nueva, Art. 2"), ..under_law },
            Some("the legal basis the grant was given under is no longer approved"),
        ),
        ("a legal-basis grant ignores consents", GrantRead { consent_stands: true, ..under_law }, None),
        (
            "a consent grant ignores approvals",
            GrantRead { approved_basis: Some(LAW), consent_stands: false, ..base },
            Some("the person withdrew the consent the grant was given under"),
        ),
        (
            "a basis llave does not know is not checked further",
            GrantRead { grant: Some(&odd_basis), consent_stands: false, ..base },
            None,
        ),
        (
            "the entity is checked before the record",
            GrantRead { reader_entity_id: 9, record_id: "r2", record_exists: false, ..base },
            Some("the grant was given to another entity"),
        ),
        (
            "a spent grant is refused before its record is missed",
            GrantRead { grant: Some(&spent), record_exists: false, ..base },
            Some("the grant was already used"),
        ),
        (
            "a missing record is refused before a withdrawn consent",
            GrantRead { record_exists: false, consent_stands: false, ..base },
            Some("no record has that id"),
        ),
    ];
    for (name, facts, expected) in rows {
        assert_eq!(grant_problem(&facts), expected, "{name}");
    }
}

#[test]
fn basis_names_round_trip() {
    for basis in [Basis::Consent, Basis::LegalBasis] {
        assert_eq!(Basis::parse(basis.as_str()), Some(basis));
    }
    assert_eq!(Basis::parse("Consent"), None);
}
