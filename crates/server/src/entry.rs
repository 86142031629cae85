//! Manual values (SPEC §12): a source with `manual: true` gets a form — one typed field per
//! column — whose rows editors (and admins) enter on the dashboard. A value is checked as an
//! ingested batch checks it, and a problem is shown next to its field; a save is one store
//! batch with the form's own idempotency key, so a double submit stores it once.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tablero_model::{ColumnType, Source};

use crate::access::View;
use crate::auth::{Caller, CheckedForm};
use crate::error::{AppError, Code};
use crate::frame::{Frame, frame};
use crate::query::PageQuery;
use crate::query::loaded_in;
use crate::state::{AppState, Loaded};

/// One field of the form.
pub struct Field {
    pub name: String,
    /// The HTML input type.
    pub input: &'static str,
    pub step: &'static str,
    pub value: String,
    pub problem: Option<String>,
    pub required: bool,
}

#[derive(Template)]
#[template(path = "entry.html")]
struct EntryPage {
    frame: Frame,
    source: String,
    label: String,
    fields: Vec<Field>,
    csrf: String,
    key: String,
    saved: bool,
    /// KPIs that read this source: (id, name).
    kpis: Vec<(String, String)>,
}

#[derive(Deserialize, Default)]
pub struct EntryQuery {
    saved: Option<String>,
    lang: Option<String>,
}

/// The manual source of this name, if the caller may enter its rows.
fn manual_source<'w>(
    loaded: &'w Loaded,
    caller: &Caller,
    name: &str,
) -> Result<&'w Source, AppError> {
    let source = loaded
        .engine
        .workspace()
        .source(name)
        .filter(|s| s.manual)
        .ok_or_else(|| AppError::not_found(format!("no manual source named `{name}`")))?;
    if !View::new(caller, loaded).writes_source(source) {
        return Err(AppError {
            status: StatusCode::FORBIDDEN,
            code: Code::Forbidden,
            message: format!(
                "entering values of `{name}` needs an admin's account or an editor's of its owner (the source's `owner:`, or every owner of the KPIs that read it)"
            ),
        });
    }
    Ok(source)
}

fn input_type(ty: ColumnType) -> (&'static str, &'static str) {
    match ty {
        ColumnType::Date => ("date", ""),
        ColumnType::Timestamp => ("datetime-local", ""),
        ColumnType::Integer => ("number", "1"),
        ColumnType::Number => ("text", ""),
        ColumnType::Boolean => ("text", ""),
        ColumnType::String => ("text", ""),
    }
}

fn new_key() -> String {
    format!(
        "form-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

fn fields(source: &Source, values: &HashMap<String, String>) -> Vec<Field> {
    source
        .columns
        .iter()
        .map(|c| {
            let (input, step) = input_type(c.ty);
            Field {
                name: c.name.clone(),
                input,
                step,
                value: values.get(&c.name).cloned().unwrap_or_default(),
                problem: None,
                required: source.time.as_ref().is_some_and(|t| t.value == c.name),
            }
        })
        .collect()
}

fn readers(loaded: &Loaded, caller: &Caller, source: &str) -> Vec<(String, String)> {
    View::new(caller, loaded)
        .kpis()
        .filter(|k| {
            loaded
                .engine
                .catalog()
                .sources_of(&k.id.value)
                .iter()
                .any(|s| s == source)
        })
        .map(|k| (k.id.value.clone(), k.name.clone()))
        .collect()
}

fn render(status: StatusCode, page: EntryPage) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => AppError::internal(err).into_response(),
    }
}

/// GET /sources/{name}/entry: the form.
pub async fn entry_page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<EntryQuery>,
) -> Result<Response, AppError> {
    let snapshot = state.snapshot().await;
    let loaded = loaded_in(&snapshot)?;
    let source = manual_source(&loaded, &caller, &name)?;
    let page_query = PageQuery {
        lang: query.lang.clone(),
        ..PageQuery::default()
    };
    let label = source.label.clone().unwrap_or_else(|| name.clone());
    let (frame, _) = frame(
        &snapshot.errors,
        &loaded,
        &caller,
        &page_query,
        label.clone(),
    );
    Ok(render(
        StatusCode::OK,
        EntryPage {
            frame,
            source: name.clone(),
            label,
            fields: fields(source, &HashMap::new()),
            csrf: caller.csrf.clone().unwrap_or_default(),
            key: new_key(),
            saved: query.saved.is_some(),
            kpis: readers(&loaded, &caller, &name),
        },
    ))
}

/// POST /sources/{name}/entry: checks every field, then stores the row as one batch.
pub async fn entry_submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    CheckedForm(form): CheckedForm<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let snapshot = state.snapshot().await;
    let loaded = loaded_in(&snapshot)?;
    let source = manual_source(&loaded, &caller, &name)?.clone();
    let calendar = loaded.engine.calendar().clone();
    let values: HashMap<String, String> = source
        .columns
        .iter()
        .map(|c| {
            let v = form
                .get(&c.name)
                .map(|v| v.trim().to_string())
                .unwrap_or_default();
            (c.name.clone(), v)
        })
        .collect();
    let mut shown = fields(&source, &values);
    let mut problems = 0;
    for field in &mut shown {
        let Some(column) = source.column(&field.name) else {
            continue;
        };
        let text = &values[&field.name];
        // A form's numbers are written with a decimal point, whatever the source's files use.
        let csv = tablero_model::CsvOptions {
            delimiter: b',',
            decimal: '.',
        };
        let problem = if field.required && text.is_empty() {
            Some("a value is needed".to_string())
        } else if column.ty == ColumnType::Timestamp && !text.is_empty() {
            tablero_store::rows::check_text(&local_time(text), column, &csv, &calendar)
                .err()
                .map(|e| format!("expected {e}"))
        } else {
            tablero_store::rows::check_text(text, column, &csv, &calendar)
                .err()
                .map(|e| format!("expected {e}"))
        };
        if problem.is_some() {
            problems += 1;
        }
        field.problem = problem;
    }
    let key = form
        .get("key")
        .filter(|k| !k.is_empty() && k.len() <= 100 && k.is_ascii())
        .cloned()
        .unwrap_or_else(new_key);
    if problems > 0 {
        let label = source.label.clone().unwrap_or_else(|| name.clone());
        let (frame, _) = frame(
            &snapshot.errors,
            &loaded,
            &caller,
            &PageQuery::default(),
            label.clone(),
        );
        return Ok(render(
            StatusCode::BAD_REQUEST,
            EntryPage {
                frame,
                source: name.clone(),
                label,
                fields: shown,
                csrf: caller.csrf.clone().unwrap_or_default(),
                key,
                saved: false,
                kpis: readers(&loaded, &caller, &name),
            },
        ));
    }
    // One row as CSV in the form's notation (a comma between fields, a decimal point).
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = source.columns.iter().map(|c| c.name.as_str()).collect();
    let row: Vec<String> = source
        .columns
        .iter()
        .map(|c| {
            let v = &values[&c.name];
            if c.ty == ColumnType::Timestamp && !v.is_empty() {
                local_time(v)
            } else {
                v.clone()
            }
        })
        .collect();
    writer
        .write_record(&header)
        .and_then(|()| writer.write_record(&row))
        .map_err(AppError::internal)?;
    let bytes = writer.into_inner().map_err(AppError::internal)?;
    let mut form_source = source.clone();
    form_source.csv = tablero_model::CsvOptions {
        delimiter: b',',
        decimal: '.',
    };
    let root = state.root().to_path_buf();
    let runtime = tokio::runtime::Handle::current();
    let Some(_turn) = state.ingest_turn().await else {
        return Err(AppError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: Code::Busy,
            message: "other batches are being stored; try again shortly".into(),
        });
    };
    tokio::task::spawn_blocking(move || {
        let input = tablero_store::rows::Input {
            bytes: &bytes,
            format: tablero_store::rows::Format::Csv,
            label: "the form",
            sheet: None,
        };
        runtime.block_on(tablero_store::ingest(
            &root,
            &form_source,
            &calendar,
            &[input],
            Some(&key),
            &mut |_| {},
        ))
    })
    .await
    .map_err(|e| AppError::internal(format!("storing the row stopped: {e}")))?
    .map_err(|e| AppError {
        status: if e.is_user_error() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        code: Code::NotStored,
        message: e.to_string(),
    })?;
    state.invalidate();
    Ok(Redirect::to(&format!("/sources/{name}/entry?saved=1")).into_response())
}

/// `datetime-local` sends `2026-03-15T10:30`; a timestamp column reads seconds too.
fn local_time(text: &str) -> String {
    if text.len() == 16 && text.as_bytes().get(10) == Some(&b'T') {
        format!("{text}:00")
    } else {
        text.to_string()
    }
}
