//! The example company of SPEC §11 (`tablero init --example 23people`) and the empty workspace
//! of `tablero init`: the catalog files, shipped inside the binary, and a deterministic
//! generator of three years of the company's data.
//!
//! **Invariant:** this crate writes files and knows nothing of formulas or DataFusion; the
//! example must pass the same `check` and `compute` any user workspace goes through.

mod generate;
mod workspace;

pub use generate::{GenerateOptions, Summary, generate};
pub use workspace::{write_empty, write_example_catalog};

use std::path::{Path, PathBuf};

/// What can go wrong writing a workspace.
#[derive(Debug, thiserror::Error)]
pub enum ExampleError {
    #[error("{0} is not empty; use --force to write into it anyway")]
    NotEmpty(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write Parquet file {path}: {message}")]
    Parquet { path: PathBuf, message: String },
}

/// The example's manual sources (`manual: true`) and the file under `data/` the generator
/// writes their past rows to: the values entered so far, which `tablero init` and `tablero demo`
/// store as one batch (and then remove the file), so the form starts from a history.
pub const MANUAL_HISTORY: &[(&str, &str)] = &[("mercado", "mercado.csv")];

pub type Result<T, E = ExampleError> = std::result::Result<T, E>;

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ExampleError + '_ {
    move |source| ExampleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Refuses a folder that exists and holds anything, unless `force`.
pub fn ensure_writable(dir: &Path, force: bool) -> Result<()> {
    if !force
        && let Ok(mut entries) = std::fs::read_dir(dir)
        && entries.next().is_some()
    {
        return Err(ExampleError::NotEmpty(dir.to_path_buf()));
    }
    std::fs::create_dir_all(dir).map_err(io_error(dir))
}

/// Writes the whole example company: catalog and generated data.
pub fn write_example(dir: &Path, options: &GenerateOptions, force: bool) -> Result<Summary> {
    ensure_writable(dir, force)?;
    write_example_catalog(dir)?;
    generate(dir, options)
}
