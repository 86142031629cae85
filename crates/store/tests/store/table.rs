//! Store tables in-process: many small pushes stay few files, racing writers with one key
//! store once, a table whose columns no longer match its source is refused, a log entry cut at
//! a line boundary is found torn, and a key reused for another body is a conflict.

use std::path::Path;

use tablero_calendar::Calendar;
use tablero_model::Source;
use tablero_store::rows::{Format, Input};
use tablero_store::table::{self, COMPACT_AFTER_FILES};

fn workspace() -> (tempfile::TempDir, Source, Calendar) {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/store/workspace");
    for sub in ["sources", "kpis", "data"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(fixture.join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(sub).join(entry.file_name())).unwrap();
        }
    }
    std::fs::copy(
        fixture.join("tablero.toml"),
        dir.path().join("tablero.toml"),
    )
    .unwrap();
    let (workspace, _) = tablero_model::load_workspace(dir.path());
    let source = workspace.source("encuestas").unwrap().clone();
    (dir, source, Calendar::new("America/Santiago", 1).unwrap())
}

fn row(id: usize) -> String {
    format!(
        "id,respondida,dia,nota,cliente,recomienda\n{id},2026-10-01 10:00:00,2026-10-01,9,x,true\n"
    )
}

async fn push(
    root: &Path,
    source: &Source,
    calendar: &Calendar,
    id: usize,
    key: Option<&str>,
) -> tablero_store::Appended {
    let text = row(id);
    let input = Input {
        bytes: text.as_bytes(),
        format: Format::Csv,
        label: "push",
        sheet: None,
    };
    tablero_store::ingest(root, source, calendar, &[input], key, &mut |_| {})
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_small_pushes_stay_few_files() {
    let (dir, source, calendar) = workspace();
    let pushes = COMPACT_AFTER_FILES + 10;
    for id in 0..pushes {
        push(dir.path(), &source, &calendar, id, None).await;
    }
    let info = table::info(dir.path(), &source).await.unwrap();
    assert_eq!(info.rows, pushes as u64);
    assert!(info.files < COMPACT_AFTER_FILES, "{} files", info.files);
    // A checkpoint was written, so opening reads one Parquet file instead of every entry.
    assert!(
        dir.path()
            .join("data/store/encuestas/_delta_log/_last_checkpoint")
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_with_one_key_store_once() {
    let (dir, source, calendar) = workspace();
    // Create the table first so both racers append to the same log.
    push(dir.path(), &source, &calendar, 0, None).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let root = dir.path().to_path_buf();
        let (source, calendar) = (source.clone(), calendar.clone());
        tasks.push(tokio::spawn(async move {
            push(&root, &source, &calendar, 1, Some("misma-clave")).await
        }));
    }
    let mut stored = 0;
    for task in tasks {
        let appended = task.await.unwrap();
        if !appended.duplicate {
            stored += appended.rows;
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(table::info(dir.path(), &source).await.unwrap().rows, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_declaration_is_refused_with_both_column_lists() {
    let (dir, source, calendar) = workspace();
    push(dir.path(), &source, &calendar, 0, None).await;
    let mut changed = source.clone();
    changed.columns.retain(|c| c.name != "recomienda");
    let text = "id,respondida,dia,nota,cliente\n1,,,1,x\n";
    let input = Input {
        bytes: text.as_bytes(),
        format: Format::Csv,
        label: "push",
        sheet: None,
    };
    let err = tablero_store::ingest(dir.path(), &changed, &calendar, &[input], None, &mut |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("has columns (id Int64"), "{err}");
    assert!(
        err.contains("the store does not change a table's columns"),
        "{err}"
    );
}

/// A log entry cut exactly at a line boundary still parses; the row count Tablero records in
/// the commit tells it is torn, and the next write sets it aside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_entry_cut_at_a_line_boundary_is_torn() {
    let (dir, source, calendar) = workspace();
    push(dir.path(), &source, &calendar, 1, None).await;
    push(dir.path(), &source, &calendar, 2, None).await;
    let entry = dir
        .path()
        .join("data/store/encuestas/_delta_log/00000000000000000002.json");
    let text = std::fs::read_to_string(&entry).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains("\"add\"")).collect();
    assert!(kept.len() < text.lines().count(), "{text}");
    std::fs::write(&entry, kept.join("\n") + "\n").unwrap();

    let info = table::info(dir.path(), &source).await.unwrap();
    assert_eq!(info.torn.len(), 1, "{info:?}");
    assert_eq!(info.torn[0].version, 2);
    assert!(
        info.torn[0]
            .problem
            .contains("it names 0 rows of a batch of 1"),
        "{info:?}"
    );

    let appended = push(dir.path(), &source, &calendar, 3, None).await;
    assert_eq!(appended.version, Some(2));
    assert_eq!(appended.set_aside.len(), 1);
    let info = table::info(dir.path(), &source).await.unwrap();
    assert!(info.torn.is_empty(), "{info:?}");
    assert_eq!(info.set_aside.len(), 1);
    assert_eq!(info.set_aside[0].version, 2);
    assert_eq!(info.rows, 2);
}

/// The key's commit records the body's hash: another body under the same key is a typed
/// conflict, and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_another_body_is_a_conflict() {
    let (dir, source, calendar) = workspace();
    push(dir.path(), &source, &calendar, 1, Some("k")).await;
    let again = push(dir.path(), &source, &calendar, 1, Some("k")).await;
    assert!(again.duplicate);
    let text = row(2);
    let input = Input {
        bytes: text.as_bytes(),
        format: Format::Csv,
        label: "push",
        sheet: None,
    };
    let err = tablero_store::ingest(
        dir.path(),
        &source,
        &calendar,
        &[input],
        Some("k"),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, tablero_store::StoreError::Conflict(_)),
        "{err}"
    );
    assert!(err.is_user_error());
    assert_eq!(table::info(dir.path(), &source).await.unwrap().rows, 1);
}
