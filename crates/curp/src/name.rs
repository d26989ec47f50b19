//! Name rules for CURP positions 1-4 and 14-16, after RENAPO's
//! *Instructivo normativo para la asignación de la CURP* (DOF 18/10/2021):
//!
//! * names are written in upper case without accents; `Ñ` is kept while
//!   reading the name but written as `X` in the CURP;
//! * particles, prepositions and conjunctions (`DE`, `DEL`, `LA`, `Y`,
//!   `MC`, `VAN`…) are skipped in compound names and surnames, so
//!   "de la Cruz" is read as "CRUZ";
//! * in compound given names whose first word is `MARÍA` (`MA.`, `MA`) or
//!   `JOSÉ` (`J.`, `J`) the second given name is used;
//! * position 1 is the first letter of the first surname, 2 its first
//!   inner vowel (`X` if none), 3 the first letter of the second surname
//!   (`X` if none), 4 the first letter of the given name;
//! * positions 14-16 are the first inner consonant of each of those;
//! * if positions 1-4 spell a word on the official list of inconvenient
//!   words (Anexo 2), position 2 becomes `X`.

/// Vowels for position 2. `Y` is a consonant for the CURP.
pub(crate) fn is_vowel(c: char) -> bool {
    matches!(c, 'A' | 'E' | 'I' | 'O' | 'U')
}

/// Consonants for positions 14-16 (B-D, F-H, J-N, P-T, V-Z). `Ñ` is not
/// here: the rules read it as a consonant but write it as `X`.
pub(crate) fn is_consonant(c: char) -> bool {
    c.is_ascii_uppercase() && !is_vowel(c)
}

/// Words skipped in compound names and surnames (the *Instructivo*'s list
/// of prepositions, conjunctions and contractions).
const PARTICLES: [&str; 19] = [
    "DA", "DAS", "DE", "DEL", "DER", "DI", "DIE", "DD", "EL", "LA", "LOS", "LAS", "LE", "LES", "MAC", "MC", "VAN",
    "VON", "Y",
];

/// First given names that are so common the rules look past them, with the
/// abbreviations used in civil registers (`MA.` and `J.` lose their dot
/// when the name is split into words).
const COMMON_GIVEN: [&str; 4] = ["MARIA", "MA", "JOSE", "J"];

/// Anexo 2: four-letter combinations that must not appear; position 2 is
/// replaced by `X` when positions 1-4 spell one of them.
const INCONVENIENT: [&str; 81] = [
    "BACA", "BAKA", "BUEI", "BUEY", "CACA", "CACO", "CAGA", "CAGO", "CAKA", "CAKO", "COGE", "COGI", "COJA", "COJE",
    "COJI", "COJO", "COLA", "CULO", "FALO", "FETO", "GETA", "GUEI", "GUEY", "JETA", "JOTO", "KACA", "KACO", "KAGA",
    "KAGO", "KAKA", "KAKO", "KOGE", "KOGI", "KOJA", "KOJE", "KOJI", "KOJO", "KOLA", "KULO", "LILO", "LOCA", "LOCO",
    "LOKA", "LOKO", "MAME", "MAMO", "MEAR", "MEAS", "MEON", "MIAR", "MION", "MOCO", "MOKO", "MULA", "MULO", "NACA",
    "NACO", "PEDA", "PEDO", "PENE", "PIPI", "PITO", "POPO", "PUTA", "PUTO", "QULO", "RATA", "ROBA", "ROBE", "ROBO",
    "RUIN", "SENO", "TETA", "VACA", "VAGA", "VAGO", "VAKA", "VUEI", "VUEY", "WUEI", "WUEY",
];

/// Upper-cases and strips accents from one character. `Ñ` survives (it is
/// a letter of its own in Spanish); `Ü` becomes `U` (e.g. ARGÜELLO).
fn fold(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' => 'A',
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'E',
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => 'I',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => 'O',
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => 'U',
        'ç' | 'Ç' => 'C',
        'ñ' | 'Ñ' => 'Ñ',
        c if c.is_ascii() => c.to_ascii_uppercase(),
        c => c,
    }
}

/// Characters that separate the words of a name.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '.' | '/' | '\\' | ',' | '_')
}

/// Splits a name into normalised words.
///
/// Apostrophes vanish inside a word ("D'ARTAGNAN" → "DARTAGNAN"); spaces,
/// hyphens, dots, slashes and commas separate words ("MA. ELENA" →
/// "MA", "ELENA"; "GARCÍA-LÓPEZ" → "GARCIA", "LOPEZ"). Other symbols and
/// digits are dropped. Letters from other scripts are kept so that a name
/// written entirely in them still has a "first letter" (which the CURP
/// writes as `X`, having no letter for it).
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in name.chars().map(fold) {
        match c {
            c if c.is_alphabetic() => word.push(c),
            // Part of the word, not a letter of it.
            '\'' | '’' | '‘' | '`' | '´' => {}
            c if is_separator(c) && !word.is_empty() => out.push(std::mem::take(&mut word)),
            // Digits, other symbols, and separators with no word before them.
            _ => {}
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Words that count for the CURP: particles removed, unless nothing but
/// particles is left (a surname spelled just "DE" still has to yield a
/// letter).
fn significant_words(name: &str) -> Vec<String> {
    let all = words(name);
    let kept: Vec<String> = all.iter().filter(|w| !PARTICLES.contains(&w.as_str())).cloned().collect();
    if kept.is_empty() { all } else { kept }
}

/// The surname word the rules read: the first significant word.
fn surname_word(surname: &str) -> String {
    significant_words(surname).into_iter().next().unwrap_or_default()
}

/// The given-name word the rules read: the first significant word, or the
/// second when there are several and the first is MARÍA or JOSÉ.
fn given_word(given_names: &str) -> String {
    let mut names = significant_words(given_names).into_iter();
    let first = names.next().unwrap_or_default();
    match names.next() {
        Some(second) if COMMON_GIVEN.contains(&first.as_str()) => second,
        _ => first,
    }
}

/// How a letter read from a name is written in the CURP: A-Z as itself,
/// `Ñ` and anything else (a letter of another script) as `X`.
fn written(c: char) -> char {
    if c.is_ascii_uppercase() { c } else { 'X' }
}

/// First letter of a word as written in the CURP; `X` if the word is
/// empty (no second surname, or nothing readable).
fn initial(word: &str) -> char {
    word.chars().next().map_or('X', written)
}

/// First vowel after the first letter; `X` if there is none.
fn inner_vowel(word: &str) -> char {
    word.chars().skip(1).find(|&c| is_vowel(c)).unwrap_or('X')
}

/// First consonant after the first letter; `Ñ` counts and is written `X`;
/// `X` if there is none.
fn inner_consonant(word: &str) -> char {
    word.chars().skip(1).find(|&c| c == 'Ñ' || is_consonant(c)).map_or('X', written)
}

/// The three name parts as the rules read them.
pub(crate) struct NameParts {
    first_surname: String,
    second_surname: String,
    given: String,
}

impl NameParts {
    pub(crate) fn new(first_surname: &str, second_surname: Option<&str>, given_names: &str) -> Self {
        NameParts {
            first_surname: surname_word(first_surname),
            second_surname: second_surname.map(surname_word).unwrap_or_default(),
            given: given_word(given_names),
        }
    }

    /// Positions 1-4, with the inconvenient-word substitution applied.
    pub(crate) fn letters(&self) -> String {
        let letters: String = [
            initial(&self.first_surname),
            inner_vowel(&self.first_surname),
            initial(&self.second_surname),
            initial(&self.given),
        ]
        .into_iter()
        .collect();
        if INCONVENIENT.contains(&letters.as_str()) {
            letters.chars().enumerate().map(|(i, c)| if i == 1 { 'X' } else { c }).collect()
        } else {
            letters
        }
    }

    /// Positions 14-16.
    pub(crate) fn consonants(&self) -> String {
        [inner_consonant(&self.first_surname), inner_consonant(&self.second_surname), inner_consonant(&self.given)]
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(first: &str, second: Option<&str>, given: &str) -> (String, String) {
        let p = NameParts::new(first, second, given);
        (p.letters(), p.consonants())
    }

    #[test]
    fn normalisation() {
        assert_eq!(words("  María   de la  Ó "), ["MARIA", "DE", "LA", "O"]);
        assert_eq!(words("D'Artagnan"), ["DARTAGNAN"]);
        assert_eq!(words("Ma. Elena"), ["MA", "ELENA"]);
        assert_eq!(words("García-López"), ["GARCIA", "LOPEZ"]);
        assert_eq!(words("Argüello"), ["ARGUELLO"]);
        assert_eq!(words("Núñez"), ["NUÑEZ"]);
        assert_eq!(words("R2-D2!"), ["R", "D"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn compound_given_names() {
        assert_eq!(given_word("MARÍA GUADALUPE"), "GUADALUPE");
        assert_eq!(given_word("José Luis"), "LUIS");
        assert_eq!(given_word("MA. DEL PILAR"), "PILAR");
        assert_eq!(given_word("MARIA DE JESUS"), "JESUS");
        assert_eq!(given_word("J. JESUS"), "JESUS");
        assert_eq!(given_word("MARIA"), "MARIA");
        assert_eq!(given_word("JOSÉ"), "JOSE");
        assert_eq!(given_word("LUZ MARIA"), "LUZ");
        assert_eq!(given_word("JUAN CARLOS"), "JUAN");
    }

    #[test]
    fn particles() {
        assert_eq!(surname_word("de la Cruz"), "CRUZ");
        assert_eq!(surname_word("DE LOS SANTOS"), "SANTOS");
        assert_eq!(surname_word("del Valle"), "VALLE");
        assert_eq!(surname_word("Mc Gregor"), "GREGOR");
        assert_eq!(surname_word("DE"), "DE");
    }

    #[test]
    fn letters_and_consonants() {
        // Examples with published CURPs (see tests/known.rs for the full
        // keys): MARIA DE JESUS → JESUS; DE LOS SANTOS → SANTOS;
        // PEÑALOZA's inner consonant Ñ is written X.
        assert_eq!(parts("ACUÑA", Some("VALLADARES"), "MARIA DE JESUS"), ("AUVJ".into(), "CLS".into()));
        assert_eq!(parts("ALCALA", Some("DE LOS SANTOS"), "SILVERIA"), ("AASS".into(), "LNL".into()));
        assert_eq!(parts("ANGUIANO", Some("PEÑALOZA"), "OLGA LIDIA"), ("AUPO".into(), "NXL".into()));
    }

    #[test]
    fn no_second_surname() {
        assert_eq!(parts("PÉREZ", None, "JUAN"), ("PEXJ".into(), "RXN".into()));
        assert_eq!(parts("PÉREZ", Some(""), "JUAN"), ("PEXJ".into(), "RXN".into()));
        assert_eq!(parts("PÉREZ", Some("  "), "JUAN"), ("PEXJ".into(), "RXN".into()));
    }

    #[test]
    fn enye_at_the_start() {
        // Ñ is read as a letter but written X, at the start and inside.
        assert_eq!(parts("ÑÚÑEZ", Some("ÑANDÚ"), "ÑOÑO"), ("XUXX".into(), "XNX".into()));
    }

    #[test]
    fn no_inner_vowel_or_consonant() {
        assert_eq!(parts("ST", Some("O"), "AI"), ("SXOA".into(), "TXX".into()));
    }

    #[test]
    fn inconvenient_words() {
        // PUENTE TORRES OSCAR would spell PUTO: position 2 becomes X.
        assert_eq!(parts("PUENTE", Some("TORRES"), "OSCAR").0, "PXTO");
        // BARRERA CASTRO ANA would spell BACA.
        assert_eq!(parts("BARRERA", Some("CASTRO"), "ANA").0, "BXCA");
        assert_eq!(parts("PUENTE", Some("TORRES"), "ANA").0, "PXTA");
        // Not on the list: unchanged.
        assert_eq!(parts("PUENTE", Some("RUIZ"), "ANA").0, "PURA");
    }

    #[test]
    fn list_sizes() {
        assert_eq!(INCONVENIENT.len(), 81);
        assert!(INCONVENIENT.iter().all(|w| w.len() == 4));
    }
}
