//! What every surface shows of a KPI (SPEC §4–§5), decided once: its latest complete period
//! with a value and the one before it, how it moved and whether that is better, its share of
//! target, the period in progress with its pace and the forecast worth showing, and the small
//! judgements over two numbers the scorecard, insights and funnels read (a year ago, year to
//! date, growth, conversion). Plain functions of computed values: the home card, the KPI page,
//! the API, the downloads, `/metrics`, insights, reports and `tablero top` format these and
//! work out nothing of their own.

use std::cmp::Ordering;

use tablero_model::Direction;

use crate::compute::{KpiResult, KpiValue, Status};

/// The smallest share of a period that must have passed before its projection is shown as a
/// number: on the first day of a month, a day's sales times thirty is noise, not a forecast.
pub const MIN_ELAPSED_SHARE: f64 = 0.2;

/// How a KPI moved from one value to another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// The later value minus the earlier.
    pub delta: f64,
    /// `delta / |earlier|`; `None` when the earlier value is zero.
    pub growth: Option<f64>,
    /// Better, worse or the same for the KPI's direction.
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Better,
    Worse,
    Same,
}

impl Verdict {
    /// `better`, `worse` or `same`: the class a page gives a change.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Same => "same",
        }
    }
}

/// The change from `before` to `now`, judged by `direction`; `None` unless both are known.
pub fn change(now: Option<f64>, before: Option<f64>, direction: Direction) -> Option<Change> {
    let (now, before) = (now?, before?);
    let delta = now - before;
    let verdict = match (delta.partial_cmp(&0.0), direction) {
        (Some(Ordering::Greater), Direction::Up) | (Some(Ordering::Less), Direction::Down) => {
            Verdict::Better
        }
        (Some(Ordering::Equal) | None, _) => Verdict::Same,
        _ => Verdict::Worse,
    };
    let growth = (before != 0.0).then(|| delta / before.abs());
    Some(Change {
        delta,
        growth,
        verdict,
    })
}

/// `100 × value / target`; `None` without both or with a zero target.
pub fn of_target(value: Option<f64>, target: Option<f64>) -> Option<f64> {
    let (value, target) = (value?, target?);
    (target != 0.0).then(|| 100.0 * value / target)
}

/// A funnel stage's conversion: `100 × value / before` (the stage before, or the first);
/// `None` without both or with a zero before.
pub fn conversion(value: Option<f64>, before: Option<f64>) -> Option<f64> {
    of_target(value, before)
}

/// Year to date from a KPI computed at the `year` grain through the moment asked: the value
/// of its last period and the target it is judged against (the target prorated to the
/// elapsed share while the year is in progress, the whole target once it is complete).
pub fn year_to_date(year: &KpiResult) -> (Option<f64>, Option<f64>) {
    match year.values.last() {
        Some(v) => (v.value, v.pace_target.or(v.target)),
        None => (None, None),
    }
}

/// A period in progress as shown: its value, pace target, how much of it has passed and the
/// forecast worth showing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InProgress<'r> {
    pub value: &'r KpiValue,
    /// The share of the period that has passed, when it can be told (from the pace target,
    /// or without a target from the value and the forecast).
    pub elapsed: Option<f64>,
    /// The projection to the whole period, once [`MIN_ELAPSED_SHARE`] of it has passed.
    pub forecast: Option<f64>,
    /// A projection exists but too little of the period has passed to show it.
    pub too_early: bool,
}

impl<'r> InProgress<'r> {
    /// `value` (a period in progress) as shown.
    pub fn of(value: &'r KpiValue) -> InProgress<'r> {
        let elapsed = match (value.pace_target, value.target, value.value, value.forecast) {
            (Some(pace), Some(target), _, _) if target != 0.0 => Some(pace / target),
            (_, _, Some(v), Some(forecast)) if forecast != 0.0 => Some(v / forecast),
            _ => None,
        }
        .filter(|s| s.is_finite());
        let early = elapsed.is_some_and(|s| s < MIN_ELAPSED_SHARE);
        InProgress {
            value,
            elapsed,
            forecast: value.forecast.filter(|_| !early),
            too_early: early && value.forecast.is_some(),
        }
    }
}

/// One KPI judged: what every surface shows as "now".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged<'r> {
    /// The latest complete period that has a value, or else the latest complete period
    /// (without data); `None` when every period is still in progress.
    pub latest: Option<&'r KpiValue>,
    /// The complete period with a value before `latest`.
    pub previous: Option<&'r KpiValue>,
    /// From `previous` to `latest`.
    pub change: Option<Change>,
    /// The first period still in progress, if the request reaches one.
    pub in_progress: Option<InProgress<'r>>,
}

impl<'r> Judged<'r> {
    pub fn of(result: &'r KpiResult) -> Judged<'r> {
        let values = &result.values;
        let latest = values
            .iter()
            .rfind(|v| !v.partial && v.value.is_some())
            .or_else(|| values.iter().rfind(|v| !v.partial));
        let previous = latest.and_then(|l| {
            values
                .iter()
                .rfind(|v| !v.partial && v.value.is_some() && v.start < l.start)
        });
        Judged {
            latest,
            previous,
            change: change(
                latest.and_then(|v| v.value),
                previous.and_then(|v| v.value),
                result.direction,
            ),
            in_progress: values.iter().find(|v| v.partial).map(InProgress::of),
        }
    }

    /// The latest value; `None` without data.
    pub fn value(&self) -> Option<f64> {
        self.latest.and_then(|v| v.value)
    }

    /// The latest period's target.
    pub fn target(&self) -> Option<f64> {
        self.latest.and_then(|v| v.target)
    }

    /// The latest period's status; no data when there is no complete period.
    pub fn status(&self) -> Status {
        self.latest.map_or(Status::NoData, |v| v.status)
    }

    /// The latest period's label; empty when there is no complete period.
    pub fn label(&self) -> &'r str {
        self.latest.map_or("", |v| v.label.as_str())
    }

    /// The latest value as a percentage of its target.
    pub fn of_target(&self) -> Option<f64> {
        of_target(self.value(), self.target())
    }
}

impl KpiResult {
    /// This result judged (see [`Judged`]).
    pub fn judged(&self) -> Judged<'_> {
        Judged::of(self)
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use tablero_calendar::{Grain, Period};
    use tablero_model::Unit;

    use super::*;

    fn value(month: i64, value: Option<f64>, target: Option<f64>, partial: bool) -> KpiValue {
        let start = Timestamp::from_second(month * 2_600_000).unwrap();
        KpiValue {
            period: Period {
                grain: Grain::Month,
                ordinal: month,
            },
            label: format!("m{month}"),
            start,
            end: Timestamp::from_second((month + 1) * 2_600_000).unwrap(),
            dim: None,
            value,
            target,
            status: Status::judge(value, target, None, Direction::Up),
            partial,
            forecast: None,
            pace_target: None,
        }
    }

    fn result(direction: Direction, values: Vec<KpiValue>) -> KpiResult {
        KpiResult {
            kpi: "k".into(),
            grain: Grain::Month,
            unit: Unit::Number,
            decimals: 0,
            direction,
            by: None,
            values,
        }
    }

    /// (values as (value, target, partial), direction) → (latest label, previous label,
    /// delta, growth, verdict, % of target), each worked out by hand.
    #[test]
    fn the_latest_complete_period_with_a_value_and_its_change() {
        type Case = (
            Vec<(Option<f64>, Option<f64>, bool)>,
            Direction,
            Option<&'static str>,
            Option<&'static str>,
            Option<(f64, Option<f64>, Verdict)>,
            Option<f64>,
        );
        let cases: Vec<Case> = vec![
            // 80 → 100 upward: +20, growth 20/80 = 0.25, better; 100/125 = 80 %.
            (
                vec![
                    (Some(80.0), Some(100.0), false),
                    (Some(100.0), Some(125.0), false),
                ],
                Direction::Up,
                Some("m1"),
                Some("m0"),
                Some((20.0, Some(0.25), Verdict::Better)),
                Some(80.0),
            ),
            // The same numbers downward are worse.
            (
                vec![(Some(80.0), None, false), (Some(100.0), None, false)],
                Direction::Down,
                Some("m1"),
                Some("m0"),
                Some((20.0, Some(0.25), Verdict::Worse)),
                None,
            ),
            // The latest complete period has no value: the one before with a value is the
            // latest; the period in progress is never latest. -50 → 50: +100, growth
            // 100/|-50| = 2.
            (
                vec![
                    (Some(-50.0), None, false),
                    (Some(50.0), Some(200.0), false),
                    (None, Some(100.0), false),
                    (Some(999.0), Some(100.0), true),
                ],
                Direction::Up,
                Some("m1"),
                Some("m0"),
                Some((100.0, Some(2.0), Verdict::Better)),
                Some(25.0),
            ),
            // From zero: a change without growth.
            (
                vec![(Some(0.0), None, false), (Some(0.0), Some(0.0), false)],
                Direction::Up,
                Some("m1"),
                Some("m0"),
                Some((0.0, None, Verdict::Same)),
                None,
            ),
            // No complete period has a value: the latest complete one, with nothing to say.
            (
                vec![(None, Some(10.0), false), (None, Some(10.0), false)],
                Direction::Up,
                Some("m1"),
                None,
                None,
                None,
            ),
            // Only a period in progress.
            (
                vec![(Some(5.0), Some(10.0), true)],
                Direction::Up,
                None,
                None,
                None,
                None,
            ),
        ];
        for (i, (values, direction, latest, previous, moved, share)) in
            cases.into_iter().enumerate()
        {
            let values = values
                .into_iter()
                .enumerate()
                .map(|(m, (v, t, p))| value(m as i64, v, t, p))
                .collect();
            let result = result(direction, values);
            let judged = result.judged();
            assert_eq!(judged.latest.map(|v| v.label.as_str()), latest, "case {i}");
            assert_eq!(
                judged.previous.map(|v| v.label.as_str()),
                previous,
                "case {i}"
            );
            assert_eq!(
                judged.change.map(|c| (c.delta, c.growth, c.verdict)),
                moved,
                "case {i}"
            );
            assert_eq!(judged.of_target(), share, "case {i}");
        }
    }

    /// (pace target, target, value, forecast) → (elapsed share, forecast shown, too early).
    #[test]
    fn a_forecast_is_shown_once_a_fifth_of_the_period_has_passed() {
        let cases = [
            // 25 of 100 by pace: a quarter passed, shown.
            (
                Some(25.0),
                Some(100.0),
                Some(30.0),
                Some(120.0),
                Some(0.25),
                Some(120.0),
                false,
            ),
            // 10 of 100: a tenth passed, too early.
            (
                Some(10.0),
                Some(100.0),
                Some(3.0),
                Some(30.0),
                Some(0.1),
                None,
                true,
            ),
            // No target: 50 of a projected 100, half passed.
            (
                None,
                None,
                Some(50.0),
                Some(100.0),
                Some(0.5),
                Some(100.0),
                false,
            ),
            // No forecast: nothing to show or hide.
            (None, Some(100.0), Some(5.0), None, None, None, false),
        ];
        for (i, (pace, target, v, forecast, elapsed, shown, early)) in cases.into_iter().enumerate()
        {
            let mut partial = value(0, v, target, true);
            partial.pace_target = pace;
            partial.forecast = forecast;
            let result = result(Direction::Up, vec![partial]);
            let in_progress = result.judged().in_progress.unwrap();
            assert_eq!(in_progress.elapsed, elapsed, "case {i}");
            assert_eq!(in_progress.forecast, shown, "case {i}");
            assert_eq!(in_progress.too_early, early, "case {i}");
        }
    }

    #[test]
    fn conversion_year_to_date_and_share_of_target() {
        // 30 of 120 reached the stage: 25 %; nothing before, or zero before: none.
        assert_eq!(conversion(Some(30.0), Some(120.0)), Some(25.0));
        assert_eq!(conversion(Some(30.0), Some(0.0)), None);
        assert_eq!(conversion(None, Some(10.0)), None);
        // A year in progress is judged against its prorated target (pace), a complete one
        // against its whole target.
        let mut year = value(0, Some(40.0), Some(120.0), true);
        year.pace_target = Some(30.0);
        assert_eq!(
            year_to_date(&result(Direction::Up, vec![year.clone()])),
            (Some(40.0), Some(30.0))
        );
        year.pace_target = None;
        assert_eq!(
            year_to_date(&result(Direction::Up, vec![year])),
            (Some(40.0), Some(120.0))
        );
        assert_eq!(of_target(Some(90.0), Some(120.0)), Some(75.0));
    }
}
