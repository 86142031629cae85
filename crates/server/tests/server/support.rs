//! What several of the server's test files share: the example company, written once per test
//! binary as `tablero init --example 23people --today 2026-10-15` writes it — its catalog, its
//! generated files, and the rows of its manual sources entered so far, in their store tables —
//! and one GET through the router.

// Each test binary uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;

/// The example workspace of this test binary (written on first use, removed at exit).
pub fn example() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        write_example(&dir.path().join("acme"), "2026-10-15");
        dir
    })
    .path()
    .join("acme")
    .leak()
}

/// Writes the example with data up to `today` into `root`, manual values included.
pub fn write_example(root: &Path, today: &str) {
    let options = tablero_example::GenerateOptions::new(today.parse().unwrap());
    tablero_example::write_example(root, &options, false).unwrap();
    // Its own runtime on its own thread: callers may already be inside one.
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(store_manual_history(&root));
    })
    .join()
    .unwrap();
}

/// Each manual source's generated history stored as one batch, as `tablero init` does.
async fn store_manual_history(root: &Path) {
    let (workspace, _) = tablero_model::load_workspace(root);
    let settings = &workspace.settings;
    let calendar =
        tablero_calendar::Calendar::new(&settings.timezone, settings.fiscal_year_start).unwrap();
    for (name, file) in tablero_example::MANUAL_HISTORY {
        let source = workspace.source(name).unwrap();
        let path = root.join("data").join(file);
        let bytes = std::fs::read(&path).unwrap();
        let input = tablero_store::rows::Input {
            bytes: &bytes,
            format: tablero_store::rows::Format::Csv,
            label: file,
            sheet: None,
        };
        tablero_store::ingest(root, source, &calendar, &[input], None, &mut |_| {})
            .await
            .unwrap();
        std::fs::remove_file(&path).unwrap();
    }
}

/// One GET through the router (no socket), for `localhost`: the status and the body as text.
pub async fn get(state: &tablero_server::AppState, uri: &str) -> (axum::http::StatusCode, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = tablero_server::app(state.clone())
        .oneshot(
            axum::http::Request::builder()
                .uri(uri)
                .header("host", "localhost")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}
