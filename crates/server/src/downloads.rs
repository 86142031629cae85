//! Tables as downloads (SPEC §7): a KPI's periods as CSV (in the page's language: `;` and a
//! decimal comma in Spanish) or XLSX, and the values API's `Accept: text/csv`. The numbers are
//! the page's own (the same request, the same cache); `tablero-export` writes the bytes.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tablero_engine::KpiResult;
use tablero_export::{Cell, Column, Table};
use tablero_model::{Kpi, Locale};

use tablero_wire::values_table;

use crate::access::View;
use crate::auth::Caller;
use crate::error::AppError;
use crate::i18n::texts;
use crate::query::PageQuery;
use crate::query::loaded;
use crate::state::AppState;

/// The locale and its column names of a KPI's periods table.
fn words(locale: Locale) -> (Locale, [&'static str; 4]) {
    let (t, _) = texts(Some(if locale == Locale::Es { "es" } else { "en" }), locale);
    (locale, [t.period, t.value, t.target, t.status])
}

/// The kinds of file a table downloads as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Csv,
    Xlsx,
}

impl FileKind {
    /// The `{kind}` of a download's path, checked before anything is computed.
    fn parse(kind: &str) -> Result<FileKind, AppError> {
        match kind {
            "csv" => Ok(FileKind::Csv),
            "xlsx" => Ok(FileKind::Xlsx),
            _ => Err(AppError::not_found(
                "no such download: the kinds are `csv` and `xlsx`",
            )),
        }
    }

    /// `table` as this kind of file named `stem`, for a reader in `locale`.
    fn file(
        self,
        table: &Table,
        stem: &str,
        sheet: &str,
        locale: Locale,
    ) -> Result<Response, AppError> {
        match self {
            FileKind::Csv => Ok(attachment(
                tablero_export::csv_for_spreadsheets(table, locale).map_err(AppError::internal)?,
                "text/csv; charset=utf-8",
                &format!("{stem}.csv"),
            )),
            FileKind::Xlsx => Ok(attachment(
                tablero_export::xlsx(table, sheet).map_err(AppError::internal)?,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                &format!("{stem}.xlsx"),
            )),
        }
    }
}

fn attachment(bytes: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// GET /kpi/{id}/download/csv and /kpi/{id}/download/xlsx: the KPI page's periods table.
pub async fn kpi_periods(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(file): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    let (id, kind) = file;
    let kind = FileKind::parse(&kind)?;
    let loaded = loaded(&state).await?;
    let workspace = loaded.engine.workspace();
    let kpi = View::new(&caller, &loaded).kpi(&id)?;
    let (_, locale) = texts(query.lang.as_deref(), workspace.settings.locale);
    let request = query.values().request(&loaded, vec![id.clone()])?;
    let results = state
        .compute(&loaded, &request)
        .await
        .map_err(AppError::from_compute)?;
    let result = results
        .first()
        .ok_or_else(|| AppError::internal("no result"))?;
    let table = values_table(kpi, result, Some(words(locale)));
    kind.file(&table, &id, &kpi.name, locale)
}

/// The values API's CSV (`Accept: text/csv`): `kpi,period,<dim>,value,target,status`.
pub fn values_csv(kpi: &Kpi, result: &KpiResult) -> Result<Response, AppError> {
    let table = values_table(kpi, result, None);
    Ok(attachment(
        tablero_export::csv_for_programs(&table).map_err(AppError::internal)?,
        "text/csv; charset=utf-8",
        &format!("{}.csv", kpi.id.value),
    ))
}

/// Each KPI's latest complete period as a table: KPI, owner, period, value, target, % of
/// target, status (in words). Units differ between rows, so numbers carry no unit format.
pub fn latest_table(
    results: &[KpiResult],
    ids: Option<&[String]>,
    view: &View,
    locale: Locale,
) -> Table {
    let (t, _) = texts(Some(if locale == Locale::Es { "es" } else { "en" }), locale);
    let text = |name: &str| Column {
        name: name.into(),
        number: None,
    };
    let columns = vec![
        text("KPI"),
        text(t.owner),
        text(t.period),
        text(t.value),
        text(t.target),
        text(t.of_target),
        text(t.status),
    ];
    let mut rows = Vec::new();
    for result in results {
        if ids.is_some_and(|ids| !ids.contains(&result.kpi)) {
            continue;
        }
        let Ok(kpi) = view.kpi(&result.kpi) else {
            continue;
        };
        let judged = result.judged();
        rows.push(vec![
            Cell::Text(kpi.name.clone()),
            Cell::Text(
                kpi.owner
                    .as_ref()
                    .map(|o| o.value.clone())
                    .unwrap_or_default(),
            ),
            Cell::Text(judged.label().to_string()),
            Cell::Number(judged.value()),
            Cell::Number(judged.target()),
            Cell::Number(judged.of_target()),
            Cell::Text(
                tablero_model::display::status_label(judged.status().as_str(), locale).to_string(),
            ),
        ]);
    }
    Table { columns, rows }
}

/// `?period=P&lang=…&as_of=…&where=…` of a breakdown's download.
#[derive(serde::Deserialize, Default)]
pub struct BreakdownQuery {
    pub period: Option<String>,
    pub lang: Option<String>,
    pub as_of: Option<String>,
    #[serde(rename = "where")]
    pub filter: Option<String>,
}

/// GET /kpi/{id}/breakdown/{dim}/download/{csv|xlsx}?period=P: the KPI page's breakdown by one
/// of its dimensions at one period (the latest complete one by default), one row per value.
pub async fn breakdown(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, dim, kind)): Path<(String, String, String)>,
    Query(query): Query<BreakdownQuery>,
) -> Result<Response, AppError> {
    let kind = FileKind::parse(&kind)?;
    let loaded = loaded(&state).await?;
    let workspace = loaded.engine.workspace();
    let view = View::new(&caller, &loaded);
    let kpi = view.kpi(&id)?;
    if !view.definition(kpi).dimensions.contains(&dim) {
        return Err(AppError::not_found(format!(
            "KPI `{id}` has no dimension `{dim}`"
        )));
    }
    let (_, locale) = texts(query.lang.as_deref(), workspace.settings.locale);
    if let Some(p) = &query.period {
        loaded
            .engine
            .calendar()
            .parse_period(kpi.grain_or_default(), p)
            .map_err(|e| AppError::bad_parameter("period", e))?;
    }
    // Without a period: the latest complete one with a value, as the KPI page shows (the
    // KPI computed as the page computes it, undivided).
    let period = match &query.period {
        Some(p) => p.trim().to_string(),
        None => {
            let page = PageQuery {
                filter: query.filter.clone(),
                as_of: query.as_of.clone(),
                ..PageQuery::default()
            };
            let request = page.values().request(&loaded, vec![id.clone()])?;
            let whole = state
                .compute(&loaded, &request)
                .await
                .map_err(AppError::from_compute)?;
            whole
                .first()
                .map(|r| r.judged().label().to_string())
                .unwrap_or_default()
        }
    };
    let page = PageQuery {
        from: Some(period.clone()).filter(|p| !p.is_empty()),
        to: Some(period.clone()).filter(|p| !p.is_empty()),
        filter: query.filter.clone(),
        as_of: query.as_of.clone(),
        lang: query.lang.clone(),
        ..PageQuery::default()
    };
    let mut values = page.values();
    values.by = Some(dim.clone());
    let request = values.request(&loaded, vec![id.clone()])?;
    let results = state
        .compute(&loaded, &request)
        .await
        .map_err(AppError::from_compute)?;
    let mut result = results
        .first()
        .ok_or_else(|| AppError::internal("no result"))?
        .clone();
    result
        .values
        .retain(|v| query.period.is_some() || v.label == period);
    let table = values_table(kpi, &result, Some(words(locale)));
    let name = format!("{id}-{dim}-{period}");
    kind.file(&table, &name, &id, locale)
}

/// GET /download/{kind} (the home page's KPIs) and /dashboards/{id}/download/{kind} (a
/// scorecard's): each KPI's latest complete period, as CSV or XLSX.
pub async fn latest(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(params): Path<Vec<(String, String)>>,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let kind = FileKind::parse(&get("kind").unwrap_or_default())?;
    let loaded = loaded(&state).await?;
    let workspace = loaded.engine.workspace();
    let view = View::new(&caller, &loaded);
    let (_, locale) = texts(query.lang.as_deref(), workspace.settings.locale);
    let mut query = query;
    let (ids, name) = match get("id") {
        Some(id) => {
            let (_, ids) = view.dashboard_for(&id, &mut query)?;
            (Some(ids), id)
        }
        None => (None, "kpis".to_string()),
    };
    let mut values = query.values();
    values.by = None;
    let request = values.request(&loaded, ids.clone().unwrap_or_default())?;
    let results = state
        .compute(&loaded, &request)
        .await
        .map_err(AppError::from_compute)?;
    let table = latest_table(&results, ids.as_deref(), &view, locale);
    kind.file(&table, &name, &name, locale)
}
