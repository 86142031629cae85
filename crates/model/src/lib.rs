//! The workspace model: a company's `tablero.toml`, sources and KPI definitions, read from
//! disk into typed definitions that remember where each value was written.
//!
//! **Invariant:** this crate knows nothing of formulas' meaning, DataFusion or HTTP; it turns
//! files into [`Workspace`] and [`Diagnostic`]s, nothing more.

pub mod defs;
pub mod diagnostic;
pub mod display;
pub mod load;

pub use defs::*;
pub use diagnostic::{Diagnostic, Location, Severity};
pub use load::{line_column, load_workspace};
