//! What a KPI "is now" and how it moved: the latest complete period with a value, the one
//! before, and the change judged by the KPI's direction — the answer every surface shows.

use tablero_calendar::{Calendar, Grain};
use tablero_engine::{KpiResult, KpiValue, Status, Verdict};
use tablero_model::{Direction, Unit};

/// A monthly result from January 2026: `(value, partial)` per month.
fn result(direction: Direction, months: &[(Option<f64>, bool)]) -> KpiResult {
    let calendar = Calendar::new("UTC", 1).unwrap();
    let first = calendar.parse_period(Grain::Month, "2026-01").unwrap();
    let values = months
        .iter()
        .enumerate()
        .map(|(i, (value, partial))| {
            let period = calendar.shift(first, i as i64);
            KpiValue {
                period,
                label: calendar.label(period),
                start: calendar.start(period),
                end: calendar.end(period),
                dim: None,
                value: *value,
                target: None,
                status: Status::NoTarget,
                partial: *partial,
                forecast: None,
                pace_target: None,
            }
        })
        .collect();
    KpiResult {
        kpi: "k".into(),
        grain: Grain::Month,
        unit: Unit::Count,
        decimals: 0,
        direction,
        by: None,
        values,
    }
}

#[test]
fn the_latest_complete_value_and_its_change() {
    use Direction::{Down, Up};
    // (direction, months, latest label, previous label, change delta and verdict)
    type Case = (
        Direction,
        Vec<(Option<f64>, bool)>,
        Option<&'static str>,
        Option<&'static str>,
        Option<(f64, Verdict)>,
    );
    let cases: Vec<Case> = vec![
        // 10 → 12, March in progress: the latest is February, +2 is better going up.
        (
            Up,
            vec![(Some(10.0), false), (Some(12.0), false), (Some(1.0), true)],
            Some("2026-02"),
            Some("2026-01"),
            Some((2.0, Verdict::Better)),
        ),
        // The same numbers are worse when lower is better.
        (
            Down,
            vec![(Some(10.0), false), (Some(12.0), false)],
            Some("2026-02"),
            Some("2026-01"),
            Some((2.0, Verdict::Worse)),
        ),
        // A month without data is skipped for the latest value: 8 (Jan) → 5 (Mar) = −3.
        (
            Up,
            vec![(Some(8.0), false), (None, false), (Some(5.0), false)],
            Some("2026-03"),
            Some("2026-01"),
            Some((-3.0, Verdict::Worse)),
        ),
        // No month has data: the latest complete month is shown without a change.
        (
            Up,
            vec![(None, false), (None, false)],
            Some("2026-02"),
            None,
            None,
        ),
        // Equal values are the same either way.
        (
            Down,
            vec![(Some(4.0), false), (Some(4.0), false)],
            Some("2026-02"),
            Some("2026-01"),
            Some((0.0, Verdict::Same)),
        ),
        // Only a month in progress: nothing complete yet.
        (Up, vec![(Some(3.0), true)], None, None, None),
    ];
    for (direction, months, latest, previous, change) in cases {
        let r = result(direction, &months);
        let shown = |v: Option<&KpiValue>| v.map(|v| v.label.clone());
        let judged = r.judged();
        assert_eq!(shown(judged.latest).as_deref(), latest, "{months:?}");
        assert_eq!(shown(judged.previous).as_deref(), previous, "{months:?}");
        assert_eq!(
            judged.change.map(|c| (c.delta, c.verdict)),
            change,
            "{months:?} {direction:?}"
        );
    }
}
