//! The workspace's files stay inside it: a source's `file` that is absolute, climbs out with
//! `..`, or leads out through a symbolic link is an error at its line and column; a special
//! file (FIFO, device, folder) is refused before anything opens it; and the names that become
//! folders and URLs (sources, KPIs, dashboards) are plain identifiers.

use std::path::Path;

use tablero_model::load_workspace;

const COLUMNS: &str = "time: t\ncolumns:\n  t: { type: date }\n";

/// A workspace with a regular `data/ok.csv`, a file outside it, and one source per entry of
/// `sources` (its YAML starts at line 1, so `file:` on line 2 has its value at column 7).
fn workspace(dir: &Path, sources: &[&str]) -> Vec<String> {
    std::fs::create_dir_all(dir.join("ws/sources")).unwrap();
    std::fs::create_dir_all(dir.join("ws/data")).unwrap();
    std::fs::write(dir.join("ws/tablero.toml"), "name = \"t\"\n").unwrap();
    std::fs::write(dir.join("ws/data/ok.csv"), "t\n2026-01-01\n").unwrap();
    std::fs::write(dir.join("outside.csv"), "t\n2026-01-01\n").unwrap();
    for (i, body) in sources.iter().enumerate() {
        std::fs::write(dir.join(format!("ws/sources/s{i}.yaml")), body).unwrap();
    }
    let (_, diagnostics) = load_workspace(&dir.join("ws"));
    diagnostics
        .iter()
        .map(|d| match &d.location {
            Some(l) => format!(
                "{}:{}:{}: {}",
                l.file.display(),
                l.line,
                l.column,
                d.message
            ),
            None => d.message.clone(),
        })
        .collect()
}

fn source(name: &str, file: &str) -> String {
    format!("name: {name}\nfile: {file}\n{COLUMNS}")
}

#[test]
fn a_source_file_must_stay_inside_the_workspace() {
    let cases: &[(&str, Option<&str>)] = &[
        ("data/ok.csv", None),
        ("./data/ok.csv", None),
        // Not there yet: reading it says so later; nothing here leaves the workspace.
        ("data/missing.csv", None),
        (
            "/etc/passwd.csv",
            Some(
                "sources/s0.yaml:2:7: `file` must be a path inside the workspace, relative to it, like data/sales.csv, found `/etc/passwd.csv`",
            ),
        ),
        (
            "../outside.csv",
            Some(
                "sources/s0.yaml:2:7: `file` must be a path inside the workspace, relative to it, like data/sales.csv; `..` is not allowed, found `../outside.csv`",
            ),
        ),
        (
            "data/../../outside.csv",
            Some("sources/s0.yaml:2:7: `file` must be a path inside the workspace"),
        ),
        // `..` is refused even where it would come back inside: the rule is read off the text.
        (
            "data/../data/ok.csv",
            Some("`..` is not allowed, found `data/../data/ok.csv`"),
        ),
        (
            "\\\\server\\share\\x.csv",
            Some("sources/s0.yaml:2:7: `file` must be a path inside the workspace"),
        ),
    ];
    let mut failures = Vec::new();
    for (file, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let diagnostics = workspace(dir.path(), &[&source("s", &format!("'{file}'"))]);
        let ok = match expected {
            None => diagnostics.is_empty(),
            Some(text) => diagnostics.len() == 1 && diagnostics[0].contains(text),
        };
        if !ok {
            failures.push(format!(
                "{file}: expected {expected:?}, got {diagnostics:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[cfg(unix)]
#[test]
fn symbolic_links_out_of_the_workspace_and_special_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ws/data");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside.csv"), data.join("out.csv")).unwrap();
    std::os::unix::fs::symlink("ok.csv", data.join("in.csv")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", data.join("zero.csv")).unwrap();
    std::os::unix::fs::symlink("../data", data.join("loop")).unwrap();
    std::fs::create_dir(data.join("folder.csv")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(data.join("pipe.csv"))
        .status()
        .expect("mkfifo (coreutils) makes the FIFO of this test");
    assert!(status.success());
    let diagnostics = workspace(
        dir.path(),
        &[
            &source("link_out", "data/out.csv"),
            &source("link_in", "data/in.csv"),
            &source("device", "data/zero.csv"),
            &source("folder", "data/folder.csv"),
            &source("pipe", "data/pipe.csv"),
            &source("looped", "data/loop/loop/ok.csv"),
        ],
    );
    let outside = std::fs::canonicalize(dir.path().join("outside.csv")).unwrap();
    assert_eq!(
        diagnostics,
        [
            format!(
                "sources/s0.yaml:2:7: `file` data/out.csv leads outside the workspace through a symbolic link (to {}); keep data files inside the workspace",
                outside.display()
            ),
            "sources/s2.yaml:2:7: `file` data/zero.csv leads outside the workspace through a symbolic link (to /dev/zero); keep data files inside the workspace".to_string(),
            "sources/s3.yaml:2:7: `file` data/folder.csv is a folder, not a regular file; a source reads a CSV or Parquet file".to_string(),
            "sources/s4.yaml:2:7: `file` data/pipe.csv is a FIFO (named pipe), not a regular file; a source reads a CSV or Parquet file".to_string(),
        ]
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_among_the_definition_files_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("kpis")).unwrap();
    for fifo in [ws.join("kpis/pipe.yaml"), ws.join("tablero.toml")] {
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo (coreutils) makes the FIFO of this test");
        assert!(status.success());
    }
    // Were either FIFO opened, this would wait for a writer forever.
    let (_, diagnostics) = load_workspace(&ws);
    let messages: Vec<String> = diagnostics
        .iter()
        .map(|d| {
            let at = d.location.as_ref().unwrap();
            format!("{}:{}: {}", at.file.display(), at.line, d.message)
        })
        .collect();
    assert_eq!(
        messages,
        [
            "tablero.toml:1: tablero.toml is a FIFO (named pipe), not a regular file",
            "kpis/pipe.yaml:1: kpis/pipe.yaml is a FIFO (named pipe), not a regular file",
        ]
    );
}

#[test]
fn names_that_become_paths_and_urls_are_plain_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let store = |name: &str| format!("name: '{name}'\nstore: true\n{COLUMNS}");
    let diagnostics = workspace(
        dir.path(),
        &[
            &store("../../x"),
            &store("data/store/y"),
            &store("con espacio"),
            &store("1st"),
            &store(""),
            &store("_ok_2"),
        ],
    );
    let expected = |file: usize, name: &str| {
        format!(
            "sources/s{file}.yaml:1:7: a source name must be a plain name of letters, digits and `_`, starting with a letter or `_` (it names the store folder data/store/NAME and the API path /api/v1/sources/NAME), found `{name}`"
        )
    };
    assert_eq!(
        diagnostics,
        [
            expected(0, "../../x"),
            expected(1, "data/store/y"),
            expected(2, "con espacio"),
            expected(3, "1st"),
            expected(4, ""),
        ]
    );
    // A source with a bad name is left out, so nothing can be stored under it.
    let (workspace, _) = load_workspace(&ws);
    let names: Vec<&str> = workspace
        .sources
        .iter()
        .map(|s| s.name.value.as_str())
        .collect();
    assert_eq!(names, ["_ok_2"]);

    std::fs::create_dir_all(ws.join("kpis")).unwrap();
    std::fs::create_dir_all(ws.join("dashboards")).unwrap();
    std::fs::write(ws.join("kpis/k.yaml"), "id: 'a/b'\nformula: _ok_2.n\n").unwrap();
    std::fs::write(ws.join("dashboards/d.yaml"), "id: '../tv'\nkpis: []\n").unwrap();
    std::fs::write(ws.join("dashboards/e.yaml"), "id: ok\nkpis: []\n").unwrap();
    let (workspace, diagnostics) = load_workspace(&ws);
    let messages: Vec<String> = diagnostics
        .iter()
        .filter(|d| !d.location.as_ref().unwrap().file.starts_with("sources"))
        .map(|d| {
            let at = d.location.as_ref().unwrap();
            format!(
                "{}:{}:{}: {}",
                at.file.display(),
                at.line,
                at.column,
                d.message
            )
        })
        .collect();
    assert_eq!(
        messages,
        [
            "kpis/k.yaml:1:5: a KPI id must be a plain name of letters, digits and `_`, starting with a letter or `_` (it is used in formulas and in the URLs /kpis/ID and /api/v1/kpis/ID), found `a/b`",
            "dashboards/d.yaml:1:5: a dashboard id must be a plain name of letters, digits and `_`, starting with a letter or `_` (it is used in the URL /tv/ID), found `../tv`",
        ]
    );
    let dashboards: Vec<&str> = workspace.dashboards.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(dashboards, ["ok"]);
}
