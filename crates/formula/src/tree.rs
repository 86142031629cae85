//! KPI trees: a KPI whose formula is a product or ratio of other KPIs (times constants), e.g.
//! `oportunidades_cerradas * tasa_conversion / 100 * valor_promedio`, and the exact split of
//! its change between two periods into one contribution per driver.
//!
//! The split is the logarithmic mean Divisia index (LMDI-I): for `V = c · Π xᵢ^eᵢ` moving from
//! `V₀` to `V₁`, driver i contributes `L(V₁, V₀) · eᵢ · ln(xᵢ₁ / xᵢ₀)`, where
//! `L(a, b) = (a − b) / (ln a − ln b)` (and `L(a, a) = a`). Because
//! `Σ eᵢ ln(xᵢ₁/xᵢ₀) = ln(V₁/V₀)`, the contributions add up to `V₁ − V₀` exactly, with no
//! residual term. Logarithms need positive values: a driver at zero, negative or null in either
//! period leaves the change undecomposed.

use crate::ast::{BinaryOp, ExprKind, Literal};
use crate::parse;
use tablero_model::Workspace;

/// One driver of a KPI tree: another KPI, multiplied (`exponent` 1), divided (−1), or repeated.
#[derive(Debug, Clone, PartialEq)]
pub struct Driver {
    pub kpi: String,
    pub exponent: i32,
}

/// A KPI's formula read as `constant · Π driverᵢ^exponentᵢ`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub constant: f64,
    pub drivers: Vec<Driver>,
}

/// The tree of a KPI whose formula is a product or ratio of at least two other KPIs (numbers
/// may multiply or divide it); `None` for any other formula.
pub fn kpi_tree(workspace: &Workspace, kpi: &str) -> Option<Tree> {
    let formula = workspace.kpi(kpi)?.formula.as_ref()?;
    let expr = parse(&formula.value).expr?;
    let mut tree = Tree {
        constant: 1.0,
        drivers: Vec::new(),
    };
    collect(workspace, &expr.kind, 1, &mut tree)?;
    tree.drivers.retain(|d| d.exponent != 0);
    (tree.drivers.len() >= 2 && tree.constant.is_finite() && tree.constant != 0.0).then_some(tree)
}

/// Adds `kind` raised to `sign` (1 or −1) to the tree; `None` when it is not a product.
fn collect(workspace: &Workspace, kind: &ExprKind, sign: i32, tree: &mut Tree) -> Option<()> {
    match kind {
        ExprKind::Binary {
            op: BinaryOp::Mul,
            lhs,
            rhs,
        } => {
            collect(workspace, &lhs.kind, sign, tree)?;
            collect(workspace, &rhs.kind, sign, tree)
        }
        ExprKind::Binary {
            op: BinaryOp::Div,
            lhs,
            rhs,
        } => {
            collect(workspace, &lhs.kind, sign, tree)?;
            collect(workspace, &rhs.kind, -sign, tree)
        }
        ExprKind::Literal(Literal::Number(n)) if *n != 0.0 => {
            tree.constant *= if sign > 0 { *n } else { 1.0 / n };
            Some(())
        }
        ExprKind::Name(name) if workspace.kpi(&name.name).is_some() => {
            match tree.drivers.iter_mut().find(|d| d.kpi == name.name) {
                Some(driver) => driver.exponent += sign,
                None => tree.drivers.push(Driver {
                    kpi: name.name.clone(),
                    exponent: sign,
                }),
            }
            Some(())
        }
        _ => None,
    }
}

/// Why a change could not be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecomposable {
    /// A driver has no value in one of the two periods.
    Missing,
    /// A driver, or the constant, is zero or negative: its logarithm does not exist.
    NotPositive,
}

/// The change of `V = constant · Π xᵢ^eᵢ` from `before` to `after` (driver values in the
/// tree's order), split per driver; the parts add up to `V(after) − V(before)`.
pub fn contributions(
    tree: &Tree,
    before: &[Option<f64>],
    after: &[Option<f64>],
) -> Result<Vec<f64>, Undecomposable> {
    let n = tree.drivers.len();
    if before.len() != n || after.len() != n {
        return Err(Undecomposable::Missing);
    }
    let mut pairs = Vec::with_capacity(n);
    for (b, a) in before.iter().zip(after) {
        let (Some(b), Some(a)) = (b, a) else {
            return Err(Undecomposable::Missing);
        };
        if !(b.is_finite() && a.is_finite()) {
            return Err(Undecomposable::Missing);
        }
        if *b <= 0.0 || *a <= 0.0 {
            return Err(Undecomposable::NotPositive);
        }
        pairs.push((*b, *a));
    }
    if tree.constant <= 0.0 {
        return Err(Undecomposable::NotPositive);
    }
    let value = |pick: fn(&(f64, f64)) -> f64| {
        tree.drivers
            .iter()
            .zip(&pairs)
            .fold(tree.constant, |v, (d, p)| v * pick(p).powi(d.exponent))
    };
    let (v0, v1) = (value(|p| p.0), value(|p| p.1));
    let weight = log_mean(v1, v0);
    Ok(tree
        .drivers
        .iter()
        .zip(&pairs)
        .map(|(d, (b, a))| weight * f64::from(d.exponent) * (a / b).ln())
        .collect())
}

/// The logarithmic mean `L(a, b) = (a − b) / (ln a − ln b)`, `a` when `a = b`; both positive.
pub fn log_mean(a: f64, b: f64) -> f64 {
    let d = a.ln() - b.ln();
    if d.abs() < 1e-12 { a } else { (a - b) / d }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(constant: f64, drivers: &[(&str, i32)]) -> Tree {
        Tree {
            constant,
            drivers: drivers
                .iter()
                .map(|(kpi, exponent)| Driver {
                    kpi: kpi.to_string(),
                    exponent: *exponent,
                })
                .collect(),
        }
    }

    /// (tree, before, after, expected contributions), each worked by hand.
    #[test]
    fn contributions_add_up_to_the_change() {
        let cases = [
            // won sales = closed × conversion % / 100 × average deal: 10 × 30 / 100 × 1000 =
            // 3000 → 12 × 25 / 100 × 1200 = 3600, a change of 600. L = 600 / ln(1.2); each
            // driver moved by a factor of 1.2, 1/1.2 and 1.2, so L × ln(…) = +600, −600, +600.
            (
                tree(0.01, &[("closed", 1), ("conversion", 1), ("deal", 1)]),
                vec![10.0, 30.0, 1000.0],
                vec![12.0, 25.0, 1200.0],
                vec![600.0, -600.0, 600.0],
            ),
            // a ratio a / b: 100 / 50 = 2 → 150 / 60 = 2.5, a change of 0.5. L = 0.5 / ln 1.25
            // = 2.2407; a: L × ln 1.5 = 0.90853; b: −L × ln 1.2 = −0.40853; 0.90853 − 0.40853 = 0.5.
            (
                tree(1.0, &[("a", 1), ("b", -1)]),
                vec![100.0, 50.0],
                vec![150.0, 60.0],
                vec![0.908_530, -0.408_530],
            ),
            // Nothing moved: every contribution is zero.
            (
                tree(2.0, &[("a", 1), ("b", 1)]),
                vec![3.0, 4.0],
                vec![3.0, 4.0],
                vec![0.0, 0.0],
            ),
        ];
        for (tree, before, after, expected) in cases {
            let b: Vec<_> = before.iter().copied().map(Some).collect();
            let a: Vec<_> = after.iter().copied().map(Some).collect();
            let parts = contributions(&tree, &b, &a).unwrap();
            for (got, want) in parts.iter().zip(&expected) {
                assert!((got - want).abs() < 1e-5, "{parts:?} vs {expected:?}");
            }
            let value = |xs: &[f64]| {
                tree.drivers
                    .iter()
                    .zip(xs)
                    .fold(tree.constant, |v, (d, x)| v * x.powi(d.exponent))
            };
            let change = value(&after) - value(&before);
            assert!((parts.iter().sum::<f64>() - change).abs() < 1e-9 * change.abs().max(1.0));
        }
    }

    #[test]
    fn values_without_a_logarithm_are_not_split() {
        let t = tree(1.0, &[("a", 1), ("b", 1)]);
        let cases = [
            (
                vec![Some(1.0), None],
                vec![Some(1.0), Some(2.0)],
                Undecomposable::Missing,
            ),
            (
                vec![Some(1.0), Some(0.0)],
                vec![Some(1.0), Some(2.0)],
                Undecomposable::NotPositive,
            ),
            (
                vec![Some(1.0), Some(2.0)],
                vec![Some(-1.0), Some(2.0)],
                Undecomposable::NotPositive,
            ),
        ];
        for (before, after, why) in cases {
            assert_eq!(contributions(&t, &before, &after), Err(why));
        }
    }
}
