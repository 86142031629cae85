//! A KPI's card — the engine's judged view of it, formatted for people (value, target, status,
//! change, sparkline, the period in progress with its pace and forecast) — and the memo that
//! builds one answer's cards once for everyone. Part of the server's shared core: the home
//! page, a scorecard, the wall screen and the KPI page show the same card.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tablero_engine::{InProgress, KpiResult, Verdict};
use tablero_model::display::{format_value, status_label};
use tablero_model::{Kpi, Locale};

use crate::chart;
use crate::i18n::Texts;

/// A value formatted for people in the page's language.
pub struct Fmt<'a> {
    pub locale: Locale,
    pub currency: &'a str,
}

impl Fmt<'_> {
    pub fn value(&self, kpi: &Kpi, v: Option<f64>) -> String {
        v.map(|v| format_value(v, kpi.unit, kpi.decimals, self.locale, self.currency))
            .unwrap_or_else(|| "—".into())
    }

    pub fn change(&self, kpi: &Kpi, v: Option<f64>) -> String {
        match v {
            Some(v) if v > 0.0 => format!("▲ +{}", self.value(kpi, Some(v))),
            Some(v) if v < 0.0 => format!("▼ {}", self.value(kpi, Some(v))),
            Some(_) => format!("= {}", self.value(kpi, Some(0.0))),
            None => "—".into(),
        }
    }
}

/// A KPI's card: its judged latest value, target, status, change, sparkline and the period in
/// progress, formatted.
pub struct Card {
    pub id: String,
    pub name: String,
    pub value: String,
    pub target: String,
    pub status: String,
    pub status_label: String,
    pub period: String,
    pub change: String,
    pub change_class: String,
    pub sparkline: String,
    pub partial: Option<String>,
}

/// The cards of an answer in a language, one per result in its order (none for a result
/// whose KPI the workspace lacks).
type Cards = Arc<Vec<Option<Arc<Card>>>>;

/// Cards already built, per answer and language. Building a card formats each of its values
/// and draws its sparkline; one answer is shown to everyone asking for the same page, so its
/// cards are built once. Who may see which card is decided per request, afterwards.
#[derive(Default)]
pub struct CardMemo {
    built: Mutex<VecDeque<Built>>,
}

/// An answer, the language its cards are in, and the cards.
type Built = (Arc<Vec<KpiResult>>, Locale, Cards);

/// How many answers' cards are kept.
const MEMO_ANSWERS: usize = 32;

impl CardMemo {
    /// The cards of `results`, built now unless they were before. An answer is only shared
    /// between loads of the same definitions (see `AppState::computed`), so the KPIs'
    /// names, units and the currency the cards show are those of `workspace`.
    pub fn cards(
        &self,
        results: &Arc<Vec<KpiResult>>,
        workspace: &tablero_model::Workspace,
        fmt: &Fmt,
        t: &Texts,
    ) -> Cards {
        let lock = || self.built.lock().unwrap_or_else(|e| e.into_inner());
        let known = lock()
            .iter()
            .find(|(answer, locale, _)| Arc::ptr_eq(answer, results) && *locale == fmt.locale)
            .map(|(_, _, cards)| cards.clone());
        if let Some(cards) = known {
            return cards;
        }
        let cards: Cards = Arc::new(
            results
                .iter()
                .map(|r| workspace.kpi(&r.kpi).map(|k| Arc::new(card(k, r, fmt, t))))
                .collect(),
        );
        let mut built = lock();
        if built.len() >= MEMO_ANSWERS {
            built.pop_front();
        }
        built.push_back((results.clone(), fmt.locale, cards.clone()));
        cards
    }
}

/// ` · pace P · forecast F` (or why the forecast is not shown yet) of a period in progress.
pub fn pace_and_forecast(now: InProgress, kpi: &Kpi, fmt: &Fmt, t: &Texts) -> String {
    let mut text = String::new();
    if let Some(pace) = now.value.pace_target {
        text.push_str(&format!(" · {} {}", t.pace, fmt.value(kpi, Some(pace))));
    }
    match (now.forecast, now.too_early, now.elapsed) {
        (Some(f), _, _) => text.push_str(&format!(" · {} {}", t.forecast, fmt.value(kpi, Some(f)))),
        (None, true, Some(share)) => text.push_str(&format!(
            " · {}",
            t.too_early
                .replace("{share}", &format!("{:.0}", share * 100.0))
        )),
        _ => {}
    }
    text
}

/// The card of `kpi` from its computed `result`: the engine's judged view, formatted.
pub fn card(kpi: &Kpi, result: &KpiResult, fmt: &Fmt, t: &Texts) -> Card {
    let judged = result.judged();
    let change = judged.change.map(|c| c.delta);
    let better = judged.change.map_or(Verdict::Same, |c| c.verdict).as_str();
    let partial = judged.in_progress.map(|now| {
        let p = now.value;
        let mut text = format!("{} {}: {}", t.in_progress, p.label, fmt.value(kpi, p.value));
        text.push_str(&pace_and_forecast(now, kpi, fmt, t));
        text.push_str(&format!(
            " ({})",
            status_label(p.status.as_str(), fmt.locale)
        ));
        text
    });
    let status = judged.status().as_str();
    let series: Vec<Option<f64>> = result
        .values
        .iter()
        .filter(|v| !v.partial)
        .map(|v| v.value)
        .collect();
    let series = &series[series.len().saturating_sub(12)..];
    Card {
        id: kpi.id.value.clone(),
        name: kpi.name.clone(),
        value: fmt.value(kpi, judged.value()),
        target: fmt.value(kpi, judged.target()),
        status: status.to_string(),
        status_label: status_label(status, fmt.locale).to_string(),
        period: judged.label().to_string(),
        change: fmt.change(kpi, change),
        change_class: better.to_string(),
        sparkline: chart::sparkline(series, status),
        partial,
    }
}
