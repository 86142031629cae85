//! Conditions that read several KPIs together — an insight's `when:` (SPEC §12), e.g.
//! `leads_calificados.status = 'on_track' and rentabilidad_ventas.status = 'off_track'`.
//! Names are `KPI.value`, `KPI.target`, `KPI.status`, `KPI.previous` and `KPI.growth`
//! (the change from the previous period as a fraction); statuses compare with their names as
//! strings, everything else is a number. Checked once with positions, then evaluated over the
//! facts a caller supplies; a null makes a comparison unknown, and unknown is not true.

use tablero_model::{Diagnostic, Text, Workspace};

use crate::ast::{BinaryOp, Expr, ExprKind, Literal, UnaryOp};

/// What an insight may read of a KPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Value,
    Target,
    Status,
    Previous,
    Growth,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "value" => Field::Value,
            "target" => Field::Target,
            "status" => Field::Status,
            "previous" => Field::Previous,
            "growth" => Field::Growth,
            _ => return None,
        })
    }
}

/// A fact about a KPI: a number or a status, either possibly missing.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Number(Option<f64>),
    Status(Option<String>),
}

/// Where the facts come from (the latest complete period of each KPI, say).
pub trait Facts {
    fn fact(&self, kpi: &str, field: Field) -> Fact;
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Number(f64),
    Text(String),
    Field(String, Field),
    Neg(Box<Operand>),
    Arith(BinaryOp, Box<Operand>, Box<Operand>),
}

/// A checked insight condition.
#[derive(Debug, Clone, PartialEq)]
pub enum InsightCondition {
    Compare(BinaryOp, Term, Term),
    And(Box<InsightCondition>, Box<InsightCondition>),
    Or(Box<InsightCondition>, Box<InsightCondition>),
    Not(Box<InsightCondition>),
    IsNull(Term, bool),
    Const(bool),
}

/// A term of a checked condition: a number, a status name, a KPI's fact or arithmetic.
#[derive(Debug, Clone, PartialEq)]
pub struct Term(Operand);

enum Evaluated {
    Number(Option<f64>),
    Text(Option<String>),
}

impl Operand {
    fn eval(&self, facts: &dyn Facts) -> Evaluated {
        match self {
            Operand::Number(x) => Evaluated::Number(Some(*x)),
            Operand::Text(s) => Evaluated::Text(Some(s.clone())),
            Operand::Field(kpi, field) => match facts.fact(kpi, *field) {
                Fact::Number(n) => Evaluated::Number(n.filter(|x| x.is_finite())),
                Fact::Status(s) => Evaluated::Text(s),
            },
            Operand::Neg(x) => Evaluated::Number(x.number(facts).map(|v| -v)),
            Operand::Arith(op, a, b) => {
                let value = match (a.number(facts), b.number(facts)) {
                    (Some(a), Some(b)) => match op {
                        BinaryOp::Add => Some(a + b),
                        BinaryOp::Sub => Some(a - b),
                        BinaryOp::Mul => Some(a * b),
                        BinaryOp::Div if b != 0.0 => Some(a / b),
                        _ => None,
                    },
                    _ => None,
                };
                Evaluated::Number(value.filter(|v| v.is_finite()))
            }
        }
    }

    fn number(&self, facts: &dyn Facts) -> Option<f64> {
        match self.eval(facts) {
            Evaluated::Number(n) => n,
            Evaluated::Text(_) => None,
        }
    }
}

impl InsightCondition {
    /// Whether the condition holds on these facts.
    pub fn holds(&self, facts: &dyn Facts) -> bool {
        self.eval(facts) == Some(true)
    }

    /// The KPIs the condition reads, sorted, each once.
    pub fn kpis(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out.sort();
        out.dedup();
        out
    }

    fn collect(&self, out: &mut Vec<String>) {
        fn operand(o: &Operand, out: &mut Vec<String>) {
            match o {
                Operand::Field(k, _) => out.push(k.clone()),
                Operand::Neg(x) => operand(x, out),
                Operand::Arith(_, a, b) => {
                    operand(a, out);
                    operand(b, out);
                }
                _ => {}
            }
        }
        match self {
            InsightCondition::Compare(_, a, b) => {
                operand(&a.0, out);
                operand(&b.0, out);
            }
            InsightCondition::And(a, b) | InsightCondition::Or(a, b) => {
                a.collect(out);
                b.collect(out);
            }
            InsightCondition::Not(c) => c.collect(out),
            InsightCondition::IsNull(o, _) => operand(&o.0, out),
            InsightCondition::Const(_) => {}
        }
    }

    fn eval(&self, facts: &dyn Facts) -> Option<bool> {
        match self {
            InsightCondition::Const(b) => Some(*b),
            InsightCondition::Not(c) => c.eval(facts).map(|b| !b),
            InsightCondition::And(a, b) => match (a.eval(facts), b.eval(facts)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            InsightCondition::Or(a, b) => match (a.eval(facts), b.eval(facts)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            InsightCondition::IsNull(o, negated) => {
                let null = match o.0.eval(facts) {
                    Evaluated::Number(n) => n.is_none(),
                    Evaluated::Text(t) => t.is_none(),
                };
                Some(null != *negated)
            }
            InsightCondition::Compare(op, a, b) => match (a.0.eval(facts), b.0.eval(facts)) {
                (Evaluated::Number(a), Evaluated::Number(b)) => {
                    let (a, b) = (a?, b?);
                    compare(*op, a.partial_cmp(&b)?)
                }
                (Evaluated::Text(a), Evaluated::Text(b)) => {
                    let (a, b) = (a?, b?);
                    match op {
                        BinaryOp::Eq => Some(a == b),
                        BinaryOp::NotEq => Some(a != b),
                        _ => None,
                    }
                }
                _ => None,
            },
        }
    }
}

fn compare(op: BinaryOp, ordering: std::cmp::Ordering) -> Option<bool> {
    use std::cmp::Ordering::*;
    Some(match op {
        BinaryOp::Eq => ordering == Equal,
        BinaryOp::NotEq => ordering != Equal,
        BinaryOp::Lt => ordering == Less,
        BinaryOp::LtEq => ordering != Greater,
        BinaryOp::Gt => ordering == Greater,
        BinaryOp::GtEq => ordering != Less,
        _ => return None,
    })
}

const STATUSES: [&str; 5] = ["on_track", "at_risk", "off_track", "no_data", "no_target"];

/// What an operand is, for checking comparisons.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Status,
}

struct Checker<'a> {
    workspace: &'a Workspace,
    text: &'a Text,
    errors: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn fail<T>(&mut self, expr: &Expr, message: String) -> Option<T> {
        self.errors.push(Diagnostic::error(
            Some(self.text.location_at(expr.span.start)),
            message,
        ));
        None
    }

    fn condition(&mut self, expr: &Expr) -> Option<InsightCondition> {
        match &expr.kind {
            ExprKind::Literal(Literal::Bool(b)) => Some(InsightCondition::Const(*b)),
            ExprKind::Unary {
                op: UnaryOp::Not,
                operand,
            } => Some(InsightCondition::Not(Box::new(self.condition(operand)?))),
            ExprKind::Binary { op, lhs, rhs } => match op {
                BinaryOp::And | BinaryOp::Or => {
                    let a = self.condition(lhs);
                    let b = self.condition(rhs);
                    let (a, b) = (Box::new(a?), Box::new(b?));
                    Some(if *op == BinaryOp::And {
                        InsightCondition::And(a, b)
                    } else {
                        InsightCondition::Or(a, b)
                    })
                }
                BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq => {
                    let a = self.operand(lhs);
                    let b = self.operand(rhs);
                    let ((a, ka), (b, kb)) = (a?, b?);
                    if ka != kb {
                        return self.fail(
                            expr,
                            "a status compares with a status name such as 'on_track', a number with a number".into(),
                        );
                    }
                    if ka == Kind::Status && !matches!(op, BinaryOp::Eq | BinaryOp::NotEq) {
                        return self.fail(expr, "statuses compare only with = and <>".into());
                    }
                    Some(InsightCondition::Compare(*op, Term(a), Term(b)))
                }
                _ => self.fail(
                    expr,
                    "expected a comparison such as `ventas.status = 'off_track'`".into(),
                ),
            },
            ExprKind::IsNull {
                expr: inner,
                negated,
            } => {
                let (o, _) = self.operand(inner)?;
                Some(InsightCondition::IsNull(Term(o), *negated))
            }
            _ => self.fail(
                expr,
                "expected a comparison such as `ventas.status = 'off_track'`".into(),
            ),
        }
    }

    fn operand(&mut self, expr: &Expr) -> Option<(Operand, Kind)> {
        match &expr.kind {
            ExprKind::Literal(Literal::Number(x)) => Some((Operand::Number(*x), Kind::Number)),
            ExprKind::Literal(Literal::String(s)) => {
                if STATUSES.contains(&s.as_str()) {
                    Some((Operand::Text(s.clone()), Kind::Status))
                } else {
                    self.fail(
                        expr,
                        format!("unknown status '{s}': expected one of {}", STATUSES.join(", ")),
                    )
                }
            }
            ExprKind::Measure {
                source,
                measure,
                filter: None,
            } => {
                if self.workspace.kpi(&source.name).is_none() {
                    return self.fail(expr, format!("unknown KPI `{}`", source.name));
                }
                let Some(field) = Field::parse(&measure.name) else {
                    return self.fail(
                        expr,
                        format!(
                            "`{}.{}`: a KPI offers value, target, status, previous and growth",
                            source.name, measure.name
                        ),
                    );
                };
                let kind = if field == Field::Status {
                    Kind::Status
                } else {
                    Kind::Number
                };
                Some((Operand::Field(source.name.clone(), field), kind))
            }
            ExprKind::Unary {
                op: UnaryOp::Neg,
                operand,
            } => {
                let (o, kind) = self.operand(operand)?;
                if kind != Kind::Number {
                    return self.fail(expr, "only numbers can be negated".into());
                }
                Some((Operand::Neg(Box::new(o)), Kind::Number))
            }
            ExprKind::Binary { op, lhs, rhs }
                if matches!(
                    op,
                    BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
                ) =>
            {
                let a = self.operand(lhs);
                let b = self.operand(rhs);
                let ((a, ka), (b, kb)) = (a?, b?);
                if ka != Kind::Number || kb != Kind::Number {
                    return self.fail(expr, "arithmetic needs numbers, not statuses".into());
                }
                Some((Operand::Arith(*op, Box::new(a), Box::new(b)), Kind::Number))
            }
            ExprKind::Name(ident) => self.fail(
                expr,
                format!(
                    "`{}`: name a KPI's fact as KPI.value, KPI.target, KPI.status, KPI.previous or KPI.growth",
                    ident.name
                ),
            ),
            _ => self.fail(
                expr,
                "expected KPI.value, KPI.target, KPI.status, KPI.previous, KPI.growth, a number or a status name".into(),
            ),
        }
    }
}

/// Checks an insight's `when:`; every problem at its position in the file.
pub fn insight_condition(
    workspace: &Workspace,
    text: &Text,
) -> Result<InsightCondition, Vec<Diagnostic>> {
    let parsed = crate::parse(&text.value);
    let mut checker = Checker {
        workspace,
        text,
        errors: parsed
            .errors
            .iter()
            .map(|e| Diagnostic::error(Some(text.location_at(e.span.start)), e.message.clone()))
            .collect(),
    };
    let condition = parsed.expr.as_ref().and_then(|e| checker.condition(e));
    match condition {
        Some(c) if checker.errors.is_empty() => Ok(c),
        _ => {
            if checker.errors.is_empty() {
                checker.errors.push(Diagnostic::error(
                    Some(text.location.clone()),
                    "the condition is empty",
                ));
            }
            Err(checker.errors)
        }
    }
}
