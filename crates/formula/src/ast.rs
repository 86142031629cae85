//! The syntax tree of formulas, filters and column expressions, as written.
//!
//! One grammar serves all three (SPEC §2–§3): a KPI formula, a measure `filter`, a measure
//! `expr` and a `--where` condition are all [`Expr`]s. What a bare name means (a KPI or a
//! column) and which functions are allowed is decided later by the checker, not the parser, so
//! the parser stays small and every meaning error can name what was expected.

/// A byte range in the text that was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A name with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(f64),
    String(String),
    /// `date '2026-01-01'`: the text between the quotes, validated by the checker.
    Date(String),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// A bare name: a KPI id in a formula, a column in a filter or column expression.
    Name(Ident),
    /// `source.measure` with an optional `[filter]`.
    Measure {
        source: Ident,
        measure: Ident,
        filter: Option<Box<Expr>>,
    },
    /// `name(arg, …)`. A group function's argument is an [`ExprKind::Per`].
    Call {
        function: Ident,
        args: Vec<Expr>,
    },
    /// `value per column`, only valid as a call argument.
    Per {
        value: Box<Expr>,
        column: Ident,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `x in (a, b)` or `x not in (a, b)`.
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `x is null` or `x is not null`.
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl Expr {
    /// The number of nodes on the longest path from this node down to a leaf: `1` is 1,
    /// `a + b + c` is 3. Recursive, which is safe on the parser's trees: it never builds one
    /// higher than [`MAX_DEPTH`](crate::parser::MAX_DEPTH).
    pub fn height(&self) -> usize {
        let below = match &self.kind {
            ExprKind::Literal(_) | ExprKind::Name(_) => 0,
            ExprKind::Measure { filter, .. } => filter.as_deref().map_or(0, Expr::height),
            ExprKind::Call { args, .. } => args.iter().map(Expr::height).max().unwrap_or(0),
            ExprKind::Per { value, .. } => value.height(),
            ExprKind::Unary { operand, .. } => operand.height(),
            ExprKind::Binary { lhs, rhs, .. } => lhs.height().max(rhs.height()),
            ExprKind::InList { expr, list, .. } => list
                .iter()
                .map(Expr::height)
                .max()
                .unwrap_or(0)
                .max(expr.height()),
            ExprKind::IsNull { expr, .. } => expr.height(),
        };
        below + 1
    }
}

/// A syntax error: where, and what was expected there.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
}

/// What the parser returns: the tree when one could be built, and every error it found.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub expr: Option<Expr>,
    pub errors: Vec<SyntaxError>,
}
