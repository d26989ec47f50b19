//! Real-format CURPs published alongside their holders' names, checked
//! against this crate's parser (check digit, date, state) and name rules.
//!
//! The name/CURP pairs come from a public adult-education graduate list
//! (INEA Morelos) as collected in the test data of the open-source
//! `mexa-py` project; they are public records and are used here only as
//! reference values for the published algorithm.

use curp::{Curp, CurpError, Person, check_consistency};

/// (first surname, second surname, given names, CURP)
const PUBLISHED: &[(&str, &str, &str, &str)] = &[
    ("ABARCA", "MORALES", "REINA", "AAMR780430MGRBRN00"),
    // LUZ MARIA: only a *leading* MARÍA is skipped.
    ("ABARCA", "PORCALLO", "LUZ MARIA", "AAPL900311MGRBRZ00"),
    // Ñ inside a surname does not change letters 1-2; ACUÑA's inner
    // consonant is C.
    ("ACUÑA", "PAREDES", "ALEJANDRA", "AUPA800423MMSCRL05"),
    // MARIA DE JESUS: MARÍA skipped, then the particle DE: JESUS.
    ("ACUÑA", "VALLADARES", "MARIA DE JESUS", "AUVJ840205MGRCLS16"),
    // JOSE alone is kept.
    ("ADULFO", "DOMINGUEZ", "JOSE", "AUDJ950903HMSDMS09"),
    // Born 2001: letter differentiator.
    ("AGUILAR", "ENRIQUEZ", "LISBEHT EUSTOLIA", "AUEL010114MMCGNSA3"),
    // MA. is MARÍA abbreviated.
    ("AGUILAR", "PEREZ", "MA. ELENA", "AUPE740220MMSGRL06"),
    ("AHUEJOTE", "RODRIGUEZ", "JOSE CARLOS", "AURC771110HMSHDR08"),
    // Particles in the second surname.
    ("ALCALA", "DE LOS SANTOS", "SILVERIA", "AASS580620MMSLNL07"),
    ("ALVARADO", "GALINDO", "MA. DEL PILAR", "AAGP571023MOCLLL09"),
    // H counts as an inner consonant.
    ("AMARO", "MARTINEZ", "CHRISTIAN ROGELIO", "AAMC840617HMSMRH08"),
    // Ñ as an inner consonant is written X.
    ("ANGUIANO", "PEÑALOZA", "OLGA LIDIA", "AUPO741202MMSNXL02"),
    ("ALVAREZ", "MARTINEZ", "ALISON JULIETTE", "AAMA001111MDFLRLA9"),
    ("AMADOR", "ALVAREZ", "ALONDRA DE JESUS", "AAAA000611MMSMLLA4"),
    // Y is a consonant.
    ("ACEVEDO", "CANO", "REYNA", "AECR350123MPLCNY04"),
    ("GARCIA", "DE LA CRUZ", "SERGIO", "GACS861102HGRRRR02"),
    ("GARCIA", "MUÑOZ", "ULISES", "GAMU890723HMSRXL09"),
    ("GARCIA", "TERAN", "JOSE CARMEN", "GATC300716HGRRRR07"),
    ("GARCIA", "VALENTIN", "MA. EUGENIA", "GAVE741115MMSRLG06"),
    ("GARDUÑO", "MERCADO", "SILVIA", "GAMS930629MDFRRL01"),
    ("GARCIA", "GONZALEZ", "MARIA GUADALUPE", "GAGG700704MDFRND07"),
    ("GARCIA", "SOSA", "JOSE MIGUEL", "GASM890912HMSRSG04"),
    ("GARCIA", "PIÑA", "SANDRA PATRICIA", "GAPS760912MMSRXN09"),
    ("GARCIA", "HOYOS", "MARIANO", "GAHM001207HMSRYRA5"),
];

#[test]
fn published_curps_parse_and_match_their_holders() {
    for &(first, second, given, text) in PUBLISHED {
        let curp = Curp::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let person = Person {
            given_names: given.into(),
            first_surname: first.into(),
            second_surname: Some(second.into()),
            birth_date: curp.birth_date(),
            sex: curp.sex(),
            state: curp.state(),
        };
        assert_eq!(check_consistency(&curp, &person), Ok(()), "{text} {given} {first} {second}");
        assert_eq!(curp::curp_for(&person, curp.differentiator()), curp);
    }
}

/// Examples published by other validators (python-stdnum, php-id-parser…).
#[test]
fn published_validator_examples() {
    for text in [
        "BOXW310820HNERXN09",
        "MAAR790213HMNRLF03",
        "HEGG560427MVZRRL04",
        "TUAZ790213HMNRLF02",
        "TUAZ040213MCLRLFA7",
        "JIAZ040213MCLRLFA6",
        "PEGL890909MJCRMS08",
        "VIAA900930MMNCLL08",
    ] {
        assert!(Curp::parse(text).is_ok(), "{text}");
    }
    assert_eq!(Curp::parse("BOXW310820HNERXN08"), Err(CurpError::CheckDigit { expected: 9, found: '8' }));
}

#[test]
fn leap_years_follow_the_differentiator_century() {
    // 2000-02-29 exists (2000 is divisible by 400); letter → 20YY.
    let curp = curp::curp_for(
        &Person {
            given_names: "Ana".into(),
            first_surname: "Ruiz".into(),
            second_surname: None,
            birth_date: curp::Date::new(2000, 2, 29).unwrap(),
            sex: curp::Sex::M,
            state: curp::State::Jalisco,
        },
        'A',
    );
    assert_eq!(curp.as_str(), "RUXA000229MJCZXNA6");
    assert_eq!(Curp::parse("RUXA000229MJCZXNA6"), Ok(curp));
    // The same characters with a digit differentiator mean 1900-02-29,
    // which does not exist (1900 is a century not divisible by 400).
    assert_eq!(Curp::parse("RUXA000229MJCZXN0X").unwrap_err(), CurpError::Alphabet { position: 18, found: 'X' });
    assert_eq!(Curp::parse("RUXA000229MJCZXN00"), Err(CurpError::Date { year: 1900, month: 2, day: 29 }));
    // 2001 is not a leap year.
    assert_eq!(Curp::parse("RUXA010229MJCZXNA0"), Err(CurpError::Date { year: 2001, month: 2, day: 29 }));
}

#[test]
fn each_error_variant() {
    use CurpError::*;
    let cases: &[(&str, CurpError)] = &[
        ("", Empty),
        ("   ", Empty),
        ("BOXW310820", Length { found: 10 }),
        ("BOXW310820HNERXN09BOXW310820HNERXN09", Length { found: 36 }),
        // Position 2 is the first inner vowel of the first surname, or X.
        ("BCXW310820HNERXN09", NameLetters { position: 2 }),
        ("B0XW310820HNERXN09", Alphabet { position: 2, found: '0' }),
        ("BOX#310820HNERXN09", Alphabet { position: 4, found: '#' }),
        ("ÑOXW310820HNERXN09", Alphabet { position: 1, found: 'Ñ' }),
        ("ñoxw310820hnerxn09", Alphabet { position: 1, found: 'Ñ' }),
        ("BOXW31O820HNERXN09", Alphabet { position: 7, found: 'O' }),
        ("BOXW310820HNERÑN09", Alphabet { position: 15, found: 'Ñ' }),
        ("BOXW310820HNERXE09", InternalConsonants { position: 16 }),
        ("BOXW991320HNERXN09", Date { year: 1999, month: 13, day: 20 }),
        ("BOXW990132HNERXN09", Date { year: 1999, month: 1, day: 32 }),
        ("BOXW990230HNERXN09", Date { year: 1999, month: 2, day: 30 }),
        ("BOXW990001HNERXN09", Date { year: 1999, month: 0, day: 1 }),
        ("BOXW310820YNERXN09", Sex { found: 'Y' }),
        ("BOXW310820HZZRXN09", State { found: "ZZ".into() }),
        ("BOXW310820HNERXN?9", Differentiator { found: '?' }),
        ("BOXW310820HNERXN01", CheckDigit { expected: 9, found: '1' }),
    ];
    for (input, expected) in cases {
        assert_eq!(Curp::parse(input).as_ref(), Err(expected), "{input:?}");
    }
}

#[test]
fn the_first_failing_check_wins() {
    // Bad date, bad state and bad check digit: the date is reported.
    assert_eq!(Curp::parse("BOXW991320HZZRXN01"), Err(CurpError::Date { year: 1999, month: 13, day: 20 }));
    // Bad state and bad check digit: the state is reported.
    assert_eq!(Curp::parse("BOXW310820HZZRXN01"), Err(CurpError::State { found: "ZZ".into() }));
}

#[test]
fn hostile_inputs_are_refused_without_panicking() {
    for input in [
        "💥".repeat(18),
        "é".repeat(18),
        "\u{0}".repeat(18),
        "A".repeat(1_000_000),
        "BOXW310820HNERXN0\u{301}".to_owned(),
        "ＢＯＸＷ３１０８２０ＨＮＥＲＸＮ０９".to_owned(),
    ] {
        assert!(Curp::parse(&input).is_err());
    }
    assert_eq!(Curp::parse(&"x".repeat(1_000_000)), Err(CurpError::Length { found: 1_000_000 }));
}
