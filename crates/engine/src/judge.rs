//! Judging a value (SPEC §4): its target for a period — overrides, sums of own-grain targets
//! at a coarser grain, prorating at a finer one —, the at-risk bound, and for a period in
//! progress the pace target and the forecast. Plain functions of the calendar, the KPI and the
//! values, with no DataFusion; [`crate::Status::judge`] gives the verdict.

use jiff::Timestamp;
use tablero_calendar::{Calendar, Grain, Period};
use tablero_formula::Catalog;
use tablero_formula::ir::Formula;
use tablero_model::{Kpi, Threshold};

/// The at-risk bound of `target`: an absolute threshold scaled by `share` (own-grain periods
/// held), or a ratio of the target.
pub fn threshold_bound(threshold: Option<Threshold>, target: f64, share: f64) -> Option<f64> {
    match threshold? {
        Threshold::Absolute(b) => Some(b * share),
        Threshold::OfTarget(r) => Some(target * r),
    }
}

/// A period in progress judged at its pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// The target times the elapsed share of the period (what is judged).
    pub target: Option<f64>,
    /// The at-risk bound at the same pace.
    pub bound: Option<f64>,
    /// The value projected to the whole period at its pace so far.
    pub forecast: Option<f64>,
}

/// The pace of a flow KPI (see [`is_flow`]) in the period `[start, end)` at `as_of`, from its
/// value so far, its full target and bound.
pub fn pace(
    at_risk: Option<Threshold>,
    value: Option<f64>,
    target: Option<f64>,
    bound: Option<f64>,
    (start, end): (Timestamp, Timestamp),
    as_of: Timestamp,
) -> Pace {
    let elapsed = as_of.duration_since(start).as_secs_f64();
    let length = end.duration_since(start).as_secs_f64();
    let share = if length > 0.0 { elapsed / length } else { 1.0 };
    let paced = target.map(|t| t * share);
    Pace {
        target: paced,
        bound: match at_risk {
            Some(Threshold::OfTarget(r)) => paced.map(|t| t * r),
            _ => bound.map(|b| b * share),
        },
        forecast: value.and_then(|v| (elapsed > 0.0).then(|| v * length / elapsed)),
    }
}

/// A constant target and its at-risk bound for `period` (SPEC §4): overrides first, summed
/// over own-grain periods for counts and amounts at a coarser grain.
pub fn constant_target(
    calendar: &Calendar,
    kpi: &Kpi,
    period: Period,
    own: Grain,
) -> (Option<f64>, Option<f64>) {
    if kpi.unit.is_additive() && period.grain != own {
        let inner = calendar.periods_within(period, own);
        if period.grain > own && !inner.is_empty() {
            let mut target = 0.0;
            let mut bound = 0.0;
            let mut any_target = false;
            let mut all_bounds = true;
            for q in inner {
                let (t, b) = own_target(calendar, kpi, q);
                if let Some(t) = t {
                    target += t;
                    any_target = true;
                }
                match (kpi.at_risk, b) {
                    (Some(Threshold::Absolute(_)), Some(b)) => bound += b,
                    _ => all_bounds = false,
                }
            }
            if !any_target {
                return (None, None);
            }
            let bound = match kpi.at_risk {
                Some(Threshold::Absolute(_)) if all_bounds => Some(bound),
                Some(Threshold::OfTarget(r)) => Some(target * r),
                _ => None,
            };
            return (Some(target), bound);
        }
        // A finer grain: the own period's target prorated by duration.
        let container = calendar.period_of(own, calendar.start(period));
        let (t, b) = own_target(calendar, kpi, container);
        let len = |p: Period| {
            calendar
                .end(p)
                .duration_since(calendar.start(p))
                .as_secs_f64()
        };
        let share = len(period) / len(container).max(1.0);
        return (t.map(|t| t * share), b.map(|b| b * share));
    }
    own_target(calendar, kpi, period)
}

/// How many own-grain periods `period` holds, for summing an absolute threshold of an
/// additive KPI (a share when `period` is finer); 1 otherwise.
pub fn own_periods_in(calendar: &Calendar, kpi: &Kpi, period: Period, own: Grain) -> f64 {
    if !kpi.unit.is_additive() || period.grain == own {
        return 1.0;
    }
    if period.grain > own {
        let n = calendar.periods_within(period, own).len();
        if n > 0 {
            return n as f64;
        }
    }
    let container = calendar.period_of(own, calendar.start(period));
    let len = |p: Period| {
        calendar
            .end(p)
            .duration_since(calendar.start(p))
            .as_secs_f64()
    };
    len(period) / len(container).max(1.0)
}

/// Whether a formula adds up over time like a flow (counts and sums of the period's own
/// rows), so a partial period can be projected at its pace. Balances (`last`, `active`),
/// cumulative windows and shifted values cannot.
pub fn is_flow(catalog: &Catalog, formula: &Formula, depth: usize) -> bool {
    use tablero_formula::ir::{ArithOp, CheckedAgg, GroupFunction, Window};
    if depth > 64 {
        return false;
    }
    match formula {
        Formula::Number(_) | Formula::Null => true,
        Formula::Neg(x) => is_flow(catalog, x, depth + 1),
        Formula::Arith(ArithOp::Add | ArithOp::Sub, a, b) => {
            is_flow(catalog, a, depth + 1) && is_flow(catalog, b, depth + 1)
        }
        Formula::Arith(ArithOp::Mul, a, b) => {
            (matches!(**a, Formula::Number(_)) && is_flow(catalog, b, depth + 1))
                || (matches!(**b, Formula::Number(_)) && is_flow(catalog, a, depth + 1))
        }
        Formula::Arith(ArithOp::Div, a, b) => {
            matches!(**b, Formula::Number(_)) && is_flow(catalog, a, depth + 1)
        }
        Formula::Aggregate(a) => {
            a.window == Window::Period
                && matches!(
                    a.agg,
                    CheckedAgg::Count | CheckedAgg::Sum | CheckedAgg::CountDistinct
                )
                && a.group
                    .as_ref()
                    .is_none_or(|g| matches!(g.function, GroupFunction::Top(_)))
        }
        Formula::Kpi(id) => catalog
            .get(id)
            .is_some_and(|k| is_flow(catalog, &k.formula, depth + 1)),
        _ => false,
    }
}

fn own_target(calendar: &Calendar, kpi: &Kpi, period: Period) -> (Option<f64>, Option<f64>) {
    let start = calendar.start(period);
    let end = calendar.end(period);
    let mut best: Option<(Grain, f64)> = None;
    for (label, value) in &kpi.targets {
        let Ok(p) = calendar.parse_any_period(&label.value) else {
            continue;
        };
        if calendar.start(p) <= start
            && end <= calendar.end(p)
            && best.is_none_or(|(g, _)| p.grain < g)
        {
            best = Some((p.grain, *value));
        }
    }
    let target = best.map(|b| b.1).or(match &kpi.target {
        Some(tablero_model::Target::Constant(v)) => Some(*v),
        _ => None,
    });
    let bound = target.and_then(|t| threshold_bound(kpi.at_risk, t, 1.0));
    (target, bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use std::path::PathBuf;
    use tablero_model::{Direction, Location, Target, Text, Unit};

    fn santiago() -> Calendar {
        Calendar::new("America/Santiago", 1).unwrap()
    }

    fn kpi(unit: Unit, target: f64, overrides: &[(&str, f64)], at_risk: Option<Threshold>) -> Kpi {
        let here = Location {
            file: PathBuf::from("kpis/k.yaml"),
            line: 1,
            column: 1,
        };
        Kpi {
            id: Text::synthetic("k", here.clone()),
            name: "k".into(),
            description: None,
            owner: None,
            group: None,
            tags: Vec::new(),
            kind: None,
            unit,
            decimals: 0,
            direction: Direction::Up,
            grain: Some(Grain::Month),
            formula: None,
            target: Some(Target::Constant(target)),
            targets: overrides
                .iter()
                .map(|(label, v)| (Text::synthetic(*label, here.clone()), *v))
                .collect(),
            at_risk,
            file: PathBuf::from("kpis/k.yaml"),
            location: here,
        }
    }

    #[test]
    fn a_quarter_of_a_monthly_count_sums_its_months_targets_with_overrides() {
        let cal = santiago();
        let q1 = cal.period_of(Grain::Quarter, cal.date_start(date(2026, 1, 1)));
        let k = kpi(
            Unit::Count,
            100.0,
            &[("2026-02", 40.0)],
            Some(Threshold::OfTarget(0.9)),
        );
        // January 100 + February 40 (its override) + March 100 = 240; at risk below 0.9 × 240.
        assert_eq!(
            constant_target(&cal, &k, q1, Grain::Month),
            (Some(240.0), Some(216.0))
        );
        assert_eq!(own_periods_in(&cal, &k, q1, Grain::Month), 3.0);
    }

    #[test]
    fn a_quarter_of_a_monthly_percentage_keeps_the_constant_target() {
        let cal = santiago();
        let q1 = cal.period_of(Grain::Quarter, cal.date_start(date(2026, 1, 1)));
        let k = kpi(Unit::Percent, 0.8, &[("2026-02", 0.5)], None);
        // Not additive: the quarter is judged against the constant, not a sum; a month's
        // override does not hold the whole quarter.
        assert_eq!(
            constant_target(&cal, &k, q1, Grain::Month),
            (Some(0.8), None)
        );
        assert_eq!(own_periods_in(&cal, &k, q1, Grain::Month), 1.0);
    }

    #[test]
    fn a_day_of_a_monthly_amount_gets_its_share_of_the_month() {
        let cal = santiago();
        let day = cal.period_of(Grain::Day, cal.date_start(date(2026, 1, 15)));
        let k = kpi(Unit::Currency, 310.0, &[], Some(Threshold::Absolute(62.0)));
        // January has 31 days and no clock change in Santiago: 310 / 31 = 10, 62 / 31 = 2.
        let (target, bound) = constant_target(&cal, &k, day, Grain::Month);
        assert!((target.unwrap() - 10.0).abs() < 1e-9, "{target:?}");
        assert!((bound.unwrap() - 2.0).abs() < 1e-9, "{bound:?}");
    }

    #[test]
    fn a_period_in_progress_is_judged_at_its_pace() {
        let start = Timestamp::from_second(0).unwrap();
        let end = Timestamp::from_second(10 * 86_400).unwrap();
        let as_of = Timestamp::from_second(10 * 86_400 / 4).unwrap();
        // A quarter of the period gone: target 200 → 50 so far; 30 so far → 120 at this pace.
        let p = pace(
            Some(Threshold::OfTarget(0.8)),
            Some(30.0),
            Some(200.0),
            Some(160.0),
            (start, end),
            as_of,
        );
        assert_eq!(
            p,
            Pace {
                target: Some(50.0),
                bound: Some(40.0),
                forecast: Some(120.0),
            }
        );
        // An absolute bound shrinks by the same share: 150 → 37.5.
        let p = pace(
            Some(Threshold::Absolute(150.0)),
            None,
            Some(200.0),
            Some(150.0),
            (start, end),
            as_of,
        );
        assert_eq!((p.bound, p.forecast), (Some(37.5), None));
        // At the very start nothing is projected.
        assert_eq!(
            pace(None, Some(5.0), None, None, (start, end), start).forecast,
            None
        );
    }

    #[test]
    fn an_absolute_threshold_scales_with_the_periods_held_and_a_ratio_with_the_target() {
        assert_eq!(
            threshold_bound(Some(Threshold::Absolute(5.0)), 100.0, 3.0),
            Some(15.0)
        );
        assert_eq!(
            threshold_bound(Some(Threshold::OfTarget(0.9)), 100.0, 3.0),
            Some(90.0)
        );
        assert_eq!(threshold_bound(None, 100.0, 3.0), None);
    }
}
