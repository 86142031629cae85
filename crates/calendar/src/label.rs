//! Reading period labels (`2026-03-15`, `2026-W11`, `2026-03`, `2026-Q1`, `FY2026-Q1`, `2026`,
//! `FY2026`). Labels come from users, so this never panics: it first recognises the label's
//! shape, then checks each field, and reports the first problem with an example of a good label.

use crate::{Calendar, CalendarError, Grain, Period, civil};
use jiff::civil::{Date, ISOWeekDate, Weekday};

/// The shape of a label, with its fields read but not yet validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub fiscal_prefix: bool,
    pub year: i16,
    pub rest: Rest,
}

/// What follows the four-digit year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rest {
    Nothing,
    Quarter(u8),
    Week(u8),
    Month(u8),
    Day(u8, u8),
}

impl Rest {
    /// The grain of labels with this shape.
    pub(crate) fn grain(self) -> Grain {
        match self {
            Rest::Nothing => Grain::Year,
            Rest::Quarter(_) => Grain::Quarter,
            Rest::Week(_) => Grain::Week,
            Rest::Month(_) => Grain::Month,
            Rest::Day(..) => Grain::Day,
        }
    }
}

/// Recognises a label's shape, or `None` when it matches no shape at all.
pub(crate) fn shape(label: &str) -> Option<Shape> {
    let (fiscal_prefix, rest) = match label.strip_prefix("FY") {
        Some(rest) => (true, rest),
        None => (false, label),
    };
    let (year, rest) = digits(rest, 4)?;
    let year = i16::try_from(year).ok()?;
    let rest = if rest.is_empty() {
        Rest::Nothing
    } else {
        let rest = rest.strip_prefix('-')?;
        if let Some(q) = rest.strip_prefix('Q') {
            let (q, tail) = digits(q, 1)?;
            tail.is_empty().then_some(Rest::Quarter(q as u8))?
        } else if let Some(w) = rest.strip_prefix('W') {
            let (w, tail) = digits(w, 2)?;
            tail.is_empty().then_some(Rest::Week(w as u8))?
        } else {
            let (m, tail) = digits(rest, 2)?;
            if tail.is_empty() {
                Rest::Month(m as u8)
            } else {
                let (d, tail) = digits(tail.strip_prefix('-')?, 2)?;
                tail.is_empty().then_some(Rest::Day(m as u8, d as u8))?
            }
        }
    };
    Some(Shape {
        fiscal_prefix,
        year,
        rest,
    })
}

/// Reads exactly `n` ASCII digits from the front of `s` (n <= 4, so the value fits in `u16`).
fn digits(s: &str, n: usize) -> Option<(u16, &str)> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &s[n..]))
}

impl Calendar {
    /// An example label of `grain` in this calendar's naming, for error messages.
    pub(crate) fn example(&self, grain: Grain) -> &'static str {
        match (grain, self.is_fiscal()) {
            (Grain::Day, _) => "2026-03-15",
            (Grain::Week, _) => "2026-W11",
            (Grain::Month, _) => "2026-03",
            (Grain::Quarter, false) => "2026-Q1",
            (Grain::Quarter, true) => "FY2026-Q1",
            (Grain::Year, false) => "2026",
            (Grain::Year, true) => "FY2026",
        }
    }

    /// Every shape this calendar accepts, for the message of an unrecognised label.
    pub(crate) fn all_examples(&self) -> String {
        format!(
            "a day `{}`, a week `{}`, a month `{}`, a quarter `{}` or a year `{}`",
            self.example(Grain::Day),
            self.example(Grain::Week),
            self.example(Grain::Month),
            self.example(Grain::Quarter),
            self.example(Grain::Year),
        )
    }

    /// Checks a recognised shape's fields and turns it into a period of `grain`.
    pub(crate) fn period_from_shape(
        &self,
        grain: Grain,
        label: &str,
        shape: Shape,
    ) -> Result<Period, CalendarError> {
        let invalid = |problem: String| CalendarError::InvalidPeriod {
            grain,
            label: label.to_owned(),
            problem,
            example: self.example(grain).to_owned(),
        };
        let found = shape.rest.grain();
        if found != grain {
            return Err(invalid(format!("this label has the shape of a {found}")));
        }
        let takes_prefix = matches!(grain, Grain::Quarter | Grain::Year);
        match (shape.fiscal_prefix, takes_prefix, self.is_fiscal()) {
            (true, false, _) => {
                return Err(invalid(format!(
                    "only quarters and years take the `FY` prefix, not a {grain}"
                )));
            }
            (true, true, false) => {
                return Err(invalid(format!(
                    "this calendar has no fiscal year (fiscal_year_start = 1), so {grain}s are written without `FY`"
                )));
            }
            (false, true, true) => {
                return Err(invalid(format!(
                    "this calendar's fiscal year starts in month {}, so {grain}s are fiscal and written with `FY`",
                    self.fiscal_year_start
                )));
            }
            _ => {}
        }
        let year = i64::from(shape.year);
        match shape.rest {
            Rest::Nothing => Ok(Period {
                grain,
                ordinal: year,
            }),
            Rest::Quarter(q) => {
                if !(1..=4).contains(&q) {
                    return Err(invalid(format!("quarter must be Q1 to Q4, not Q{q}")));
                }
                Ok(Period {
                    grain,
                    ordinal: year * 4 + i64::from(q) - 1,
                })
            }
            Rest::Month(m) => {
                if !(1..=12).contains(&m) {
                    return Err(invalid(format!("month must be 01 to 12, not {m:02}")));
                }
                Ok(Period {
                    grain,
                    ordinal: year * 12 + i64::from(m) - 1,
                })
            }
            Rest::Week(w) => {
                if !(1..=53).contains(&w) {
                    return Err(invalid(format!("week must be W01 to W53, not W{w:02}")));
                }
                // `w` <= 53, so the cast is lossless.
                let monday =
                    ISOWeekDate::new(shape.year, w as i8, Weekday::Monday).map_err(|_| {
                        invalid(format!(
                            "ISO week-year {:04} has 52 weeks, so it has no W{w:02}",
                            shape.year
                        ))
                    })?;
                let day = civil::day_number(monday.date());
                Ok(Period {
                    grain,
                    ordinal: civil::week_of_day_number(day),
                })
            }
            Rest::Day(m, d) => {
                // `m` and `d` are two digits, so the casts are lossless.
                let date = Date::new(shape.year, m as i8, d as i8).map_err(|_| {
                    invalid(format!(
                        "there is no day {d:02} in month {m:02} of {:04}",
                        shape.year
                    ))
                })?;
                Ok(Period {
                    grain,
                    ordinal: civil::day_number(date),
                })
            }
        }
    }
}
