//! The formula language of SPEC §2–§3: lexer, parser, and the checker that resolves names and
//! types against a workspace.
//!
//! **Invariant:** this crate knows nothing of DataFusion, HTTP or serde. It turns text into
//! checked [`ir::Formula`]s and [`ir::RowExpr`]s, reporting every problem as a
//! [`tablero_model::Diagnostic`].

pub mod ast;
pub mod check;
pub mod insight;
pub mod ir;
pub mod judge;
pub mod lexer;
pub mod parser;
pub mod tree;

pub use check::{
    Catalog, CheckedKpi, CheckedTarget, Finding, Subject, check_condition, check_workspace,
    smart_findings, smart_lint,
};
pub use parser::parse;
