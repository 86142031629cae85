//! What one caller may see and change, decided in one place (SPEC §13). A [`View`] is made
//! from the caller and the loaded workspace — the ids of the KPIs it sees are worked out when it
//! is made, one pass over the catalog, so a handler makes one and the page frame and insights
//! make their own — and every feature asks it: which KPIs, dashboards, funnel
//! stages and tree drivers it shows, which formula text it may read, whose reviews and manual
//! values it may change, which sources it may write, whether it may make share links. A hidden
//! KPI is answered exactly as an unknown one.

use std::collections::HashSet;

use axum::http::StatusCode;
use serde::Serialize;
use tablero_access::{Principal, Visitor};
use tablero_model::{Dashboard, Kpi, Source};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{AppError, Code};
use crate::query::PageQuery;
use crate::state::Loaded;

/// What a formula's text says in place of a KPI the reader may not see.
pub const HIDDEN_KPI: &str = "(hidden)";

/// One caller's view of one loaded workspace.
pub struct View<'a> {
    caller: &'a Caller,
    loaded: &'a Loaded,
    /// The ids of the KPIs the caller sees.
    seen: HashSet<&'a str>,
}

impl<'a> View<'a> {
    pub fn new(caller: &'a Caller, loaded: &'a Loaded) -> View<'a> {
        let seen = loaded
            .engine
            .workspace()
            .kpis
            .iter()
            .filter(|k| caller.sees(k))
            .map(|k| k.id.value.as_str())
            .collect();
        View {
            caller,
            loaded,
            seen,
        }
    }

    pub fn caller(&self) -> &'a Caller {
        self.caller
    }

    pub fn workspace(&self) -> &'a tablero_model::Workspace {
        self.loaded.engine.workspace()
    }

    /// Whether the caller sees the KPI with this id (false for unknown ids).
    pub fn sees(&self, id: &str) -> bool {
        self.seen.contains(id)
    }

    /// The KPI of this id if the caller sees it; a hidden KPI is answered as unknown (404).
    pub fn kpi(&self, id: &str) -> Result<&'a Kpi, AppError> {
        self.loaded
            .engine
            .workspace()
            .kpi(id)
            .filter(|k| self.sees(&k.id.value))
            .ok_or_else(|| AppError::not_found(format!("unknown KPI `{id}`")))
    }

    /// The KPIs the caller sees, in catalog order.
    pub fn kpis(&self) -> impl Iterator<Item = &'a Kpi> + '_ {
        self.loaded
            .engine
            .workspace()
            .kpis
            .iter()
            .filter(|k| self.sees(&k.id.value))
    }

    /// The KPIs `id` is built on that the caller may not see: its formula and target name
    /// them [`HIDDEN_KPI`], and its query is not shown (it would spell them out).
    pub fn hidden_in(&self, id: &str) -> Vec<String> {
        self.loaded
            .engine
            .catalog()
            .kpis_of(id)
            .into_iter()
            .filter(|k| !self.sees(k))
            .collect()
    }

    /// Whether `id` builds on a KPI the caller may not see.
    pub fn hides_a_dependency(&self, id: &str) -> bool {
        !self.hidden_in(id).is_empty()
    }

    /// A formula's or target's text of `id` as the caller may read it.
    pub fn formula_text(&self, id: &str, text: &str) -> String {
        let hidden = self.hidden_in(id);
        let hidden: Vec<&str> = hidden.iter().map(String::as_str).collect();
        without_kpis(text, &hidden)
    }

    /// A KPI's definition as the viewer may read it: its formula and target name no KPI the caller
    /// may not see (SPEC §13).
    pub fn definition(&self, kpi: &Kpi) -> KpiDefinition {
        let dimensions = self.loaded.engine.dimensions(&kpi.id.value);
        let shown = |text: &str| self.formula_text(&kpi.id.value, text);
        KpiDefinition {
            id: kpi.id.value.clone(),
            name: kpi.name.clone(),
            description: kpi.description.clone(),
            owner: kpi.owner.as_ref().map(|o| o.value.clone()),
            tags: kpi.tags.clone(),
            kind: kpi.kind.map(|k| match k {
                tablero_model::KpiKind::Leading => "leading".to_string(),
                tablero_model::KpiKind::Lagging => "lagging".to_string(),
            }),
            unit: kpi.unit.as_str().to_string(),
            decimals: kpi.decimals,
            direction: match kpi.direction {
                tablero_model::Direction::Up => "up".into(),
                tablero_model::Direction::Down => "down".into(),
            },
            grain: kpi.grain_or_default().as_str().to_string(),
            formula: kpi.formula.as_ref().map(|f| shown(&f.value)),
            target: kpi.target.as_ref().map(|t| match t {
                tablero_model::Target::Constant(v) => v.to_string(),
                tablero_model::Target::Formula(f) => shown(&f.value),
            }),
            dimensions,
        }
    }
}

impl<'a> View<'a> {
    /// A dashboard and the ids of its KPIs the caller sees. A dashboard whose every KPI is
    /// hidden is answered as unknown, on every surface that shows it.
    pub fn dashboard(&self, id: &str) -> Result<(&'a Dashboard, Vec<String>), AppError> {
        let unknown = || AppError::not_found(format!("unknown dashboard `{id}`"));
        let dashboard = self
            .loaded
            .engine
            .workspace()
            .dashboard(id)
            .ok_or_else(unknown)?;
        let ids: Vec<String> = dashboard
            .kpis
            .iter()
            .map(|k| k.value.clone())
            .filter(|k| self.sees(k))
            .collect();
        if ids.is_empty() && !dashboard.kpis.is_empty() {
            return Err(unknown());
        }
        Ok((dashboard, ids))
    }

    /// [`View::dashboard`] for a page: its grain becomes the query's when the query names
    /// none.
    pub fn dashboard_for(
        &self,
        id: &str,
        query: &mut PageQuery,
    ) -> Result<(&'a Dashboard, Vec<String>), AppError> {
        let (dashboard, ids) = self.dashboard(id)?;
        if query.grain.is_none()
            && let Some(g) = dashboard.grain
        {
            query.grain = Some(g.as_str().to_string());
        }
        Ok((dashboard, ids))
    }

    /// The dashboards the caller sees a KPI of, in catalog order.
    pub fn dashboards(&self) -> Vec<&'a Dashboard> {
        self.loaded
            .engine
            .workspace()
            .dashboards
            .iter()
            .filter(|d| d.kpis.iter().any(|k| self.sees(&k.value)))
            .collect()
    }

    /// Whether the caller may write reviews and annotations of this KPI: 403 otherwise.
    pub fn edits(&self, kpi: &Kpi) -> Result<(), AppError> {
        if self.may_edit(kpi) {
            Ok(())
        } else {
            Err(forbidden(
                "only editors of this KPI's owner (or admins) write its reviews",
            ))
        }
    }

    /// Whether the caller may write reviews and annotations of this KPI.
    pub fn may_edit(&self, kpi: &Kpi) -> bool {
        self.caller
            .visitor
            .edits_owner(kpi.owner.as_ref().map(|o| o.value.as_str()))
    }

    /// Whether the caller may write an annotation about no KPI in particular (admins, and
    /// everyone without accounts): 403 otherwise.
    pub fn annotates_everything(&self) -> Result<(), AppError> {
        if self.caller.visitor.edits_owner(None) {
            Ok(())
        } else {
            Err(forbidden(
                "an annotation without a KPI is for admins (name the KPI it is about)",
            ))
        }
    }

    /// Whether the caller may push rows at all (editors and admins); which sources, see
    /// [`View::writes_source`].
    pub fn pushes_rows(&self) -> bool {
        self.caller.visitor.may_push_rows()
    }

    /// Whether the caller may push rows to a store source or enter a manual source's values:
    /// an editor of its `owner:`, or without one, of every owner of the KPIs that read it;
    /// admins.
    pub fn writes_source(&self, source: &Source) -> bool {
        let name = &source.name.value;
        let catalog = self.loaded.engine.catalog();
        let readers = self
            .workspace()
            .kpis
            .iter()
            .filter(|k| catalog.sources_of(&k.id.value).contains(name))
            .map(|k| k.owner.as_ref().map(|o| o.value.as_str()));
        self.caller
            .visitor
            .writes_source(source.owner.as_ref().map(|o| o.value.as_str()), readers)
    }

    /// The manual sources `id` reads whose values the caller may enter.
    pub fn entries_of(&self, id: &str) -> Vec<&'a Source> {
        let workspace = self.loaded.engine.workspace();
        self.loaded
            .engine
            .catalog()
            .sources_of(id)
            .iter()
            .filter_map(|s| workspace.source(s))
            .filter(|s| s.manual && self.writes_source(s))
            .collect()
    }
}

/// The account that may make and revoke share links, and whether it may touch everyone's.
pub fn sharer(caller: &Caller) -> Result<(&Principal, bool), AppError> {
    match &caller.visitor {
        Visitor::Signed(p) if caller.visitor.may_push_rows() => {
            Ok((p, p.role == tablero_state::Role::Admin))
        }
        Visitor::Signed(_) => Err(forbidden("share links are made by editors and admins")),
        // Without accounts the server is one person's, on loopback: nothing to share past.
        Visitor::Everyone => Err(AppError {
            status: StatusCode::CONFLICT,
            code: Code::NoAccounts,
            message: "share links need accounts (tablero users add): without them every page is already open".into(),
        }),
        Visitor::Anonymous => Err(AppError {
            status: StatusCode::UNAUTHORIZED,
            code: Code::Unauthorized,
            message: "sign in first".into(),
        }),
    }
}

/// A KPI's definition.
#[derive(Serialize, ToSchema)]
pub struct KpiDefinition {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub tags: Vec<String>,
    /// leading or lagging.
    pub kind: Option<String>,
    pub unit: String,
    pub decimals: u8,
    /// up or down: which way is better.
    pub direction: String,
    pub grain: String,
    pub formula: Option<String>,
    /// A constant target, or the text of a target formula.
    pub target: Option<String>,
    /// The dimensions every source of the KPI has (valid values of `by`).
    pub dimensions: Vec<String>,
}

fn forbidden(message: &str) -> AppError {
    AppError {
        status: StatusCode::FORBIDDEN,
        code: Code::Forbidden,
        message: message.into(),
    }
}

/// A formula's text with each KPI of `hidden` named [`HIDDEN_KPI`]: a name not next to a `.`
/// (which would make it a source's, as in `ventas.total`) and not part of a longer name.
pub fn without_kpis(formula: &str, hidden: &[&str]) -> String {
    if hidden.is_empty() {
        return formula.to_string();
    }
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(formula.len());
    let mut rest = formula;
    let mut before: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        if is_name(c) && !before.is_some_and(|b| is_name(b) || b == '.') {
            let end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
            let (word, after) = rest.split_at(end);
            if hidden.contains(&word) && !after.starts_with('.') {
                out.push_str(HIDDEN_KPI);
            } else {
                out.push_str(word);
            }
            before = word.chars().last();
            rest = after;
            continue;
        }
        out.push(c);
        before = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::without_kpis;

    #[test]
    fn a_formula_names_no_hidden_kpi() {
        let cases = [
            ("ventas / personas", &["ventas"][..], "(hidden) / personas"),
            (
                "ventas.total / ventas",
                &["ventas"],
                "ventas.total / (hidden)",
            ),
            (
                "mis_ventas * ventas_netas",
                &["ventas"],
                "mis_ventas * ventas_netas",
            ),
            ("a*b/(a+c)", &["a", "c"], "(hidden)*b/((hidden)+(hidden))"),
            ("ventas / personas", &[], "ventas / personas"),
            ("año / ventas", &["ventas"], "año / (hidden)"),
        ];
        for (formula, hidden, shown) in cases {
            assert_eq!(without_kpis(formula, hidden), shown, "{formula}");
        }
    }
}
