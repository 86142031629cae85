//! Snapshots of KPI plans and of the statements their leaves send to PostgreSQL, over the
//! hand-worked cases' workspaces: a planning change shows here as a reviewable diff
//! (`UPDATE_EXPECT=1 cargo test` rewrites them).

use std::collections::HashMap;
use std::path::PathBuf;

use expect_test::{Expect, expect};
use tablero_engine::Request;
use tablero_engine::sql::{TimeStorage, leaf_statement};

fn case(name: &str) -> tablero_engine::Engine {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/cases")
        .join(name);
    tablero_engine::open(&root)
        .expect("case workspace checks")
        .0
}

fn request(engine: &tablero_engine::Engine, from: &str, to: &str, by: Option<&str>) -> Request {
    Request {
        from: Some(from.into()),
        to: Some(to.into()),
        by: by.map(str::to_string),
        as_of: Some(engine.calendar().parse_as_of("2026-12-31").unwrap()),
        ..Request::default()
    }
}

/// The plan, then each leaf's statement for a table storing `local` columns as
/// `timestamp without time zone` and the others as `timestamp with time zone`.
fn check(
    case_name: &str,
    kpi: &str,
    from: &str,
    to: &str,
    by: Option<&str>,
    local: &[&str],
    expected: Expect,
) {
    let engine = case(case_name);
    let plan = engine
        .plan(kpi, &request(&engine, from, to, by))
        .expect("plans");
    let mut text = plan.to_string();
    let mut times = HashMap::new();
    for source in &engine.workspace().sources {
        for column in &source.columns {
            if column.ty.is_temporal() {
                let storage = if local.contains(&column.name.as_str()) {
                    TimeStorage::LocalTimestamp
                } else {
                    TimeStorage::Instant
                };
                times.insert(column.name.clone(), storage);
            }
        }
    }
    for (j, leaf) in plan.leaves.iter().enumerate() {
        let statement = leaf_statement(engine.calendar(), &plan, leaf, "\"t\"", &times).unwrap();
        text.push_str(&format!("-- l{j}\n{statement}"));
    }
    expected.assert_eq(&text);
}

#[test]
fn growth_reads_the_period_and_the_one_before() {
    check(
        "previous_growth",
        "ventas_crecimiento",
        "2026-01",
        "2026-02",
        None,
        &[],
        expect![[r#"
            periods: 2, as of 2027-01-01T03:00:00Z
            value = (100 * ((l0 - l1) / l1))
            l0 = sum([monto]) of ventas.total
                time: fecha
                window: period, contiguous
                [0] 2026-01-01T03:00:00Z .. 2026-02-01T03:00:00Z
                [1] 2026-02-01T03:00:00Z .. 2026-03-01T03:00:00Z
            l1 = sum([monto]) of ventas.total
                time: fecha
                window: period, shifted previous, contiguous
                [0] 2025-12-01T03:00:00Z .. 2026-01-01T03:00:00Z
                [1] 2026-01-01T03:00:00Z .. 2026-02-01T03:00:00Z
            -- l0
            SELECT idx, d, sum(CAST(q.x AS float8)) AS v FROM (SELECT (width_bucket(s.t, (SELECT $3::timestamptz[])) - 1)::int8 AS idx, s.* FROM (SELECT r."fecha" AS t, NULL::text AS d, r."monto" AS x FROM "t" AS r WHERE r."fecha" >= (SELECT $1::timestamptz) AND r."fecha" < (SELECT $2::timestamptz)) AS s) AS q GROUP BY idx, d
            -- $1 = 2026-01-01T03:00:00Z
            -- $2 = 2026-03-01T03:00:00Z
            -- $3 = [2026-01-01T03:00:00Z, 2026-02-01T03:00:00Z]
            -- l1
            SELECT idx, d, sum(CAST(q.x AS float8)) AS v FROM (SELECT (width_bucket(s.t, (SELECT $3::timestamptz[])) - 1)::int8 AS idx, s.* FROM (SELECT r."fecha" AS t, NULL::text AS d, r."monto" AS x FROM "t" AS r WHERE r."fecha" >= (SELECT $1::timestamptz) AND r."fecha" < (SELECT $2::timestamptz)) AS s) AS q GROUP BY idx, d
            -- $1 = 2025-12-01T03:00:00Z
            -- $2 = 2026-02-01T03:00:00Z
            -- $3 = [2025-12-01T03:00:00Z, 2026-01-01T03:00:00Z]
        "#]],
    );
}

#[test]
fn a_rolling_window_overlaps_so_it_joins_the_windows() {
    check(
        "rolling_avg",
        "espera_3m",
        "2026-02",
        "2026-03",
        None,
        &[],
        expect![[r#"
            periods: 2, as of 2027-01-01T03:00:00Z
            value = l0
            l0 = avg([espera]) of tickets.avg_wait
                time: fecha
                window: rolling 3
                [0] 2025-12-01T03:00:00Z .. 2026-03-01T03:00:00Z
                [1] 2026-01-01T03:00:00Z .. 2026-04-01T03:00:00Z
            -- l0
            SELECT idx, d, avg(CAST(q.x AS float8)) AS v FROM (SELECT w.idx, s.* FROM (SELECT r."fecha" AS t, NULL::text AS d, r."espera" AS x FROM "t" AS r WHERE r."fecha" >= (SELECT $1::timestamptz) AND r."fecha" < (SELECT $2::timestamptz)) AS s JOIN unnest($3::int8[], (SELECT $4::timestamptz[]), (SELECT $5::timestamptz[])) AS w(idx, ws, we) ON s.t >= w.ws AND s.t < w.we) AS q GROUP BY idx, d
            -- $1 = 2025-12-01T03:00:00Z
            -- $2 = 2026-04-01T03:00:00Z
            -- $3 = [0, 1]
            -- $4 = [2025-12-01T03:00:00Z, 2026-01-01T03:00:00Z]
            -- $5 = [2026-03-01T03:00:00Z, 2026-04-01T03:00:00Z]
        "#]],
    );
}

#[test]
fn a_concentration_groups_per_client_then_over_clients() {
    check(
        "per_groups",
        "hhi_clientes",
        "2026-01",
        "2026-02",
        None,
        &[],
        expect![[r#"
            periods: 2, as of 2027-01-01T03:00:00Z
            value = l0
            l0 = hhi(sum([neto]) per cliente_id) of facturas.neto
                time: fecha
                window: period, contiguous
                [0] 2026-01-01T03:00:00Z .. 2026-02-01T03:00:00Z
                [1] 2026-02-01T03:00:00Z .. 2026-03-01T03:00:00Z
            -- l0
            SELECT idx, d, CASE WHEN sum(gq.v) = 0 THEN NULL ELSE 10000.0 * sum(gq.v * gq.v) / (sum(gq.v) * sum(gq.v)) END AS v FROM (SELECT idx, d, g, sum(CAST(q.x AS float8)) AS v FROM (SELECT (width_bucket(s.t, (SELECT $3::timestamptz[])) - 1)::int8 AS idx, s.* FROM (SELECT r."fecha" AS t, NULL::text AS d, r."neto" AS x, CAST(r."cliente_id" AS text) AS g FROM "t" AS r WHERE r."cliente_id" IS NOT NULL AND r."fecha" >= (SELECT $1::timestamptz) AND r."fecha" < (SELECT $2::timestamptz)) AS s) AS q GROUP BY idx, d, g) AS gq GROUP BY idx, d
            -- $1 = 2026-01-01T03:00:00Z
            -- $2 = 2026-03-01T03:00:00Z
            -- $3 = [2026-01-01T03:00:00Z, 2026-02-01T03:00:00Z]
        "#]],
    );
}

#[test]
fn headcount_counts_intervals_at_both_ends_of_the_period() {
    check(
        "active_headcount",
        "dotacion_promedio",
        "2026-01",
        "2026-01",
        None,
        &[],
        expect![[r#"
            periods: 1, as of 2027-01-01T03:00:00Z
            value = l0
            l0 = active([ingreso, salida) at Average) of personas.dotacion_promedio
                window: period, contiguous
                [0] 2026-01-01T03:00:00Z .. 2026-02-01T03:00:00Z
            -- l0
            SELECT w.idx, q.d, (((sum(CASE WHEN (q.s_ <= LEAST(w.ws, (SELECT $1::timestamptz)) AND (q.e_ IS NULL OR q.e_ > LEAST(w.ws, (SELECT $1::timestamptz)))) THEN 1.0 ELSE 0.0 END) + sum(CASE WHEN (q.s_ <= LEAST(w.we, (SELECT $1::timestamptz)) AND (q.e_ IS NULL OR q.e_ > LEAST(w.we, (SELECT $1::timestamptz)))) THEN 1.0 ELSE 0.0 END)) / 2.0))::float8 AS v FROM (SELECT r."ingreso" AS s_, r."salida" AS e_, NULL::text AS d FROM "t" AS r WHERE r."ingreso" IS NOT NULL AND r."ingreso" < (SELECT $1::timestamptz)) AS q JOIN unnest($2::int8[], (SELECT $3::timestamptz[]), (SELECT $4::timestamptz[])) AS w(idx, ws, we) ON (q.s_ <= LEAST(w.ws, (SELECT $1::timestamptz)) AND (q.e_ IS NULL OR q.e_ > LEAST(w.ws, (SELECT $1::timestamptz)))) OR (q.s_ <= LEAST(w.we, (SELECT $1::timestamptz)) AND (q.e_ IS NULL OR q.e_ > LEAST(w.we, (SELECT $1::timestamptz)))) GROUP BY w.idx, q.d
            -- $1 = 2027-01-01T03:00:00Z
            -- $2 = [0]
            -- $3 = [2026-01-01T03:00:00Z]
            -- $4 = [2026-02-01T03:00:00Z]
        "#]],
    );
}

#[test]
fn filtered_ratio_by_department_with_local_times() {
    check(
        "filters",
        "conv_cloud",
        "2026-01",
        "2026-02",
        Some("department"),
        &["closed_at", "created_at"],
        expect![[r#"
            periods: 2, as of 2027-01-01T03:00:00Z
            by: department
            value = ((100 * l0) / l1)
            l0 = count(*) of opps.won
                time: closed_at
                where: [stage] = 'won'
                where: [department] = 'Cloud'
                window: period, contiguous
                [0] 2026-01-01T03:00:00Z .. 2026-02-01T03:00:00Z
                [1] 2026-02-01T03:00:00Z .. 2026-03-01T03:00:00Z
            l1 = count(*) of opps.closed
                time: closed_at
                where: [stage] in ('won', 'lost')
                where: [department] = 'Cloud'
                window: period, contiguous
                [0] 2026-01-01T03:00:00Z .. 2026-02-01T03:00:00Z
                [1] 2026-02-01T03:00:00Z .. 2026-03-01T03:00:00Z
            -- l0
            SELECT idx, d, count(*)::float8 AS v FROM (SELECT (width_bucket(s.t, (SELECT $5::timestamp[])) - 1)::int8 AS idx, s.* FROM (SELECT r."closed_at" AS t, CAST(r."department" AS text) AS d FROM "t" AS r WHERE (r."stage" = $1::text) AND (r."department" = $2::text) AND r."closed_at" >= (SELECT $3::timestamp) AND r."closed_at" < (SELECT $4::timestamp)) AS s) AS q GROUP BY idx, d
            -- $1 = 'won'
            -- $2 = 'Cloud'
            -- $3 = 2026-01-01T00:00:00
            -- $4 = 2026-03-01T00:00:00
            -- $5 = [2026-01-01T00:00:00, 2026-02-01T00:00:00]
            -- l1
            SELECT idx, d, count(*)::float8 AS v FROM (SELECT (width_bucket(s.t, (SELECT $6::timestamp[])) - 1)::int8 AS idx, s.* FROM (SELECT r."closed_at" AS t, CAST(r."department" AS text) AS d FROM "t" AS r WHERE (r."stage" IN ($1::text, $2::text)) AND (r."department" = $3::text) AND r."closed_at" >= (SELECT $4::timestamp) AND r."closed_at" < (SELECT $5::timestamp)) AS s) AS q GROUP BY idx, d
            -- $1 = 'won'
            -- $2 = 'lost'
            -- $3 = 'Cloud'
            -- $4 = 2026-01-01T00:00:00
            -- $5 = 2026-03-01T00:00:00
            -- $6 = [2026-01-01T00:00:00, 2026-02-01T00:00:00]
        "#]],
    );
}
