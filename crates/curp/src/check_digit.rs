//! The CURP check digit (position 18).
//!
//! Rule (RENAPO, *Instructivo normativo para la asignación de la CURP*,
//! DOF 18/10/2021, "dígito verificador"): every one of the first 17
//! characters is given its index in the dictionary
//! `0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ`, multiplied by a weight running
//! from 18 (first character) down to 2 (17th character); the check digit is
//! `(10 − sum mod 10) mod 10`.

/// The check-digit dictionary. It still contains `Ñ` (value 24) for
/// historical reasons even though a valid CURP never contains one: names
/// write `Ñ` as `X`. Because of that, every letter from `O` on is worth one
/// more than its position in the plain Latin alphabet would suggest.
const DICTIONARY: [char; 37] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M',
    'N', 'Ñ', 'O', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z',
];

/// Value of one character in the check-digit dictionary, if it has one.
fn value(c: char) -> Option<u32> {
    DICTIONARY.iter().position(|&d| d == c).and_then(|i| u32::try_from(i).ok())
}

/// Computes the check digit for the first 17 characters of a CURP.
///
/// Returns `None` unless `first17` is exactly 17 characters, all from the
/// upper-case dictionary `0-9`, `A-Z` and `Ñ`. No other validation is done:
/// this is the bare published algorithm.
///
/// ```
/// assert_eq!(curp::check_digit("BOXW310820HNERXN0"), Some(9));
/// assert_eq!(curp::check_digit("too short"), None);
/// ```
#[must_use]
pub fn check_digit(first17: &str) -> Option<u8> {
    let mut sum: u32 = 0;
    let mut count: u32 = 0;
    for c in first17.chars() {
        if count == 17 {
            return None;
        }
        // Weights run 18, 17, …, 2.
        sum += value(c)? * (18 - count);
        count += 1;
    }
    if count != 17 {
        return None;
    }
    u8::try_from((10 - sum % 10) % 10).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_values() {
        assert_eq!(value('0'), Some(0));
        assert_eq!(value('A'), Some(10));
        assert_eq!(value('N'), Some(23));
        assert_eq!(value('Ñ'), Some(24));
        assert_eq!(value('O'), Some(25));
        assert_eq!(value('Z'), Some(36));
        assert_eq!(value('a'), None);
        assert_eq!(value('*'), None);
    }

    /// CURPs published as valid examples by other implementations
    /// (python-stdnum's docstring, several validators' test suites).
    #[test]
    fn published_examples() {
        for curp in [
            "BOXW310820HNERXN09",
            "MAAR790213HMNRLF03",
            "HEGG560427MVZRRL04",
            "TUAZ790213HMNRLF02",
            "TUAZ040213MCLRLFA7",
            "JIAZ040213MCLRLFA6",
            "PEGL890909MJCRMS08",
            "VIAA900930MMNCLL08",
            "PEGJ900512HJCRRS04",
        ] {
            let (first17, last) = curp.split_at(17);
            let expected = last.parse::<u8>().ok();
            assert_eq!(check_digit(first17), expected, "{curp}");
        }
    }

    /// Worked by hand for BOXW310820HNERXN0:
    /// B=11·18=198, O=25·17=425, X=34·16=544, W=33·15=495, 3·14=42, 1·13=13,
    /// 0·12=0, 8·11=88, 2·10=20, 0·9=0, H=17·8=136, N=23·7=161, E=14·6=84,
    /// R=28·5=140, X=34·4=136, N=23·3=69, 0·2=0; sum 2551, 10−1 = 9.
    #[test]
    fn hand_worked() {
        assert_eq!(check_digit("BOXW310820HNERXN0"), Some(9));
    }

    #[test]
    fn wrong_shapes() {
        assert_eq!(check_digit(""), None);
        assert_eq!(check_digit("BOXW310820HNERXN"), None);
        assert_eq!(check_digit("BOXW310820HNERXN09"), None);
        assert_eq!(check_digit("boxw310820hnerxn0"), None);
        assert_eq!(check_digit("BOXW310820HNERXN-"), None);
    }
}
