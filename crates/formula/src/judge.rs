//! Conditions over a KPI's judged value — an alert rule's `value: "value < 0.9 * target"`
//! (SPEC §12): the names `value`, `target` and `previous` (the period before's value),
//! numbers, arithmetic, comparisons, `and`/`or`/`not` and `is [not] null`. Checked once with
//! positions for `tablero check`, then evaluated per period as plain arithmetic; a null
//! operand makes a comparison unknown, and unknown does not fire.

use tablero_model::{Diagnostic, Text};

use crate::ast::{BinaryOp, Expr, ExprKind, Literal, UnaryOp};

/// What a condition may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Value,
    Target,
    Previous,
}

/// A number over the variables.
#[derive(Debug, Clone, PartialEq)]
pub enum Num {
    Const(f64),
    Var(Var),
    Neg(Box<Num>),
    Arith(BinaryOp, Box<Num>, Box<Num>),
}

/// A checked condition.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueCondition {
    Compare(BinaryOp, Num, Num),
    And(Box<ValueCondition>, Box<ValueCondition>),
    Or(Box<ValueCondition>, Box<ValueCondition>),
    Not(Box<ValueCondition>),
    IsNull(Num, bool),
    Const(bool),
}

/// The values a condition is evaluated on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Judged {
    pub value: Option<f64>,
    pub target: Option<f64>,
    pub previous: Option<f64>,
}

impl ValueCondition {
    /// Whether the condition holds; unknown (a null compared) is false.
    pub fn holds(&self, on: &Judged) -> bool {
        self.eval(on) == Some(true)
    }

    fn eval(&self, on: &Judged) -> Option<bool> {
        match self {
            ValueCondition::Const(b) => Some(*b),
            ValueCondition::IsNull(n, negated) => Some(n.eval(on).is_none() != *negated),
            ValueCondition::Not(c) => c.eval(on).map(|b| !b),
            // Three-valued logic, as SQL: false and unknown is false, true or unknown is true.
            ValueCondition::And(a, b) => match (a.eval(on), b.eval(on)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            ValueCondition::Or(a, b) => match (a.eval(on), b.eval(on)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            ValueCondition::Compare(op, a, b) => {
                let (a, b) = (a.eval(on)?, b.eval(on)?);
                Some(match op {
                    BinaryOp::Eq => a == b,
                    BinaryOp::NotEq => a != b,
                    BinaryOp::Lt => a < b,
                    BinaryOp::LtEq => a <= b,
                    BinaryOp::Gt => a > b,
                    BinaryOp::GtEq => a >= b,
                    _ => return None,
                })
            }
        }
    }
}

impl Num {
    fn eval(&self, on: &Judged) -> Option<f64> {
        let result = match self {
            Num::Const(x) => *x,
            Num::Var(Var::Value) => on.value?,
            Num::Var(Var::Target) => on.target?,
            Num::Var(Var::Previous) => on.previous?,
            Num::Neg(x) => -x.eval(on)?,
            Num::Arith(op, a, b) => {
                let (a, b) = (a.eval(on)?, b.eval(on)?);
                match op {
                    BinaryOp::Add => a + b,
                    BinaryOp::Sub => a - b,
                    BinaryOp::Mul => a * b,
                    // Division by zero is null, as in every KPI formula.
                    BinaryOp::Div if b == 0.0 => return None,
                    BinaryOp::Div => a / b,
                    _ => return None,
                }
            }
        };
        result.is_finite().then_some(result)
    }
}

/// Checks an alert's `value:` condition; every problem at its position in the file.
pub fn value_condition(text: &Text) -> Result<ValueCondition, Vec<Diagnostic>> {
    let parsed = crate::parse(&text.value);
    let mut errors: Vec<Diagnostic> = parsed
        .errors
        .iter()
        .map(|e| Diagnostic::error(Some(text.location_at(e.span.start)), e.message.clone()))
        .collect();
    let condition = parsed
        .expr
        .as_ref()
        .and_then(|e| condition(e, text, &mut errors));
    match condition {
        Some(c) if errors.is_empty() => Ok(c),
        _ => {
            if errors.is_empty() {
                errors.push(Diagnostic::error(
                    Some(text.location.clone()),
                    "the condition is empty",
                ));
            }
            Err(errors)
        }
    }
}

fn condition(expr: &Expr, text: &Text, errors: &mut Vec<Diagnostic>) -> Option<ValueCondition> {
    let mut fail = |message: String| {
        errors.push(Diagnostic::error(
            Some(text.location_at(expr.span.start)),
            message,
        ));
        None
    };
    match &expr.kind {
        ExprKind::Literal(Literal::Bool(b)) => Some(ValueCondition::Const(*b)),
        ExprKind::Unary {
            op: UnaryOp::Not,
            operand,
        } => Some(ValueCondition::Not(Box::new(condition(
            operand, text, errors,
        )?))),
        ExprKind::Binary { op, lhs, rhs } => match op {
            BinaryOp::And | BinaryOp::Or => {
                let a = condition(lhs, text, errors);
                let b = condition(rhs, text, errors);
                let (a, b) = (Box::new(a?), Box::new(b?));
                Some(if *op == BinaryOp::And {
                    ValueCondition::And(a, b)
                } else {
                    ValueCondition::Or(a, b)
                })
            }
            BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq => {
                let a = number(lhs, text, errors);
                let b = number(rhs, text, errors);
                Some(ValueCondition::Compare(*op, a?, b?))
            }
            _ => fail("expected a comparison such as `value < 0.9 * target`".into()),
        },
        ExprKind::IsNull { expr, negated } => Some(ValueCondition::IsNull(
            number(expr, text, errors)?,
            *negated,
        )),
        _ => fail("expected a comparison such as `value < 0.9 * target`".into()),
    }
}

fn number(expr: &Expr, text: &Text, errors: &mut Vec<Diagnostic>) -> Option<Num> {
    let mut fail = |message: String| {
        errors.push(Diagnostic::error(
            Some(text.location_at(expr.span.start)),
            message,
        ));
        None
    };
    match &expr.kind {
        ExprKind::Literal(Literal::Number(x)) => Some(Num::Const(*x)),
        ExprKind::Name(ident) => match ident.name.as_str() {
            "value" => Some(Num::Var(Var::Value)),
            "target" => Some(Num::Var(Var::Target)),
            "previous" => Some(Num::Var(Var::Previous)),
            other => fail(format!(
                "unknown name `{other}`: a value condition knows `value`, `target` and `previous`"
            )),
        },
        ExprKind::Unary {
            op: UnaryOp::Neg,
            operand,
        } => Some(Num::Neg(Box::new(number(operand, text, errors)?))),
        ExprKind::Binary { op, lhs, rhs }
            if matches!(
                op,
                BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
            ) =>
        {
            let a = number(lhs, text, errors);
            let b = number(rhs, text, errors);
            Some(Num::Arith(*op, Box::new(a?), Box::new(b?)))
        }
        _ => fail(
            "expected a number: `value`, `target`, `previous`, a constant or arithmetic on them"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tablero_model::Location;

    fn text(s: &str) -> Text {
        Text::synthetic(
            s.to_string(),
            Location {
                file: "alerts/a.yaml".into(),
                line: 4,
                column: 8,
            },
        )
    }

    #[test]
    fn conditions_hold_as_written() {
        let on = Judged {
            value: Some(80.0),
            target: Some(100.0),
            previous: Some(95.0),
        };
        let no_previous = Judged {
            previous: None,
            ..on
        };
        // (condition, holds on `on`, holds on `no_previous`)
        let table = [
            ("value < 0.9 * target", true, true),             // 80 < 90
            ("value < 0.75 * target", false, false),          // 80 < 75 is false
            ("value < previous - 10", true, false),           // 80 < 85; unknown without previous
            ("value < previous or value < 90", true, true),   // unknown or true
            ("value < previous and value < 90", true, false), // unknown and true is unknown
            ("previous is null", false, true),
            ("not (value >= target)", true, true),
            ("value / (target - 100) > 0", false, false), // division by zero is null
        ];
        for (condition, on_full, on_partial) in table {
            let checked = value_condition(&text(condition)).unwrap();
            assert_eq!(checked.holds(&on), on_full, "{condition}");
            assert_eq!(
                checked.holds(&no_previous),
                on_partial,
                "{condition} without previous"
            );
        }
    }

    #[test]
    fn mistakes_are_named_at_their_place() {
        for (condition, expected) in [
            ("valor < target", "unknown name `valor`"),
            ("value + target", "expected a comparison"),
            ("value < 'a'", "expected a number"),
            ("value <", "expected"),
        ] {
            let errors = value_condition(&text(condition)).unwrap_err();
            assert!(
                errors.iter().any(|e| e.message.contains(expected)),
                "{condition}: {errors:?}"
            );
            assert!(errors.iter().all(|e| e.location.is_some()));
        }
    }
}
