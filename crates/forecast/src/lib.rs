//! What a KPI's own history expects (SPEC §12): for each period, the band a model fitted on
//! the periods before it predicts — a value outside it is an *anomaly* — and, after the last
//! complete period, a projection of the next ones with its interval.
//!
//! The model is augurs' MSTL (seasonal-trend decomposition with LOESS, one season per year at
//! the KPI's grain) with an AutoETS model of the trend, whose prediction intervals give the
//! band. A series with gaps, or too short to see a season twice, gets no band: no guess is
//! better than a wrong one. Plain functions over numbers; nothing here knows KPIs or periods.

use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::prelude::*;

/// A predicted value with its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
}

impl Band {
    pub fn contains(&self, value: f64) -> bool {
        self.lower <= value && value <= self.upper
    }
}

/// How sure a band is: values outside a 99 % interval are rare enough to call anomalies.
pub const LEVEL: f64 = 0.99;

/// The two-sided 99 % point of the normal distribution.
const Z_99: f64 = 2.5758;

/// The narrowest band, as a share of the expected value: a KPI within 2 % of what its history
/// expects is never unusual, however regular its past.
pub const MIN_RELATIVE: f64 = 0.02;

/// The root mean square of past one-step errors (the anomalies among them were left out
/// when they were found).
fn error_spread(errors: &[f64]) -> f64 {
    if errors.is_empty() {
        return 0.0;
    }
    (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt()
}

/// Periods per year at a grain (`day` 7 for the week's rhythm); `None` for years.
pub fn season_length(grain: &str) -> Option<usize> {
    match grain {
        "day" => Some(7),
        "week" => Some(52),
        "month" => Some(12),
        "quarter" => Some(4),
        _ => None,
    }
}

/// History a model needs before its first band: two full seasons and one more period, or
/// eight periods without a season.
pub fn min_history(season: Option<usize>) -> usize {
    season.map_or(8, |s| 2 * s + 1)
}

/// Past one-step errors a band needs before it is drawn: its width is learned from them.
pub const CALIBRATION: usize = 6;

/// History a band needs: the model's history plus [`CALIBRATION`] one-step predictions.
pub fn min_band_history(season: Option<usize>) -> usize {
    min_history(season) + CALIBRATION
}

/// The model's point predictions for the `horizon` periods after `history` (no gaps).
pub fn predict(history: &[f64], season: Option<usize>, horizon: usize) -> Option<Vec<f64>> {
    if history.len() < min_history(season) || horizon == 0 {
        return None;
    }
    if history.iter().any(|v| !v.is_finite()) {
        return None;
    }
    // A constant series has nothing to decompose: it is expected to stay.
    if history.iter().all(|v| *v == history[0]) {
        return Some(vec![history[0]; horizon]);
    }
    let periods = season.map(|s| vec![s]).unwrap_or_default();
    let model = MSTLModel::new(periods, AutoETS::non_seasonal().into_trend_model());
    let fitted = model.fit(history).ok()?;
    let forecast = fitted.predict(horizon, None).ok()?;
    forecast
        .point
        .iter()
        .all(|p| p.is_finite())
        .then_some(forecast.point)
}

/// The band around a prediction `h` periods ahead: the 99 % spread of the model's own past
/// one-step errors, growing with
/// the square root of `h`, and never narrower than [`MIN_RELATIVE`] of the value.
/// The errors' spread is their root mean square: anomalies never enter it (see [`expected`]).
fn band_around(expected: f64, errors: &[f64], h: usize) -> Band {
    let recent = &errors[errors.len().saturating_sub(24)..];
    let half = (Z_99 * error_spread(recent) * (h as f64).sqrt()).max(MIN_RELATIVE * expected.abs());
    Band {
        expected,
        lower: expected - half,
        upper: expected + half,
    }
}

/// For each position, the band predicted one step ahead from every value before it, when
/// those values are enough and have no gap (see [`expected`]).
pub fn one_step_bands(values: &[Option<f64>], season: Option<usize>) -> Vec<Option<Band>> {
    expected(values, season, 0).bands
}

/// A series' one-step bands and its projection `horizon` periods past its end.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub bands: Vec<Option<Band>>,
    pub projection: Option<Vec<Band>>,
}

/// Walks the series in order: at each position the model is fitted on the values before it
/// and predicts the next one; the errors of those predictions set the width of the later
/// bands. A value found outside its band enters the later fits as the value expected in its
/// place, so one anomaly neither bends the predictions after it nor widens their bands.
///
/// The history starts at the first value other than zero: the periods before a KPI's data
/// begins read as zero (an empty sum), and no model should learn from them.
pub fn expected(values: &[Option<f64>], season: Option<usize>, horizon: usize) -> Expected {
    let start = values
        .iter()
        .position(|v| matches!(v, Some(x) if *x != 0.0))
        .unwrap_or(values.len());
    let mut found = expected_from(&values[start..], season, horizon);
    let mut bands = vec![None; start];
    bands.append(&mut found.bands);
    found.bands = bands;
    found
}

fn expected_from(values: &[Option<f64>], season: Option<usize>, horizon: usize) -> Expected {
    let mut cleaned: Vec<Option<f64>> = Vec::with_capacity(values.len());
    let mut errors: Vec<f64> = Vec::new();
    let mut bands = Vec::with_capacity(values.len());
    for value in values {
        let history: Option<Vec<f64>> = cleaned.iter().copied().collect();
        let point = history
            .and_then(|h| predict(&h, season, 1))
            .and_then(|p| p.first().copied());
        let band = point
            .filter(|_| errors.len() >= CALIBRATION)
            .map(|p| band_around(p, &errors, 1));
        let unusual = matches!((band, value), (Some(b), Some(v)) if !b.contains(*v));
        if let (Some(p), Some(v), false) = (point, value, unusual) {
            errors.push(v - p);
        }
        cleaned.push(if unusual { point } else { *value });
        bands.push(band);
    }
    let history: Option<Vec<f64>> = cleaned.iter().copied().collect();
    let projection = history
        .and_then(|h| predict(&h, season, horizon))
        .filter(|_| errors.len() >= CALIBRATION)
        .map(|points| {
            points
                .iter()
                .enumerate()
                .map(|(h, p)| band_around(*p, &errors, h + 1))
                .collect()
        });
    Expected { bands, projection }
}

/// Whether each value falls outside its one-step band (false where there is no band or no
/// value).
pub fn anomalies(values: &[Option<f64>], season: Option<usize>) -> Vec<bool> {
    one_step_bands(values, season)
        .iter()
        .zip(values)
        .map(|(band, value)| matches!((band, value), (Some(b), Some(v)) if !b.contains(*v)))
        .collect()
}

/// A monthly series with what real KPIs have — a trend, a yearly season, noise — for tests
/// and demonstrations: month `m` is `100 + m + 20·sin(2πm/12)` plus noise in [-3, 3].
pub mod sample {
    pub fn month(m: usize) -> f64 {
        let season = 20.0 * (2.0 * std::f64::consts::PI * (m % 12) as f64 / 12.0).sin();
        // SplitMix64 of m, mapped to [-3, 3]: noise without a pattern a model could learn.
        let mut z = (m as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let noise = (z % 10_000) as f64 / 10_000.0 * 6.0 - 3.0;
        100.0 + m as f64 + season + noise
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sample::month;

    fn seasonal(months: usize) -> Vec<Option<f64>> {
        (0..months).map(|m| Some(month(m))).collect()
    }

    #[test]
    fn ordinary_seasonal_months_are_not_anomalies() {
        let values = seasonal(48);
        let flagged: Vec<usize> = anomalies(&values, Some(12))
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.then_some(i))
            .collect();
        assert!(flagged.is_empty(), "flagged {flagged:?}");
        // Bands exist from month 31 on: two seasons and one more of history, then six
        // one-step predictions to learn their width from.
        let bands = one_step_bands(&values, Some(12));
        assert!(bands[..31].iter().all(Option::is_none));
        assert!(bands[31..].iter().all(Option::is_some));
    }

    #[test]
    fn a_planted_spike_is_an_anomaly_and_the_seasonal_peak_is_not() {
        let mut values = seasonal(40);
        // Month 36 (a seasonal low, sin(0) = 0 → about 136) is planted at half its value.
        let expected_36 = values[36].unwrap();
        values[36] = Some(expected_36 / 2.0);
        let flags = anomalies(&values, Some(12));
        assert!(flags[36], "the planted month is found");
        // Month 27 is a seasonal peak (sin(3·π/6) = 1 → about 147): not an anomaly.
        assert!(!flags[27]);
        let flagged: Vec<usize> = flags
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.then_some(i))
            .collect();
        assert_eq!(flagged, [36], "only the planted month");
    }

    #[test]
    fn the_zeros_before_a_kpis_data_begins_are_not_history() {
        let mut values = vec![Some(0.0); 12];
        values.extend(seasonal(40));
        let bands = one_step_bands(&values, Some(12));
        // The same 31 periods of history are needed after the zeros as without them.
        assert!(bands[..12 + 31].iter().all(Option::is_none));
        assert!(bands[12 + 31..].iter().all(Option::is_some));
        assert_eq!(
            anomalies(&values, Some(12)).iter().filter(|a| **a).count(),
            0
        );
    }

    #[test]
    fn gaps_and_short_series_get_no_band() {
        let mut values = seasonal(30);
        values[10] = None;
        assert!(
            one_step_bands(&values, Some(12))
                .iter()
                .all(Option::is_none)
        );
        assert!(predict(&[1.0, 2.0, 3.0], Some(12), 3).is_none());
        assert!(
            expected(&seasonal(30), Some(12), 3).projection.is_none(),
            "30 < 31 months"
        );
    }

    #[test]
    fn a_projection_follows_trend_and_season() {
        let values: Vec<f64> = seasonal(36).into_iter().flatten().collect();
        let series: Vec<Option<f64>> = values.iter().copied().map(Some).collect();
        let bands = expected(&series, Some(12), 3).projection.unwrap();
        for (h, band) in bands.iter().enumerate() {
            // The series' own next values (without wobble) lie inside the bands.
            let m = 36 + h;
            let truth = month(m);
            assert!(band.contains(truth), "h={h}: {truth} not in {band:?}");
            assert!(band.lower < band.expected && band.expected < band.upper);
        }
    }
}
