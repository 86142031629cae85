//! Work a page repeats that depends only on a computed answer — and an answer is one data
//! version's: the band a KPI's own history expects (up to 36 model fits per KPI page) is kept
//! per answer, so a page view after the first fits nothing until new data arrives. Part of
//! the server's shared core.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tablero_engine::KpiResult;
use tablero_forecast::Expected;

/// How many answers' fits are kept.
const KEPT_ANSWERS: usize = 64;

/// An answer, the season and horizon fitted with, and the fit.
type Fit = (Arc<Vec<KpiResult>>, Option<usize>, usize, Arc<Expected>);

/// The expected bands already fitted, per answer.
#[derive(Default)]
pub struct ExpectedMemo {
    fits: Mutex<VecDeque<Fit>>,
}

impl ExpectedMemo {
    /// The fit of `answer`'s series under `season` and `horizon`, made by `fit` unless it was
    /// before.
    pub async fn get_or_fit(
        &self,
        answer: &Arc<Vec<KpiResult>>,
        season: Option<usize>,
        horizon: usize,
        fit: impl FnOnce() -> Expected + Send + 'static,
    ) -> Arc<Expected> {
        let lock = || self.fits.lock().unwrap_or_else(|e| e.into_inner());
        let known = lock()
            .iter()
            .find(|(a, s, h, _)| Arc::ptr_eq(a, answer) && *s == season && *h == horizon)
            .map(|(_, _, _, fit)| fit.clone());
        if let Some(found) = known {
            return found;
        }
        let made = Arc::new(tokio::task::spawn_blocking(fit).await.unwrap_or_default());
        let mut fits = lock();
        if fits.len() >= KEPT_ANSWERS {
            fits.pop_front();
        }
        fits.push_back((answer.clone(), season, horizon, made.clone()));
        made
    }
}
