//! KPI trees (issue: why a KPI moved): for a KPI whose formula is a product or ratio of other
//! KPIs, each driver's value, target, status and change, and the parent's change from the
//! period before and from a year ago split into one contribution per driver by the exact
//! logarithmic decomposition of `tablero_formula::tree` — at `GET /api/v1/kpis/{id}/tree` and on
//! the page `/kpi/{id}/tree`, with the arithmetic written out.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Extension, Json};
use serde::Serialize;
use tablero_calendar::Period;
use tablero_engine::{KpiValue, Request};
use tablero_formula::tree::{Tree, Undecomposable, contributions, kpi_tree, log_mean};
use tablero_model::display::{format_value, status_label};
use tablero_model::{Kpi, Locale};
use utoipa::ToSchema;

use crate::access::View;
use crate::auth::Caller;
use crate::error::AppError;
use crate::frame::{Frame, frame, render};
use crate::period::PeriodQuery;
use crate::query::PageQuery;
use crate::query::{loaded, loaded_in};
use crate::state::{AppState, Loaded};

/// A KPI tree at one period.
#[derive(Serialize, ToSchema, Debug)]
pub struct KpiTree {
    pub kpi: String,
    pub name: String,
    pub formula: String,
    /// The number the drivers' product is multiplied by (e.g. 0.01 for `… / 100`).
    pub constant: f64,
    pub period: String,
    pub value: Option<f64>,
    pub target: Option<f64>,
    pub status: String,
    pub drivers: Vec<TreeDriver>,
    /// The change from the period before, then from the same period a year earlier.
    pub changes: Vec<TreeChange>,
}

/// One driver at the tree's period.
#[derive(Serialize, ToSchema, Debug)]
pub struct TreeDriver {
    /// Null when the account may not see it (SPEC §13: a hidden part is named as hidden,
    /// without its id, name or numbers).
    pub kpi: Option<String>,
    pub name: Option<String>,
    /// 1 when it multiplies, −1 when it divides.
    pub exponent: i32,
    /// The account may not see this KPI: no numbers are given for it, and no split.
    pub hidden: bool,
    pub value: Option<f64>,
    pub target: Option<f64>,
    pub status: Option<String>,
    pub previous: Option<f64>,
    pub change: Option<f64>,
}

/// The parent's change against an earlier period, split per driver.
#[derive(Serialize, ToSchema, Debug)]
pub struct TreeChange {
    /// `previous` or `year_ago`.
    pub against: &'static str,
    /// The earlier period.
    pub period: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
    pub change: Option<f64>,
    /// `L(after, before) = (after − before) / (ln after − ln before)`, the weight of each
    /// driver's log change.
    pub log_mean: Option<f64>,
    /// One per driver, in the drivers' order; they add up to `change`. Absent when the change
    /// cannot be split (see `undecomposed`).
    pub contributions: Option<Vec<Contribution>>,
    /// Why there is no split: `missing` (a value is null), `not_positive` (a value is zero or
    /// negative, so it has no logarithm) or `hidden` (a driver the account may not see).
    pub undecomposed: Option<&'static str>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct Contribution {
    pub kpi: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
    pub contribution: f64,
}

/// The tree of `id` at the period asked for, as this caller may see it.
async fn build(
    state: &AppState,
    loaded: &Loaded,
    caller: &Caller,
    id: &str,
    query: &PeriodQuery,
) -> Result<(KpiTree, Tree), AppError> {
    let workspace = loaded.engine.workspace();
    let view = View::new(caller, loaded);
    let kpi = view.kpi(id)?;
    let tree = kpi_tree(workspace, id).ok_or_else(|| {
        AppError::not_found(format!(
            "KPI `{id}` is not a product or ratio of other KPIs, so it has no tree"
        ))
    })?;
    let calendar = loaded.engine.calendar();
    let grain = kpi.grain_or_default();
    let (as_of, period) = query.resolve(state, loaded, id, grain).await?;
    let previous = calendar.shift(period, -1);
    let year_ago = calendar.year_ago(period);
    let visible: Vec<bool> = tree.drivers.iter().map(|d| view.sees(&d.kpi)).collect();
    let mut wanted = vec![id.to_string()];
    wanted.extend(
        tree.drivers
            .iter()
            .zip(&visible)
            .filter(|(_, v)| **v)
            .map(|(d, _)| d.kpi.clone()),
    );
    let results = state
        .compute(
            loaded,
            &Request {
                kpis: wanted,
                from: Some(calendar.label(year_ago.min(previous))),
                to: Some(calendar.label(period)),
                grain: Some(grain),
                as_of,
                ..Request::default()
            },
        )
        .await
        .map_err(AppError::from_compute)?;
    // KPI → period label → value.
    let values: HashMap<&str, HashMap<&str, &KpiValue>> = results
        .iter()
        .map(|r| {
            let by_label = r
                .values
                .iter()
                .filter(|v| v.dim.is_none())
                .map(|v| (v.label.as_str(), v))
                .collect();
            (r.kpi.as_str(), by_label)
        })
        .collect();
    let at = |kpi: &str, p: Period| -> Option<&KpiValue> {
        values.get(kpi)?.get(calendar.label(p).as_str()).copied()
    };
    let value_at = |kpi: &str, p: Period| at(kpi, p).and_then(|v| v.value);
    let now = at(id, period);
    let drivers: Vec<TreeDriver> = tree
        .drivers
        .iter()
        .zip(&visible)
        .map(|(d, visible)| {
            let name = workspace
                .kpi(&d.kpi)
                .map(|k| k.name.clone())
                .unwrap_or_else(|| d.kpi.clone());
            if !visible {
                return TreeDriver {
                    kpi: None,
                    name: None,
                    exponent: d.exponent,
                    hidden: true,
                    value: None,
                    target: None,
                    status: None,
                    previous: None,
                    change: None,
                };
            }
            let current = at(&d.kpi, period);
            let value = current.and_then(|v| v.value);
            let before = value_at(&d.kpi, previous);
            TreeDriver {
                kpi: Some(d.kpi.clone()),
                name: Some(name),
                exponent: d.exponent,
                hidden: false,
                value,
                target: current.and_then(|v| v.target),
                status: current.map(|v| v.status.as_str().to_string()),
                previous: before,
                change: value.zip(before).map(|(a, b)| a - b),
            }
        })
        .collect();
    let hidden = visible.iter().any(|v| !v);
    let change = |against: &'static str, earlier: Period| {
        let before = value_at(id, earlier);
        let after = now.and_then(|v| v.value);
        let driver_values = |p: Period| -> Vec<Option<f64>> {
            tree.drivers.iter().map(|d| value_at(&d.kpi, p)).collect()
        };
        let (b, a) = (driver_values(earlier), driver_values(period));
        let split = if hidden {
            Err("hidden")
        } else {
            contributions(&tree, &b, &a).map_err(|e| match e {
                Undecomposable::Missing => "missing",
                Undecomposable::NotPositive => "not_positive",
            })
        };
        TreeChange {
            against,
            period: calendar.label(earlier),
            before,
            after,
            change: after.zip(before).map(|(a, b)| a - b),
            log_mean: match (&split, after, before) {
                (Ok(_), Some(a), Some(b)) => Some(log_mean(a, b)),
                _ => None,
            },
            undecomposed: split.as_ref().err().copied(),
            contributions: split.ok().map(|parts| {
                tree.drivers
                    .iter()
                    .zip(parts)
                    .zip(b.iter().zip(&a))
                    .map(|((d, contribution), (before, after))| Contribution {
                        kpi: d.kpi.clone(),
                        before: *before,
                        after: *after,
                        contribution,
                    })
                    .collect()
            }),
        }
    };
    let changes = vec![change("previous", previous), change("year_ago", year_ago)];
    let built = KpiTree {
        kpi: id.to_string(),
        name: kpi.name.clone(),
        formula: kpi
            .formula
            .as_ref()
            .map(|f| view.formula_text(id, &f.value))
            .unwrap_or_default(),
        constant: tree.constant,
        period: calendar.label(period),
        value: now.and_then(|v| v.value),
        target: now.and_then(|v| v.target),
        status: now
            .map(|v| v.status.as_str())
            .unwrap_or("no_data")
            .to_string(),
        drivers,
        changes,
    };
    Ok((built, tree))
}

/// A KPI's drivers and the split of its change from the period before and from a year ago.
#[utoipa::path(get, path = "/kpis/{id}/tree", tag = "kpis", operation_id = "kpi_tree",
    params(("id" = String, Path, description = "KPI id"), PeriodQuery),
    responses((status = 200, body = KpiTree),
        (status = 400, description = "a bad `period` or `as_of`"),
        (status = 404, description = "no such KPI, or not a product or ratio of KPIs")))]
pub async fn api(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<PeriodQuery>,
) -> Result<Json<KpiTree>, AppError> {
    let loaded = loaded(&state).await?;
    Ok(Json(build(&state, &loaded, &caller, &id, &query).await?.0))
}

/// One driver's row on the page.
struct DriverRow {
    id: String,
    name: String,
    operator: &'static str,
    hidden: bool,
    value: String,
    target: String,
    status: String,
    status_label: String,
    previous: String,
    change: String,
}

/// One comparison on the page: the change, each driver's share, and the arithmetic.
struct ChangeView {
    title: String,
    period: String,
    before: String,
    after: String,
    change: String,
    /// (driver name, before → after, contribution, share of the change in %).
    parts: Vec<(String, String, String, String)>,
    /// The arithmetic, one line each.
    arithmetic: Vec<String>,
    /// Why there is no split.
    undecomposed: Option<String>,
}

#[derive(Template)]
#[template(path = "tree.html")]
struct TreePage {
    frame: Frame,
    w: &'static Words,
    id: String,
    formula: String,
    period: String,
    value: String,
    target: String,
    status: String,
    status_label: String,
    drivers: Vec<DriverRow>,
    changes: Vec<ChangeView>,
}

/// `/kpi/{id}/tree`: the tree as a page.
pub async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<PeriodQuery>,
) -> Result<Response, AppError> {
    let snapshot = state.snapshot().await;
    let loaded = loaded_in(&snapshot)?;
    let (tree, _) = build(&state, &loaded, &caller, &id, &query).await?;
    let workspace = loaded.engine.workspace();
    let page_query = PageQuery {
        as_of: query.as_of.clone(),
        lang: query.lang.clone(),
        ..PageQuery::default()
    };
    let (frame, locale) = frame(
        &snapshot.errors,
        &loaded,
        &caller,
        &page_query,
        format!(
            "{} — {}",
            tree.name,
            texts(crate::i18n::texts(query.lang.as_deref(), workspace.settings.locale).1).title
        ),
    );
    let t = texts(locale);
    let currency = workspace.settings.currency.as_str();
    let show = |kpi: &str, v: Option<f64>| -> String {
        match (workspace.kpi(kpi), v) {
            (Some(k), Some(v)) => fmt(k, v, locale, currency),
            _ => "—".to_string(),
        }
    };
    let signed = |kpi: &str, v: Option<f64>| -> String {
        match v {
            Some(v) if v > 0.0 => format!("+{}", show(kpi, Some(v))),
            _ => show(kpi, v),
        }
    };
    let drivers = tree
        .drivers
        .iter()
        .enumerate()
        .map(|(i, d)| DriverRow {
            id: d.kpi.clone().unwrap_or_default(),
            name: d
                .name
                .clone()
                .unwrap_or_else(|| t.hidden_driver.to_string()),
            operator: match (i, d.exponent) {
                (0, e) if e > 0 => "",
                (_, e) if e > 0 => "×",
                _ => "÷",
            },
            hidden: d.hidden,
            value: show(d.kpi.as_deref().unwrap_or_default(), d.value),
            target: show(d.kpi.as_deref().unwrap_or_default(), d.target),
            status: d.status.clone().unwrap_or_default(),
            status_label: d
                .status
                .as_deref()
                .map(|s| status_label(s, locale).to_string())
                .unwrap_or_default(),
            previous: show(d.kpi.as_deref().unwrap_or_default(), d.previous),
            change: signed(d.kpi.as_deref().unwrap_or_default(), d.change),
        })
        .collect();
    let number = |v: f64| format_value(v, tablero_model::Unit::Number, 4, locale, currency);
    let changes = tree
        .changes
        .iter()
        .map(|c| {
            let mut parts = Vec::new();
            let mut arithmetic = Vec::new();
            if let (Some(list), Some(l), Some(change)) = (&c.contributions, c.log_mean, c.change) {
                arithmetic.push(format!(
                    "L = ({} − {}) / (ln {} − ln {}) = {}",
                    show(&tree.kpi, c.after),
                    show(&tree.kpi, c.before),
                    number(c.after.unwrap_or_default()),
                    number(c.before.unwrap_or_default()),
                    number(l)
                ));
                let mut total = 0.0;
                for (part, driver) in list.iter().zip(&tree.drivers) {
                    total += part.contribution;
                    let sign = if driver.exponent < 0 { "−" } else { "" };
                    let name = driver.name.clone().unwrap_or_default();
                    arithmetic.push(format!(
                        "{name}: {sign}L × ln({} / {}) = {}",
                        number(part.after.unwrap_or_default()),
                        number(part.before.unwrap_or_default()),
                        signed(&tree.kpi, Some(part.contribution))
                    ));
                    parts.push((
                        name,
                        format!(
                            "{} → {}",
                            show(&part.kpi, part.before),
                            show(&part.kpi, part.after)
                        ),
                        signed(&tree.kpi, Some(part.contribution)),
                        if change != 0.0 {
                            format_value(
                                100.0 * part.contribution / change,
                                tablero_model::Unit::Percent,
                                0,
                                locale,
                                currency,
                            )
                        } else {
                            "—".to_string()
                        },
                    ));
                }
                arithmetic.push(format!("{} = {}", t.sum, signed(&tree.kpi, Some(total))));
            }
            ChangeView {
                title: if c.against == "previous" {
                    t.vs_previous.to_string()
                } else {
                    t.vs_year_ago.to_string()
                },
                period: c.period.clone(),
                before: show(&tree.kpi, c.before),
                after: show(&tree.kpi, c.after),
                change: signed(&tree.kpi, c.change),
                parts,
                arithmetic,
                undecomposed: c.undecomposed.map(|why| match why {
                    "hidden" => t.why_hidden.to_string(),
                    "not_positive" => t.why_not_positive.to_string(),
                    _ => t.why_missing.to_string(),
                }),
            }
        })
        .collect();
    render(
        axum::http::StatusCode::OK,
        TreePage {
            frame,
            w: t,
            id: tree.kpi.clone(),
            formula: tree.formula.clone(),
            period: tree.period.clone(),
            value: show(&tree.kpi, tree.value),
            target: show(&tree.kpi, tree.target),
            status_label: status_label(&tree.status, locale).to_string(),
            status: tree.status,
            drivers,
            changes,
        },
    )
}

fn fmt(kpi: &Kpi, v: f64, locale: Locale, currency: &str) -> String {
    format_value(v, kpi.unit, kpi.decimals, locale, currency)
}

/// The page's own words.
struct Words {
    title: &'static str,
    driver: &'static str,
    status: &'static str,
    previous: &'static str,
    change: &'static str,
    contribution: &'static str,
    share: &'static str,
    method: &'static str,
    sum: &'static str,
    vs_previous: &'static str,
    vs_year_ago: &'static str,
    why_hidden: &'static str,
    hidden_driver: &'static str,
    why_missing: &'static str,
    why_not_positive: &'static str,
}

fn texts(locale: Locale) -> &'static Words {
    match locale {
        Locale::Es => &Words {
            title: "árbol de KPI",
            driver: "Impulsor",
            status: "Estado",
            previous: "Periodo anterior",
            change: "Cambio",
            contribution: "Contribución al cambio",
            share: "Parte del cambio",
            method: "Cada impulsor aporta L × ln(valor nuevo / valor anterior), con L = (V₁ − V₀) / (ln V₁ − ln V₀) la media logarítmica del KPI (descomposición LMDI): las contribuciones suman exactamente el cambio, sin residuo.",
            sum: "Suma de las contribuciones",
            vs_previous: "Cambio respecto del periodo anterior",
            vs_year_ago: "Cambio respecto de hace un año",
            why_hidden: "No se descompone: un impulsor es un KPI que tu cuenta no puede ver.",
            hidden_driver: "Un KPI que tu cuenta no puede ver",
            why_missing: "No se descompone: falta el valor de un impulsor en uno de los periodos.",
            why_not_positive: "No se descompone: un impulsor vale cero o menos en uno de los periodos (no tiene logaritmo).",
        },
        Locale::En => &Words {
            title: "KPI tree",
            driver: "Driver",
            status: "Status",
            previous: "Period before",
            change: "Change",
            contribution: "Contribution to the change",
            share: "Share of the change",
            method: "Each driver contributes L × ln(new value / old value), where L = (V₁ − V₀) / (ln V₁ − ln V₀) is the KPI's logarithmic mean (LMDI decomposition): the contributions add up to the change exactly, with no residual.",
            sum: "Sum of the contributions",
            vs_previous: "Change from the period before",
            vs_year_ago: "Change from a year ago",
            why_hidden: "Not split: a driver is a KPI your account may not see.",
            hidden_driver: "A KPI your account may not see",
            why_missing: "Not split: a driver has no value in one of the periods.",
            why_not_positive: "Not split: a driver is zero or negative in one of the periods (it has no logarithm).",
        },
    }
}

/// This feature's API routes, merged into the API in `app`.
pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(api))
}
