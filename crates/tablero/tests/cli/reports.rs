//! Scheduled reports end to end: the real binary, a real SMTP server (Python's aiosmtpd, as in
//! the alert tests) and the PDF read back as text by `pdftotext` (poppler-utils, installed by
//! `scripts/test.sh`). A hand-worked workspace: each scheduled moment sent once per
//! recipient, by hand or by `reports run`, and a failed e-mail retried once the server is back.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) struct SmtpSink {
    child: Child,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn start_smtp(maildir: &Path, port: u16) -> SmtpSink {
    let mut child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 with aiosmtpd (scripts/test.sh installs it)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return SmtpSink { child };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("aiosmtpd did not start: is it installed? (python3 -m pip install aiosmtpd)");
}

/// Each mail received: to, subject, HTML, and its PDF attachment as text (pdftotext).
pub(crate) fn mails(maildir: &Path) -> Vec<serde_json::Value> {
    const DECODE: &str = r#"
import email, email.policy, json, pathlib, subprocess, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("new/*"), key=lambda p: p.stat().st_mtime_ns):
    m = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    html = m.get_body(("html",))
    pdf = [p for p in m.iter_attachments() if p.get_content_type() == "application/pdf"]
    text = None
    if pdf:
        out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf[0].get_content(),
                             capture_output=True, check=True)
        text = out.stdout.decode("utf-8")
    print(json.dumps({"to": str(m["To"]), "subject": str(m["Subject"]),
        "html": html.get_content() if html else None,
        "pdf_name": pdf[0].get_filename() if pdf else None, "pdf": text}))
"#;
    let output = Command::new("python3")
        .args(["-c", DECODE])
        .arg(maildir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// February 2026: sales 120, costs 40; March: sales 80 (target 100, so off track; −40 from
/// February), costs 60 (target 50, lower is better, so off track; +20).
fn workspace(dir: &Path, smtp_port: u16) -> std::path::PathBuf {
    let root = dir.join("shop");
    for folder in ["sources", "kpis", "dashboards", "reports", "data"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    let files = [
        (
            "tablero.toml".to_string(),
            format!(
                "name = \"Tienda\"\nlocale = \"es\"\ntimezone = \"UTC\"\ncurrency = \"USD\"\npublic_url = \"https://kpis.tienda.test\"\n\n[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\nfrom = \"Tablero <kpis@tienda.test>\"\n"
            ),
        ),
        (
            "sources/mov.yaml".into(),
            "name: mov\nfile: data/mov.csv\ntime: dia\ncolumns:\n  dia: { type: date }\n  ventas: { type: number }\n  costos: { type: number }\nmeasures:\n  ventas: { agg: sum, expr: ventas }\n  costos: { agg: sum, expr: costos }\n".into(),
        ),
        (
            "kpis/k.yaml".into(),
            "- id: ventas\n  name: Ventas del mes\n  owner: Finanzas\n  unit: count\n  direction: up\n  grain: month\n  formula: mov.ventas\n  target: 100\n- id: costos\n  name: Costos del mes\n  owner: Finanzas\n  unit: count\n  direction: down\n  grain: month\n  formula: mov.costos\n  target: 50\n".into(),
        ),
        (
            "dashboards/mensual.yaml".into(),
            "id: mensual\ntitle: Cierre mensual\ngrain: month\nkpis: [ventas, costos]\n".into(),
        ),
        (
            "reports/cierre.yaml".into(),
            "id: cierre\ndashboard: mensual\nto: [ana@tienda.test, luis@tienda.test]\nschedule: monthly on day 3 at 09:00\n".into(),
        ),
        (
            "data/mov.csv".into(),
            "dia,ventas,costos\n2026-02-10,70,25\n2026-02-20,50,15\n2026-03-05,30,35\n2026-03-25,50,25\n".into(),
        ),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).unwrap();
    }
    root
}

pub(crate) fn tablero(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .arg("-w")
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_scheduled_moment_is_sent_once_with_its_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let maildir = dir.path().join("maildir");
    let sink = start_smtp(&maildir, port);
    let root = workspace(dir.path(), port);
    let (code, _, err) = tablero(&root, &["check"]);
    assert_eq!(code, 0, "{err}");

    // (as of, e-mails received so far): before 3 April 09:00 the latest moment is 3 March,
    // more than a day old, so nothing goes; at 09:30 the April report goes to both; again,
    // nothing (one send per moment).
    for (as_of, total) in [
        ("2026-04-03T08:00:00Z", 0),
        ("2026-04-03T09:30:00Z", 2),
        ("2026-04-03T10:00:00Z", 2),
    ] {
        let (code, out, err) = tablero(&root, &["reports", "run", "--as-of", as_of]);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(mails(&maildir).len(), total, "as of {as_of}: {out}");
    }
    let received = mails(&maildir);
    let mut to: Vec<&str> = received.iter().map(|m| m["to"].as_str().unwrap()).collect();
    to.sort();
    assert_eq!(to, ["ana@tienda.test", "luis@tienda.test"]);
    let mail = &received[0];
    assert_eq!(
        mail["subject"],
        "Tienda — Cierre mensual · 2026-04-03 09:00"
    );
    let html = mail["html"].as_str().unwrap();
    for shown in [
        "Ventas del mes",
        "Costos del mes",
        "2026-03",
        "fuera de meta",
        "-40",
        "+20",
    ] {
        assert!(html.contains(shown), "{shown}: {html}");
    }
    assert!(html.contains("https://kpis.tienda.test/dashboards/mensual"));
    // The PDF, read back as text: the same names and numbers.
    assert_eq!(mail["pdf_name"], "mensual.pdf");
    let pdf = mail["pdf"].as_str().unwrap();
    for shown in [
        "Tienda — Cierre mensual",
        "Ventas del mes",
        "Costos del mes",
        "80",
        "60",
        "100",
        "50",
        "fuera de meta",
    ] {
        assert!(pdf.contains(shown), "{shown}: {pdf}");
    }

    // By hand for another moment: sent; the same moment again: not made again.
    let (code, out, _) = tablero(
        &root,
        &["reports", "send", "cierre", "--as-of", "2026-04-10"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(mails(&maildir).len(), 4);
    let (_, out, _) = tablero(
        &root,
        &["reports", "send", "cierre", "--as-of", "2026-04-10"],
    );
    assert!(out.contains("recorded before"), "{out}");
    assert_eq!(mails(&maildir).len(), 4);
    let (code, _, err) = tablero(&root, &["reports", "send", "nope"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no report `nope`") && err.contains("cierre"),
        "{err}"
    );

    // The SMTP server is down: both e-mails fail and wait; back up, the next run sends them,
    // once.
    drop(sink);
    let (code, out, _) = tablero(
        &root,
        &["reports", "send", "cierre", "--as-of", "2026-04-11"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("0 e-mail(s) sent, 2 failed"), "{out}");
    let _sink = start_smtp(&maildir, port);
    let (_, out, _) = tablero(&root, &["reports", "run", "--as-of", "2026-04-11"]);
    assert!(out.contains("2 e-mail(s) sent, 0 failed"), "{out}");
    let (_, out, _) = tablero(&root, &["reports", "run", "--as-of", "2026-04-11"]);
    assert!(out.contains("0 e-mail(s) sent, 0 failed"), "{out}");
    assert_eq!(mails(&maildir).len(), 6);
}

fn with_stdin(root: &Path, args: &[&str], input: &str) -> (i32, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .arg("-w")
        .arg(root)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// SPEC §13: each address gets the dashboard as its account sees it. Costs belong to
/// Operaciones here: Ana (a viewer of Finanzas) gets sales only, Luis (every owner) both, and
/// an address with no account nothing — `check` says so.
#[test]
fn each_recipient_gets_the_kpis_its_account_sees() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let maildir = dir.path().join("maildir");
    let _sink = start_smtp(&maildir, port);
    let root = workspace(dir.path(), port);
    let kpis = std::fs::read_to_string(root.join("kpis/k.yaml")).unwrap();
    let (sales, costs) = kpis.split_at(kpis.find("- id: costos").unwrap());
    std::fs::write(
        root.join("kpis/k.yaml"),
        format!("{sales}{}", costs.replace("Finanzas", "Operaciones")),
    )
    .unwrap();
    std::fs::write(
        root.join("reports/cierre.yaml"),
        "id: cierre\ndashboard: mensual\nto: [ana@tienda.test, luis@tienda.test, nadie@tienda.test]\nschedule: monthly on day 3 at 09:00\n",
    )
    .unwrap();
    for (email, owners) in [
        ("ana@tienda.test", Some("Finanzas")),
        ("luis@tienda.test", None),
    ] {
        let mut args = vec!["users", "add", email, "--role", "viewer"];
        if let Some(owners) = owners {
            args.extend(["--owners", owners]);
        }
        args.push("--password-stdin");
        let (code, err) = with_stdin(&root, &args, "una clave larga y buena\n");
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) = tablero(&root, &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("`nadie@tienda.test` is no active account"),
        "{err}"
    );

    let (code, out, err) = tablero(
        &root,
        &["reports", "send", "cierre", "--as-of", "2026-04-10"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 e-mail(s) sent, 0 failed"), "{out}");
    let received = mails(&maildir);
    let mut to: Vec<&str> = received.iter().map(|m| m["to"].as_str().unwrap()).collect();
    to.sort();
    assert_eq!(to, ["ana@tienda.test", "luis@tienda.test"]);
    for mail in &received {
        let pdf = mail["pdf"].as_str().unwrap();
        let html = mail["html"].as_str().unwrap();
        // March: sales 30 + 50 = 80, costs 35 + 25 = 60.
        assert!(
            pdf.contains("Ventas del mes") && pdf.contains("80"),
            "{pdf}"
        );
        let sees_costs = mail["to"] == "luis@tienda.test";
        for text in [pdf, html] {
            assert_eq!(
                text.contains("Costos del mes"),
                sees_costs,
                "{}: {text}",
                mail["to"]
            );
        }
    }
}
