//! The checker: resolves every name of a workspace's formulas and filters, checks types,
//! finds cycles between KPIs, and reports every problem with its file, line and column.
//!
//! It turns [`ast::Expr`](crate::ast::Expr) written by people into [`Formula`] and
//! [`RowExpr`] the engine can trust.

use std::collections::{BTreeMap, HashMap};

use tablero_model::{Diagnostic, Kpi, Location, Source, Target, Text, Workspace};

use crate::ast::{BinaryOp, Expr, ExprKind, Ident, Literal, UnaryOp};
use crate::ir::*;

/// A KPI whose formula and target passed the checker.
#[derive(Debug, Clone)]
pub struct CheckedKpi {
    pub id: String,
    pub formula: Formula,
    pub target: Option<CheckedTarget>,
}

#[derive(Debug, Clone)]
pub enum CheckedTarget {
    Constant(f64),
    Formula(Formula),
}

/// The KPIs that passed the checker, by id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub kpis: BTreeMap<String, CheckedKpi>,
}

impl Catalog {
    pub fn get(&self, id: &str) -> Option<&CheckedKpi> {
        self.kpis.get(id)
    }

    /// The sources a KPI reads, through the KPIs it builds on too.
    pub fn sources_of(&self, id: &str) -> Vec<String> {
        let mut sources = Vec::new();
        let mut seen = Vec::new();
        self.collect_sources(id, &mut sources, &mut seen);
        sources.sort();
        sources.dedup();
        sources
    }

    /// The KPIs a KPI builds on, through its formula and target, transitively (itself
    /// excluded), sorted.
    pub fn kpis_of(&self, id: &str) -> Vec<String> {
        let mut seen = vec![id.to_string()];
        let mut pending = vec![id.to_string()];
        while let Some(next) = pending.pop() {
            let Some(kpi) = self.kpis.get(&next) else {
                continue;
            };
            let mut refs = Vec::new();
            let mut note = |f: &Formula| {
                if let Formula::Kpi(k) = f {
                    refs.push(k.clone());
                }
            };
            kpi.formula.visit(&mut note);
            if let Some(CheckedTarget::Formula(target)) = &kpi.target {
                target.visit(&mut note);
            }
            for r in refs {
                if !seen.contains(&r) {
                    seen.push(r.clone());
                    pending.push(r);
                }
            }
        }
        seen.remove(0);
        seen.sort();
        seen
    }

    fn collect_sources(&self, id: &str, sources: &mut Vec<String>, seen: &mut Vec<String>) {
        if seen.iter().any(|s| s == id) {
            return;
        }
        seen.push(id.to_string());
        let Some(kpi) = self.kpis.get(id) else { return };
        let mut refs = Vec::new();
        kpi.formula.visit(&mut |f| match f {
            Formula::Aggregate(a) => sources.push(a.source.clone()),
            Formula::Kpi(k) => refs.push(k.clone()),
            _ => {}
        });
        for r in refs {
            self.collect_sources(&r, sources, seen);
        }
    }
}

/// Checks every source and KPI of the workspace.
pub fn check_workspace(workspace: &Workspace) -> (Catalog, Vec<Diagnostic>) {
    let mut checker = Checker::new(workspace);
    for source in &workspace.sources {
        checker.check_source(source);
    }
    let mut catalog = Catalog::default();
    for kpi in &workspace.kpis {
        let formula = match &kpi.formula {
            Some(text) => checker.formula_text(text),
            None => {
                checker.error(
                    kpi.id.location.clone(),
                    format!("KPI `{}` has no `formula`", kpi.id.value),
                );
                None
            }
        };
        let target = match &kpi.target {
            None => Some(None),
            Some(Target::Constant(v)) => Some(Some(CheckedTarget::Constant(*v))),
            Some(Target::Formula(text)) => checker
                .formula_text(text)
                .map(|f| Some(CheckedTarget::Formula(f))),
        };
        if let (Some(formula), Some(target)) = (formula, target) {
            catalog.kpis.insert(
                kpi.id.value.clone(),
                CheckedKpi {
                    id: kpi.id.value.clone(),
                    formula,
                    target,
                },
            );
        }
    }
    checker.check_cycles(&mut catalog);
    for dashboard in &workspace.dashboards {
        for kpi in &dashboard.kpis {
            if workspace.kpi(&kpi.value).is_none() {
                let message = format!(
                    "dashboard `{}` shows unknown KPI `{}`",
                    dashboard.id, kpi.value
                );
                checker.error(kpi.location.clone(), message);
            }
        }
    }
    checker.diagnostics.extend(check_alerts(workspace));
    checker.diagnostics.extend(check_reports(workspace));
    for insight in &workspace.insights {
        if let Err(errors) = crate::insight::insight_condition(workspace, &insight.when) {
            checker.diagnostics.extend(errors);
        }
    }
    (catalog, checker.diagnostics)
}

/// Scheduled reports against the catalog: the dashboard they send, and the `[smtp]` they need.
fn check_reports(workspace: &Workspace) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for report in &workspace.reports {
        let id = &report.id.value;
        if workspace.dashboard(&report.dashboard.value).is_none() {
            let known: Vec<&str> = workspace.dashboards.iter().map(|d| d.id.as_str()).collect();
            out.push(Diagnostic::error(
                Some(report.dashboard.location.clone()),
                format!(
                    "report `{id}` sends unknown dashboard `{}`; dashboards: {}",
                    report.dashboard.value,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        if workspace.settings.smtp.is_none() {
            out.push(Diagnostic::error(
                Some(report.id.location.clone()),
                format!("report `{id}` is sent by e-mail, but tablero.toml has no [smtp]"),
            ));
        }
    }
    out
}

/// The alert rules of SPEC §12 against the catalog: the KPIs, owner and tags they name, their
/// value conditions, and the settings their notifications need.
fn check_alerts(workspace: &Workspace) -> Vec<Diagnostic> {
    use tablero_model::{AlertSelect, AlertWhen, Notify};
    let mut out = Vec::new();
    for rule in &workspace.alerts {
        let id = &rule.id.value;
        match &rule.select {
            AlertSelect::Kpis(kpis) => {
                for kpi in kpis {
                    if workspace.kpi(&kpi.value).is_none() {
                        out.push(Diagnostic::error(
                            Some(kpi.location.clone()),
                            format!("alert rule `{id}` watches unknown KPI `{}`", kpi.value),
                        ));
                    }
                }
            }
            AlertSelect::Owner(owner) => {
                let owns = workspace
                    .kpis
                    .iter()
                    .any(|k| k.owner.as_ref().is_some_and(|o| o.value == owner.value));
                if !owns {
                    out.push(Diagnostic::error(
                        Some(owner.location.clone()),
                        format!("alert rule `{id}`: no KPI has owner `{}`", owner.value),
                    ));
                }
            }
            AlertSelect::Tags(tags) => {
                for tag in tags {
                    if !workspace.kpis.iter().any(|k| k.tags.contains(&tag.value)) {
                        out.push(Diagnostic::warning(
                            Some(tag.location.clone()),
                            format!("alert rule `{id}`: no KPI has tag `{}` (yet)", tag.value),
                        ));
                    }
                }
            }
        }
        if let AlertWhen::Value { condition } = &rule.when
            && let Err(errors) = crate::judge::value_condition(condition)
        {
            out.extend(errors);
        }
        for notify in &rule.notify {
            if let Notify::Email(addresses) = notify
                && workspace.settings.smtp.is_none()
                && let Some(first) = addresses.first()
            {
                out.push(Diagnostic::error(
                    Some(first.location.clone()),
                    format!("alert rule `{id}` sends e-mail, but tablero.toml has no [smtp]"),
                ));
            }
        }
        if workspace.settings.public_url.is_none() {
            out.push(Diagnostic::warning(
                Some(rule.id.location.clone()),
                format!("alert rule `{id}`: without `public_url` in tablero.toml its messages carry no link"),
            ));
        }
    }
    out
}

/// Checks a `--where` condition against one source.
pub fn check_condition(
    workspace: &Workspace,
    source: &Source,
    text: &Text,
) -> Result<RowExpr, Vec<Diagnostic>> {
    let mut checker = Checker::new(workspace);
    let expr = checker.row_condition(source, text, "a condition");
    match expr {
        Some(expr) if checker.diagnostics.is_empty() => Ok(expr),
        _ => Err(checker.diagnostics),
    }
}

/// What a SMART finding is about: one KPI, or an owner's whole set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Kpi(String),
    Owner(String),
}

/// One finding of the SMART lint: what it is about, and the warning as written.
#[derive(Debug, Clone)]
pub struct Finding {
    pub subject: Subject,
    pub warning: Diagnostic,
}

impl Finding {
    /// Whether a KPI's page shows it: it is about that KPI or about its owner.
    pub fn concerns(&self, kpi: &Kpi) -> bool {
        match &self.subject {
            Subject::Kpi(id) => *id == kpi.id.value,
            Subject::Owner(owner) => kpi.owner.as_ref().is_some_and(|o| o.value == *owner),
        }
    }
}

/// The SMART lint of SPEC §3: warnings, never errors.
pub fn smart_lint(workspace: &Workspace, catalog: &Catalog) -> Vec<Diagnostic> {
    smart_findings(workspace, catalog)
        .into_iter()
        .map(|f| f.warning)
        .collect()
}

/// The SMART lint's findings, each with its subject.
pub fn smart_findings(workspace: &Workspace, catalog: &Catalog) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut per_owner: BTreeMap<&str, Vec<&Kpi>> = BTreeMap::new();
    for kpi in &workspace.kpis {
        let at = Some(kpi.id.location.clone());
        let id = &kpi.id.value;
        let mut warn = |message: String| {
            findings.push(Finding {
                subject: Subject::Kpi(id.clone()),
                warning: Diagnostic::warning(at.clone(), message),
            })
        };
        match &kpi.owner {
            Some(owner) => per_owner.entry(owner.value.as_str()).or_default().push(kpi),
            None => warn(format!(
                "KPI `{id}` has no owner: not Specific (who answers for it?)"
            )),
        }
        if catalog.get(id).is_none() {
            warn(format!(
                "KPI `{id}` has no formula that compiles: not Measurable"
            ));
        }
        if kpi.target.is_none() && kpi.targets.is_empty() {
            warn(format!(
                "KPI `{id}` has no target: not Achievable or Time-bound (what value, by when?)"
            ));
        }
        if kpi.grain.is_none() {
            warn(format!(
                "KPI `{id}` has no grain: not Time-bound (how often is it reviewed?)"
            ));
        }
    }
    for (owner, kpis) in per_owner {
        // The KPIs of one group (a funnel's stages) are read together as one indicator.
        let mut groups: Vec<&str> = kpis.iter().filter_map(|k| k.group.as_deref()).collect();
        groups.sort();
        groups.dedup();
        let indicators = kpis.iter().filter(|k| k.group.is_none()).count() + groups.len();
        if indicators > 7 {
            findings.push(Finding {
                subject: Subject::Owner(owner.to_string()),
                warning: Diagnostic::warning(
                    Some(kpis[7].id.location.clone()),
                    format!(
                        "owner `{owner}` has {indicators} KPIs: a jungle of indicators; keep at most 7 that drive decisions",
                    ),
                ),
            });
        }
    }
    findings
}

/// A measure's checked parts, once per measure.
#[derive(Clone)]
struct MeasureInfo {
    agg: CheckedAgg,
    value: Option<RowExpr>,
    filter: Option<RowExpr>,
    time: String,
}

struct Checker<'w> {
    workspace: &'w Workspace,
    diagnostics: Vec<Diagnostic>,
    /// `None` when the measure has errors (already reported).
    measures: HashMap<(String, String), Option<MeasureInfo>>,
}

/// The parser's limit: its trees are never higher, so the checker's own guards below only
/// back it up, and every entry point (formulas, measure `filter`/`expr`, `--where`, the API)
/// shares one limit.
use crate::parser::MAX_DEPTH;

/// How many terms a formula may have once `change` and `growth` are written out.
const MAX_EXPANDED: usize = 10_000;

impl<'w> Checker<'w> {
    fn new(workspace: &'w Workspace) -> Checker<'w> {
        Checker {
            workspace,
            diagnostics: Vec::new(),
            measures: HashMap::new(),
        }
    }

    fn error(&mut self, location: Location, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::error(Some(location), message));
    }

    fn error_at(&mut self, text: &Text, span: crate::ast::Span, message: impl Into<String>) {
        self.error(text.location_at(span.start), message);
    }

    fn parse(&mut self, text: &Text) -> Option<Expr> {
        let parsed = crate::parser::parse(&text.value);
        for err in &parsed.errors {
            self.error_at(text, err.span, err.message.clone());
        }
        if parsed.errors.is_empty() {
            parsed.expr
        } else {
            None
        }
    }

    fn check_source(&mut self, source: &'w Source) {
        let name = &source.name.value;
        if let tablero_model::SourceData::Table { connection, .. } = &source.data
            && self
                .workspace
                .settings
                .connection(&connection.value)
                .is_none()
        {
            let known: Vec<&str> = self
                .workspace
                .settings
                .connections
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            let message = format!(
                "unknown connection `{}`: tablero.toml declares {}",
                connection.value,
                if known.is_empty() {
                    "no [connections.NAME]".to_string()
                } else {
                    known.join(", ")
                }
            );
            self.error(connection.location.clone(), message);
        }
        for dim in &source.dimensions {
            if source.column(&dim.value).is_none() {
                let message = format!(
                    "unknown dimension `{}`: source `{name}` has no such column, expected one of: {}",
                    dim.value,
                    column_list(source)
                );
                self.error(dim.location.clone(), message);
            }
        }
        if let Some(time) = &source.time {
            self.time_column(source, time);
        }
        for measure in &source.measures {
            let info = self.check_measure(source, measure);
            self.measures
                .insert((name.clone(), measure.name.value.clone()), info);
        }
    }

    fn time_column(&mut self, source: &Source, text: &Text) -> Option<String> {
        match source.column(&text.value) {
            Some(c) if c.ty.is_temporal() => Some(c.name.clone()),
            Some(c) => {
                let message = format!(
                    "time column `{}` is a {}, expected a date or timestamp column",
                    c.name,
                    c.ty.as_str()
                );
                self.error(text.location.clone(), message);
                None
            }
            None => {
                let message = format!(
                    "unknown time column `{}` in source `{}`, expected one of: {}",
                    text.value,
                    source.name.value,
                    column_list(source)
                );
                self.error(text.location.clone(), message);
                None
            }
        }
    }

    fn check_measure(
        &mut self,
        source: &Source,
        measure: &tablero_model::Measure,
    ) -> Option<MeasureInfo> {
        let agg = CheckedAgg::from_model(&measure.agg);
        let mut ok = true;
        if let tablero_model::Agg::Last { per: Some(per) }
        | tablero_model::Agg::First { per: Some(per) } = &measure.agg
            && source.column(&per.value).is_none()
        {
            let message = format!(
                "unknown column `{}` after `per:` in measure `{}`: source `{}` has columns {}",
                per.value,
                measure.name.value,
                source.name.value,
                column_list(source)
            );
            self.error(per.location.clone(), message);
            ok = false;
        }
        let time = match (&measure.agg, &measure.time, &source.time) {
            (tablero_model::Agg::Active { start, end, .. }, _, _) => {
                let s = self.time_column(source, start);
                let e = self.time_column(source, end);
                ok &= s.is_some() && e.is_some();
                s.unwrap_or_default()
            }
            (_, Some(t), _) | (_, None, Some(t)) => match self.time_column(source, t) {
                Some(t) => t,
                None => {
                    ok = false;
                    String::new()
                }
            },
            (_, None, None) => {
                let message = format!(
                    "measure `{}` has no time column: give the source a `time:` or the measure a `time:`",
                    measure.name.value
                );
                self.error(measure.name.location.clone(), message);
                ok = false;
                String::new()
            }
        };
        let value = match &measure.expr {
            None => None,
            Some(text) => match self
                .parse(text)
                .and_then(|e| self.row_expr(source, text, &e, 0))
            {
                Some((expr, ty)) => {
                    let needs_number =
                        !matches!(agg, CheckedAgg::Count | CheckedAgg::CountDistinct);
                    if needs_number && !matches!(ty, RowType::Number | RowType::Null) {
                        let message = format!(
                            "`{}` needs a number to aggregate, but `{}` is {}",
                            measure.agg.name(),
                            text.value,
                            ty.describe()
                        );
                        self.error(text.location.clone(), message);
                        ok = false;
                    }
                    Some(expr)
                }
                None => {
                    ok = false;
                    None
                }
            },
        };
        let filter = match &measure.filter {
            None => None,
            Some(text) => {
                let f = self.row_condition(source, text, "a filter");
                ok &= f.is_some();
                f
            }
        };
        ok.then_some(MeasureInfo {
            agg,
            value,
            filter,
            time,
        })
    }

    /// A condition over a source's rows: must be boolean.
    fn row_condition(&mut self, source: &Source, text: &Text, what: &str) -> Option<RowExpr> {
        let expr = self.parse(text)?;
        let (checked, ty) = self.row_expr(source, text, &expr, 0)?;
        if !matches!(ty, RowType::Boolean | RowType::Null) {
            let message = format!(
                "{what} must be true or false for each row (like `stage = 'won'`), but `{}` is {}",
                text.value,
                ty.describe()
            );
            self.error_at(text, expr.span, message);
            return None;
        }
        Some(checked)
    }

    fn row_expr(
        &mut self,
        source: &Source,
        text: &Text,
        expr: &Expr,
        depth: usize,
    ) -> Option<(RowExpr, RowType)> {
        if depth > MAX_DEPTH {
            self.error_at(text, expr.span, "expression nested too deeply");
            return None;
        }
        let d = depth + 1;
        match &expr.kind {
            ExprKind::Literal(lit) => self.literal(text, expr, lit),
            ExprKind::Name(ident) => match source.column(&ident.name) {
                Some(c) => Some((
                    RowExpr::Column {
                        name: c.name.clone(),
                        ty: c.ty,
                    },
                    RowType::of(c.ty),
                )),
                None => {
                    let message = format!(
                        "unknown column `{}` in source `{}`, expected one of: {}",
                        ident.name,
                        source.name.value,
                        column_list(source)
                    );
                    self.error_at(text, ident.span, message);
                    None
                }
            },
            ExprKind::Measure { source: s, .. } => {
                self.error_at(
                    text,
                    s.span,
                    "a measure cannot be used inside a row expression; name a column",
                );
                None
            }
            ExprKind::Per { value, .. } => {
                self.error_at(
                    text,
                    value.span,
                    "`per` belongs in a group function of a KPI formula",
                );
                None
            }
            ExprKind::Call { function, args } => {
                let unit = match function.name.as_str() {
                    "days_between" => TimeUnit::Days,
                    "hours_between" => TimeUnit::Hours,
                    "minutes_between" => TimeUnit::Minutes,
                    other => {
                        let message = format!(
                            "unknown function `{other}` in a row expression, expected days_between, hours_between or minutes_between"
                        );
                        self.error_at(text, function.span, message);
                        return None;
                    }
                };
                if args.len() != 2 {
                    let message = format!(
                        "`{}` takes two dates or timestamps (from, to)",
                        function.name
                    );
                    self.error_at(text, expr.span, message);
                    return None;
                }
                let a = self.row_expr(source, text, &args[0], d);
                let b = self.row_expr(source, text, &args[1], d);
                let ((a, at), (b, bt)) = (a?, b?);
                for (ty, arg) in [(at, &args[0]), (bt, &args[1])] {
                    if !matches!(ty, RowType::Time | RowType::Null) {
                        let message = format!(
                            "`{}` expects a date or timestamp, found {}",
                            function.name,
                            ty.describe()
                        );
                        self.error_at(text, arg.span, message);
                        return None;
                    }
                }
                Some((
                    RowExpr::Between {
                        unit,
                        from: Box::new(a),
                        to: Box::new(b),
                    },
                    RowType::Number,
                ))
            }
            ExprKind::Unary { op, operand } => {
                let (inner, ty) = self.row_expr(source, text, operand, d)?;
                match op {
                    UnaryOp::Neg => {
                        self.expect_row(text, operand, ty, RowType::Number, "`-`")?;
                        Some((RowExpr::Neg(Box::new(inner)), RowType::Number))
                    }
                    UnaryOp::Not => {
                        self.expect_row(text, operand, ty, RowType::Boolean, "`not`")?;
                        Some((RowExpr::Not(Box::new(inner)), RowType::Boolean))
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.row_expr(source, text, lhs, d);
                let r = self.row_expr(source, text, rhs, d);
                let ((l, lt), (r, rt)) = (l?, r?);
                match op {
                    BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
                        let sym = binary_symbol(*op);
                        self.expect_row(text, lhs, lt, RowType::Number, sym)?;
                        self.expect_row(text, rhs, rt, RowType::Number, sym)?;
                        Some((
                            RowExpr::Arith(arith(*op), Box::new(l), Box::new(r)),
                            RowType::Number,
                        ))
                    }
                    BinaryOp::And | BinaryOp::Or => {
                        let sym = binary_symbol(*op);
                        self.expect_row(text, lhs, lt, RowType::Boolean, sym)?;
                        self.expect_row(text, rhs, rt, RowType::Boolean, sym)?;
                        let node = if *op == BinaryOp::And {
                            RowExpr::And
                        } else {
                            RowExpr::Or
                        };
                        Some((node(Box::new(l), Box::new(r)), RowType::Boolean))
                    }
                    cmp => {
                        self.comparable(text, expr, lt, rt)?;
                        let op = compare(*cmp);
                        Some((
                            RowExpr::Compare(op, Box::new(l), Box::new(r)),
                            RowType::Boolean,
                        ))
                    }
                }
            }
            ExprKind::InList {
                expr: inner,
                list,
                negated,
            } => {
                let checked = self.row_expr(source, text, inner, d);
                let mut items = Vec::new();
                let mut ok = true;
                for item in list {
                    match self.row_expr(source, text, item, d) {
                        Some(x) => items.push(x),
                        None => ok = false,
                    }
                }
                let (checked, ty) = checked?;
                if !ok {
                    return None;
                }
                let mut values = Vec::new();
                for ((value, item_ty), item) in items.into_iter().zip(list) {
                    self.comparable(text, item, ty, item_ty)?;
                    values.push(value);
                }
                Some((
                    RowExpr::InList {
                        expr: Box::new(checked),
                        list: values,
                        negated: *negated,
                    },
                    RowType::Boolean,
                ))
            }
            ExprKind::IsNull {
                expr: inner,
                negated,
            } => {
                let (checked, _) = self.row_expr(source, text, inner, d)?;
                Some((
                    RowExpr::IsNull {
                        expr: Box::new(checked),
                        negated: *negated,
                    },
                    RowType::Boolean,
                ))
            }
        }
    }

    fn literal(&mut self, text: &Text, expr: &Expr, lit: &Literal) -> Option<(RowExpr, RowType)> {
        Some(match lit {
            Literal::Number(n) => (RowExpr::Number(*n), RowType::Number),
            Literal::String(s) => (RowExpr::String(s.clone()), RowType::String),
            Literal::Bool(b) => (RowExpr::Boolean(*b), RowType::Boolean),
            Literal::Null => (RowExpr::Null, RowType::Null),
            Literal::Date(d) => match d.parse::<jiff::civil::Date>() {
                Ok(date) if d.len() == 10 => (RowExpr::Date(date), RowType::Time),
                _ => {
                    let message =
                        format!("invalid date `{d}`, expected YYYY-MM-DD like date '2026-01-31'");
                    self.error_at(text, expr.span, message);
                    return None;
                }
            },
        })
    }

    fn expect_row(
        &mut self,
        text: &Text,
        expr: &Expr,
        found: RowType,
        expected: RowType,
        what: &str,
    ) -> Option<()> {
        if found == expected || found == RowType::Null {
            return Some(());
        }
        let message = format!(
            "{what} expects {}, found {}",
            expected.describe(),
            found.describe()
        );
        self.error_at(text, expr.span, message);
        None
    }

    fn comparable(&mut self, text: &Text, expr: &Expr, a: RowType, b: RowType) -> Option<()> {
        if a == b || a == RowType::Null || b == RowType::Null {
            return Some(());
        }
        let message = format!("cannot compare {} with {}", a.describe(), b.describe());
        self.error_at(text, expr.span, message);
        None
    }

    fn formula_text(&mut self, text: &Text) -> Option<Formula> {
        let expr = self.parse(text)?;
        self.formula(text, &expr, 0)
    }

    fn formula(&mut self, text: &Text, expr: &Expr, depth: usize) -> Option<Formula> {
        if depth > MAX_DEPTH {
            self.error_at(text, expr.span, "formula nested too deeply");
            return None;
        }
        let d = depth + 1;
        match &expr.kind {
            ExprKind::Literal(Literal::Number(n)) => Some(Formula::Number(*n)),
            ExprKind::Literal(Literal::Null) => Some(Formula::Null),
            ExprKind::Literal(_) => {
                self.error_at(
                    text,
                    expr.span,
                    "expected a number, a measure (source.measure) or a KPI id",
                );
                None
            }
            ExprKind::Name(ident) => {
                if self.workspace.kpi(&ident.name).is_some() {
                    Some(Formula::Kpi(ident.name.clone()))
                } else {
                    let hint = if self.workspace.source(&ident.name).is_some() {
                        format!(
                            "; `{}` is a source: name one of its measures as `{}.MEASURE`",
                            ident.name, ident.name
                        )
                    } else {
                        String::new()
                    };
                    let message = format!("unknown KPI `{}`{hint}", ident.name);
                    self.error_at(text, ident.span, message);
                    None
                }
            }
            ExprKind::Measure {
                source,
                measure,
                filter,
            } => {
                let aggregate = self.aggregate(text, source, measure, filter.as_deref())?;
                Some(Formula::Aggregate(Box::new(aggregate)))
            }
            ExprKind::Per { value, .. } => {
                self.error_at(
                    text,
                    value.span,
                    "`per` is only allowed inside max, min, avg, count, top or hhi",
                );
                None
            }
            ExprKind::Unary {
                op: UnaryOp::Neg,
                operand,
            } => Some(Formula::Neg(Box::new(self.formula(text, operand, d)?))),
            ExprKind::Binary {
                op: op @ (BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div),
                lhs,
                rhs,
            } => {
                let l = self.formula(text, lhs, d);
                let r = self.formula(text, rhs, d);
                Some(Formula::Arith(arith(*op), Box::new(l?), Box::new(r?)))
            }
            ExprKind::Unary {
                op: UnaryOp::Not, ..
            }
            | ExprKind::Binary { .. }
            | ExprKind::InList { .. }
            | ExprKind::IsNull { .. } => {
                self.error_at(
                    text,
                    expr.span,
                    "a condition gives true or false, not a number; use it inside if(condition, a, b)",
                );
                None
            }
            ExprKind::Call { function, args } => self.call(text, expr, function, args, d),
        }
    }

    fn call(
        &mut self,
        text: &Text,
        expr: &Expr,
        function: &Ident,
        args: &[Expr],
        d: usize,
    ) -> Option<Formula> {
        let name = function.name.as_str();
        let arity = |checker: &mut Self, n: usize, usage: &str| -> Option<()> {
            if args.len() == n {
                Some(())
            } else {
                let message = format!(
                    "`{name}` takes {n} argument{}: {usage}",
                    if n == 1 { "" } else { "s" }
                );
                checker.error_at(text, expr.span, message);
                None
            }
        };
        match name {
            "max" | "min" | "avg" | "count" | "hhi" => {
                arity(self, 1, &format!("{name}(source.measure per column)"))?;
                let function = match name {
                    "max" => GroupFunction::Max,
                    "min" => GroupFunction::Min,
                    "avg" => GroupFunction::Avg,
                    "count" => GroupFunction::Count,
                    _ => GroupFunction::Hhi,
                };
                self.group(text, &args[0], function, name)
            }
            "top" => {
                arity(self, 2, "top(n, source.measure per column)")?;
                let n = self.whole_number(text, &args[0], "the number of groups")?;
                if n < 1 {
                    self.error_at(text, args[0].span, "`top` needs at least 1 group");
                    return None;
                }
                self.group(text, &args[1], GroupFunction::Top(n as u32), name)
            }
            "ytd" | "to_date" | "rolling" => {
                let window = if name == "rolling" {
                    arity(self, 2, "rolling(source.measure, n)")?;
                    let n = self.whole_number(text, &args[1], "the number of periods")?;
                    if !(1..=1000).contains(&n) {
                        self.error_at(text, args[1].span, "`rolling` needs from 1 to 1000 periods");
                        return None;
                    }
                    Window::Rolling(n as u32)
                } else {
                    arity(self, 1, &format!("{name}(source.measure)"))?;
                    if name == "ytd" {
                        Window::YearToDate
                    } else {
                        Window::ToDate
                    }
                };
                let mut aggregate = match &args[0].kind {
                    ExprKind::Measure {
                        source,
                        measure,
                        filter,
                    } => self.aggregate(text, source, measure, filter.as_deref())?,
                    ExprKind::Call {
                        function: f,
                        args: inner,
                    } if matches!(
                        f.name.as_str(),
                        "max" | "min" | "avg" | "count" | "hhi" | "top"
                    ) =>
                    {
                        match self.call(text, &args[0], f, inner, d)? {
                            Formula::Aggregate(a) => *a,
                            _ => return None,
                        }
                    }
                    _ => {
                        let message = format!(
                            "`{name}` re-aggregates a measure's rows, so it expects a measure (source.measure) or a group function, not a computed value"
                        );
                        self.error_at(text, args[0].span, message);
                        return None;
                    }
                };
                if aggregate.window != Window::Period {
                    self.error_at(text, args[0].span, "time windows cannot be nested");
                    return None;
                }
                aggregate.window = window;
                Some(Formula::Aggregate(Box::new(aggregate)))
            }
            "previous" | "year_ago" | "change" | "growth" | "abs" => {
                arity(self, 1, &format!("{name}(x)"))?;
                let x = self.formula(text, &args[0], d)?;
                // `change` and `growth` repeat their argument (`x - previous(x)`, …), so
                // nesting them grows the formula threefold per level.
                let mut size = 0usize;
                x.visit(&mut |_| size += 1);
                if matches!(name, "change" | "growth") && size > MAX_EXPANDED / 3 {
                    let message = format!(
                        "`{name}` repeats its argument, and this one is too large for that: more than {MAX_EXPANDED} terms once expanded; nest fewer `change` and `growth`"
                    );
                    self.error_at(text, function.span, message);
                    return None;
                }
                let shifted = |s| Formula::Shift(s, Box::new(x.clone()));
                Some(match name {
                    "previous" => shifted(Shift::Previous),
                    "year_ago" => shifted(Shift::YearAgo),
                    "abs" => Formula::Abs(Box::new(x)),
                    "change" => Formula::Arith(
                        ArithOp::Sub,
                        Box::new(x.clone()),
                        Box::new(shifted(Shift::Previous)),
                    ),
                    _ => {
                        let change = Formula::Arith(
                            ArithOp::Sub,
                            Box::new(x.clone()),
                            Box::new(shifted(Shift::Previous)),
                        );
                        let ratio = Formula::Arith(
                            ArithOp::Div,
                            Box::new(change),
                            Box::new(shifted(Shift::Previous)),
                        );
                        Formula::Arith(
                            ArithOp::Mul,
                            Box::new(Formula::Number(100.0)),
                            Box::new(ratio),
                        )
                    }
                })
            }
            "round" => {
                if args.len() == 1 {
                    return Some(Formula::Round(
                        Box::new(self.formula(text, &args[0], d)?),
                        0,
                    ));
                }
                arity(self, 2, "round(x, decimals)")?;
                let x = self.formula(text, &args[0], d);
                let n = self.whole_number(text, &args[1], "the number of decimals")?;
                Some(Formula::Round(Box::new(x?), n.clamp(-20, 20) as i32))
            }
            "coalesce" | "least" | "greatest" => {
                if args.is_empty() {
                    self.error_at(
                        text,
                        expr.span,
                        format!("`{name}` needs at least one argument"),
                    );
                    return None;
                }
                let mut xs = Vec::new();
                let mut ok = true;
                for a in args {
                    match self.formula(text, a, d) {
                        Some(x) => xs.push(x),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                Some(match name {
                    "coalesce" => Formula::Coalesce(xs),
                    "least" => Formula::Least(xs),
                    _ => Formula::Greatest(xs),
                })
            }
            "if" => {
                arity(self, 3, "if(condition, then, else)")?;
                let c = self.condition(text, &args[0], d);
                let a = self.formula(text, &args[1], d);
                let b = self.formula(text, &args[2], d);
                Some(Formula::If(Box::new(c?), Box::new(a?), Box::new(b?)))
            }
            "days_between" | "hours_between" | "minutes_between" => {
                let message = format!(
                    "`{name}` works on a row's columns: use it in a measure's `expr`, not in a KPI formula"
                );
                self.error_at(text, function.span, message);
                None
            }
            other => {
                let message = format!(
                    "unknown function `{other}`, expected one of: max, min, avg, count, top, hhi, previous, year_ago, ytd, rolling, to_date, change, growth, if, coalesce, abs, round, least, greatest"
                );
                self.error_at(text, function.span, message);
                None
            }
        }
    }

    fn whole_number(&mut self, text: &Text, expr: &Expr, what: &str) -> Option<i64> {
        let (value, negative) = match &expr.kind {
            ExprKind::Literal(Literal::Number(n)) => (*n, false),
            ExprKind::Unary {
                op: UnaryOp::Neg,
                operand,
            } => match &operand.kind {
                ExprKind::Literal(Literal::Number(n)) => (*n, true),
                _ => (f64::NAN, false),
            },
            _ => (f64::NAN, false),
        };
        if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e9 {
            Some(if negative {
                -(value as i64)
            } else {
                value as i64
            })
        } else {
            self.error_at(
                text,
                expr.span,
                format!("expected a whole number for {what}"),
            );
            None
        }
    }

    fn group(
        &mut self,
        text: &Text,
        arg: &Expr,
        function: GroupFunction,
        name: &str,
    ) -> Option<Formula> {
        let ExprKind::Per { value, column } = &arg.kind else {
            let message =
                format!("`{name}` groups a measure: write {name}(source.measure per column)");
            self.error_at(text, arg.span, message);
            return None;
        };
        let ExprKind::Measure {
            source,
            measure,
            filter,
        } = &value.kind
        else {
            self.error_at(
                text,
                value.span,
                "expected a measure (source.measure) before `per`",
            );
            return None;
        };
        let mut aggregate = self.aggregate(text, source, measure, filter.as_deref())?;
        let src = self.workspace.source(&source.name)?;
        if src.column(&column.name).is_none() {
            let message = format!(
                "unknown column `{}` after `per`: source `{}` has columns {}",
                column.name,
                source.name,
                column_list(src)
            );
            self.error_at(text, column.span, message);
            return None;
        }
        aggregate.group = Some(Group {
            function,
            column: column.name.clone(),
        });
        Some(Formula::Aggregate(Box::new(aggregate)))
    }

    fn aggregate(
        &mut self,
        text: &Text,
        source: &Ident,
        measure: &Ident,
        filter: Option<&Expr>,
    ) -> Option<Aggregate> {
        let Some(src) = self.workspace.source(&source.name) else {
            let known: Vec<&str> = self
                .workspace
                .sources
                .iter()
                .map(|s| s.name.value.as_str())
                .collect();
            let message = format!(
                "unknown source `{}`, expected one of: {}",
                source.name,
                known.join(", ")
            );
            self.error_at(text, source.span, message);
            return None;
        };
        if src.measure(&measure.name).is_none() {
            let known: Vec<&str> = src.measures.iter().map(|m| m.name.value.as_str()).collect();
            let message = format!(
                "unknown measure `{}` in source `{}`, expected one of: {}",
                measure.name,
                source.name,
                known.join(", ")
            );
            self.error_at(text, measure.span, message);
            return None;
        }
        let extra = match filter {
            None => None,
            Some(f) => {
                let (checked, ty) = self.row_expr(src, text, f, 0)?;
                if !matches!(ty, RowType::Boolean | RowType::Null) {
                    let message = format!(
                        "a [filter] must be true or false for each row, found {}",
                        ty.describe()
                    );
                    self.error_at(text, f.span, message);
                    return None;
                }
                Some(checked)
            }
        };
        // The measure's own errors were reported when its source was checked.
        let info = self
            .measures
            .get(&(source.name.clone(), measure.name.clone()))
            .cloned()
            .flatten()?;
        let filters = info.filter.into_iter().chain(extra).collect();
        Some(Aggregate {
            source: source.name.clone(),
            measure: measure.name.clone(),
            agg: info.agg,
            value: info.value,
            filters,
            time: info.time,
            window: Window::Period,
            group: None,
        })
    }

    fn condition(&mut self, text: &Text, expr: &Expr, d: usize) -> Option<Condition> {
        if d > MAX_DEPTH {
            self.error_at(text, expr.span, "condition nested too deeply");
            return None;
        }
        match &expr.kind {
            ExprKind::Literal(Literal::Bool(b)) => Some(Condition::Constant(*b)),
            ExprKind::Unary {
                op: UnaryOp::Not,
                operand,
            } => Some(Condition::Not(Box::new(self.condition(
                text,
                operand,
                d + 1,
            )?))),
            ExprKind::Binary {
                op: op @ (BinaryOp::And | BinaryOp::Or),
                lhs,
                rhs,
            } => {
                let a = self.condition(text, lhs, d + 1);
                let b = self.condition(text, rhs, d + 1);
                let (a, b) = (Box::new(a?), Box::new(b?));
                Some(if *op == BinaryOp::And {
                    Condition::And(a, b)
                } else {
                    Condition::Or(a, b)
                })
            }
            ExprKind::Binary { op, lhs, rhs }
                if !matches!(
                    op,
                    BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
                ) =>
            {
                let a = self.formula(text, lhs, d + 1);
                let b = self.formula(text, rhs, d + 1);
                Some(Condition::Compare(compare(*op), a?, b?))
            }
            ExprKind::IsNull {
                expr: inner,
                negated,
            } => Some(Condition::IsNull(
                self.formula(text, inner, d + 1)?,
                *negated,
            )),
            _ => {
                self.error_at(
                    text,
                    expr.span,
                    "expected a condition such as `x > 0` or `x is null`",
                );
                None
            }
        }
    }

    /// Removes KPIs on a cycle from the catalog, reporting each cycle once.
    fn check_cycles(&mut self, catalog: &mut Catalog) {
        let refs: BTreeMap<String, Vec<String>> = catalog
            .kpis
            .iter()
            .map(|(id, kpi)| {
                let mut out = Vec::new();
                kpi.formula.visit(&mut |f| {
                    if let Formula::Kpi(k) = f {
                        out.push(k.clone());
                    }
                });
                (id.clone(), out)
            })
            .collect();
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state: HashMap<&str, u8> = HashMap::new();
        let mut on_cycle: Vec<String> = Vec::new();
        let mut reported: Vec<Vec<String>> = Vec::new();
        fn visit<'a>(
            id: &'a str,
            refs: &'a BTreeMap<String, Vec<String>>,
            state: &mut HashMap<&'a str, u8>,
            stack: &mut Vec<&'a str>,
            cycles: &mut Vec<Vec<String>>,
        ) {
            match state.get(id) {
                Some(2) => return,
                Some(1) => {
                    let start = stack.iter().position(|s| *s == id).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(id.to_string());
                    cycles.push(cycle);
                    return;
                }
                _ => {}
            }
            state.insert(id, 1);
            stack.push(id);
            for next in refs.get(id).into_iter().flatten() {
                visit(next, refs, state, stack, cycles);
            }
            stack.pop();
            state.insert(id, 2);
        }
        for id in refs.keys() {
            let mut stack = Vec::new();
            visit(id, &refs, &mut state, &mut stack, &mut reported);
        }
        for cycle in reported {
            let first = &cycle[0];
            if let Some(kpi) = self.workspace.kpi(first) {
                let location = kpi
                    .formula
                    .as_ref()
                    .map(|f| f.location.clone())
                    .unwrap_or(kpi.id.location.clone());
                let files: Vec<String> = cycle[..cycle.len() - 1]
                    .iter()
                    .filter_map(|k| self.workspace.kpi(k))
                    .map(|k| k.file.display().to_string())
                    .collect();
                let message = format!(
                    "KPIs refer to each other in a cycle: {} (defined in {})",
                    cycle.join(" → "),
                    files.join(", ")
                );
                self.error(location, message);
            }
            on_cycle.extend(cycle);
        }
        // A KPI on a cycle, or built on one, cannot be computed.
        loop {
            let broken: Vec<String> = refs
                .iter()
                .filter(|(id, rs)| {
                    catalog.kpis.contains_key(*id)
                        && (on_cycle.contains(id)
                            || rs.iter().any(|r| !catalog.kpis.contains_key(r)))
                })
                .map(|(id, _)| id.clone())
                .collect();
            if broken.is_empty() {
                break;
            }
            for id in broken {
                catalog.kpis.remove(&id);
            }
        }
    }
}

fn column_list(source: &Source) -> String {
    source
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn arith(op: BinaryOp) -> ArithOp {
    match op {
        BinaryOp::Add => ArithOp::Add,
        BinaryOp::Sub => ArithOp::Sub,
        BinaryOp::Mul => ArithOp::Mul,
        _ => ArithOp::Div,
    }
}

fn compare(op: BinaryOp) -> CmpOp {
    match op {
        BinaryOp::Eq => CmpOp::Eq,
        BinaryOp::NotEq => CmpOp::NotEq,
        BinaryOp::Lt => CmpOp::Lt,
        BinaryOp::LtEq => CmpOp::LtEq,
        BinaryOp::Gt => CmpOp::Gt,
        _ => CmpOp::GtEq,
    }
}

fn binary_symbol(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "`+`",
        BinaryOp::Sub => "`-`",
        BinaryOp::Mul => "`*`",
        BinaryOp::Div => "`/`",
        BinaryOp::And => "`and`",
        BinaryOp::Or => "`or`",
        _ => "a comparison",
    }
}
