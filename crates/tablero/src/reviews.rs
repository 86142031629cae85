//! `tablero reviews list [KPI]` (SPEC §6, §12), and the example's first reviews: written into
//! its state database when the example is created, so its dashboard opens with a review
//! history and one overdue action.

use std::path::Path;

use jiff::ToSpan;
use jiff::civil::Date;
use tablero_state::{Action, Review};

use crate::{EXIT_USER, Failure};

async fn open(root: &Path) -> Result<tablero_state::StateDb, Failure> {
    crate::open_state(root).await
}

/// What `tablero reviews list` shows.
pub struct ListOptions {
    /// One KPI's reviews; every KPI's when `None`.
    pub kpi: Option<String>,
    /// Only the KPIs of this owner (as written in the catalog, any case).
    pub owner: Option<String>,
    /// Only the open actions past their due date (and the reviews they belong to).
    pub overdue: bool,
}

/// Prints the reviews of one KPI, or of every KPI (of one owner), newest first, with their
/// actions; with `overdue`, only the open actions past due, counted from today in the
/// workspace's time zone.
pub async fn list(root: &Path, options: ListOptions) -> Result<(), Failure> {
    let (workspace, _) = tablero_model::load_workspace(root);
    let owner_of = |k: &tablero_model::Kpi| k.owner.as_ref().map(|o| o.value.clone());
    if let Some(owner) = &options.owner
        && !workspace
            .kpis
            .iter()
            .any(|k| owner_of(k).is_some_and(|o| o.eq_ignore_ascii_case(owner)))
    {
        let mut owners: Vec<String> = workspace.kpis.iter().filter_map(owner_of).collect();
        owners.sort();
        owners.dedup();
        return Err(Failure {
            code: EXIT_USER,
            message: format!(
                "--owner {owner}: no KPI has this owner; owners: {}",
                owners.join(", ")
            ),
        });
    }
    let ids: Vec<String> = match &options.kpi {
        Some(id) => {
            if workspace.kpi(id).is_none() {
                return Err(Failure {
                    code: EXIT_USER,
                    message: format!("unknown KPI `{id}`"),
                });
            }
            vec![id.clone()]
        }
        None => workspace.kpis.iter().map(|k| k.id.value.clone()).collect(),
    };
    let ids: Vec<String> = ids
        .into_iter()
        .filter(|id| {
            options.owner.as_ref().is_none_or(|owner| {
                workspace
                    .kpi(id)
                    .and_then(owner_of)
                    .is_some_and(|o| o.eq_ignore_ascii_case(owner))
            })
        })
        .collect();
    let zone =
        jiff::tz::TimeZone::get(&workspace.settings.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let today = jiff::Timestamp::now().to_zoned(zone).date().to_string();
    let is_overdue = |a: &Action| a.state == "open" && a.due < today;
    let db = open(root).await?;
    let mut any = false;
    for id in ids {
        for review in db.reviews(&id).await? {
            if options.overdue && !review.actions.iter().any(is_overdue) {
                continue;
            }
            any = true;
            let when = jiff::Timestamp::from_microsecond(review.created_at)
                .map(|t| t.strftime("%Y-%m-%d").to_string())
                .unwrap_or_default();
            out!(
                "{} {}  {} {when}: {}",
                review.kpi,
                review.period,
                review.author,
                review.comment
            );
            if let Some(cause) = &review.cause {
                out!("    cause: {cause}");
            }
            for a in review
                .actions
                .iter()
                .filter(|a| !options.overdue || is_overdue(a))
            {
                let overdue = if is_overdue(a) { " (overdue)" } else { "" };
                out!(
                    "    [{}] {} — {}, {}{overdue}",
                    a.state,
                    a.what,
                    a.who,
                    a.due
                );
            }
        }
    }
    if !any {
        out!(
            "{}",
            if options.overdue {
                "no overdue actions"
            } else {
                "no reviews yet"
            }
        );
    }
    db.close().await;
    Ok(())
}

/// The example's reviews, dated from its last day of data: one of the month with the planted
/// anomaly (first-answer waits), with a done action, an overdue one and one still due; and one
/// of net sales the month before.
pub async fn seed_example(root: &Path, today: Date) -> Result<(), Failure> {
    let db = open(root).await?;
    let month = |back: i32| {
        today
            .first_of_month()
            .checked_sub(back.months())
            .map(|d| d.strftime("%Y-%m").to_string())
            .unwrap_or_default()
    };
    let day = |offset: i64| {
        today
            .checked_add(offset.days())
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    let action = |what: &str, who: &str, due: String, state: &str| Action {
        what: what.into(),
        who: who.into(),
        due,
        state: state.into(),
    };
    let reviews = [
        Review {
            id: String::new(),
            kpi: "ventas_netas_totales".into(),
            period: month(2),
            comment: "Ventas bajo la meta (el año anterior más 10 %).".into(),
            cause: Some(
                "Dos proyectos grandes de Cloud se postergaron al trimestre siguiente.".into(),
            ),
            author: "ejemplo@23people.io".into(),
            created_at: 0,
            actions: vec![action(
                "Reprogramar el kick-off con ambos clientes",
                "comercial@23people.io",
                day(7),
                "open",
            )],
        },
        Review {
            id: String::new(),
            kpi: "tiempo_promedio_espera".into(),
            period: month(1),
            comment: "La espera por la primera respuesta casi se triplicó.".into(),
            cause: Some(
                "La mesa de ayuda estuvo caída nueve días por la migración del sistema de tickets."
                    .into(),
            ),
            author: "ejemplo@23people.io".into(),
            created_at: 0,
            actions: vec![
                action(
                    "Postmortem de la migración",
                    "ti@23people.io",
                    day(-10),
                    "done",
                ),
                action(
                    "Restablecer la guardia de fin de semana",
                    "soporte@23people.io",
                    day(-3),
                    "open",
                ),
                action(
                    "Alerta de espera sobre 60 minutos",
                    "soporte@23people.io",
                    day(14),
                    "open",
                ),
            ],
        },
    ];
    for review in &reviews {
        db.insert_review(review).await?;
    }
    db.close().await;
    Ok(())
}
