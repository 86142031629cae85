//! The query strings every surface reads, and the workspace load they are read against: a
//! values request's parameters (`ValuesQuery`), a page's pickers (`PageQuery`), an `as_of`
//! instant — each bad value a 400 naming its parameter — and `loaded`, the workspace as it is
//! now or why it does not load. Part of the server's shared core: it imports no feature.

use std::sync::Arc;

use serde::Deserialize;
use tablero_calendar::Grain;
use tablero_engine::{KpiResult, Request};
use utoipa::IntoParams;

use crate::error::AppError;
use crate::state::{AppState, Loaded, Snapshot};

/// `text` (a date or an RFC 3339 instant) as the `as_of` instant; none when empty.
pub fn as_of(loaded: &Loaded, text: Option<&str>) -> Result<Option<jiff::Timestamp>, AppError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => loaded
            .engine
            .calendar()
            .parse_as_of(t)
            .map(Some)
            .map_err(|e| AppError::bad_parameter("as_of", e)),
    }
}

/// Parameters of a values request; all optional.
#[derive(Deserialize, IntoParams, Default, Debug, Clone)]
#[into_params(parameter_in = Query)]
pub struct ValuesQuery {
    /// First period label at the grain (default: eleven periods before `to`).
    pub from: Option<String>,
    /// Last period label, included (default: the current, partial period).
    pub to: Option<String>,
    /// day, week, month, quarter or year (default: the KPI's own grain).
    pub grain: Option<String>,
    /// A declared dimension: one value per dimension value.
    pub by: Option<String>,
    /// A condition on the rows, e.g. `linea_servicio = 'Cloud'`.
    #[serde(rename = "where")]
    #[param(rename = "where")]
    pub filter: Option<String>,
    /// Compute as if it were this moment: a date or an RFC 3339 instant.
    pub as_of: Option<String>,
}

impl ValuesQuery {
    /// The engine request for some KPIs; parameter errors name the parameter.
    pub fn request(&self, loaded: &Loaded, kpis: Vec<String>) -> Result<Request, AppError> {
        let empty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        let grain = match empty(&self.grain) {
            None => None,
            Some(g) => Some(Grain::parse(&g).ok_or_else(|| {
                AppError::bad_parameter(
                    "grain",
                    format!("`{g}` is not a grain; expected day, week, month, quarter or year"),
                )
            })?),
        };
        let as_of = as_of(loaded, self.as_of.as_deref())?;
        Ok(Request {
            kpis,
            from: empty(&self.from),
            to: empty(&self.to),
            grain,
            by: empty(&self.by),
            filter: empty(&self.filter),
            as_of,
        })
    }
}

/// The workspace as it is now, or the problem that keeps it from loading.
pub async fn loaded(state: &AppState) -> Result<std::sync::Arc<Loaded>, AppError> {
    loaded_in(&state.snapshot().await)
}

/// The workspace load of `snapshot`: a page that shows the snapshot's errors too takes both
/// from one look at the files.
pub fn loaded_in(snapshot: &Snapshot) -> Result<std::sync::Arc<Loaded>, AppError> {
    snapshot.loaded.clone().ok_or_else(|| {
        AppError::unavailable(format!(
            "the workspace has errors: {}",
            snapshot
                .errors
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

/// Query parameters of every page: the range pickers, the filter and the language.
#[derive(Deserialize, Default, Debug, Clone)]
pub struct PageQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub grain: Option<String>,
    #[serde(rename = "where")]
    pub filter: Option<String>,
    pub as_of: Option<String>,
    pub lang: Option<String>,
}

impl PageQuery {
    pub(crate) fn values(&self) -> ValuesQuery {
        ValuesQuery {
            from: self.from.clone(),
            to: self.to.clone(),
            grain: self.grain.clone(),
            by: None,
            filter: self.filter.clone(),
            as_of: self.as_of.clone(),
        }
    }

    /// This page's query string with the language changed, for the language switch.
    pub(crate) fn with_lang(&self, lang: &str) -> String {
        self.query_string(Some(lang))
    }

    /// The query string to carry to links, language included when one was chosen.
    pub(crate) fn carry(&self) -> String {
        self.query_string(self.lang.as_deref())
    }

    fn query_string(&self, lang: Option<&str>) -> String {
        let lang = lang.map(str::to_string);
        let pairs = [
            ("lang", &lang),
            ("from", &self.from),
            ("to", &self.to),
            ("grain", &self.grain),
            ("where", &self.filter),
            ("as_of", &self.as_of),
        ];
        let parts: Vec<String> = pairs
            .iter()
            .filter_map(|(k, v)| {
                v.as_ref()
                    .filter(|v| !v.is_empty() && v.len() <= MAX_CARRIED)
                    .map(|v| format!("{k}={}", encode(v)))
            })
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

/// Longest parameter value carried into the page's links: a longer one (a hostile `where`)
/// would be repeated in every link and multiply the page's size.
const MAX_CARRIED: usize = 1_000;

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The KPIs `kpis` (every KPI when empty) computed for a page's query.
pub async fn compute_page(
    state: &AppState,
    loaded: &Loaded,
    query: &PageQuery,
    kpis: Vec<String>,
) -> Result<Arc<Vec<KpiResult>>, AppError> {
    let request = query.values().request(loaded, kpis)?;
    state
        .compute(loaded, &request)
        .await
        .map_err(AppError::from_compute)
}
