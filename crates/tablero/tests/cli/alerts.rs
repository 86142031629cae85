//! Alerts through the real binary against real receivers (SPEC §12): an HTTP server on
//! loopback that records webhook bodies (and answers 500 or 429 when told to), and an SMTP
//! server (Python's aiosmtpd, installed by scripts/test.sh) writing a maildir. A hand-worked
//! workspace is evaluated at several `--as-of` moments; each firing must reach each target
//! exactly once, across repeated runs, failures, and a process killed between recording a
//! firing and delivering it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the webhook receiver saw, and how it answers next.
#[derive(Default)]
struct Receiver {
    /// Bodies answered 200, in order.
    accepted: Vec<serde_json::Value>,
    /// Requests of any outcome.
    requests: usize,
    /// Answers to give before accepting again: (status, Retry-After).
    refuse: Vec<(u16, Option<&'static str>)>,
    idempotency_keys: Vec<String>,
}

fn start_receiver() -> (Arc<Mutex<Receiver>>, SocketAddr) {
    let receiver = Arc::new(Mutex::new(Receiver::default()));
    let shared = receiver.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                    let shared = shared.clone();
                    async move {
                        let mut r = shared.lock().unwrap();
                        r.requests += 1;
                        if !r.refuse.is_empty() {
                            let (status, retry) = r.refuse.remove(0);
                            let mut response =
                                axum::response::Response::new(axum::body::Body::empty());
                            *response.status_mut() =
                                axum::http::StatusCode::from_u16(status).unwrap();
                            if let Some(retry) = retry {
                                response
                                    .headers_mut()
                                    .insert("retry-after", retry.parse().unwrap());
                            }
                            return response;
                        }
                        r.accepted.push(serde_json::from_str(&body).unwrap());
                        if let Some(key) = headers.get("idempotency-key") {
                            r.idempotency_keys.push(key.to_str().unwrap().to_string());
                        }
                        axum::response::Response::new(axum::body::Body::empty())
                    }
                }),
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (receiver, addr)
}

/// Python's aiosmtpd on a free port, delivering into a maildir.
struct SmtpSink {
    child: Child,
    port: u16,
    maildir: std::path::PathBuf,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_smtp(dir: &Path) -> SmtpSink {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = dir.join("maildir");
    let mut child = Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 with aiosmtpd (scripts/test.sh installs it)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return SmtpSink {
                child,
                port,
                maildir,
            };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("aiosmtpd did not start: is it installed? (python3 -m pip install aiosmtpd)");
}

/// The mails received, decoded by Python's `email` package: to, subject, text and HTML.
fn mails(sink: &SmtpSink) -> Vec<serde_json::Value> {
    const DECODE: &str = r#"
import email, email.policy, json, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("new/*")):
    m = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text = m.get_body(("plain",)); html = m.get_body(("html",))
    print(json.dumps({"to": str(m["To"]), "subject": str(m["Subject"]),
        "text": text.get_content() if text else None, "html": html.get_content() if html else None}))
"#;
    let output = Command::new("python3")
        .args(["-c", DECODE])
        .arg(&sink.maildir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Monthly sums of a KPI with target 100 and at_risk below 90 (direction up):
/// 2026-01: 120 on track · 02: 80 off track · 03: 95 at risk · 04: 110 on track · 05: 50 off track.
fn workspace(dir: &Path, hook: SocketAddr, smtp_port: u16) -> std::path::PathBuf {
    workspace_with_state(dir, hook, smtp_port, None)
}

/// The same workspace, its state database at `state` (a `postgres://` URL) when given.
fn workspace_with_state(
    dir: &Path,
    hook: SocketAddr,
    smtp_port: u16,
    state: Option<&str>,
) -> std::path::PathBuf {
    let state_line = state
        .map(|url| format!("state = \"{url}\"\n"))
        .unwrap_or_default();
    let root = dir.join("shop");
    for folder in ["sources", "kpis", "alerts", "data"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    let files = [
        (
            "tablero.toml".to_string(),
            format!(
                "name = \"shop\"\nlocale = \"en\"\ntimezone = \"UTC\"\ncurrency = \"USD\"\npublic_url = \"https://kpis.shop.test\"\n{state_line}\n[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\nfrom = \"Tablero <kpis@shop.test>\"\n"
            ),
        ),
        (
            "sources/sales.yaml".into(),
            "name: sales\nfile: data/sales.csv\ntime: day\ncolumns:\n  day: { type: date }\n  amount: { type: number }\nmeasures:\n  total: { agg: sum, expr: amount }\n".into(),
        ),
        (
            "kpis/sales.yaml".into(),
            "- id: sales\n  name: Sales\n  owner: Finances\n  unit: number\n  direction: up\n  grain: month\n  formula: sales.total\n  target: 100\n  thresholds: { at_risk: 90 }\n".into(),
        ),
        (
            "data/sales.csv".into(),
            "day,amount\n2026-01-10,120\n2026-02-10,50\n2026-02-20,30\n2026-03-05,95\n2026-04-05,110\n2026-05-05,50\n".into(),
        ),
        (
            "alerts/status.yaml".into(),
            format!(
                "id: status_change\nkpis: [sales]\nwhen: status\nnotify:\n  - webhook: http://{hook}/hook\n  - email: [boss@shop.test]\n"
            ),
        ),
        (
            "alerts/drop.yaml".into(),
            format!(
                "id: big_drop\nowner: Finances\nwhen: value\nvalue: \"value < previous - 30\"\nnotify:\n  - webhook: http://{hook}/hook\n"
            ),
        ),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).unwrap();
    }
    root
}

fn alerts_run(root: &Path, as_of: &str, failpoints: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tablero"));
    command
        .arg("-w")
        .arg(root)
        .args(["alerts", "run", "--as-of", as_of]);
    if let Some(f) = failpoints {
        command.env("FAILPOINTS", f);
    }
    command.output().unwrap()
}

fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The (rule, KPI, period, kind) of every webhook body accepted, from its text.
fn hook_texts(receiver: &Arc<Mutex<Receiver>>) -> Vec<String> {
    receiver
        .lock()
        .unwrap()
        .accepted
        .iter()
        .map(|b| b["text"].as_str().unwrap().to_string())
        .collect()
}

/// A fresh database on the PostgreSQL server `scripts/test.sh` starts (`TABLERO_TEST_POSTGRES`).
fn postgres_database() -> String {
    use sqlx::Connection;
    let admin = std::env::var("TABLERO_TEST_POSTGRES").expect(
        "TABLERO_TEST_POSTGRES is not set: run ./scripts/test.sh, which starts a PostgreSQL server for these tests",
    );
    let name = format!("tablero_a{:016x}", rand::random::<u64>());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    url.to_string()
}

#[test]
fn each_firing_reaches_each_target_exactly_once() {
    each_firing_reaches_each_target_exactly_once_on(None);
}

#[test]
fn each_firing_reaches_each_target_exactly_once_on_postgres() {
    each_firing_reaches_each_target_exactly_once_on(Some(postgres_database()));
}

fn each_firing_reaches_each_target_exactly_once_on(state: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, hook) = start_receiver();
    let smtp = start_smtp(dir.path());
    let root = workspace_with_state(dir.path(), hook, smtp.port, state.as_deref());
    let check = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .arg("-w")
        .arg(&root)
        .arg("check")
        .output()
        .unwrap();
    ok(&check);

    // February 10: only January is complete (on track, nothing before it): nothing fires.
    let out = ok(&alerts_run(&root, "2026-02-10", None));
    assert!(out.contains("0 new firing(s)"), "{out}");

    // March 10: February is off track (was on track) and 80 < 120 - 30: both rules fire.
    // The webhook fails once with a 500 first: the next evaluation delivers it.
    receiver.lock().unwrap().refuse = vec![(500, None)];
    let out = ok(&alerts_run(&root, "2026-03-10", None));
    assert!(
        out.contains("fire status_change sales 2026-02 off_track"),
        "{out}"
    );
    assert!(
        out.contains("fire big_drop sales 2026-02 off_track"),
        "{out}"
    );
    assert!(out.contains("1 failed attempt(s)"), "{out}");
    assert_eq!(hook_texts(&receiver).len(), 1);
    let out = ok(&alerts_run(&root, "2026-03-10", None));
    assert!(out.contains("0 new firing(s); 1 delivered"), "{out}");
    let texts = hook_texts(&receiver);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts
            .iter()
            .all(|t| t.contains("Sales") && t.contains("2026-02"))
    );
    assert!(
        texts.iter().any(|t| t.contains("🔴 Sales: off track")
            && t.contains("80")
            && t.contains("target 100")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .all(|t| t.contains("https://kpis.shop.test/kpi/sales"))
    );
    // Again: nothing new, nothing sent twice.
    ok(&alerts_run(&root, "2026-03-10", None));
    assert_eq!(hook_texts(&receiver).len(), 2);

    // April 10: March is at risk (was off track): the status rule fires. The process is
    // stopped right after recording it, before delivering: nothing is sent…
    let stopped = alerts_run(&root, "2026-04-10", Some("alerts-after-record=panic"));
    assert_eq!(
        stopped.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    assert_eq!(hook_texts(&receiver).len(), 2);
    // …and the next evaluation sends it, once. The receiver asks to wait 2 s first.
    receiver.lock().unwrap().refuse = vec![(429, Some("2"))];
    let out = ok(&alerts_run(&root, "2026-04-10", None));
    assert!(
        out.contains("fire status_change sales 2026-03 at_risk (recorded before)"),
        "{out}"
    );
    let out = ok(&alerts_run(&root, "2026-04-10", None));
    assert!(out.contains("0 delivered"), "Retry-After honoured: {out}");
    std::thread::sleep(Duration::from_millis(2500));
    let out = ok(&alerts_run(&root, "2026-04-10", None));
    assert!(out.contains("1 delivered"), "{out}");
    assert_eq!(hook_texts(&receiver).len(), 3);

    // May 10: April is back on track: one recovery per rule that fired.
    let out = ok(&alerts_run(&root, "2026-05-10", None));
    assert!(
        out.contains("recover status_change sales 2026-04 on_track"),
        "{out}"
    );
    assert!(
        out.contains("recover big_drop sales 2026-04 on_track"),
        "{out}"
    );
    ok(&alerts_run(&root, "2026-05-20", None));

    // June 10: May is off track and 50 < 110 - 30: both fire again.
    let out = ok(&alerts_run(&root, "2026-06-10", None));
    assert!(out.contains("fire status_change sales 2026-05"), "{out}");
    assert!(out.contains("fire big_drop sales 2026-05"), "{out}");

    // Webhook: status_change 02, 03, 04 (recovery), 05 and big_drop 02, 04 (recovery), 05,
    // each exactly once, each with its firing's id as Idempotency-Key.
    let r = receiver.lock().unwrap();
    assert_eq!(r.accepted.len(), 7, "{:?}", r.accepted);
    let mut keys = r.idempotency_keys.clone();
    keys.sort();
    assert_eq!(
        keys,
        [
            "big_drop/sales/2026-02//fire",
            "big_drop/sales/2026-04//recover",
            "big_drop/sales/2026-05//fire",
            "status_change/sales/2026-02//fire",
            "status_change/sales/2026-03//fire",
            "status_change/sales/2026-04//recover",
            "status_change/sales/2026-05//fire",
        ]
    );
    assert!(
        r.accepted
            .iter()
            .all(|b| b["blocks"].as_array().is_some_and(|b| !b.is_empty()))
    );
    // E-mail: the status rule's four firings, text and HTML, to the address.
    let mails = mails(&smtp);
    assert_eq!(mails.len(), 4, "{mails:?}");
    for mail in &mails {
        assert_eq!(mail["to"], "boss@shop.test", "{mail}");
        assert!(
            mail["text"]
                .as_str()
                .unwrap()
                .contains("https://kpis.shop.test/kpi/sales"),
            "{mail}"
        );
        assert!(
            mail["html"]
                .as_str()
                .unwrap()
                .contains("href=\"https://kpis.shop.test/kpi/sales\""),
            "{mail}"
        );
    }
    let subjects: Vec<&str> = mails
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects.contains(&"✅ Sales is back on track · 2026-04"),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"🔴 Sales: off track · 2026-02"),
        "{subjects:?}"
    );
}

#[test]
fn dry_run_records_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, hook) = start_receiver();
    let smtp = start_smtp(dir.path());
    let root = workspace(dir.path(), hook, smtp.port);
    let mut command = Command::new(env!("CARGO_BIN_EXE_tablero"));
    let out = command
        .arg("-w")
        .arg(&root)
        .args(["alerts", "run", "--as-of", "2026-03-10", "--dry-run"])
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(
        text.contains("fire status_change sales 2026-02 off_track (dry run)"),
        "{text}"
    );
    // A real run afterwards still finds both firings new.
    let text = ok(&alerts_run(&root, "2026-03-10", None));
    assert!(text.contains("2 new firing(s)"), "{text}");
    assert_eq!(receiver.lock().unwrap().requests, 2);
}

/// The seasonal workspace of the server's forecast test, with an anomaly rule: the month
/// planted at half its value (2026-01) fires, ordinary months do not.
#[test]
fn an_anomaly_rule_finds_the_planted_month_only() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, hook) = start_receiver();
    let root = dir.path().join("seasons");
    for folder in ["sources", "kpis", "alerts", "data"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    let mut csv = String::from("day,amount\n");
    for m in 0..40usize {
        let mut value = tablero_forecast::sample::month(m);
        if m == 36 {
            value /= 2.0;
        }
        csv.push_str(&format!(
            "{}-{:02}-10,{value:.3}\n",
            2023 + m / 12,
            m % 12 + 1
        ));
    }
    let files = [
        ("tablero.toml", "name = \"seasons\"\nlocale = \"en\"\ntimezone = \"UTC\"\ncurrency = \"USD\"\npublic_url = \"https://kpis.test\"\n".to_string()),
        ("sources/sales.yaml", "name: sales\nfile: data/sales.csv\ntime: day\ncolumns:\n  day: { type: date }\n  amount: { type: number }\nmeasures:\n  total: { agg: sum, expr: amount }\n".to_string()),
        ("kpis/sales.yaml", "- id: sales\n  name: Sales\n  owner: Finances\n  unit: number\n  direction: up\n  grain: month\n  formula: sales.total\n  target: 100\n".to_string()),
        ("alerts/unusual.yaml", format!("id: unusual\nkpis: [sales]\nwhen: anomaly\nnotify:\n  - webhook: http://{hook}/hook\n")),
        ("data/sales.csv", csv),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).unwrap();
    }
    // Every ordinary month with a band: 2025-08 (31 months before it) to 2025-12.
    for as_of in [
        "2025-09-10",
        "2025-10-10",
        "2025-11-10",
        "2025-12-10",
        "2026-01-05",
    ] {
        let out = ok(&alerts_run(&root, as_of, None));
        assert!(out.contains("0 new firing(s)"), "{as_of}: {out}");
    }
    let out = ok(&alerts_run(&root, "2026-02-10", None));
    assert!(out.contains("fire unusual sales 2026-01"), "{out}");
    // The month after it is ordinary again (and on track): one recovery, no new anomaly.
    let out = ok(&alerts_run(&root, "2026-03-10", None));
    assert!(
        out.contains("1 new firing(s)") && out.contains("recover unusual sales 2026-02"),
        "{out}"
    );
    let texts = hook_texts(&receiver);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].contains("2026-01") && texts[1].contains("2026-02"));
}

/// Once accounts exist, an e-mail goes only to an account that sees the KPI: the Finances
/// viewer is told about `sales` (owned by Finances); a People Growth viewer and an address
/// with no account are not.
#[test]
fn an_alert_never_reveals_a_kpi_to_a_recipient_who_cannot_see_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_receiver, hook) = start_receiver();
    let smtp = start_smtp(dir.path());
    let root = workspace(dir.path(), hook, smtp.port);
    std::fs::write(
        root.join("kpis/people.yaml"),
        "- id: headcount\n  name: Headcount\n  owner: People Growth\n  unit: count\n  direction: up\n  grain: month\n  formula: sales.total\n",
    )
    .unwrap();
    std::fs::write(
        root.join("alerts/status.yaml"),
        format!("id: status_change\nkpis: [sales]\nwhen: status\nnotify:\n  - webhook: http://{hook}/hook\n  - email: [boss@shop.test, people@shop.test, stranger@shop.test]\n"),
    )
    .unwrap();
    for (email, owners) in [
        ("boss@shop.test", "Finances"),
        ("people@shop.test", "People Growth"),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tablero"))
            .arg("-w")
            .arg(&root)
            .args([
                "users",
                "add",
                email,
                "--role",
                "viewer",
                "--owners",
                owners,
                "--password-stdin",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"a long enough password\n")
            .unwrap();
        assert!(child.wait().unwrap().success());
    }
    ok(&alerts_run(&root, "2026-03-10", None));
    let mails = mails(&smtp);
    let to: Vec<&str> = mails.iter().map(|m| m["to"].as_str().unwrap()).collect();
    assert_eq!(to, ["boss@shop.test"], "{mails:?}");
}

/// A webhook's path is its secret (a Slack webhook's is): a failed delivery names the rule and
/// the webhook's scheme and host, never its path — not in `alerts run`'s output, not in a
/// serving process's log at any level, not in any column of the state database.
#[test]
fn a_failed_delivery_keeps_the_webhook_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, hook) = start_receiver();
    let smtp = start_smtp(dir.path());
    let root = workspace(dir.path(), hook, smtp.port);
    let secret = format!(
        "T{:016x}/B{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    // One webhook answers 404 (the receiver has no such path), the other cannot be reached
    // (nothing listens on port 9 of loopback).
    std::fs::write(
        root.join("alerts/status.yaml"),
        format!(
            "id: status_change\nkpis: [sales]\nwhen: status\nnotify:\n  - webhook: http://{hook}/services/{secret}\n  - webhook: http://127.0.0.1:9/services/{secret}/again\n"
        ),
    )
    .unwrap();
    std::fs::remove_file(root.join("alerts/drop.yaml")).unwrap();
    // The SMTP password (from the environment) must not show either, when signing in fails
    // (the sink offers no authentication).
    let toml = std::fs::read_to_string(root.join("tablero.toml")).unwrap();
    std::fs::write(
        root.join("tablero.toml"),
        toml.replace(
            "security = \"none\"\n",
            "security = \"none\"\nusername = \"kpis\"\n",
        ),
    )
    .unwrap();
    let alert = std::fs::read_to_string(root.join("alerts/status.yaml")).unwrap();
    std::fs::write(
        root.join("alerts/status.yaml"),
        format!("{alert}  - email: [boss@shop.test]\n"),
    )
    .unwrap();
    let smtp_password = format!("P{:016x}", rand::random::<u64>());
    let mut all_output = String::new();
    for level in ["trace", "debug", "info", "warn"] {
        let output = Command::new(env!("CARGO_BIN_EXE_tablero"))
            .arg("-w")
            .arg(&root)
            .args(["alerts", "run", "--as-of", "2026-03-10"])
            .env("TABLERO_LOG", level)
            .env("TABLERO_SMTP_PASSWORD", &smtp_password)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{text}");
        all_output.push_str(&text);
    }
    // The failures were logged, by rule and host.
    assert!(
        all_output.contains("status_change") && all_output.contains("alert delivery failed"),
        "{all_output}"
    );
    assert!(
        all_output.contains(&format!("http://{hook}")),
        "{all_output}"
    );
    assert_eq!(receiver.lock().unwrap().accepted.len(), 0);
    // A serving process evaluates the rules as it starts, retrying the failed deliveries.
    let mut serve = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .arg("-w")
        .arg(&root)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("TABLERO_LOG", "trace")
        .env("TABLERO_SMTP_PASSWORD", &smtp_password)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = serve.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut served = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !served.contains("alerts evaluated") && std::time::Instant::now() < deadline {
        if let Ok(line) = lines_rx.recv_timeout(Duration::from_secs(1)) {
            served.push_str(&line);
            served.push('\n');
        }
    }
    let _ = serve.kill();
    let _ = serve.wait();
    while let Ok(line) = lines_rx.try_recv() {
        served.push_str(&line);
        served.push('\n');
    }
    assert!(served.contains("alerts evaluated"), "{served}");
    all_output.push_str(&served);
    // Nothing of the path anywhere.
    let stored: String = std::fs::read_dir(root.join("data"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("tablero.db"))
        .map(|e| String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned())
        .collect();
    assert!(stored.contains("status_change"), "the firing is stored");
    assert!(
        all_output.contains("SMTP 127.0.0.1"),
        "the e-mail failed too: {all_output}"
    );
    for part in secret.split('/').chain([smtp_password.as_str()]) {
        assert!(
            !all_output.contains(part),
            "the webhook's secret `{part}` is in the output:\n{all_output}"
        );
        assert!(
            !stored.contains(part),
            "the webhook's secret `{part}` is in the state database"
        );
    }
}
