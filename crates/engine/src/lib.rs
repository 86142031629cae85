//! The KPI engine: loads sources into Apache DataFusion, compiles checked formulas into
//! logical plans, runs them per period and dimension, and judges values against targets.
//!
//! **Invariant:** this is the only crate that plans queries with DataFusion (the store crate
//! uses it only through Delta Lake, to write and to hand over table providers). Formulas arrive checked
//! ([`tablero_formula::Catalog`]); nothing here re-validates names or types.

pub mod compile;
pub mod compute;
pub mod error;
pub mod exact_sum;
pub mod judge;
pub mod judged;
pub mod load;
pub mod local_day;
pub mod local_time;
pub mod plan;
pub mod rollup;
pub mod sql;
pub mod sum_at;
pub mod window_index;

pub use compute::{Engine, Explanation, KpiResult, KpiValue, Limits, Pushdown, Request, Status};
pub use error::{EngineError, RequestError, RequestErrorKind, Result};
pub use judged::{Change, InProgress, Judged, Verdict};

use std::path::Path;
use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

use tablero_model::Diagnostic;

/// The functions Tablero's plans call by name, which every session running them registers —
/// each node of a cluster included.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(local_time::udf()),
        Arc::new(window_index::udf()),
        Arc::new(local_day::udf()),
    ]
}

/// The aggregate functions Tablero's plans call by name (exact sums, rounded or as parts, and
/// the rollups' snapshot sums), which every node of a cluster registers.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    use exact_sum::Output;
    let mut functions = Vec::new();
    for output in [Output::Rounded, Output::Parts] {
        functions.push(Arc::new(exact_sum::udaf(output)));
        for end in [sum_at::End::Latest, sum_at::End::Earliest] {
            functions.push(Arc::new(sum_at::udaf(end, output)));
        }
    }
    functions
}

/// Loads and checks the workspace at `root`. Returns the engine and the warnings, or every
/// error found.
pub fn open(root: &Path) -> Result<(Engine, Vec<Diagnostic>)> {
    open_with_limits(root, Limits::default())
}

/// [`open`] with an engine held to `limits`.
pub fn open_with_limits(root: &Path, limits: Limits) -> Result<(Engine, Vec<Diagnostic>)> {
    let (workspace, mut diagnostics) = tablero_model::load_workspace(root);
    let (catalog, check) = tablero_formula::check_workspace(&workspace);
    diagnostics.extend(check);
    if diagnostics.iter().any(|d| d.is_error()) {
        diagnostics.retain(|d| d.is_error());
        return Err(EngineError::Definitions(diagnostics));
    }
    let engine = Engine::with_limits(workspace, catalog, limits)?;
    Ok((engine, diagnostics))
}
