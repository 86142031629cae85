//! One "latest" on every surface: for every KPI of the example company at a fixed moment, the
//! value shown as the KPI's latest — the values API's `latest`, the home card, the KPI page,
//! the home page's CSV and XLSX downloads, `/metrics`, `tablero top --once`, the insights'
//! facts and a report's PDF — is one number, of one period. Each surface formats the engine's
//! judged view; none decides for itself (SPEC §4–§7, §12).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use calamine::{Data, Reader, Xlsx};
use tablero_model::display::format_value;

use crate::reports::{free_port, mails, start_smtp, tablero};

const TODAY: &str = "2026-10-15";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A GET with curl: the body as bytes; panics unless 200.
fn get(addr: &str, path: &str) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "120", "-w", "\n%{http_code}"])
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("curl");
    let mut body = out.stdout;
    let end = body.iter().rposition(|b| *b == b'\n').unwrap();
    let status = String::from_utf8_lossy(&body[end + 1..]).to_string();
    body.truncate(end);
    assert_eq!(status, "200", "{path}: {}", String::from_utf8_lossy(&body));
    body
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

/// The text between `start` (after `from`) and the next `end`.
fn between<'a>(html: &'a str, from: usize, start: &str, end: &str) -> &'a str {
    let at = from
        + html[from..]
            .find(start)
            .unwrap_or_else(|| panic!("{start}"))
        + start.len();
    &html[at..at + html[at..].find(end).unwrap()]
}

#[test]
fn every_surface_shows_one_latest_value() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("acme");
    let (code, out, err) = tablero(
        dir.path(),
        &[
            "init",
            root.to_str().unwrap(),
            "--example",
            "23people",
            "--today",
            TODAY,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (workspace, _) = tablero_model::load_workspace(&root);
    let settings = &workspace.settings;
    // A report of every KPI, sent to a real SMTP server.
    let ids: Vec<&str> = workspace.kpis.iter().map(|k| k.id.value.as_str()).collect();
    std::fs::write(
        root.join("dashboards/todos.yaml"),
        format!("id: todos\ntitle: Todos\nkpis: [{}]\n", ids.join(", ")),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("reports")).unwrap();
    std::fs::write(
        root.join("reports/todos.yaml"),
        "id: todos\ndashboard: todos\nto: [direccion@acme.test]\nschedule: monthly on day 3 at 09:00\n",
    )
    .unwrap();
    let port = free_port();
    let maildir = dir.path().join("maildir");
    let _sink = start_smtp(&maildir, port);
    let mut toml = std::fs::read_to_string(root.join("tablero.toml")).unwrap();
    toml.push_str(&format!(
        "\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"Tablero <kpis@acme.test>\"\n"
    ));
    std::fs::write(root.join("tablero.toml"), toml).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .arg("-w")
        .arg(&root)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Server(child);
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let as_of = format!("as_of={TODAY}");

    // The reference: the values API's judged `latest` (period, value) of each KPI.
    let mut latest: BTreeMap<String, (String, Option<f64>)> = BTreeMap::new();
    for id in &ids {
        let body: serde_json::Value =
            serde_json::from_slice(&get(&addr, &format!("/api/v1/kpis/{id}/values?{as_of}")))
                .unwrap();
        let l = &body["latest"];
        latest.insert(
            id.to_string(),
            (
                l["period"].as_str().unwrap().to_string(),
                l["value"].as_f64(),
            ),
        );
    }
    assert_eq!(latest.len(), workspace.kpis.len());
    assert!(
        latest.values().filter(|(_, v)| v.is_some()).count() > 20,
        "{latest:?}"
    );
    let shown = |id: &str| {
        let kpi = workspace.kpi(id).unwrap();
        latest[id].1.map_or("—".to_string(), |v| {
            format_value(
                v,
                kpi.unit,
                kpi.decimals,
                settings.locale,
                &settings.currency,
            )
        })
    };

    let home = text(get(&addr, &format!("/?{as_of}")));
    let top = tablero(&root, &["top", "--once", "--as-of", TODAY]);
    assert_eq!(top.0, 0, "{}", top.2);
    let metrics = text(get(&addr, &format!("/metrics?{as_of}")));
    let csv = text(get(&addr, &format!("/download/csv?{as_of}&lang=en")));
    let mut rows_csv = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let csv_rows: Vec<Vec<String>> = rows_csv
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let xlsx = get(&addr, &format!("/download/xlsx?{as_of}&lang=en"));
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(xlsx)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let xlsx_rows: Vec<Vec<Data>> = sheet.rows().skip(1).map(|r| r.to_vec()).collect();

    for kpi in &workspace.kpis {
        let id = kpi.id.value.as_str();
        let (period, value) = &latest[id];
        let formatted = shown(id);
        let context = format!("{id}: {period} {value:?} ({formatted})");

        // The home card.
        let card = home
            .find(&format!("data-kpi=\"{id}\""))
            .unwrap_or_else(|| panic!("no card: {context}"));
        assert_eq!(
            between(&home, card, "data-testid=\"kpi-value\">", "</span>"),
            formatted,
            "home card {context}"
        );
        let meta = between(&home, card, "class=\"card-meta\">", "</span>");
        assert!(
            meta.ends_with(&format!("· {period}")),
            "home card {meta} {context}"
        );

        // The KPI page.
        let page = text(get(&addr, &format!("/kpi/{id}?{as_of}")));
        let at = page.find("data-testid=\"kpi-latest\"").unwrap();
        assert_eq!(
            between(&page, at, "data-period=\"", "\""),
            period,
            "KPI page {context}"
        );
        assert_eq!(
            between(&page, at, "data-testid=\"latest-value\">", "</strong>"),
            formatted,
            "KPI page {context}"
        );

        // The home page's downloads: (KPI, owner, period, value, …), in full precision.
        let row = csv_rows
            .iter()
            .find(|r| r[0] == kpi.name)
            .unwrap_or_else(|| panic!("CSV {context}"));
        assert_eq!(&row[2], period, "CSV {context}");
        assert_eq!(row[3].parse::<f64>().ok(), *value, "CSV {context}");
        let row = xlsx_rows
            .iter()
            .find(|r| r[0] == Data::String(kpi.name.clone()))
            .unwrap_or_else(|| panic!("XLSX {context}"));
        assert_eq!(row[2], Data::String(period.clone()), "XLSX {context}");
        let cell = match &row[3] {
            Data::Float(f) => Some(*f),
            Data::Int(i) => Some(*i as f64),
            _ => None,
        };
        assert_eq!(cell, *value, "XLSX {context}");

        // `/metrics`: the gauge exists exactly when there is a value.
        let gauge = metrics
            .lines()
            .find(|l| l.starts_with("tablero_kpi_value{") && l.contains(&format!("kpi=\"{id}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| !v.is_nan());
        assert_eq!(gauge, *value, "/metrics {context}");

        // `tablero top --once`: "● name  value  / target  status period  change".
        let line = top
            .1
            .lines()
            .find(|l| {
                l.trim_start()
                    .split_once(' ')
                    .is_some_and(|(_, rest)| rest.split("  ").next() == Some(kpi.name.as_str()))
            })
            .unwrap_or_else(|| panic!("top: {context}\n{}", top.1));
        let parts: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        assert_eq!(parts[1], formatted, "top {line} {context}");
        assert!(line.contains(&format!(" {period}")), "top {line} {context}");
    }

    // The insights that hold read each KPI at the same period and value.
    let insights: serde_json::Value =
        serde_json::from_slice(&get(&addr, &format!("/api/v1/insights?{as_of}"))).unwrap();
    for insight in insights["insights"].as_array().unwrap() {
        for (id, value) in insight["values"].as_object().unwrap() {
            assert_eq!(value.as_f64(), latest[id].1, "insight {insight}");
            assert_eq!(
                insight["periods"][id],
                latest[id].0.as_str(),
                "insight {insight}"
            );
        }
    }

    // A report made at that moment: each KPI's row, in dashboard order, has its period and
    // value (a long name is cut to fit its column, so a row is found by its first letters).
    let (code, out, err) = tablero(&root, &["reports", "send", "todos", "--as-of", TODAY]);
    assert_eq!(code, 0, "{out}{err}");
    let received = mails(&maildir);
    assert_eq!(received.len(), 1, "{out}{err}");
    let pdf = received[0]["pdf"].as_str().unwrap();
    let lines: Vec<&str> = pdf.lines().collect();
    let mut from = 0;
    for kpi in &workspace.kpis {
        let id = kpi.id.value.as_str();
        let (period, _) = &latest[id];
        let start: String = kpi.name.chars().take(12).collect();
        let offset = lines[from..]
            .iter()
            .position(|l| l.trim_start().starts_with(&start))
            .unwrap_or_else(|| panic!("PDF: no row for {id}\n{pdf}"));
        let line = lines[from + offset];
        from += offset + 1;
        assert!(line.contains(period.as_str()), "PDF {id}: {line}");
        assert!(
            line.contains(&format!(" {}", shown(id))),
            "PDF {id} {}: {line}",
            shown(id)
        );
    }
}
