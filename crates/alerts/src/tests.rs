//! The decisions as a table: statuses over periods → what fires.

use tablero_calendar::{Calendar, Grain};
use tablero_engine::{KpiValue, Status};
use tablero_model::{AlertRule, AlertSelect, AlertWhen, Location, Text};
use tablero_state::Firing;

use super::*;

fn text(s: &str) -> Text {
    Text::synthetic(
        s,
        Location {
            file: "alerts/r.yaml".into(),
            line: 1,
            column: 1,
        },
    )
}

fn rule(when: AlertWhen) -> AlertRule {
    AlertRule {
        id: text("r"),
        select: AlertSelect::Kpis(vec![text("k")]),
        when,
        notify: Vec::new(),
        file: "alerts/r.yaml".into(),
    }
}

/// Monthly values from 2026-01 on: (value, target, status); the last one partial.
fn values(rows: &[(f64, f64, Status)]) -> Vec<KpiValue> {
    let calendar = Calendar::new("UTC", 1).unwrap();
    let first = calendar.period_of(Grain::Month, "2026-01-15T00:00:00Z".parse().unwrap());
    rows.iter()
        .enumerate()
        .map(|(i, (value, target, status))| {
            let period = calendar.shift(first, i as i64);
            KpiValue {
                label: calendar.label(period),
                start: jiff::Timestamp::UNIX_EPOCH,
                end: jiff::Timestamp::UNIX_EPOCH,
                period,
                dim: None,
                value: Some(*value),
                target: Some(*target),
                status: *status,
                partial: i + 1 == rows.len(),
                forecast: None,
                pace_target: None,
            }
        })
        .collect()
}

fn fired(kind: &str, period: &str) -> Firing {
    Firing {
        id: String::new(),
        rule: "r".into(),
        kpi: "k".into(),
        period: period.into(),
        dim: String::new(),
        kind: kind.into(),
        status: String::new(),
        created_at: 0,
    }
}

#[test]
fn status_rules_fire_on_a_change_into_their_statuses_and_recover_once() {
    use Status::*;
    let default = rule(AlertWhen::Status { to: Vec::new() });
    let only_off = rule(AlertWhen::Status {
        to: vec![text("off_track")],
    });
    // (rule, statuses of complete months then the partial one, last firing, expected)
    type Row<'a> = (
        &'a AlertRule,
        Vec<Status>,
        Option<Firing>,
        Option<(Kind, &'a str)>,
    );
    let table: Vec<Row> = vec![
        // on → off in 2026-02 (the latest complete month): fires.
        (
            &default,
            vec![OnTrack, OffTrack, OnTrack],
            None,
            Some((Kind::Fire, "2026-02")),
        ),
        // off → off: no change, nothing.
        (
            &default,
            vec![OffTrack, OffTrack, OnTrack],
            Some(fired("fire", "2026-01")),
            None,
        ),
        // on → at risk fires by default, not for a rule that only wants off_track.
        (
            &default,
            vec![OnTrack, AtRisk, OnTrack],
            None,
            Some((Kind::Fire, "2026-02")),
        ),
        (&only_off, vec![OnTrack, AtRisk, OnTrack], None, None),
        // Back on track after a firing: one recovery…
        (
            &default,
            vec![OffTrack, OnTrack, OffTrack],
            Some(fired("fire", "2026-01")),
            Some((Kind::Recover, "2026-02")),
        ),
        // …and not again once recorded.
        (
            &default,
            vec![OffTrack, OnTrack, OnTrack, OffTrack],
            Some(fired("recover", "2026-02")),
            None,
        ),
        // On track with no firing before: nothing to recover from.
        (&default, vec![OffTrack, OnTrack, OffTrack], None, None),
        // Only the partial period changed: nothing (it is not complete).
        (&default, vec![OnTrack, OnTrack, OffTrack], None, None),
    ];
    for (i, (rule, statuses, last, expected)) in table.into_iter().enumerate() {
        let rows: Vec<(f64, f64, Status)> = statuses.iter().map(|s| (1.0, 1.0, *s)).collect();
        let got = decide(rule, &values(&rows), None, last.as_ref()).map(|d| (d.kind, d.period));
        let expected = expected.map(|(k, p)| (k, p.to_string()));
        assert_eq!(got, expected, "row {i}");
    }
}

#[test]
fn value_rules_read_value_target_and_previous() {
    let rule = rule(AlertWhen::Value {
        condition: text("value < 0.9 * target or value < previous - 20"),
    });
    // (complete values as (value, target), expected) with a partial month after them
    let table = [
        (vec![(100.0, 100.0), (89.0, 100.0)], true),  // 89 < 90
        (vec![(100.0, 100.0), (95.0, 100.0)], false), // 95 ≥ 90, 95 ≥ 80
        (vec![(130.0, 100.0), (105.0, 100.0)], true), // 105 < 130 - 20
        (vec![(105.0, 100.0)], false),                // no previous: unknown, and 105 ≥ 90
    ];
    for (rows, fires) in table {
        let mut all: Vec<(f64, f64, Status)> = rows
            .iter()
            .map(|(v, t)| (*v, *t, Status::OnTrack))
            .collect();
        all.push((0.0, 100.0, Status::OffTrack));
        let got = decide(&rule, &values(&all), None, None);
        assert_eq!(got.is_some(), fires, "{rows:?}");
    }
}

#[test]
fn backoff_grows_and_is_capped() {
    assert_eq!(backoff(1), 0);
    assert_eq!(backoff(2), 60);
    assert_eq!(backoff(3), 120);
    assert_eq!(backoff(20), 6 * 3600);
}

#[test]
fn anomaly_rules_fire_on_a_value_outside_the_band() {
    let rule = rule(AlertWhen::Anomaly);
    // Three years of a seasonal series (tablero_forecast::sample: +1 a month, ±20 over the
    // year, noise ±3), then the month to judge and a partial month after it.
    let month = tablero_forecast::sample::month;
    let series = |last: f64| {
        let mut rows: Vec<(f64, f64, Status)> =
            (0..36).map(|m| (month(m), 1.0, Status::OnTrack)).collect();
        rows.push((last, 1.0, Status::OnTrack));
        rows.push((0.0, 1.0, Status::OnTrack));
        values(&rows)
    };
    // Month 36 is about 136 (100 + 36, sin 0 = 0, noise ±3): half of it is an anomaly, its
    // own value is not.
    assert!(decide(&rule, &series(month(36) / 2.0), Some(12), None).is_some());
    assert!(decide(&rule, &series(month(36)), Some(12), None).is_none());
}
