//! Arithmetic between period ordinals and civil (zone-free) dates. Nothing here knows about
//! time zones: a period is first turned into the civil date of its first day, and only then
//! does `Calendar` read that date's midnight in the zone.
//!
//! Ordinals can be arbitrary (`shift` takes any `i64`), so conversions saturate and clamp to
//! the civil range jiff supports (years -9999..=9999) instead of failing.

use jiff::SignedDuration;
use jiff::civil::Date;

const EPOCH: Date = Date::constant(1970, 1, 1);
/// Day number of the Monday 1970-01-05, the first day of week ordinal 0.
const EPOCH_MONDAY_DAY: i64 = 4;
const SECONDS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 (negative before).
pub(crate) fn day_number(date: Date) -> i64 {
    // Civil dates have no time zone, so every civil day is exactly 86 400 s here.
    date.duration_since(EPOCH)
        .as_secs()
        .div_euclid(SECONDS_PER_DAY)
}

/// The date `n` days after 1970-01-01, clamped to jiff's civil range.
pub(crate) fn date_of_day_number(n: i64) -> Date {
    let n = n.clamp(day_number(Date::MIN), day_number(Date::MAX));
    EPOCH
        .checked_add(SignedDuration::from_secs(n * SECONDS_PER_DAY))
        // Unreachable after the clamp above; fall back to the nearer bound anyway.
        .unwrap_or(if n < 0 { Date::MIN } else { Date::MAX })
}

/// Ordinal of the ISO week (Monday-based) that contains the day `day`.
pub(crate) fn week_of_day_number(day: i64) -> i64 {
    (day - EPOCH_MONDAY_DAY).div_euclid(7)
}

/// Day number of the Monday that starts week ordinal `week`.
pub(crate) fn monday_of_week(week: i64) -> i64 {
    week.saturating_mul(7).saturating_add(EPOCH_MONDAY_DAY)
}

/// Months since year 0: `year * 12 + month - 1`.
pub(crate) fn month_index(date: Date) -> i64 {
    i64::from(date.year()) * 12 + i64::from(date.month()) - 1
}

/// The first day of the month with index `year * 12 + month - 1`, clamped to jiff's range.
pub(crate) fn date_of_month_index(index: i64) -> Date {
    let year = index.div_euclid(12);
    let month = index.rem_euclid(12) + 1;
    match (i16::try_from(year), i8::try_from(month)) {
        (Ok(year), Ok(month)) => {
            Date::new(year, month, 1).unwrap_or(if year < 0 { Date::MIN } else { Date::MAX })
        }
        _ if year < 0 => Date::MIN,
        _ => Date::MAX,
    }
}
