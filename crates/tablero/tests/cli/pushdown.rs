//! KPIs over tables of a real PostgreSQL server (`scripts/test.sh` starts one with
//! pg_stat_statements: `TABLERO_TEST_POSTGRES`), through the `tablero` binary: the grouping runs
//! in the database and only one row per period and dimension value comes back; names with
//! quotes and spaces are quoted; a hostile `--where` value stays a value; local times follow
//! the calendar's rules where clocks change.

use std::path::Path;
use std::process::Command;

use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

/// A fresh database with pg_stat_statements; its URL.
async fn database() -> String {
    let admin = std::env::var("TABLERO_TEST_POSTGRES").expect(
        "TABLERO_TEST_POSTGRES is not set: run ./scripts/test.sh, which starts a PostgreSQL server for these tests",
    );
    let name = format!("tablero_p{:016x}", rand::random::<u64>());
    let mut conn = PgConnection::connect(&admin).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    let url = url.to_string();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE EXTENSION pg_stat_statements")
        .execute(&mut conn)
        .await
        .unwrap();
    url
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn tablero(root: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .arg("-w")
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tablero {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

const REGIONS: [&str; 3] = ["norte", "centro", "sur"];
const HOSTILE: &str = "'; drop table marker; --";

#[test]
fn sums_are_grouped_in_the_database_over_quoted_names_and_a_hostile_value_stays_a_value() {
    let rt = runtime();
    let url = rt.block_on(database());
    // 600 invoices: invoice i is issued on day 1 + i % 28 of month 1 + i % 6 of 2026 at noon
    // UTC (morning in Santiago, the same day), in region (i / 6) % 3, for i pesos. One more
    // in March by a client whose name is a would-be injection, for 1,000,000.
    rt.block_on(async {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE marker (x int);
             CREATE SCHEMA \"Ventas 2026\";
             CREATE TABLE \"Ventas 2026\".\"Fac\"\"turas\" (\"emitida \"\"el\"\" día\" timestamptz, region text, monto float8, cliente text)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        for i in 0..600_i64 {
            sqlx::query(
                "INSERT INTO \"Ventas 2026\".\"Fac\"\"turas\" VALUES ($1::timestamptz, $2, $3, 'c')",
            )
            .bind(format!("2026-{:02}-{:02}T12:00:00Z", 1 + i % 6, 1 + i % 28))
            .bind(REGIONS[((i / 6) % 3) as usize])
            .bind(i as f64)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO \"Ventas 2026\".\"Fac\"\"turas\" VALUES ('2026-03-10T12:00:00Z', 'sur', 1000000, $1)",
        )
        .bind(HOSTILE)
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::raw_sql("SELECT pg_stat_statements_reset()")
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "tablero.toml",
        &format!(
            "name = \"pushdown\"\ntimezone = \"America/Santiago\"\n[connections.erp]\nurl = \"{url}\"\ntls = \"disable\"\n"
        ),
    );
    write(
        root,
        "sources/facturas.yaml",
        r#"name: facturas
connection: erp
table: '"Ventas 2026"."Fac""turas"'
time: 'emitida "el" día'
columns:
  'emitida "el" día': { type: timestamp }
  region: { type: string }
  monto: { type: number }
  cliente: { type: string }
dimensions: [region]
measures:
  ventas: { agg: sum, expr: monto }
"#,
    );
    write(
        root,
        "kpis/ventas.yaml",
        "id: ventas\nname: Ventas\nowner: Finanzas\nunit: currency\ngrain: month\nformula: facturas.ventas\n",
    );

    // Expected by plain arithmetic over the same rows.
    let mut expected = std::collections::BTreeMap::new();
    for i in 0..600_i64 {
        let key = (
            format!("2026-{:02}", 1 + i % 6),
            REGIONS[((i / 6) % 3) as usize].to_string(),
        );
        *expected.entry(key).or_insert(0.0) += i as f64;
    }
    *expected
        .entry(("2026-03".to_string(), "sur".to_string()))
        .or_insert(0.0) += 1_000_000.0;
    let out = tablero(
        root,
        &[
            "compute",
            "ventas",
            "--from",
            "2026-01",
            "--to",
            "2026-06",
            "--by",
            "region",
            "--as-of",
            "2026-12-31",
            "--format",
            "csv",
        ],
    );
    let mut got = std::collections::BTreeMap::new();
    for line in out.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        got.insert(
            (fields[1].to_string(), fields[2].to_string()),
            fields[3].parse::<f64>().unwrap(),
        );
    }
    assert_eq!(got, expected, "{out}");

    // What reached the database: grouped statements, at most periods × regions rows each.
    let statements: Vec<(String, i64, i64)> = rt.block_on(async {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        sqlx::query(
            "SELECT query, calls, rows FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
             WHERE d.datname = current_database() AND query LIKE '%Fac\"\"turas%' AND query NOT LIKE '%pg_attribute%'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
    });
    assert!(!statements.is_empty(), "no statement reached the table");
    for (query, calls, rows) in &statements {
        assert!(
            query.contains("GROUP BY"),
            "not grouped in the database: {query}"
        );
        assert!(
            *rows <= calls * 6 * 3,
            "{rows} rows in {calls} calls, more than 6 periods × 3 regions: {query}"
        );
    }

    // The would-be injection is a value: it selects its one invoice, and `marker` is still there.
    let filter = format!("cliente = '{}'", HOSTILE.replace('\'', "''"));
    let out = tablero(
        root,
        &[
            "compute",
            "ventas",
            "--from",
            "2026-02",
            "--to",
            "2026-03",
            "--where",
            &filter,
            "--as-of",
            "2026-12-31",
            "--format",
            "csv",
        ],
    );
    let values: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(values, ["0", "1000000"], "{out}");
    let marker: i64 = rt.block_on(async {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        sqlx::query("SELECT count(*) FROM marker")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0)
    });
    assert_eq!(marker, 0);

    // `explain` shows the statement sent, with the table's name quoted and values as parameters.
    let explained = tablero(root, &["explain", "ventas", "--as-of", "2026-12-31"]);
    assert!(
        explained.contains("FROM \"Ventas 2026\".\"Fac\"\"turas\" AS r"),
        "{explained}"
    );
    assert!(
        explained.contains("r.\"emitida \"\"el\"\" día\""),
        "{explained}"
    );
    assert!(explained.contains("GROUP BY"), "{explained}");
}

#[test]
fn local_times_in_the_database_follow_the_calendar_where_clocks_change() {
    // America/Santiago: on 2026-04-05 at 00:00 -03 clocks go back to 23:00 -04, so 23:30 of
    // 04-04 happens twice; Tablero reads a repeated time at its first occurrence (02:30Z).
    // On 2026-09-06 at 00:00 -04 they jump to 01:00 -03, so 00:30 never happens; it is read
    // moved forward by the gap, 01:30 -03 (04:30Z).
    //   April:     23:30 (-03, 02:30Z) -> 04-05 02:30 (-04, 06:30Z) = 4 h (3 h at the second occurrence)
    //   September: 00:30 (-> 04:30Z)   -> 09-06 03:30 (-03, 06:30Z) = 2 h
    let rows = [
        ("2026-04-04 23:30:00", "2026-04-05 02:30:00"),
        ("2026-09-06 00:30:00", "2026-09-06 03:30:00"),
    ];
    let rt = runtime();
    let url = rt.block_on(database());
    rt.block_on(async {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("CREATE TABLE tickets (abierto timestamp, cerrado timestamp)")
            .execute(&mut conn)
            .await
            .unwrap();
        for (open, close) in rows {
            sqlx::query("INSERT INTO tickets VALUES ($1::timestamp, $2::timestamp)")
                .bind(open)
                .bind(close)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "tablero.toml",
        &format!(
            "name = \"dst\"\ntimezone = \"America/Santiago\"\n[connections.erp]\nurl = \"{url}\"\ntls = \"disable\"\n"
        ),
    );
    let source = |name: &str, location: &str| {
        format!(
            "name: {name}\n{location}\ntime: cerrado\ncolumns:\n  abierto: {{ type: timestamp }}\n  cerrado: {{ type: timestamp }}\nmeasures:\n  horas: {{ agg: avg, expr: \"hours_between(abierto, cerrado)\" }}\n"
        )
    };
    write(
        root,
        "sources/db.yaml",
        &source("db", "connection: erp\ntable: tickets"),
    );
    write(
        root,
        "sources/csv.yaml",
        &source("csv", "file: data/tickets.csv"),
    );
    let csv: String = std::iter::once("abierto,cerrado\n".to_string())
        .chain(
            rows.iter()
                .map(|(o, c)| format!("{},{}\n", o.replace(' ', "T"), c.replace(' ', "T"))),
        )
        .collect();
    write(root, "data/tickets.csv", &csv);
    for (id, source) in [("en_db", "db"), ("en_csv", "csv")] {
        write(
            root,
            &format!("kpis/{id}.yaml"),
            &format!(
                "id: {id}\nname: {id}\nowner: Soporte\nunit: hours\ngrain: month\nformula: {source}.horas\n"
            ),
        );
    }
    for id in ["en_db", "en_csv"] {
        let out = tablero(
            root,
            &[
                "compute",
                id,
                "--from",
                "2026-04",
                "--to",
                "2026-09",
                "--as-of",
                "2026-12-31",
                "--format",
                "csv",
            ],
        );
        let values: Vec<(String, String)> = out
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[1].to_string(), f[2].to_string())
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        assert_eq!(
            values,
            [
                ("2026-04".to_string(), "4".to_string()),
                ("2026-09".to_string(), "2".to_string())
            ],
            "{id}: {out}"
        );
    }
}

#[test]
fn check_connections_names_each_missing_table_and_column_at_its_line() {
    let rt = runtime();
    let url = rt.block_on(database());
    rt.block_on(async {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("CREATE TABLE pedidos (creado timestamptz, monto text, region text)")
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "tablero.toml",
        &format!("name = \"c\"\n[connections.erp]\nurl = \"{url}\"\ntls = \"disable\"\n"),
    );
    // Line 5: `monto` is text in the table; line 7: `canal` is not in it.
    write(
        root,
        "sources/pedidos.yaml",
        "name: pedidos\nconnection: erp\ntable: pedidos\ncolumns:\n  monto: { type: number }\n  creado: { type: timestamp }\n  canal: { type: string }\n  region: { type: string }\ntime: creado\nmeasures:\n  n: { agg: count }\n",
    );
    // Line 3: no such table.
    write(
        root,
        "sources/perdida.yaml",
        "name: perdida\nconnection: erp\ntable: public.no_existe\ncolumns:\n  t: { type: timestamp }\ntime: t\nmeasures:\n  n: { agg: count }\n",
    );
    // Without --connections nothing is asked of the database.
    let offline = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .arg("-w")
        .arg(root)
        .arg("check")
        .output()
        .unwrap();
    assert!(offline.status.success(), "{offline:?}");
    let checked = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .arg("-w")
        .arg(root)
        .args(["check", "--connections"])
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&checked.stderr);
    for needle in [
        "sources/pedidos.yaml:5:3: column `monto` is declared number but is text in table pedidos",
        "sources/pedidos.yaml:7:3: column `canal` is not in table pedidos",
        "sources/perdida.yaml:2:13: source `perdida`: connection `erp`: table public.no_existe does not exist",
    ] {
        assert!(stderr.contains(needle), "missing `{needle}` in:\n{stderr}");
    }
    assert!(stderr.contains("3 error(s), 0 warning(s)"), "{stderr}");
}
