//! The store's integration tests, in one binary: reading rows of every format and the Delta
//! tables. Each module says what it covers.

mod rows;
mod table;
