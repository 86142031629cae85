//! `tablero ingest` and `tablero store compact|info|repair`: pushing rows into store sources
//! and looking after their tables.

use std::path::{Path, PathBuf};

use tablero_calendar::Calendar;
use tablero_model::{Source, Workspace};
use tablero_store::StoreError;
use tablero_store::rows::{Format, Input};

use crate::Failure;

impl From<StoreError> for Failure {
    /// The user's data, request or files at fault: 1; the machine or a bug: 3.
    fn from(err: StoreError) -> Failure {
        Failure {
            code: if err.is_user_error() { 1 } else { 3 },
            message: err.to_string(),
        }
    }
}

/// The workspace definitions and calendar, without checking formulas: ingesting needs only
/// the source's columns.
fn open(root: &Path) -> Result<(Workspace, Calendar), Failure> {
    let (workspace, diagnostics) = tablero_model::load_workspace(root);
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    if !errors.is_empty() {
        return Err(Failure {
            code: 1,
            message: errors.join("\n"),
        });
    }
    let settings = &workspace.settings;
    let calendar =
        Calendar::new(&settings.timezone, settings.fiscal_year_start).map_err(|e| Failure {
            code: 1,
            message: format!("tablero.toml: {e}"),
        })?;
    Ok((workspace, calendar))
}

fn source<'w>(workspace: &'w Workspace, name: &str) -> Result<&'w Source, Failure> {
    workspace.source(name).ok_or_else(|| {
        let names: Vec<&str> = workspace
            .sources
            .iter()
            .filter(|s| s.data == tablero_model::SourceData::Store)
            .map(|s| s.name.value.as_str())
            .collect();
        Failure {
            code: 1,
            message: format!(
                "no source named `{name}` (store sources: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        }
    })
}

/// `tablero ingest SOURCE FILE…`
pub async fn ingest(
    root: &Path,
    name: &str,
    files: &[PathBuf],
    key: Option<&str>,
    sheet: Option<&str>,
) -> Result<(), Failure> {
    let (workspace, calendar) = open(root)?;
    let source = source(&workspace, name)?;
    tablero_store::table::require_store(source)?;
    let mut contents = Vec::new();
    for file in files {
        let format = Format::from_path(file).ok_or_else(|| Failure {
            code: 1,
            message: format!(
                "{}: unknown file type; expected .csv, .ndjson/.jsonl, .json, .parquet or .xlsx",
                file.display()
            ),
        })?;
        let bytes = std::fs::read(file).map_err(|e| Failure {
            code: 1,
            message: format!("{}: cannot read: {e}", file.display()),
        })?;
        contents.push((file.display().to_string(), format, bytes));
    }
    let inputs: Vec<Input> = contents
        .iter()
        .map(|(label, format, bytes)| Input {
            bytes,
            format: *format,
            label,
            sheet,
        })
        .collect();
    let total: u64 = contents.iter().map(|(_, _, b)| b.len() as u64).sum();
    let bar = progress_bar(total);
    let mut progress = |done: u64| bar.set_position(done);
    let appended =
        tablero_store::ingest(root, source, &calendar, &inputs, key, &mut progress).await;
    bar.finish_and_clear();
    let appended = appended?;
    for torn in &appended.set_aside {
        eprintln!(
            "warning: set aside torn version {} of `{name}` before writing ({}); it was never acknowledged — see `tablero store info {name}`",
            torn.version, torn.problem
        );
    }
    let version = appended
        .version
        .map(|v| v.to_string())
        .unwrap_or_else(|| "none yet".to_string());
    if appended.duplicate {
        println!(
            "already stored: idempotency key `{}` was committed before; nothing written (source `{name}`, table version {version})",
            key.unwrap_or_default()
        );
    } else if appended.rows == 0 {
        println!("no rows to store; nothing written (source `{name}`, table version {version})");
    } else {
        println!(
            "stored {} rows into `{name}` (table version {version})",
            appended.rows
        );
    }
    Ok(())
}

/// A progress bar on stderr for inputs large enough to wait for.
fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let visible = total >= 16 << 20 && std::io::IsTerminal::is_terminal(&std::io::stderr());
    if !visible {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "reading {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// `tablero store compact SOURCE`
pub async fn compact(root: &Path, name: &str) -> Result<(), Failure> {
    let (workspace, _) = open(root)?;
    let source = source(&workspace, name)?;
    let compacted = tablero_store::table::compact(root, source).await?;
    match compacted.version {
        None => println!("`{name}` has no rows yet; nothing to compact"),
        Some(version) => println!(
            "compacted `{name}`: {} files → {} (table version {version}, log checkpointed)",
            compacted.files_before, compacted.files_after
        ),
    }
    Ok(())
}

/// `tablero store info SOURCE`
pub async fn info(root: &Path, name: &str) -> Result<(), Failure> {
    let (workspace, _) = open(root)?;
    let source = source(&workspace, name)?;
    let info = tablero_store::table::info(root, source).await?;
    if let Some(warning) = &info.warning {
        eprintln!("warning: {warning}");
    }
    println!("source:      {name}");
    println!("table:       {}", info.path.display());
    for torn in &info.torn {
        println!(
            "torn:        version {} ({}); never acknowledged — the next ingest or `tablero store repair {name}` sets it aside",
            torn.version, torn.problem
        );
    }
    for set in &info.set_aside {
        println!(
            "set aside:   version {} on {} ({}); kept in {}",
            set.version,
            when(set.at),
            set.problem,
            set.folder.display()
        );
    }
    for leftover in &info.leftovers {
        println!("temporary:   {}", leftover_line(leftover));
    }
    let Some(version) = info.version else {
        println!("version:     none (nothing ingested yet)");
        return Ok(());
    };
    println!("version:     {version}");
    println!("files:       {}", info.files);
    println!("rows:        {}", info.rows);
    println!("bytes:       {}", info.bytes);
    if let Some((millis, operation)) = &info.last_commit {
        println!("last commit: {} ({operation})", when(*millis));
    }
    Ok(())
}

/// A temporary file of a write, in words: path, size, age and whether it is abandoned.
fn leftover_line(leftover: &tablero_store::leftovers::Leftover) -> String {
    let state = if leftover.is_abandoned() {
        "left by a write that stopped; the next ingest or `tablero store repair` removes it"
    } else {
        "a write may still be making it"
    };
    format!(
        "{} ({} bytes, last changed {} s ago; {state})",
        leftover.path.display(),
        leftover.bytes,
        leftover.age.as_secs()
    )
}

fn when(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| millis.to_string())
}

/// `tablero store repair SOURCE`
pub async fn repair(root: &Path, name: &str) -> Result<(), Failure> {
    let (workspace, _) = open(root)?;
    let source = source(&workspace, name)?;
    let repaired = tablero_store::table::repair(root, source).await?;
    let version = repaired
        .version
        .map(|v| v.to_string())
        .unwrap_or_else(|| "none yet".to_string());
    for leftover in &repaired.removed {
        println!(
            "removed {} ({} bytes), a temporary file a stopped write left",
            leftover.path.display(),
            leftover.bytes
        );
    }
    for leftover in &repaired.kept {
        println!("kept {}", leftover_line(leftover));
    }
    if repaired.set_aside.is_empty() {
        println!("`{name}` needs no repair: no torn version (table version {version})");
        return Ok(());
    }
    for (torn, folder) in repaired.set_aside.iter().zip(&repaired.folders) {
        println!(
            "set aside torn version {} of `{name}` ({}); its log entry is kept in {}",
            torn.version,
            torn.problem,
            folder.display()
        );
    }
    println!(
        "`{name}` now reads at table version {version}; the next ingest becomes version {}",
        repaired.version.map(|v| v + 1).unwrap_or(0)
    );
    Ok(())
}

/// Stores the example's manual values entered so far (`tablero_example::MANUAL_HISTORY`): each
/// file the generator wrote becomes one batch of its source, as if typed in the form, and is
/// then removed — the store table is where a manual source's rows live.
pub async fn seed_example(root: &Path) -> Result<(), Failure> {
    let (workspace, calendar) = open(root)?;
    for (name, file) in tablero_example::MANUAL_HISTORY {
        let source = source(&workspace, name)?;
        let path = root.join("data").join(file);
        let bytes = std::fs::read(&path).map_err(|e| Failure {
            code: 1,
            message: format!("{}: cannot read: {e}", path.display()),
        })?;
        let label = path.display().to_string();
        let input = Input {
            bytes: &bytes,
            format: Format::Csv,
            label: &label,
            sheet: None,
        };
        tablero_store::ingest(
            root,
            source,
            &calendar,
            &[input],
            Some("example-history"),
            &mut |_| {},
        )
        .await?;
        std::fs::remove_file(&path).map_err(|e| Failure {
            code: 1,
            message: format!("{}: cannot remove: {e}", path.display()),
        })?;
    }
    Ok(())
}
