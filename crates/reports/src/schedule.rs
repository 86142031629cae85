//! When a scheduled report is due: the latest scheduled moment at or before an instant, in the
//! workspace's time zone.

use jiff::ToSpan;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use tablero_model::{Every, Schedule};

/// The latest moment of `schedule` at or before `now`, read in `tz` (a local time a daylight
/// saving change skips is taken as the first instant after the gap).
pub fn latest(schedule: &Schedule, tz: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    let today = now.to_zoned(tz.clone()).date();
    let time = Time::new(schedule.hour, schedule.minute, 0, 0).ok()?;
    // Walk back day by day over at most two months: every schedule has a moment in that span.
    for back in 0..=62 {
        let day = today.checked_sub(back.days()).ok()?;
        if !scheduled_on(schedule, day) {
            continue;
        }
        let at = instant(tz, day.to_datetime(time))?;
        if at <= now {
            return Some(at);
        }
    }
    None
}

fn scheduled_on(schedule: &Schedule, day: Date) -> bool {
    match schedule.every {
        Every::Day => true,
        Every::Week(weekday) => day.weekday().to_monday_one_offset() == weekday,
        // A day past the month's end (31 in April) means the month's last day.
        Every::Month(n) => day.day() == n.min(day.days_in_month()),
    }
}

fn instant(tz: &TimeZone, local: DateTime) -> Option<Timestamp> {
    tz.to_ambiguous_zoned(local)
        .compatible()
        .ok()
        .map(|z: Zoned| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_moment_at_or_before_now() {
        let tz = TimeZone::get("America/Santiago").unwrap();
        let s = |text: &str| Schedule::parse(text).unwrap();
        let at = |text: &str| -> Timestamp {
            text.parse::<DateTime>()
                .unwrap()
                .to_zoned(tz.clone())
                .unwrap()
                .timestamp()
        };
        // (schedule, now in Santiago, the latest moment in Santiago)
        let cases = [
            (
                "monthly on day 3 at 09:00",
                "2026-04-03T09:00",
                "2026-04-03T09:00",
            ),
            (
                "monthly on day 3 at 09:00",
                "2026-04-03T08:59",
                "2026-03-03T09:00",
            ),
            (
                "monthly on day 3 at 09:00",
                "2026-04-20T00:00",
                "2026-04-03T09:00",
            ),
            // April has 30 days: day 31 is its last.
            (
                "monthly on day 31 at 18:00",
                "2026-05-01T10:00",
                "2026-04-30T18:00",
            ),
            // 2026-04-06 is a Monday.
            (
                "weekly on monday at 08:30",
                "2026-04-08T12:00",
                "2026-04-06T08:30",
            ),
            // Spanish day names too; a minute early is the week before.
            (
                "weekly on lunes at 08:30",
                "2026-04-06T08:29",
                "2026-03-30T08:30",
            ),
            ("daily at 07:00", "2026-04-08T06:00", "2026-04-07T07:00"),
        ];
        for (schedule, now, expected) in cases {
            assert_eq!(
                latest(&s(schedule), &tz, at(now)),
                Some(at(expected)),
                "{schedule} at {now}"
            );
        }
    }
}
