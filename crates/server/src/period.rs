//! `?period=P&as_of=T&lang=es|en`: the one-period views (a KPI tree, a funnel) and how they
//! resolve the period — a label at the view's grain, or the period the engine judges latest for
//! the view's KPI (its latest complete period with a value, as every other surface shows it).

use serde::Deserialize;
use tablero_calendar::{Grain, Period};

use crate::error::AppError;
use crate::state::{AppState, Loaded};

/// The query of a one-period view.
#[derive(Deserialize, utoipa::IntoParams, Default, Debug)]
pub struct PeriodQuery {
    /// A period label at the view's grain; the latest complete period by default.
    pub period: Option<String>,
    /// As if it were this instant.
    pub as_of: Option<String>,
    /// `es` or `en`; the workspace's language by default.
    pub lang: Option<String>,
}

impl PeriodQuery {
    /// The `as_of` instant (when given) and the period at `grain`: the one asked for, or
    /// `kpi`'s judged latest (the calendar's last complete period when no complete period has
    /// been computed); a bad value is 400 naming its parameter.
    pub async fn resolve(
        &self,
        state: &AppState,
        loaded: &Loaded,
        kpi: &str,
        grain: Grain,
    ) -> Result<(Option<jiff::Timestamp>, Period), AppError> {
        let calendar = loaded.engine.calendar();
        let as_of = crate::query::as_of(loaded, self.as_of.as_deref())?;
        let period = match self.period.as_deref().map(str::trim) {
            None | Some("") => {
                let request = tablero_engine::Request {
                    kpis: vec![kpi.to_string()],
                    grain: Some(grain),
                    as_of,
                    ..tablero_engine::Request::default()
                };
                let results = state
                    .compute(loaded, &request)
                    .await
                    .map_err(AppError::from_compute)?;
                match results.first().and_then(|r| r.judged().latest) {
                    Some(latest) => latest.period,
                    None => calendar.shift(
                        calendar.period_of(grain, as_of.unwrap_or_else(jiff::Timestamp::now)),
                        -1,
                    ),
                }
            }
            Some(label) => calendar
                .parse_period(grain, label)
                .map_err(|e| AppError::bad_parameter("period", e))?,
        };
        Ok((as_of, period))
    }
}
