//! Periods of time for Tablero: days, ISO weeks, months, quarters and years, each an exact
//! span of instants in the workspace's IANA time zone, daylight-saving changes included.
//! Quarters and years may be fiscal (`fiscal_year_start` other than January), and a fiscal
//! year is named by the calendar year in which it ends (`FY2026` = July 2025 – June 2026).
//!
//! Weeks are ISO weeks (Monday to Sunday) and keep their ISO labels (`2026-W53`). For
//! year-to-date windows, a week belongs to the (fiscal) year that contains its Thursday, as
//! ISO 8601 does for calendar years: the first week of a (fiscal) year is the week holding the
//! first Thursday on or after the year's first day, and the year's weeks run from it to the
//! week before the next year's first week (52 or 53 of them). With `fiscal_year_start = 7`,
//! FY2027 starts on Wednesday 2026-07-01, its first Thursday is 2026-07-02, so its first week
//! is Monday 2026-06-29 to Sunday 2026-07-05 (2026-W27), and 2026-06-29/30 count in FY2027's
//! week-grain year to date although they are in FY2026's June.
//!
//! A [`Period`] is just a grain and an ordinal; turning it into instants needs a
//! [`Calendar`], which owns the time zone and the fiscal year start. All time-zone work is
//! done by `jiff` with its embedded time-zone database.

mod civil;
mod error;
mod label;
#[cfg(test)]
mod tests;

use std::fmt;

pub use error::CalendarError;
pub use jiff::Timestamp;
use jiff::civil::{Date, DateTime, ISOWeekDate, Weekday};
use jiff::tz::TimeZone;

/// The length of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Grain {
    /// Every grain, finest first.
    pub const ALL: [Grain; 5] = [
        Grain::Day,
        Grain::Week,
        Grain::Month,
        Grain::Quarter,
        Grain::Year,
    ];

    /// Reads `day`, `week`, `month`, `quarter` or `year`.
    pub fn parse(s: &str) -> Option<Grain> {
        Grain::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// The grain's word, as written in workspace files.
    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
            Grain::Quarter => "quarter",
            Grain::Year => "year",
        }
    }
}

impl fmt::Display for Grain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One period: its grain and an ordinal that increases by one per period (days since
/// 1970-01-01, weeks since the Monday 1970-01-05, `year * 12 + month0`,
/// `fiscal_year * 4 + quarter0`, fiscal year). `Ord` is chronological within a grain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    pub grain: Grain,
    pub ordinal: i64,
}

/// The workspace's time zone and fiscal year start: everything needed to turn periods into
/// instants and back.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: TimeZone,
    /// Month 1..=12 in which the fiscal year starts; 1 means quarters and years are calendar ones.
    fiscal_year_start: i8,
}

impl Calendar {
    /// `timezone` an IANA name; `fiscal_year_start` 1..=12. Errors name the bad value.
    pub fn new(timezone: &str, fiscal_year_start: u8) -> Result<Calendar, CalendarError> {
        if !(1..=12).contains(&fiscal_year_start) {
            return Err(CalendarError::InvalidFiscalYearStart {
                value: fiscal_year_start,
            });
        }
        let tz = TimeZone::get(timezone).map_err(|_| CalendarError::UnknownTimeZone {
            name: timezone.to_owned(),
        })?;
        // Checked above to be 1..=12, so the cast is lossless.
        Ok(Calendar {
            tz,
            fiscal_year_start: fiscal_year_start as i8,
        })
    }

    /// The workspace time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The month (1..=12) in which the fiscal year starts.
    pub fn fiscal_year_start(&self) -> u8 {
        self.fiscal_year_start as u8
    }

    /// The period of `grain` that contains the instant (read in the zone).
    pub fn period_of(&self, grain: Grain, t: Timestamp) -> Period {
        self.period_of_date(grain, self.tz.to_datetime(t).date())
    }

    /// Exact first instant of the period: local midnight of its first day, or, when a DST jump
    /// skips midnight, the first instant of that day that exists.
    pub fn start(&self, p: Period) -> Timestamp {
        self.date_start(self.first_date(p))
    }

    /// The first instant of the local day that contains `t` (as [`Calendar::start`] of its
    /// day period).
    pub fn day_start(&self, t: Timestamp) -> Timestamp {
        self.date_start(self.tz.to_datetime(t).date())
    }

    /// The first instant of the local day after the one that contains `t`.
    pub fn day_end(&self, t: Timestamp) -> Timestamp {
        self.end(self.period_of(Grain::Day, t))
    }

    /// Exclusive end = start of the next period.
    pub fn end(&self, p: Period) -> Timestamp {
        self.start(self.shift(p, 1))
    }

    /// Label: day `2026-03-15`, week `2026-W11`, month `2026-03`, quarter `2026-Q1`, year
    /// `2026`; fiscal quarters and years are `FY2026-Q1` and `FY2026`, named by the year they end.
    pub fn label(&self, p: Period) -> String {
        let prefix = if self.is_fiscal() { "FY" } else { "" };
        match p.grain {
            Grain::Day => {
                let d = self.first_date(p);
                format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
            }
            Grain::Week => {
                let iso = self.first_date(p).iso_week_date();
                format!("{:04}-W{:02}", iso.year(), iso.week())
            }
            Grain::Month => {
                format!(
                    "{:04}-{:02}",
                    p.ordinal.div_euclid(12),
                    p.ordinal.rem_euclid(12) + 1
                )
            }
            Grain::Quarter => {
                format!(
                    "{prefix}{:04}-Q{}",
                    p.ordinal.div_euclid(4),
                    p.ordinal.rem_euclid(4) + 1
                )
            }
            Grain::Year => format!("{prefix}{:04}", p.ordinal),
        }
    }

    /// Parses a label of the given grain (the inverse of [`Calendar::label`]). With a fiscal
    /// calendar, quarter and year labels must carry the `FY` prefix; without one, they must not.
    pub fn parse_period(&self, grain: Grain, label: &str) -> Result<Period, CalendarError> {
        let text = label.trim();
        match label::shape(text) {
            Some(shape) => self.period_from_shape(grain, label, shape),
            None => Err(CalendarError::InvalidPeriod {
                grain,
                label: label.to_owned(),
                problem: "this is not a period label".to_owned(),
                example: self.example(grain).to_owned(),
            }),
        }
    }

    /// Infers the grain from the label's shape (`2026-03-15`, `2026-W11`, `2026-03`,
    /// `2026-Q1`/`FY2026-Q1`, `2026`/`FY2026`) and parses it.
    pub fn parse_any_period(&self, label: &str) -> Result<Period, CalendarError> {
        let text = label.trim();
        match label::shape(text) {
            Some(shape) => self.period_from_shape(shape.rest.grain(), label, shape),
            None => Err(CalendarError::UnrecognizedPeriod {
                label: label.to_owned(),
                expected: self.all_examples(),
            }),
        }
    }

    /// `p` moved by `n` periods of its grain (negative = earlier).
    pub fn shift(&self, p: Period, n: i64) -> Period {
        Period {
            grain: p.grain,
            ordinal: p.ordinal.saturating_add(n),
        }
    }

    /// The same period one year earlier: day → same month and day (Feb 29 → Feb 28), week →
    /// same ISO week number of the previous ISO week-year (W53 → W52 when that year has no
    /// W53), month → 12 earlier, quarter → 4 earlier, year → 1 earlier.
    pub fn year_ago(&self, p: Period) -> Period {
        match p.grain {
            Grain::Day => {
                let d = self.first_date(p);
                let month_start = Date::new(d.year().saturating_sub(1), d.month(), 1);
                match month_start {
                    Ok(m) => {
                        let day = d.day().min(m.days_in_month());
                        // `day` is within the month, so `with` cannot fail; fall back anyway.
                        let date = m.with().day(day).build().unwrap_or(m);
                        self.period_of_date(Grain::Day, date)
                    }
                    // Only before year -9998, outside anything Tablero stores.
                    Err(_) => self.shift(p, -365),
                }
            }
            Grain::Week => {
                let iso = self.first_date(p).iso_week_date();
                let year = iso.year().saturating_sub(1);
                let monday = ISOWeekDate::new(year, iso.week(), Weekday::Monday)
                    .or_else(|_| ISOWeekDate::new(year, 52, Weekday::Monday));
                match monday {
                    Ok(monday) => self.period_of_date(Grain::Week, monday.date()),
                    // Only before year -9998, outside anything Tablero stores.
                    Err(_) => self.shift(p, -52),
                }
            }
            Grain::Month => self.shift(p, -12),
            Grain::Quarter => self.shift(p, -4),
            Grain::Year => self.shift(p, -1),
        }
    }

    /// First instant of the (fiscal) year that contains the period's start.
    pub fn year_start(&self, p: Period) -> Timestamp {
        let year = self.period_of_date(Grain::Year, self.first_date(p));
        self.start(year)
    }

    /// The (fiscal) year a period belongs to: for a week, the year that contains its Thursday
    /// (ISO 8601's rule, applied to fiscal years too); for other grains, the year that contains
    /// the period's first day.
    pub fn year_of(&self, p: Period) -> Period {
        let first = self.first_date(p);
        let day = match p.grain {
            Grain::Week => civil::date_of_day_number(civil::day_number(first).saturating_add(3)),
            _ => first,
        };
        self.period_of_date(Grain::Year, day)
    }

    /// First instant of the year-to-date window that ends with `p` (SPEC §5). At week grain it
    /// is the start of the first week of the week's own year ([`Calendar::year_of`]) — the week
    /// holding the first Thursday on or after the year's first day — so the window is whole
    /// weeks, never shrinks from one week to the next, and no row is in two years' windows.
    /// At other grains it is the start of the (fiscal) year.
    pub fn year_to_date_start(&self, p: Period) -> Timestamp {
        if p.grain != Grain::Week {
            return self.year_start(p);
        }
        let year = self.year_of(p);
        let first_day = civil::day_number(self.first_date(year));
        // 1970-01-01 (day 0) was a Thursday, so Thursdays are the multiples of 7; day numbers
        // of civil dates are within ±4 million, so nothing overflows.
        let first_thursday = first_day + (-first_day).rem_euclid(7);
        let first_week = Period {
            grain: Grain::Week,
            ordinal: civil::week_of_day_number(first_thursday),
        };
        self.start(first_week)
    }

    /// Every period from `from` to `to`, both included. Empty if `to < from` or if the two are
    /// of different grains.
    pub fn range(&self, from: Period, to: Period) -> Vec<Period> {
        if from.grain != to.grain || to.ordinal < from.ordinal {
            return Vec::new();
        }
        (from.ordinal..=to.ordinal)
            .map(|ordinal| Period {
                grain: from.grain,
                ordinal,
            })
            .collect()
    }

    /// The periods of `grain` whose start lies in `[start(outer), end(outer))` — e.g. the
    /// months of a quarter, or the weeks starting in a month.
    pub fn periods_within(&self, outer: Period, grain: Grain) -> Vec<Period> {
        // Period starts are local midnights of their first days, and those are ordered like
        // the days themselves, so comparing first days is comparing starts.
        let first_day = self.first_date(outer);
        let end_day = self.first_date(self.shift(outer, 1));
        let mut p = self.period_of_date(grain, first_day);
        if self.first_date(p) < first_day {
            p = self.shift(p, 1);
        }
        let mut periods = Vec::new();
        while self.first_date(p) < end_day && self.first_date(p) >= first_day {
            periods.push(p);
            let next = self.shift(p, 1);
            if next == p {
                break; // saturated at the end of the ordinal range
            }
            p = next;
        }
        periods
    }

    /// Reads `--as-of`: a date `2026-03-15` means the end of that day in the zone (the start
    /// of the next local day); an RFC 3339 instant with an offset or `Z` is that instant; a
    /// local date-time without offset (`2026-03-15T10:00:00`) is read in the zone.
    pub fn parse_as_of(&self, text: &str) -> Result<Timestamp, CalendarError> {
        let trimmed = text.trim();
        let invalid = |problem: String| CalendarError::InvalidAsOf {
            text: text.to_owned(),
            problem,
        };
        let instant_error = match trimmed.parse::<Timestamp>() {
            Ok(t) => return Ok(t),
            Err(e) => e,
        };
        match trimmed.find(['T', 't', ' ']) {
            Some(at) => {
                // A time with something offset-like after it is a failed instant, not a local
                // time: jiff's civil parser would silently drop a bad offset.
                let time = &trimmed[at + 1..];
                if time.contains(['+', '-', 'Z', 'z', '[']) {
                    return Err(invalid(instant_error.to_string()));
                }
                let dt: DateTime = trimmed
                    .parse()
                    .map_err(|e: jiff::Error| invalid(e.to_string()))?;
                Ok(self.local_instant(dt))
            }
            None => {
                let date: Date = trimmed
                    .parse()
                    .map_err(|e: jiff::Error| invalid(e.to_string()))?;
                let next = date.tomorrow().map_err(|_| {
                    invalid("the day after this date is beyond year 9999".to_owned())
                })?;
                Ok(self.date_start(next))
            }
        }
    }

    /// A civil date at local midnight in the zone, as an instant (the first existing instant
    /// of the day when a DST jump skips midnight).
    pub fn date_start(&self, date: Date) -> Timestamp {
        self.local_instant(date.to_datetime(jiff::civil::Time::midnight()))
    }

    /// A local civil date-time read in the zone as an instant; times in a DST gap or fold are
    /// resolved "compatible" (a gap moves forward by its length, a fold takes the earlier time).
    pub fn local_instant(&self, dt: DateTime) -> Timestamp {
        // Fails only within hours of jiff's civil range limits (years ±9999).
        self.tz.to_timestamp(dt).unwrap_or(if dt.year() < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        })
    }

    /// The earliest local wall-clock time that [`local_instant`](Self::local_instant) reads as
    /// `t` or later. Reading wall times never goes backwards, so for every wall time `w`,
    /// `local_instant(w) >= t` exactly when `w >= wall_at_or_after(t)`: a database holding
    /// local times compares its column with these constants instead of converting each row.
    /// Usually `t`'s own wall time; after a gap it is the gap's start (whose times read forward),
    /// and for the second pass of a repeated hour it is the hour's end (the repeated times read
    /// as their first pass, before `t`).
    pub fn wall_at_or_after(&self, t: Timestamp) -> DateTime {
        let wall = t.to_zoned(self.tz.clone()).datetime();
        let day = jiff::SignedDuration::from_hours(24);
        // An offset changes by hours, not a day: a day before reads before `t`, a day after at
        // or after it. Bisect to the microsecond between them.
        let (Ok(mut before), Ok(mut after)) = (wall.checked_sub(day), wall.checked_add(day)) else {
            return wall;
        };
        loop {
            let gap = after.duration_since(before).as_micros();
            if gap <= 1 {
                return after;
            }
            let Ok(middle) =
                before.checked_add(jiff::SignedDuration::from_micros((gap / 2) as i64))
            else {
                return after;
            };
            if self.local_instant(middle) >= t {
                after = middle;
            } else {
                before = middle;
            }
        }
    }

    /// RFC 3339 text of an instant with the zone's offset at that instant, e.g.
    /// `2026-01-01T00:00:00-03:00` (seconds always shown, no fraction when it is zero).
    pub fn format_instant(&self, t: Timestamp) -> String {
        t.display_with_offset(self.tz.to_offset(t)).to_string()
    }

    fn is_fiscal(&self) -> bool {
        self.fiscal_year_start != 1
    }

    /// How many years a fiscal year's name is ahead of the calendar year it starts in.
    fn fiscal_name_offset(&self) -> i64 {
        i64::from(self.is_fiscal())
    }

    /// The period of `grain` that contains the civil date.
    fn period_of_date(&self, grain: Grain, date: Date) -> Period {
        let ordinal = match grain {
            Grain::Day => civil::day_number(date),
            Grain::Week => civil::week_of_day_number(civil::day_number(date)),
            Grain::Month => civil::month_index(date),
            Grain::Quarter | Grain::Year => {
                // Months since the start of fiscal year 0's calendar year.
                let fiscal_month = civil::month_index(date) - i64::from(self.fiscal_year_start - 1);
                let fiscal_year = fiscal_month.div_euclid(12) + self.fiscal_name_offset();
                if grain == Grain::Year {
                    fiscal_year
                } else {
                    fiscal_year * 4 + fiscal_month.rem_euclid(12) / 3
                }
            }
        };
        Period { grain, ordinal }
    }

    /// The civil date of the period's first day, clamped to jiff's civil range.
    fn first_date(&self, p: Period) -> Date {
        match p.grain {
            Grain::Day => civil::date_of_day_number(p.ordinal),
            Grain::Week => civil::date_of_day_number(civil::monday_of_week(p.ordinal)),
            Grain::Month => civil::date_of_month_index(p.ordinal),
            Grain::Quarter => {
                self.fiscal_month_start(p.ordinal.div_euclid(4), p.ordinal.rem_euclid(4) * 3)
            }
            Grain::Year => self.fiscal_month_start(p.ordinal, 0),
        }
    }

    /// First day of the month `months_in` months after the start of fiscal year `fiscal_year`.
    fn fiscal_month_start(&self, fiscal_year: i64, months_in: i64) -> Date {
        let index = fiscal_year
            .saturating_sub(self.fiscal_name_offset())
            .saturating_mul(12)
            .saturating_add(i64::from(self.fiscal_year_start - 1) + months_in);
        civil::date_of_month_index(index)
    }
}
