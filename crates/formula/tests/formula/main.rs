//! The formula language's integration tests, in one binary: the parser and the checker.

mod check;
mod parser;
