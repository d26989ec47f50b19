//! Calendar dates for CURP birth dates (positions 5-10, `YYMMDD`).
//!
//! Only what the CURP needs: proleptic Gregorian validity (the CURP's
//! rules say the date must exist) and ISO 8601 `YYYY-MM-DD` text.

use std::fmt;

/// A calendar date in the proleptic Gregorian calendar.
///
/// Built through [`Date::new`] or [`Date::parse_iso`] it is always a real
/// date. The fields are public for convenience; code that fills them in by
/// hand gets no check, and this crate treats such values defensively (it
/// never panics on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// Full year, e.g. 1987.
    pub year: i32,
    /// Month, 1-12.
    pub month: u32,
    /// Day of the month, 1-31.
    pub day: u32,
}

/// Gregorian leap year: divisible by 4, except centuries, except every
/// fourth century (so 2000 is a leap year and 1900 is not).
#[must_use]
pub(crate) fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Number of days in `month` of `year`; 0 for a month outside 1-12.
#[must_use]
pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A date, if it exists in the Gregorian calendar.
    ///
    /// ```
    /// use curp::Date;
    /// assert!(Date::new(2000, 2, 29).is_some()); // 2000 is a leap year
    /// assert!(Date::new(1900, 2, 29).is_none()); // 1900 is not
    /// assert!(Date::new(2024, 13, 1).is_none());
    /// ```
    #[must_use]
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        (day >= 1 && day <= days_in_month(year, month)).then_some(Date { year, month, day })
    }

    /// Parses ISO 8601 `YYYY-MM-DD` (four-digit year, two-digit month and
    /// day, nothing else) into a real date.
    ///
    /// ```
    /// use curp::Date;
    /// assert_eq!(Date::parse_iso("1987-04-09"), Date::new(1987, 4, 9));
    /// assert_eq!(Date::parse_iso("1987-4-9"), None);
    /// assert_eq!(Date::parse_iso("1987-02-30"), None);
    /// ```
    #[must_use]
    pub fn parse_iso(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let year = digits(&bytes[0..4])?;
        let month = digits(&bytes[5..7])?;
        let day = digits(&bytes[8..10])?;
        Date::new(i32::try_from(year).ok()?, month, day)
    }

    /// Whether the fields form a real date (always true for values built
    /// by [`Date::new`] or [`Date::parse_iso`]).
    #[must_use]
    pub fn is_valid(&self) -> bool {
        Date::new(self.year, self.month, self.day).is_some()
    }
}

/// Decimal value of a run of ASCII digits; `None` if any byte is not one.
pub(crate) fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_years() {
        assert!(is_leap_year(2000));
        assert!(is_leap_year(1996));
        assert!(is_leap_year(2024));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2100));
        assert!(!is_leap_year(2001));
    }

    #[test]
    fn new_validates() {
        assert!(Date::new(2000, 2, 29).is_some());
        assert!(Date::new(1900, 2, 29).is_none());
        assert!(Date::new(2001, 2, 29).is_none());
        assert!(Date::new(1999, 4, 31).is_none());
        assert!(Date::new(1999, 12, 31).is_some());
        assert!(Date::new(1999, 0, 1).is_none());
        assert!(Date::new(1999, 1, 0).is_none());
        assert!(Date::new(1999, 13, 1).is_none());
    }

    #[test]
    fn iso_round_trip() {
        let date = Date::new(1931, 8, 20).unwrap();
        assert_eq!(date.to_string(), "1931-08-20");
        assert_eq!(Date::parse_iso("1931-08-20"), Some(date));
        for bad in ["", "1931-08-2", "1931/08/20", "19310820", "1931-08-20 ", "-931-08-20", "1931-８-20"] {
            assert_eq!(Date::parse_iso(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ordering_is_chronological() {
        let a = Date::new(1999, 12, 31).unwrap();
        let b = Date::new(2000, 1, 1).unwrap();
        assert!(a < b);
    }
}
