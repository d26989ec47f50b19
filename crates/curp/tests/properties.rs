//! Property tests: synthetic people always get CURPs that parse and fit
//! them, single-field corruptions are reported by the right error, and no
//! input makes anything panic.

use curp::{
    Curp, CurpError, Date, Person, Sex, State, Synth, check_consistency, curp_for, expected_internal_consonants,
    expected_name_letters,
};
use proptest::prelude::*;

/// A synthetic person and their CURP, from a seed.
fn synthetic(seed: u64, skip: u8) -> (Person, Curp) {
    let mut synth = Synth::new(seed);
    for _ in 0..skip {
        synth.person();
    }
    let person = synth.person();
    let curp = synth.curp(&person);
    (person, curp)
}

/// `text` with characters `start..` replaced by `with`.
fn splice(text: &str, start: usize, with: &str) -> String {
    let mut out = text.to_owned();
    out.replace_range(start..start + with.len(), with);
    out
}

fn any_sex() -> impl Strategy<Value = Sex> {
    prop_oneof![Just(Sex::H), Just(Sex::M), Just(Sex::X)]
}

fn any_state() -> impl Strategy<Value = State> {
    (0..State::all().len()).prop_map(|i| State::all()[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn synthetic_people_get_consistent_curps(seed in any::<u64>(), skip in 0u8..8) {
        let (person, curp) = synthetic(seed, skip);
        prop_assert_eq!(Curp::parse(curp.as_str()), Ok(curp.clone()));
        prop_assert_eq!(check_consistency(&curp, &person), Ok(()));
        prop_assert_eq!(curp.birth_date(), person.birth_date);
        prop_assert_eq!(curp.name_letters(), expected_name_letters(&person));
        prop_assert_eq!(curp.internal_consonants(), expected_internal_consonants(&person));
        prop_assert_eq!(curp.masked().chars().count(), 18);
    }

    #[test]
    fn same_seed_same_person(seed in any::<u64>()) {
        prop_assert_eq!(synthetic(seed, 0), synthetic(seed, 0));
    }

    #[test]
    fn lower_case_and_spaces_are_normalised(seed in any::<u64>(), pad in "[ \t\n]{0,3}") {
        let (_, curp) = synthetic(seed, 0);
        let messy = format!("{pad}{}{pad}", curp.as_str().to_lowercase());
        prop_assert_eq!(Curp::parse(&messy), Ok(curp));
    }

    #[test]
    fn any_other_check_digit_is_refused(seed in any::<u64>(), digit in 0u8..10) {
        let (_, curp) = synthetic(seed, 0);
        prop_assume!(digit != curp.check_digit());
        let found = char::from(b'0' + digit);
        let bad = splice(curp.as_str(), 17, &found.to_string());
        prop_assert_eq!(
            Curp::parse(&bad),
            Err(CurpError::CheckDigit { expected: curp.check_digit(), found })
        );
    }

    #[test]
    fn impossible_dates_are_refused(seed in any::<u64>(), which in 0usize..4) {
        let (_, curp) = synthetic(seed, 0);
        let yy = &curp.as_str()[4..6];
        let (mmdd, month, day) = [("1301", 13, 1), ("0132", 1, 32), ("0230", 2, 30), ("0431", 4, 31)][which];
        let bad = splice(curp.as_str(), 4, &format!("{yy}{mmdd}"));
        let year = curp.birth_date().year;
        prop_assert_eq!(Curp::parse(&bad), Err(CurpError::Date { year, month, day }));
    }

    #[test]
    fn unknown_states_are_refused(seed in any::<u64>(), code in "[A-Z]{2}") {
        prop_assume!(State::parse(&code).is_none());
        let (_, curp) = synthetic(seed, 0);
        let bad = splice(curp.as_str(), 11, &code);
        prop_assert_eq!(Curp::parse(&bad), Err(CurpError::State { found: code }));
    }

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        let _ = Curp::parse(&input);
    }

    #[test]
    fn arbitrary_18_char_strings_never_panic(input in "[A-Za-z0-9Ññ ._\\-\u{0}-\u{2FF}]{18}") {
        if let Ok(curp) = Curp::parse(&input) {
            prop_assert_eq!(curp.as_str().len(), 18);
        }
    }

    /// One character of a valid CURP replaced by anything: either still a
    /// valid CURP (same check digit by chance of a consistent edit) or an
    /// error, never a panic; and whatever parses is stable.
    #[test]
    fn single_character_corruptions(seed in any::<u64>(), at in 0usize..18, c in any::<char>()) {
        let (_, curp) = synthetic(seed, 0);
        let mut chars: Vec<char> = curp.as_str().chars().collect();
        chars[at] = c;
        let input: String = chars.into_iter().collect();
        if let Ok(parsed) = Curp::parse(&input) {
            prop_assert_eq!(Curp::parse(parsed.as_str()), Ok(parsed.clone()));
        }
    }

    /// `curp_for` builds a valid CURP for any person at all, however odd
    /// the names or the date fields.
    #[test]
    fn curp_for_never_panics(
        given in any::<String>(),
        first in any::<String>(),
        second in proptest::option::of(any::<String>()),
        year in any::<i32>(),
        month in any::<u32>(),
        day in any::<u32>(),
        sex in any_sex(),
        state in any_state(),
        differentiator in any::<char>(),
    ) {
        let person = Person {
            given_names: given,
            first_surname: first,
            second_surname: second,
            birth_date: Date { year, month, day },
            sex,
            state,
        };
        let curp = curp_for(&person, differentiator);
        prop_assert!(Curp::parse(curp.as_str()).is_ok(), "{}", curp);
        prop_assert_eq!(expected_name_letters(&person).len(), 4);
        prop_assert_eq!(expected_internal_consonants(&person).len(), 3);
        // Name, sex and state always agree; the date does whenever the
        // CURP can express it.
        let result = check_consistency(&curp, &person);
        if person.birth_date.is_valid() && (1900..=2099).contains(&year) {
            prop_assert_eq!(result, Ok(()));
        }
    }

    #[test]
    fn iso_dates_round_trip(year in 0i32..10000, month in 1u32..=12, day in 1u32..=31) {
        if let Some(date) = Date::new(year, month, day) {
            prop_assert_eq!(Date::parse_iso(&date.to_string()), Some(date));
        }
    }
}
