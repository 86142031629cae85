//! The `tablero` binary end to end, in one test binary: alerts, bench, the hand-worked cases,
//! the example company (and its numbers recomputed in DuckDB), exports, people, pushdown to
//! PostgreSQL, one latest value on every surface, reports, the same digits however a catalog is computed, serve, and the store
//! with its faults. Each module says what it covers.

mod alerts;
mod bench;
mod cases;
mod cluster_support;
mod example;
mod example_anomaly;
mod example_duckdb;
mod exports;
mod kept;
mod one_latest;
mod people;
mod pushdown;
mod reports;
mod same_digits;
mod serve;
mod store;
mod store_faults;
mod store_support;
