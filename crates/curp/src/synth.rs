//! Deterministic synthetic people and their CURPs, for tests and demos.
//!
//! The same seed always gives the same people, on every platform: the
//! generator is SplitMix64 (Steele, Lea & Flood, "Fast splittable
//! pseudorandom number generators", OOPSLA 2014), small and dependency-free.
//! Names are realistic and chosen to exercise the CURP name rules: accents,
//! `Ñ`, compound given names starting with MARÍA or JOSÉ, surnames with
//! particles, missing second surnames, births in both centuries.
//!
//! None of these people exist; any real CURP that happens to match one is
//! a coincidence.

use crate::Curp;
use crate::consistency::{Person, curp_for};
use crate::date::{Date, days_in_month};
use crate::sex::Sex;
use crate::state::State;

/// Given names for women, including compound ones the MARÍA rule applies to.
const WOMEN: &[&str] = &[
    "María",
    "María Guadalupe",
    "María José",
    "María de los Ángeles",
    "María del Carmen",
    "Ma. Elena",
    "Guadalupe",
    "Ana Sofía",
    "Ximena",
    "Valeria",
    "Fernanda",
    "Lucía",
    "Leticia",
    "Verónica",
    "Rocío",
    "Itzel",
    "Xóchitl",
    "Begoña",
    "Luz María",
    "Juana",
    "Úrsula",
    "Isabel",
];

/// Given names for men, including compound ones the JOSÉ rule applies to.
const MEN: &[&str] = &[
    "José",
    "José Luis",
    "José Ángel",
    "J. Jesús",
    "Juan Carlos",
    "Juan",
    "Luis Fernando",
    "Miguel Ángel",
    "Jesús",
    "Alejandro",
    "Ángel",
    "Rubén",
    "Héctor",
    "Cuauhtémoc",
    "Iñaki",
    "Óscar",
    "Efraín",
    "Mario",
    "Eduardo",
    "Ulises",
    "Ignacio",
    "Francisco Javier",
];

/// Given names used by anyone, for the occasional non-binary person.
const ANYONE: &[&str] = &["Guadalupe", "Cruz", "Andrea", "Alex", "Trinidad", "Sol"];

/// Surnames: common ones, accented ones, ones with Ñ (also first), and
/// compound ones with particles.
const SURNAMES: &[&str] = &[
    "Hernández",
    "García",
    "Martínez",
    "López",
    "González",
    "Pérez",
    "Rodríguez",
    "Sánchez",
    "Ramírez",
    "Cruz",
    "Flores",
    "Gómez",
    "Morales",
    "Vázquez",
    "Reyes",
    "Jiménez",
    "Torres",
    "Díaz",
    "Gutiérrez",
    "Ruiz",
    "Mendoza",
    "Aguilar",
    "Ortiz",
    "Moreno",
    "Castillo",
    "Romero",
    "Núñez",
    "Peña",
    "Muñoz",
    "Ávila",
    "Ibáñez",
    "Ñúñez",
    "Argüello",
    "Yáñez",
    "Xolalpa",
    "Uc",
    "de la Cruz",
    "del Valle",
    "de los Santos",
    "de la O",
    "Mc Gregor",
    "Ruiz-Esparza",
    "D'Acosta",
];

/// SplitMix64 state. The whole generator is this one word.
#[derive(Debug, Clone)]
pub struct Synth {
    state: u64,
}

impl Synth {
    /// A generator; equal seeds give equal sequences of people.
    #[must_use]
    pub fn new(seed: u64) -> Synth {
        Synth { state: seed }
    }

    /// Next 64 random bits (SplitMix64).
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`); the modulo bias is negligible for the
    /// small `n` used here.
    fn below(&mut self, n: usize) -> usize {
        let n64 = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
        usize::try_from(self.next_u64() % n64).unwrap_or(0)
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u32, hi: u32) -> u32 {
        let span = usize::try_from(hi.saturating_sub(lo)).unwrap_or(0) + 1;
        lo + u32::try_from(self.below(span)).unwrap_or(0)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items.get(self.below(items.len())).copied().unwrap_or("")
    }

    /// `true` with probability `percent`/100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// A synthetic person: born 1930-2010 (both centuries), sex H or M
    /// (about 3% X), any state including `NE`, and about one in eight
    /// without a second surname.
    pub fn person(&mut self) -> Person {
        let sex = match self.below(100) {
            0..=2 => Sex::X,
            3..=51 => Sex::H,
            _ => Sex::M,
        };
        let given_names = match sex {
            Sex::H => self.pick(MEN),
            Sex::M => self.pick(WOMEN),
            Sex::X => self.pick(ANYONE),
        }
        .to_owned();
        let first_surname = self.pick(SURNAMES).to_owned();
        let second_surname = if self.chance(12) { None } else { Some(self.pick(SURNAMES).to_owned()) };
        let year = 1930 + i32::try_from(self.between(0, 80)).unwrap_or(0);
        let month = self.between(1, 12);
        let day = self.between(1, days_in_month(year, month));
        let birth_date = Date::new(year, month, day).unwrap_or(Date { year, month: 1, day: 1 });
        let states = State::all();
        let state = states.get(self.below(states.len())).copied().unwrap_or(State::NacidoEnElExtranjero);
        Person { given_names, first_surname, second_surname, birth_date, sex, state }
    }

    /// The person's CURP, with a differentiator drawn at random from those
    /// that suit the birth year (digit before 2000, letter from 2000 on).
    pub fn curp(&mut self, person: &Person) -> Curp {
        let differentiator = if person.birth_date.year >= 2000 {
            char::from(b'A' + u8::try_from(self.below(26)).unwrap_or(0))
        } else {
            char::from(b'0' + u8::try_from(self.below(10)).unwrap_or(0))
        };
        curp_for(person, differentiator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic() {
        let a: Vec<Person> = {
            let mut s = Synth::new(42);
            (0..20).map(|_| s.person()).collect()
        };
        let b: Vec<Person> = {
            let mut s = Synth::new(42);
            (0..20).map(|_| s.person()).collect()
        };
        assert_eq!(a, b);
        let c = Synth::new(43).person();
        assert_ne!(a[0], c);
    }

    /// SplitMix64 reference output for seed 0 (from the published C code).
    #[test]
    fn splitmix_reference() {
        let mut s = Synth::new(0);
        assert_eq!(s.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(s.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn covers_the_interesting_cases() {
        let mut s = Synth::new(7);
        let people: Vec<Person> = (0..2000).map(|_| s.person()).collect();
        assert!(people.iter().any(|p| p.birth_date.year < 2000));
        assert!(people.iter().any(|p| p.birth_date.year >= 2000));
        assert!(people.iter().all(|p| (1930..=2010).contains(&p.birth_date.year)));
        assert!(people.iter().any(|p| p.second_surname.is_none()));
        assert!(people.iter().any(|p| p.sex == Sex::X));
        assert!(people.iter().any(|p| p.state == State::NacidoEnElExtranjero));
        assert!(people.iter().any(|p| p.given_names.starts_with("María ")));
        assert!(people.iter().any(|p| p.first_surname.starts_with("de ")));
        assert!(people.iter().all(|p| p.birth_date.is_valid()));
    }

    #[test]
    fn curps_fit_their_people() {
        let mut s = Synth::new(1);
        for _ in 0..500 {
            let p = s.person();
            let curp = s.curp(&p);
            assert_eq!(Curp::parse(curp.as_str()).as_ref(), Ok(&curp));
            assert_eq!(crate::check_consistency(&curp, &p), Ok(()));
        }
    }
}
