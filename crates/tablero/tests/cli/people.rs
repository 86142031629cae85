//! Accounts and tokens through the real binary (SPEC §13): `users` and `tokens` with their
//! exit codes, `check`'s warning for owners nobody edits, serving beyond loopback only once
//! an account exists, and HTTPS with `--tls-cert/--tls-key` checked by curl against the
//! certificate.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn tablero(root: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tablero"));
    command.arg("-w").arg(root);
    command
}

fn run(root: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = tablero(root)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .args(["init"])
        .arg(dir.path().join("acme"))
        .args(["--example", "23people", "--today", "2026-10-15"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

/// Starts `serve` with `args`; returns the child and the URL it printed once ready.
fn serve(root: &Path, args: &[&str]) -> (Child, String) {
    let mut child = tablero(root)
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches('/')
        .to_string();
    (child, url)
}

/// `curl` trusting only `ca`, with `--resolve` so `localhost` reaches the given port.
fn curl(ca: &Path, port: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut command = Command::new("curl");
    command
        .args(["-s", "-i", "--max-time", "20", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .expect("curl");
    let answer = text(&output.stdout);
    let status = answer
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {answer} {}", text(&output.stderr)));
    (status, answer)
}

#[test]
fn accounts_tokens_and_https_through_the_binary() {
    let dir = example();
    let root = dir.path().join("acme");

    // With no account, only loopback.
    let refused = run(&root, &["serve", "--addr", "0.0.0.0:0"], None);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("users add"),
        "{}",
        text(&refused.stderr)
    );

    // (arguments, standard input, exit code, a fragment of stderr)
    let cases: &[(&[&str], Option<&str>, i32, &str)] = &[
        (
            &["users", "add", "ana@acme.cl", "--role", "admin"],
            None,
            2,
            "--password-stdin",
        ),
        (
            &[
                "users",
                "add",
                "ana@acme.cl",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("short\n"),
            1,
            "at least 10",
        ),
        (
            &[
                "users",
                "add",
                "not-an-email",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("long enough secret\n"),
            1,
            "not an e-mail",
        ),
        (
            &[
                "users",
                "add",
                "x@acme.cl",
                "--role",
                "viewer",
                "--owners",
                "Nobody",
                "--password-stdin",
            ],
            Some("long enough secret\n"),
            1,
            "People Growth",
        ),
        (
            &[
                "users",
                "add",
                "x@acme.cl",
                "--role",
                "boss",
                "--password-stdin",
            ],
            Some("long enough secret\n"),
            2,
            "admin",
        ),
        (
            &[
                "users",
                "add",
                "Ana@Acme.cl",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("long enough secret\n"),
            0,
            "",
        ),
        (
            &[
                "users",
                "add",
                "ana@acme.cl",
                "--role",
                "viewer",
                "--password-stdin",
            ],
            Some("long enough secret\n"),
            1,
            "exists already",
        ),
        (
            &[
                "users",
                "add",
                "lucia@acme.cl",
                "--role",
                "viewer",
                "--owners",
                "People Growth",
                "--password-stdin",
            ],
            Some("long enough secret\n"),
            0,
            "",
        ),
        (
            &["tokens", "create", "nobody@acme.cl", "--name", "ci"],
            None,
            1,
            "no account",
        ),
        (
            &["users", "disable", "nobody@acme.cl"],
            None,
            1,
            "no account",
        ),
    ];
    for (args, stdin, code, fragment) in cases {
        let output = run(&root, args, *stdin);
        assert_eq!(
            output.status.code(),
            Some(*code),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(
            text(&output.stderr).contains(fragment),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let list = text(&run(&root, &["users", "list"], None).stdout);
    assert!(
        list.contains("ana@acme.cl") && list.contains("admin"),
        "{list}"
    );
    assert!(
        list.contains("lucia@acme.cl") && list.contains("People Growth"),
        "{list}"
    );

    let created = run(
        &root,
        &["tokens", "create", "lucia@acme.cl", "--name", "sheet"],
        None,
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let token = text(&created.stdout).trim().to_string();
    assert!(token.starts_with("tbl_"), "{token}");
    let tokens = text(&run(&root, &["tokens", "list"], None).stdout);
    assert!(
        tokens.contains("sheet") && !tokens.contains(&token),
        "{tokens}"
    );

    // Accounts exist and nobody edits these owners' KPIs: check warns, and still passes.
    let check = run(&root, &["check"], None);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(
        text(&check.stderr).contains("owner `Finances` has no editor"),
        "{}",
        text(&check.stderr)
    );

    // HTTPS with a self-signed certificate for localhost.
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(made.success());
    let (mut server, url) = serve(
        &root,
        &[
            "--addr",
            "0.0.0.0:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(url.starts_with("https://"), "{url}");
    let port = url.rsplit(':').next().unwrap().to_string();
    let (status, body) = curl(&cert, &port, "/api/v1/kpis", Some(&token));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("tasa_absentismo") && !body.contains("ventas_netas_totales"));
    let (status, _) = curl(&cert, &port, "/api/v1/kpis", None);
    assert_eq!(status, 401);
    let (status, login) = curl(&cert, &port, "/login", None);
    assert_eq!(status, 200);
    let cookie = login
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_default();
    assert!(
        cookie.contains("__Host-tablero_csrf=") && cookie.contains("Secure"),
        "{cookie}"
    );
    // Plain HTTP on the TLS port gets no page.
    let plain = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            &format!("http://127.0.0.1:{port}/api/v1/health"),
        ])
        .output()
        .unwrap();
    assert!(!text(&plain.stdout).contains("\"status\""));
    // Disabling the account stops its token at once, while serving.
    assert!(
        run(&root, &["users", "disable", "lucia@acme.cl"], None)
            .status
            .success()
    );
    let (status, _) = curl(&cert, &port, "/api/v1/kpis", Some(&token));
    assert_eq!(status, 401);
    let _ = server.kill();
    let _ = server.wait();
}

/// `tablero users set` changes a role and the owners seen, with its exit codes.
#[test]
fn an_account_is_changed_through_the_binary() {
    let dir = example();
    let root = dir.path().join("acme");
    let added = run(
        &root,
        &[
            "users",
            "add",
            "ana@acme.cl",
            "--role",
            "editor",
            "--owners",
            "Finances",
            "--password-stdin",
        ],
        Some("correct horse battery\n"),
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let listed = |root: &Path| text(&run(root, &["users", "list"], None).stdout);
    assert!(
        listed(&root).contains("editor  active    Finances"),
        "{}",
        listed(&root)
    );
    // (args, exit status, a fragment of stdout or stderr)
    let cases: [(&[&str], i32, &str); 6] = [
        (
            &[
                "users",
                "set",
                "ana@acme.cl",
                "--role",
                "viewer",
                "--owners",
                "People Growth",
            ],
            0,
            "changed ana@acme.cl: viewer of People Growth; its sessions ended",
        ),
        (
            &["users", "set", "ANA@acme.cl", "--every-owner"],
            0,
            "changed ana@acme.cl: viewer of every owner",
        ),
        (
            &["users", "set", "ana@acme.cl"],
            2,
            "--role, --owners or --every-owner",
        ),
        (
            &["users", "set", "ana@acme.cl", "--owners", "Nadie"],
            1,
            "`Nadie` owns no KPI",
        ),
        (
            &["users", "set", "nobody@acme.cl", "--role", "admin"],
            1,
            "no account for nobody@acme.cl",
        ),
        (
            &["users", "set", "ana@acme.cl", "--role", "owner"],
            2,
            "owner",
        ),
    ];
    for (args, status, fragment) in cases {
        let output = run(&root, args, None);
        let said = format!("{}{}", text(&output.stdout), text(&output.stderr));
        assert_eq!(output.status.code(), Some(status), "{args:?}: {said}");
        assert!(said.contains(fragment), "{args:?}: {said}");
    }
    assert!(
        listed(&root).contains("viewer  active    every owner"),
        "{}",
        listed(&root)
    );
}
