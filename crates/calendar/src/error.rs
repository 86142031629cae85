//! The calendar's error type. Every variant is the user's fault (a bad setting, label or
//! `--as-of` value), so every message names the bad value and shows what a good one looks like.

use crate::Grain;

/// What went wrong while building a [`Calendar`](crate::Calendar) or reading a period or instant.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalendarError {
    /// The workspace's `timezone` is not a known IANA time zone.
    #[error(
        "unknown time zone `{name}`: expected an IANA time zone name such as `America/Santiago` or `UTC`"
    )]
    UnknownTimeZone { name: String },

    /// The workspace's `fiscal_year_start` is not a month number.
    #[error(
        "fiscal_year_start must be a month number from 1 to 12 (1 = January, 7 = July), got {value}"
    )]
    InvalidFiscalYearStart { value: u8 },

    /// A label of a known grain that does not name a period of that grain.
    #[error("invalid {grain} `{label}`: {problem}; expected a {grain} such as `{example}`")]
    InvalidPeriod {
        grain: Grain,
        label: String,
        problem: String,
        example: String,
    },

    /// A label whose grain could not be recognised at all.
    #[error("`{label}` is not a period: expected {expected}")]
    UnrecognizedPeriod { label: String, expected: String },

    /// An `--as-of` value that is neither a date, a local date-time nor an instant.
    #[error(
        "invalid as-of `{text}`: {problem}; expected a date (`2026-03-15`, meaning the end of that day), \
         a local date-time (`2026-03-15T10:00:00`) or an instant with an offset \
         (`2026-03-15T10:00:00-03:00`, `2026-03-15T13:00:00Z`)"
    )]
    InvalidAsOf { text: String, problem: String },
}
