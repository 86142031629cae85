//! Unit tests for the calendar. Expected values are worked out by hand from the calendar and
//! from Chile's DST rules (DST ends on the first Sunday of April, starts on the first Sunday of
//! September; in 2026 that is April 5 and September 6); the reasoning sits next to each case.

use super::*;
use jiff::civil::date;
use proptest::prelude::*;

fn santiago() -> Calendar {
    Calendar::new("America/Santiago", 1).unwrap()
}

fn fiscal_july() -> Calendar {
    Calendar::new("America/Santiago", 7).unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn label_of(cal: &Calendar, grain: Grain, t: &str) -> String {
    cal.label(cal.period_of(grain, ts(t)))
}

fn label_of_date(cal: &Calendar, grain: Grain, d: Date) -> String {
    cal.label(cal.period_of(grain, cal.date_start(d)))
}

fn parse(cal: &Calendar, grain: Grain, label: &str) -> Period {
    cal.parse_period(grain, label).unwrap()
}

// ---------------------------------------------------------------- construction and grains

#[test]
fn new_rejects_unknown_zone_and_bad_fiscal_month() {
    assert_eq!(
        Calendar::new("Mars/Olympus_Mons", 1)
            .unwrap_err()
            .to_string(),
        "unknown time zone `Mars/Olympus_Mons`: expected an IANA time zone name such as \
         `America/Santiago` or `UTC`"
    );
    assert_eq!(
        Calendar::new("UTC", 13).unwrap_err(),
        CalendarError::InvalidFiscalYearStart { value: 13 }
    );
    assert_eq!(
        Calendar::new("UTC", 0).unwrap_err().to_string(),
        "fiscal_year_start must be a month number from 1 to 12 (1 = January, 7 = July), got 0"
    );
    let cal = fiscal_july();
    assert_eq!(cal.fiscal_year_start(), 7);
    assert_eq!(cal.time_zone().iana_name(), Some("America/Santiago"));
}

#[test]
fn grain_words_round_trip() {
    for grain in Grain::ALL {
        assert_eq!(Grain::parse(grain.as_str()), Some(grain));
        assert_eq!(grain.to_string(), grain.as_str());
    }
    assert_eq!(Grain::parse("fortnight"), None);
    assert_eq!(Grain::parse("Month"), None);
}

// ---------------------------------------------------------------- time zone and DST

#[test]
fn santiago_utc_early_february_is_still_january() {
    // January is summer in Chile (UTC-3): 2026-02-01T01:30Z is local 2026-01-31 22:30.
    let cal = santiago();
    assert_eq!(
        label_of(&cal, Grain::Month, "2026-02-01T01:30:00Z"),
        "2026-01"
    );
    assert_eq!(
        label_of(&cal, Grain::Day, "2026-02-01T01:30:00Z"),
        "2026-01-31"
    );
    // Same instant in UTC is already February.
    let utc = Calendar::new("UTC", 1).unwrap();
    assert_eq!(
        label_of(&utc, Grain::Month, "2026-02-01T01:30:00Z"),
        "2026-02"
    );
}

#[test]
fn santiago_day_boundary_is_local_midnight() {
    // March 2026 is still UTC-3, so local midnight of March 15 is 03:00Z.
    let cal = santiago();
    assert_eq!(
        label_of(&cal, Grain::Day, "2026-03-15T02:59:59Z"),
        "2026-03-14"
    );
    assert_eq!(
        label_of(&cal, Grain::Day, "2026-03-15T03:00:00Z"),
        "2026-03-15"
    );
    // In July (winter, UTC-4) midnight is 04:00Z.
    assert_eq!(
        label_of(&cal, Grain::Day, "2026-07-15T03:59:59Z"),
        "2026-07-14"
    );
    assert_eq!(
        label_of(&cal, Grain::Day, "2026-07-15T04:00:00Z"),
        "2026-07-15"
    );
}

#[test]
fn santiago_months_straddling_dst_changes() {
    let cal = santiago();
    // (month, start, end): April starts in summer time (-03) and ends in winter time (-04);
    // September starts in winter time and ends in summer time.
    let cases = [
        (
            "2026-04",
            "2026-04-01T00:00:00-03:00",
            "2026-05-01T00:00:00-04:00",
        ),
        (
            "2026-09",
            "2026-09-01T00:00:00-04:00",
            "2026-10-01T00:00:00-03:00",
        ),
    ];
    for (label, start, end) in cases {
        let p = parse(&cal, Grain::Month, label);
        assert_eq!(cal.format_instant(cal.start(p)), start, "start of {label}");
        assert_eq!(cal.format_instant(cal.end(p)), end, "end of {label}");
        assert_eq!(cal.start(p), ts(start));
        assert_eq!(cal.end(p), ts(end));
    }
}

#[test]
fn santiago_dst_days_are_23_and_25_hours_long() {
    let cal = santiago();
    // DST starts 2026-09-06 at 04:00Z: local 00:00 -04 jumps to 01:00 -03, so midnight does
    // not exist and the day starts at 01:00 -03 (= 04:00Z) and ends at 2026-09-07 00:00 -03
    // (= 03:00Z): 23 hours.
    let sep6 = parse(&cal, Grain::Day, "2026-09-06");
    assert_eq!(
        cal.format_instant(cal.start(sep6)),
        "2026-09-06T01:00:00-03:00"
    );
    assert_eq!(cal.start(sep6), ts("2026-09-06T04:00:00Z"));
    assert_eq!(cal.end(sep6), ts("2026-09-07T03:00:00Z"));
    assert_eq!(cal.start(sep6).duration_until(cal.end(sep6)).as_hours(), 23);
    // Any instant of that day has it as its day start, the first one too.
    assert_eq!(
        cal.day_start(ts("2026-09-06T15:00:00Z")),
        ts("2026-09-06T04:00:00Z")
    );
    assert_eq!(
        cal.day_start(ts("2026-09-06T04:00:00Z")),
        ts("2026-09-06T04:00:00Z")
    );
    // The previous day ends where Sep 6 starts: 2026-09-05 00:00 -04 (04:00Z) to 04:00Z, 24 h.
    let sep5 = cal.shift(sep6, -1);
    assert_eq!(cal.end(sep5), cal.start(sep6));
    assert_eq!(cal.start(sep5).duration_until(cal.end(sep5)).as_hours(), 24);
    // DST ends 2026-04-05 at 03:00Z: local 00:00 -03 falls back to 23:00 -04 on April 4, so
    // April 4 runs from 00:00 -03 (03:00Z) to April 5 00:00 -04 (04:00Z): 25 hours.
    let apr4 = parse(&cal, Grain::Day, "2026-04-04");
    assert_eq!(cal.start(apr4), ts("2026-04-04T03:00:00Z"));
    assert_eq!(cal.end(apr4), ts("2026-04-05T04:00:00Z"));
    assert_eq!(cal.start(apr4).duration_until(cal.end(apr4)).as_hours(), 25);
    // The repeated hour 23:00–24:00 of April 4 belongs to April 4 both times.
    assert_eq!(
        label_of(&cal, Grain::Day, "2026-04-05T02:30:00Z"),
        "2026-04-04"
    );
    assert_eq!(
        label_of(&cal, Grain::Day, "2026-04-05T03:30:00Z"),
        "2026-04-04"
    );
    assert_eq!(
        label_of(&cal, Grain::Day, "2026-04-05T04:00:00Z"),
        "2026-04-05"
    );
}

#[test]
fn local_instant_resolves_gaps_and_folds_compatibly() {
    let cal = santiago();
    // 00:30 on Sep 6 is in the gap: "compatible" moves it forward by the gap's hour, 01:30 -03.
    assert_eq!(
        cal.local_instant(date(2026, 9, 6).at(0, 30, 0, 0)),
        ts("2026-09-06T04:30:00Z")
    );
    // 23:30 on Apr 4 happens twice: "compatible" takes the first, still at -03.
    assert_eq!(
        cal.local_instant(date(2026, 4, 4).at(23, 30, 0, 0)),
        ts("2026-04-05T02:30:00Z")
    );
    assert_eq!(cal.date_start(date(2026, 1, 1)), ts("2026-01-01T03:00:00Z"));
}

#[test]
fn wall_at_or_after_is_the_first_wall_time_reading_at_or_after_an_instant() {
    let cal = santiago();
    // An ordinary instant: its own wall time (03:00Z is midnight at -03 in January).
    assert_eq!(
        cal.wall_at_or_after(ts("2026-01-01T03:00:00Z")),
        date(2026, 1, 1).at(0, 0, 0, 0)
    );
    // Sep 6 starts at 01:00 -03 (04:00Z), its midnight skipped; 00:00–00:59 read forward to
    // 04:00Z–04:59Z, so the first wall time reading 04:00Z or later is 00:00.
    assert_eq!(
        cal.wall_at_or_after(ts("2026-09-06T04:00:00Z")),
        date(2026, 9, 6).at(0, 0, 0, 0)
    );
    // 03:30Z is 23:30 -04 on Apr 4, the second pass of the repeated hour. Every 23:xx reads
    // as its first pass (-03, 02:xxZ, before 03:30Z); the first wall time after them is Apr 5
    // 00:00 -04 = 04:00Z.
    assert_eq!(
        cal.wall_at_or_after(ts("2026-04-05T03:30:00Z")),
        date(2026, 4, 5).at(0, 0, 0, 0)
    );
    // 02:30Z is the first pass of 23:30: that wall time itself.
    assert_eq!(
        cal.wall_at_or_after(ts("2026-04-05T02:30:00Z")),
        date(2026, 4, 4).at(23, 30, 0, 0)
    );
}

#[test]
fn format_instant_shows_seconds_and_only_nonzero_fractions() {
    let cal = santiago();
    assert_eq!(
        cal.format_instant(ts("2026-01-01T03:00:00Z")),
        "2026-01-01T00:00:00-03:00"
    );
    assert_eq!(
        cal.format_instant(ts("2026-07-01T04:00:00.5Z")),
        "2026-07-01T00:00:00.5-04:00"
    );
    let utc = Calendar::new("UTC", 1).unwrap();
    assert_eq!(
        utc.format_instant(ts("2026-01-01T00:00:00Z")),
        "2026-01-01T00:00:00+00:00"
    );
}

// ---------------------------------------------------------------- ISO weeks

#[test]
fn iso_week_membership() {
    let cal = santiago();
    // 2026-01-01 is a Thursday, so ISO 2026 has 53 weeks and its W53 runs Mon 2026-12-28 to
    // Sun 2027-01-03; 2027-W01 starts Monday 2027-01-04.
    let cases = [
        (date(2027, 1, 1), "2026-W53"),
        (date(2026, 12, 28), "2026-W53"),
        (date(2027, 1, 3), "2026-W53"),
        (date(2027, 1, 4), "2027-W01"),
        // 2026-W01 starts Monday 2025-12-29.
        (date(2025, 12, 29), "2026-W01"),
        (date(2025, 12, 28), "2025-W52"),
        // March 15 2026 is a Sunday: week of Monday March 9, the 11th Monday from Dec 29.
        (date(2026, 3, 15), "2026-W11"),
    ];
    for (d, expected) in cases {
        assert_eq!(label_of_date(&cal, Grain::Week, d), expected, "week of {d}");
    }
    let w53 = parse(&cal, Grain::Week, "2026-W53");
    assert_eq!(cal.start(w53), cal.date_start(date(2026, 12, 28)));
    assert_eq!(cal.end(w53), cal.date_start(date(2027, 1, 4)));
}

#[test]
fn iso_53_week_years() {
    let cal = santiago();
    // 2020 starts on a Wednesday and is a leap year: 53 weeks. 2021 starts on a Friday: 52.
    assert!(cal.parse_period(Grain::Week, "2020-W53").is_ok());
    assert_eq!(
        cal.parse_period(Grain::Week, "2021-W53")
            .unwrap_err()
            .to_string(),
        "invalid week `2021-W53`: ISO week-year 2021 has 52 weeks, so it has no W53; \
         expected a week such as `2026-W11`"
    );
}

#[test]
fn week_labels_round_trip_for_every_week_of_a_decade() {
    let cal = santiago();
    let first = cal.period_of(Grain::Week, cal.date_start(date(2018, 1, 1)));
    let last = cal.period_of(Grain::Week, cal.date_start(date(2031, 12, 31)));
    let mut w53 = Vec::new();
    for p in cal.range(first, last) {
        let label = cal.label(p);
        assert_eq!(cal.parse_period(Grain::Week, &label), Ok(p), "{label}");
        if label.ends_with("W53") {
            w53.push(label);
        }
    }
    // ISO long years 2018–2031: those starting on Thursday, or leap years starting Wednesday.
    assert_eq!(w53, ["2020-W53", "2026-W53"]);
}

#[test]
fn shift_weeks_across_year_ends() {
    let cal = santiago();
    let cases = [
        ("2026-W52", 1, "2026-W53"),
        ("2026-W53", 1, "2027-W01"),
        ("2027-W01", -1, "2026-W53"),
        // 2021 has no W53, so its W52 is followed by 2022-W01.
        ("2021-W52", 1, "2022-W01"),
        ("2020-W52", 2, "2021-W01"),
        ("2026-W11", -52, "2025-W11"),
    ];
    for (from, n, to) in cases {
        assert_eq!(
            cal.label(cal.shift(parse(&cal, Grain::Week, from), n)),
            to,
            "{from} {n:+}"
        );
    }
}

// ---------------------------------------------------------------- fiscal years

#[test]
fn fiscal_quarters_are_named_by_the_year_they_end() {
    let cal = fiscal_july();
    // July start: Q1 = Jul–Sep, Q2 = Oct–Dec, Q3 = Jan–Mar, Q4 = Apr–Jun; FY2026 ends June 2026.
    let cases = [
        (date(2025, 7, 15), "FY2026-Q1"),
        (date(2025, 12, 31), "FY2026-Q2"),
        (date(2026, 3, 1), "FY2026-Q3"),
        (date(2026, 6, 30), "FY2026-Q4"),
        (date(2026, 7, 1), "FY2027-Q1"),
    ];
    for (d, expected) in cases {
        assert_eq!(
            label_of_date(&cal, Grain::Quarter, d),
            expected,
            "quarter of {d}"
        );
    }
    assert_eq!(label_of_date(&cal, Grain::Year, date(2026, 3, 1)), "FY2026");
    assert_eq!(
        label_of_date(&cal, Grain::Year, date(2025, 6, 30)),
        "FY2025"
    );
    // Months are not fiscal.
    assert_eq!(
        label_of_date(&cal, Grain::Month, date(2026, 3, 1)),
        "2026-03"
    );
}

#[test]
fn fiscal_year_bounds_and_year_start() {
    let cal = fiscal_july();
    // FY2026 = 2025-07-01 .. 2026-07-01; July is winter in Santiago (-04).
    let fy = parse(&cal, Grain::Year, "FY2026");
    assert_eq!(
        cal.format_instant(cal.start(fy)),
        "2025-07-01T00:00:00-04:00"
    );
    assert_eq!(cal.format_instant(cal.end(fy)), "2026-07-01T00:00:00-04:00");
    let march = parse(&cal, Grain::Month, "2026-03");
    assert_eq!(cal.year_start(march), cal.date_start(date(2025, 7, 1)));
    // FY2026-Q3 = Jan–Mar 2026 (summer, -03).
    let q3 = parse(&cal, Grain::Quarter, "FY2026-Q3");
    assert_eq!(
        cal.format_instant(cal.start(q3)),
        "2026-01-01T00:00:00-03:00"
    );
    assert_eq!(cal.format_instant(cal.end(q3)), "2026-04-01T00:00:00-03:00");
    // On a calendar year, the year of March 2026 starts 2026-01-01.
    let cal = santiago();
    assert_eq!(
        cal.year_start(parse(&cal, Grain::Month, "2026-03")),
        cal.date_start(date(2026, 1, 1))
    );
    // `year_start` reads the year of a period's first day: 2026-W01 starts Mon 2025-12-29.
    // The week's own year (of its Thursday, for year-to-date) is `year_of`, tested below.
    assert_eq!(
        cal.year_start(parse(&cal, Grain::Week, "2026-W01")),
        cal.date_start(date(2025, 1, 1))
    );
}

// ---------------------------------------------------------------- weeks in (fiscal) years

/// (week label, its year's label, first day of its year-to-date window).
fn check_week_years(cal: &Calendar, cases: &[(&str, &str, Date)]) {
    for (week, year, ytd_start) in cases {
        let p = parse(cal, Grain::Week, week);
        assert_eq!(cal.label(cal.year_of(p)), *year, "year of {week}");
        assert_eq!(
            cal.year_to_date_start(p),
            cal.date_start(*ytd_start),
            "ytd start of {week}"
        );
    }
}

#[test]
fn a_week_belongs_to_the_calendar_year_of_its_thursday() {
    let cal = santiago();
    // 2026-01-01 is a Thursday: 2026-W01 = Mon 2025-12-29 .. Sun 2026-01-04 is 2026's first
    // week, and 2026 has 53 weeks: W53 = 2026-12-28 .. 2027-01-03, Thursday 2026-12-31.
    // 2027-01-01 is a Friday: 2027's first Thursday is Jan 7, in the week of Mon Jan 4.
    // 2020-01-01 is a Wednesday: first Thursday Jan 2, week of Mon 2019-12-30; 2020-W53 =
    // 2020-12-28 .. 2021-01-03 has its Thursday on Dec 31, so it is 2020's.
    check_week_years(
        &cal,
        &[
            ("2026-W01", "2026", date(2025, 12, 29)),
            ("2026-W02", "2026", date(2025, 12, 29)),
            ("2026-W52", "2026", date(2025, 12, 29)),
            ("2026-W53", "2026", date(2025, 12, 29)),
            ("2027-W01", "2027", date(2027, 1, 4)),
            ("2027-W02", "2027", date(2027, 1, 4)),
            ("2020-W53", "2020", date(2019, 12, 30)),
            ("2021-W01", "2021", date(2021, 1, 4)),
        ],
    );
    // Other grains keep the year of their first day.
    let march = parse(&cal, Grain::Month, "2026-03");
    assert_eq!(cal.label(cal.year_of(march)), "2026");
    assert_eq!(
        cal.year_to_date_start(march),
        cal.date_start(date(2026, 1, 1))
    );
}

#[test]
fn a_week_belongs_to_the_fiscal_year_of_its_thursday() {
    let cal = fiscal_july();
    // FY2027 starts Wednesday 2026-07-01; its first Thursday is July 2, so its first week is
    // Mon 2026-06-29 .. Sun 2026-07-05 = 2026-W27 (Jan 1 2026 is a Thursday, so W27's Monday
    // is Dec 29 + 26 weeks = June 29). The week before, 2026-W26 (June 22–28, Thursday June
    // 25), is FY2026's last. FY2026 starts Tuesday 2025-07-01; first Thursday July 3, week of
    // Mon 2025-06-30 (2025-W27), so FY2026 has the 52 weeks from 2025-06-30 to 2026-06-28.
    // FY2025 starts Monday 2024-07-01, whose Thursday is July 4: its first week starts on the
    // fiscal year's first day itself; 2025-W26 (June 23–29, Thursday June 26) is its last.
    check_week_years(
        &cal,
        &[
            ("2026-W27", "FY2027", date(2026, 6, 29)),
            ("2026-W28", "FY2027", date(2026, 6, 29)),
            ("2027-W01", "FY2027", date(2026, 6, 29)),
            ("2026-W26", "FY2026", date(2025, 6, 30)),
            ("2026-W01", "FY2026", date(2025, 6, 30)),
            ("2025-W27", "FY2026", date(2025, 6, 30)),
            ("2025-W26", "FY2025", date(2024, 7, 1)),
        ],
    );
}

#[test]
fn fiscal_year_starting_in_february_wraps_correctly() {
    // Start 2: FY2026 = Feb 2025 .. Jan 2026, so January 2026 is its Q4.
    let cal = Calendar::new("UTC", 2).unwrap();
    assert_eq!(
        label_of_date(&cal, Grain::Quarter, date(2026, 1, 31)),
        "FY2026-Q4"
    );
    assert_eq!(
        label_of_date(&cal, Grain::Quarter, date(2026, 2, 1)),
        "FY2027-Q1"
    );
    assert_eq!(
        cal.start(parse(&cal, Grain::Year, "FY2026")),
        cal.date_start(date(2025, 2, 1))
    );
}

// ---------------------------------------------------------------- year_ago, shift, range

#[test]
fn year_ago_per_grain() {
    let cal = santiago();
    let cases = [
        (Grain::Day, "2026-03-15", "2025-03-15"),
        // 2023 has no Feb 29.
        (Grain::Day, "2024-02-29", "2023-02-28"),
        (Grain::Day, "2025-03-01", "2024-03-01"),
        // 2025 starts on a Wednesday and is not leap: 52 weeks, so W53 falls back to W52.
        (Grain::Week, "2026-W53", "2025-W52"),
        (Grain::Week, "2021-W10", "2020-W10"),
        (Grain::Week, "2021-W01", "2020-W01"),
        (Grain::Month, "2026-01", "2025-01"),
        (Grain::Quarter, "2026-Q1", "2025-Q1"),
        (Grain::Year, "2026", "2025"),
    ];
    for (grain, from, to) in cases {
        assert_eq!(
            cal.label(cal.year_ago(parse(&cal, grain, from))),
            to,
            "year before {from}"
        );
    }
    let fiscal = fiscal_july();
    assert_eq!(
        fiscal.label(fiscal.year_ago(parse(&fiscal, Grain::Quarter, "FY2026-Q3"))),
        "FY2025-Q3"
    );
    assert_eq!(
        fiscal.label(fiscal.year_ago(parse(&fiscal, Grain::Year, "FY2026"))),
        "FY2025"
    );
}

#[test]
fn shift_per_grain() {
    let cal = santiago();
    let cases = [
        (Grain::Day, "2026-12-31", 1, "2027-01-01"),
        (Grain::Day, "2024-03-01", -1, "2024-02-29"),
        (Grain::Month, "2026-11", 3, "2027-02"),
        (Grain::Month, "2026-03", -5, "2025-10"),
        (Grain::Quarter, "2026-Q4", 1, "2027-Q1"),
        (Grain::Quarter, "2026-Q1", -1, "2025-Q4"),
        (Grain::Year, "2026", -10, "2016"),
    ];
    for (grain, from, n, to) in cases {
        assert_eq!(
            cal.label(cal.shift(parse(&cal, grain, from), n)),
            to,
            "{from} {n:+}"
        );
    }
}

#[test]
fn range_is_inclusive_and_empty_when_reversed() {
    let cal = santiago();
    let from = parse(&cal, Grain::Month, "2026-11");
    let to = parse(&cal, Grain::Month, "2027-02");
    let labels: Vec<_> = cal
        .range(from, to)
        .into_iter()
        .map(|p| cal.label(p))
        .collect();
    assert_eq!(labels, ["2026-11", "2026-12", "2027-01", "2027-02"]);
    assert_eq!(cal.range(from, from), [from]);
    assert!(cal.range(to, from).is_empty());
    assert!(cal.range(from, parse(&cal, Grain::Year, "2027")).is_empty());
}

#[test]
fn periods_within_outer_period() {
    let cal = santiago();
    let labels = |outer: Period, grain| -> Vec<String> {
        cal.periods_within(outer, grain)
            .into_iter()
            .map(|p| cal.label(p))
            .collect()
    };
    assert_eq!(
        labels(parse(&cal, Grain::Quarter, "2026-Q1"), Grain::Month),
        ["2026-01", "2026-02", "2026-03"]
    );
    // March 2026 starts on a Sunday; its Mondays are the 2nd, 9th, 16th, 23rd and 30th, and the
    // week of Monday March 9 is W11 (see iso_week_membership), so the weeks are W10–W14.
    assert_eq!(
        labels(parse(&cal, Grain::Month, "2026-03"), Grain::Week),
        ["2026-W10", "2026-W11", "2026-W12", "2026-W13", "2026-W14"]
    );
    assert_eq!(
        cal.periods_within(parse(&cal, Grain::Month, "2026-02"), Grain::Day)
            .len(),
        28
    );
    assert_eq!(
        cal.periods_within(parse(&cal, Grain::Year, "2026"), Grain::Quarter)
            .len(),
        4
    );
    // A coarser grain: week 2026-W14 (Mon Mar 30 – Sun Apr 5) contains the start of April.
    assert_eq!(
        labels(parse(&cal, Grain::Week, "2026-W14"), Grain::Month),
        ["2026-04"]
    );
    assert!(labels(parse(&cal, Grain::Week, "2026-W13"), Grain::Month).is_empty());
    let fiscal = fiscal_july();
    assert_eq!(
        fiscal
            .periods_within(parse(&fiscal, Grain::Quarter, "FY2026-Q1"), Grain::Month)
            .into_iter()
            .map(|p| fiscal.label(p))
            .collect::<Vec<_>>(),
        ["2025-07", "2025-08", "2025-09"]
    );
}

// ---------------------------------------------------------------- parsing labels

#[test]
fn parse_any_period_infers_the_grain() {
    let cal = santiago();
    let cases = [
        ("2026-03-15", Grain::Day),
        ("2026-W11", Grain::Week),
        ("2026-03", Grain::Month),
        ("2026-Q1", Grain::Quarter),
        ("2026", Grain::Year),
    ];
    for (label, grain) in cases {
        let p = cal.parse_any_period(label).unwrap();
        assert_eq!(p.grain, grain, "{label}");
        assert_eq!(cal.label(p), label);
    }
    let fiscal = fiscal_july();
    assert_eq!(
        fiscal.parse_any_period("FY2026-Q1").unwrap().grain,
        Grain::Quarter
    );
    assert_eq!(
        fiscal.parse_any_period("FY2026").unwrap().grain,
        Grain::Year
    );
    assert_eq!(
        fiscal.parse_any_period(" 2026-03 ").unwrap().grain,
        Grain::Month
    );
}

#[test]
fn parse_errors_say_what_was_expected() {
    let cal = santiago();
    let fiscal = fiscal_july();
    let cases = [
        (
            &cal,
            Grain::Month,
            "2026-13",
            "invalid month `2026-13`: month must be 01 to 12, not 13; expected a month such as `2026-03`",
        ),
        (
            &cal,
            Grain::Month,
            "2026-00",
            "invalid month `2026-00`: month must be 01 to 12, not 00; expected a month such as `2026-03`",
        ),
        (
            &cal,
            Grain::Week,
            "2026-W54",
            "invalid week `2026-W54`: week must be W01 to W53, not W54; expected a week such as `2026-W11`",
        ),
        (
            &cal,
            Grain::Quarter,
            "2026-Q5",
            "invalid quarter `2026-Q5`: quarter must be Q1 to Q4, not Q5; expected a quarter such as `2026-Q1`",
        ),
        (
            &cal,
            Grain::Day,
            "2026-02-29",
            "invalid day `2026-02-29`: there is no day 29 in month 02 of 2026; expected a day such as `2026-03-15`",
        ),
        (
            &cal,
            Grain::Year,
            "FY2026",
            "invalid year `FY2026`: this calendar has no fiscal year (fiscal_year_start = 1), so years are written without `FY`; expected a year such as `2026`",
        ),
        (
            &fiscal,
            Grain::Quarter,
            "2026-Q1",
            "invalid quarter `2026-Q1`: this calendar's fiscal year starts in month 7, so quarters are fiscal and written with `FY`; expected a quarter such as `FY2026-Q1`",
        ),
        (
            &fiscal,
            Grain::Month,
            "FY2026-03",
            "invalid month `FY2026-03`: only quarters and years take the `FY` prefix, not a month; expected a month such as `2026-03`",
        ),
        (
            &cal,
            Grain::Month,
            "2026-Q1",
            "invalid month `2026-Q1`: this label has the shape of a quarter; expected a month such as `2026-03`",
        ),
        (
            &cal,
            Grain::Day,
            "garbage",
            "invalid day `garbage`: this is not a period label; expected a day such as `2026-03-15`",
        ),
        (
            &cal,
            Grain::Year,
            "26",
            "invalid year `26`: this is not a period label; expected a year such as `2026`",
        ),
        (
            &cal,
            Grain::Week,
            "2026-W1",
            "invalid week `2026-W1`: this is not a period label; expected a week such as `2026-W11`",
        ),
        (
            &cal,
            Grain::Day,
            "2026-03-15x",
            "invalid day `2026-03-15x`: this is not a period label; expected a day such as `2026-03-15`",
        ),
    ];
    for (c, grain, label, message) in cases {
        assert_eq!(
            c.parse_period(grain, label).unwrap_err().to_string(),
            message,
            "{label}"
        );
    }
    assert_eq!(
        cal.parse_any_period("next tuesday")
            .unwrap_err()
            .to_string(),
        "`next tuesday` is not a period: expected a day `2026-03-15`, a week `2026-W11`, \
         a month `2026-03`, a quarter `2026-Q1` or a year `2026`"
    );
    assert_eq!(
        fiscal.parse_any_period("").unwrap_err().to_string(),
        "`` is not a period: expected a day `2026-03-15`, a week `2026-W11`, \
         a month `2026-03`, a quarter `FY2026-Q1` or a year `FY2026`"
    );
    // Multi-byte text must not panic on slicing.
    assert!(cal.parse_any_period("2026-ñ1").is_err());
    assert!(cal.parse_any_period("ññññ").is_err());
    assert!(cal.parse_any_period("FY").is_err());
}

// ---------------------------------------------------------------- --as-of

#[test]
fn parse_as_of_three_forms() {
    let cal = santiago();
    let cases = [
        // A date is the end of that local day: 2026-03-16 00:00 -03 = 03:00Z.
        ("2026-03-15", "2026-03-16T03:00:00Z"),
        // An instant is itself, whatever its offset.
        ("2026-03-15T10:00:00Z", "2026-03-15T10:00:00Z"),
        ("2026-03-15T10:00:00-05:00", "2026-03-15T15:00:00Z"),
        // A local date-time is read in the zone: 10:00 -03 = 13:00Z.
        ("2026-03-15T10:00:00", "2026-03-15T13:00:00Z"),
        // In the September gap, local 00:30 becomes 01:30 -03.
        ("2026-09-06T00:30:00", "2026-09-06T04:30:00Z"),
        // The end of Sep 5 is the start of Sep 6, which has no midnight: 01:00 -03.
        ("2026-09-05", "2026-09-06T04:00:00Z"),
    ];
    for (text, expected) in cases {
        assert_eq!(cal.parse_as_of(text), Ok(ts(expected)), "{text}");
    }
    for bad in [
        "yesterday",
        "2026-02-30",
        "2026-03-15T25:00:00",
        "2026-03-15T10:00:00+99:00",
        "",
    ] {
        let err = cal.parse_as_of(bad).unwrap_err();
        assert!(
            matches!(err, CalendarError::InvalidAsOf { .. }),
            "{bad}: {err:?}"
        );
        assert!(
            err.to_string().contains("expected a date (`2026-03-15`"),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------- properties

/// Zones with unusual rules: midnight DST jumps (Santiago, Havana), half-hour DST (Lord Howe),
/// a zone that skipped a whole day (Apia, 2011-12-30), and no DST at all.
const ZONES: [&str; 6] = [
    "America/Santiago",
    "America/Havana",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Asia/Kolkata",
    "UTC",
];

fn check_instant(cal: &Calendar, t: Timestamp) {
    for grain in Grain::ALL {
        let p = cal.period_of(grain, t);
        let (start, end) = (cal.start(p), cal.end(p));
        assert!(
            start <= t && t < end,
            "{t} not in {} [{start}, {end}) in {:?}",
            cal.label(p),
            cal.time_zone()
        );
        assert_eq!(
            cal.period_of(grain, start),
            p,
            "start of {} maps back",
            cal.label(p)
        );
        let label = cal.label(p);
        if grain == Grain::Day {
            assert_eq!(cal.day_start(t), start, "day start of {t} in {label}");
            assert_eq!(cal.day_end(t), end, "day end of {t} in {label}");
        }
        assert_eq!(cal.parse_period(grain, &label), Ok(p), "{label}");
        assert_eq!(cal.parse_any_period(&label), Ok(p), "{label}");
    }
}

#[test]
fn every_day_of_four_decades_is_contiguous_and_round_trips() {
    for zone in ["America/Santiago", "Pacific/Apia"] {
        let cal = Calendar::new(zone, 4).unwrap();
        let first = cal.period_of(Grain::Day, cal.date_start(date(2000, 1, 1)));
        let last = cal.period_of(Grain::Day, cal.date_start(date(2039, 12, 31)));
        for p in cal.range(first, last) {
            let next = cal.shift(p, 1);
            assert_eq!(cal.end(p), cal.start(next));
            assert!(cal.start(p) <= cal.end(p), "{}", cal.label(p));
            check_instant(&cal, cal.start(p));
        }
    }
}

proptest! {
    #[test]
    fn instants_fall_inside_their_periods(
        // 2000-01-01T00:00:00Z ..= 2040-01-01T00:00:00Z
        seconds in 946_684_800i64..2_208_988_800,
        zone in 0..ZONES.len(),
        fiscal_year_start in 1u8..=12,
    ) {
        let cal = Calendar::new(ZONES[zone], fiscal_year_start).unwrap();
        check_instant(&cal, Timestamp::from_second(seconds).unwrap());
    }

    #[test]
    fn a_wall_time_reads_at_or_after_an_instant_exactly_from_wall_at_or_after(
        // 2026-01-01T00:00:00Z .. 2027-01-01T00:00:00Z, near both of Santiago's changes too.
        seconds in 1_767_225_600i64..1_798_761_600,
        // A wall time within two days of the instant's own, to the second.
        delta in -172_800i64..172_800,
        zone in 0..ZONES.len(),
    ) {
        let cal = Calendar::new(ZONES[zone], 1).unwrap();
        let t = Timestamp::from_second(seconds).unwrap();
        let bound = cal.wall_at_or_after(t);
        let wall = t
            .to_zoned(cal.time_zone().clone())
            .datetime()
            .checked_add(jiff::SignedDuration::from_secs(delta))
            .unwrap();
        prop_assert_eq!(cal.local_instant(wall) >= t, wall >= bound);
    }

    #[test]
    fn every_week_is_in_exactly_one_year(day in -20_000i64..30_000, fiscal_year_start in 1u8..=12) {
        let cal = Calendar::new("America/Santiago", fiscal_year_start).unwrap();
        let p = cal.period_of(Grain::Week, cal.date_start(civil::date_of_day_number(day)));
        let year = cal.year_of(p);
        let first = cal.period_of(Grain::Week, cal.year_to_date_start(p));
        // The window starts at a week of the same year, and the week before it is the
        // previous year's: the years' weeks neither overlap nor leave gaps.
        prop_assert!(first <= p);
        prop_assert_eq!(cal.start(first), cal.year_to_date_start(p));
        prop_assert_eq!(cal.year_of(first), year);
        prop_assert_eq!(cal.year_of(cal.shift(first, -1)).ordinal, year.ordinal - 1);
        prop_assert_eq!(cal.year_to_date_start(first), cal.start(first));
        // A year has 52 or 53 weeks, and its first week holds its first day or starts after it
        // by at most three days (Monday before a Thursday start, or up to Thursday itself).
        let next_first = cal.period_of(Grain::Week, cal.year_to_date_start(cal.shift(first, 53)));
        let weeks = if cal.year_of(cal.shift(first, 52)) == year { 53 } else { 52 };
        prop_assert_eq!(next_first.ordinal - first.ordinal, weeks);
        let year_first_day = civil::day_number(cal.first_date(year));
        let monday = civil::monday_of_week(first.ordinal);
        prop_assert!((-3..=3).contains(&(monday - year_first_day)));
    }

    #[test]
    fn shift_and_year_ago_stay_consistent(day in -20_000i64..30_000, n in -600i64..600) {
        let cal = fiscal_july();
        for grain in Grain::ALL {
            let p = cal.period_of(grain, cal.date_start(civil::date_of_day_number(day)));
            let q = cal.shift(p, n);
            prop_assert_eq!(cal.shift(q, -n), p);
            prop_assert_eq!(n.signum(), cal.start(q).cmp(&cal.start(p)) as i64);
            let ago = cal.year_ago(p);
            prop_assert!(ago < p);
            prop_assert!(p.ordinal - ago.ordinal <= 53 * 7);
        }
    }
}

#[test]
fn labels_never_panic_on_arbitrary_text() {
    let cal = fiscal_july();
    for text in [
        "-",
        "FY-",
        "2026-",
        "2026-W",
        "2026-Q",
        "2026-1",
        "20a6",
        "FY2026-Q",
        "９９９９",
        "2026-03-1é",
    ] {
        assert!(cal.parse_any_period(text).is_err(), "{text}");
        for grain in Grain::ALL {
            assert!(cal.parse_period(grain, text).is_err(), "{text}");
        }
    }
}
