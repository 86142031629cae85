//! The engine's integration tests, in one binary: `last … per`, latest values, Parquet sources
//! and plan snapshots. Each module says what it covers.

mod last_per;
mod latest;
mod parquet;
mod plans;
