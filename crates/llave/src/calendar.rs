//! Civil dates and business days, for records' validity and ARCO deadlines. Dates are
//! Mexico City's (UTC−6 all year since 2022). A business day is a weekday that is not a
//! mandatory holiday of the Federal Labour Law (art. 74) nor one of the installation's
//! configured holidays. Times of day are shown in the installation's time zone
//! (`time_zone`, default America/Mexico_City; `format_time`).

use time::{Date, Duration, Month, OffsetDateTime, UtcOffset, Weekday};

/// Mexico City's offset from UTC (no daylight saving time since 2022).
const CITY_OFFSET_HOURS: i8 = -6;

/// `YYYY-MM-DD`, or `None`.
pub fn parse_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i32 = text[0..4].parse().ok()?;
    let month: u8 = text[5..7].parse().ok()?;
    let day: u8 = text[8..10].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

pub fn format_date(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// The city's calendar date at a Unix time.
pub fn city_date(unix: i64) -> Date {
    let offset = UtcOffset::from_hms(CITY_OFFSET_HOURS, 0, 0).unwrap_or(UtcOffset::UTC);
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH).to_offset(offset).date()
}

/// The Unix time the city's `date` begins (its midnight, UTC−6).
pub fn city_day_start(date: Date) -> i64 {
    date.midnight().assume_utc().unix_timestamp() - i64::from(CITY_OFFSET_HOURS) * 3600
}

/// The `n`th `weekday` of a month (n from 1).
fn nth_weekday(year: i32, month: Month, weekday: Weekday, n: u8) -> Option<Date> {
    let first = Date::from_calendar_date(year, month, 1).ok()?;
    let shift = (7 + weekday.number_days_from_monday() - first.weekday().number_days_from_monday()) % 7;
    first.checked_add(Duration::days(i64::from(shift) + 7 * i64::from(n - 1)))
}

/// The Federal Labour Law's mandatory rest days (art. 74) of a year.
pub fn mandatory_holidays(year: i32) -> Vec<Date> {
    let fixed = |month, day| Date::from_calendar_date(year, month, day).ok();
    let mut days = vec![
        fixed(Month::January, 1),
        nth_weekday(year, Month::February, Weekday::Monday, 1),
        nth_weekday(year, Month::March, Weekday::Monday, 3),
        fixed(Month::May, 1),
        fixed(Month::September, 16),
        nth_weekday(year, Month::November, Weekday::Monday, 3),
        fixed(Month::December, 25),
    ];
    // The transmission of the federal executive power, every six years (2024, 2030, …).
    if year.rem_euclid(6) == 2024 % 6 {
        days.push(fixed(Month::October, 1));
    }
    days.into_iter().flatten().collect()
}

pub struct Calendar {
    extra: Vec<Date>,
}

impl Calendar {
    /// With the installation's own holidays (`YYYY-MM-DD`; unparsable ones are ignored,
    /// configuration checks them at start).
    pub fn new(holidays: &[String]) -> Calendar {
        Calendar { extra: holidays.iter().filter_map(|d| parse_date(d)).collect() }
    }

    pub fn is_business_day(&self, date: Date) -> bool {
        !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
            && !self.extra.contains(&date)
            && !mandatory_holidays(date.year()).contains(&date)
    }

    /// The `n`th business day after `start` (counting starts the day after).
    pub fn add_business_days(&self, start: Date, n: u32) -> Date {
        let mut date = start;
        let mut left = n;
        while left > 0 {
            match date.next_day() {
                Some(next) => date = next,
                None => return date,
            }
            if self.is_business_day(date) {
                left -= 1;
            }
        }
        date
    }

    /// Business days from `from` to `to` (after `from`, up to and including `to`); negative
    /// when `to` is earlier.
    pub fn business_days_between(&self, from: Date, to: Date) -> i64 {
        if to < from {
            return -self.business_days_between(to, from);
        }
        let mut count = 0;
        let mut date = from;
        while date < to {
            match date.next_day() {
                Some(next) => date = next,
                None => break,
            }
            if self.is_business_day(date) {
                count += 1;
            }
        }
        count
    }
}

/// The time zone of an installation that names none.
pub const DEFAULT_TIME_ZONE: &str = "America/Mexico_City";

/// The pages' time zone, set once at start-up (one per process: every request of a server
/// shows the same zone; each test runs in its own process).
static TIME_ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();

/// Checks a time zone name against the bundled IANA database.
pub fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::TimeZone::get(name)
        .map_err(|_| format!("unknown time zone {name:?} (an IANA name, like America/Mexico_City)"))
}

/// Sets the zone `format_time` shows (the first call wins).
pub fn set_time_zone(zone: jiff::tz::TimeZone) {
    let _ = TIME_ZONE.set(zone);
}

fn pages_zone() -> &'static jiff::tz::TimeZone {
    TIME_ZONE.get_or_init(|| time_zone(DEFAULT_TIME_ZONE).unwrap_or(jiff::tz::TimeZone::UTC))
}

/// A time as pages show it, in the installation's zone: `YYYY-MM-DD HH:MM` and the zone's
/// abbreviation (`2026-12-02 11:15 CST`).
pub fn format_time(unix: i64) -> String {
    format_time_in(unix, pages_zone())
}

pub fn format_time_in(unix: i64, zone: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Date {
        parse_date(text).unwrap()
    }

    #[test]
    fn times_show_in_the_citys_zone() {
        let city = time_zone("America/Mexico_City").unwrap();
        // 2026-12-02 17:15 UTC is 11:15 in Mexico City (UTC−6 all year since 2022).
        assert_eq!(format_time_in(1_796_231_700, &city), "2026-12-02 11:15 CST");
        let tijuana = time_zone("America/Tijuana").unwrap();
        assert_eq!(format_time_in(1_783_954_800, &tijuana), "2026-07-13 08:00 PDT", "daylight saving time");
        assert_eq!(format_time_in(1_796_231_700, &jiff::tz::TimeZone::UTC), "2026-12-02 17:15 UTC");
        assert!(time_zone("Mars/Olympus_Mons").is_err());
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(format_date(d("2026-02-28")), "2026-02-28");
        for bad in ["2026-02-30", "2026-2-28", "26-02-28", "2026/02/28", "", "2026-13-01"] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn mexican_mandatory_holidays() {
        let days: Vec<String> = mandatory_holidays(2026).into_iter().map(format_date).collect();
        assert_eq!(
            days,
            ["2026-01-01", "2026-02-02", "2026-03-16", "2026-05-01", "2026-09-16", "2026-11-16", "2026-12-25"]
        );
        assert!(mandatory_holidays(2030).contains(&d("2030-10-01")));
        assert!(!mandatory_holidays(2026).contains(&d("2026-10-01")));
    }

    #[test]
    fn twenty_business_days_skip_weekends_and_holidays() {
        let calendar = Calendar::new(&[]);
        // Filed Monday 2026-11-09: the 16th (Revolution Day, third Monday) does not count.
        assert_eq!(format_date(calendar.add_business_days(d("2026-11-09"), 20)), "2026-12-08");
        // Filed on a Saturday: counting starts on Monday.
        assert_eq!(format_date(calendar.add_business_days(d("2026-11-21"), 1)), "2026-11-23");
        // Across Christmas and New Year.
        assert_eq!(format_date(calendar.add_business_days(d("2026-12-18"), 5)), "2026-12-28");
        assert_eq!(format_date(calendar.add_business_days(d("2026-12-28"), 5)), "2027-01-05");
        let local = Calendar::new(&["2026-12-24".to_string()]);
        assert_eq!(format_date(local.add_business_days(d("2026-12-18"), 5)), "2026-12-29");
        assert_eq!(calendar.business_days_between(d("2026-11-09"), d("2026-12-08")), 20);
        assert_eq!(calendar.business_days_between(d("2026-12-08"), d("2026-11-09")), -20);
    }

    #[test]
    fn the_city_date_is_utc_minus_six() {
        // 2026-11-24 03:00 UTC is still the 23rd in Mexico City.
        assert_eq!(format_date(city_date(1_795_489_200)), "2026-11-23");
    }
}
